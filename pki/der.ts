import { DecodeError } from "./errors.js";

/**
 * A zero-copy DER reader over a Uint8Array. Values are offsets into the caller's
 * buffer; nothing is copied until a caller asks for a string or a subarray.
 * Every malformation becomes a DecodeError; every loop advances, so it cannot hang.
 */

export const Tag = {
  Boolean: 0x01,
  Integer: 0x02,
  BitString: 0x03,
  OctetString: 0x04,
  Null: 0x05,
  Oid: 0x06,
  Enumerated: 0x0a,
  Utf8String: 0x0c,
  PrintableString: 0x13,
  TeletexString: 0x14,
  Ia5String: 0x16,
  UtcTime: 0x17,
  GeneralizedTime: 0x18,
  VisibleString: 0x1a,
  UniversalString: 0x1c,
  BmpString: 0x1e,
  Sequence: 0x30,
  Set: 0x31,
} as const;

/** Context-specific tags: [n] constructed and [n] primitive. */
export const ctx = (n: number): number => 0xa0 | n;
export const ctxPrim = (n: number): number => 0x80 | n;

/** One element: its tag, where it starts, where its value starts and where it ends. */
export interface Tlv {
  tag: number;
  start: number;
  valueStart: number;
  end: number;
}

const MAX_LENGTH_BYTES = 4;

/** Reads the element that starts at `pos` and must end by `limit`. */
export function readTlv(buf: Uint8Array, pos: number, limit: number): Tlv {
  const start = pos;
  if (pos >= limit) throw new DecodeError("unexpected end of data", pos);
  let tag = buf[pos++];
  if ((tag & 0x1f) === 0x1f) {
    // High tag number form: rare in X.509; folded into one number above 0xff.
    let n = 0;
    for (let i = 0; ; i++) {
      if (pos >= limit || i >= 3) throw new DecodeError("bad tag", start);
      const b = buf[pos++];
      if (i === 0 && b === 0x80) throw new DecodeError("non-minimal tag number (leading 0x80)", start);
      n = (n << 7) | (b & 0x7f);
      if ((b & 0x80) === 0) break;
    }
    // X.690 8.1.2.2: tag numbers up to 30 have the one-octet form only.
    if (n < 31) throw new DecodeError("non-minimal tag number (high-tag form for a number below 31)", start);
    tag = ((tag & 0xe0) << 16) | n | 0x1000000;
  }
  if (pos >= limit) throw new DecodeError("missing length", start);
  let len = buf[pos++];
  if (len & 0x80) {
    const count = len & 0x7f;
    if (count === 0) throw new DecodeError("indefinite length is not DER", start);
    if (count > MAX_LENGTH_BYTES) throw new DecodeError("length too long", start);
    if (pos + count > limit) throw new DecodeError("truncated length", start);
    // X.690 10.1: the definite form with the fewest octets (no long form below 128, no leading zero octet).
    if (buf[pos] === 0) throw new DecodeError("non-minimal length (leading zero octet)", start);
    len = 0;
    for (let i = 0; i < count; i++) len = len * 256 + buf[pos++];
    if (len < 0x80) throw new DecodeError("non-minimal length (long form below 128)", start);
  }
  const end = pos + len;
  if (end > limit) throw new DecodeError("element runs past its container", start);
  return { tag, start, valueStart: pos, end };
}

/** A cursor over the elements inside one container. */
export class DerReader {
  constructor(
    readonly buf: Uint8Array,
    public pos = 0,
    readonly end = buf.length,
  ) {}

  static of(buf: Uint8Array, tlv: Tlv): DerReader {
    return new DerReader(buf, tlv.valueStart, tlv.end);
  }

  atEnd(): boolean {
    return this.pos >= this.end;
  }

  /** The next tag, or -1 at the end. Only the first byte: enough to choose a branch. */
  peek(): number {
    return this.pos < this.end ? this.buf[this.pos] : -1;
  }

  read(): Tlv {
    const t = readTlv(this.buf, this.pos, this.end);
    this.pos = t.end;
    return t;
  }

  expect(tag: number, what: string): Tlv {
    const t = this.read();
    if (t.tag !== tag) throw new DecodeError(`${what}: expected tag 0x${tag.toString(16)}, got 0x${t.tag.toString(16)}`, t.start);
    return t;
  }

  optional(tag: number): Tlv | undefined {
    return this.peek() === tag ? this.read() : undefined;
  }

  /** Enters a constructed element of the given tag. */
  enter(tag: number, what: string): DerReader {
    return DerReader.of(this.buf, this.expect(tag, what));
  }

  done(what: string): void {
    if (this.pos !== this.end) throw new DecodeError(`${what}: trailing data`, this.pos);
  }
}

/** Parses a whole buffer as exactly one element. */
export function readOne(buf: Uint8Array, tag: number, what: string): Tlv {
  const t = readTlv(buf, 0, buf.length);
  if (t.tag !== tag) throw new DecodeError(`${what}: expected tag 0x${tag.toString(16)}`, 0);
  if (t.end !== buf.length) throw new DecodeError(`${what}: trailing data`, t.end);
  return t;
}

export const valueOf = (buf: Uint8Array, t: Tlv): Uint8Array => buf.subarray(t.valueStart, t.end);

/** Precomputed "2.5.29.n" (extensions) and "2.5.4.n" (name attributes): the OIDs every certificate repeats. */
const OID_2_5_29: string[] = Array.from({ length: 128 }, (_, i) => `2.5.29.${i}`);
const OID_2_5_4: string[] = Array.from({ length: 128 }, (_, i) => `2.5.4.${i}`);

export function decodeOid(buf: Uint8Array, t: Tlv): string {
  if (t.tag !== Tag.Oid) throw new DecodeError("expected OBJECT IDENTIFIER", t.start);
  const s = t.valueStart;
  const e = t.end;
  if (e === s) throw new DecodeError("empty OBJECT IDENTIFIER", t.start);
  if (e - s === 3 && buf[s] === 0x55 && buf[s + 2] < 0x80) {
    if (buf[s + 1] === 0x1d) return OID_2_5_29[buf[s + 2]];
    if (buf[s + 1] === 0x04) return OID_2_5_4[buf[s + 2]];
  }
  let out = "";
  let v = 0;
  let first = true;
  for (let i = s; i < e; i++) {
    const b = buf[i];
    if (v === 0 && b === 0x80) throw new DecodeError("non-minimal OID arc", i);
    v = v * 128 + (b & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER / 256) throw new DecodeError("OID arc too large", i);
    if ((b & 0x80) === 0) {
      if (first) {
        out = v < 40 ? `0.${v}` : v < 80 ? `1.${v - 40}` : `2.${v - 80}`;
        first = false;
      } else out += `.${v}`;
      v = 0;
    } else if (i === e - 1) throw new DecodeError("truncated OID", i);
  }
  return out;
}

/** BOOLEAN, DER (X.690 11.1): TRUE is 0xFF, FALSE 0x00, nothing else. */
export function decodeBoolean(buf: Uint8Array, t: Tlv): boolean {
  if (t.tag !== Tag.Boolean || t.end - t.valueStart !== 1) throw new DecodeError("bad BOOLEAN", t.start);
  const b = buf[t.valueStart];
  if (b !== 0 && b !== 0xff) throw new DecodeError("BOOLEAN is not 0x00 or 0xFF (not DER)", t.start);
  return b !== 0;
}

/** X.690 8.3.2: an INTEGER's (or ENUMERATED's) first nine bits are never all 0 or all 1. */
export function checkMinimalInteger(buf: Uint8Array, t: Tlv): void {
  const s = t.valueStart;
  if (t.end - s < 2) return;
  const a = buf[s];
  const b = buf[s + 1] & 0x80;
  if ((a === 0 && b === 0) || (a === 0xff && b !== 0)) throw new DecodeError("INTEGER with a redundant leading octet (not DER)", t.start);
}

/** A small non-negative INTEGER or ENUMERATED (lengths, versions, reason codes). */
export function decodeSmallInt(buf: Uint8Array, t: Tlv): number {
  const n = t.end - t.valueStart;
  if (n < 1 || n > 6) throw new DecodeError("INTEGER out of range", t.start);
  if (buf[t.valueStart] & 0x80) throw new DecodeError("negative INTEGER where a count is expected", t.start);
  checkMinimalInteger(buf, t);
  let v = 0;
  for (let i = t.valueStart; i < t.end; i++) v = v * 256 + buf[i];
  return v;
}

/** An INTEGER's content octets as lowercase hex: exact identity for serial numbers. */
export function integerHex(buf: Uint8Array, t: Tlv): string {
  if (t.tag !== Tag.Integer || t.end === t.valueStart) throw new DecodeError("bad INTEGER", t.start);
  checkMinimalInteger(buf, t);
  return hexOf(buf, t.valueStart, t.end);
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
export function hexOf(buf: Uint8Array, s: number, e: number): string {
  let out = "";
  for (let i = s; i < e; i++) out += HEX[buf[i]];
  return out;
}

/** BIT STRING: the count of unused bits and the content bytes after it; DER (X.690 11.2.1): the unused bits are zero. */
export function decodeBitString(buf: Uint8Array, t: Tlv): { unused: number; bytes: Uint8Array } {
  if (t.tag !== Tag.BitString || t.end === t.valueStart) throw new DecodeError("bad BIT STRING", t.start);
  const unused = buf[t.valueStart];
  if (unused > 7 || (unused > 0 && t.end - t.valueStart === 1)) throw new DecodeError("bad BIT STRING padding", t.start);
  if (unused > 0 && (buf[t.end - 1] & ((1 << unused) - 1)) !== 0) throw new DecodeError("BIT STRING unused bits are not zero (not DER)", t.start);
  return { unused, bytes: buf.subarray(t.valueStart + 1, t.end) };
}

/**
 * Named bits (KeyUsage, ReasonFlags) as a number, bit 0 = the first named bit.
 * DER (X.690 11.2.2): trailing zero bits are removed, so the last octet's last used bit is 1.
 */
export function decodeNamedBits(buf: Uint8Array, t: Tlv): number {
  const { unused, bytes } = decodeBitString(buf, t);
  if (bytes.length > 0 && ((bytes[bytes.length - 1] >> unused) & 1) === 0) {
    throw new DecodeError("named-bit BIT STRING with trailing zero bits (not DER)", t.start);
  }
  let v = 0;
  const n = Math.min(bytes.length, 4);
  for (let i = 0; i < n; i++) {
    for (let b = 0; b < 8; b++) {
      const bitIndex = i * 8 + b;
      if (i === bytes.length - 1 && b >= 8 - unused) break;
      if (bytes[i] & (0x80 >> b)) v |= 1 << bitIndex;
    }
  }
  return v >>> 0;
}

/**
 * Walks one element and everything inside it, refusing what DER forbids there
 * and the typed readers would not see on their own (names, keys, the values of
 * extensions nobody decodes): a constructed form of a primitive universal type
 * or a primitive SEQUENCE/SET, an end-of-contents marker, a BOOLEAN other than
 * 0x00/0xFF, a non-minimal or empty INTEGER/ENUMERATED, non-zero unused bits, a
 * NULL with content, a non-minimal OID arc. Lengths and tag forms are readTlv's.
 * IMPLICIT context-specific values are opaque here (their readers check them).
 * Runs on every new certificate: one readTlv per element, no strings built.
 */
export function checkDer(buf: Uint8Array, t: Tlv, depth = 0): void {
  if (depth > 24) throw new DecodeError("nesting too deep", t.start);
  const tag = t.tag;
  const constructed = tag > 0xff ? ((tag >> 16) & 0x20) !== 0 : (tag & 0x20) !== 0;
  if (tag < 0x40) {
    const num = tag & 0x1f;
    if (constructed) {
      // SEQUENCE, SET, EXTERNAL, EMBEDDED PDV, CHARACTER STRING are the constructed universal types.
      if (num !== 16 && num !== 17 && num !== 8 && num !== 11 && num !== 29) throw new DecodeError(`constructed encoding of universal type ${num} (not DER)`, t.start);
    } else if (num <= 17) checkPrimitive(buf, t, num);
  }
  if (!constructed) return;
  for (let pos = t.valueStart; pos < t.end; ) {
    const c = readTlv(buf, pos, t.end);
    checkDer(buf, c, depth + 1);
    pos = c.end;
  }
}

function checkPrimitive(buf: Uint8Array, t: Tlv, num: number): void {
  switch (num) {
    case 0:
      throw new DecodeError("end-of-contents octets (indefinite length is not DER)", t.start);
    case 1:
      decodeBoolean(buf, t);
      return;
    case 2:
    case 10:
      if (t.end === t.valueStart) throw new DecodeError("empty INTEGER", t.start);
      checkMinimalInteger(buf, t);
      return;
    case 3:
      decodeBitString(buf, t);
      return;
    case 5:
      if (t.end !== t.valueStart) throw new DecodeError("NULL with content", t.start);
      return;
    case 6: {
      // what decodeOid refuses, without building the dotted string
      if (t.end === t.valueStart || buf[t.end - 1] & 0x80) throw new DecodeError("bad OBJECT IDENTIFIER", t.start);
      let atArcStart = true;
      for (let i = t.valueStart; i < t.end; i++) {
        if (atArcStart && buf[i] === 0x80) throw new DecodeError("non-minimal OID arc", i);
        atArcStart = (buf[i] & 0x80) === 0;
      }
      return;
    }
    case 16:
    case 17:
      throw new DecodeError("SEQUENCE or SET in primitive form", t.start);
  }
}

const digitsAt = (buf: Uint8Array, p: number, n: number, at: number): number => {
  let v = 0;
  for (let i = 0; i < n; i++) {
    const c = buf[p + i] - 0x30;
    if (c < 0 || c > 9) throw new DecodeError("bad digit in time", at);
    v = v * 10 + c;
  }
  return v;
};

/**
 * UTCTime or GeneralizedTime (RFC 5280 4.1.2.5 profile: Zulu, with seconds) as ms since the epoch.
 * DER (X.690 11.7): fractional seconds without trailing zeros. `wholeSeconds` (certificates and
 * CRLs, RFC 5280 4.1.2.5.2) refuses fractions altogether.
 */
export function decodeTime(buf: Uint8Array, t: Tlv, wholeSeconds = false): number {
  const s = t.valueStart;
  const len = t.end - s;
  let year: number;
  let p: number;
  if (t.tag === Tag.UtcTime) {
    if (len !== 13 || buf[t.end - 1] !== 0x5a) throw new DecodeError("bad UTCTime", t.start);
    const yy = digitsAt(buf, s, 2, t.start);
    year = yy < 50 ? 2000 + yy : 1900 + yy;
    p = s + 2;
  } else if (t.tag === Tag.GeneralizedTime) {
    if (len < 15 || buf[t.end - 1] !== 0x5a) throw new DecodeError("bad GeneralizedTime", t.start);
    year = digitsAt(buf, s, 4, t.start);
    p = s + 4;
  } else throw new DecodeError("expected a time", t.start);
  const month = digitsAt(buf, p, 2, t.start);
  const day = digitsAt(buf, p + 2, 2, t.start);
  const hour = digitsAt(buf, p + 4, 2, t.start);
  const min = digitsAt(buf, p + 6, 2, t.start);
  const sec = digitsAt(buf, p + 8, 2, t.start);
  let ms = 0;
  const after = p + 10;
  if (after !== t.end - 1) {
    // GeneralizedTime fractional seconds: ".d+"
    if (t.tag !== Tag.GeneralizedTime || buf[after] !== 0x2e || t.end - 1 - (after + 1) < 1) throw new DecodeError("bad time", t.start);
    if (wholeSeconds) throw new DecodeError("GeneralizedTime with fractional seconds (RFC 5280 4.1.2.5.2)", t.start);
    if (buf[t.end - 2] === 0x30) throw new DecodeError("GeneralizedTime fraction with a trailing zero (not DER)", t.start);
    const frac = t.end - 1 - (after + 1);
    ms = Math.floor(digitsAt(buf, after + 1, Math.min(frac, 3), t.start) * 10 ** (3 - Math.min(frac, 3)));
    digitsAt(buf, after + 1, frac, t.start);
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) throw new DecodeError("time out of range", t.start);
  return Date.UTC(year, month - 1, day, hour, min, sec, ms);
}

/** The decoded text of a string type, for name comparison and display. */
export function decodeString(buf: Uint8Array, t: Tlv): string {
  const v = buf.subarray(t.valueStart, t.end);
  switch (t.tag) {
    case Tag.Utf8String:
      try {
        return utf8.decode(v);
      } catch {
        // Lenient decoding would map every invalid sequence to U+FFFD: two different values would compare equal.
        throw new DecodeError("UTF8String is not valid UTF-8", t.start);
      }
    case Tag.BmpString: {
      if (v.length % 2) throw new DecodeError("odd BMPString", t.start);
      let s = "";
      for (let i = 0; i < v.length; i += 2) s += String.fromCharCode((v[i] << 8) | v[i + 1]);
      return s;
    }
    case Tag.UniversalString: {
      if (v.length % 4) throw new DecodeError("bad UniversalString", t.start);
      let s = "";
      for (let i = 0; i < v.length; i += 4) {
        const cp = ((v[i] << 24) | (v[i + 1] << 16) | (v[i + 2] << 8) | v[i + 3]) >>> 0;
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) throw new DecodeError("bad UniversalString (not a Unicode scalar value)", t.start);
        s += String.fromCodePoint(cp);
      }
      return s;
    }
    default:
      // PrintableString, IA5String, VisibleString, TeletexString (treated as Latin-1)
      return latin1Of(v);
  }
}

/** fatal: invalid UTF-8 throws; ignoreBOM: a leading U+FEFF is part of the value, not stripped. */
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export function latin1Of(v: Uint8Array): string {
  let s = "";
  for (let i = 0; i < v.length; i += 4096) s += String.fromCharCode.apply(null, v.subarray(i, i + 4096) as unknown as number[]);
  return s;
}
