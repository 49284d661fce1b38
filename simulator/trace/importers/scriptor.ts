/**
 * Exchanges as printed by pcsc-tools' scriptor and by `cardloop apdu`:
 *
 *   scriptor                                   cardloop apdu
 *   > 00 A4 04 00 05 A0 00 00 03 08 00         # ATR 3BF813...
 *   < 61 38 4F 06 00 00 10 00 01 00 79 07 ...  > 00A4040005A00000030800
 *   00 03 08 50 0C ... 90 00 : Normal processing.   < 6138...9000
 *   > RESET                                    > RESET
 *   < OK: 3B F8 13 ...                         < 3BF813...
 *
 * scriptor wraps a long response over several lines and ends it with
 * " : " and the status word's meaning; it also echoes each script line
 * before its "> " line, which is skipped. A script alone (the input of
 * scriptor or of `cardloop apdu --script`) has no answers and is refused: a
 * trace is what the card said.
 */
import { FormatError, isRecord } from "../../../core/index.js";
import { hexBytes, linesOf, TraceBuilder } from "./common.js";
import type { Trace } from "../types.js";

export function looksLikeScriptorOutput(text: string): boolean {
  return (/^> (?:[0-9A-Fa-f]{2}|RESET)/m.test(text) && /^< /m.test(text)) || looksLikeApduJson(text);
}

/** `cardloop apdu --json` output: its first line is an exchange or a reset object. */
function looksLikeApduJson(text: string): boolean {
  const first = linesOf(text).find((l) => l.trim() !== "");
  return first !== undefined && /^\s*\{"(?:command|reset)":/.test(first);
}

/** A script (APDUs in hex, `reset`, `#` comments) with no answer in it. */
export function looksLikeScript(text: string): boolean {
  let apdus = 0;
  for (const raw of linesOf(text)) {
    const line = raw.replace(/#.*/, "").trim();
    if (line === "" || /^reset$/i.test(line)) continue;
    if (!/^[0-9A-Fa-f]{2}(?:\s*[0-9A-Fa-f]{2}){3,}(?:\s+[0-9A-Fa-f]{2}[0-9A-Fa-fxX]{2})?$/.test(line)) return false;
    apdus++;
  }
  return apdus > 0;
}

export function scriptRefusal(source: string): FormatError {
  return new FormatError(
    "scriptor",
    `${source}: an APDU script without answers (input for \`cardloop apdu --script\` or scriptor); import the output of \`cardloop apdu\` or scriptor instead`,
  );
}

export function importScriptor(text: string, source: string): { trace: Trace; masked: number } {
  if (!looksLikeScriptorOutput(text) && looksLikeScript(text)) throw scriptRefusal(source);
  if (looksLikeApduJson(text)) return importApduJson(text, source);
  const b = new TraceBuilder("scriptor", source);
  const lines = linesOf(text);
  const scriptorStyle = lines.some((l) => /^< .* : /.test(l) || /^< OK: /.test(l) || /^Using T=/.test(l));
  let sent: { command: Uint8Array | "reset"; line: number } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const line = lines[i].trimEnd();
    const atr = /^# ATR ([0-9A-Fa-f]*)$/.exec(line);
    if (atr !== null) {
      b.event("power-on", { line: n, atr: hexBytes(atr[1]) });
      continue;
    }
    if (line.startsWith("> ")) {
      const body = line.slice(2).trim();
      if (/^RESET$/i.test(body)) sent = { command: "reset", line: n };
      else {
        const command = hexBytes(body);
        if (command === undefined) throw b.error(n, "the command after > is not hex");
        sent = { command, line: n };
      }
      continue;
    }
    if (!line.startsWith("< ")) continue; // echoed script lines, comments, "! expected" notes, banners
    if (sent === undefined) throw b.error(n, "an answer (<) without a command (>) before it");
    let body = line.slice(2);
    if (sent.command === "reset") {
      const bytes = hexBytes(body.replace(/^OK:\s*/, ""));
      if (bytes === undefined) throw b.error(n, "the ATR after a reset is not hex");
      b.event("reset", { line: sent.line, atr: bytes });
      sent = undefined;
      continue;
    }
    // scriptor: the answer runs on until the line with " : meaning".
    while (scriptorStyle && !body.includes(" : ") && i + 1 < lines.length && hexBytes(lines[i + 1].replace(/ : .*$/, "")) !== undefined) {
      body += " " + lines[++i];
    }
    const response = hexBytes(body.replace(/ : .*$/, ""));
    if (response === undefined) throw b.error(n, "the answer after < is not hex");
    if (response.length < 2) throw b.error(n, "the answer has no status word");
    b.apdu(sent.command, response, { line: sent.line });
    sent = undefined;
  }
  if (b.count === 0) throw b.error(lines.length, "no exchange (> command, < answer) found");
  return b.build();
}

function importApduJson(text: string, source: string): { trace: Trace; masked: number } {
  const b = new TraceBuilder("scriptor", source);
  const lines = linesOf(text);
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    if (lines[i].trim() === "") continue;
    let v: unknown;
    try {
      v = JSON.parse(lines[i]);
    } catch {
      throw b.error(n, "not a JSON line");
    }
    if (!isRecord(v)) throw b.error(n, "not a JSON object");
    if (v.reset === true) {
      const atr = typeof v.atr === "string" ? hexBytes(v.atr) : undefined;
      if (atr === undefined) throw b.error(n, "a reset without a hex atr");
      b.event("reset", { line: n, atr });
      continue;
    }
    const command = typeof v.command === "string" ? hexBytes(v.command) : undefined;
    const data = typeof v.response === "string" ? hexBytes(v.response) : undefined;
    const sw = typeof v.sw === "string" && /^[0-9A-Fa-f]{4}$/.test(v.sw) ? hexBytes(v.sw) : undefined;
    if (command === undefined || data === undefined || sw === undefined) throw b.error(n, "an exchange needs hex command and response and a 4-digit sw");
    const response = new Uint8Array(data.length + 2);
    response.set(data);
    response.set(sw, data.length);
    b.apdu(command, response, { line: n });
  }
  if (b.count === 0) throw b.error(lines.length, "no exchange found");
  return b.build();
}
