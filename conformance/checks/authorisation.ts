import { randomBytes } from "node:crypto";
import { makeCsr } from "../pkix.js";
import { isRefusal, type Issued } from "./fixtures.js";
import { fail, pass, skip, type Check, type CheckContext } from "./types.js";

/**
 * The holes an adversarial run found in a CA (issue 11), as checks any CA can
 * be put through: who may issue, who is an operator, whether a guesser can
 * lock a holder out, whether anyone can cancel a holder's renewal, and the
 * OCSP answers for requests a responder must not serve as asked.
 */

const statusChanged = (a: { status: string; reason?: string }, b: { status: string; reason?: string }) => a.status !== b.status || a.reason !== b.reason;

export const authorisationChecks: Check[] = [
  {
    id: "ISS-AUTH-REQUIRED",
    title: "Only the issuing station (RA) can have a certificate issued",
    source: "lifecycle policy: issue (keys generated on the card, at an issuing station); RFC 3647 4.1-4.3",
    level: "MUST",
    needs: ["issuanceAuthorisation"],
    async run(ctx) {
      // Mallory's own key, in the name of a holder the CA knows: without the station's credential, then with a made-up one.
      const victim = (await ctx.fx.auth()).holder;
      const csr = await makeCsr(victim.name);
      const attempts = [
        { what: "no credential", raToken: undefined },
        { what: "a made-up credential", raToken: randomBytes(32).toString("base64url") },
      ];
      const tried: Record<string, unknown>[] = [];
      for (const a of attempts) {
        try {
          const r = await ctx.ca.issue({ csrPem: csr.pem, profile: "authentication", holder: victim, cardExpiry: ctx.fx.defaultCardExpiry(), ...(a.raToken ? { raToken: a.raToken } : {}) });
          tried.push({ attempt: a.what, issued: r.serial, certificate: r.certificatePem });
        } catch (err) {
          if (!isRefusal(err)) throw err;
          tried.push({ attempt: a.what, refused: err.status, reason: err.reason, message: err.message });
        }
      }
      const ev = { holder: victim.id, request: csr.pem, attempts: tried };
      const issued = tried.filter((x) => x.issued);
      if (issued.length) return fail(`issued in ${victim.id}'s name for a caller with ${issued.map((x) => x.attempt).join(" and ")}`, ev);
      const other = tried.filter((x) => x.refused !== 401 && x.refused !== 403);
      if (other.length) return fail(`refused, but not for the credential (${other.map((x) => `${x.refused} ${x.reason}`).join(", ")}): a CA must say the caller may not issue`, ev);
      return pass("refused without the station's credential (401/403)", ev);
    },
  },
  {
    id: "REV-OPERATOR-AUTH",
    title: "Operator revocation needs an authenticated operator, not only the registration answers",
    source: "lifecycle policy: revoke (by an operator)",
    level: "MUST",
    needs: ["authorisation"],
    async run(ctx) {
      const c = await ctx.fx.issue("authentication");
      const before = await ctx.ca.status(c.issued.serial);
      // The holder id is the one registration answer anyone can learn (the card gives out its serial without a PIN).
      const answers = { holderId: c.holder.id };
      let refused: { status: number; reason: string } | undefined;
      try {
        await ctx.ca.revoke({ serial: c.issued.serial, reason: "keyCompromise", role: "operator", answers });
      } catch (err) {
        if (!isRefusal(err)) throw err;
        refused = { status: err.status, reason: err.reason };
      }
      const after = await ctx.ca.status(c.issued.serial);
      const ev = { serial: c.issued.serial, refused: refused ?? null, before: before.status, after: after.status };
      if (!refused) return fail("revoked as operator with nobody authenticated as an operator", ev);
      if (statusChanged(before, after)) return fail(`refused (${refused.status}) but the certificate is now ${after.status}`, ev);
      if (refused.status !== 401 && refused.status !== 403) return fail(`refused with ${refused.status} ${refused.reason}, not for the missing operator credential`, ev);
      return pass(`refused with ${refused.status} ${refused.reason}; certificate still good`, ev);
    },
  },
  {
    id: "REV-LOCKOUT-HOLDER",
    title: "Someone else's wrong codes do not lock the holder out",
    source: "lifecycle policy: revoke (by the holder with a cancellation code; lockout after wrong credentials)",
    level: "MUST",
    needs: ["authorisation", "cancellationCodes"],
    async run(ctx) {
      // A professional card: a guesser posing as its organisation's representative, then the holder.
      const c = await ctx.fx.issue("authentication", { holder: ctx.fx.holder("lockout", `Certify Lockout Org`) });
      const right = ctx.fx.codesFor(c.holder)?.holder;
      if (!right) return skip("the CA handed out no holder code: see REV-CANCELLATION-CODES");
      const guesses = ctx.policy.maxFailedAttempts * 2;
      const refusals: Record<string, number> = {};
      let accepted = 0;
      for (let i = 0; i < guesses; i++) {
        try {
          await ctx.ca.revoke({ serial: c.issued.serial, reason: "affiliationChanged", role: "authorised-representative", code: randomCode() });
          accepted++;
        } catch (err) {
          if (!isRefusal(err)) throw err;
          refusals[err.status] = (refusals[err.status] ?? 0) + 1;
        }
      }
      if (accepted) return skip("a guessed code was accepted, so nothing was left to lock: see REV-AUTH-WRONG-CODE", { serial: c.issued.serial, accepted });
      return holderStillRevokes(ctx, c, right, { guesses, guessRefusals: refusals });
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
          if (!isRefusal(err)) throw err;
        }
      }
      const csr = await makeCsr(old.holder.name);
      const ev: Record<string, unknown> = { serial: old.issued.serial, challengesAskedAfter: flood, handedOut };
      try {
        const r = await ctx.ca.renew(old.issued.serial, { csrPem: csr.pem, cardExpiry: ctx.fx.defaultCardExpiry(), ...proof });
        return pass(`the holder's renewal went through after ${flood} more challenges were asked for`, { ...ev, newSerial: r.serial });
      } catch (err) {
        if (!isRefusal(err)) throw err;
        return fail(`the holder's renewal was refused (${err.status} ${err.reason}) after ${flood} more challenges were asked for`, { ...ev, refused: err.status, reason: err.reason });
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

/** The holder's right code after the guesses: it must revoke. */
async function holderStillRevokes(ctx: CheckContext, c: Issued, code: string, ev: Record<string, unknown>) {
  const serial = c.issued.serial;
  try {
    const r = await ctx.ca.revoke({ serial, reason: "keyCompromise", role: "holder", code, email: c.holder.email, name: c.holder.name });
    return pass(`the holder revoked with the right code after ${ev.guesses} wrong guesses by someone else`, { serial, ...ev, revoked: r.status });
  } catch (err) {
    if (!isRefusal(err)) throw err;
    return fail(`the holder's right code was refused (${err.status} ${err.reason}) after someone else's wrong guesses`, { serial, ...ev, refused: err.status, reason: err.reason });
  }
}

/** A code-shaped guess: 16 Crockford base32 symbols. */
function randomCode(): string {
  const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  return Array.from(randomBytes(16), (b, i) => alphabet[b & 31] + (i % 4 === 3 && i < 15 ? "-" : "")).join("");
}
