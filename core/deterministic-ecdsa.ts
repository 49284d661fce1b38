import { createECDH, createHash, createHmac } from "node:crypto";
import { bigIntToBytes, bits2int, bytesToBigInt, EC_CURVES, ecdsaWithNonce, type EcCurveName } from "./ec-math.js";
import type { Random } from "./random.js";

/**
 * Seeded runs, byte for byte: whether a Random is a reproducible stream, and
 * ECDSA whose nonce k is derived from key and digest (RFC 6979) instead of
 * drawn, so that a seeded card or CA signs the same bytes every run.
 *
 * RFC 6979 section 3.2 with HMAC-SHA-256 (P-256) or HMAC-SHA-384 (P-384),
 * k*G by node's native scalar multiplication (createECDH), the rest two
 * bigint operations: about as fast as the unseeded card's ECDSA, where
 * @noble/curves' sign (pure JavaScript, and 25 ms to load) is 5-10 times
 * slower (bench/seeded.bench.ts). Its output is byte for byte noble's
 * (`sign(digest, d, { prehash: false, lowS: false })`), which the tests check
 * over random keys and digests, with RFC 6979's own A.2.5 and A.2.6 vectors.
 */

/**
 * A Random whose stream a seed decides: one that says so (SeededRandom's
 * `deterministic`). Keys and signatures follow such a stream; the platform
 * CSPRNG (CryptoRandom) keeps native key generation and signing. (A seeded
 * stream set to `deterministic: false` keeps native keys and signatures too:
 * how the benchmark measures the cost of the seeded mode.)
 */
export function isDeterministic(random: Random | undefined): boolean {
  return random?.deterministic === true;
}

/**
 * RFC 6979 ECDSA over a digest computed elsewhere, DER ECDSA-Sig-Value out.
 * A digest longer than the group order is cut to its leftmost bits
 * (bits2int, as ECDSA does and as the card did before); s is left as
 * computed (no low-S rule: RFC 6979's own output). The HMAC hash is the
 * curve's (SHA-256 for P-256, SHA-384 for P-384), as noble's.
 */
export function deterministicEcdsaSign(curve: EcCurveName, privateScalar: Uint8Array, digest: Uint8Array): Uint8Array {
  const c = EC_CURVES[curve];
  const d = bytesToBigInt(privateScalar);
  if (d <= 0n || d >= c.n) throw new RangeError("the private scalar is not in [1, n-1]");
  const qlen = c.size * 8;
  const e = bits2int(digest, qlen);
  const ecdh = createECDH(c.ecdh);
  const h1 = bigIntToBytes(e % c.n, c.size); // bits2octets(digest), e already in hand
  for (const k of rfc6979Nonces(c.hash, c.n, bigIntToBytes(d, c.size), h1)) {
    const signature = ecdsaWithNonce(c, ecdh, d, e, k);
    if (signature) return signature;
  }
  throw new Error("unreachable: the nonce generator does not end");
}

/**
 * RFC 6979 section 3.2's HMAC-DRBG, steps b to h, for any group order q:
 * yields each nonce k in [1, q-1] in turn. A candidate out of range is
 * skipped, and asking for the next nonce (r or s was 0) runs the same
 * K = HMAC_K(V || 00), V = HMAC_K(V) step. `x` is int2octets(private key),
 * `h1` bits2octets(digest), both rlen = ceil(qlen / 8) octets long; `hash`
 * names the HMAC's hash (node:crypto's name).
 */
export function* rfc6979Nonces(hash: string, q: bigint, x: Uint8Array, h1: Uint8Array): Generator<bigint, never> {
  const qlen = q.toString(2).length;
  const hmac = (key: Buffer, ...parts: Uint8Array[]) => {
    const m = createHmac(hash, key);
    for (const p of parts) m.update(p);
    return m.digest();
  };
  const hlen = hashOctets(hash);
  let v = Buffer.alloc(hlen, 0x01);
  let k = Buffer.alloc(hlen, 0x00);
  k = hmac(k, v, ZERO, x, h1);
  v = hmac(k, v);
  k = hmac(k, v, ONE, x, h1);
  v = hmac(k, v);
  for (;;) {
    const t: Buffer[] = [];
    for (let tlen = 0; tlen < qlen; tlen += hlen * 8) {
      v = hmac(k, v);
      t.push(v);
    }
    const nonce = bits2int(Buffer.concat(t), qlen);
    if (nonce >= 1n && nonce < q) yield nonce;
    k = hmac(k, v, ZERO);
    v = hmac(k, v);
  }
}

/** RFC 6979 2.3.4: bits2int(h) mod q, as rlen = ceil(qlen / 8) octets. */
export function bits2octets(h: Uint8Array, q: bigint): Buffer {
  const qlen = q.toString(2).length;
  return bigIntToBytes(bits2int(h, qlen) % q, Math.ceil(qlen / 8));
}

const HASH_OCTETS = new Map<string, number>();
function hashOctets(hash: string): number {
  let n = HASH_OCTETS.get(hash);
  if (n === undefined) HASH_OCTETS.set(hash, (n = createHash(hash).digest().length));
  return n;
}

const ZERO = Uint8Array.of(0);
const ONE = Uint8Array.of(1);
