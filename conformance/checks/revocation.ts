import { addYears, CARD_REVOCATION_REASONS, reasonAllowed, type LifecyclePolicy, type RevocationReason } from "../../core/index.js";
import { CaError, type RenewRequest } from "../../simulator/ca/index.js";
import { certInfo, makeCsr, normSerial } from "../pkix.js";
import { isCaRefusal, refusal, Throttling, wrongCode } from "./refusals.js";
import { fail, pass, skip, type Check, type CheckContext } from "./types.js";

/**
 * Reasons every CA must record as the holder gives them, of those the policy
 * lets a holder give: a card's reasons but unspecified, which RFC 5280 5.3.1
 * has a CRL entry state by leaving the reason out (certificateHold is judged
 * by REV-HOLD-RELEASE).
 */
function recordedReasons(policy: LifecyclePolicy): RevocationReason[] {
  return CARD_REVOCATION_REASONS.filter((r) => r !== "unspecified" && reasonAllowed(policy, "holder", r));
}

export const renewalChecks: Check[] = [
  {
    id: "REN-NEW-CERTIFICATE",
    title: "Renewal certifies the new key under a new serial, same holder, within the policy",
    source: "lifecycle policy: renew",
    level: "MUST",
    needs: ["renew"],
    async run(ctx) {
      const { old, csr, renewed } = await ctx.fx.renewal();
      const info = certInfo(renewed.certificatePem);
      const ev = { oldSerial: old.issued.serial, newSerial: renewed.serial, certificate: renewed.certificatePem, oldSubject: old.info.subject, newSubject: info.subject, notBefore: info.notBefore, notAfter: info.notAfter };
      if (normSerial(renewed.serial) === normSerial(old.issued.serial)) return fail("the renewed certificate has the old serial", ev);
      if (info.spkiHex !== csr.spkiHex) return fail("the renewed certificate does not certify the new key", ev);
      if (info.subject !== old.info.subject) return fail(`subject changed: ${old.info.subject} -> ${info.subject}`, ev);
      if (info.notAfter > addYears(info.notBefore, ctx.policy.lifetimeYears)) return fail("renewed validity exceeds the policy maximum", ev);
      return pass("new serial, new key, same subject", ev);
    },
  },
  {
    id: "REN-OLD-SUPERSEDED",
    title: "Renewal supersedes the old certificate",
    source: "lifecycle policy: renew (the old ones superseded, or kept until expiry if the policy says so)",
    level: "SHOULD",
    needs: ["renew"],
    async run(ctx) {
      const { old } = await ctx.fx.renewal();
      const st = await ctx.ca.status(old.issued.serial);
      const ev = { oldSerial: old.issued.serial, status: st, renewal: ctx.policy.renewal };
      const state = `${st.status}${st.reason ? ` (${st.reason})` : ""}`;
      if (ctx.policy.renewal === "keep-until-expiry") {
        return st.status === "good" ? pass("old certificate kept valid until it expires, as the policy says", ev) : fail(`old certificate is ${state} after renewal; the policy keeps it`, ev);
      }
      return st.status === "revoked" && st.reason === "superseded"
        ? pass("old certificate revoked as superseded", ev)
        : fail(`old certificate is ${state} after renewal`, ev);
    },
  },
  {
    id: "REN-AUTHORISED",
    title: "A renewal without proof of the old key is refused and changes nothing",
    source: "lifecycle policy: renew (at a terminal, with the card and its PIN)",
    level: "MUST",
    // A CA without the concept (OpenSSL, CFSSL) is skipped with that reason, never passed.
    needs: ["renew", "renewalAuthorisation"],
    async run(ctx) {
      const old = await ctx.fx.issueRenewable("authentication");
      const serial = old.issued.serial;
      const before = await ctx.ca.status(serial);
      const csr = await makeCsr(old.holder.name);
      // Anyone who knows a serial: no proof at all, then a proof made with a key of their own.
      const attempts: { what: string; extra: () => Promise<Partial<RenewRequest>> }[] = [
        { what: "no proof", extra: async () => ({}) },
        { what: "a proof by another key", extra: async () => ctx.fx.renewalProof(old, (await makeCsr(old.holder.name)).key) },
      ];
      const tried: Record<string, unknown>[] = [];
      for (const a of attempts) {
        try {
          const r = await ctx.ca.renew(serial, { csrPem: csr.pem, cardExpiry: ctx.fx.defaultCardExpiry(), ...(await a.extra()) });
          tried.push({ attempt: a.what, accepted: true, newSerial: r.serial });
        } catch (err) {
          // What is judged here is who may renew: any refusal counts, a 401 included.
          if (!isCaRefusal(err)) throw err;
          tried.push({ attempt: a.what, refused: err.status, reason: err.reason });
        }
      }
      const after = await ctx.ca.status(serial);
      const ev = { serial, attempts: tried, before, after };
      const accepted = tried.filter((x) => x.accepted).map((x) => x.attempt);
      if (accepted.length) return fail(`renewed for a caller with ${accepted.join(" and ")}`, ev);
      const changed = after.status !== before.status || after.reason !== before.reason || after.revokedAt?.getTime() !== before.revokedAt?.getTime();
      if (changed) return fail(`refused, but the old certificate is now ${after.status}${after.reason ? ` (${after.reason})` : ""}`, ev);
      return pass(`refused (${tried.map((x) => x.refused).join(", ")}); the old certificate is unchanged`, ev);
    },
  },
];

export const revocationChecks: Check[] = [
  {
    id: "REV-REASONS",
    title: "Revocation reasons are recorded as given",
    source: "RFC 5280 5.3.1; lifecycle policy: revoke with reason",
    level: "MUST",
    async run(ctx) {
      const results: Record<string, unknown>[] = [];
      const bad: string[] = [];
      const reasons = recordedReasons(ctx.policy);
      if (reasons.length === 0) return skip(`the policy ${ctx.policy.name} lets a holder give none of a card's reasons`);
      const t = new Throttling();
      for (const reason of reasons) {
        const c = await ctx.fx.issue("authentication");
        try {
          const r = await ctx.fx.revokeAsHolder(c, reason, t);
          const st = await ctx.ca.status(c.issued.serial);
          results.push({ reason, serial: c.issued.serial, answered: r.reason, status: st.status, recorded: st.reason ?? null });
          if (r.reason !== reason || st.status !== "revoked" || st.reason !== reason) bad.push(`${reason} recorded as ${st.status}/${st.reason ?? "no reason"}`);
        } catch (err) {
          // A 401 or 429 has become a Precondition by now (revokeAsHolder): only the CA's answer to the reason is judged.
          if (!(err instanceof CaError)) throw err;
          results.push({ reason, serial: c.issued.serial, refused: err.status, message: err.message });
          bad.push(`${reason} refused (${err.status} ${err.reason})`);
        }
      }
      return bad.length ? fail(bad.join("; "), { results }) : pass(`${reasons.join(", ")} recorded`, { results });
    },
  },
  {
    id: "REV-UNKNOWN-SERIAL",
    title: "Revoking a serial the CA never issued is refused",
    source: "lifecycle policy: revoke (nothing is revoked by mistake)",
    level: "MUST",
    async run(ctx) {
      // As the operator, with the token and an answer, so that the refusal can only be about the serial (without
      // the token it would be about that, without answers about the request's shape).
      const operatorToken = ctx.fx.operatorToken();
      const reason = ctx.fx.reasonFor("operator");
      if (!reason) return skip(`the policy ${ctx.policy.name} lets the operator give none of a card's reasons`);
      const serial = ctx.fx.unknownSerial();
      const answers = { holderId: `certify-unknown-${serial.slice(0, 8)}` };
      try {
        const r = await ctx.fx.unthrottled(() => ctx.ca.revoke({ serial, reason, role: "operator", operatorToken, answers }));
        return fail("the CA acknowledged revoking a serial it never issued", { serial, answer: r });
      } catch (err) {
        const r = refusal(err);
        return pass(`refused: ${r.status} ${r.reason}`, { serial, status: r.status, reason: r.reason });
      }
    },
  },
  {
    id: "REV-DUPLICATE",
    title: "A second revocation of a revoked certificate is refused and changes nothing",
    source: "lifecycle policy: revocation is final; RFC 5280 5.3.2 (revocation date)",
    level: "MUST",
    async run(ctx) {
      const w = await ctx.fx.watch();
      const before = await ctx.ca.status(w.cert.issued.serial);
      let answer: unknown;
      try {
        answer = await ctx.fx.revokeAsHolder(w.cert, "keyCompromise");
      } catch (err) {
        const r = refusal(err);
        const after = await ctx.ca.status(w.cert.issued.serial);
        const ev = { serial: w.cert.issued.serial, refused: r.status, before, after };
        const changed = after.status !== before.status || after.reason !== before.reason || after.revokedAt?.getTime() !== before.revokedAt?.getTime();
        return changed ? fail("refused, but the revocation record changed", ev) : pass(`refused: ${r.status} ${r.reason}`, ev);
      }
      const after = await ctx.ca.status(w.cert.issued.serial);
      return fail("the CA acknowledged revoking an already revoked certificate", { serial: w.cert.issued.serial, answer, before, after });
    },
  },
  {
    id: "REV-HOLD-RELEASE",
    title: "certificateHold suspends and release restores",
    source: "RFC 5280 5.3.1 (certificateHold, removeFromCRL); lifecycle policy",
    level: "SHOULD",
    needs: ["hold"],
    async run(ctx) {
      // Whether certify can release at all, before anything is put on hold.
      const operatorToken = ctx.fx.operatorToken();
      const c = await ctx.fx.issue("authentication");
      const held = await ctx.fx.revokeAsHolder(c, "certificateHold");
      const onHold = await ctx.ca.status(c.issued.serial);
      await ctx.ca.release(c.issued.serial, operatorToken);
      const released = await ctx.ca.status(c.issued.serial);
      const ev = { serial: c.issued.serial, answer: held, onHold, released };
      if (onHold.status !== "on-hold") return fail(`after certificateHold the status is ${onHold.status}`, ev);
      if (released.status !== "good") return fail(`after release the status is ${released.status}`, ev);
      return pass("on hold, then good again", ev);
    },
  },
  {
    id: "REV-CANCELLATION-CODES",
    title: "First issuance for a professional card hands out holder and representative codes",
    source: "lifecycle policy: issue (cancellation codes)",
    level: "MUST",
    needs: ["cancellationCodes"],
    async run(ctx) {
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
    async run(ctx) {
      const reason = ctx.fx.reasonFor("holder");
      if (!reason) return skip(`the policy ${ctx.policy.name} lets a holder give none of a card's reasons`);
      const c = await ctx.fx.issue("authentication");
      const right = ctx.fx.codesFor(c.holder)?.holder;
      if (!right) return skip("the CA handed out no holder code for this card: see REV-CANCELLATION-CODES");
      const wrong = right.split("").reverse().join("") === right ? right + "0" : right.split("").reverse().join("");
      let refusedWith: number | undefined;
      try {
        await ctx.fx.unthrottled(() => ctx.ca.revoke({ serial: c.issued.serial, reason, role: "holder", code: wrong, email: c.holder.email, name: c.holder.name }));
      } catch (err) {
        refusedWith = refusal(err).status;
      }
      const st = await ctx.ca.status(c.issued.serial);
      const ev = { serial: c.issued.serial, refusedWith: refusedWith ?? null, statusAfter: st.status };
      if (refusedWith === undefined) return fail("a wrong code was accepted", ev);
      if (st.status !== "good") return fail(`refused (${refusedWith}) but the certificate is now ${st.status}`, ev);
      return pass(`refused with ${refusedWith}; certificate still good`, ev);
    },
  },
  {
    id: "REV-AUTH-LOCKOUT",
    title: "Wrong codes are stopped after the policy's number, not before",
    source: "lifecycle policy: revoke (lockout after repeated wrong credentials)",
    level: "MUST",
    needs: ["authorisation", "cancellationCodes"],
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
      const ev = { maxFailedAttempts: n, afterFewer: early, afterLimit: atLimit, ...(t.waitedMs !== undefined ? { throttledWaitMs: t.waitedMs } : {}) };
      if (early.wrongRefused < n - 1 || atLimit.wrongRefused < n) return skip("the CA accepted a wrong code, so nothing was left to lock: see REV-AUTH-WRONG-CODE", ev);
      const stopped = early.stopped ?? atLimit.stopped;
      if (stopped) return fail(`guessing was stopped (${stopped.status}) after ${stopped.after} wrong codes; the policy stops guessers after ${n}`, ev);
      if (early.refusedWith !== undefined) return fail(`the right code was refused (${early.refusedWith}) after ${n - 1} wrong ones; the policy stops guessers after ${n}`, ev);
      if (atLimit.refusedWith === undefined) return fail(`the next code after ${n} wrong ones was still looked at (the right one revoked): no limit on guessing`, ev);
      if (atLimit.refusedWith !== 423 && atLimit.refusedWith !== 429) return fail(`after ${n} wrong codes the next was refused with ${atLimit.refusedWith}, not as locked (423) or too many attempts (429)`, ev);
      if (atLimit.statusAfter !== "good") return fail(`refused (${atLimit.refusedWith}) but the certificate is now ${atLimit.statusAfter}`, ev);
      return pass(`stopped after ${n} wrong codes (refused with ${atLimit.refusedWith}), not before`, ev);
    },
  },
  {
    id: "REV-AUTH-ROLE",
    title: "A representative cannot revoke another organisation's card",
    source: "lifecycle policy: revoke (representatives, for their organisation's cards)",
    level: "MUST",
    needs: ["authorisation", "cancellationCodes"],
    async run(ctx) {
      const mine = await ctx.fx.issue("authentication", { holder: ctx.fx.holder("org-a", "Certify Org A") });
      const other = await ctx.fx.issue("authentication", { holder: ctx.fx.holder("org-b", "Certify Org B") });
      const otherCode = ctx.fx.codesFor(other.holder)?.legalRepresentative;
      if (!otherCode) return skip("the CA handed out no legal representative code: see REV-CANCELLATION-CODES");
      const reason = ctx.fx.reasonFor("legal-representative");
      if (!reason) return skip(`the policy ${ctx.policy.name} lets a legal representative give none of a card's reasons`);
      let refusedWith: number | undefined;
      try {
        await ctx.fx.unthrottled(() => ctx.ca.revoke({ serial: mine.issued.serial, reason, role: "legal-representative", code: otherCode }));
      } catch (err) {
        refusedWith = refusal(err).status;
      }
      const st = await ctx.ca.status(mine.issued.serial);
      const ev = { serial: mine.issued.serial, organisation: mine.holder.organisation, representativeOf: other.holder.organisation, refusedWith: refusedWith ?? null, statusAfter: st.status };
      if (refusedWith === undefined) return fail("another organisation's representative revoked the card", ev);
      if (st.status !== "good") return fail(`refused (${refusedWith}) but the certificate is now ${st.status}`, ev);
      return pass(`refused with ${refusedWith}; certificate still good`, ev);
    },
  },
];

/**
 * A fresh certificate, `wrong` wrong holder codes, then the right one: what
 * the right one got and the status after. Undefined when the CA gave no code.
 * `stopped`: a wrong code answered 423 or 429 for this certificate (not for
 * the address as a whole) before the last. The right code's 429 after fewer
 * wrong codes than the limit is sorted out like theirs; after the limit it is
 * what REV-AUTH-LOCKOUT judges.
 */
async function wrongCodesThenRight(
  ctx: CheckContext,
  reason: RevocationReason,
  wrong: number,
  t: Throttling,
): Promise<{ wrongRefused: number; stopped?: { after: number; status: number }; refusedWith?: number; statusAfter: string } | undefined> {
  const c = await ctx.fx.issue("authentication");
  const right = ctx.fx.codesFor(c.holder)?.holder;
  if (!right) return undefined;
  const attempt = (code: string) => () => ctx.ca.revoke({ serial: c.issued.serial, reason, role: "holder", code, email: c.holder.email, name: c.holder.name });
  const atLimit = wrong >= ctx.policy.maxFailedAttempts;
  let wrongRefused = 0;
  let stopped: { after: number; status: number } | undefined;
  for (let i = 0; i < wrong; i++) {
    try {
      await ctx.fx.unthrottled(attempt(wrongCode(right, i)), t);
    } catch (err) {
      if (!isCaRefusal(err)) throw err;
      wrongRefused++;
      if ((err.status === 423 || err.status === 429) && !stopped) stopped = { after: i, status: err.status };
    }
  }
  let refusedWith: number | undefined;
  try {
    await (atLimit ? attempt(right)() : ctx.fx.unthrottled(attempt(right), t));
  } catch (err) {
    if (!isCaRefusal(err)) throw err;
    refusedWith = err.status;
  }
  return { wrongRefused, ...(stopped ? { stopped } : {}), refusedWith, statusAfter: (await ctx.ca.status(c.issued.serial)).status };
}
