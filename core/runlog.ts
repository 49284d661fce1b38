import { closeSync, openSync, readFileSync, writeSync } from "node:fs";
import { makeDirs } from "./dirs.js";
import { dirname } from "node:path";
import type { AnyEvent, EventBus } from "./events.js";
import { FormatError } from "./errors.js";

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

export function parseRunLog(text: string, source = "run log"): AnyEvent[] {
  const events: AnyEvent[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    let e: unknown;
    try {
      e = JSON.parse(line);
    } catch (err) {
      throw new FormatError("run log", `${source} line ${i + 1}: not JSON (${(err as Error).message})`);
    }
    if (!e || typeof e !== "object" || typeof (e as AnyEvent).type !== "string") {
      throw new FormatError("run log", `${source} line ${i + 1}: not an event (no "type")`);
    }
    events.push(e as AnyEvent);
  }
  return events;
}

/** The one reader of run log files: every report, test and tool goes through it. */
export function readRunLog(path: string): AnyEvent[] {
  return parseRunLog(readFileSync(path, "utf8"), path);
}

/** A run log as its file, or as the events themselves when the run kept them in memory (no --out). */
export type RunLogSource = string | readonly AnyEvent[];

export function loadRunLog(source: RunLogSource): readonly AnyEvent[] {
  return typeof source === "string" ? readRunLog(source) : source;
}
