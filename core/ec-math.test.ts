import test from "ava";
import fc from "fast-check";
import { bigIntToBytes, bits2int, bytesToBigInt, EC_CURVES, ecdsaSignatureDer, modInverse } from "./ec-math.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

test("bigint <-> octets: padded to a size or minimal, and back (fast-check, 200 cases)", (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (b) => {
      const v = bytesToBigInt(b);
      t.is(hex(bigIntToBytes(v, b.length)), hex(b));
      const minimal = bigIntToBytes(v);
      t.is(bytesToBigInt(minimal), v);
      t.true(minimal.length === 1 || minimal[0] !== 0, "no leading zero octet");
      return true;
    }),
    { numRuns: 200 },
  );
  // a view into a larger buffer reads only its own octets
  t.is(bytesToBigInt(new Uint8Array([1, 2, 3, 4]).subarray(1, 3)), 0x0203n);
  t.is(bytesToBigInt(new Uint8Array(0)), 0n);
});

test("modInverse: a * a^-1 = 1 mod n for both curve orders (fast-check, 200 cases)", (t) => {
  fc.assert(
    fc.property(fc.bigInt({ min: 1n, max: EC_CURVES["P-384"].n - 1n }), fc.boolean(), (a, p256) => {
      const n = EC_CURVES[p256 ? "P-256" : "P-384"].n;
      const x = a % n || 1n;
      const inv = modInverse(x, n);
      t.true(inv > 0n && inv < n);
      return (x * inv) % n === 1n;
    }),
    { numRuns: 200 },
  );
});

test("bits2int keeps the leftmost qlen bits: whole octets, or a right shift when qlen is not a multiple of 8", (t) => {
  const b = Buffer.from("ff00ff00", "hex");
  t.is(bits2int(b, 32), 0xff00ff00n);
  t.is(bits2int(b, 16), 0xff00n);
  t.is(bits2int(b, 12), 0xff0n);
  t.is(bits2int(b, 64), 0xff00ff00n, "shorter than qlen: as it is");
});

test("ecdsaSignatureDer: minimal INTEGERs, a 00 octet before a set top bit", (t) => {
  t.is(hex(ecdsaSignatureDer(1n, 0x80n)), "3007020101020200" + "80");
  t.is(hex(ecdsaSignatureDer(0x7fn, 0x0100n)), "300702017f02020100");
});
