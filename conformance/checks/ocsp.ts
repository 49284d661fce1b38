import { randomBytes } from "node:crypto";
import { REASON_CODES } from "../../core/index.js";
import { buildOcspRequest, certInfo, certSignedBy, EKU, keyHash, normSerial, ocspSignedBy, parseOcspResponse, type OcspInfo } from "../pkix.js";
import { fail, pass, Precondition, type Check, type CheckContext } from "./types.js";

const respEvidence = (r: OcspInfo, request?: Uint8Array) => ({
  ...(request ? { request: Buffer.from(request).toString("base64") } : {}),
  response: Buffer.from(r.der).toString("base64"),
  responseStatus: r.responseStatusName,
  producedAt: r.producedAt ?? null,
  responses: r.responses,
  nonce: r.nonce ?? null,
  responderByName: r.responderByName ?? null,
  responderByKeyHash: r.responderByKeyHash ?? null,
});

async function goodResponse(ctx: CheckContext) {
  const a = await ctx.fx.auth();
  return ctx.fx.once("ocsp-good", () => ctx.fx.ocsp([a.issued.serial]));
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

function single(r: OcspInfo, serial: string) {
  return r.responses.find((s) => s.serial === normSerial(serial));
}

export const ocspChecks: Check[] = [
  {
    id: "OCSP-POST",
    title: "The responder answers requests sent by HTTP POST",
    source: "RFC 6960 A.1",
    level: "MUST",
    needs: ["ocsp"],
    async run(ctx) {
      const a = await ctx.fx.auth();
      const issuer = await ctx.fx.issuerPem();
      const request = buildOcspRequest(issuer, [a.issued.serial]);
      let der: Uint8Array;
      try {
        der = await ctx.ca.ocsp(request, "POST");
      } catch (err) {
        return fail(`POST failed: ${(err as Error).message}`, { request: Buffer.from(request).toString("base64") });
      }
      const r = parseOcspResponse(der);
      const s = single(r, a.issued.serial);
      const ev = respEvidence(r, request);
      if (r.responseStatus !== 0) return fail(`responseStatus ${r.responseStatusName}`, ev);
      return s ? pass(`answered: ${s.status}`, ev) : fail("no SingleResponse for the requested serial", ev);
    },
  },
  {
    id: "OCSP-GET",
    title: "The responder answers requests sent by HTTP GET",
    source: "RFC 6960 A.1; RFC 5019 5",
    level: "SHOULD",
    needs: ["ocsp", "ocspGet"],
    async run(ctx) {
      const a = await ctx.fx.auth();
      let out;
      try {
        out = await ctx.fx.ocsp([a.issued.serial], { method: "GET" });
      } catch (err) {
        if (err instanceof Precondition) throw err;
        return fail(`GET failed: ${(err as Error).message}`, { serial: a.issued.serial });
      }
      const ev = respEvidence(out.response, out.request);
      const s = single(out.response, a.issued.serial);
      if (out.response.responseStatus !== 0) return fail(`responseStatus ${out.response.responseStatusName}`, ev);
      return s ? pass(`answered: ${s.status}`, ev) : fail("no SingleResponse for the requested serial", ev);
    },
  },
  {
    id: "OCSP-GOOD",
    title: "An issued, unrevoked certificate is good",
    source: "RFC 6960 2.2",
    level: "MUST",
    needs: ["ocsp"],
    async run(ctx) {
      const a = await ctx.fx.auth();
      const { request, response } = await goodResponse(ctx);
      const s = single(response, a.issued.serial);
      const ev = respEvidence(response, request);
      if (response.responseStatus !== 0) return fail(`responseStatus ${response.responseStatusName}`, ev);
      if (!s) return fail("no SingleResponse for the requested serial", ev);
      return s.status === "good" ? pass("good", ev) : fail(`answered ${s.status} for a valid certificate`, ev);
    },
  },
  {
    id: "OCSP-REVOKED",
    title: "A revoked certificate is revoked, with its reason and time",
    source: "RFC 6960 2.2, 4.2.1 (RevokedInfo)",
    level: "MUST",
    needs: ["ocsp"],
    async run(ctx) {
      const w = await ctx.fx.watch();
      if (!w.ocsp.seen) throw new Precondition("the responder never reported the revocation: see PROP-OCSP", { serial: w.cert.issued.serial });
      const r = w.ocsp.seen;
      const s = single(r, w.cert.issued.serial)!;
      const ev = { ...respEvidence(r), acknowledgedRevokedAt: w.revocation.revokedAt };
      if (s.status !== "revoked") return fail(`answered ${s.status}`, ev);
      if (s.reason !== REASON_CODES.keyCompromise) return fail(`revocationReason ${s.reason ?? "absent"}, expected keyCompromise (1)`, ev);
      const diff = Math.abs((s.revokedAt?.getTime() ?? 0) - w.revocation.revokedAt.getTime());
      if (diff >= 1000) return fail(`revocationTime is ${diff} ms away from the acknowledged revocation`, ev);
      return pass("revoked, keyCompromise, at the acknowledged time", ev);
    },
  },
  {
    id: "OCSP-UNKNOWN",
    title: "A serial the CA never issued is unknown (never good)",
    source: "RFC 6960 2.2",
    level: "MUST",
    needs: ["ocsp"],
    async run(ctx) {
      const serial = ctx.fx.unknownSerial();
      const { request, response } = await ctx.fx.ocsp([serial]);
      const ev = respEvidence(response, request);
      if (response.responseStatus !== 0) return fail(`responseStatus ${response.responseStatusName} instead of a certStatus of unknown`, ev);
      const s = single(response, serial);
      if (!s) return fail("no SingleResponse for the requested serial", ev);
      if (s.status === "unknown") return pass("unknown", ev);
      // RFC 6960 2.2 extended revoked definition: revoked, certificateHold, 1970-01-01.
      if (s.status === "revoked" && s.reason === REASON_CODES.certificateHold && s.revokedAt?.getTime() === 0) return pass("revoked (extended revoked definition)", ev);
      return fail(`answered ${s.status} for a serial never issued`, ev);
    },
  },
  {
    id: "OCSP-SIGNATURE",
    title: "Responses are signed by the responder they name",
    source: "RFC 6960 4.2.1, 3.2 (1)",
    level: "MUST",
    needs: ["ocsp"],
    async run(ctx) {
      const { response } = await goodResponse(ctx);
      const issuer = await ctx.fx.issuerPem();
      const signer = signerOf(response, issuer);
      const ev = { ...respEvidence(response), signer: signer ?? null, signatureAlgorithm: response.sigAlg ?? null };
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
    async run(ctx) {
      const { response } = await goodResponse(ctx);
      const issuer = await ctx.fx.issuerPem();
      const signer = signerOf(response, issuer);
      const ev = { ...respEvidence(response), signer: signer ?? null };
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
    async run(ctx) {
      const a = await ctx.fx.auth();
      const nonce = randomBytes(16);
      const { request, response } = await ctx.fx.ocsp([a.issued.serial], { nonce });
      const ev = { ...respEvidence(response, request), sentNonce: nonce.toString("hex") };
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
    async run(ctx) {
      const a = await ctx.fx.auth();
      const { response } = await goodResponse(ctx);
      const s = single(response, a.issued.serial);
      const now = ctx.clock.now();
      const ev = { ...respEvidence(response), now };
      if (!s) throw new Precondition("no SingleResponse to judge: see OCSP-GOOD");
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
    async run(ctx) {
      const garbage = new Uint8Array([0x30, 0x05, 0x02, 0x03, 0x01, 0x02]);
      let der: Uint8Array;
      try {
        der = await ctx.ca.ocsp(garbage, "POST");
      } catch (err) {
        return fail(`no OCSP response: ${(err as Error).message}`, { request: Buffer.from(garbage).toString("base64") });
      }
      let r: OcspInfo;
      try {
        r = parseOcspResponse(der);
      } catch {
        return fail("the answer is not an OCSPResponse", { answer: Buffer.from(der).toString("base64") });
      }
      const ev = respEvidence(r, garbage);
      return r.responseStatus === 1 ? pass("malformedRequest", ev) : fail(`responseStatus ${r.responseStatusName}`, ev);
    },
  },
];
