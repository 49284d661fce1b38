import { parseRunLogLine, type AnyEvent } from "../core/index.js";
import { Offsets, readRange, scanLines, type AppendFile } from "./run-file.js";
import type { SummaryBuilder } from "./summary.js";

/**
 * One run as the store holds it: its summary, the byte offset of each event's
 * line in its file, how far the file was read (or written), and for a
 * published run the publisher's position. The functions below read a run's
 * file on from where the store stopped and read ranges of it back.
 */
export interface Run {
  id: string;
  path: string;
  /** The name its directory gives it; a file run is listed as `file:<rel>` when a published run has that id. */
  rel: string;
  builder: SummaryBuilder;
  /** Byte offset in the file of each held event's line. */
  offsets: Offsets;
  /** Bytes of the file read (file runs) or written (published runs). */
  end: number;
  mtimeMs: number;
  /** Lines read, for "unreadable at line N"; midLine: the last one taken had no "\n" yet. */
  lineNo: number;
  midLine: boolean;
  broken: boolean;
  /** The file's real path (file runs), to compare with a published run's origin.runLog. */
  real?: string;
  /** The first and last events' lines: a published run's are compared with its driver's run log (run-copies.ts); */
  firstLine?: string;
  /** a file rewritten from the start no longer has its last line where it was. */
  lastLine?: string;
  // Published runs: the position the publisher sends next, whether it said it is done, when it was last heard from.
  next: number;
  final: boolean;
  heardMs: number;
  file?: AppendFile;
}

export function newRun(id: string, path: string, rel: string, builder: SummaryBuilder, heardMs: number): Run {
  return { id, path, rel, builder, offsets: new Offsets(), end: 0, mtimeMs: 0, lineNo: 0, midLine: false, broken: false, next: 0, final: false, heardMs };
}

/** Takes a line as the run's next event (at byte `offset` of its file); `keep` holds it in memory if the cache wants it. */
export function appendLine(run: Run, line: string, event: AnyEvent, offset: number, keep: (line: string) => void): void {
  run.offsets.push(offset);
  run.firstLine ??= line;
  run.lastLine = line;
  run.builder.add(event);
  keep(line);
}

/** Reads the file on from where the store stopped: complete lines only, up to a line it cannot read (and up to byte `limit`). */
export function readOn(run: Run, keep: (line: string) => void, limit = Infinity): void {
  if (run.broken) return;
  run.end = scanLines(run.path, run.end, (text, offset, terminated) => ingest(run, text, offset, terminated, keep), limit);
}

function ingest(run: Run, text: string, offset: number, terminated: boolean, keep: (line: string) => void): boolean {
  const line = text.trim();
  if (line === "") {
    if (!terminated) return false;
    // The "\n" of a line already taken without one is not a line of its own.
    if (!run.midLine) run.lineNo++;
    run.midLine = false;
    return true;
  }
  const parsed = parseRunLogLine(line);
  if ("reason" in parsed) return unreadable(run, terminated, parsed.reason);
  run.lineNo++;
  run.midLine = !terminated;
  appendLine(run, line, parsed.event, offset, keep);
  return true;
}

/** A line being written (no "\n" yet) is waited for; a complete one that is not an event ends what can be read. */
function unreadable(run: Run, terminated: boolean, reason: string): false {
  if (terminated) {
    run.broken = true;
    run.builder.markUnreadable(run.lineNo + 1, reason);
  }
  return false;
}

/** The last line read is still where it was (else the file was rewritten from the start). */
export function sameTail(run: Run): boolean {
  const last = run.offsets.length - 1;
  if (last < 0) return true;
  return readRange(run.path, run.offsets.at(last), run.end)[0] === run.lastLine;
}

/** The lines of events [from, to) from the file, in one byte range. */
export function readBack(run: Run, from: number, to: number): string[] {
  try {
    return readRange(run.path, run.offsets.at(from), to < run.offsets.length ? run.offsets.at(to) : run.end).slice(0, to - from);
  } catch {
    return []; // the file is gone: the summary stays, its events cannot be shown again
  }
}
