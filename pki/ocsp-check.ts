import { createHash } from "node:crypto";
import type { Certificate } from "./certificate.js";
import { type Failure, type Revocation, failure } from "./errors.js";
import type { OcspResponse, SingleResponse } from "./ocsp.js";
import { KeyUsage, OID } from "./oids.js";
import type { PathInputs } from "./path.js";
import { type PublicKey, publicKeyOf, verifyCached } from "./signed-data.js";
import { isoTime as iso } from "./time.js";

/**
 * OCSP as revocation evidence (RFC 6960) for path.ts: does an answer match a
 * certificate (CertID hashes), who may have signed it (the issuing CA or a
 * responder it delegated to), and is it current and answering for the nonce.
 */

const HASH_BY_OID: Record<string, string> = {
  [OID.sha1]: "sha1",
  [OID.sha256]: "sha256",
  [OID.sha384]: "sha384",
  [OID.sha512]: "sha512",
};
const hashCache = new WeakMap<Uint8Array, Map<string, string>>();
function hashHex(data: Uint8Array, alg: string): string {
  let m = hashCache.get(data);
  const hit = m?.get(alg);
  if (hit) return hit;
  const h = createHash(alg).update(data).digest("hex");
  if (!m) hashCache.set(data, (m = new Map()));
  m.set(alg, h);
  return h;
}

export function certIdMatches(single: SingleResponse, cert: Certificate, issuer: Certificate): boolean {
  const id = single.certId;
  if (id.serial !== cert.serial) return false;
  const alg = HASH_BY_OID[id.hashAlgorithm];
  if (!alg) return false;
  return id.issuerNameHash === hashHex(cert.issuerDer, alg) && id.issuerKeyHash === hashHex(issuer.publicKeyBits, alg);
}

function responderMatches(resp: OcspResponse, c: Certificate): boolean {
  const id = resp.responderId;
  return "byName" in id ? id.byName.key === c.subject.key : id.byKeyHash === hashHex(c.publicKeyBits, "sha1");
}

/**
 * The OCSP evidence for path[pos]: "good" (a good answer, or a revocation after the validation
 * time, pushed to `later`), a Failure "revoked", or what to answer when no CRL does: the first
 * failed answer matching the certificate, else the first error-status response; undefined: none.
 */
export function ocspEvidence(inputs: PathInputs, path: Certificate[], pos: number, issuerKey: PublicKey, later: Revocation[]): "good" | Failure | OcspResponse | undefined {
  const cert = path[pos];
  const issuer = path[pos + 1];
  let failed: Failure | undefined;
  let unsuccessful: OcspResponse | undefined;
  for (const resp of inputs.ocspResponses) {
    if (resp.status !== "successful") {
      unsuccessful ??= resp;
      continue;
    }
    for (const single of resp.responses) {
      if (!certIdMatches(single, cert, issuer)) continue;
      const f = checkOcsp(inputs, resp, single, path, pos, issuerKey);
      if (f === "good") return "good";
      if (!("valid" in f)) {
        later.push(f);
        return "good";
      }
      if (f.code === "revoked") return f;
      failed ??= f;
    }
  }
  return failed ?? unsuccessful;
}

/** "good", a Revocation that happened after the validation time, or a Failure. */
export function checkOcsp(inputs: PathInputs, resp: OcspResponse, single: SingleResponse, path: Certificate[], pos: number, issuerKey: PublicKey): "good" | Revocation | Failure {
  const issuer = path[pos + 1];
  const { time } = inputs;
  // Who signed: the CA itself, or a responder the CA delegated to with id-kp-OCSPSigning.
  let authorized = false;
  let badSig = false;
  if (responderMatches(resp, issuer)) {
    const r = verifyCached(resp, issuerKey, resp.signatureAlgorithm, resp.tbs, resp.signature);
    if (r === "ok") authorized = true;
    else badSig = true;
  }
  if (!authorized) {
    for (const d of [...resp.certs, ...inputs.intermediates]) {
      if (!responderMatches(resp, d) || d.issuer.key !== issuer.subject.key) continue;
      if (verifyCached(d, issuerKey, d.signatureAlgorithm, d.tbs, d.signature) !== "ok") continue;
      if (!d.extKeyUsage?.includes(OID.kpOcspSigning)) continue;
      if (resp.producedAt < d.notBefore || resp.producedAt > d.notAfter) continue;
      const ku = d.keyUsage;
      if (ku !== undefined && !(ku & KeyUsage.digitalSignature)) continue;
      const r = verifyCached(resp, publicKeyOf(d.spki, d.spkiAlgorithm), resp.signatureAlgorithm, resp.tbs, resp.signature);
      if (r === "ok") {
        authorized = true;
        break;
      }
      badSig = true;
    }
  }
  if (!authorized) {
    return badSig
      ? failure("ocsp-bad-signature", pos, resp.signatureDefect ?? "OCSP response signature does not verify")
      : failure("ocsp-unauthorized-responder", pos, `OCSP responder is neither "${issuer.subject.display}" nor delegated by it`);
  }
  if (inputs.ocspNonce !== undefined && !resp.echoesNonce(inputs.ocspNonce)) return failure("ocsp-nonce-mismatch", pos, "OCSP response nonce does not match the request");
  if (single.nextUpdate !== undefined ? time > single.nextUpdate : single.thisUpdate < time - inputs.ocspMaxAgeMs) {
    return failure("ocsp-expired", pos, `OCSP answer (thisUpdate ${iso(single.thisUpdate)}) is not current at ${iso(time)}`);
  }
  if (single.status === "good") return "good";
  if (single.status === "unknown") return failure("ocsp-unknown-status", pos, "OCSP responder does not know the certificate");
  const rev: Revocation = { reason: single.revocationReason ?? "unspecified", time: single.revocationTime!, source: "ocsp" };
  if (rev.time <= time) return failure("revoked", pos, `revoked ${iso(rev.time)} (${rev.reason})`, rev);
  return rev;
}

/**
 * An error-status OCSPResponse (RFC 6960 4.2.1: malformedRequest, internalError, tryLater,
 * sigRequired, unauthorized) as the answer for a certificate nothing else answers for. It
 * carries no responseBytes, so no CertID: it cannot be matched to a certificate, and is taken
 * as the responder's answer for every certificate without other usable evidence.
 */
export function ocspUnsuccessful(resp: OcspResponse, pos: number, crlDetail?: string): Failure {
  const also = crlDetail ? `; CRL: ${crlDetail}` : "";
  return failure("ocsp-unsuccessful", pos, `OCSP responder answered ${resp.status} (OCSPResponseStatus ${resp.statusCode}), an error response without a CertID, and no usable CRL answers${also}`);
}
