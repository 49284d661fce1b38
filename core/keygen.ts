import { checkPrimeSync, createECDH, createPrivateKey, createPublicKey, randomBytes, type KeyObject } from "node:crypto";
import { bigIntToBytes, bytesToBigInt, EC_CURVES, modInverse, type EcCurveName } from "./ec-math.js";
import type { Random } from "./random.js";

/**
 * Key pairs made without node's KeyGenJob. On Node 20 a garbage collection
 * while a freshly generated key is exported (JWK, and by the same lock PEM or
 * DER) can destroy the generateKeyPairSync call's job, whose destructor waits
 * for the key's mutex that the export holds: the thread is stuck for good.
 * Caught with gdb in a hung test worker (ExportJWK -> GC -> ~KeyGenJob ->
 * pthread_mutex_lock); 3 of 120 runs of the card's property tests hung. Keys
 * imported from raw material share no lock with any job. RSA has no such
 * route in node and still goes through generateKeyPairSync, except seeded
 * (seededRsaKeyPair).
 *
 * Seeded key pairs (a seeded run: one seed, one run, keys included) take
 * their private material from a Random's stream; they are for simulation,
 * never for a key that protects anything.
 */
export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export function generateEcKeyPair(namedCurve: EcCurveName): KeyPair {
  const ecdh = createECDH(EC_CURVES[namedCurve].ecdh);
  ecdh.generateKeys();
  return ecKeyPairFromEcdh(namedCurve, ecdh);
}

/**
 * An EC key pair whose private scalar comes from `random`: field-size draws
 * rejected until one lies in [1, n-1] (FIPS 186-5 A.4.2, rejection sampling),
 * so the scalar is uniform and the same stream gives the same key.
 */
export function seededEcKeyPair(namedCurve: EcCurveName, random: Random): KeyPair {
  const c = EC_CURVES[namedCurve];
  for (;;) {
    const d = random.bytes(c.size);
    const v = bytesToBigInt(d);
    if (v === 0n || v >= c.n) continue;
    const ecdh = createECDH(c.ecdh);
    ecdh.setPrivateKey(d);
    return ecKeyPairFromEcdh(namedCurve, ecdh);
  }
}

function ecKeyPairFromEcdh(namedCurve: EcCurveName, ecdh: ReturnType<typeof createECDH>): KeyPair {
  const size = EC_CURVES[namedCurve].size;
  const point = ecdh.getPublicKey();
  const d = ecdh.getPrivateKey();
  const b64 = (b: Buffer) => b.toString("base64url");
  const privateKey = createPrivateKey({
    key: {
      kty: "EC",
      crv: namedCurve,
      x: b64(point.subarray(1, 1 + size)),
      y: b64(point.subarray(1 + size)),
      d: b64(Buffer.concat([Buffer.alloc(size - d.length), d])), // getPrivateKey drops leading zeros
    },
    format: "jwk",
  });
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

/** RFC 8410 PKCS#8 for Ed25519: this fixed prefix, then the 32-byte seed. */
const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

export function generateEd25519KeyPair(): KeyPair {
  const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, randomBytes(32)]), format: "der", type: "pkcs8" });
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

const RSA_E = 65537n;
/** Odd primes below 2000: trial division throws out most candidates before a Miller-Rabin test. */
const SMALL_PRIMES = (() => {
  const out: number[] = [];
  for (let p = 3; p < 2000; p += 2) if (out.every((q) => q * q > p || p % q !== 0)) out.push(p);
  return out;
})();

/**
 * An RSA key pair (e = 65537) whose primes come from `random`: each prime is
 * the first one at or above a drawn odd start with its top two bits set (so
 * n has exactly `bits` bits), found by an incremental search (trial division,
 * then OpenSSL's Miller-Rabin through checkPrimeSync, whose own random bases
 * decide only with an error below 2^-128, not which prime is found). The
 * same stream gives the same key; about 0.1-0.5 s for 2048 bits.
 */
export function seededRsaKeyPair(random: Random, bits = 2048): KeyPair {
  if (bits % 16 !== 0 || bits < 512) throw new RangeError(`RSA modulus of ${bits} bits: a multiple of 16, at least 512`);
  for (;;) {
    const p = seededPrime(random, bits / 2);
    const q = seededPrime(random, bits / 2);
    if (p === q) continue;
    const lambda = lcm(p - 1n, q - 1n);
    const d = modInverse(RSA_E, lambda);
    const n = p * q;
    const b64 = (v: bigint) => bigIntToBytes(v).toString("base64url");
    const privateKey = createPrivateKey({
      key: { kty: "RSA", n: b64(n), e: b64(RSA_E), d: b64(d), p: b64(p), q: b64(q), dp: b64(d % (p - 1n)), dq: b64(d % (q - 1n)), qi: b64(modInverse(q, p)) },
      format: "jwk",
    });
    return { privateKey, publicKey: createPublicKey(privateKey) };
  }
}

function seededPrime(random: Random, bits: number): bigint {
  const start = random.bytes(bits / 8);
  start[0] |= 0xc0;
  start[start.length - 1] |= 1;
  const base = bytesToBigInt(start);
  const residues = SMALL_PRIMES.map((p) => Number(base % BigInt(p)));
  for (let delta = 0; ; delta += 2) {
    if (SMALL_PRIMES.some((p, i) => (residues[i] + delta) % p === 0)) continue;
    const c = base + BigInt(delta);
    if ((c - 1n) % RSA_E === 0n) continue; // e must be invertible mod p-1
    if (c >> BigInt(bits) !== 0n) return seededPrime(random, bits); // ran past the top: draw again
    if (checkPrimeSync(c)) return c;
  }
}

function lcm(a: bigint, b: bigint): bigint {
  return (a / gcd(a, b)) * b;
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}
