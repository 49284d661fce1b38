import { closeSync, openSync, readFileSync, writeSync } from "node:fs";
import { makeDirs } from "./dirs.js";
import { dirname } from "node:path";
import type { AnyEvent, EventBus } from "./events.js";
import { FormatError } from "./errors.js";
import { isRecord } from "./is-record.js";

/**
 * The run log: one JSON event per line. It is the single source of truth for
 * every report; reports and the dashboard read it and nothing else.
 */
export class RunLogWriter {
  private fd: number;
  private buffer: string[] = [];
  private bytes = 0;
  private detach?: () => void;
  private closed = false;

  constructor(readonly path: string) {
    makeDirs(dirname(path));
    this.fd = openSync(path, "w");
  }

  /** Write every event the bus emits from now on. */
  attach(bus: EventBus): this {
    this.detach = bus.on((e) => this.write(e));
    return this;
  }

  write(event: AnyEvent): void {
    const line = JSON.stringify(event) + "\n";
    this.buffer.push(line);
    this.bytes += line.length;
    if (this.bytes > 1 << 16) this.flush();
  }

  flush(): void {
    if (this.buffer.length === 0) return;
    writeSync(this.fd, this.buffer.join(""));
    this.buffer = [];
    this.bytes = 0;
  }

  /** Idempotent: a caller may close early to read the log back, and again in its finally. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.detach?.();
    this.flush();
    closeSync(this.fd);
  }
}

/**
 * What a line of a run log is, for every reader (reports, the CLI, the
 * dashboard's store, its publish endpoint): a JSON object with a string
 * `type`, a number `seq`, a string `time` and an object `data`, as
 * RunLogWriter writes every event. The reports read `data` and `time` without
 * checking them again, so a line short of any is refused here, with the
 * reason, instead of failing somewhere past it.
 */
export function parseRunLogLine(line: string): { event: AnyEvent } | { reason: string } {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { reason: "not JSON" };
  }
  const reason = eventProblem(v);
  return reason === undefined ? { event: v as AnyEvent } : { reason };
}

/** Why a parsed value is not an event as parseRunLogLine defines it (undefined: it is one). For events already parsed, as a publisher's batch holds them. */
export function eventProblem(v: unknown): string | undefined {
  if (!isRecord(v)) return "not an event: not a JSON object";
  if (typeof v.type !== "string") return 'not an event: "type" is not a string';
  if (typeof v.seq !== "number") return 'not an event: "seq" is not a number';
  if (typeof v.time !== "string") return 'not an event: "time" is not a string';
  if (!isRecord(v.data)) return 'not an event: "data" is not an object';
  return undefined;
}

/** A run log's text as its events; the first line that is not one (parseRunLogLine) throws FormatError naming it. Blank lines are passed over. */
export function parseRunLog(text: string, source = "run log"): AnyEvent[] {
  const events: AnyEvent[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    const r = parseRunLogLine(line);
    if ("reason" in r) throw new FormatError("run log", `${source} line ${i + 1}: ${r.reason}`);
    events.push(r.event);
  }
  return events;
}

/**
 * Every run log file read whole goes through here (reports, tests, tools);
 * the dashboard's store, which reads run logs a line at a time as they grow,
 * takes each line through parseRunLogLine, the same definition.
 */
export function readRunLog(path: string): AnyEvent[] {
  return parseRunLog(readFileSync(path, "utf8"), path);
}

/** A run log as its file, or as the events themselves when the run kept them in memory (no --out). */
export type RunLogSource = string | readonly AnyEvent[];

export function loadRunLog(source: RunLogSource): readonly AnyEvent[] {
  return typeof source === "string" ? readRunLog(source) : source;
}
