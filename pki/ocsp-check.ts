import { createHash } from "node:crypto";
import type { Certificate } from "./certificate.js";
import { DecodeError, type Failure, type Revocation, failure } from "./errors.js";
import type { OcspResponse, SingleResponse } from "./ocsp.js";
import { KeyUsage, OID } from "./oids.js";
import type { PathInputs } from "./path.js";
import { type Budget, budgetSpent, isBudgetSpent, verifyCharged } from "./revocation-budget.js";
import { type PublicKey, publicKeyOf } from "./signed-data.js";
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

/** Is `c` the responder the response names? A name that does not decode names nobody. */
function responderMatches(resp: OcspResponse, c: Certificate): boolean {
  const id = resp.responderId;
  try {
    return "byName" in id ? id.byName.key === c.subject.key : id.byKeyHash === hashHex(c.publicKeyBits, "sha1");
  } catch (err) {
    if (err instanceof DecodeError) return false;
    throw err;
  }
}

/**
 * The OCSP evidence for path[pos]: "good" (a good answer, or a revocation after the validation
 * time, pushed to `later`), a Failure "revoked" or a spent budget (final), or what to answer when
 * no CRL does: the first failed answer matching the certificate, else the first error-status
 * response; undefined: none. A response that does not decode is that response's failure.
 */
export function ocspEvidence(ctx: OcspContext, path: Certificate[], pos: number, issuerKey: PublicKey, later: Revocation[]): "good" | Failure | OcspResponse | undefined {
  const cert = path[pos];
  const issuer = path[pos + 1];
  let failed: Failure | undefined;
  let unsuccessful: OcspResponse | undefined;
  for (const resp of ctx.in.ocspResponses) {
    if (resp.status !== "successful") {
      unsuccessful ??= resp;
      continue;
    }
    try {
      let signed: Failure | true | undefined; // who signed: worked out at the first matching answer
      for (const single of resp.responses) {
        if (!certIdMatches(single, cert, issuer)) continue;
        signed ??= signerOf(ctx, resp, issuer, issuerKey, pos);
        if (signed !== true) {
          if (isBudgetSpent(signed)) return signed;
          failed ??= signed;
          break; // every answer of the response has the same signer
        }
        const f = singleStatus(ctx.in, resp, single, pos);
        if (f === "good") return "good";
        if (!("valid" in f)) {
          later.push(f);
          return "good";
        }
        if (f.code === "revoked") return f;
        failed ??= f;
      }
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      failed ??= failure("malformed", pos, `OCSP response does not decode: ${err.message}`);
    }
  }
  return failed ?? unsuccessful;
}

/** What ocsp-check needs of the validation: its inputs and its budget of signature checks. */
export interface OcspContext extends Budget {
  in: PathInputs;
}

type SignerVerdict = true | { code: "ocsp-bad-signature" | "ocsp-unauthorized-responder"; detail: string };
/** Per validation (the context object): response -> issuer key id -> who signed it. */
const signers = new WeakMap<object, WeakMap<OcspResponse, Map<number, SignerVerdict>>>();

/** signerOf once per (response, issuer key) per validation, however many answers it holds. */
function signerOf(ctx: OcspContext, resp: OcspResponse, issuer: Certificate, issuerKey: PublicKey, pos: number): true | Failure {
  let byResp = signers.get(ctx);
  let byKey = byResp?.get(resp);
  let v = byKey?.get(issuerKey.id);
  if (v === undefined) {
    const r = findSigner(ctx, resp, issuer, issuerKey);
    if (r === undefined) return budgetSpent("ocsp-bad-signature", pos, "OCSP response");
    v = r;
    if (!byResp) signers.set(ctx, (byResp = new WeakMap()));
    if (!byKey) byResp.set(resp, (byKey = new Map()));
    byKey.set(issuerKey.id, v);
  }
  return v === true ? true : failure(v.code, pos, v.detail);
}

/**
 * Who signed (RFC 6960 4.2.2.2): the CA itself, or a responder the CA delegated to with
 * id-kp-OCSPSigning. A candidate's names and extensions are read before its signature (a
 * candidate that does not decode is none); every real verification is charged. Undefined: the
 * budget is spent.
 */
function findSigner(ctx: OcspContext, resp: OcspResponse, issuer: Certificate, issuerKey: PublicKey): SignerVerdict | undefined {
  let badSig = false;
  if (responderMatches(resp, issuer)) {
    const r = verifyCharged(ctx, resp, issuerKey);
    if (r === undefined) return undefined;
    if (r === "ok") return true;
    badSig = true;
  }
  const issuerName = issuer.subject.key;
  for (const pool of [resp.certs, ctx.in.intermediates]) {
    for (const d of pool) {
      let pk: PublicKey;
      try {
        if (!responderMatches(resp, d) || d.issuer.key !== issuerName) continue;
        if (!d.extKeyUsage?.includes(OID.kpOcspSigning)) continue;
        if (resp.producedAt < d.notBefore || resp.producedAt > d.notAfter) continue;
        const ku = d.keyUsage;
        if (ku !== undefined && !(ku & KeyUsage.digitalSignature)) continue;
        pk = publicKeyOf(d.spki, d.spkiAlgorithm);
      } catch (err) {
        if (err instanceof DecodeError) continue;
        throw err;
      }
      const c = verifyCharged(ctx, d, issuerKey);
      if (c === undefined) return undefined;
      if (c !== "ok") continue;
      const r = verifyCharged(ctx, resp, pk);
      if (r === undefined) return undefined;
      if (r === "ok") return true;
      badSig = true;
    }
  }
  return badSig
    ? { code: "ocsp-bad-signature", detail: resp.signatureDefect ?? "OCSP response signature does not verify" }
    : { code: "ocsp-unauthorized-responder", detail: `OCSP responder is neither "${issuer.subject.display}" nor delegated by it` };
}

/** An answer from an authorised responder: "good", a Revocation after the validation time, or a Failure. */
function singleStatus(inputs: PathInputs, resp: OcspResponse, single: SingleResponse, pos: number): "good" | Revocation | Failure {
  const { time } = inputs;
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
