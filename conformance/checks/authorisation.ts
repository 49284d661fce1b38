import { randomBytes } from "node:crypto";
import type { RevokeRequest } from "../../simulator/ca/index.js";
import { makeCsr } from "../pkix.js";
import type { Issued } from "./fixtures.js";
import { isCaRefusal, refusal, Throttling, wrongCode } from "./refusals.js";
import { fail, pass, skip, type Check, type CheckContext } from "./types.js";

/**
 * The holes an adversarial run found in a CA (issue 11), as checks any CA can
 * be put through: who may issue, who is an operator, whether a guesser can
 * lock a holder out, whether anyone can cancel a holder's renewal, and the
 * OCSP answers for requests a responder must not serve as asked.
 */

const statusChanged = (a: { status: string; reason?: string }, b: { status: string; reason?: string }) => a.status !== b.status || a.reason !== b.reason;

/** What one attempt got: accepted, or refused with the CA's status and reason. */
interface Attempt {
  attempt: string;
  accepted?: boolean;
  refused?: number;
  reason?: string;
}

const describeRefusals = (tried: Attempt[]) => tried.map((x) => `${x.attempt}: ${x.refused} ${x.reason}`).join("; ");

export const authorisationChecks: Check[] = [
  {
    id: "ISS-AUTH-REQUIRED",
    title: "Only the issuing station (RA) can have a certificate issued",
    source: "lifecycle policy: issue (keys generated on the card, at an issuing station); RFC 3647 4.1-4.3",
    level: "MUST",
    needs: ["issuanceAuthorisation"],
    async run(ctx) {
      // Mallory's own key, in the name of a holder the CA knows: without the station's credential, with a made-up
      // one, and with the operator's (a credential of the CA's, for another role).
      const victim = (await ctx.fx.auth()).holder;
      const csr = await makeCsr(victim.name);
      const { operatorToken } = ctx.fx.credentials();
      const attempts = [
        { what: "no credential", raToken: undefined },
        { what: "a made-up credential", raToken: randomBytes(32).toString("base64url") },
        ...(operatorToken ? [{ what: "the operator's token", raToken: operatorToken }] : []),
      ];
      const tried: (Attempt & { issued?: string; certificate?: string })[] = [];
      for (const a of attempts) {
        try {
          const r = await ctx.ca.issue({ csrPem: csr.pem, profile: "authentication", holder: victim, cardExpiry: ctx.fx.defaultCardExpiry(), raToken: a.raToken });
          tried.push({ attempt: a.what, accepted: true, issued: r.serial, certificate: r.certificatePem });
        } catch (err) {
          if (!isCaRefusal(err)) throw err;
          tried.push({ attempt: a.what, refused: err.status, reason: err.reason });
        }
      }
      const ev = { holder: victim.id, request: csr.pem, attempts: tried, ...(operatorToken ? {} : { notTried: "the operator's token (certify holds none)" }) };
      const issued = tried.filter((x) => x.accepted);
      if (issued.length) return fail(`issued in ${victim.id}'s name for a caller with ${issued.map((x) => x.attempt).join(" and ")}`, ev);
      const other = tried.filter((x) => x.refused !== 401 && x.refused !== 403);
      if (other.length) return fail(`refused, but not for the credential (${describeRefusals(other)}): a CA must say the caller may not issue`, ev);
      return pass(`refused without the station's credential (${describeRefusals(tried)})`, ev);
    },
  },
  {
    id: "REV-OPERATOR-AUTH",
    title: "Operator revocation needs the operator's credential and the registration answers, both",
    source: "lifecycle policy: revoke (by an operator)",
    level: "MUST",
    needs: ["authorisation"],
    async run(ctx) {
      const reason = ctx.fx.reasonFor("operator");
      if (!reason) return skip(`the policy ${ctx.policy.name} lets the operator give none of a card's reasons`);
      const c = await ctx.fx.issue("authentication");
      const serial = c.issued.serial;
      const before = await ctx.ca.status(serial);
      // The holder id is the one registration answer anyone can learn (the card gives out its serial without a PIN).
      const answers = { holderId: c.holder.id };
      const { raToken, operatorToken } = ctx.fx.credentials();
      const t = new Throttling();
      const revoke = (extra: Partial<RevokeRequest>) => ctx.ca.revoke({ serial, reason, role: "operator", answers, ...extra });
      // Each must be refused: a token is judged by its status (401/403); wrong answers by the certificate staying good.
      const attempts: { what: string; token: boolean; send: () => Promise<unknown> }[] = [
        { what: "the registration answers alone", token: true, send: () => revoke({}) },
        ...(raToken ? [{ what: "the issuing station's (RA) token", token: true, send: () => revoke({ operatorToken: raToken }) }] : []),
        ...(operatorToken
          ? [{ what: "the operator's token with wrong answers", token: false, send: () => ctx.fx.unthrottled(() => revoke({ operatorToken, answers: { holderId: wrongCode(c.holder.id) } }), t) }]
          : []),
      ];
      const tried: Attempt[] = [];
      for (const a of attempts) {
        try {
          await a.send();
          tried.push({ attempt: a.what, accepted: true });
          break; // the certificate is revoked: nothing further to try on it
        } catch (err) {
          if (a.token) {
            if (!isCaRefusal(err)) throw err;
            tried.push({ attempt: a.what, refused: err.status, reason: err.reason });
          } else {
            const r = refusal(err);
            tried.push({ attempt: a.what, refused: r.status, reason: r.reason });
          }
        }
      }
      const after = await ctx.ca.status(serial);
      const ev: Record<string, unknown> = { serial, attempts: tried, before: before.status, after: after.status, ...(t.waitedMs !== undefined ? { throttledWaitMs: t.waitedMs } : {}) };
      const accepted = tried.filter((x) => x.accepted);
      if (accepted.length) return fail(`revoked as operator with ${accepted[0].attempt}`, ev);
      if (statusChanged(before, after)) return fail(`refused (${describeRefusals(tried)}) but the certificate is now ${after.status}`, ev);
      const tokenRefusals = tried.filter((x, i) => attempts[i].token && x.refused !== 401 && x.refused !== 403);
      if (tokenRefusals.length) return fail(`refused, but not for the operator's credential (${describeRefusals(tokenRefusals)})`, ev);
      // The positive control: with the token and the right answers the operator revokes, so the refusals above were
      // about what was missing, not a CA that lets no operator revoke.
      const token = ctx.fx.operatorToken();
      try {
        const r = await ctx.fx.unthrottled(() => revoke({ operatorToken: token }), t);
        ev.control = { revoked: r.status };
      } catch (err) {
        const r = refusal(err);
        ev.control = { refused: r.status, reason: r.reason };
        return fail(`the operator with the token and the right answers was refused (${r.status} ${r.reason}): the refusals show nothing`, ev);
      }
      return pass(`refused (${describeRefusals(tried)}); with the token and the right answers the operator revoked`, ev);
    },
  },
  {
    id: "REV-LOCKOUT-HOLDER",
    title: "Someone else's wrong codes in another role do not lock the holder out",
    source: "lifecycle policy: revoke (by the holder with a cancellation code; lockout after wrong credentials)",
    level: "MUST",
    needs: ["authorisation", "cancellationCodes"],
    async run(ctx) {
      // A professional card: a guesser posing as its organisation's authorised representative, then the holder, both
      // from certify's one address. What is shown is that a lockout keeps roles apart (the old embedded CA locked the
      // certificate for everyone); whether it keeps addresses apart needs a second one, which certify does not have.
      const guesserReason = ctx.fx.reasonFor("authorised-representative");
      const holderReason = ctx.fx.reasonFor("holder");
      if (!guesserReason || !holderReason) return skip(`the policy ${ctx.policy.name} lets the ${guesserReason ? "holder" : "authorised representative"} give none of a card's reasons`);
      const c = await ctx.fx.issue("authentication", { holder: ctx.fx.holder("lockout", `Certify Lockout Org`) });
      const codes = ctx.fx.codesFor(c.holder);
      const right = codes?.holder;
      if (!right) return skip("the CA handed out no holder code: see REV-CANCELLATION-CODES");
      const near = codes.authorisedRepresentative ?? right;
      const guesses = ctx.policy.maxFailedAttempts * 2;
      const refusals: Record<string, number> = {};
      let accepted = 0;
      for (let i = 0; i < guesses; i++) {
        try {
          await ctx.ca.revoke({ serial: c.issued.serial, reason: guesserReason, role: "authorised-representative", code: wrongCode(near, i) });
          accepted++;
        } catch (err) {
          if (!isCaRefusal(err)) throw err;
          refusals[err.status] = (refusals[err.status] ?? 0) + 1;
        }
      }
      if (accepted) return skip("a guessed code was accepted, so nothing was left to lock: see REV-AUTH-WRONG-CODE", { serial: c.issued.serial, accepted });
      return holderStillRevokes(ctx, c, right, holderReason, { guesses, guessRole: "authorised-representative", guessRefusals: refusals });
    },
  },
  {
    id: "REN-CHALLENGE-FLOOD",
    title: "Asking for renewal challenges cannot cancel the holder's renewal",
    source: "lifecycle policy: renew (at a terminal, with the card and its PIN)",
    level: "MUST",
    needs: ["renew", "renewalAuthorisation"],
    async run(ctx) {
      const old = await ctx.fx.issueRenewable("authentication");
      const proof = await ctx.fx.renewalProof(old);
      // Anyone can ask for challenges on a serial (serials are public on the CRL).
      const flood = 20;
      let handedOut = 0;
      for (let i = 0; i < flood; i++) {
        try {
          await ctx.ca.renewalChallenge!(old.issued.serial);
          handedOut++;
        } catch (err) {
          // A CA may well refuse to hand out so many (429 included): what matters is the holder's renewal after.
          if (!isCaRefusal(err)) throw err;
        }
      }
      const csr = await makeCsr(old.holder.name);
      const ev: Record<string, unknown> = { serial: old.issued.serial, challengesAskedAfter: flood, handedOut };
      try {
        const r = await ctx.ca.renew(old.issued.serial, { csrPem: csr.pem, cardExpiry: ctx.fx.defaultCardExpiry(), ...proof });
        return pass(`the holder's renewal went through after ${flood} more challenges were asked for`, { ...ev, newSerial: r.serial });
      } catch (err) {
        const r = refusal(err);
        return fail(`the holder's renewal was refused (${r.status} ${r.reason}) after ${flood} more challenges were asked for`, { ...ev, refused: r.status, reason: r.reason });
      }
    },
  },
  {
    id: "OCSP-UNAUTHORIZED",
    title: "OCSP for a certificate of another issuer is answered unauthorized",
    source: "RFC 6960 2.3; RFC 5019 2.2.3",
    level: "SHOULD",
    needs: ["ocsp"],
    async run(ctx) {
      const a = await ctx.fx.auth();
      // A CertID whose issuer is the end-entity certificate: a CA this responder certainly does not serve.
      const { request, response } = await ctx.fx.ocspFor(a.issued.certificatePem, [a.issued.serial]);
      const ev = { request: Buffer.from(request).toString("base64"), response: Buffer.from(response.der).toString("base64"), responseStatus: response.responseStatusName, responses: response.responses };
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
    async run(ctx) {
      const a = await ctx.fx.auth();
      const results: Record<string, unknown>[] = [];
      const bad: string[] = [];
      // Out of range, refusing (malformedRequest, as RFC 8954 required) and answering without the nonce both keep the
      // response within the syntax; echoing signs attacker-chosen bytes of any size. 33-128 octets are where the
      // two RFCs differ: not judged; that a good nonce is echoed is OCSP-NONCE's to judge.
      for (const length of [0, 129]) {
        const { request, response } = await ctx.fx.ocsp([a.issued.serial], { nonce: randomBytes(length) });
        const echoed = response.nonce !== undefined;
        results.push({ nonceLength: length, request: Buffer.from(request).toString("base64"), responseStatus: response.responseStatusName, echoed });
        if (echoed) bad.push(`a ${length}-octet nonce was echoed`);
      }
      return bad.length ? fail(bad.join("; "), { results }) : pass(`0 and 129 octets not echoed (${results.map((r) => r.responseStatus).join(", ")})`, { results });
    },
  },
];

/**
 * The holder's right code after the guesses: it must revoke. A 429 is judged
 * only when it is about this certificate, not the CA throttling certify's
 * whole address (`unthrottled`).
 */
async function holderStillRevokes(ctx: CheckContext, c: Issued, code: string, reason: RevokeRequest["reason"], ev: Record<string, unknown>) {
  const serial = c.issued.serial;
  const t = new Throttling();
  const waited = () => (t.waitedMs !== undefined ? { throttledWaitMs: t.waitedMs } : {});
  try {
    const r = await ctx.fx.unthrottled(() => ctx.ca.revoke({ serial, reason, role: "holder", code, email: c.holder.email, name: c.holder.name }), t);
    return pass(`the holder revoked with the right code after ${ev.guesses} wrong guesses by someone else in another role`, { serial, ...ev, ...waited(), revoked: r.status });
  } catch (err) {
    if (!isCaRefusal(err)) throw err;
    return fail(`the holder's right code was refused (${err.status} ${err.reason}) after someone else's wrong guesses in another role`, { serial, ...ev, ...waited(), refused: err.status, reason: err.reason });
  }
}
