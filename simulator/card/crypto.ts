import {
  bigIntToBytes,
  bits2int,
  bytesToBigInt,
  deterministicEcdsaSign,
  EC_CURVES,
  ecdsaWithNonce,
  generateEcKeyPair,
  seededEcKeyPair,
  seededRsaKeyPair,
  type EcCurve,
  type EcCurveName,
  type Random,
} from "../../core/index.js";
import {
  createCipheriv,
  createECDH,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  privateDecrypt,
  randomBytes,
  constants,
  type KeyObject,
} from "node:crypto";

/**
 * The card's on-chip cryptography. Private keys live in KeyObjects held by the
 * card; nothing here returns private key material to a caller of the card.
 */

export const ALG = {
  TDES: 0x03,
  RSA2048: 0x07,
  AES128: 0x08,
  AES192: 0x0a,
  AES256: 0x0c,
  P256: 0x11,
  P384: 0x14,
} as const;

export type AsymAlg = typeof ALG.RSA2048 | typeof ALG.P256 | typeof ALG.P384;
export type SymAlg = typeof ALG.TDES | typeof ALG.AES128 | typeof ALG.AES192 | typeof ALG.AES256;

export function isAsymAlg(a: number): a is AsymAlg {
  return a === ALG.RSA2048 || a === ALG.P256 || a === ALG.P384;
}

export function isSymAlg(a: number): a is SymAlg {
  return a === ALG.TDES || a === ALG.AES128 || a === ALG.AES192 || a === ALG.AES256;
}

export const SYM_KEY_LENGTH: Record<SymAlg, number> = { 3: 24, 8: 16, 10: 24, 12: 32 };

export function symBlockSize(alg: SymAlg): number {
  return alg === ALG.TDES ? 8 : 16;
}

/** One-block ECB encryption, as the PIV management-key challenge-response uses it. */
export function encryptBlock(alg: SymAlg, key: Uint8Array, block: Uint8Array): Uint8Array {
  const name = alg === ALG.TDES ? "des-ede3" : `aes-${key.length * 8}-ecb`;
  const c = createCipheriv(name, key, null);
  c.setAutoPadding(false);
  return new Uint8Array(Buffer.concat([c.update(block), c.final()]));
}

/** The card's EC algorithms and their curves (core/ec-math.ts). */
const CURVES: Record<number, EcCurve & { namedCurve: EcCurveName }> = {
  [ALG.P256]: { ...EC_CURVES["P-256"], namedCurve: "P-256" },
  [ALG.P384]: { ...EC_CURVES["P-384"], namedCurve: "P-384" },
};

/** A private key on the card, with what signing needs precomputed. */
export class CardKey {
  private readonly d?: bigint; // EC private scalar, cached for raw ECDSA
  private constructor(
    readonly alg: AsymAlg,
    readonly privateKey: KeyObject,
    readonly publicKey: KeyObject,
  ) {
    if (alg !== ALG.RSA2048) {
      const jwk = privateKey.export({ format: "jwk" });
      this.d = bytesToBigInt(Buffer.from(jwk.d as string, "base64url"));
    }
  }

  /**
   * A new key pair. `seeded` (a card whose Random is seeded): the private
   * material is drawn from that stream (core/keygen.ts), so one seed gives
   * one key; otherwise the platform's generator, as fast as ever.
   */
  static generate(alg: AsymAlg, seeded?: Random): CardKey {
    if (alg === ALG.RSA2048) {
      const pair = seeded ? seededRsaKeyPair(seeded, 2048) : generateKeyPairSync("rsa", { modulusLength: 2048, publicExponent: 65537 });
      return new CardKey(alg, pair.privateKey, pair.publicKey);
    }
    // Not generateKeyPairSync: its job can deadlock the export just below (core/keygen.ts).
    const curve = CURVES[alg].namedCurve;
    const { privateKey, publicKey } = seeded ? seededEcKeyPair(curve, seeded) : generateEcKeyPair(curve);
    return new CardKey(alg, privateKey, publicKey);
  }

  /** From the card file's secure-memory form (PKCS#8 DER). */
  static fromPkcs8(alg: AsymAlg, der: Uint8Array): CardKey {
    const priv = createPrivateKey({ key: Buffer.from(der), format: "der", type: "pkcs8" });
    return new CardKey(alg, priv, createPublicKey(priv));
  }

  /** Only for persisting the card's own memory to its card file. */
  toPkcs8(): Uint8Array {
    return new Uint8Array(this.privateKey.export({ format: "der", type: "pkcs8" }));
  }

  /** The public key template content (inside 7F49): 86 point, or 81 modulus 82 exponent. */
  publicParts(): { point?: Uint8Array; modulus?: Uint8Array; exponent?: Uint8Array } {
    const jwk = this.publicKey.export({ format: "jwk" });
    if (this.alg === ALG.RSA2048) {
      return {
        modulus: new Uint8Array(Buffer.from(jwk.n as string, "base64url")),
        exponent: new Uint8Array(Buffer.from(jwk.e as string, "base64url")),
      };
    }
    const x = Buffer.from(jwk.x as string, "base64url");
    const y = Buffer.from(jwk.y as string, "base64url");
    return { point: new Uint8Array(Buffer.concat([Buffer.of(4), x, y])) };
  }

  /**
   * The raw private-key operation of GENERAL AUTHENTICATE: ECDSA over an
   * already-hashed value (DER ECDSA-Sig-Value out), or RSA m^d mod n over a
   * block the host padded. Returns undefined when the input is unusable.
   * `deterministic` (a seeded card): ECDSA's k from RFC 6979 instead of
   * drawn, so the same key and digest give the same signature; RSA without
   * padding is deterministic anyway.
   */
  sign(input: Uint8Array, deterministic = false): Uint8Array | undefined {
    if (this.alg === ALG.RSA2048) {
      if (input.length !== 256) return undefined;
      try {
        return new Uint8Array(
          privateDecrypt({ key: this.privateKey, padding: constants.RSA_NO_PADDING }, input),
        );
      } catch {
        return undefined; // input >= modulus
      }
    }
    const c = CURVES[this.alg];
    if (deterministic) return deterministicEcdsaSign(c.namedCurve, bigIntToBytes(this.d as bigint, c.size), input);
    return ecdsaSignDigest(c, this.d as bigint, input);
  }

  /** ECDH (key agreement with 85): the shared secret's x coordinate. */
  agree(peerPoint: Uint8Array): Uint8Array | undefined {
    if (this.alg === ALG.RSA2048) return undefined;
    const c = CURVES[this.alg];
    if (peerPoint.length !== 1 + 2 * c.size || peerPoint[0] !== 4) return undefined;
    try {
      const peer = createPublicKey({
        key: {
          kty: "EC",
          crv: c.namedCurve,
          x: Buffer.from(peerPoint.subarray(1, 1 + c.size)).toString("base64url"),
          y: Buffer.from(peerPoint.subarray(1 + c.size)).toString("base64url"),
        },
        format: "jwk",
      });
      return new Uint8Array(diffieHellman({ privateKey: this.privateKey, publicKey: peer }));
    } catch {
      return undefined; // not a point on the curve
    }
  }
}

/**
 * ECDSA on a digest the host computed (node:crypto only signs messages it
 * hashes itself) with a random k: k*G comes from the native ECDH scalar
 * multiplication, the rest is core/ec-math.ts's two modular operations.
 */
function ecdsaSignDigest(c: EcCurve, d: bigint, digest: Uint8Array): Uint8Array {
  const e = bits2int(digest, c.size * 8);
  const ecdh = createECDH(c.ecdh);
  for (;;) {
    // 64 bits more than the order, reduced: k's bias is below 2^-64
    const k = (bytesToBigInt(randomBytes(c.size + 8)) % (c.n - 1n)) + 1n;
    const signature = ecdsaWithNonce(c, ecdh, d, e, k);
    if (signature) return signature;
  }
}
