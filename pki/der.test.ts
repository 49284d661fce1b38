import test from "ava";
import { DerReader, Tag, decodeOid, decodeString, decodeTime, hexOf, integerHex, readOne, readTlv } from "./der.js";
import { DecodeError } from "./errors.js";

const bytes = (...b: number[]) => new Uint8Array(b);
const ascii = (tag: number, s: string) => new Uint8Array([tag, s.length, ...Buffer.from(s, "latin1")]);
const time = (tag: number, s: string) => {
  const b = ascii(tag, s);
  return decodeTime(b, readTlv(b, 0, b.length));
};

test("reads short and long lengths without copying", (t) => {
  const long = new Uint8Array(3 + 200);
  long.set([0x04, 0x81, 200]);
  const tlv = readOne(long, Tag.OctetString, "x");
  t.deepEqual([tlv.valueStart, tlv.end], [3, 203]);
  const r = new DerReader(bytes(0x30, 0x03, 0x02, 0x01, 0x05));
  const inner = r.enter(Tag.Sequence, "seq");
  t.is(inner.buf, r.buf, "the inner reader is a view of the same buffer");
  t.is(integerHex(inner.buf, inner.read()), "05");
});

test("refuses indefinite lengths, overruns, trailing data and truncation", (t) => {
  for (const b of [bytes(0x30, 0x80, 0, 0), bytes(0x30, 0x05, 1), bytes(0x30, 0x00, 0x00), bytes(0x30), bytes(0x30, 0x85, 1, 1, 1, 1, 1), bytes()]) {
    t.throws(() => readOne(b, Tag.Sequence, "x"), { instanceOf: DecodeError }, hexOf(b, 0, b.length));
  }
});

test("decodes OIDs, including large arcs and the 2.5.29 fast path", (t) => {
  const oid = (...b: number[]) => decodeOid(bytes(0x06, b.length, ...b), { tag: 6, start: 0, valueStart: 2, end: 2 + b.length });
  t.is(oid(0x55, 0x1d, 0x13), "2.5.29.19");
  t.is(oid(0x55, 0x04, 0x03), "2.5.4.3");
  t.is(oid(0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b), "1.2.840.113549.1.1.11");
  t.is(oid(0x88, 0x37, 0x01), "2.999.1");
  t.throws(() => oid(0x2a, 0x86), { instanceOf: DecodeError });
  t.throws(() => oid(0x2a, 0x80, 0x01), { instanceOf: DecodeError });
});

test("UTCTime pivots at 1950; GeneralizedTime keeps its century and fractions", (t) => {
  t.is(time(Tag.UtcTime, "491231235959Z"), Date.UTC(2049, 11, 31, 23, 59, 59));
  t.is(time(Tag.UtcTime, "500101000000Z"), Date.UTC(1950, 0, 1));
  t.is(time(Tag.GeneralizedTime, "20500101000000Z"), Date.UTC(2050, 0, 1));
  t.is(time(Tag.GeneralizedTime, "20500101000000.5Z"), Date.UTC(2050, 0, 1, 0, 0, 0, 500));
  for (const [tag, s] of [[Tag.UtcTime, "4912312359Z"], [Tag.UtcTime, "491331235959Z"], [Tag.GeneralizedTime, "2050010100000aZ"], [Tag.UtcTime, "491231235959+"]] as const) {
    t.throws(() => time(tag, s), { instanceOf: DecodeError }, s);
  }
});

test("decodeString: UTF8String must be valid UTF-8 (a leading BOM is kept); UniversalString must hold Unicode scalar values", (t) => {
  const str = (tag: number, ...b: number[]) => {
    const der = bytes(tag, b.length, ...b);
    return decodeString(der, readTlv(der, 0, der.length));
  };
  t.is(str(Tag.Utf8String, 0xe2, 0x82, 0xac), "\u20ac");
  t.is(str(Tag.Utf8String, 0xef, 0xbb, 0xbf, 0x61), "\ufeffa");
  // A lone continuation, a truncated sequence, an overlong NUL, a surrogate, a code point above U+10FFFF, 0xFF.
  for (const b of [[0x80], [0xe2, 0x82], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xff]]) {
    t.throws(() => str(Tag.Utf8String, ...b), { instanceOf: DecodeError, message: /not valid UTF-8/ }, hexOf(Uint8Array.from(b), 0, b.length));
  }
  t.is(str(Tag.UniversalString, 0, 1, 0xf6, 0x00), "\u{1f600}");
  t.throws(() => str(Tag.UniversalString, 0, 0, 0xd8, 0x00), { instanceOf: DecodeError });
  t.throws(() => str(Tag.UniversalString, 0, 0x11, 0, 0), { instanceOf: DecodeError });
});
