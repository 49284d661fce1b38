import { readdirSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { RunLogWriter, UsageError, type AnyEvent } from "../core/index.js";
import { runScenario, type RunOptions, type ScenarioResult } from "./engine.js";
import { loadScenario, type Scenario } from "./format.js";

export const LIBRARY_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "library");

/** The library's scenario files, in name order (relative to the working directory when inside it, as a report shows them). */
export function libraryFiles(): string[] {
  const rel = relative(process.cwd(), LIBRARY_DIR);
  const dir = rel.startsWith("..") || isAbsolute(rel) ? LIBRARY_DIR : rel;
  return readdirSync(LIBRARY_DIR)
    .filter((f) => f.endsWith(".yaml") || f.endsWith(".yml"))
    .sort()
    .map((f) => join(dir, f));
}

export interface RunFilesOptions extends RunOptions {
  seed?: number | string;
  /** Where the run log goes (JSON Lines); omitted: events are kept in memory only. */
  runLog?: string;
}

export interface RunFilesResult {
  results: ScenarioResult[];
  events: AnyEvent[];
  passed: boolean;
}

/**
 * Loads every file first (so a malformed one stops the run before anything
 * happens, with its file and line), then runs them one after the other into
 * one run log.
 */
export async function runFiles(files: readonly string[], opts: RunFilesOptions = {}): Promise<RunFilesResult> {
  const scenarios: Scenario[] = files.map((f) => loadScenario(f, opts.seed === undefined ? {} : { seed: opts.seed }));
  // A profile's `cards:` filters silently: a card no file has is a typo that would make a clean, passing run.
  // (A card some files lack is fine, one profile serves many files: those files get a warning in the run.)
  const unknown = (opts.faults?.cards ?? []).filter((id) => !scenarios.some((s) => s.cards.some((c) => c.id === id)));
  if (unknown.length > 0) {
    const known = [...new Set(scenarios.flatMap((s) => s.cards.map((c) => c.id)))];
    throw new UsageError(`the fault profile's cards: ${unknown.join(", ")} ${unknown.length === 1 ? "is" : "are"} in no scenario file of the run (its cards: ${known.join(", ") || "none"})`);
  }
  const events: AnyEvent[] = [];
  const writer = opts.runLog ? new RunLogWriter(opts.runLog) : undefined;
  const sink = (e: AnyEvent) => {
    events.push(e);
    writer?.write(e);
    opts.sink?.(e);
  };
  const results: ScenarioResult[] = [];
  try {
    for (const s of scenarios) results.push(await runScenario(s, { ...opts, sink }));
  } finally {
    writer?.close();
  }
  return { results, events, passed: results.every((r) => r.outcome === "pass") };
}
