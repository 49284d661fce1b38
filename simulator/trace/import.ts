/**
 * Importing a field APDU log into a cardloop trace: the format is told or
 * detected, the log parsed by its importer (importers/), secrets masked on
 * the way in and counted. Every failure is a FormatError naming the source
 * and the line.
 */
import { ExchangeMasker, FormatError, fromHex, isRecord, toHex } from "../../core/index.js";
import { baseName } from "./importers/common.js";
import { importOpensc, looksLikeOpensc } from "./importers/opensc.js";
import { importPcscSpy, looksLikePcscSpy } from "./importers/pcsc-spy.js";
import { importPcscd, looksLikePcscd } from "./importers/pcscd.js";
import { importRunLog, looksLikeRunLog } from "./importers/runlog.js";
import { importScriptor, looksLikeScript, looksLikeScriptorOutput, scriptRefusal } from "./importers/scriptor.js";
import { parseTrace } from "./format.js";
import { TRACE_FORMATS, type Trace, type TraceFormat } from "./types.js";

export interface ImportOptions {
  /** The log's format; detected when absent. */
  format?: TraceFormat;
  /** The input's name for messages; the header keeps its file name only. */
  source?: string;
}

export interface ImportResult {
  trace: Trace;
  format: TraceFormat;
  /** Exchanges with secret bytes replaced by FF. */
  masked: number;
}

type Importer = (text: string, source: string) => { trace: Trace; masked: number };

const IMPORTERS: Record<TraceFormat, Importer> = {
  pcscd: importPcscd,
  "pcsc-spy": importPcscSpy,
  opensc: importOpensc,
  scriptor: importScriptor,
  runlog: importRunLog,
  cardloop: importCardloop,
};

/** In the order they are tried: the most specific marks first. */
const DETECTORS: [TraceFormat, (text: string) => boolean][] = [
  ["cardloop", looksLikeCardloop],
  ["runlog", looksLikeRunLog],
  ["pcsc-spy", looksLikePcscSpy],
  ["opensc", looksLikeOpensc],
  ["pcscd", looksLikePcscd],
  ["scriptor", looksLikeScriptorOutput],
];

/**
 * A cardloop trace: its first non-empty line is a JSON object with
 * `cardloopTrace`, whatever its key order or spacing (a hand edit, jq).
 */
function looksLikeCardloop(text: string): boolean {
  const first = /^[ \t]*\S.*$/m.exec(text)?.[0];
  if (first === undefined || !first.trimStart().startsWith("{")) return false;
  try {
    const v: unknown = JSON.parse(first);
    return isRecord(v) && "cardloopTrace" in v;
  } catch {
    return false;
  }
}

/** The format of a log, or undefined when none fits (a bare APDU script included: it has no answers). */
export function detectFormat(text: string): TraceFormat | undefined {
  for (const [format, looks] of DETECTORS) if (looks(text)) return format;
  return undefined;
}

export function importTrace(text: string, options: ImportOptions = {}): ImportResult {
  const source = options.source ?? "input";
  if (options.format !== undefined && !TRACE_FORMATS.includes(options.format)) {
    throw new FormatError("trace", `unknown format "${String(options.format)}" (one of ${TRACE_FORMATS.join(", ")})`);
  }
  const format = options.format ?? detectFormat(text);
  if (format === undefined) {
    if (looksLikeScript(text)) throw scriptRefusal(source);
    throw new FormatError("trace", `${source}:1: not a log cardloop can import (${TRACE_FORMATS.join(", ")}); if it is one, \`cardloop trace import --format\` forces its format`);
  }
  const { trace, masked } = IMPORTERS[format](text, source);
  return { trace, format, masked };
}

/**
 * A cardloop trace imported again: validated, and masked again entry by
 * entry (a trace written by hand or by an older cardloop may hold secrets).
 */
function importCardloop(text: string, source: string): { trace: Trace; masked: number } {
  const parsed = parseTrace(text, source);
  // Every other importer refuses a log without an exchange; a header-only trace would "replay" with nothing compared.
  if (!parsed.entries.some((e) => e.type === "apdu")) throw new FormatError("trace", `${source}: no exchange in this trace`);
  const masker = new ExchangeMasker();
  for (const e of parsed.entries) {
    if (e.type !== "apdu") {
      masker.reset(e.reader);
      continue;
    }
    const m = masker.mask(fromHex(e.command), fromHex(e.response + e.sw), e.reader);
    e.command = toHex(m.command).toUpperCase();
    e.response = toHex(m.response.subarray(0, m.response.length - 2)).toUpperCase();
    e.masked ??= m.masked;
    if (e.masked === undefined) delete e.masked;
  }
  const masked = parsed.entries.filter((e) => e.type === "apdu" && e.masked !== undefined).length;
  const header = { ...parsed.header, masked };
  if (header.source !== undefined) header.source = baseName(header.source);
  return { trace: { header, entries: parsed.entries }, masked };
}
