// What a build (bin/build.js) records about itself, and the one test of
// whether it is still current: bin/build.js writes the record, bin/cardloop.js
// and the benchmarks read it. Plain JavaScript with Node's built-ins only: the
// command reads it on every start, before any build or tsx is loaded.
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** The record's name inside a build's output folder. */
export const BUILD_STATE_FILE = "build.json";

/**
 * Records a build in `outDir`: `builtAt` is the wall time taken before the
 * build read any source, `inputs` the sources it read (relative to the root).
 */
export function writeBuildState(outDir, state) {
  writeFileSync(join(outDir, BUILD_STATE_FILE), JSON.stringify({ builtAt: state.builtAt, inputs: state.inputs }) + "\n");
}

/**
 * True when `outDir` (the root's dist/ by default) holds a build none of whose
 * sources under `root` has changed since: a missing or unreadable record, a
 * source modified at or after the build started, or a source gone all make it
 * stale. A source edited while the build ran counts as newer, never as built.
 */
export function buildIsCurrent(root, outDir = join(root, "dist")) {
  let state;
  try {
    state = JSON.parse(readFileSync(join(outDir, BUILD_STATE_FILE), "utf8"));
  } catch {
    return false;
  }
  if (typeof state?.builtAt !== "number" || !Array.isArray(state.inputs)) return false;
  try {
    return state.inputs.every((file) => statSync(join(root, file)).mtimeMs < state.builtAt);
  } catch {
    return false; // a source is gone
  }
}
