/** The real logs under simulator/trace/fixtures (captured by test/trace-capture.test.ts), for the importers' tests. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { FormatError } from "../../../core/index.js";
import { formatTrace, parseTrace } from "../format.js";
import type { Trace } from "../types.js";

export const FIXTURES = join(import.meta.dirname, "..", "fixtures");

export function fixture(name: string): string {
  return readFileSync(join(FIXTURES, name), "utf8");
}

/** The test PIN the fixtures were captured with, as the hex a log shows. */
export const PIN_HEX = Buffer.from("24681357", "ascii").toString("hex").toUpperCase();

/**
 * For the importers' fuzz: runs an import; a FormatError from it is a fair
 * refusal, anything else is thrown. What it accepts must be a trace that
 * parseTrace reads back whole (an importer that writes what nothing can read
 * is the bug the fuzz is for): false when it is not.
 */
export function acceptsOnlyReadable(run: () => { trace: Trace }): boolean {
  let trace: Trace;
  try {
    trace = run().trace;
  } catch (err) {
    if (err instanceof FormatError) return true;
    throw err;
  }
  const again = parseTrace(formatTrace(trace), "round-trip");
  return again.entries.length === trace.entries.length;
}
