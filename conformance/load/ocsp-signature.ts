import { createHash } from "node:crypto";
import { Certificate, pemToDer, publicKeyOf, verifySignature } from "../../pki/index.js";
import { certSignedBy, EKU, type OcspInfo } from "../pkix.js";

/*
 * Whether an OCSP answer the load run reads (propagation polls, the final
 * completeness check) was signed by a responder that may speak for the
 * issuing CA: the CA itself, or a responder certificate the CA issued with
 * id-kp-OCSPSigning (RFC 6960 4.2.2.2). A "revoked" from anyone else (a
 * stale cache, a proxy, another responder) is not evidence of publication.
 * Each distinct responder certificate is judged once; each answer's
 * signature is verified with that responder's key.
 */

type Key = ReturnType<typeof publicKeyOf>;

export class OcspSignatureCheck {
  private readonly issuer: Certificate;
  private readonly issuerKey: Key;
  private readonly issuerKeyHash: string;
  /** Delegated responder certificates (PEM) judged so far: its key when the CA authorised it, null when not. */
  private readonly delegated = new Map<string, Promise<Key | null>>();

  constructor(private readonly issuerPem: string) {
    this.issuer = new Certificate(pemToDer(issuerPem));
    this.issuerKey = publicKeyOf(this.issuer.spki);
    this.issuerKeyHash = sha1Hex(this.issuer.publicKeyBits);
  }

  /** True when the answer is signed by the issuing CA or by a responder it delegated to; false for anything else (never throws). */
  async verified(info: OcspInfo): Promise<boolean> {
    if (!info.tbs || !info.signature) return false;
    try {
      const key = await this.responderKey(info);
      return key !== null && verifySignature(key, info.ocsp.signatureAlgorithm, info.tbs, info.signature) === "ok";
    } catch {
      return false;
    }
  }

  /** The key of the responder the answer names (by key hash or by name): the issuer's, an authorised delegate's, or null. */
  private async responderKey(info: OcspInfo): Promise<Key | null> {
    const id = info.ocsp.responderId;
    const byKey = "byKeyHash" in id ? id.byKeyHash.toLowerCase() : undefined;
    const byName = "byName" in id ? id.byName.key : undefined;
    if (byKey === this.issuerKeyHash || (byName !== undefined && byName === this.issuer.subject.key)) return this.issuerKey;
    for (const pem of info.certsPem) {
      const cert = new Certificate(pemToDer(pem));
      const named = byKey !== undefined ? sha1Hex(cert.publicKeyBits) === byKey : cert.subject.key === byName;
      if (named) return this.delegate(pem, cert);
    }
    return null;
  }

  private delegate(pem: string, cert: Certificate): Promise<Key | null> {
    let judged = this.delegated.get(pem);
    if (!judged) {
      judged = certSignedBy(pem, this.issuerPem).then((signed) => (signed && (cert.extKeyUsage ?? []).includes(EKU.ocspSigning) ? publicKeyOf(cert.spki) : null));
      // A responder sends the same certificate with every answer: a handful of entries at most; bounded all the same.
      if (this.delegated.size > 64) this.delegated.clear();
      this.delegated.set(pem, judged);
    }
    return judged;
  }
}

const sha1Hex = (bytes: Uint8Array) => createHash("sha1").update(bytes).digest("hex");
