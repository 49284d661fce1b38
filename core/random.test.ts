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

test("CryptoRandom draws in chunks; a seeded Random is another class, its stream untouched by the pooling", (t) => {
  const seeded = new SeededRandom(7);
  const again = new SeededRandom(7);
  t.is(toHex(seeded.bytes(16)), toHex(again.bytes(16)), "one seed, one stream, as before");
  t.false(new SeededRandom(7) instanceof CryptoRandom);
  const r = new CryptoRandom();
  t.is(r.poolOctets, 4096);
  t.is(r.bytes(16).length, 16);
});

test("a pooled CryptoRandom draw: the length asked, never the same octets twice across refills, large draws straight from the platform", (t) => {
  const r = new CryptoRandom(256);
  const seen = new Set<string>();
  // 16-octet draws over 40 refills of the 256-octet pool, and odd sizes that straddle a refill.
  for (let i = 0; i < 640; i++) {
    const b = r.bytes(16);
    t.is(b.length, 16);
    seen.add(toHex(b));
  }
  t.is(seen.size, 640);
  for (const n of [0, 1, 3, 63, 64, 65, 1000]) t.is(r.bytes(n).length, n);
  // What was handed out is the caller's own copy: changing it changes no later draw.
  const a = r.bytes(32);
  a.fill(0);
  t.notDeepEqual(r.bytes(32), new Uint8Array(32));
  t.throws(() => new CryptoRandom(8), { instanceOf: RangeError });
});
