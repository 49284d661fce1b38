import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import { deterministicEcdsaSign } from "../../core/index.js";
import { signatureAlgorithm, type SigningKey } from "../../pki/index.js";

/**
 * The signing key of a seeded CA (an EC P-256 key in a file or in memory):
 * ECDSA with SHA-256 whose k comes from RFC 6979, so one seed gives the same
 * certificates, CRLs and OCSP answers every run. It signs on the calling
 * thread: the hierarchy then keeps its KeyObject from the thread-pool and
 * CRL-worker paths, which would sign with node's random k. `signDigest` is
 * what the CRL worker path uses (the worker hashes the CRL, the key stays here).
 */
export function deterministicSigningKey(privateKey: KeyObject): SigningKey & { keyType: "ec"; signDigest(digest: Uint8Array): Uint8Array } {
  if (privateKey.asymmetricKeyType !== "ec" || privateKey.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new RangeError("a seeded CA signs deterministically with EC P-256 keys (RSA PKCS#1 v1.5 is deterministic as it is)");
  }
  const jwk = privateKey.export({ format: "jwk" });
  const d = new Uint8Array(Buffer.from(jwk.d as string, "base64url"));
  const signDigest = (digest: Uint8Array): Uint8Array => {
    if (digest.length !== 32) throw new RangeError(`a SHA-256 digest is 32 octets (got ${digest.length})`);
    return deterministicEcdsaSign("P-256", d, digest);
  };
  return {
    keyType: "ec",
    spki: new Uint8Array(createPublicKey(privateKey).export({ format: "der", type: "spki" })),
    algorithm: signatureAlgorithm("ec"),
    sign: (data) => signDigest(createHash("sha256").update(data).digest()),
    signDigest,
  };
}
