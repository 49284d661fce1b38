import { FormatError } from "./errors.js";

/**
 * BER-TLV as used by ISO 7816 and PIV (SP 800-73-4): tags of 1..4 bytes kept as
 * their big-endian integer value (0x5FC102), definite lengths of up to 4 bytes.
 */
export interface Tlv {
  tag: number;
  value: Uint8Array;
  /** Offset of the tag within the decoded buffer, and the end of the value. */
  start: number;
  end: number;
}

export function encodeTag(tag: number): Uint8Array {
  if (!Number.isInteger(tag) || tag < 0 || tag > 0xffffffff) throw new RangeError(`bad tag ${tag}`);
  if (tag <= 0xff) return Uint8Array.of(tag);
  if (tag <= 0xffff) return Uint8Array.of(tag >> 8, tag & 0xff);
  if (tag <= 0xffffff) return Uint8Array.of(tag >> 16, (tag >> 8) & 0xff, tag & 0xff);
  return Uint8Array.of(tag >>> 24, (tag >> 16) & 0xff, (tag >> 8) & 0xff, tag & 0xff);
}

export function encodeLength(len: number): Uint8Array {
  if (!Number.isInteger(len) || len < 0) throw new RangeError(`bad length ${len}`);
  if (len < 0x80) return Uint8Array.of(len);
  if (len <= 0xff) return Uint8Array.of(0x81, len);
  if (len <= 0xffff) return Uint8Array.of(0x82, len >> 8, len & 0xff);
  if (len <= 0xffffff) return Uint8Array.of(0x83, len >> 16, (len >> 8) & 0xff, len & 0xff);
  return Uint8Array.of(0x84, len >>> 24, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff);
}

export function encodeTlv(tag: number, value: Uint8Array | Uint8Array[]): Uint8Array {
  const parts = Array.isArray(value) ? value : [value];
  let len = 0;
  for (const p of parts) len += p.length;
  const t = encodeTag(tag);
  const l = encodeLength(len);
  const out = new Uint8Array(t.length + l.length + len);
  out.set(t, 0);
  out.set(l, t.length);
  let off = t.length + l.length;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Reads one TLV at `offset`; throws FormatError("tlv") if it runs past `limit`. */
export function readTlv(buf: Uint8Array, offset = 0, limit = buf.length): Tlv {
  let p = offset;
  if (p >= limit) throw new FormatError("tlv", "expected a tag", p);
  const first = buf[p++];
  let tag = first;
  if ((first & 0x1f) === 0x1f) {
    // subsequent tag bytes: bit 8 set means another follows
    let count = 0;
    for (;;) {
      if (p >= limit) throw new FormatError("tlv", "truncated multi-byte tag", p);
      const b = buf[p++];
      tag = tag * 256 + b;
      if (++count > 3) throw new FormatError("tlv", "tag longer than 4 bytes", offset);
      if ((b & 0x80) === 0) break;
    }
  }
  if (p >= limit) throw new FormatError("tlv", "expected a length", p);
  let len = buf[p++];
  if (len === 0x80) throw new FormatError("tlv", "indefinite length not allowed", p - 1);
  if (len > 0x80) {
    const n = len & 0x7f;
    if (n > 4) throw new FormatError("tlv", `length of ${n} bytes not supported`, p - 1);
    if (p + n > limit) throw new FormatError("tlv", "truncated length", p);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p++];
  }
  if (p + len > limit) throw new FormatError("tlv", `value of ${len} bytes runs past the end`, p);
  return { tag, value: buf.subarray(p, p + len), start: offset, end: p + len };
}

/** Decodes a sequence of TLVs filling the buffer exactly. */
export function decodeTlvs(buf: Uint8Array): Tlv[] {
  const out: Tlv[] = [];
  let p = 0;
  while (p < buf.length) {
    const t = readTlv(buf, p);
    out.push(t);
    p = t.end;
  }
  return out;
}

export function findTlv(tlvs: Tlv[], tag: number): Tlv | undefined {
  for (const t of tlvs) if (t.tag === tag) return t;
  return undefined;
}
