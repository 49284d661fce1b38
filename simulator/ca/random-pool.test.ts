import test from "ava";
import { CryptoRandom, SeededRandom, type Random } from "../../core/index.js";
import { PooledCryptoRandom, pooledRandom } from "./random-pool.js";

test("pooledRandom chunks only the platform CSPRNG: a seeded or any other Random is returned as it is (its stream unchanged)", (t) => {
  const seeded = new SeededRandom(7);
  t.is(pooledRandom(seeded), seeded);
  const other: Random = { bytes: (n) => new Uint8Array(n) };
  t.is(pooledRandom(other), other);
  t.true(pooledRandom(new CryptoRandom()) instanceof PooledCryptoRandom);
});

test("a pooled draw: the length asked, never the same octets twice across refills, large draws straight from the platform", (t) => {
  const r = new PooledCryptoRandom(256);
  const seen = new Set<string>();
  // 16-octet draws over 40 refills of the 256-octet pool, and odd sizes that straddle a refill.
  for (let i = 0; i < 640; i++) {
    const b = r.bytes(16);
    t.is(b.length, 16);
    seen.add(Buffer.from(b).toString("hex"));
  }
  t.is(seen.size, 640);
  for (const n of [0, 1, 3, 63, 64, 65, 1000]) t.is(r.bytes(n).length, n);
  // What was handed out is the caller's own copy: changing it changes no later draw.
  const a = r.bytes(32);
  a.fill(0);
  t.notDeepEqual(r.bytes(32), new Uint8Array(32));
  t.throws(() => new PooledCryptoRandom(8), { instanceOf: RangeError });
});
