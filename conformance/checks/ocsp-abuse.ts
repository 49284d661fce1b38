import { randomBytes } from "node:crypto";
import { CaError } from "../../simulator/ca/index.js";
import { harnessRefusal } from "../judgement.js";
import { buildOcspRequest, parseOcspResponse } from "../pkix.js";
import { refusalEvidence, refusedOtherwise } from "./refusals.js";
import { fail, pass, Precondition, type Check } from "./types.js";

/**
 * Requests an OCSP responder must not serve as asked (issue 11's holes):
 * a CertID of another issuer, a nonce out of range. Each first shows, with a
 * control, that the responder answers this CA's own request as it should.
 */
export const ocspAbuseChecks: Check[] = [
  {
    id: "OCSP-UNAUTHORIZED",
    title: "OCSP for a certificate of another issuer is answered unauthorized",
    source: "RFC 6960 2.3; RFC 5019 2.2.3",
    level: "SHOULD",
    needs: ["ocsp"],
    judges: ["ocsp"],
    credentials: ["raToken"],
    async run(ctx) {
      const a = await ctx.fx.auth();
      // The control: the same serial under this CA's own issuer is answered (successful). A responder that answers
      // nothing, or unauthorized to everything, would otherwise pass. What that exchange fails on is not judged here
      // (Fixtures.ocsp: throttling, no answer, an HTTP error OCSP-POST fails on).
      const own = await ctx.fx.ocsp([a.issued.serial]);
      if (own.response.responseStatus !== 0) {
        throw new Precondition(`the responder answers ${own.response.responseStatusName} for this CA's own certificate too: see OCSP-GOOD`, { responseStatus: own.response.responseStatusName });
      }
      // A CertID whose issuer is the end-entity certificate: a CA this responder certainly does not serve.
      const request = buildOcspRequest(a.issued.certificatePem, [a.issued.serial]);
      const ev: Record<string, unknown> = { serial: a.issued.serial, request: Buffer.from(request).toString("base64") };
      let der: Uint8Array;
      try {
        der = await ctx.ca.ocsp(request, "POST");
      } catch (err) {
        // No answer at all and a status that says nothing about the request are not judged (judgement.ts); an HTTP
        // error for a request that differs from the answered control only by its issuer is no OCSP response at all.
        if (!(err instanceof CaError)) throw err;
        const harness = harnessRefusal(err);
        if (harness) throw harness;
        return fail(`the responder answered HTTP ${err.status} (${err.reason}), not an OCSP response, for an issuer it does not serve: RFC 6960 2.3 asks for responseStatus unauthorized`, { ...ev, ...refusalEvidence(err) });
      }
      const response = parseOcspResponse(der);
      Object.assign(ev, { response: Buffer.from(response.der).toString("base64"), responseStatus: response.responseStatusName, responses: response.responses });
      if (response.responseStatus === 6) return pass("unauthorized", ev);
      const said = response.responses.map((s) => s.status).join(", ");
      return fail(`responseStatus ${response.responseStatusName}${said ? ` (${said})` : ""} for an issuer the responder does not serve`, ev);
    },
  },
  {
    id: "OCSP-NONCE-LENGTH",
    title: "An empty nonce or one over 128 octets is never echoed",
    source: "RFC 9654 2.1 (Nonce ::= OCTET STRING (SIZE(1..128)); obsoletes RFC 8954, whose limit was 32)",
    level: "MUST",
    needs: ["ocsp"],
    judges: ["ocsp"],
    credentials: ["raToken"],
    async run(ctx) {
      const a = await ctx.fx.auth();
      const issuerPem = await ctx.fx.issuerPem();
      // The control: a 32-octet nonce (right under both RFCs) is echoed. A responder that echoes no nonce at all does not
      // echo the out-of-range ones either, but shows nothing about lengths: that it echoes none is OCSP-NONCE's to judge.
      const control = await ctx.fx.ocsp([a.issued.serial], { nonce: randomBytes(CONTROL_NONCE_OCTETS) });
      if (control.response.nonce === undefined) {
        throw new Precondition(`the responder echoes no nonce, not even a ${CONTROL_NONCE_OCTETS}-octet one, so nothing shows it tells lengths apart: see OCSP-NONCE`, {
          responseStatus: control.response.responseStatusName,
        });
      }
      const results: Record<string, unknown>[] = [];
      const bad: string[] = [];
      // Out of range, refusing (malformedRequest, as RFC 8954 required) and answering without the nonce both keep the
      // response within the syntax; echoing signs attacker-chosen bytes of any size. 33-128 octets are where the
      // two RFCs differ: not judged.
      for (const length of [0, 129]) {
        const request = buildOcspRequest(issuerPem, [a.issued.serial], randomBytes(length));
        const row: Record<string, unknown> = { nonceLength: length, request: Buffer.from(request).toString("base64") };
        results.push(row);
        let der: Uint8Array;
        try {
          der = await ctx.ca.ocsp(request, "POST");
        } catch (err) {
          if (!(err instanceof CaError)) throw err;
          const harness = harnessRefusal(err);
          if (harness) throw harness;
          Object.assign(row, refusalEvidence(err));
          // The control, which differs only by the nonce's length, was answered: a 400 refuses this nonce, and signs nothing.
          if (err.status === 400) continue;
          if (err.status >= 500) {
            bad.push(`a ${length}-octet nonce made the responder fail (HTTP ${err.status} ${err.reason})`);
            continue;
          }
          throw refusedOtherwise(err, "an OCSP response, or a 400 refusing the nonce", { results });
        }
        const response = parseOcspResponse(der);
        const echoed = response.nonce !== undefined;
        Object.assign(row, { responseStatus: response.responseStatusName, echoed });
        if (echoed) bad.push(`a ${length}-octet nonce was echoed`);
      }
      const said = results.map((r) => r.responseStatus ?? `HTTP ${r.status}`).join(", ");
      return bad.length ? fail(bad.join("; "), { results }) : pass(`0 and 129 octets not echoed (${said}); a ${CONTROL_NONCE_OCTETS}-octet nonce was`, { results });
    },
  },
];

/** A nonce length both RFC 8954 and RFC 9654 allow, which a responder that echoes nonces echoes. */
const CONTROL_NONCE_OCTETS = 32;

