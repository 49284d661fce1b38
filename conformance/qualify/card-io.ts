import { CLA_CHAINING, encodeTlv, swHex, withDeadline, type CommandApdu } from "../../core/index.js";
import { waitPresence as waitReaderPresence, type Reader } from "../../simulator/reader/index.js";

/** The battery's card I/O: PIV commands it builds, chained writes, and waits on the reader's presence events. */

export type Transmit = (cls: string, cmd: CommandApdu | Uint8Array) => Promise<{ data: Uint8Array; sw: number; raw: Uint8Array }>;

const SHORT_CHUNK = 255;

export function getData(tag: Uint8Array, le: number): CommandApdu {
  return { cla: 0, ins: 0xcb, p1: 0x3f, p2: 0xff, data: encodeTlv(0x5c, tag), le };
}

/** PUT DATA in 255-byte links (CLA bit 0x10 on all but the last); returns the number of links. */
export async function putChained(transmit: Transmit, body: Uint8Array): Promise<number> {
  let links = 0;
  for (let off = 0; off < body.length; off += SHORT_CHUNK) {
    const last = off + SHORT_CHUNK >= body.length;
    const r = await transmit("chained", {
      cla: last ? 0 : CLA_CHAINING,
      ins: 0xdb,
      p1: 0x3f,
      p2: 0xff,
      data: body.subarray(off, Math.min(body.length, off + SHORT_CHUNK)),
    });
    links++;
    if (r.sw !== 0x9000) throw withEvidence(new Error(`PUT DATA link ${links} answered SW ${swHex(r.sw)}`), { link: links, sw: swHex(r.sw) });
  }
  return links;
}

/** A recognisable, position-dependent pattern: a shifted or truncated read cannot pass. */
export function testContent(size: number): Uint8Array {
  // the container's own TLV header takes 4 bytes (53 82 LL LL)
  const n = size - 4;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + (i >> 8)) & 0xff;
  return out;
}

export function waitPresence(reader: Reader, want: boolean, timeoutMs: number): Promise<void> {
  return waitReaderPresence(reader, want, timeoutMs, () => new Error(`${want ? "insertion" : "removal"} not reported within ${timeoutMs} ms`));
}

/** An actuator (a person, a robot, vpcd) that never finishes fails the criterion instead of stalling the run. */
export function within<T>(p: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  return withDeadline(p, timeoutMs, () => new Error(`${what} did not complete within ${timeoutMs} ms`));
}

export function withEvidence(err: Error, evidence: Record<string, unknown>): Error {
  return Object.assign(err, { evidence });
}
