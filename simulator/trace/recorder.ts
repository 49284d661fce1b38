/**
 * Records a trace as it happens (a relay between a host and a card): one
 * line per entry, written at once, so that a relay killed mid-run leaves a
 * readable trace. Secrets are masked before anything reaches the disk.
 *
 * The header comes first with a masked count of 0 and is rewritten with the
 * final count on close(); a trace left by a killed recorder keeps the stale
 * count, which is why readers take the entries' `masked` fields as the truth.
 */
import { closeSync, fchmodSync, openSync, readFileSync, writeSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { dirname } from "node:path";
import { ExchangeMasker, makeDirs, swHex, toHex } from "../../core/index.js";
import { entryLine, headerLine, parseTrace, writeTrace } from "./format.js";
import { TRACE_VERSION, type ReaderEventKind, type TraceApdu, type TraceHeader, type TraceReaderEvent } from "./types.js";

export class TraceWriter {
  private fd: number | undefined;
  private readonly masker = new ExchangeMasker();
  private readonly header: TraceHeader;
  private seq = 0;
  private t0: number | undefined;

  constructor(
    readonly path: string,
    header: Omit<TraceHeader, "masked" | "cardloopTrace">,
  ) {
    this.header = { ...header, cardloopTrace: TRACE_VERSION, masked: 0 };
    makeDirs(dirname(path));
    this.fd = openSync(path, "w", 0o600);
    // The mode of openSync applies only to a file it creates: an existing trace (--force) keeps its own otherwise.
    fchmodSync(this.fd, 0o600);
    this.line(JSON.stringify(headerLine(this.header)));
  }

  /** One transport exchange; `response` is the data followed by the status word. */
  apdu(command: Uint8Array, response: Uint8Array, micros?: number): void {
    const m = this.masker.mask(command, response);
    const n = m.response.length;
    const sw = n >= 2 ? (m.response[n - 2] << 8) | m.response[n - 1] : 0;
    const e: TraceApdu = {
      type: "apdu",
      seq: this.seq++,
      command: hex(m.command),
      response: hex(m.response.subarray(0, Math.max(0, n - 2))),
      // A reader that returned fewer than two bytes answered no status word: 0000 says so.
      sw: swHex(sw),
      ...(m.masked !== undefined ? { masked: m.masked } : {}),
      ...(micros !== undefined ? { micros: Math.round(micros) } : {}),
      atMs: this.elapsed(),
    };
    this.line(entryLine(e));
  }

  event(kind: ReaderEventKind, atr?: Uint8Array): void {
    // A reset or removal abandons any GET RESPONSE still owed.
    this.masker.reset();
    const e: TraceReaderEvent = {
      type: "event",
      seq: this.seq++,
      event: kind,
      ...(atr !== undefined ? { atr: hex(atr) } : {}),
      atMs: this.elapsed(),
    };
    this.line(entryLine(e));
  }

  /** Closes the file and rewrites the header with the final masked count. Idempotent. */
  close(): { masked: number; entries: number } {
    const result = { masked: this.masker.masked, entries: this.seq };
    if (this.fd === undefined) return result;
    closeSync(this.fd);
    this.fd = undefined;
    const trace = parseTrace(readFileSync(this.path, "utf8"), this.path);
    trace.header = { ...this.header, masked: result.masked };
    writeTrace(this.path, trace);
    return result;
  }

  private line(text: string): void {
    if (this.fd === undefined) throw new Error(`trace ${this.path} is closed`);
    writeSync(this.fd, text + "\n");
  }

  /** Milliseconds since the first entry (a duration for the trace, not a domain decision). */
  private elapsed(): number {
    const now = performance.now();
    this.t0 ??= now;
    return Math.round((now - this.t0) * 1000) / 1000;
  }
}

function hex(b: Uint8Array): string {
  return toHex(b).toUpperCase();
}
