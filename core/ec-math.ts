import type { ECDH } from "node:crypto";

/**
 * The arithmetic that ECDSA over a digest and raw key material need, kept
 * once: the two curves' constants, bigint <-> octets, the modular inverse,
 * and the r, s step that both the card's random-k signature and the seeded
 * RFC 6979 signature end with (simulator/card/crypto.ts,
 * core/deterministic-ecdsa.ts, core/keygen.ts). node:crypto signs only
 * messages it hashes itself and has no bigint API, hence these.
 */

export type EcCurveName = "P-256" | "P-384";

export interface EcCurve {
  /** OpenSSL's name, as createECDH takes it. */
  ecdh: string;
  /** The hash that goes with the curve (RFC 6979's HMAC, noble's default). */
  hash: "sha256" | "sha384";
  /** Octets of the field and of the group order (qlen = 8 * size bits for both curves). */
  size: number;
  /** The group order. */
  n: bigint;
}

export const EC_CURVES: Readonly<Record<EcCurveName, EcCurve>> = {
  "P-256": { ecdh: "prime256v1", hash: "sha256", size: 32, n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n },
  "P-384": {
    ecdh: "secp384r1",
    hash: "sha384",
    size: 48,
    n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  },
};

/** Big-endian octets as an unsigned integer (no copy of the octets). */
export function bytesToBigInt(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt("0x" + Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex"));
}

/** An unsigned integer as big-endian octets: `size` of them, left-padded with zeros, or as few as it takes. */
export function bigIntToBytes(v: bigint, size?: number): Buffer {
  const hex = v.toString(16);
  if (size !== undefined) return Buffer.from(hex.padStart(size * 2, "0"), "hex");
  return Buffer.from(hex.length % 2 ? "0" + hex : hex, "hex");
}

/** a^-1 mod m by the extended Euclidean algorithm (a and m coprime). */
export function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [a % m, m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  return ((oldS % m) + m) % m;
}

/**
 * The leftmost `qlen` bits of `b` as an integer (RFC 6979 2.3.2), which is
 * also how ECDSA cuts a digest longer than the group order.
 */
export function bits2int(b: Uint8Array, qlen: number): bigint {
  const v = bytesToBigInt(b);
  const blen = b.length * 8;
  return blen > qlen ? v >> BigInt(blen - qlen) : v;
}

/**
 * ECDSA's last step with a chosen nonce k in [1, n-1]: r = x(kG) mod n
 * (k*G by `ecdh`, node's native scalar multiplication, on `curve`) and
 * s = k^-1 (e + r d) mod n, as a DER ECDSA-Sig-Value. Undefined when r or s
 * is 0: the caller takes another k.
 */
export function ecdsaWithNonce(curve: EcCurve, ecdh: ECDH, d: bigint, e: bigint, k: bigint): Uint8Array | undefined {
  ecdh.setPrivateKey(bigIntToBytes(k, curve.size));
  const point = ecdh.getPublicKey();
  const r = bytesToBigInt(point.subarray(1, 1 + curve.size)) % curve.n;
  if (r === 0n) return undefined;
  const s = (modInverse(k, curve.n) * ((e + r * d) % curve.n)) % curve.n;
  if (s === 0n) return undefined;
  return ecdsaSignatureDer(r, s);
}

/** SEQUENCE { INTEGER r, INTEGER s } in DER (short lengths: r and s are at most 49 octets on P-384, 0 < r, s). */
export function ecdsaSignatureDer(r: bigint, s: bigint): Uint8Array {
  const rb = bigIntToBytes(r);
  const sb = bigIntToBytes(s);
  const rPad = rb[0] & 0x80 ? 1 : 0; // a set top bit would read as negative: a 00 octet first
  const sPad = sb[0] & 0x80 ? 1 : 0;
  const rLen = rb.length + rPad;
  const sLen = sb.length + sPad;
  const out = new Uint8Array(6 + rLen + sLen);
  out[0] = 0x30;
  out[1] = 4 + rLen + sLen;
  out[2] = 0x02;
  out[3] = rLen;
  out.set(rb, 4 + rPad);
  out[4 + rLen] = 0x02;
  out[5 + rLen] = sLen;
  out.set(sb, 6 + rLen + sPad);
  return out;
}
