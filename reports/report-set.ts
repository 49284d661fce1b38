import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadRunLog, makeDirs, type AnyEvent, type RunLogSource } from "../core/index.js";

/** One file of a report set: its name in the output folder and the writer that renders the model. */
export interface ReportFile<R> {
  file: string;
  render: (report: R) => string;
}

/**
 * Every report kind (scenario runs, certify, reader qualification) is written
 * the same way: the model is built from the run log alone, then each file is
 * rendered from that model into the output folder.
 */
export function writeReportSet<R, K extends string>(
  runLog: RunLogSource,
  dir: string,
  build: (events: readonly AnyEvent[]) => R,
  set: Record<K, ReportFile<R>>,
): { files: Record<K, string>; report: R } {
  const report = build(loadRunLog(runLog));
  makeDirs(dir);
  const files = {} as Record<K, string>;
  for (const key of Object.keys(set) as K[]) {
    files[key] = join(dir, set[key].file);
    writeFileSync(files[key], set[key].render(report));
  }
  return { files, report };
}
