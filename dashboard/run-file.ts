import { closeSync, fstatSync, ftruncateSync, openSync, readFileSync, readSync, realpathSync, renameSync, statSync, writeFileSync, writeSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Origin } from "./protocol.js";

/**
 * The run-log files the dashboard's store reads and writes: finding every
 * run.jsonl, reading one line by line with each line's byte offset, reading a
 * byte range back, keeping a file's line offsets as it grows, appending a
 * published run's lines with a file descriptor kept open (cut back when a
 * write fails), and the small files beside a published run's log (its origin
 * and the publisher's position).
 */

export const RUN_LOG = "run.jsonl";
const CHUNK = 1 << 20;
const MAX_DEPTH = 16;

/** Every run.jsonl under dir, sorted by path (symbolic links to directories are not followed: no cycles). */
export async function findRunLogs(dir: string, depth = 0): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const p = join(dir, e.name);
    if (e.isDirectory() && depth < MAX_DEPTH) out.push(...(await findRunLogs(p, depth + 1)));
    else if (e.name === RUN_LOG && (e.isFile() || e.isSymbolicLink())) out.push(p);
  }
  return out;
}

export function realOf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/**
 * Gives `visit` each line of `path` from byte `start` (up to byte `limit`)
 * with its offset; a last line without "\n" is given as not terminated. Stops
 * where visit says no, and returns the offset after the last line taken.
 */
export function scanLines(path: string, start: number, visit: (text: string, offset: number, terminated: boolean) => boolean, limit = Infinity): number {
  const fd = openSync(path, "r");
  try {
    const chunk = Buffer.allocUnsafe(CHUNK);
    let pending = Buffer.alloc(0);
    let at = start; // the file offset of pending[0]
    for (;;) {
      const want = Math.min(CHUNK, limit - at - pending.length);
      const n = want > 0 ? readSync(fd, chunk, 0, want, at + pending.length) : 0;
      if (n === 0) break;
      const buf = pending.length > 0 ? Buffer.concat([pending, chunk.subarray(0, n)]) : chunk.subarray(0, n);
      let from = 0;
      for (let nl = buf.indexOf(10); nl !== -1; nl = buf.indexOf(10, from)) {
        if (!visit(buf.toString("utf8", from, nl), at + from, true)) return at + from;
        from = nl + 1;
      }
      pending = Buffer.from(buf.subarray(from)); // a copy: chunk is read into again
      at += from;
    }
    return pending.length > 0 && visit(pending.toString("utf8"), at, false) ? at + pending.length : at;
  } finally {
    closeSync(fd);
  }
}

/** The non-blank lines of bytes [from, to) of a file, trimmed. */
export function readRange(path: string, from: number, to: number): string[] {
  const buf = Buffer.allocUnsafe(Math.max(0, to - from));
  const fd = openSync(path, "r");
  try {
    for (let done = 0; done < buf.length; ) {
      const n = readSync(fd, buf, done, buf.length - done, from + done);
      if (n === 0) throw new Error(`${path}: shorter than the store read it`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return buf
    .toString("utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
}

/**
 * A file's complete, non-blank lines by byte offset (8 bytes a line), read on
 * as the file grows and from the start again when it was rewritten (shorter
 * than what was read, or its last line read no longer where it was). A line
 * without its "\n" yet is not one.
 */
export class LineIndex {
  private offsets = new Offsets();
  private end = 0;
  private size = -1;
  private mtimeMs = -1;
  private last?: string;

  constructor(readonly path: string) {}

  get count(): number {
    return this.offsets.length;
  }

  /** Reads what the file changed by since the last call; false (and no lines) when it cannot be read. */
  update(): boolean {
    try {
      const st = statSync(this.path);
      if (st.size === this.size && st.mtimeMs === this.mtimeMs) return true;
      if (st.size < this.end || (this.count > 0 && this.line(this.count - 1) !== this.last)) this.reset();
      this.end = scanLines(this.path, this.end, (text, offset, terminated) => {
        if (terminated && text.trim() !== "") this.offsets.push(offset);
        return terminated;
      });
      this.last = this.line(this.count - 1);
      [this.size, this.mtimeMs] = [st.size, st.mtimeMs];
      return true;
    } catch {
      this.reset();
      return false;
    }
  }

  /** Line i, trimmed (undefined past the last). */
  line(i: number): string | undefined {
    if (!(i >= 0 && i < this.count)) return undefined;
    return readRange(this.path, this.offsets.at(i), i + 1 < this.count ? this.offsets.at(i + 1) : this.end)[0];
  }

  private reset(): void {
    [this.offsets, this.end, this.size, this.mtimeMs, this.last] = [new Offsets(), 0, -1, -1, undefined];
  }
}

/** Byte offsets, one per event, in a typed array that doubles as it grows (8 bytes an event, not a JS array's boxed numbers). */
export class Offsets {
  private a = new Float64Array(64);
  length = 0;

  push(offset: number): void {
    if (this.length === this.a.length) {
      const bigger = new Float64Array(this.a.length * 2);
      bigger.set(this.a);
      this.a = bigger;
    }
    this.a[this.length++] = offset;
  }

  at(i: number): number {
    return this.a[i];
  }
}

/** How the bytes reach the disk: fs.writeSync, or a stand-in that fails (tests). */
export type WriteSync = (fd: number, buf: Buffer, offset: number) => number;

/**
 * A published run's log, open for appending while its publisher sends: one
 * descriptor per live run instead of an open and a close per batch. A write
 * that fails part-way (ENOSPC) is cut back to where the run ended, so a
 * retried batch lands where the failed one would have.
 */
export class AppendFile {
  private fd?: number;

  /** checked: the file is known to end where the store's copy ends (false: cut it back before the first write, it may hold a torn batch). */
  constructor(
    readonly path: string,
    private checked: boolean,
    private readonly write: WriteSync = (fd, buf, offset) => writeSync(fd, buf, offset),
  ) {}

  /** Appends `text` to a file that ends at byte `end`; on failure the file ends at `end` again and the error is thrown. */
  append(text: string, end: number): void {
    const buf = Buffer.from(text);
    this.fd ??= openSync(this.path, "a");
    try {
      if (!this.checked) {
        if (fstatSync(this.fd).size !== end) ftruncateSync(this.fd, end);
        this.checked = true;
      }
      for (let done = 0; done < buf.length; ) done += this.write(this.fd, buf, done);
    } catch (err) {
      this.cutBack(end);
      throw err;
    }
  }

  /** Undoes an append whose bookkeeping could not be saved. */
  cutBack(end: number): void {
    try {
      if (this.fd === undefined) throw new Error("not open");
      ftruncateSync(this.fd, end);
    } catch {
      this.checked = false; // the next append tries again
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    closeSync(fd);
  }
}

/**
 * What a published run's publisher was told, saved beside its log after every
 * batch that changed it (`state.json`): the next position it sends from, the
 * events it dropped, whether it said it was done, and how much of the log
 * those figures cover. Bytes past `bytes` were written by a batch whose answer
 * never left the dashboard: the publisher sends them again.
 */
export interface PublishedState {
  next: number;
  dropped: number;
  final: boolean;
  events: number;
  bytes: number;
}

const STATE = "state.json";
const ORIGIN = "origin.json";

export function readPublishedState(dir: string): PublishedState | undefined {
  const s = readJson(join(dir, STATE));
  if (s === null || typeof s !== "object") return undefined;
  const o = s as Record<string, unknown>;
  const n = (v: unknown) => (typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : undefined);
  const [next, dropped, events, bytes] = [n(o.next), n(o.dropped), n(o.events), n(o.bytes)];
  if (next === undefined || dropped === undefined || events === undefined || bytes === undefined) return undefined;
  return { next, dropped, final: o.final === true, events, bytes };
}

/** Written to a temporary file and renamed over the old one: a failed write leaves the old state whole. */
export function writePublishedState(dir: string, state: PublishedState): void {
  const tmp = join(dir, `${STATE}.tmp`);
  writeFileSync(tmp, JSON.stringify(state) + "\n");
  renameSync(tmp, join(dir, STATE));
}

export function readOrigin(dir: string): unknown {
  return readJson(join(dir, ORIGIN));
}

export function writeOrigin(dir: string, origin: Origin): void {
  writeFileSync(join(dir, ORIGIN), JSON.stringify(origin) + "\n");
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as unknown;
  } catch {
    return undefined; // missing (the publisher gave none; a log from before state.json) or unreadable: as if absent
  }
}
