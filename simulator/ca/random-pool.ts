import { randomFillSync } from "node:crypto";
import { CryptoRandom, type Random } from "../../core/index.js";

/**
 * The platform CSPRNG drawn in chunks: each small draw copies from a pool
 * filled by one `randomFillSync`. A CA draws four to eight 16-octet values per
 * issuance (serial, codes, salts); one OpenSSL call each cost ~4 us on this
 * machine, a copy from the pool ~0.2 us. Octets served are zeroed in the pool
 * at once, so a secret drawn from it is nowhere else in memory once handed out.
 * Draws larger than a quarter of the pool go straight to the platform.
 */
export class PooledCryptoRandom implements Random {
  private readonly pool: Buffer;
  private at: number;

  constructor(readonly poolOctets = 4096) {
    if (!Number.isSafeInteger(poolOctets) || poolOctets < 64) throw new RangeError(`poolOctets must be an integer >= 64, got ${poolOctets}`);
    this.pool = Buffer.alloc(poolOctets);
    this.at = poolOctets; // empty: the first draw fills it
  }

  bytes(n: number): Uint8Array {
    if (n > this.poolOctets / 4) return new Uint8Array(randomFillSync(Buffer.alloc(n)));
    if (this.at + n > this.poolOctets) {
      randomFillSync(this.pool);
      this.at = 0;
    }
    const out = new Uint8Array(this.pool.subarray(this.at, this.at + n));
    this.pool.fill(0, this.at, this.at + n);
    this.at += n;
    return out;
  }
}

/**
 * `random` drawn in chunks where that changes nothing but speed: the platform
 * CSPRNG (CryptoRandom) becomes a PooledCryptoRandom; any other Random (a
 * seeded one, whose stream a run replays byte for byte, or a test's) is
 * returned as it is, so its draws stay exactly what they were.
 */
export function pooledRandom(random: Random): Random {
  return random instanceof CryptoRandom ? new PooledCryptoRandom() : random;
}
