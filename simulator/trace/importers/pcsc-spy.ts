/**
 * pcsc-spy's output (pcsc-lite's spy: libpcscspy.so in front of
 * libpcsclite, `pcsc-spy -n` reading its FIFO):
 *
 *   SCardTransmit
 *    i hCard: 0x2A4B8CE2
 *    i bSendLength 0x0000000C (12)
 *    i bSendBuffer
 *    i  0000 00 A4 04 00 07 62 76 01 FF 00 00 00             .....bv.....
 *    o bRecvLength 0x00000002 (2)
 *    o bRecvBuffer
 *    o  0000 6A 82                                           j.
 *    => Command successful. (SCARD_S_SUCCESS [0x00000000])  [0.105665]
 *
 * The bracketed figure is the call's duration in seconds (micros). The spy
 * has no time of day, so entries carry no atMs. The reader is the one
 * SCardConnect named for that hCard. A transmit that failed has no answer
 * and is left out. Reader events kept: SCardReconnect with RESET or UNPOWER
 * (a reset). Colour codes (pcsc-spy without -n) are stripped. Several
 * threads (indented, or " (tN) " with -t) are read apart and merged back in
 * the log's order.
 */
import { linesOf, MAX_APDU, TraceBuilder } from "./common.js";
import type { Trace } from "../types.js";

const CALL = /^(SCard\w+|SCarControl)\s*$/;
/** A thread's indent (4 spaces per thread after the first) and pcsc-spy -t's " (tN) ". */
const THREAD = /^((?: {4})*)( \(t\d+\) )?/;
const DUMP = /^ [io]  [0-9A-Fa-f]{4} (.*)$/;

export function looksLikePcscSpy(text: string): boolean {
  const plain = stripColours(text);
  return /^(?: {4})*(?: \(t\d+\) )?SCardTransmit\s*$/m.test(plain) && /^(?: {4})*(?: \(t\d+\) )? i bSendBuffer/m.test(plain);
}

export function importPcscSpy(text: string, source: string): { trace: Trace; masked: number } {
  const b = new TraceBuilder("pcsc-spy", source);
  const lines = linesOf(stripColours(text));
  const found: Found[] = [];
  for (const stream of threads(lines).values()) found.push(...calls(stream, b));
  // Threads print side by side: the calls go back into the order the log shows them.
  found.sort((x, y) => x.line - y.line);
  for (const f of found) {
    if (f.kind === "reset") b.event("reset", { line: f.line, reader: f.reader });
    else b.apdu(f.command, f.response, { line: f.line, reader: f.reader, micros: f.micros });
  }
  if (b.count === 0) throw b.error(lines.length, "no successful SCardTransmit found");
  return b.build();
}

interface Line {
  text: string;
  n: number;
}

type Found =
  | { kind: "apdu"; line: number; reader?: string; command: Uint8Array; response: Uint8Array; micros?: number }
  | { kind: "reset"; line: number; reader?: string };

/**
 * The log split by thread: pcsc-spy indents a thread's lines by 4 spaces per
 * thread (and prefixes " (tN) " with -t), each thread printing on its own, so
 * their lines may interleave. Each stream's lines lose that prefix.
 */
function threads(lines: string[]): Map<string, Line[]> {
  const out = new Map<string, Line[]>();
  for (let i = 0; i < lines.length; i++) {
    const m = THREAD.exec(lines[i])!;
    const key = m[2] !== undefined ? m[2].trim() : `indent ${m[1].length}`;
    let stream = out.get(key);
    if (stream === undefined) out.set(key, (stream = []));
    stream.push({ text: lines[i].slice(m[0].length), n: i + 1 });
  }
  return out;
}

/** The transmits and resets of one thread's lines. */
function calls(stream: Line[], b: TraceBuilder): Found[] {
  const found: Found[] = [];
  const readers = new Map<string, string>();
  for (let i = 0; i < stream.length; i++) {
    const call = CALL.exec(stream[i].text);
    if (call === null) continue;
    const at = stream[i].n;
    let end = i + 1;
    while (end < stream.length && stream[end].text.startsWith(" ")) end++;
    const body = stream.slice(i + 1, end);
    i = end - 1;
    const field = (re: RegExp): RegExpExecArray | null => {
      for (const l of body) {
        const m = re.exec(l.text);
        if (m !== null) return m;
      }
      return null;
    };
    const result = field(/^ => .*\((\w+) \[0x[0-9A-Fa-f]+\]\)\s*(?:\[(\d+\.\d+)\])?/);
    const ok = result?.[1] === "SCARD_S_SUCCESS";
    const hCard = field(/^ [io] (?:hCard:|phCard) (0x[0-9A-Fa-f]+)/)?.[1];
    if (call[1] === "SCardConnect") {
      const reader = field(/^ i szReader:? (.+)$/)?.[1];
      const handle = field(/^ o phCard (0x[0-9A-Fa-f]+)/)?.[1];
      if (ok && reader !== undefined && handle !== undefined) readers.set(handle, reader.trim());
      continue;
    }
    const reader = hCard !== undefined ? readers.get(hCard) : undefined;
    if (call[1] === "SCardReconnect") {
      if (ok && field(/dwInitialization: SCARD_(RESET|UNPOWER)_CARD/) !== null) found.push({ kind: "reset", line: at, reader });
      continue;
    }
    if (call[1] !== "SCardTransmit" || !ok) continue;
    const command = buffer(body, "i", "bSendLength", "bSendBuffer", b, at);
    const response = buffer(body, "o", "bRecvLength", "bRecvBuffer", b, at);
    const seconds = result?.[2];
    found.push({ kind: "apdu", line: at, reader, command, response, micros: seconds !== undefined ? Number(seconds) * 1e6 : undefined });
  }
  return found;
}

/** The bytes dumped after ` <dir> <name>`, as many as ` <dir> <lengthName> 0x.. (n)` says. */
function buffer(body: Line[], dir: "i" | "o", lengthName: string, name: string, b: TraceBuilder, first: number): Uint8Array {
  const lengthAt = body.findIndex((l) => l.text.startsWith(` ${dir} ${lengthName} `));
  const count = lengthAt < 0 ? undefined : Number(/\((\d+)\)\s*$/.exec(body[lengthAt].text)?.[1]);
  const at = body.findIndex((l) => l.text.trimEnd() === ` ${dir} ${name}`);
  if (count === undefined || !Number.isSafeInteger(count) || at < 0) throw b.error(first, `SCardTransmit without ${name} and its length`);
  if (count > MAX_APDU) throw b.error(body[lengthAt].n, `${lengthName} ${count}: length out of range (at most ${MAX_APDU})`);
  const bytes = new Uint8Array(count);
  let got = 0;
  for (let j = at + 1; j < body.length && got < count; j++) {
    const m = DUMP.exec(body[j].text);
    if (m === null || !body[j].text.startsWith(` ${dir} `)) break;
    let onLine = 0;
    for (const tok of m[1].trim().split(/\s+/)) {
      if (got >= count || onLine >= 16 || !/^[0-9A-Fa-f]{2}$/.test(tok)) break;
      bytes[got++] = parseInt(tok, 16);
      onLine++;
    }
  }
  if (got < count) throw b.error(body[at].n, `${name} dump holds ${got} of its ${count} bytes`);
  return bytes;
}

function stripColours(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, "");
}
