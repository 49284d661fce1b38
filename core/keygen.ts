import { createECDH, createPrivateKey, createPublicKey, randomBytes, type KeyObject } from "node:crypto";

/**
 * Key pairs made without node's KeyGenJob. On Node 20 a garbage collection
 * while a freshly generated key is exported (JWK, and by the same lock PEM or
 * DER) can destroy the generateKeyPairSync call's job, whose destructor waits
 * for the key's mutex that the export holds: the thread is stuck for good.
 * Caught with gdb in a hung test worker (ExportJWK -> GC -> ~KeyGenJob ->
 * pthread_mutex_lock); 3 of 120 runs of the card's property tests hung. Keys
 * imported from raw material share no lock with any job. RSA has no such
 * route in node and still goes through generateKeyPairSync.
 */
export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

const EC_CURVES = { "P-256": { ecdh: "prime256v1", size: 32 }, "P-384": { ecdh: "secp384r1", size: 48 } } as const;

export function generateEcKeyPair(namedCurve: keyof typeof EC_CURVES): KeyPair {
  const c = EC_CURVES[namedCurve];
  const ecdh = createECDH(c.ecdh);
  const point = ecdh.generateKeys();
  const d = ecdh.getPrivateKey();
  const b64 = (b: Buffer) => b.toString("base64url");
  const privateKey = createPrivateKey({
    key: {
      kty: "EC",
      crv: namedCurve,
      x: b64(point.subarray(1, 1 + c.size)),
      y: b64(point.subarray(1 + c.size)),
      d: b64(Buffer.concat([Buffer.alloc(c.size - d.length), d])), // getPrivateKey drops leading zeros
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
