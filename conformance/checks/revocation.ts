import { addYears, CARD_REVOCATION_REASONS, reasonAllowed, type LifecyclePolicy, type RevocationReason } from "../../core/index.js";
import { CaError, type RenewRequest } from "../../simulator/ca/index.js";
import { certInfo, makeCsr, normSerial } from "../pkix.js";
import { isRefusal } from "./fixtures.js";
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
          if (!isRefusal(err)) throw err;
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

/** The operator's token for a request, when certify holds one (without it the CA refuses for that reason alone). */
function operatorCredential(ctx: CheckContext): { operatorToken?: string } {
  const { operatorToken } = ctx.fx.credentials();
  return operatorToken ? { operatorToken } : {};
}

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
      for (const reason of reasons) {
        const c = await ctx.fx.issue("authentication");
        try {
          const r = await ctx.fx.revokeAsHolder(c, reason);
          const st = await ctx.ca.status(c.issued.serial);
          results.push({ reason, serial: c.issued.serial, answered: r.reason, status: st.status, recorded: st.reason ?? null });
          if (r.reason !== reason || st.status !== "revoked" || st.reason !== reason) bad.push(`${reason} recorded as ${st.status}/${st.reason ?? "no reason"}`);
        } catch (err) {
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
      const serial = ctx.fx.unknownSerial();
      try {
        const r = await ctx.ca.revoke({ serial, reason: "keyCompromise", role: "operator", ...operatorCredential(ctx) });
        return fail("the CA acknowledged revoking a serial it never issued", { serial, answer: r });
      } catch (err) {
        if (isRefusal(err)) return pass(`refused: ${err.status} ${err.reason}`, { serial, status: err.status, reason: err.reason });
        throw err;
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
        if (!isRefusal(err)) throw err;
        const after = await ctx.ca.status(w.cert.issued.serial);
        const ev = { serial: w.cert.issued.serial, refused: err.status, before, after };
        const changed = after.status !== before.status || after.reason !== before.reason || after.revokedAt?.getTime() !== before.revokedAt?.getTime();
        return changed ? fail("refused, but the revocation record changed", ev) : pass(`refused: ${err.status} ${err.reason}`, ev);
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
      const c = await ctx.fx.issue("authentication");
      const held = await ctx.fx.revokeAsHolder(c, "certificateHold");
      const onHold = await ctx.ca.status(c.issued.serial);
      await ctx.ca.release(c.issued.serial, ctx.fx.operatorToken());
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
      const c = await ctx.fx.issue("authentication");
      const right = ctx.fx.codesFor(c.holder)?.holder;
      if (!right) return skip("the CA handed out no holder code for this card: see REV-CANCELLATION-CODES");
      const wrong = right.split("").reverse().join("") === right ? right + "0" : right.split("").reverse().join("");
      let refusedWith: number | undefined;
      try {
        await ctx.ca.revoke({ serial: c.issued.serial, reason: "keyCompromise", role: "holder", code: wrong, email: c.holder.email, name: c.holder.name });
      } catch (err) {
        if (!isRefusal(err)) throw err;
        refusedWith = err.status;
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
      // From one caller: one wrong code fewer than the limit leaves the right code working; at the limit the guesser
      // is stopped (locked, 423, or made to wait, 429) before its next code is even looked at, the right one included.
      // That the holder elsewhere is not locked out with it is REV-LOCKOUT-HOLDER's to judge.
      const early = await wrongCodesThenRight(ctx, n - 1);
      if (!early) return skip("the CA handed out no holder code: see REV-CANCELLATION-CODES");
      const atLimit = (await wrongCodesThenRight(ctx, n))!;
      const ev = { maxFailedAttempts: n, afterFewer: early, afterLimit: atLimit };
      if (early.wrongRefused < n - 1 || atLimit.wrongRefused < n) return skip("the CA accepted a wrong code, so nothing was left to lock: see REV-AUTH-WRONG-CODE", ev);
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
      let refusedWith: number | undefined;
      try {
        await ctx.ca.revoke({ serial: mine.issued.serial, reason: "affiliationChanged", role: "legal-representative", code: otherCode });
      } catch (err) {
        if (!isRefusal(err)) throw err;
        refusedWith = err.status;
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
 */
async function wrongCodesThenRight(ctx: CheckContext, wrong: number): Promise<{ wrongRefused: number; refusedWith?: number; statusAfter: string } | undefined> {
  const c = await ctx.fx.issue("authentication");
  const right = ctx.fx.codesFor(c.holder)?.holder;
  if (!right) return undefined;
  const attempt = (code: string) => ctx.ca.revoke({ serial: c.issued.serial, reason: "keyCompromise", role: "holder", code, email: c.holder.email, name: c.holder.name });
  let wrongRefused = 0;
  for (let i = 0; i < wrong; i++) {
    try {
      await attempt(`${right}-wrong-${i}`);
    } catch (err) {
      if (!isRefusal(err)) throw err;
      wrongRefused++;
    }
  }
  let refusedWith: number | undefined;
  try {
    await attempt(right);
  } catch (err) {
    if (!isRefusal(err)) throw err;
    refusedWith = err.status;
  }
  return { wrongRefused, refusedWith, statusAfter: (await ctx.ca.status(c.issued.serial)).status };
}
