import { CARD_REVOCATION_REASONS, reasonAllowed, type LifecyclePolicy, type RevocationReason } from "../../core/index.js";
import { CaError, type CertificateStatus } from "../../simulator/ca/index.js";
import { CREDENTIAL_FIX, isCaRefusal, refusal, refusalEvidence, refusedFor, refusedOtherwise, Throttling, wrongCode, type ExpectedRefusal } from "./refusals.js";
import { fail, NotJudged, pass, Precondition, skip, type Check, type CheckContext } from "./types.js";

/**
 * Reasons every CA must record as the holder gives them, of those the policy
 * lets a holder give: a card's reasons but unspecified, which RFC 5280 5.3.1
 * has a CRL entry state by leaving the reason out (certificateHold is judged
 * by REV-HOLD-RELEASE).
 */
function recordedReasons(policy: LifecyclePolicy): RevocationReason[] {
  return CARD_REVOCATION_REASONS.filter((r) => r !== "unspecified" && reasonAllowed(policy, "holder", r));
}

// ---------------------------------------------------------------------------
// Which refusals are about what a check judges. A check passes on a refusal
// only when its status AND reason say it is about the check's requirement;
// any other refusal taught the check nothing (`refusedOtherwise`: not judged).
// Each table lists what the CAs cardloop knows answer: the embedded CA and a
// served one (`cardloop ca serve`, whose `error` field HttpCa passes on as the
// reason), the OpenSSL and CFSSL adapters, and the fault-injecting wrapper.
// ---------------------------------------------------------------------------

/**
 * A serial the CA never issued: 404 not-found (embedded, served), 404
 * unknown-serial (OpenSSL adapter, FaultyCa, and the CFSSL adapter for its
 * certdb's "certificate not found", CertStoreError 11200).
 */
const UNKNOWN_SERIAL: ExpectedRefusal = {
  what: "404 for a serial the CA never issued (not-found, unknown-serial)",
  rules: [
    { status: [404], reason: ["not-found", "unknown-serial"] },
  ],
};

/** Already revoked: 409 already-revoked (embedded, served, OpenSSL's "Already revoked"), 409 revoked (OpenSSL adapter). CFSSL accepts it. */
const ALREADY_REVOKED: ExpectedRefusal = {
  what: "409 for a certificate already revoked (already-revoked)",
  rules: [{ status: [409], reason: ["already-revoked", "revoked"] }],
};

/**
 * A refusal of the revocation reason itself: 400 bad-reason or 403
 * reason-not-allowed (embedded, served: the CA's own policy), 400
 * unsupported-reason (OpenSSL adapter: `openssl ca` has no name for it; the
 * CFSSL adapter for CFSSL's "Invalid reason code").
 */
const REASON_REFUSED: ExpectedRefusal = {
  what: "a refusal of the reason itself (bad-reason, reason-not-allowed, unsupported-reason)",
  rules: [
    { status: [400, 403], reason: ["bad-reason", "reason-not-allowed", "unsupported-reason"] },
  ],
};

/** A wrong cancellation code, or another organisation's representative's: 403 forbidden (embedded, served). OpenSSL and CFSSL check no codes. */
const WRONG_CODE: ExpectedRefusal = {
  what: "403 for credentials that do not allow it (forbidden)",
  rules: [{ status: [403], reason: ["forbidden"] }],
};

/**
 * A guesser stopped: 429 too-many-attempts (embedded, served: the lockout's
 * wait, or the per-address budget), 423 locked (a CA that locks the
 * certificate, as FaultyCa's lockout-locks-holder does).
 */
const STOPPED: ExpectedRefusal = {
  what: "423 locked or 429 too-many-attempts",
  rules: [{ status: [423, 429], reason: ["locked", "too-many-attempts"] }],
};

/** Release of a certificate that is not on hold: 409 not-on-hold (embedded, served). */
const NOT_ON_HOLD: ExpectedRefusal = { what: "409 not-on-hold", rules: [{ status: [409], reason: ["not-on-hold"] }] };

/** certify's operator token refused as another role's: 403 forbidden (embedded, served). */
const TOKEN_REFUSED: ExpectedRefusal = { what: "403 for another role's token", rules: [{ status: [403], reason: ["forbidden"] }] };

/** Unchanged record: status, reason and revocation time as before. */
export function unchanged(before: CertificateStatus, after: CertificateStatus): boolean {
  return after.status === before.status && after.reason === before.reason && after.revokedAt?.getTime() === before.revokedAt?.getTime();
}

/** What the check waited for the CA's throttling, when it did (evidence). */
const waited = (t: Throttling) => (t.waitedMs !== undefined ? { throttledWaitMs: t.waitedMs } : {});

/** A status as a PKI engineer reads it: "revoked (keyCompromise)". */
export const state = (st: CertificateStatus) => `${st.status}${st.reason ? ` (${st.reason})` : ""}`;

export const revocationChecks: Check[] = [
  {
    id: "REV-REASONS",
    title: "Revocation reasons are recorded as given",
    source: "RFC 5280 5.3.1; lifecycle policy: revoke with reason",
    level: "MUST",
    credentials: ["raToken"],
    judges: ["revocation", "status"],
    async run(ctx) {
      const results: Record<string, unknown>[] = [];
      const bad: string[] = [];
      const otherwise: CaError[] = [];
      const reasons = recordedReasons(ctx.policy);
      if (reasons.length === 0) return skip(`the policy ${ctx.policy.name} lets a holder give none of a card's reasons`);
      const t = new Throttling();
      for (const reason of reasons) {
        const c = await ctx.fx.issue("authentication");
        try {
          const r = await ctx.fx.revokeAsHolder(c, reason, t);
          // Read after the revocation, for the certificate revoked.
          const st = await ctx.ca.status(c.issued.serial);
          results.push({ reason, serial: c.issued.serial, answered: r.reason, status: st.status, recorded: st.reason ?? null });
          if (r.reason !== reason || st.status !== "revoked" || st.reason !== reason) bad.push(`${reason} recorded as ${st.status}/${st.reason ?? "no reason"}`);
        } catch (err) {
          // A 401 or 429 is NotJudged by now (revokeAsHolder). A refusal of the reason, or a 5xx, is the CA's; any other
          // refusal (the credentials, the request's shape) says nothing about the reason.
          if (!(err instanceof CaError)) throw err;
          results.push({ reason, serial: c.issued.serial, refused: refusalEvidence(err) });
          if (err.status >= 500 || refusedFor(err, REASON_REFUSED)) bad.push(`${reason} refused (${err.status} ${err.reason})`);
          else otherwise.push(err);
        }
      }
      if (bad.length) return fail(bad.join("; "), { results, ...waited(t) });
      if (otherwise.length) throw refusedOtherwise(otherwise[0], "the revocation recorded, or refused for its reason", { results, ...waited(t) });
      return pass(`${reasons.join(", ")} recorded`, { results, ...waited(t) });
    },
  },
  {
    id: "REV-UNKNOWN-SERIAL",
    title: "Revoking a serial the CA never issued is refused",
    source: "lifecycle policy: revoke (nothing is revoked by mistake)",
    level: "MUST",
    // Nothing is issued: the operator's token (with answers) is all it sends.
    credentials: ["operatorToken"],
    judges: ["revocation", "status"],
    async run(ctx) {
      // As the operator, with the token and an answer, so that the refusal can only be about the serial (without
      // the token it would be about that, without answers about the request's shape); and only a 404 for the serial
      // passes (UNKNOWN_SERIAL).
      const operatorToken = ctx.fx.operatorToken();
      const reason = ctx.fx.reasonFor("operator");
      if (!reason) return skip(`the policy ${ctx.policy.name} lets the operator give none of a card's reasons`);
      const serial = ctx.fx.unknownSerial();
      const answers = { holderId: `certify-unknown-${serial.slice(0, 8)}` };
      let r: CaError;
      try {
        const answer = await ctx.fx.unthrottled(() => ctx.ca.revoke({ serial, reason, role: "operator", operatorToken, answers }));
        return fail("the CA acknowledged revoking a serial it never issued", { serial, answer, after: await ctx.ca.status(serial) });
      } catch (err) {
        r = refusal(err);
      }
      const after = await ctx.ca.status(serial);
      const ev = { serial, ...refusalEvidence(r), after };
      if (after.status !== "unknown") return fail(`refused (${r.status} ${r.reason}), but the CA now has the serial it never issued as ${state(after)}`, ev);
      if (!refusedFor(r, UNKNOWN_SERIAL)) throw refusedOtherwise(r, UNKNOWN_SERIAL.what, ev);
      return pass(`refused: ${r.status} ${r.reason}`, ev);
    },
  },
  {
    id: "REV-DUPLICATE",
    title: "A second revocation of a revoked certificate is refused and changes nothing",
    source: "lifecycle policy: revocation is final; RFC 5280 5.3.2 (revocation date)",
    level: "MUST",
    credentials: ["raToken"],
    judges: ["revocation", "status"],
    async run(ctx) {
      const w = await ctx.fx.watch();
      const serial = w.cert.issued.serial;
      const before = await ctx.ca.status(serial);
      // The check is about a certificate the CA has as revoked; whether the first revocation is recorded is REV-REASONS'.
      if (before.status !== "revoked") throw new Precondition(`the first revocation left the certificate ${state(before)}: see REV-REASONS`, { serial, before });
      // Another reason than the first, so that a CA that revokes again and overwrites the record shows it.
      const again = recordedReasons(ctx.policy).find((r) => r !== before.reason) ?? "keyCompromise";
      let answer: unknown;
      try {
        answer = await ctx.fx.revokeAsHolder(w.cert, again);
      } catch (err) {
        const r = refusal(err);
        const after = await ctx.ca.status(serial);
        const ev = { serial, secondReason: again, ...refusalEvidence(r), before, after };
        if (!unchanged(before, after)) return fail(`the second revocation was refused, but the record changed from ${state(before)} to ${state(after)}`, ev);
        if (!refusedFor(r, ALREADY_REVOKED)) throw refusedOtherwise(r, ALREADY_REVOKED.what, ev);
        return pass(`refused: ${r.status} ${r.reason}; the record is unchanged`, ev);
      }
      const after = await ctx.ca.status(serial);
      return fail("the CA acknowledged revoking an already revoked certificate", { serial, secondReason: again, answer, before, after });
    },
  },
  {
    id: "REV-HOLD-RELEASE",
    title: "certificateHold suspends and release restores",
    source: "RFC 5280 5.3.1 (certificateHold, removeFromCRL); lifecycle policy",
    level: "SHOULD",
    needs: ["hold"],
    credentials: ["raToken", "operatorToken"],
    judges: ["revocation", "status"],
    async run(ctx) {
      // Whether certify can release at all, before anything is put on hold.
      const operatorToken = ctx.fx.operatorToken();
      if (!reasonAllowed(ctx.policy, "holder", "certificateHold")) return skip(`the policy ${ctx.policy.name} does not let a holder put a certificate on hold`);
      const c = await ctx.fx.issue("authentication");
      const serial = c.issued.serial;
      let held: unknown;
      try {
        held = await ctx.fx.revokeAsHolder(c, "certificateHold");
      } catch (err) {
        const r = refusal(err);
        const ev = { serial, ...refusalEvidence(r) };
        if (refusedFor(r, REASON_REFUSED)) return fail(`the CA offers hold but refused certificateHold (${r.status} ${r.reason})`, ev);
        throw refusedOtherwise(r, "a hold, or a refusal of certificateHold itself", ev);
      }
      // Judged before the release: a CA that did not hold must fail here, not be "refused" the release.
      const onHold = await ctx.ca.status(serial);
      if (onHold.status !== "on-hold") return fail(`after certificateHold the certificate is ${state(onHold)}, not on hold (RFC 5280 5.3.1)`, { serial, answer: held, onHold });
      try {
        await ctx.ca.release(serial, operatorToken);
      } catch (err) {
        // A 401 (no or a bad token) or a 429 is not judged, with the fix (refusal).
        const r = refusal(err);
        const ev = { serial, answer: held, onHold, ...refusalEvidence(r), after: await ctx.ca.status(serial) };
        if (refusedFor(r, TOKEN_REFUSED)) throw new NotJudged("credential", `the CA refused certify's operatorToken for the release (${r.status} ${r.reason})`, `give the operator's own token as operatorToken: ${CREDENTIAL_FIX}`, ev);
        if (refusedFor(r, NOT_ON_HOLD)) return fail(`the CA has the certificate on hold, but refused to release it as not on hold (${r.status} ${r.reason})`, ev);
        throw refusedOtherwise(r, "a release", ev);
      }
      const released = await ctx.ca.status(serial);
      const ev = { serial, answer: held, onHold, released };
      if (released.status !== "good") return fail(`after release the certificate is ${state(released)}, not good again (RFC 5280 5.3.1, removeFromCRL)`, ev);
      return pass("on hold, then good again", ev);
    },
  },
  {
    id: "REV-CANCELLATION-CODES",
    title: "First issuance for a professional card hands out holder and representative codes",
    source: "lifecycle policy: issue (cancellation codes)",
    level: "MUST",
    needs: ["cancellationCodes"],
    credentials: ["raToken"],
    // The issuance's answer carries the codes.
    judges: ["issuance"],
    async run(ctx) {
      // The card's first issuance, for a holder with an organisation (a professional card).
      const c = await ctx.fx.auth();
      const codes = c.issued.cancellationCodes;
      // Only whether each code is there: a code's value never reaches a report.
      const ev = { serial: c.issued.serial, holderCode: !!codes?.holder, legalRepresentativeCode: !!codes?.legalRepresentative, authorisedRepresentativeCode: !!codes?.authorisedRepresentative };
      if (!codes?.holder) return fail("no holder code at first issuance", ev);
      if (!codes.legalRepresentative || !codes.authorisedRepresentative) return fail("a professional card got no representative codes", ev);
      if (new Set([codes.holder, codes.legalRepresentative, codes.authorisedRepresentative]).size !== 3) return fail("codes are not distinct", ev);
      return pass("holder, legal and authorised representative codes handed out", ev);
    },
  },
  {
    id: "REV-AUTH-WRONG-CODE",
    title: "A wrong cancellation code revokes nothing",
    source: "lifecycle policy: revoke (a wrong code revokes nothing)",
    level: "MUST",
    needs: ["authorisation", "cancellationCodes"],
    credentials: ["raToken"],
    judges: ["revocation", "status"],
    async run(ctx) {
      const reason = ctx.fx.reasonFor("holder");
      if (!reason) return skip(`the policy ${ctx.policy.name} lets a holder give none of a card's reasons`);
      const c = await ctx.fx.issue("authentication");
      const serial = c.issued.serial;
      const right = ctx.fx.codesFor(c.holder)?.holder;
      if (!right) return skip("the CA handed out no holder code for this card: see REV-CANCELLATION-CODES");
      const wrong = right.split("").reverse().join("") === right ? right + "0" : right.split("").reverse().join("");
      const asHolder = (code: string) => () => ctx.ca.revoke({ serial, reason, role: "holder", code, email: c.holder.email, name: c.holder.name });
      // One wait, at most, for the CA throttling this address (the wrong code and the control share it).
      const t = new Throttling();
      let r: CaError | undefined;
      try {
        await ctx.fx.unthrottled(asHolder(wrong), t);
      } catch (err) {
        r = refusal(err);
      }
      const st = await ctx.ca.status(serial);
      const ev = { serial, ...(r ? refusalEvidence(r) : { accepted: true }), statusAfter: st.status, ...waited(t) };
      if (!r) return fail("a wrong cancellation code revoked the certificate", ev);
      if (st.status !== "good") return fail(`refused (${r.status} ${r.reason}), but the certificate is now ${state(st)}`, ev);
      if (!refusedFor(r, WRONG_CODE)) throw refusedOtherwise(r, WRONG_CODE.what, ev);
      // The same request with the right code revokes: the refusal was about the code, nothing else in the request.
      return control(ctx, serial, asHolder(right), t, ev, `refused with ${r.status} ${r.reason}; certificate still good, and the right code then revoked it`);
    },
  },
  {
    id: "REV-AUTH-LOCKOUT",
    title: "Wrong codes are stopped after the policy's number, not before",
    source: "lifecycle policy: revoke (lockout after repeated wrong credentials)",
    level: "MUST",
    needs: ["authorisation", "cancellationCodes"],
    credentials: ["raToken"],
    judges: ["revocation", "status"],
    async run(ctx) {
      const n = ctx.policy.maxFailedAttempts;
      const reason = ctx.fx.reasonFor("holder");
      if (!reason) return skip(`the policy ${ctx.policy.name} lets a holder give none of a card's reasons`);
      // From one caller: one wrong code fewer than the limit leaves the right code working; at the limit the guesser
      // is stopped (locked, 423, or made to wait, 429) before its next code is even looked at, the right one included.
      // That the holder elsewhere is not locked out with it is REV-LOCKOUT-HOLDER's to judge. A 429 anywhere but on
      // that last code may be the CA throttling this whole address (an earlier run's guesses): sorted out first.
      const t = new Throttling();
      const early = await wrongCodesThenRight(ctx, reason, n - 1, t);
      if (!early) return skip("the CA handed out no holder code: see REV-CANCELLATION-CODES");
      const atLimit = (await wrongCodesThenRight(ctx, reason, n, t))!;
      const ev = { maxFailedAttempts: n, afterFewer: early.seen, afterLimit: atLimit.seen, ...waited(t) };
      if (early.wrongAccepted || atLimit.wrongAccepted) return skip("the CA accepted a wrong code, so nothing was left to lock: see REV-AUTH-WRONG-CODE", ev);
      const stopped = early.stopped ?? atLimit.stopped;
      if (stopped) return fail(`guessing was stopped (${stopped.status}) after ${stopped.after} wrong codes; the policy stops guessers after ${n}`, ev);
      // A wrong code refused for another reason was not counted as a guess: the limit cannot be judged.
      const other = early.otherwise ?? atLimit.otherwise;
      if (other) throw refusedOtherwise(other, `${WRONG_CODE.what} for each wrong code`, ev);
      if (early.rightRefused) {
        const r = early.rightRefused;
        if (!refusedFor(r, STOPPED) && !refusedFor(r, WRONG_CODE)) throw refusedOtherwise(r, "an acceptance of the right code", ev);
        return fail(`the right code was refused (${r.status}) after ${n - 1} wrong ones; the policy stops guessers after ${n}`, ev);
      }
      if (!atLimit.rightRefused) return fail(`the next code after ${n} wrong ones was still looked at (the right one revoked): no limit on guessing`, ev);
      const r = atLimit.rightRefused;
      if (refusedFor(r, WRONG_CODE)) return fail(`after ${n} wrong codes the right one was refused as wrong (${r.status} ${r.reason}), not as locked (423) or too many attempts (429)`, ev);
      if (!refusedFor(r, STOPPED)) throw refusedOtherwise(r, STOPPED.what, ev);
      if (atLimit.seen.statusAfter !== "good") return fail(`refused (${r.status} ${r.reason}), but the certificate is now ${atLimit.seen.statusAfter}`, ev);
      return pass(`stopped after ${n} wrong codes (refused with ${r.status}), not before`, ev);
    },
  },
  {
    id: "REV-AUTH-ROLE",
    title: "A representative cannot revoke another organisation's card",
    source: "lifecycle policy: revoke (representatives, for their organisation's cards)",
    level: "MUST",
    needs: ["authorisation", "cancellationCodes"],
    credentials: ["raToken"],
    judges: ["revocation", "status"],
    async run(ctx) {
      const mine = await ctx.fx.issue("authentication", { holder: ctx.fx.holder("org-a", "Certify Org A") });
      const other = await ctx.fx.issue("authentication", { holder: ctx.fx.holder("org-b", "Certify Org B") });
      const otherCode = ctx.fx.codesFor(other.holder)?.legalRepresentative;
      const myCode = ctx.fx.codesFor(mine.holder)?.legalRepresentative;
      if (!otherCode || !myCode) return skip("the CA handed out no legal representative code: see REV-CANCELLATION-CODES");
      const reason = ctx.fx.reasonFor("legal-representative");
      if (!reason) return skip(`the policy ${ctx.policy.name} lets a legal representative give none of a card's reasons`);
      const serial = mine.issued.serial;
      const asRepresentative = (code: string) => () => ctx.ca.revoke({ serial, reason, role: "legal-representative", code });
      const t = new Throttling();
      let r: CaError | undefined;
      try {
        await ctx.fx.unthrottled(asRepresentative(otherCode), t);
      } catch (err) {
        r = refusal(err);
      }
      const st = await ctx.ca.status(serial);
      const ev = { serial, organisation: mine.holder.organisation, representativeOf: other.holder.organisation, ...(r ? refusalEvidence(r) : { accepted: true }), statusAfter: st.status, ...waited(t) };
      if (!r) return fail("another organisation's legal representative revoked the card", ev);
      if (st.status !== "good") return fail(`refused (${r.status} ${r.reason}), but the certificate is now ${state(st)}`, ev);
      if (!refusedFor(r, WRONG_CODE)) throw refusedOtherwise(r, `${WRONG_CODE.what}: the code is another organisation's`, ev);
      // Its own organisation's representative, in the same request, revokes: the refusal was about whose code it was.
      return control(ctx, serial, asRepresentative(myCode), t, ev, `refused with ${r.status} ${r.reason}; certificate still good, and its own organisation's representative then revoked it`);
    },
  },
];

/**
 * The control of a refused credential: the same request with the right
 * credential revokes. Only then was the refusal about the credential; a CA
 * that refuses the right one as well refused for something else (not judged).
 */
async function control(ctx: CheckContext, serial: string, right: () => Promise<unknown>, t: Throttling, ev: Record<string, unknown>, passMessage: string) {
  try {
    await ctx.fx.unthrottled(right, t);
  } catch (err) {
    const r = refusal(err);
    throw new NotJudged(
      "refused-otherwise",
      `the right credential was refused too (${r.status} ${r.reason}: "${refusalEvidence(r).caMessage}"), so the refusal was not shown to be about the credential`,
      "see the CA's message: the request was refused for something else than the credential",
      { ...ev, control: refusalEvidence(r) },
    );
  }
  const after = await ctx.ca.status(serial);
  const evidence = { ...ev, control: { revoked: true, statusAfter: after.status }, ...waited(t) };
  if (after.status !== "revoked") throw new NotJudged("refused-otherwise", `the right credential was acknowledged but the certificate is ${state(after)}: the control did not revoke`, "see REV-REASONS for how the CA records revocations", evidence);
  return pass(passMessage, evidence);
}

/** What a run of wrong codes and the right one got. */
interface Guesses {
  /** Plain facts, for evidence. */
  seen: { wrongRefused: number; stopped?: { after: number; status: number; reason: string }; otherwise?: ReturnType<typeof refusalEvidence>; rightRefused?: ReturnType<typeof refusalEvidence>; statusAfter: string };
  wrongAccepted: boolean;
  /** A wrong code answered 423 or 429 (STOPPED) for this certificate (not for the address as a whole), before the last. */
  stopped?: { after: number; status: number; reason: string };
  /** The first wrong code refused for another reason than the code: not a guess the CA counted. */
  otherwise?: CaError;
  /** What the right code got, when it was refused. */
  rightRefused?: CaError;
}

/**
 * A fresh certificate, `wrong` wrong holder codes, then the right one: what
 * the right one got and the status after. Undefined when the CA gave no code.
 * The right code's 429 after fewer wrong codes than the limit is sorted out
 * like theirs; after the limit it is what REV-AUTH-LOCKOUT judges.
 */
async function wrongCodesThenRight(ctx: CheckContext, reason: RevocationReason, wrong: number, t: Throttling): Promise<Guesses | undefined> {
  const c = await ctx.fx.issue("authentication");
  const right = ctx.fx.codesFor(c.holder)?.holder;
  if (!right) return undefined;
  const attempt = (code: string) => () => ctx.ca.revoke({ serial: c.issued.serial, reason, role: "holder", code, email: c.holder.email, name: c.holder.name });
  const atLimit = wrong >= ctx.policy.maxFailedAttempts;
  let wrongRefused = 0;
  const g: Omit<Guesses, "seen"> = { wrongAccepted: false };
  for (let i = 0; i < wrong; i++) {
    try {
      await ctx.fx.unthrottled(attempt(wrongCode(right, i)), t);
      g.wrongAccepted = true;
    } catch (err) {
      if (!isCaRefusal(err)) throw err;
      if (refusedFor(err, STOPPED)) {
        wrongRefused++;
        g.stopped ??= { after: i, status: err.status, reason: err.reason };
      } else if (refusedFor(err, WRONG_CODE)) wrongRefused++;
      else g.otherwise ??= err;
    }
  }
  try {
    await (atLimit ? attempt(right)() : ctx.fx.unthrottled(attempt(right), t));
  } catch (err) {
    if (!isCaRefusal(err)) throw err;
    g.rightRefused = err;
  }
  const statusAfter = (await ctx.ca.status(c.issued.serial)).status;
  const seen = {
    wrongRefused,
    ...(g.stopped ? { stopped: g.stopped } : {}),
    ...(g.otherwise ? { otherwise: refusalEvidence(g.otherwise) } : {}),
    ...(g.rightRefused ? { rightRefused: refusalEvidence(g.rightRefused) } : {}),
    statusAfter,
  };
  return { ...g, seen };
}
