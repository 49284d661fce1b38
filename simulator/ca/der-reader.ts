/**
 * A small, strict DER reader for what the CA must parse itself: OCSP requests
 * (from anyone on the network, so every bound is checked), SPKIs and the
 * fields of its own certificates. Throws DerError on anything malformed.
 */
export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DerError";
  }
}

export interface Tlv {
  tag: number;
  /** Offset of the tag octet. */
  start: number;
  /** Offset of the first content octet. */
  contentStart: number;
  /** Offset just past the content. */
  end: number;
}

/** Reads the TLV at `offset`, within `limit` (exclusive). Single-octet tags only (all X.509/OCSP needs). */
export function readTlv(buf: Uint8Array, offset: number, limit = buf.length): Tlv {
  if (offset + 2 > limit) throw new DerError(`truncated TLV at ${offset}`);
  const tag = buf[offset];
  if ((tag & 0x1f) === 0x1f) throw new DerError(`multi-octet tag at ${offset}`);
  let p = offset + 1;
  let len = buf[p++];
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new DerError(`unsupported length form at ${offset}`);
    if (p + n > limit) throw new DerError(`truncated length at ${offset}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p++];
    if (len < 0x80 || (n > 1 && buf[p - n] === 0)) throw new DerError(`non-minimal length at ${offset}`);
  }
  const end = p + len;
  if (end > limit) throw new DerError(`length ${len} overruns its container at ${offset}`);
  return { tag, start: offset, contentStart: p, end };
}

/** The children of a constructed TLV. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let p = parent.contentStart; p < parent.end; ) {
    const t = readTlv(buf, p, parent.end);
    out.push(t);
    p = t.end;
  }
  return out;
}

/** Reads one top-level TLV that must span the whole input. */
export function readWhole(buf: Uint8Array, expectTag?: number): Tlv {
  const t = readTlv(buf, 0);
  if (t.end !== buf.length) throw new DerError("trailing bytes after the top-level value");
  if (expectTag !== undefined) expect(t, expectTag);
  return t;
}

export function expect(t: Tlv | undefined, tag: number, what = "value"): Tlv {
  if (!t) throw new DerError(`missing ${what}`);
  if (t.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, got 0x${t.tag.toString(16)}`);
  return t;
}

export function content(buf: Uint8Array, t: Tlv): Uint8Array {
  return buf.subarray(t.contentStart, t.end);
}

export function whole(buf: Uint8Array, t: Tlv): Uint8Array {
  return buf.subarray(t.start, t.end);
}

export function decodeOid(bytes: Uint8Array): string {
  if (bytes.length === 0) throw new DerError("empty OID");
  const arcs: bigint[] = [];
  let v = 0n;
  for (let i = 0; i < bytes.length; i++) {
    v = (v << 7n) | BigInt(bytes[i] & 0x7f);
    if ((bytes[i] & 0x80) === 0) {
      arcs.push(v);
      v = 0n;
    } else if (i === bytes.length - 1) throw new DerError("truncated OID");
  }
  const first = arcs[0] < 80n ? arcs[0] / 40n : 2n;
  return [first, arcs[0] - first * 40n, ...arcs.slice(1)].join(".");
}

/** INTEGER content as unsigned magnitude bytes (leading sign octet removed); throws on negative. */
export function unsignedInteger(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 0) throw new DerError("empty INTEGER");
  if (bytes[0] & 0x80) throw new DerError("negative INTEGER");
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  return bytes.subarray(i);
}
