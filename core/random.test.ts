import test from "ava";
import { CryptoRandom, SeededRandom } from "./random.js";
import { fromHex, toHex, concatBytes, bytesEqual } from "./hex.js";

test("SeededRandom: one seed, one stream; forks are independent and reproducible", (t) => {
  const a = new SeededRandom(42);
  const b = new SeededRandom(42);
  t.is(toHex(a.bytes(37)), toHex(b.bytes(37)));
  t.not(toHex(new SeededRandom(43).bytes(16)), toHex(new SeededRandom(42).bytes(16)));
  t.is(toHex(new SeededRandom("run-1").bytes(8)), toHex(new SeededRandom("run-1").bytes(8)));
  const f1 = new SeededRandom(1).fork("card");
  const f2 = new SeededRandom(1).fork("card");
  const g = new SeededRandom(1).fork("ca");
  t.is(toHex(f1.bytes(16)), toHex(f2.bytes(16)));
  t.not(toHex(new SeededRandom(1).fork("card").bytes(16)), toHex(g.bytes(16)));
  t.is(new CryptoRandom().bytes(33).length, 33);
});

test("hex helpers", (t) => {
  t.is(toHex(fromHex("DE:AD be ef")), "deadbeef");
  t.throws(() => fromHex("abc"), { instanceOf: RangeError });
  t.throws(() => fromHex("zz"), { instanceOf: RangeError });
  t.is(toHex(concatBytes(Uint8Array.of(1), new Uint8Array(0), Uint8Array.of(2, 3))), "010203");
  t.true(bytesEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2)));
  t.false(bytesEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 3)));
  t.false(bytesEqual(Uint8Array.of(1), Uint8Array.of(1, 2)));
  // a view into a larger buffer prints only its own bytes
  t.is(toHex(Uint8Array.of(9, 8, 7, 6).subarray(1, 3)), "0807");
});
