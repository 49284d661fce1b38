/**
 * What every importer shares: a builder that numbers entries, masks secrets
 * as they come (in order, so a management-key answer split by 61xx is masked
 * in its GET RESPONSE too) and places the reader name; and hex reading that
 * fails with the file and line.
 */
import { ExchangeMasker, FormatError, swHex, toHex } from "../../../core/index.js";
import type { ReaderEventKind, Trace, TraceApdu, TraceEntry, TraceFormat } from "../types.js";

/** The longest APDU a log may claim (extended Lc and Le around 65 535 data bytes): a larger count is a broken log, not an allocation. */
export const MAX_APDU = 65544;

export interface Where {
  line: number;
  atMs?: number;
  reader?: string;
}

export class TraceBuilder {
  private readonly entries: TraceEntry[] = [];
  private readonly masker = new ExchangeMasker();

  constructor(
    readonly format: TraceFormat,
    readonly source: string,
  ) {}

  /** `response` is the data followed by the status word (at least the two SW bytes). */
  apdu(command: Uint8Array, response: Uint8Array, where: Where & { micros?: number }): void {
    if (command.length < 4) throw this.error(where.line, "command shorter than its 4-byte header");
    if (response.length < 2) throw this.error(where.line, "response without a status word");
    const m = this.masker.mask(command, response, where.reader);
    const n = m.response.length;
    const e: TraceApdu = {
      type: "apdu",
      seq: this.entries.length,
      command: hex(m.command),
      response: hex(m.response.subarray(0, n - 2)),
      sw: swHex((m.response[n - 2] << 8) | m.response[n - 1]),
    };
    if (m.masked !== undefined) e.masked = m.masked;
    // A duration the log overflows (a seconds figure of 400 digits) is no duration: the trace must read back.
    if (where.micros !== undefined && Number.isFinite(where.micros) && where.micros >= 0) e.micros = Math.round(where.micros);
    this.place(e, where);
  }

  event(kind: ReaderEventKind, where: Where & { atr?: Uint8Array }): void {
    // A new power-up abandons any continuation still owed on that reader.
    this.masker.reset(where.reader);
    const e: TraceEntry = { type: "event", seq: this.entries.length, event: kind };
    if (where.atr !== undefined && where.atr.length > 0) e.atr = hex(where.atr);
    this.place(e, where);
  }

  /** The last entry, when it is a reader event (to attach an ATR logged after it). */
  lastEvent(): Extract<TraceEntry, { type: "event" }> | undefined {
    const last = this.entries[this.entries.length - 1];
    return last?.type === "event" ? last : undefined;
  }

  get count(): number {
    return this.entries.length;
  }

  error(line: number, message: string): FormatError {
    return new FormatError(this.format, `${this.source}:${line}: ${message}`);
  }

  /**
   * The trace. One reader named throughout goes to the header; several stay
   * on each entry. Times become milliseconds since the first entry.
   */
  build(): { trace: Trace; masked: number } {
    const readers = new Set(this.entries.map((e) => e.reader).filter((r) => r !== undefined));
    const t0 = this.entries.find((e) => e.atMs !== undefined)?.atMs;
    for (const e of this.entries) {
      if (readers.size === 1) delete e.reader;
      if (e.atMs !== undefined && t0 !== undefined) e.atMs = Math.round((e.atMs - t0) * 1000) / 1000;
      // A clock that stepped back (a log's time of day, an edited line) gives no time rather than a trace nothing can read.
      if (e.atMs !== undefined && !(Number.isFinite(e.atMs) && e.atMs >= 0)) delete e.atMs;
    }
    const masked = this.masker.masked;
    // The header keeps the file's name only: directories may name a person or a customer.
    const header: Trace["header"] = { cardloopTrace: 1, format: this.format, source: baseName(this.source), masked };
    if (readers.size === 1) header.reader = [...readers][0];
    return { trace: { header, entries: this.entries }, masked };
  }

  private place(e: TraceEntry, where: Where): void {
    if (where.atMs !== undefined) e.atMs = where.atMs;
    if (where.reader !== undefined) e.reader = where.reader;
    e.line = where.line;
    this.entries.push(e);
  }
}

/** Hex bytes separated by spaces or colons, or none; undefined when it is not that. */
export function hexBytes(text: string): Uint8Array | undefined {
  const clean = text.replace(/[\s:]/g, "");
  if (clean.length % 2 !== 0 || !/^[0-9A-Fa-f]*$/.test(clean)) return undefined;
  return new Uint8Array(Buffer.from(clean, "hex"));
}

/** Splits a log into lines (any line ending), numbered from 1 by index + 1. */
export function linesOf(text: string): string[] {
  return text.split(/\r?\n|\r/);
}

function hex(b: Uint8Array): string {
  return toHex(b).toUpperCase();
}

/** A path's last part: a trace's header names its input without directories (they may name a person or a customer). */
export function baseName(p: string): string {
  const parts = p.split(/[\\/]/);
  return parts[parts.length - 1] || p;
}
