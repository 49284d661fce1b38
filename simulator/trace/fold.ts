/**
 * Transport exchanges -> the logical exchanges a host meant (ISO 7816-4):
 * - 61xx: more response bytes wait; the GET RESPONSE (INS C0) answers that
 *   follow are continuations of the same response;
 * - command chaining (CLA bit 0x10): the parts make one command, its header
 *   the first part's with the chaining bit cleared, its data all parts' data;
 * - 6Cxx: wrong Le, "send again with Le=xx"; the re-sent command (same
 *   header and data) replaces the refused one, which stays in `parts`.
 * A chain part answered other than 9000 ends the chain. Each reader of a
 * multi-reader log folds apart. Reader events are not exchanges; one ends
 * the exchange still open on its reader (a reset abandons a pending GET
 * RESPONSE or chain). TracedReader folds live
 * exchanges the same way for the run log.
 */
import { CLA_CHAINING, concatBytes, encodeCommand, fromHex, isGetResponse, tryDecodeCommand } from "../../core/index.js";
import type { LogicalExchange, MaskedSecret, TraceApdu, TraceEntry } from "./types.js";

const GET_RESPONSE = 0xc0;

interface Open {
  /** The index of its first part in the entries. */
  at: number;
  parts: TraceApdu[];
  command: Uint8Array;
  chunks: Uint8Array[];
  /** The last part sent (a re-send after 6Cxx is compared with it). */
  last: Uint8Array;
  sw: number;
  chained: boolean;
  masked?: MaskedSecret;
}

export function foldExchanges(entries: readonly TraceEntry[]): LogicalExchange[] {
  const out: { at: number; exchange: LogicalExchange }[] = [];
  // One open exchange per reader: a log of several readers interleaves them, and B's exchange ends nothing of A's.
  const open = new Map<string | undefined, Open>();
  const close = (reader: string | undefined): void => {
    const o = open.get(reader);
    if (o !== undefined) out.push({ at: o.at, exchange: finish(o) });
    open.delete(reader);
  };
  for (const [at, e] of entries.entries()) {
    if (e.type !== "apdu") {
      // An event the log does not place on a reader may be any reader's: it ends every open exchange.
      if (e.reader === undefined) for (const reader of [...open.keys()]) close(reader);
      else close(e.reader);
      continue;
    }
    const command = fromHex(e.command);
    const data = fromHex(e.response);
    const sw = parseInt(e.sw, 16);
    // ISO 7816-4: a chain part answered other than 9000 ends the chain (the card dropped what it had).
    const keepsChain = isChainedPart(command) && sw === 0x9000;
    let o = open.get(e.reader);
    if (o !== undefined && o.sw >> 8 === 0x6c && isResend(o.last, command)) {
      // The refused part's answer carried nothing; the re-sent one is what the host meant.
      o.chunks.pop();
      if (o.parts.length === 1 || o.command === o.last) o.command = command;
      else if (!isGetResponse(command)) o.command = replaceLastPart(o, command);
      add(o, e, command, data, sw, false);
    } else if (o !== undefined && o.sw >> 8 === 0x61 && isGetResponse(command)) {
      add(o, e, command, data, sw, false);
    } else if (o !== undefined && o.chained && command.length >= 4 && command[1] === o.last[1]) {
      o.command = joinChained(o.command, command);
      add(o, e, command, data, sw, keepsChain);
    } else {
      close(e.reader);
      o = { at, parts: [], command, chunks: [], last: command, sw, chained: false };
      open.set(e.reader, o);
      add(o, e, command, data, sw, keepsChain);
    }
    if (!o.chained && o.sw >> 8 !== 0x61 && o.sw >> 8 !== 0x6c) close(e.reader);
  }
  for (const reader of [...open.keys()]) close(reader);
  // Exchanges close out of order when readers interleave: the trace's order is the first part's.
  return out.sort((a, b) => a.at - b.at).map((x) => x.exchange);
}

function add(o: Open, e: TraceApdu, command: Uint8Array, data: Uint8Array, sw: number, chained: boolean): void {
  o.parts.push(e);
  o.chunks.push(data);
  o.last = command;
  o.sw = sw;
  o.chained = chained;
  o.masked ??= e.masked;
}

function finish(o: Open): LogicalExchange {
  const first = o.parts[0];
  const x: LogicalExchange = { seq: first.seq, parts: o.parts, command: o.command, response: concatBytes(...o.chunks), sw: o.sw };
  if (o.masked !== undefined) x.masked = o.masked;
  if (first.line !== undefined) x.line = first.line;
  return x;
}

function isChainedPart(command: Uint8Array): boolean {
  return command.length >= 4 && (command[0] & CLA_CHAINING) !== 0 && command[1] !== GET_RESPONSE;
}

/** The same command with only Le changed (header and data equal). */
function isResend(previous: Uint8Array, next: Uint8Array): boolean {
  const a = tryDecodeCommand(previous);
  const b = tryDecodeCommand(next);
  if (a === undefined || b === undefined) return false;
  if (a.cla !== b.cla || a.ins !== b.ins || a.p1 !== b.p1 || a.p2 !== b.p2 || a.data.length !== b.data.length) return false;
  for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) return false;
  return true;
}

/** A chain whose last part was re-sent with another Le: the logical command takes the new Le. */
function replaceLastPart(o: Open, resent: Uint8Array): Uint8Array {
  const joined = tryDecodeCommand(o.command);
  const part = tryDecodeCommand(resent);
  if (joined === undefined || part === undefined) return o.command;
  return encodeCommand({ cla: joined.cla, ins: joined.ins, p1: joined.p1, p2: joined.p2, data: joined.data, le: part.le });
}

/**
 * The logical command of a chain: the first header (chaining bit cleared),
 * every part's data, the last part's Le. A part whose lengths do not add up
 * contributes the bytes after its header, so nothing the log holds is lost.
 */
function joinChained(sofar: Uint8Array, next: Uint8Array): Uint8Array {
  const a = tryDecodeCommand(sofar);
  const b = tryDecodeCommand(next);
  const dataA = a?.data ?? sofar.subarray(Math.min(5, sofar.length));
  const dataB = b?.data ?? next.subarray(Math.min(5, next.length));
  const data = concatBytes(dataA, dataB);
  if (data.length > 65535) return concatBytes(sofar, dataB);
  return encodeCommand({ cla: sofar[0] & ~CLA_CHAINING, ins: sofar[1], p1: sofar[2], p2: sofar[3], data, le: b?.le });
}
