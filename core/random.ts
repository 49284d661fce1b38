import { randomFillSync } from "node:crypto";

/**
 * Where randomness comes from (serial numbers, challenges, codes, and in a
 * seeded run keys and ECDSA nonces too). Seeded runs use SeededRandom so that
 * one seed gives one run, byte for byte; CryptoRandom is the platform CSPRNG.
 */
export interface Random {
  bytes(n: number): Uint8Array;
  /**
   * True when a seed decides the stream, so that keys and ECDSA signatures
   * may follow it too (isDeterministic); absent or false: the platform's.
   */
  readonly deterministic?: boolean;
}

/**
 * The platform CSPRNG, drawn in chunks: small draws copy from a pool filled by
 * one `randomFillSync`. A CA draws four to eight 16-octet values per issuance
 * (serial, codes, salts); one OpenSSL call each cost ~4 us on this machine, a
 * copy from the pool ~0.2 us. Octets served are zeroed in the pool at once, so
 * a secret drawn from it is nowhere else in memory once handed out. Draws
 * larger than a quarter of the pool go straight to the platform.
 */
export class CryptoRandom implements Random {
  private readonly pool: Buffer;
  private at: number;

  constructor(readonly poolOctets = 4096) {
    if (!Number.isSafeInteger(poolOctets) || poolOctets < 64) throw new RangeError(`poolOctets must be an integer >= 64, got ${poolOctets}`);
    this.pool = Buffer.alloc(poolOctets);
    this.at = poolOctets; // empty: the first draw fills it
  }

  bytes(n: number): Uint8Array {
    if (n > this.poolOctets / 4) return randomFillSync(new Uint8Array(n));
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

/** xoshiro128** seeded through splitmix32: fast, reproducible, not for secrets in production. */
export class SeededRandom implements Random {
  /** One seed, one stream: a seeded card or CA draws its keys from it and signs with RFC 6979. */
  readonly deterministic = true;
  private s: Uint32Array;
  constructor(seed: number | string) {
    let x = typeof seed === "number" ? seed >>> 0 : hashString(seed);
    this.s = new Uint32Array(4);
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
  }
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const v = this.nextU32();
      for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (v >>> (8 * j)) & 0xff;
    }
    return out;
  }
  /** A derived, independent stream (e.g. one per actor) so adding a step does not shift others. */
  fork(label: string): SeededRandom {
    return new SeededRandom((this.nextU32() ^ hashString(label)) >>> 0);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
