import { Tag } from "../der.js";
import { DerWriter } from "../der-writer.js";
import type { SigningKey } from "./keys.js";
import { assembleSigned } from "./signed.js";

/**
 * PKCS#10 CertificationRequests (RFC 2986) in two steps, because a card signs
 * asynchronously and only ever sees a digest: `csrInfo` gives the bytes to
 * sign, `assembleCsr` wraps them with the signature. `buildCsr` does both with
 * a synchronous key.
 */

/** CertificationRequestInfo: version 0, the subject Name DER, the SPKI DER, no attributes. */
export function csrInfo(subject: Uint8Array, spki: Uint8Array): Uint8Array {
  const w = new DerWriter(subject.length + spki.length + 16).begin(Tag.Sequence);
  w.integer(0).raw(subject).raw(spki);
  w.begin(0xa0).end(); // attributes [0] IMPLICIT SET OF Attribute: empty
  return new Uint8Array(w.end().finish());
}

/** CertificationRequest { info, signatureAlgorithm (AlgorithmIdentifier DER), signature BIT STRING }. */
export function assembleCsr(info: Uint8Array, algorithm: Uint8Array, signature: Uint8Array): Uint8Array {
  return assembleSigned(info, algorithm, signature);
}

export function buildCsr(subject: Uint8Array, key: SigningKey): Uint8Array {
  const info = csrInfo(subject, key.spki);
  return assembleCsr(info, key.algorithm, key.sign(info));
}
