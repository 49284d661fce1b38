/**
 * pcscd's own log with APDU logging (`pcscd -f -a`, usually with -d):
 *
 *   00000023 winscard.c:1596:SCardTransmit() Send Protocol: T=1
 *   00000017 APDU: 00 A4 04 00 07 62 76 01 FF 00 00 00
 *   00048729 SW: 6A 82
 *
 * Each line starts with the microseconds since the line before (pcscd -f
 * without -T); their sum is when a line was written, so the time from the
 * APDU line to its SW line is how long the exchange took (other threads'
 * lines may come between the two). The SW line holds the response data and then the
 * status word. APDU lines do not name the reader: it is the one pcscd last
 * connected, reconnected or saw a card in. Reader events kept: "Card
 * inserted into", "Card Removed From", power-up at SCardConnect (with its
 * "Card ATR:" line) and SCardReconnect's "Reset complete" (a reset). An APDU line without its
 * SW line (a transmission that failed, or the excerpt's edge) is left out:
 * a trace entry needs an answer.
 */
import { hexBytes, linesOf, TraceBuilder } from "./common.js";
import type { Trace } from "../types.js";

const PREFIX = /^(\d{8}) (.*)$/;
const APDU = /^APDU:(.*)$/;
const SW = /^SW:(.*)$/;

export function looksLikePcscd(text: string): boolean {
  return /^\d{8} APDU: [0-9A-F]{2}/m.test(text) && /^\d{8} SW: /m.test(text);
}

export function importPcscd(text: string, source: string): { trace: Trace; masked: number } {
  const b = new TraceBuilder("pcscd", source);
  let micros = 0;
  let reader: string | undefined;
  let pending: { command: Uint8Array; line: number; atMs: number } | undefined;
  /** What the next "Card ATR:" line belongs to. */
  let powering: "power-on" | "reset" | undefined;
  const lines = linesOf(text);
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const m = PREFIX.exec(lines[i].trimEnd());
    if (m === null) continue; // pcscd's own banner lines, or lines of another tool mixed in
    micros += Number(m[1]);
    const body = m[2];
    const atMs = micros / 1000;
    const apdu = APDU.exec(body);
    if (apdu !== null) {
      // An APDU with no SW line after it failed in transmission (card gone): it has no answer to keep.
      const command = hexBytes(apdu[1]);
      if (command === undefined) throw b.error(n, "APDU line is not hex");
      pending = { command, line: n, atMs };
      continue;
    }
    const sw = SW.exec(body);
    if (sw !== null) {
      if (pending === undefined) continue; // the excerpt starts between an APDU and its SW
      const response = hexBytes(sw[1]);
      if (response === undefined) throw b.error(n, "SW line is not hex");
      // Other threads may log between the two lines: the exchange took the time from one to the other.
      b.apdu(pending.command, response, { line: pending.line, atMs: pending.atMs, reader, micros: micros - pending.atMs * 1000 });
      pending = undefined;
      continue;
    }
    const inserted = /Card inserted into (.+)$/.exec(body);
    if (inserted !== null) {
      reader = inserted[1].trim();
      b.event("insert", { line: n, atMs, reader });
      continue;
    }
    const removed = /Card Removed From (.+)$/i.exec(body);
    if (removed !== null) {
      reader = removed[1].trim();
      b.event("remove", { line: n, atMs, reader });
      continue;
    }
    const connect = /SCardConnect\(\) Attempting Connect to (.+) using protocol/.exec(body);
    if (connect !== null) reader = connect[1].trim();
    if (/SCardConnect\(\) power up complete/.test(body)) powering = "power-on";
    // Logged only when the reconnect reset or unpowered the card (LEAVE_CARD logs no such line).
    if (/SCardReconnect\(\) Reset complete/.test(body)) powering = "reset";
    const atr = /^Card ATR: ?([0-9A-Fa-f ]*)$/.exec(body);
    if (atr !== null) {
      const bytes = hexBytes(atr[1]);
      if (bytes === undefined) throw b.error(n, "Card ATR line is not hex");
      const last = b.lastEvent();
      if (powering !== undefined) b.event(powering, { line: n, atMs, reader, atr: bytes });
      else if (last?.event === "insert" && last.atr === undefined && bytes.length > 0) last.atr = hexOf(bytes);
      powering = undefined;
    }
  }
  if (b.count === 0) throw b.error(lines.length, "no APDU with its SW line found");
  return b.build();
}

function hexOf(b: Uint8Array): string {
  return Buffer.from(b).toString("hex").toUpperCase();
}
