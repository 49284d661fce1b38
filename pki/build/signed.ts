import { Tag } from "../der.js";
import { DerWriter } from "../der-writer.js";

/**
 * A signed structure from its three parts, SEQUENCE { tbs, signatureAlgorithm,
 * signature BIT STRING } (X.509 SIGNED{}: a certificate, a CRL, a CSR), for a
 * caller that signs the to-be-signed octets elsewhere (a thread pool, an HSM).
 * `algorithm` is the AlgorithmIdentifier DER.
 */
export function assembleSigned(tbs: Uint8Array, algorithm: Uint8Array, signature: Uint8Array): Uint8Array {
  const w = new DerWriter(tbs.length + algorithm.length + signature.length + 16).begin(Tag.Sequence);
  w.raw(tbs).raw(algorithm).bitString(signature);
  return new Uint8Array(w.end().finish());
}
