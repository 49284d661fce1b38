import test from "ava";
import fc from "fast-check";
import { sameSerial } from "./world.js";

test("a serial read from the certificate (leading zero octets) and the adapter's number notation are one serial; others differ", (t) => {
  t.true(sameSerial("0A1B", "a1b"));
  t.true(sameSerial("00ff", "FF"));
  t.true(sameSerial("0", "00"));
  t.false(sameSerial("0A1B", "a1c"));
  t.false(sameSerial("a1b0", "a1b"));
  t.false(sameSerial(undefined, "a1b"));
  t.true(sameSerial(undefined, undefined));
});

test("property: a serial equals itself with any leading zeros and case, never a different number", (t) => {
  fc.assert(
    fc.property(fc.bigInt({ min: 1n, max: (1n << 128n) - 1n }), fc.bigInt({ min: 1n, max: (1n << 128n) - 1n }), fc.nat(4), (a, b, zeros) => {
      const hex = a.toString(16);
      t.true(sameSerial("0".repeat(zeros) + hex.toUpperCase(), hex));
      t.is(sameSerial(hex, b.toString(16)), a === b);
    }),
    { numRuns: 300 },
  );
});
