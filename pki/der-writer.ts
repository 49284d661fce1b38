/**
 * A generic DER writer that appends into one growing buffer.
 *
 * Constructed values are opened with `begin(tag)` and closed with `end()`: the
 * writer reserves one length octet and, when the content turns out longer than
 * 127 octets, moves the content right once to make room for the long form.
 * So a value of any size (a CRL with a million entries) costs one append per
 * element plus one memmove per nesting level, never a tree of small buffers.
 */
export class DerWriter {
  private buf: Buffer;
  private pos = 0;
  /** Content start offsets of the constructed values still open. */
  private readonly open: number[] = [];
  /** Tiny memo for the time encoders: bulk revocations share timestamps. */
  private lastTimeMs = Number.NaN;
  private lastTime: Buffer = Buffer.alloc(0);

  constructor(initialSize = 1024) {
    this.buf = Buffer.allocUnsafe(Math.max(16, initialSize));
  }

  get length(): number {
    return this.pos;
  }

  /** The encoding so far (a view; copy it if the writer is reused). */
  finish(): Buffer {
    if (this.open.length > 0) throw new Error(`DER writer: ${this.open.length} constructed value(s) still open`);
    return this.buf.subarray(0, this.pos);
  }

  /** The bytes written between two offsets (e.g. a tbs part to sign). */
  slice(start: number, end: number): Buffer {
    return this.buf.subarray(start, end);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  private tag(tag: number): void {
    // Tags above one octet (rare in X.509) are given as their full encoding, e.g. 0x9f20.
    if (tag > 0xff) {
      const bytes: number[] = [];
      for (let t = tag; t > 0; t = Math.floor(t / 256)) bytes.unshift(t & 0xff);
      this.ensure(bytes.length);
      for (const b of bytes) this.buf[this.pos++] = b;
    } else {
      this.ensure(1);
      this.buf[this.pos++] = tag;
    }
  }

  /** Opens a constructed value (SEQUENCE 0x30, SET 0x31, [n] 0xa0+n, ...). */
  begin(tag: number): this {
    this.tag(tag);
    this.ensure(1);
    this.buf[this.pos++] = 0; // placeholder length octet
    this.open.push(this.pos);
    return this;
  }

  /** Closes the innermost open value and fixes its length. */
  end(): this {
    const start = this.open.pop();
    if (start === undefined) throw new Error("DER writer: end() without begin()");
    const len = this.pos - start;
    if (len < 0x80) {
      this.buf[start - 1] = len;
      return this;
    }
    const extra = lengthOfLength(len) - 1;
    this.ensure(extra);
    this.buf.copyWithin(start + extra, start, this.pos);
    writeLength(this.buf, start - 1, len);
    this.pos += extra;
    return this;
  }

  /** Appends bytes that are already DER (a Name, an SPKI, a certificate). */
  raw(bytes: Uint8Array): this {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
    return this;
  }

  /** A primitive value: tag, length, content. */
  primitive(tag: number, content: Uint8Array): this {
    this.tag(tag);
    this.header(content.length);
    return this.raw(content);
  }

  private header(len: number): void {
    const n = lengthOfLength(len);
    this.ensure(n);
    writeLength(this.buf, this.pos, len);
    this.pos += n;
  }

  /** INTEGER from a non-negative number, bigint or unsigned big-endian bytes (a sign octet is added when needed). */
  integer(value: number | bigint | Uint8Array): this {
    const bytes = value instanceof Uint8Array ? value : unsignedBytes(BigInt(value));
    let i = 0;
    while (i < bytes.length - 1 && bytes[i] === 0 && (bytes[i + 1] & 0x80) === 0) i++; // minimal form
    const body = bytes.subarray(i);
    const pad = body.length === 0 || (body[0] & 0x80) !== 0 ? 1 : 0;
    this.ensure(2 + 4 + pad + body.length);
    this.buf[this.pos++] = 0x02;
    this.header(body.length + pad);
    if (pad) this.buf[this.pos++] = 0;
    this.buf.set(body, this.pos);
    this.pos += body.length;
    return this;
  }

  enumerated(value: number): this {
    const b = unsignedBytes(BigInt(value));
    return this.primitive(0x0a, (b[0] & 0x80) !== 0 ? Uint8Array.from([0, ...b]) : b);
  }

  boolean(value: boolean): this {
    return this.primitive(0x01, Uint8Array.of(value ? 0xff : 0x00));
  }

  null(): this {
    return this.primitive(0x05, new Uint8Array(0));
  }

  oid(dotted: string): this {
    return this.primitive(0x06, encodeOidContent(dotted));
  }

  octetString(content: Uint8Array): this {
    return this.primitive(0x04, content);
  }

  /** BIT STRING with no unused bits (keys, signatures). */
  bitString(content: Uint8Array): this {
    this.tag(0x03);
    this.header(content.length + 1);
    this.ensure(1);
    this.buf[this.pos++] = 0;
    return this.raw(content);
  }

  /** A named-bit BIT STRING (KeyUsage): bit 0 is the most significant bit of the first octet; trailing zero bits dropped. */
  namedBits(bits: number[]): this {
    const max = Math.max(-1, ...bits);
    if (max < 0) return this.primitive(0x03, Uint8Array.of(0));
    const bytes = new Uint8Array(Math.floor(max / 8) + 1);
    for (const b of bits) bytes[b >> 3] |= 0x80 >> (b & 7);
    const unused = 7 - (max & 7);
    const content = new Uint8Array(bytes.length + 1);
    content[0] = unused;
    content.set(bytes, 1);
    return this.primitive(0x03, content);
  }

  utf8String(text: string): this {
    return this.primitive(0x0c, Buffer.from(text, "utf8"));
  }

  printableString(text: string): this {
    return this.primitive(0x13, Buffer.from(text, "latin1"));
  }

  ia5String(text: string): this {
    return this.primitive(0x16, Buffer.from(text, "latin1"));
  }

  /** RFC 5280 Time: UTCTime through 2049, GeneralizedTime from 2050. */
  time(ms: number): this {
    const year = new Date(ms).getUTCFullYear();
    return year >= 1950 && year < 2050 ? this.utcTime(ms) : this.generalizedTime(ms);
  }

  utcTime(ms: number): this {
    return this.raw(this.cachedTime(ms, false));
  }

  /** GeneralizedTime, whole seconds, Z (as RFC 5280 and RFC 6960 profiles require). */
  generalizedTime(ms: number): this {
    return this.raw(this.cachedTime(ms, true));
  }

  private cachedTime(ms: number, generalized: boolean): Buffer {
    const key = generalized ? -ms - 1 : ms; // distinct keys for the two forms
    if (key !== this.lastTimeMs) {
      this.lastTimeMs = key;
      this.lastTime = encodeTime(ms, generalized);
    }
    return this.lastTime;
  }
}

function lengthOfLength(len: number): number {
  if (len < 0x80) return 1;
  if (len < 0x100) return 2;
  if (len < 0x10000) return 3;
  if (len < 0x1000000) return 4;
  return 5;
}

function writeLength(buf: Buffer, at: number, len: number): void {
  const n = lengthOfLength(len);
  if (n === 1) {
    buf[at] = len;
    return;
  }
  buf[at] = 0x80 | (n - 1);
  for (let i = n - 1; i >= 1; i--) {
    buf[at + i] = len & 0xff;
    len = Math.floor(len / 256);
  }
}

function unsignedBytes(v: bigint): Uint8Array {
  if (v < 0n) throw new RangeError("DER writer: only non-negative integers are supported");
  if (v === 0n) return Uint8Array.of(0);
  let hex = v.toString(16);
  if (hex.length % 2) hex = "0" + hex;
  return Buffer.from(hex, "hex");
}

export function encodeOidContent(dotted: string): Uint8Array {
  const parts = dotted.split(".").map((p) => {
    if (!/^\d+$/.test(p)) throw new RangeError(`invalid OID "${dotted}"`);
    return BigInt(p);
  });
  if (parts.length < 2) throw new RangeError(`invalid OID "${dotted}"`);
  const out: number[] = [];
  const arcs = [parts[0] * 40n + parts[1], ...parts.slice(2)];
  for (const arc of arcs) {
    const group: number[] = [Number(arc & 0x7fn)];
    for (let a = arc >> 7n; a > 0n; a >>= 7n) group.unshift(Number(a & 0x7fn) | 0x80);
    out.push(...group);
  }
  return Uint8Array.from(out);
}

function encodeTime(ms: number, generalized: boolean): Buffer {
  const d = new Date(ms);
  if (!Number.isFinite(ms)) throw new RangeError("DER writer: invalid time");
  const p2 = (n: number) => (n < 10 ? "0" : "") + n;
  const year = d.getUTCFullYear();
  const body =
    (generalized ? String(year).padStart(4, "0") : p2(year % 100)) +
    p2(d.getUTCMonth() + 1) +
    p2(d.getUTCDate()) +
    p2(d.getUTCHours()) +
    p2(d.getUTCMinutes()) +
    p2(d.getUTCSeconds()) +
    "Z";
  return Buffer.concat([Buffer.from([generalized ? 0x18 : 0x17, body.length]), Buffer.from(body, "latin1")]);
}
