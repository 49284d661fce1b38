/**
 * cardloop's own run log (JSON Lines events): each `apdu.exchange` is an
 * exchange, already masked: a logical one from TracedReader (its response
 * field is the data AND the status word), or a transport one from a reader
 * given a bus (memory, PC/SC: the response field is the data alone). Which
 * one is decided per reader name: a reader whose every response ends in its
 * own status word is the first kind (TracedReader never writes a shorter
 * one; a transport reader's status-only answers are ""). Masking runs again
 * all the same, so the entries say what was masked and a run log written
 * before a masking rule existed is covered too. The event's time gives
 * atMs; every other event is passed over.
 */
import { FormatError, parseRunLogLine } from "../../../core/index.js";
import { hexBytes, linesOf, TraceBuilder } from "./common.js";
import type { Trace } from "../types.js";

export function looksLikeRunLog(text: string): boolean {
  const first = linesOf(text).find((l) => l.trim() !== "");
  if (first === undefined) return false;
  const r = parseRunLogLine(first.trim());
  return "event" in r && /"type":"apdu\.exchange"/.test(text);
}

export function importRunLog(text: string, source: string): { trace: Trace; masked: number } {
  const b = new TraceBuilder("runlog", source);
  const lines = linesOf(text);
  const exchanges: { n: number; time: string; reader?: string; command: Uint8Array; response: string; sw: string; micros?: unknown }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const raw = lines[i].trim();
    if (raw === "") continue;
    const r = parseRunLogLine(raw);
    if ("reason" in r) throw new FormatError("runlog", `${source}:${n}: ${r.reason}`);
    const e = r.event;
    if (e.type !== "apdu.exchange") continue;
    const d = e.data as Record<string, unknown>;
    // A reader that answered fewer than two bytes logged no status word: no answer to keep.
    if (d.sw === "") continue;
    const command = typeof d.command === "string" ? hexBytes(d.command) : undefined;
    const response = typeof d.response === "string" && hexBytes(d.response) !== undefined ? d.response.toUpperCase() : undefined;
    const sw = typeof d.sw === "string" && /^[0-9A-Fa-f]{4}$/.test(d.sw) ? d.sw.toUpperCase() : undefined;
    if (command === undefined || response === undefined || sw === undefined) throw b.error(n, "apdu.exchange without hex command, response and a 4-digit sw");
    exchanges.push({ n, time: e.time, reader: typeof d.reader === "string" ? d.reader : undefined, command, response, sw, micros: d.micros });
  }
  const dataOnly = new Set(exchanges.filter((x) => !x.response.endsWith(x.sw)).map((x) => x.reader));
  for (const x of exchanges) {
    const response = hexBytes(dataOnly.has(x.reader) ? x.response + x.sw : x.response)!;
    const at = Date.parse(x.time);
    b.apdu(x.command, response, {
      line: x.n,
      reader: x.reader,
      micros: typeof x.micros === "number" && Number.isFinite(x.micros) && x.micros >= 0 ? x.micros : undefined,
      atMs: Number.isFinite(at) ? at : undefined,
    });
  }
  if (b.count === 0) throw b.error(lines.length, "no apdu.exchange event in this run log");
  return b.build();
}
