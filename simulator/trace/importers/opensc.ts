/**
 * OpenSC's debug log (`debug = 3` and `debug_file` in opensc.conf, or
 * OPENSC_DEBUG=3 to stderr):
 *
 *   P:4400; T:0x1404 16:42:28.033 [pkcs15-tool] reader-pcsc.c:325:pcsc_transmit: reader 'Virtual PCD 00 00'
 *   P:4400; T:0x1404 16:42:28.033 [pkcs15-tool] reader-pcsc.c:326:pcsc_transmit:
 *   Outgoing APDU (12 bytes):
 *   00 A4 04 00 07 62 76 01 FF 00 00 00 .....bv.....
 *
 *   P:4400; T:0x1404 16:42:28.082 [pkcs15-tool] reader-pcsc.c:335:pcsc_transmit:
 *   Incoming APDU (2 bytes):
 *   6A 82 j.
 *
 * The dumps are 16 bytes a line with an ASCII column, which is why the byte
 * count in the title decides how many hex pairs are read. Older OpenSC
 * (0.15..0.19) titles them "Outgoing APDU data [   12 bytes] ====="; both
 * are read. Times come from the context line before each dump (time of day,
 * milliseconds); the reader from pcsc_transmit's "reader '...'" line.
 * Reader events kept: pcsc_connect (power-on) and pcsc_reset (reset).
 * OpenSC leaves the APDUs it marks sensitive (a PIN verification by
 * pkcs15-tool) out of its own log: those are gaps in the trace.
 */
import { linesOf, MAX_APDU, TraceBuilder } from "./common.js";
import type { Trace } from "../types.js";

const TITLE = /^(Outgoing|Incoming) APDU(?: \((\d+) bytes\):| data \[\s*(\d+) bytes\s*\])/;
const CONTEXT = /^P:\d+; T:\S+ (\d{2}):(\d{2}):(\d{2})\.(\d{3}) \[[^\]]*\] (\S+)/;
const DAY_MS = 86_400_000;

export function looksLikeOpensc(text: string): boolean {
  return /^Outgoing APDU(?: \(\d+ bytes\):| data \[\s*\d+ bytes\s*\])/m.test(text) && /^Incoming APDU/m.test(text);
}

export function importOpensc(text: string, source: string): { trace: Trace; masked: number } {
  const b = new TraceBuilder("opensc", source);
  const lines = linesOf(text);
  let atMs: number | undefined;
  /** Days passed since the log's first line: the context lines give only the time of day. */
  let dayOffset = 0;
  let reader: string | undefined;
  let out: { command: Uint8Array; line: number; atMs?: number } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const line = lines[i];
    const ctx = CONTEXT.exec(line);
    if (ctx !== null) {
      const timeOfDay = ((Number(ctx[1]) * 60 + Number(ctx[2])) * 60 + Number(ctx[3])) * 1000 + Number(ctx[4]);
      // A step back of more than 12 h is midnight passing, not a clock going back.
      if (atMs !== undefined && timeOfDay + dayOffset < atMs - DAY_MS / 2) dayOffset += DAY_MS;
      atMs = timeOfDay + dayOffset;
      const named = /pcsc_transmit: reader '(.*)'\s*$/.exec(line);
      if (named !== null) reader = named[1];
      if (/:pcsc_connect: called/.test(line)) b.event("power-on", { line: n, atMs, reader });
      if (/:pcsc_reset: called/.test(line)) b.event("reset", { line: n, atMs, reader });
      continue;
    }
    const title = TITLE.exec(line);
    if (title === null) continue;
    const count = Number(title[2] ?? title[3]);
    if (!Number.isSafeInteger(count) || count > MAX_APDU) throw b.error(n, "APDU byte count out of range");
    const { bytes, next } = readDump(lines, i + 1, count, b, n);
    i = next - 1;
    if (title[1] === "Outgoing") {
      // An outgoing APDU never answered (the card left) has nothing to keep.
      out = { command: bytes, line: n, atMs };
      continue;
    }
    if (out === undefined) continue; // the excerpt starts between the two dumps
    const micros = out.atMs !== undefined && atMs !== undefined && atMs >= out.atMs ? (atMs - out.atMs) * 1000 : undefined;
    b.apdu(out.command, bytes, { line: out.line, atMs: out.atMs, reader, micros });
    out = undefined;
  }
  if (b.count === 0) throw b.error(lines.length, "no Outgoing APDU with its Incoming APDU found");
  return b.build();
}

/** `count` bytes from the dump lines starting at `from` (at most 16 a line, the ASCII column ignored). */
function readDump(lines: string[], from: number, count: number, b: TraceBuilder, titleLine: number): { bytes: Uint8Array; next: number } {
  const bytes = new Uint8Array(count);
  let got = 0;
  let i = from;
  while (got < count) {
    if (i >= lines.length) throw b.error(titleLine, `dump ends after ${got} of ${count} bytes`);
    const tokens = lines[i].trim().split(/\s+/);
    let onLine = 0;
    for (const tok of tokens) {
      if (got >= count || onLine >= 16 || !/^[0-9A-Fa-f]{2}$/.test(tok)) break;
      bytes[got++] = parseInt(tok, 16);
      onLine++;
    }
    if (onLine === 0) throw b.error(i + 1, `dump ends after ${got} of ${count} bytes`);
    i++;
  }
  return { bytes, next: i };
}

