import { randomBytes } from "node:crypto";
import { CaError, type IssueRequest, type RevokeRequest } from "../../simulator/ca/index.js";
import { makeCsr } from "../pkix.js";
import type { Issued } from "./fixtures.js";
import { controlRevokes, unchanged } from "./controls.js";
import { isCaRefusal, notJudged, readRefusal, refusal, refusalEvidence, refusedFor, refusedOtherwise, throttled, Throttling, waited, wrongCode, type ExpectedRefusal } from "./refusals.js";
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
 * The two OCSP ones are in ocsp-abuse.ts.
 */

/**
 * No credential, or one that is nobody's. HTTP says 401 is about
 * authentication whatever the reason code (RFC 9110 15.5.2: the embedded CA
 * and a served one answer 401 credential-required / bad-credential); a 403
 * counts only with a reason that names the credential. A generic 403
 * forbidden does not: a CA that checks no credential may well answer it for
 * something else (a holder that already has a certificate, a policy).
 */
const CREDENTIAL_REFUSED: ExpectedRefusal = {
  what: "a refusal of the caller's credential (401, or 403 naming the credential)",
  rules: [{ status: [401] }, { status: [403], reason: ["bad-credential", "credential-required", "wrong-role", "unauthorized", "unauthorised"] }],
};

/**
 * A token of the CA's for another role: as above, or 403 forbidden, which is
 * what the embedded CA and a served one answer ("issuing needs the issuing
 * station's (RA) token, not the operator's"; "revocation by the operator
 * needs the operator token, not the RA's"). Judged only next to a control
 * showing the same request goes through with the right role's token.
 */
const OTHER_ROLE_REFUSED: ExpectedRefusal = {
  what: "a refusal of another role's token (401, or 403 forbidden or naming the credential)",
  rules: [...CREDENTIAL_REFUSED.rules, { status: [403], reason: ["forbidden"] }],
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

/**
 * The holder's right code refused after someone else's guesses: what a lockout
 * that spans roles answers. A 403 counts only because the control showed the
 * holder's right code revoking a fresh certificate nobody had guessed at.
 */
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
      // Mallory's own key, for a holder the CA has never seen (one per attempt: a CA that refuses a second certificate
      // for a holder it knows must not pass for it): without the station's credential, with a made-up one, and with
      // the operator's (a credential of the CA's, for another role).
      const { raToken } = ctx.fx.credentials();
      // Undefined only for a CA that checks no operator credential (then there is no such token to try).
      const operatorToken = ctx.fx.operatorToken();
      const attempts = [
        { what: "no credential", raToken: undefined, expected: CREDENTIAL_REFUSED },
        { what: "a made-up credential", raToken: randomBytes(32).toString("base64url"), expected: CREDENTIAL_REFUSED },
        ...(operatorToken ? [{ what: "the operator's token", raToken: operatorToken, expected: OTHER_ROLE_REFUSED }] : []),
      ];
      const tried: (Attempt & { holder: string; issued?: string; certificate?: string; control?: Record<string, unknown> })[] = [];
      let other: { err: CaError; expected: ExpectedRefusal } | undefined;
      for (const a of attempts) {
        const holder = ctx.fx.holder("issuing credential");
        const csr = await makeCsr(holder.name);
        const request = { csrPem: csr.pem, profile: "authentication" as const, holder, cardExpiry: ctx.fx.defaultCardExpiry() };
        let row: (typeof tried)[number];
        try {
          const r = await ctx.ca.issue({ ...request, raToken: a.raToken });
          tried.push({ attempt: a.what, holder: holder.id, accepted: true, issued: r.serial, certificate: r.certificatePem });
          continue;
        } catch (err) {
          const r = readRefusal(err);
          row = { ...refused(a.what, r), holder: holder.id };
          tried.push(row);
          if (!refusedFor(r, a.expected)) {
            other ??= { err: r, expected: a.expected };
            continue;
          }
        }
        // The control: the very request, with the station's token, is issued, so the refusal was about the credential.
        row.control = await issuedWithStationToken(ctx, { ...request, raToken }, tried);
      }
      const ev = { request: "a fresh holder and key per attempt", attempts: tried, ...(operatorToken ? {} : { notTried: "the operator's token (this CA checks no operator credential)" }) };
      const issued = tried.filter((x) => x.accepted);
      if (issued.length) return fail(`the CA issued to a caller with ${issued.map((x) => x.attempt).join(" and ")}: only the issuing station may have certificates issued`, ev);
      // A 400 about the body, or a 403 about something else, says nothing of whether the CA would issue without the credential.
      if (other) throw refusedOtherwise(other.err, other.expected.what, ev);
      return pass(`refused without the station's credential (${describeRefusals(tried)}); each same request with the station's token was issued`, ev);
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
        ...(raToken ? [{ what: "the issuing station's (RA) token", expected: OTHER_ROLE_REFUSED, send: () => revoke({ operatorToken: raToken }) }] : []),
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
          const r = readRefusal(err);
          // The wrong answers come with the operator's token: a 401 there is a token certify got wrong, not judged.
          if (a.expected === WRONG_ANSWERS_REFUSED && r.status === 401) throw operatorTokenRefused(r, { serial, attempt: a.what });
          tried.push(refused(a.what, r));
          if (!other && !refusedFor(r, a.expected)) other = { err: r, expected: a.expected };
        }
      }
      const after = await ctx.ca.status(serial);
      const ev: Record<string, unknown> = { serial, reason, attempts: tried, before: before.status, after: after.status, ...waited(t) };
      const accepted = tried.filter((x) => x.accepted);
      if (accepted.length) return fail(`the CA revoked as operator with ${accepted[0].attempt}: operator revocation needs the operator's token and the registration answers`, ev);
      if (!unchanged(before, after)) return fail(`the CA refused (${describeRefusals(tried)}) but the certificate is now ${after.status}`, ev);
      if (other) throw refusedOtherwise(other.err, other.expected.what, ev);
      // The positive control: with the token and the right answers the operator revokes, so the refusals above were
      // about what was missing, not a CA that lets no operator revoke.
      try {
        const r = await ctx.fx.unthrottled(() => revoke({ operatorToken }), t);
        ev.control = { revoked: r.status };
      } catch (err) {
        const r = readRefusal(err);
        ev.control = refusalEvidence(r);
        // Refused for its token (401, or 403 for another role's): most likely certify was given the wrong token, and a CA
        // that lets no operator revoke looks the same from here: not judged.
        if (refusedFor(r, OTHER_ROLE_REFUSED)) throw operatorTokenRefused(r, ev);
        throw refusedOtherwise(r, "a revocation by the operator with the token and the right answers", ev);
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
      // The control: on a fresh certificate, with no guesses before, the holder's right code revokes. Without it, a CA
      // that refuses every holder (or this reason, or this role) would look like one that lets a guesser lock them out.
      const control = await holderRevokesUnguessed(ctx, holderReason);
      if (!("revoked" in control)) return control;
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
      const ev = { serial: c.issued.serial, guesses, guessRole: "authorised-representative", guessRefusals: refusals, control };
      if (accepted) return skip("a guessed code was accepted, so nothing was left to lock: see REV-AUTH-WRONG-CODE", { ...ev, accepted });
      if (!wrong && firstLockout) {
        // Every guess was refused before its code was checked: the address was throttled already, nothing was locked.
        throw throttled(firstLockout, ev);
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
];

/** The operator's token certify holds was refused as a credential: what it was given is not the operator's (or no operator can revoke). */
function operatorTokenRefused(r: CaError, ev: Record<string, unknown>): NotJudged {
  return new NotJudged(
    "credential",
    `the CA refused the operator's token certify holds (${r.status} ${r.reason}), with the right registration answers: it is not this CA's operator token, or no operator can revoke`,
    "give the operator's token as operatorToken in --ca-config",
    { ...ev, ...refusalEvidence(r) },
  );
}

/**
 * ISS-AUTH-REQUIRED's control: the request an attempt without the right
 * credential sent, now with the station's token, is issued. Refused for its
 * credential, the token certify holds is not the station's: not judged;
 * refused for anything else, the refusal before may have been about that:
 * not judged either.
 */
async function issuedWithStationToken(ctx: CheckContext, req: IssueRequest, tried: unknown[]): Promise<Record<string, unknown>> {
  try {
    const r = await ctx.ca.issue(req);
    return { issued: r.serial };
  } catch (err) {
    const r = readRefusal(err);
    const ev = { attempts: tried, control: refusalEvidence(r) };
    if (refusedFor(r, OTHER_ROLE_REFUSED)) {
      throw new NotJudged(
        "credential",
        `the CA refused the issuing station's token certify holds (${r.status} ${r.reason}): whether it issues without it is unknown`,
        "give the issuing station's token as raToken in --ca-config",
        ev,
      );
    }
    throw refusedOtherwise(r, "the issuance of the same request with the station's token (the control)", ev);
  }
}

/**
 * REV-LOCKOUT-HOLDER's control: a fresh certificate of a professional card,
 * revoked by its holder with the right code, no one having guessed before.
 * Any refusal means the holder's revocation fails for a reason of its own
 * (a role, a reason, a code the CA does not take), so a refusal after the
 * guesses would show nothing: not judged. A 429 is sorted out as throttling
 * (`unthrottled`).
 */
async function holderRevokesUnguessed(ctx: CheckContext, reason: RevokeRequest["reason"]) {
  const c = await ctx.fx.issue("authentication", { holder: ctx.fx.holder("lockout control", `Certify Lockout Org`) });
  if (!ctx.fx.codesFor(c.holder)?.holder) return skip("the CA handed out no holder code: see REV-CANCELLATION-CODES");
  return controlRevokes(ctx, c.issued.serial, ctx.fx.holderRevocation(c, reason), new Throttling(), {
    what: "the holder's right code on a fresh certificate",
    refused: "the holder's right code got a refusal",
    unshown: "not a revocation by the holder with the right code of a fresh certificate nobody had guessed at (the control), so a refusal after someone else's guesses would show nothing",
    fix: "see the CA's message: the holder's revocation was refused for something else than anyone's guesses (a role, a reason, a code the CA does not take)",
    evidence: { holderReason: reason },
  });
}

/**
 * The holder's right code after the guesses: it must revoke. A 429 is judged
 * only when it is about this certificate, not the CA throttling certify's
 * whole address (`unthrottled`).
 */
async function holderStillRevokes(ctx: CheckContext, c: Issued, code: string, reason: RevokeRequest["reason"], ev: Record<string, unknown>) {
  const t = new Throttling();
  try {
    const r = await ctx.fx.unthrottled(ctx.fx.holderRevocation(c, reason, code), t);
    return pass(`the holder revoked with the right code after ${ev.guesses} wrong guesses by someone else in another role`, { ...ev, ...waited(t), revoked: r.status });
  } catch (err) {
    // A 429 that `unthrottled` lets through is about this certificate (the address is not throttled): judged.
    if (!isCaRefusal(err)) throw err;
    if (err.status === 401) notJudged(err);
    const r = err;
    const out = { ...ev, ...waited(t), holder: refusalEvidence(r) };
    if (!refusedFor(r, HOLDER_LOCKED_OUT)) throw refusedOtherwise(r, "a revocation by the holder with the right code", out);
    return fail(`the holder's right code was refused (${r.status} ${r.reason}) after someone else's wrong guesses in another role: a guesser can lock the holder out of revoking`, out);
  }
}
