/**
 * Reading and writing the cardloop trace (JSON Lines, header first). Every
 * line is validated: a trace is input from a user or from a relay that may
 * have been killed mid-line, and a replay built on a wrong field would report
 * a divergence that is not one.
 */
import { chmodSync, closeSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { FormatError, errorMessage, isRecord, makeDirs } from "../../core/index.js";
import {
  TRACE_FORMATS,
  TRACE_VERSION,
  type MaskedSecret,
  type ReaderEventKind,
  type Trace,
  type TraceApdu,
  type TraceEntry,
  type TraceFormat,
  type TraceHeader,
  type TraceReaderEvent,
} from "./types.js";

const MASKED_KINDS: readonly MaskedSecret[] = ["pin", "puk", "management-key", "private-key"];
const EVENT_KINDS: readonly ReaderEventKind[] = ["insert", "remove", "reset", "power-on", "power-off"];
const HEX = /^(?:[0-9A-F]{2})*$/;
const SW_HEX = /^[0-9A-F]{4}$/;

/** Parses a trace; throws FormatError("trace") naming the source and line of the first bad line. */
export function parseTrace(text: string, source = "trace"): Trace {
  const lines = text.split("\n");
  let header: TraceHeader | undefined;
  const entries: TraceEntry[] = [];
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].trim();
    if (raw === "") continue;
    const where = `${source}:${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      throw new FormatError("trace", `${where}: not a JSON line`);
    }
    if (header === undefined) header = checkHeader(value, where);
    else entries.push(checkEntry(value, where));
  }
  if (header === undefined) throw new FormatError("trace", `${source}: empty (no header line)`);
  return { header, entries };
}

/** Reads and parses a trace file; a file that cannot be read is a FormatError too, naming it. */
export function readTrace(path: string): Trace {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new FormatError("trace", `${path}: cannot read (${errorMessage(err).split(":")[0]})`);
  }
  return parseTrace(text, path);
}

/** The trace as JSON Lines: the header, then one entry per line, each ending in a newline. */
export function formatTrace(trace: Trace): string {
  const out = [JSON.stringify(headerLine(trace.header))];
  for (const e of trace.entries) out.push(entryLine(e));
  return out.join("\n") + "\n";
}

/**
 * Writes a trace atomically (temp file, then rename) with mode 0600: a trace
 * may hold personal data (names in certificates, card serials) even once its
 * secrets are masked.
 */
export function writeTrace(path: string, trace: Trace): void {
  makeDirs(dirname(path));
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, "w", 0o600);
  try {
    try {
      writeSync(fd, formatTrace(trace));
    } finally {
      closeSync(fd);
    }
    chmodSync(tmp, 0o600);
    renameSync(tmp, path);
  } catch (err) {
    // A failed write (disk full, path a directory) leaves no half trace behind.
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** One header line in its canonical key order. */
export function headerLine(h: TraceHeader): TraceHeader {
  return {
    cardloopTrace: TRACE_VERSION,
    format: h.format,
    ...(h.source !== undefined ? { source: h.source } : {}),
    masked: h.masked,
    ...(h.reader !== undefined ? { reader: h.reader } : {}),
  };
}

/** One entry as a JSON line, without optional fields that are absent. */
export function entryLine(e: TraceEntry): string {
  return JSON.stringify(e, (_k, v: unknown) => (v === undefined ? undefined : v));
}

function checkHeader(v: unknown, where: string): TraceHeader {
  if (!isRecord(v)) throw new FormatError("trace", `${where}: the header is not an object`);
  if (v.cardloopTrace !== TRACE_VERSION) {
    throw new FormatError("trace", `${where}: not a cardloop trace header (cardloopTrace must be ${TRACE_VERSION})`);
  }
  if (typeof v.format !== "string" || !(TRACE_FORMATS as readonly string[]).includes(v.format)) {
    throw new FormatError("trace", `${where}: unknown format (one of ${TRACE_FORMATS.join(", ")})`);
  }
  const masked = count(v.masked, where, "masked");
  const h: TraceHeader = { cardloopTrace: TRACE_VERSION, format: v.format as TraceFormat, masked };
  if (v.source !== undefined) h.source = text(v.source, where, "source");
  if (v.reader !== undefined) h.reader = text(v.reader, where, "reader");
  return h;
}

function checkEntry(v: unknown, where: string): TraceEntry {
  if (!isRecord(v)) throw new FormatError("trace", `${where}: the entry is not an object`);
  const seq = count(v.seq, where, "seq");
  const common: { atMs?: number; reader?: string; line?: number } = {};
  if (v.atMs !== undefined) common.atMs = nonNegative(v.atMs, where, "atMs");
  if (v.reader !== undefined) common.reader = text(v.reader, where, "reader");
  if (v.line !== undefined) common.line = count(v.line, where, "line");
  if (v.type === "apdu") {
    const command = hex(v.command, where, "command");
    if (command.length < 8) throw new FormatError("trace", `${where}: command shorter than its 4-byte header`);
    if (typeof v.sw !== "string" || !SW_HEX.test(v.sw)) throw new FormatError("trace", `${where}: sw must be 4 upper-case hex digits`);
    const e: TraceApdu = { type: "apdu", seq, command, response: hex(v.response, where, "response"), sw: v.sw };
    if (v.masked !== undefined) {
      if (typeof v.masked !== "string" || !(MASKED_KINDS as readonly string[]).includes(v.masked)) {
        throw new FormatError("trace", `${where}: masked must be one of ${MASKED_KINDS.join(", ")}`);
      }
      e.masked = v.masked as MaskedSecret;
    }
    if (v.micros !== undefined) e.micros = nonNegative(v.micros, where, "micros");
    return { ...e, ...common };
  }
  if (v.type === "event") {
    if (typeof v.event !== "string" || !(EVENT_KINDS as readonly string[]).includes(v.event)) {
      throw new FormatError("trace", `${where}: event must be one of ${EVENT_KINDS.join(", ")}`);
    }
    const e: TraceReaderEvent = { type: "event", seq, event: v.event as ReaderEventKind };
    if (v.atr !== undefined) e.atr = hex(v.atr, where, "atr");
    return { ...e, ...common };
  }
  throw new FormatError("trace", `${where}: type must be "apdu" or "event"`);
}

function hex(v: unknown, where: string, field: string): string {
  if (typeof v !== "string" || !HEX.test(v)) throw new FormatError("trace", `${where}: ${field} must be upper-case hex bytes`);
  return v;
}

function count(v: unknown, where: string, field: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw new FormatError("trace", `${where}: ${field} must be a whole number >= 0`);
  return v;
}

function nonNegative(v: unknown, where: string, field: string): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new FormatError("trace", `${where}: ${field} must be a number >= 0`);
  return v;
}

function text(v: unknown, where: string, field: string): string {
  if (typeof v !== "string") throw new FormatError("trace", `${where}: ${field} must be a string`);
  return v;
}
