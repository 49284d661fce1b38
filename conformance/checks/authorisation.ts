import { randomBytes } from "node:crypto";
import { CaError, type RevokeRequest } from "../../simulator/ca/index.js";
import { buildOcspRequest, makeCsr, parseOcspResponse } from "../pkix.js";
import type { Issued } from "./fixtures.js";
import { isCaRefusal, notJudged, refusal, refusalEvidence, refusedFor, refusedOtherwise, throttled, Throttling, wrongCode, type ExpectedRefusal } from "./refusals.js";
import { fail, NotJudged, pass, Precondition, skip, type Check, type CheckContext } from "./types.js";

/**
 * The holes an adversarial run found in a CA (issue 11), as checks any CA can
 * be put through: who may issue, who is an operator, whether a guesser can
 * lock a holder out, whether anyone can cancel a holder's renewal, and the
 * OCSP answers for requests a responder must not serve as asked.
 *
 * Each refusal counts only when it is for the reason the check is about (the
 * statuses and reason codes below, as the CAs cardloop knows give them); a
 * refusal for another reason teaches nothing, and the check is not judged.
 */

/**
 * The caller's credential is missing, nobody's, or another role's. HTTP says
 * 401 is about authentication whatever the reason code; a 403 counts only
 * with a reason about the credential (not, say, reason-not-allowed): the
 * embedded CA and a served one answer 401 credential-required / bad-credential
 * and 403 forbidden (another role's token).
 */
const CREDENTIAL_REFUSED: ExpectedRefusal = {
  what: "a refusal of the caller's credential (401, or 403 forbidden)",
  rules: [{ status: [401] }, { status: [403], reason: ["forbidden", "bad-credential", "credential-required", "wrong-role", "unauthorized", "unauthorised"] }],
};

/** Registration answers that are wrong, with the right token: 403 forbidden (the embedded CA, a served one). */
const WRONG_ANSWERS_REFUSED: ExpectedRefusal = {
  what: "a refusal of the wrong registration answers (403 forbidden)",
  rules: [{ status: [403], reason: ["forbidden", "bad-answers", "wrong-answers"] }],
};

/** A wrong cancellation code: 403 forbidden (the embedded CA, a served one). */
const WRONG_CODE_REFUSED: ExpectedRefusal = {
  what: "a refusal of the wrong code (403 forbidden)",
  rules: [{ status: [403], reason: ["forbidden", "bad-code", "wrong-code"] }],
};

/** Locked out after wrong codes: 429 too-many-attempts (the embedded CA: the caller waits), 423 locked. */
const LOCKED_OUT: ExpectedRefusal = {
  what: "a lockout (429 too-many-attempts, 423 locked)",
  rules: [{ status: [423, 429] }, { status: [403], reason: ["locked"] }],
};

/** The holder's right code refused after someone else's guesses: what a lockout that spans roles answers. */
const HOLDER_LOCKED_OUT: ExpectedRefusal = {
  what: "a refusal of the holder's code (403) or a lockout (423, 429)",
  rules: [...WRONG_CODE_REFUSED.rules, ...LOCKED_OUT.rules],
};

/**
 * The renewal's challenge is gone: 403 bad-challenge (the embedded CA: not
 * this CA's, expired, used; a CA that evicts challenges answers the same).
 */
const CHALLENGE_REFUSED: ExpectedRefusal = {
  what: "a refusal of the renewal challenge (403 bad-challenge)",
  rules: [{ status: [403, 409, 410], reason: ["bad-challenge", "challenge-expired", "unknown-challenge"] }],
};

const statusChanged = (a: { status: string; reason?: string }, b: { status: string; reason?: string }) => a.status !== b.status || a.reason !== b.reason;

/** What one attempt got: accepted, or refused with the CA's status and reason. */
interface Attempt {
  attempt: string;
  accepted?: boolean;
  refused?: number;
  reason?: string;
  caMessage?: string;
}

const describeRefusals = (tried: Attempt[]) => tried.map((x) => `${x.attempt}: ${x.refused} ${x.reason}`).join("; ");

/** A refusal as an attempt's record. */
const refused = (attempt: string, err: CaError): Attempt => {
  const r = refusalEvidence(err);
  return { attempt, refused: r.status, reason: r.reason, caMessage: r.caMessage };
};

/** A 4xx the check reads itself (a 401 is the answer it wants), but a 429 is throttling: not judged. */
function readRefusal(err: unknown): CaError {
  if (!isCaRefusal(err)) throw err;
  if (err.status === 429) throw throttled(err);
  return err;
}

export const authorisationChecks: Check[] = [
  {
    id: "ISS-AUTH-REQUIRED",
    title: "Only the issuing station (RA) can have a certificate issued",
    source: "lifecycle policy: issue (keys generated on the card, at an issuing station); RFC 3647 4.1-4.3",
    level: "MUST",
    needs: ["issuanceAuthorisation"],
    judges: ["issuance"],
    // The operator's token is sent as an issuing credential: a token of the CA's for another role must not issue.
    credentials: ["raToken", "operatorToken"],
    async run(ctx) {
      // Mallory's own key, in the name of a holder the CA knows: without the station's credential, with a made-up
      // one, and with the operator's (a credential of the CA's, for another role).
      const victim = (await ctx.fx.auth()).holder;
      const csr = await makeCsr(victim.name);
      // Undefined only for a CA that checks no operator credential (then there is no such token to try).
      const operatorToken = ctx.fx.operatorToken();
      const attempts = [
        { what: "no credential", raToken: undefined },
        { what: "a made-up credential", raToken: randomBytes(32).toString("base64url") },
        ...(operatorToken ? [{ what: "the operator's token", raToken: operatorToken }] : []),
      ];
      const tried: (Attempt & { issued?: string; certificate?: string })[] = [];
      const others: CaError[] = [];
      for (const a of attempts) {
        try {
          const r = await ctx.ca.issue({ csrPem: csr.pem, profile: "authentication", holder: victim, cardExpiry: ctx.fx.defaultCardExpiry(), raToken: a.raToken });
          tried.push({ attempt: a.what, accepted: true, issued: r.serial, certificate: r.certificatePem });
        } catch (err) {
          const r = readRefusal(err);
          tried.push(refused(a.what, r));
          if (!refusedFor(r, CREDENTIAL_REFUSED)) others.push(r);
        }
      }
      const ev = { holder: victim.id, request: csr.pem, attempts: tried, ...(operatorToken ? {} : { notTried: "the operator's token (this CA checks no operator credential)" }) };
      const issued = tried.filter((x) => x.accepted);
      if (issued.length) return fail(`the CA issued in ${victim.id}'s name to a caller with ${issued.map((x) => x.attempt).join(" and ")}: only the issuing station may have certificates issued`, ev);
      // A 400 about the body says nothing of whether the CA would issue without the credential.
      if (others.length) throw refusedOtherwise(others[0], CREDENTIAL_REFUSED.what, ev);
      return pass(`refused without the station's credential (${describeRefusals(tried)})`, ev);
    },
  },
  {
    id: "REV-OPERATOR-AUTH",
    title: "Operator revocation needs the operator's credential and the registration answers, both",
    source: "lifecycle policy: revoke (by an operator)",
    level: "MUST",
    needs: ["authorisation"],
    judges: ["revocation", "status"],
    credentials: ["raToken", "operatorToken"],
    async run(ctx) {
      const reason = ctx.fx.reasonFor("operator");
      if (!reason) return skip(`the policy ${ctx.policy.name} lets the operator give none of a card's reasons`);
      const c = await ctx.fx.issue("authentication");
      const serial = c.issued.serial;
      const before = await ctx.ca.status(serial);
      // The holder id is the one registration answer anyone can learn (the card gives out its serial without a PIN).
      const answers = { holderId: c.holder.id };
      const { raToken } = ctx.fx.credentials();
      const operatorToken = ctx.fx.operatorToken();
      const t = new Throttling();
      const revoke = (extra: Partial<RevokeRequest>) => ctx.ca.revoke({ serial, reason, role: "operator", answers, ...extra });
      // Each must be refused for what it lacks: a token by a credential refusal (401/403); wrong answers by 403.
      const attempts: { what: string; expected: ExpectedRefusal; send: () => Promise<unknown> }[] = [
        { what: "the registration answers alone", expected: CREDENTIAL_REFUSED, send: () => revoke({}) },
        ...(raToken ? [{ what: "the issuing station's (RA) token", expected: CREDENTIAL_REFUSED, send: () => revoke({ operatorToken: raToken }) }] : []),
        ...(operatorToken
          ? [{ what: "the operator's token with wrong answers", expected: WRONG_ANSWERS_REFUSED, send: () => ctx.fx.unthrottled(() => revoke({ operatorToken, answers: { holderId: wrongCode(c.holder.id) } }), t) }]
          : []),
      ];
      const tried: Attempt[] = [];
      let other: { err: CaError; expected: ExpectedRefusal } | undefined;
      for (const a of attempts) {
        try {
          await a.send();
          tried.push({ attempt: a.what, accepted: true });
          break; // the certificate is revoked: nothing further to try on it
        } catch (err) {
          // The wrong answers come with the right token: a 401 there is a token certify got wrong, not judged.
          const r = a.expected === CREDENTIAL_REFUSED ? readRefusal(err) : refusal(err);
          tried.push(refused(a.what, r));
          if (!other && !refusedFor(r, a.expected)) other = { err: r, expected: a.expected };
        }
      }
      const after = await ctx.ca.status(serial);
      const ev: Record<string, unknown> = { serial, reason, attempts: tried, before: before.status, after: after.status, ...(t.waitedMs !== undefined ? { throttledWaitMs: t.waitedMs } : {}) };
      const accepted = tried.filter((x) => x.accepted);
      if (accepted.length) return fail(`the CA revoked as operator with ${accepted[0].attempt}: operator revocation needs the operator's token and the registration answers`, ev);
      if (statusChanged(before, after)) return fail(`the CA refused (${describeRefusals(tried)}) but the certificate is now ${after.status}`, ev);
      if (other) throw refusedOtherwise(other.err, other.expected.what, ev);
      // The positive control: with the token and the right answers the operator revokes, so the refusals above were
      // about what was missing, not a CA that lets no operator revoke.
      try {
        const r = await ctx.fx.unthrottled(() => revoke({ operatorToken }), t);
        ev.control = { revoked: r.status };
      } catch (err) {
        const r = refusal(err);
        ev.control = refusalEvidence(r);
        if (!refusedFor(r, CREDENTIAL_REFUSED)) throw refusedOtherwise(r, "a revocation by the operator with the token and the right answers", ev);
        return fail(`the operator with the token and the right registration answers was refused (${r.status} ${r.reason}): no operator can revoke, so the refusals above show nothing`, ev);
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
    judges: ["revocation"],
    credentials: ["raToken"],
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
      let wrong = 0;
      let locked = 0;
      let firstLockout: CaError | undefined;
      for (let i = 0; i < guesses; i++) {
        try {
          await ctx.ca.revoke({ serial: c.issued.serial, reason: guesserReason, role: "authorised-representative", code: wrongCode(near, i) });
          accepted++;
        } catch (err) {
          if (!isCaRefusal(err)) throw err;
          if (err.status === 401) notJudged(err);
          refusals[`${err.status} ${err.reason}`] = (refusals[`${err.status} ${err.reason}`] ?? 0) + 1;
          if (refusedFor(err, WRONG_CODE_REFUSED)) wrong++;
          else if (refusedFor(err, LOCKED_OUT)) {
            locked++;
            firstLockout ??= err;
          }
          // A guess refused before its code was looked at (a role, a reason, the body) locks nothing out.
          else throw refusedOtherwise(err, `${WRONG_CODE_REFUSED.what} or ${LOCKED_OUT.what}`, { serial: c.issued.serial, guess: i + 1, guessRefusals: refusals });
        }
      }
      const ev = { serial: c.issued.serial, guesses, guessRole: "authorised-representative", guessRefusals: refusals };
      if (accepted) return skip("a guessed code was accepted, so nothing was left to lock: see REV-AUTH-WRONG-CODE", { ...ev, accepted });
      if (!wrong && firstLockout) {
        // Every guess was refused before its code was checked: the address was throttled already, nothing was locked.
        const t = throttled(firstLockout);
        throw new NotJudged(t.why, t.message, t.fix, { ...t.evidence, ...ev });
      }
      if (!locked) throw new Precondition(`the guesser was not locked out after ${guesses} wrong codes, so nothing shows a lockout keeps roles apart: see REV-AUTH-LOCKOUT`, ev);
      return holderStillRevokes(ctx, c, right, holderReason, ev);
    },
  },
  {
    id: "REN-CHALLENGE-FLOOD",
    title: "Asking for renewal challenges cannot cancel the holder's renewal",
    source: "lifecycle policy: renew (at a terminal, with the card and its PIN)",
    level: "MUST",
    needs: ["renew", "renewalAuthorisation"],
    judges: ["renewal"],
    credentials: ["raToken"],
    async run(ctx) {
      const old = await ctx.fx.issueRenewable("authentication");
      const proof = await ctx.fx.renewalProof(old);
      // Anyone can ask for challenges on a serial (serials are public on the CRL).
      const flood = 20;
      let handedOut = 0;
      const limited: CaError[] = [];
      for (let i = 0; i < flood; i++) {
        try {
          await ctx.ca.renewalChallenge!(old.issued.serial);
          handedOut++;
        } catch (err) {
          if (!isCaRefusal(err)) throw err;
          if (err.status === 401) notJudged(err);
          // A CA may well refuse to hand out so many (429): then no one can flood it either. Any other refusal means
          // the flood never reached the challenges, and the holder's renewal after it shows nothing.
          if (err.status !== 429) throw refusedOtherwise(err, "a renewal challenge (or 429: too many asked for)", { serial: old.issued.serial, handedOut });
          limited.push(err);
        }
      }
      const ev: Record<string, unknown> = { serial: old.issued.serial, challengesAskedAfter: flood, handedOut, refusedAsTooMany: limited.length };
      if (!handedOut) throw new NotJudged("throttled", `the CA handed out none of ${flood} further challenges (429): whether a flood would cancel the holder's renewal is unknown`, "run again later, or from another address", ev);
      const csr = await makeCsr(old.holder.name);
      try {
        const r = await ctx.ca.renew(old.issued.serial, { csrPem: csr.pem, cardExpiry: ctx.fx.defaultCardExpiry(), ...proof });
        return pass(`the holder's renewal went through after ${handedOut} more challenges were handed out`, { ...ev, newSerial: r.serial });
      } catch (err) {
        const r = refusal(err);
        Object.assign(ev, { renewal: refusalEvidence(r) });
        if (!refusedFor(r, CHALLENGE_REFUSED)) throw refusedOtherwise(r, CHALLENGE_REFUSED.what, ev);
        return fail(`the holder's renewal was refused (${r.status} ${r.reason}) after ${handedOut} more challenges were handed out: anyone who knows the serial can cancel a holder's renewal`, ev);
      }
    },
  },
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
      // nothing, or unauthorized to everything, would otherwise pass.
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
        // Transport errors and 401/429 are not judged (judgement.ts); an HTTP error for a request that differs from the
        // answered control only by its issuer is no OCSP response at all.
        if (!(err instanceof CaError)) throw err;
        notJudgedIfCredentialOrThrottled(err);
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
          notJudgedIfCredentialOrThrottled(err);
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

/** A 401 (a credential certify did not send) or a 429 (throttled) is not judged (refusals.ts); any other error is the caller's. */
function notJudgedIfCredentialOrThrottled(err: CaError): void {
  if (err.status === 401 || err.status === 429) notJudged(err);
}

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
    return pass(`the holder revoked with the right code after ${ev.guesses} wrong guesses by someone else in another role`, { ...ev, ...waited(), revoked: r.status });
  } catch (err) {
    // A 429 that `unthrottled` lets through is about this certificate (the address is not throttled): judged.
    if (!isCaRefusal(err)) throw err;
    if (err.status === 401) notJudged(err);
    const r = err;
    const out = { ...ev, ...waited(), holder: refusalEvidence(r) };
    if (!refusedFor(r, HOLDER_LOCKED_OUT)) throw refusedOtherwise(r, "a revocation by the holder with the right code", out);
    return fail(`the holder's right code was refused (${r.status} ${r.reason}) after someone else's wrong guesses in another role: a guesser can lock the holder out of revoking`, out);
  }
}
