import { parseYaml as parseYamlSource, SourceError, type Located } from "../policies/index.js";

export type { Located } from "../policies/index.js";

/**
 * A scenario file that cannot be used: names the file, line, column and the
 * field path, so the author can go straight to the mistake.
 */
export class ScenarioError extends SourceError {
  constructor(file: string, line: number, column: number, field: string, reason: string) {
    super(file, line, column, field, reason, "scenario");
  }
}

/** Parses a scenario's YAML text; every mistake in it becomes a located ScenarioError. */
export function parseYaml(text: string, file: string): Located {
  return parseYamlSource(text, file, (...at) => new ScenarioError(...at));
}
