import test from "ava";
import fc from "fast-check";
import { FormatError } from "./errors.js";
import { concatBytes, fromHex, toHex } from "./hex.js";
import { decodeTlvs, encodeLength, encodeTag, encodeTlv, findTlv, readTlv } from "./tlv.js";

/** Tags as BER encodes them: 1 byte (low 5 bits not all set), or 1F-form with 1..3 subsequent bytes. */
const tagArb = fc.oneof(
  fc.integer({ min: 0, max: 255 }).filter((b) => (b & 0x1f) !== 0x1f),
  fc.tuple(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 0x7f })).map(([c, b]) => ((c << 5) | 0x1f) * 256 + b),
  fc
    .tuple(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0x80, max: 0xff }), fc.integer({ min: 0, max: 0x7f }))
    .map(([c, b1, b2]) => ((c << 5) | 0x1f) * 65536 + b1 * 256 + b2),
  fc
    .tuple(
      fc.integer({ min: 0, max: 7 }),
      fc.integer({ min: 0x80, max: 0xff }),
      fc.integer({ min: 0x80, max: 0xff }),
      fc.integer({ min: 0, max: 0x7f }),
    )
    .map(([c, b1, b2, b3]) => ((c << 5) | 0x1f) * 16777216 + b1 * 65536 + b2 * 256 + b3),
);

const valueArb = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 300 }) },
  { weight: 1, arbitrary: fc.integer({ min: 60000, max: 70000 }).map((n) => new Uint8Array(n).fill(0xa5)) },
);

test("TLV round trip: any tag of 1..4 bytes, lengths across the 1/2/3-byte forms", (t) => {
  fc.assert(
    fc.property(tagArb, valueArb, (tag, value) => {
      const enc = encodeTlv(tag, value);
      const back = readTlv(enc);
      return back.tag === tag && back.end === enc.length && back.start === 0 && toHex(back.value) === toHex(value);
    }),
    { numRuns: 1000 },
  );
  t.is(toHex(encodeTlv(0x5fc102, fromHex("aabb"))), "5fc10202aabb");
});

test("TLV sequences decode back to their parts, in order", (t) => {
  fc.assert(
    fc.property(fc.array(fc.tuple(tagArb, fc.uint8Array({ maxLength: 200 })), { maxLength: 12 }), (items) => {
      const buf = concatBytes(...items.map(([tag, v]) => encodeTlv(tag, v)));
      const back = decodeTlvs(buf);
      return (
        back.length === items.length &&
        back.every((tlv, i) => tlv.tag === items[i][0] && toHex(tlv.value) === toHex(items[i][1]))
      );
    }),
  );
  const seq = decodeTlvs(fromHex("4f0100" + "5f2f024000"));
  t.is(toHex(findTlv(seq, 0x5f2f)!.value), "4000");
  t.is(findTlv(seq, 0x99), undefined);
});

test("TLV encodeTlv of parts equals encodeTlv of their concatenation", (t) => {
  fc.assert(
    fc.property(tagArb, fc.array(fc.uint8Array({ maxLength: 100 }), { maxLength: 5 }), (tag, parts) => {
      return toHex(encodeTlv(tag, parts)) === toHex(encodeTlv(tag, concatBytes(...parts)));
    }),
  );
  t.is(toHex(encodeLength(0x7f)), "7f");
  t.is(toHex(encodeLength(0x80)), "8180");
  t.is(toHex(encodeLength(0x100)), "820100");
  t.is(toHex(encodeLength(0x10000)), "83010000");
  t.is(toHex(encodeTag(0x7f49)), "7f49");
});

test("TLV fuzz: random bytes decode or fail with FormatError, and never read out of bounds", (t) => {
  let decoded = 0;
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (buf) => {
      try {
        const tlvs = decodeTlvs(buf);
        decoded++;
        let p = 0;
        for (const tlv of tlvs) {
          if (tlv.start !== p || tlv.end > buf.length || tlv.value.length > tlv.end - tlv.start) return false;
          p = tlv.end;
        }
        return p === buf.length;
      } catch (err) {
        return err instanceof FormatError;
      }
    }),
    { numRuns: 20000 },
  );
  t.true(decoded > 0, "some random inputs are valid TLV");
});

test("TLV rejects what PIV must not accept", (t) => {
  const bad = ["", "53", "5381", "5380", "538500000000", "5f", "5fc1", "5fc1810101", "5302aa", "5382ffff00"];
  for (const hex of bad) {
    t.throws(() => readTlv(fromHex(hex)), { instanceOf: FormatError }, hex);
  }
  // a value must not run past an explicit limit even when the buffer goes on
  t.throws(() => readTlv(fromHex("5302aabb"), 0, 3), { instanceOf: FormatError });
  t.throws(() => encodeTag(-1), { instanceOf: RangeError });
  t.throws(() => encodeLength(1.5), { instanceOf: RangeError });
});
