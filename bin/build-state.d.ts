// Types of bin/build-state.js for the TypeScript that reads it (tests, benchmarks).

export interface BuildState {
  /** Wall time (ms since the epoch) taken before the build read any source. */
  builtAt: number;
  /** The sources the build read, relative to the project root. */
  inputs: readonly string[];
}

export declare const BUILD_STATE_FILE: string;
export declare function writeBuildState(outDir: string, state: BuildState): void;
export declare function buildIsCurrent(root: string, outDir?: string): boolean;
