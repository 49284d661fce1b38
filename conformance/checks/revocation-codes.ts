import type { RevocationReason } from "../../core/index.js";
import { CaError } from "../../simulator/ca/index.js";
import { controlRevokes, state, type Control, type ControlEvidence } from "./controls.js";
import { isCaRefusal, refusal, refusalEvidence, refusedFor, refusedOtherwise, throttled, Throttling, waited, wrongCode, type ExpectedRefusal } from "./refusals.js";
import { fail, pass, skip, type Check, type CheckContext } from "./types.js";

/**
 * Revocation by cancellation code (REV-AUTH-*): a wrong code revokes
 * nothing, guessers are stopped after the policy's number and not before,
 * and a representative acts for their own organisation only. Each first
 * shows, with a control, that the right code revokes.
 */

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

/**
 * The control of a refused credential: the same request with the right
 * credential revokes. Only then was the refusal about the credential.
 */
const rightCredential = (evidence: Record<string, unknown>): Control => ({
  what: "the right credential",
  unshown: "so the refusal was not shown to be about the credential",
  fix: "see the CA's message: the request was refused for something else than the credential",
  evidence,
});

export const codeRevocationChecks: Check[] = [
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
      // Of the right code's shape, drawn at random: refused only for being wrong, never for its format.
      const wrong = wrongCode(right);
      // One wait, at most, for the CA throttling this address (the wrong code and the control share it).
      const t = new Throttling();
      let r: CaError | undefined;
      try {
        await ctx.fx.unthrottled(ctx.fx.holderRevocation(c, reason, wrong), t);
      } catch (err) {
        r = refusal(err);
      }
      const st = await ctx.ca.status(serial);
      const ev = { serial, ...(r ? refusalEvidence(r) : { accepted: true }), statusAfter: st.status, ...waited(t) };
      if (!r) return fail("a wrong cancellation code revoked the certificate", ev);
      if (st.status !== "good") return fail(`refused (${r.status} ${r.reason}), but the certificate is now ${state(st)}`, ev);
      if (!refusedFor(r, WRONG_CODE)) throw refusedOtherwise(r, WRONG_CODE.what, ev);
      // The same request with the right code revokes: the refusal was about the code, nothing else in the request.
      const control = await controlRevokes(ctx, serial, ctx.fx.holderRevocation(c, reason, right), t, rightCredential(ev));
      return pass(`refused with ${r.status} ${r.reason}; certificate still good, and the right code then revoked it`, { ...ev, control, ...waited(t) });
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
      // The control: with no wrong code before it, the right code revokes. A CA that refuses every holder (or this
      // request for anything else) would refuse the right code after the wrong ones too, for no lockout's sake.
      const control = await rightCodeRevokes(ctx, reason, t);
      if (!control) return skip("the CA handed out no holder code: see REV-CANCELLATION-CODES");
      const early = await wrongCodesThenRight(ctx, reason, n - 1, t);
      const atLimit = early && (await wrongCodesThenRight(ctx, reason, n, t));
      if (!early || !atLimit) return skip("the CA handed out no holder code: see REV-CANCELLATION-CODES");
      const ev: Record<string, unknown> = { maxFailedAttempts: n, control, afterFewer: early.seen, afterLimit: atLimit.seen, ...waited(t) };
      const accepted = early.wrongAccepted ?? atLimit.wrongAccepted;
      // Which wrong code it was is in the evidence (afterFewer/afterLimit.wrongAccepted).
      if (accepted !== undefined) return fail("a wrong code revoked the certificate (lifecycle policy: a wrong code revokes nothing): a guesser needs no luck, so no limit on guessing protects the holder", ev);
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
      if (r.status === 429) {
        // Too many attempts: of this certificate's guesser (the lockout), or of this whole address (the CA's budget
        // of failed checks, which the same reason names)? A fresh certificate's right code tells: it is refused only
        // when the address is.
        const address = await ctx.fx.addressThrottled();
        ev.addressProbe = address ? refusalEvidence(address) : { throttled: false };
        if (address) throw throttled(address, ev);
      }
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
      const control = await controlRevokes(ctx, serial, asRepresentative(myCode), t, rightCredential(ev));
      return pass(`refused with ${r.status} ${r.reason}; certificate still good, and its own organisation's representative then revoked it`, { ...ev, control, ...waited(t) });
    },
  },
];

/**
 * The control of the lockout: a fresh certificate's right holder code, with
 * no wrong code before it, revokes (a 429 sorted out by `unthrottled`).
 * Undefined when the CA gave no code; not judged when it refuses or does not
 * revoke: what the right code gets after wrong ones would say nothing.
 */
async function rightCodeRevokes(ctx: CheckContext, reason: RevocationReason, t: Throttling): Promise<ControlEvidence | undefined> {
  const c = await ctx.fx.issue("authentication");
  const right = ctx.fx.codesFor(c.holder)?.holder;
  if (!right) return undefined;
  return controlRevokes(ctx, c.issued.serial, ctx.fx.holderRevocation(c, reason, right), t, {
    what: "the right code",
    refused: "the right code was refused with no wrong code before it",
    unshown: "so what it gets after wrong ones would not be about them",
    fix: "see the CA's message: the holder's revocation was refused for something else than the code",
  });
}

/** What a run of wrong codes and the right one got. */
interface Guesses {
  /** Plain facts, for evidence. */
  seen: { wrongRefused: number; wrongAccepted?: number; stopped?: { after: number; status: number; reason: string }; otherwise?: ReturnType<typeof refusalEvidence>; rightRefused?: ReturnType<typeof refusalEvidence>; statusAfter: string };
  /** Which wrong code (from 0) revoked the certificate, when one did: the run stopped there. */
  wrongAccepted?: number;
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
 * like theirs; after the limit it is what REV-AUTH-LOCKOUT judges (telling
 * the address throttled apart with `Fixtures.addressThrottled`). A wrong code that
 * revokes ends the run.
 */
async function wrongCodesThenRight(ctx: CheckContext, reason: RevocationReason, wrong: number, t: Throttling): Promise<Guesses | undefined> {
  const c = await ctx.fx.issue("authentication");
  const right = ctx.fx.codesFor(c.holder)?.holder;
  if (!right) return undefined;
  const attempt = (code: string) => ctx.fx.holderRevocation(c, reason, code);
  const atLimit = wrong >= ctx.policy.maxFailedAttempts;
  let wrongRefused = 0;
  const g: Omit<Guesses, "seen"> = {};
  for (let i = 0; i < wrong; i++) {
    try {
      await ctx.fx.unthrottled(attempt(wrongCode(right, i)), t);
      // Revoked by a wrong code: nothing further to guess, nor a right code to try.
      g.wrongAccepted = i;
      break;
    } catch (err) {
      if (!isCaRefusal(err)) throw err;
      if (refusedFor(err, STOPPED)) {
        wrongRefused++;
        g.stopped ??= { after: i, status: err.status, reason: err.reason };
      } else if (refusedFor(err, WRONG_CODE)) wrongRefused++;
      else g.otherwise ??= err;
    }
  }
  if (g.wrongAccepted === undefined) {
    try {
      await (atLimit ? attempt(right)() : ctx.fx.unthrottled(attempt(right), t));
    } catch (err) {
      if (!isCaRefusal(err)) throw err;
      g.rightRefused = err;
    }
  }
  const statusAfter = (await ctx.ca.status(c.issued.serial)).status;
  const seen = {
    wrongRefused,
    ...(g.wrongAccepted !== undefined ? { wrongAccepted: g.wrongAccepted + 1 } : {}),
    ...(g.stopped ? { stopped: g.stopped } : {}),
    ...(g.otherwise ? { otherwise: refusalEvidence(g.otherwise) } : {}),
    ...(g.rightRefused ? { rightRefused: refusalEvidence(g.rightRefused) } : {}),
    statusAfter,
  };
  return { ...g, seen };
}
