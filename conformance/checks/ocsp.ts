import { randomBytes } from "node:crypto";
import { REASON_CODES } from "../../core/index.js";
import { CaError } from "../../simulator/ca/index.js";
import { firstLine, harnessRefusal, judgeThrown } from "../judgement.js";
import { buildOcspRequest, certInfo, certSignedBy, EKU, keyHash, normSerial, OCSP_EXTENDED_REVOKE, ocspSignedBy, parseOcspResponse, singleFor, type OcspInfo } from "../pkix.js";
import type { Issued } from "./fixtures.js";
import { notShown, requestWindow, revokedWithinRequest, unanswered } from "./observe.js";
import { refusalEvidence } from "./refusals.js";
import { fail, NotJudged, pass, Precondition, type Check, type CheckContext, type Verdict } from "./types.js";

/**
 * The OCSP checks read the SingleResponse whose CertID names what was asked
 * (the serial AND the issuing CA's name and key hashes, RFC 6960 4.1.1), never
 * any answer for the serial. Responses that say nothing about the certificate
 * (tryLater, sigRequired) are not judged; the checks that judge a response's
 * signature, nonce or times skip when OCSP-GOOD already fails its status.
 * Requests and responses go into evidence as base64 DER (`howToRead`).
 */

const HOW_TO_READ =
  "base64 -d > resp.der; openssl ocsp -respin resp.der -resp_text -noverify (the request: base64 -d > req.der; openssl ocsp -reqin req.der -req_text)";

/** GeneralizedTime without fractions (RFC 5280 4.1.2.5.2, which responders follow): up to 999 ms before the instant. */
const OCSP_TIME_RESOLUTION_MS = 1000;

const b64 = (der: Uint8Array) => Buffer.from(der).toString("base64");

const respEvidence = (r: OcspInfo, request?: Uint8Array) => ({
  ...(request ? { request: b64(request) } : {}),
  response: b64(r.der),
  howToRead: HOW_TO_READ,
  responseStatus: r.responseStatusName,
  producedAt: r.producedAt ?? null,
  responses: r.responses,
  nonce: r.nonce ?? null,
  responderByName: r.responderByName ?? null,
  responderByKeyHash: r.responderByKeyHash ?? null,
});

/** What was asked about, for the evidence: the serial, its issuer (whose hashes the CertID carries) and the certificate. */
const askedFor = (c: Issued, issuerPem: string) => ({ serial: normSerial(c.issued.serial), issuer: certInfo(issuerPem).subject, certificate: c.issued.certificatePem });

/** A status that says nothing about the certificate (tryLater, sigRequired: observe.ts's `unanswered`) is not judged. */
function unansweredStatus(r: OcspInfo, ev: Record<string, unknown>): void {
  const nothing = unanswered(r);
  if (nothing) throw new NotJudged(nothing.why, nothing.message, nothing.fix, ev);
}

/** The nonce-less request for the professional card's authentication certificate, made once. */
async function goodResponse(ctx: CheckContext) {
  const a = await ctx.fx.auth();
  return ctx.fx.once("ocsp-good", () => ctx.fx.ocsp([a.issued.serial]));
}

/**
 * goodResponse, for the checks that judge a property of a successful answer
 * (signature, responder, times): a response that is not one, or has no
 * answer for the CertID asked, is OCSP-GOOD's to fail.
 */
async function answered(ctx: CheckContext) {
  const a = await ctx.fx.auth();
  const issuer = await ctx.fx.issuerPem();
  const { request, response } = await goodResponse(ctx);
  const ev = respEvidence(response, request);
  unansweredStatus(response, ev);
  if (response.responseStatus !== 0) throw new Precondition(`responseStatus ${response.responseStatusName}, no signed answer to judge: see OCSP-GOOD`, ev);
  const single = singleFor(response, issuer, a.issued.serial);
  if (!single) throw new Precondition("no SingleResponse for the CertID asked: see OCSP-GOOD", ev);
  return { a, issuer, request, response, single };
}

/** The certificate the response says signed it (byKey or byName), among the response's certs and the issuer. */
function signerOf(r: OcspInfo, issuerPem: string): string | undefined {
  const candidates = [...r.certsPem, issuerPem];
  if (r.responderByKeyHash) return candidates.find((c) => keyHash(c) === r.responderByKeyHash);
  const id = r.ocsp.responderId;
  if ("byName" in id) {
    // pki's name key: the RFC 5280 7.1 comparison a relying party makes
    return candidates.find((c) => certInfo(c).cert.subject.key === id.byName.key);
  }
  return undefined;
}

/** Why no SingleResponse answers the CertID asked: none at all, or one for the serial under another issuer. */
function noAnswer(r: OcspInfo, serial: string): string {
  const sameSerial = r.responses.find((s) => s.serial === normSerial(serial));
  return sameSerial
    ? `the SingleResponse for serial ${sameSerial.serial} names another issuer (its CertID's issuer hashes are not the issuing CA's): it answers a question not asked (RFC 6960 4.1.1, 4.2.2.3)`
    : "no SingleResponse for the CertID asked (RFC 6960 4.2.2.3)";
}

/**
 * An exchange that gave no OCSPResponse: a status that says nothing about the
 * request (`harnessRefusal`: a credential, throttling, a gateway) is not
 * judged; any other HTTP answer is the responder's, returned for the check to
 * judge. Anything else is thrown on, for judgement.ts (a transport error is
 * unreachable, not judged).
 */
function exchangeFailure(err: unknown, ev: Record<string, unknown>): { message: string; evidence: Record<string, unknown> } {
  const harness = harnessRefusal(err);
  if (harness) throw new NotJudged(harness.why, harness.message, harness.fix, { ...ev, ...harness.evidence });
  if (!(err instanceof CaError)) throw err;
  return { message: firstLine(err), evidence: { ...ev, ...refusalEvidence(err) } };
}

/** One exchange by `method` for the card's authentication certificate, judged as OCSP-POST and OCSP-GET do. */
async function answersBy(ctx: CheckContext, method: "POST" | "GET"): Promise<Verdict> {
  const a = await ctx.fx.auth();
  const issuer = await ctx.fx.issuerPem();
  const request = buildOcspRequest(issuer, [a.issued.serial]);
  const sent = {
    method,
    request: b64(request),
    // RFC 6960 A.1: GET {responder URL}/{url-encoding of base64 of the DER request}
    ...(method === "GET" ? { getPath: `/${encodeURIComponent(b64(request))}`, responderUrls: a.info.ocspUrls } : {}),
    ...askedFor(a, issuer),
  };
  let der: Uint8Array;
  try {
    der = await ctx.ca.ocsp(request, method);
  } catch (err) {
    const f = exchangeFailure(err, sent);
    return fail(`${method} failed: ${f.message}`, f.evidence);
  }
  const r = parseOcspResponse(der);
  const ev = { ...respEvidence(r, request), method, ...(method === "GET" ? { getPath: sent.getPath } : {}), ...askedFor(a, issuer) };
  unansweredStatus(r, ev);
  if (r.responseStatus !== 0) return fail(`responseStatus ${r.responseStatusName} for a well-formed ${method} request about a certificate the CA issued`, ev);
  const s = singleFor(r, issuer, a.issued.serial);
  return s ? pass(`answered: ${s.status}`, ev) : fail(noAnswer(r, a.issued.serial), ev);
}

export const ocspChecks: Check[] = [
  {
    id: "OCSP-POST",
    title: "The responder answers requests sent by HTTP POST",
    source: "RFC 6960 A.1",
    level: "MUST",
    needs: ["ocsp"],
    credentials: ["raToken"],
    judges: ["ocsp"],
    run: (ctx) => answersBy(ctx, "POST"),
  },
  {
    id: "OCSP-GET",
    title: "The responder answers requests sent by HTTP GET",
    source: "RFC 6960 A.1; RFC 5019 5",
    level: "SHOULD",
    needs: ["ocsp", "ocspGet"],
    credentials: ["raToken"],
    judges: ["ocsp"],
    run: (ctx) => answersBy(ctx, "GET"),
  },
  {
    id: "OCSP-GOOD",
    title: "An issued, unrevoked certificate is good",
    source: "RFC 6960 2.2",
    level: "MUST",
    needs: ["ocsp"],
    credentials: ["raToken"],
    judges: ["ocsp"],
    async run(ctx) {
      const a = await ctx.fx.auth();
      const issuer = await ctx.fx.issuerPem();
      const { request, response } = await goodResponse(ctx);
      const ev = { ...respEvidence(response, request), ...askedFor(a, issuer) };
      unansweredStatus(response, ev);
      if (response.responseStatus !== 0) return fail(`responseStatus ${response.responseStatusName} for a certificate the CA issued`, ev);
      const s = singleFor(response, issuer, a.issued.serial);
      if (!s) return fail(noAnswer(response, a.issued.serial), ev);
      return s.status === "good" ? pass("good", ev) : fail(`answered ${s.status} for a valid certificate`, ev);
    },
  },
  {
    id: "OCSP-REVOKED",
    title: "A revoked certificate is revoked, with its reason and time",
    source: "RFC 6960 2.2, 4.2.1 (RevokedInfo)",
    level: "MUST",
    needs: ["ocsp"],
    credentials: ["raToken"],
    judges: ["ocsp", "revocation"],
    async run(ctx) {
      const w = await ctx.fx.watch();
      const issuer = await ctx.fx.issuerPem();
      // the watch counts an answer as shown only when the SingleResponse for this CertID says revoked
      if (!w.ocsp.seen) throw notShown(w.ocsp, { name: "OCSP", propagationCheck: "PROP-OCSP" }, { serial: w.cert.issued.serial });
      const r = w.ocsp.seen;
      const s = singleFor(r, issuer, w.cert.issued.serial)!;
      const expected = REASON_CODES[w.reason];
      // the watch asks without a nonce, so this is the very request it sent
      const request = buildOcspRequest(issuer, [w.cert.issued.serial]);
      const skew = ctx.options.clockSkewMs;
      const ev = { ...respEvidence(r, request), ...askedFor(w.cert, issuer), askedReason: w.reason, acknowledgedRevokedAt: w.revocation.revokedAt, ...requestWindow(w, skew) };
      // RFC 5280 5.3.1: unspecified may be stated by leaving the reason out
      const reasonOk = s.reason === expected || (expected === REASON_CODES.unspecified && s.reason === undefined);
      if (!reasonOk) return fail(`revocationReason ${s.reason ?? "absent"}, expected ${w.reason} (${expected})`, ev);
      // the CA's own claim (revokedAt) is no yardstick alone: it may be as wrong as the answer (a day's midnight, say)
      const at = s.revokedAt ?? new Date(0);
      if (!revokedWithinRequest(at, w, skew, OCSP_TIME_RESOLUTION_MS)) {
        return fail(`revocationTime ${at.toISOString()} is not when the revocation happened: certify asked at ${new Date(w.requestedAtMs).toISOString()} and the CA acknowledged at ${new Date(w.acknowledgedAtMs).toISOString()} (RFC 6960 4.2.1: the time the certificate was revoked)`, ev);
      }
      const diff = Math.abs(at.getTime() - w.revocation.revokedAt.getTime());
      if (diff >= OCSP_TIME_RESOLUTION_MS) return fail(`revocationTime is ${diff} ms away from the acknowledged revocation`, ev);
      return pass(`revoked, ${w.reason}, at the acknowledged time, within the request`, ev);
    },
  },
  {
    id: "OCSP-UNKNOWN",
    title: "A serial the CA never issued is unknown (never good)",
    source: "RFC 6960 2.2",
    level: "MUST",
    needs: ["ocsp"],
    credentials: ["raToken"],
    judges: ["ocsp"],
    async run(ctx) {
      const serial = ctx.fx.unknownSerial();
      const issuer = await ctx.fx.issuerPem();
      const { request, response } = await ctx.fx.ocsp([serial]);
      const ev = { ...respEvidence(response, request), serial, issuer: certInfo(issuer).subject };
      unansweredStatus(response, ev);
      if (response.responseStatus !== 0) return fail(`responseStatus ${response.responseStatusName} instead of a certStatus of unknown`, ev);
      const s = singleFor(response, issuer, serial);
      if (!s) return fail(noAnswer(response, serial), ev);
      if (s.status === "unknown") return pass("unknown", ev);
      // RFC 6960 2.2 extended revoked definition: revoked, certificateHold, 1970-01-01, and the extension saying so (4.4.8).
      if (s.status === "revoked" && s.reason === REASON_CODES.certificateHold && s.revokedAt?.getTime() === 0) {
        return response.ocsp.extensions.has(OCSP_EXTENDED_REVOKE)
          ? pass("revoked (extended revoked definition)", ev)
          : fail("revoked with certificateHold at 1970-01-01 without the extended revoked definition extension (RFC 6960 2.2, 4.4.8)", ev);
      }
      return fail(`answered ${s.status} for a serial never issued`, ev);
    },
  },
  {
    id: "OCSP-SIGNATURE",
    title: "Responses are signed by the responder they name",
    source: "RFC 6960 4.2.1, 3.2 (1)",
    level: "MUST",
    needs: ["ocsp"],
    credentials: ["raToken"],
    judges: ["ocsp"],
    async run(ctx) {
      const { request, response, issuer } = await answered(ctx);
      const signer = signerOf(response, issuer);
      const ev = { ...respEvidence(response, request), signer: signer ?? null, issuerCertificate: issuer, signatureAlgorithm: response.sigAlg ?? null };
      if (!signer) return fail("the responder ID matches neither the issuing CA nor a certificate in the response", ev);
      return ocspSignedBy(response, signer) ? pass("signature verifies", ev) : fail("the response signature does not verify with the named responder's key", ev);
    },
  },
  {
    id: "OCSP-RESPONDER-AUTHORISED",
    title: "The responder is the CA or a responder the CA delegated (id-kp-OCSPSigning)",
    source: "RFC 6960 4.2.2.2",
    level: "MUST",
    needs: ["ocsp"],
    credentials: ["raToken"],
    judges: ["ocsp"],
    async run(ctx) {
      const { request, response, issuer } = await answered(ctx);
      const signer = signerOf(response, issuer);
      const ev = { ...respEvidence(response, request), signer: signer ?? null, issuerCertificate: issuer };
      if (!signer) return fail("the responder ID matches neither the issuing CA nor a certificate in the response", ev);
      if (keyHash(signer) === keyHash(issuer)) return pass("signed by the issuing CA", ev);
      const info = certInfo(signer);
      if (!(await certSignedBy(signer, issuer))) return fail(`the responder certificate (${info.subject}) was not issued by the CA`, ev);
      if (!info.extKeyUsage?.includes(EKU.ocspSigning)) return fail("the delegated responder certificate lacks id-kp-OCSPSigning", ev);
      return pass(`delegated responder ${info.subject}`, ev);
    },
  },
  {
    id: "OCSP-NONCE",
    title: "The nonce of a request is echoed in the response",
    source: "RFC 6960 4.4.1",
    level: "SHOULD",
    needs: ["ocsp"],
    credentials: ["raToken"],
    judges: ["ocsp"],
    async run(ctx) {
      const a = await ctx.fx.auth();
      const nonce = randomBytes(16);
      const { request, response } = await ctx.fx.ocsp([a.issued.serial], { nonce });
      const ev = { ...respEvidence(response, request), sentNonce: nonce.toString("hex") };
      unansweredStatus(response, ev);
      if (response.responseStatus !== 0) {
        // the same request without a nonce tells whether the nonce is the reason
        const plain = (await goodResponse(ctx)).response;
        if (plain.responseStatus !== 0) throw new Precondition(`responseStatus ${response.responseStatusName} with or without a nonce: see OCSP-GOOD`, ev);
        return fail(`responseStatus ${response.responseStatusName} for a request with a 16-octet nonce, while the same request without one is answered (RFC 8954 2.1: a responder that does not echo nonces ignores them)`, ev);
      }
      if (!response.nonce) return fail("no nonce in the response", ev);
      return response.ocsp.echoesNonce(nonce.toString("hex")) ? pass("nonce echoed", ev) : fail("a different nonce came back", ev);
    },
  },
  {
    id: "OCSP-TIMES",
    title: "thisUpdate is current and nextUpdate, when given, is still ahead",
    source: "RFC 6960 3.2 (4, 5), 4.2.2.1",
    level: "MUST",
    needs: ["ocsp"],
    credentials: ["raToken"],
    judges: ["ocsp"],
    async run(ctx) {
      const { request, response, single: s } = await answered(ctx);
      const now = ctx.clock.now();
      const ev = { ...respEvidence(response, request), now };
      if (s.thisUpdate.getTime() > now.getTime() + ctx.options.clockSkewMs) return fail("thisUpdate is in the future", ev);
      if (s.nextUpdate && s.nextUpdate <= s.thisUpdate) return fail("nextUpdate is not after thisUpdate", ev);
      if (s.nextUpdate && s.nextUpdate <= now) return fail(`nextUpdate ${s.nextUpdate.toISOString()} has passed: a stale response`, ev);
      return pass(`thisUpdate ${s.thisUpdate.toISOString()}, nextUpdate ${s.nextUpdate?.toISOString() ?? "none"}`, ev);
    },
  },
  {
    id: "OCSP-MALFORMED",
    title: "A malformed request gets a malformedRequest response",
    source: "RFC 6960 2.3, 4.2.1",
    level: "MUST",
    needs: ["ocsp"],
    credentials: ["raToken"],
    judges: ["ocsp"],
    /**
     * Passes only on an OCSPResponse whose status is malformedRequest (with
     * whatever HTTP status carried it). Decided:
     * - another OCSPResponse status: fail;
     * - an HTTP error without an OCSPResponse (4xx, 5xx): fail, the responder
     *   refused or crashed instead of answering (RFC 6960 2.3), except 401,
     *   429, 502, 503 and 504: not judged (a credential, throttling, a
     *   gateway: not about the request);
     * - a transport error: fail when a well-formed request over the same path
     *   is answered (the responder drops the connection on a malformed one),
     *   otherwise not judged (unreachable: nothing learnt about the request);
     * - anything else: thrown on, for judgement.ts (a bug in cardloop).
     */
    async run(ctx) {
      const garbage = new Uint8Array([0x30, 0x05, 0x02, 0x03, 0x01, 0x02]);
      const sent = { method: "POST", request: b64(garbage), howToRead: HOW_TO_READ };
      let der: Uint8Array;
      try {
        der = await ctx.ca.ocsp(garbage, "POST");
      } catch (err) {
        if (err instanceof CaError) {
          const f = exchangeFailure(err, sent);
          return fail(`no OCSPResponse, ${f.message}: RFC 6960 2.3 wants a malformedRequest response`, f.evidence);
        }
        if (judgeThrown(err).cause !== "unreachable" || !(await wellFormedAnswered(ctx))) throw err;
        const dropped = { ...sent, error: firstLine(err, 500) };
        return fail(`the responder dropped the connection on a malformed request (${dropped.error}) while it answers a well-formed one`, dropped);
      }
      let r: OcspInfo;
      try {
        r = parseOcspResponse(der);
      } catch {
        return fail("the answer is not an OCSPResponse", { ...sent, answer: b64(der) });
      }
      const ev = respEvidence(r, garbage);
      return r.responseStatus === 1 ? pass("malformedRequest", ev) : fail(`responseStatus ${r.responseStatusName} for a request that is not an OCSPRequest`, ev);
    },
  },
];

/** Whether a well-formed POST for the card's certificate gets an OCSPResponse at all. */
async function wellFormedAnswered(ctx: CheckContext): Promise<boolean> {
  try {
    const a = await ctx.fx.auth();
    parseOcspResponse(await ctx.ca.ocsp(buildOcspRequest(await ctx.fx.issuerPem(), [a.issued.serial]), "POST"));
    return true;
  } catch {
    return false;
  }
}
