import { addYears } from "../../core/index.js";
import { CaError, type RenewRequest } from "../../simulator/ca/index.js";
import { certInfo, makeCsr, normSerial, type CertInfo } from "../pkix.js";
import { state, unchanged } from "./controls.js";
import { readRefusal, refusal, refusalEvidence, refusedFor, refusedOtherwise, type ExpectedRefusal } from "./refusals.js";
import { fail, pass, Precondition, type Check, type CheckContext, type Verdict } from "./types.js";

/**
 * A renewal refused for want of authority: 403 renewal-unauthorised (no
 * proof), bad-proof, bad-challenge (embedded, served, FaultyCa); a 401 is a
 * CA asking a credential of whoever renews, which is who may renew too.
 * OpenSSL and CFSSL have no renewal authorisation (skipped).
 */
const RENEWAL_UNAUTHORISED: ExpectedRefusal = {
  what: "401 or 403 for a renewal without authority (renewal-unauthorised, bad-proof, bad-challenge)",
  rules: [
    { status: [403], reason: ["renewal-unauthorised", "bad-proof", "bad-challenge"] },
    { status: [401], reason: ["credential-required", "bad-credential"] },
  ],
};

/** The same, from a CA that has renewal authorisation, for certify's own valid proof: it refuses what is right. */
const VALID_PROOF_REFUSED: ExpectedRefusal = {
  what: "403 renewal-unauthorised, bad-proof or bad-challenge for a renewal with the old key's valid proof",
  rules: [{ status: [403], reason: ["renewal-unauthorised", "bad-proof", "bad-challenge"] }],
};

/**
 * The renewal REN-NEW-CERTIFICATE and REN-OLD-SUPERSEDED judge (with the old
 * key's proof). A CA with renewal authorisation that refuses that valid proof
 * as unauthorised fails REN-AUTHORISED, once: these two skip, pointing there.
 */
async function renewal(ctx: CheckContext): ReturnType<CheckContext["fx"]["renewal"]> {
  try {
    return await ctx.fx.renewal();
  } catch (err) {
    if (ctx.caps.renewalAuthorisation && err instanceof CaError && refusedFor(err, VALID_PROOF_REFUSED)) {
      throw new Precondition(`the CA refused certify's renewal with the old key's valid proof (${err.status} ${err.reason}): see REN-AUTHORISED`, refusalEvidence(err));
    }
    throw err;
  }
}

/** What a certificate is for: its key usage and extended key usage, sorted. */
function usage(info: CertInfo): { keyUsage: string[]; extKeyUsage: string[] } {
  return { keyUsage: [...(info.keyUsage?.names ?? [])].sort(), extKeyUsage: [...(info.extKeyUsage ?? [])].sort() };
}

export const renewalChecks: Check[] = [
  {
    id: "REN-NEW-CERTIFICATE",
    title: "Renewal certifies the new key under a new serial, same holder, within the policy",
    source: "lifecycle policy: renew",
    level: "MUST",
    needs: ["renew"],
    credentials: ["raToken"],
    // The renewed certificate alone: no status is read.
    judges: ["renewal"],
    async run(ctx) {
      const { old, csr, renewed } = await renewal(ctx);
      // The certificate's own bytes, not what the answer says about them.
      const info = certInfo(renewed.certificatePem);
      const oldUsage = usage(old.info);
      const newUsage = usage(info);
      const ev = {
        oldSerial: old.info.serial,
        newSerial: info.serial,
        answeredSerial: renewed.serial,
        certificate: renewed.certificatePem,
        oldSubject: old.info.subject,
        newSubject: info.subject,
        oldUsage,
        newUsage,
        notBefore: info.notBefore,
        notAfter: info.notAfter,
        lifetimeYears: ctx.policy.lifetimeYears,
      };
      if (normSerial(info.serial) === normSerial(old.info.serial)) return fail("the renewed certificate has the old serial (RFC 5280 4.1.2.2: a serial is unique to one certificate)", ev);
      if (info.spkiHex !== csr.spkiHex) return fail("the renewed certificate does not certify the key of the renewal request", ev);
      if (info.subject !== old.info.subject) return fail(`the renewal changed the subject: ${old.info.subject} -> ${info.subject}; a renewal is for the same holder`, ev);
      if (JSON.stringify(oldUsage) !== JSON.stringify(newUsage)) {
        return fail(`the renewed certificate is for another use than the one it renews (keyUsage ${newUsage.keyUsage.join(",")} / EKU ${newUsage.extKeyUsage.join(",") || "none"}, was ${oldUsage.keyUsage.join(",")} / ${oldUsage.extKeyUsage.join(",") || "none"})`, ev);
      }
      if (info.notAfter > addYears(info.notBefore, ctx.policy.lifetimeYears)) return fail(`the renewed certificate is valid for longer than the policy's ${ctx.policy.lifetimeYears} years`, ev);
      return pass("new serial, new key, same subject and use, within the policy's lifetime", ev);
    },
  },
  {
    id: "REN-OLD-SUPERSEDED",
    title: "Renewal supersedes the old certificate",
    source: "lifecycle policy: renew (the old ones superseded, or kept until expiry if the policy says so)",
    level: "SHOULD",
    needs: ["renew"],
    credentials: ["raToken"],
    judges: ["renewal", "status"],
    async run(ctx) {
      // The status is read after the renewal, of the certificate renewed.
      const { old } = await renewal(ctx);
      const st = await ctx.ca.status(old.issued.serial);
      const ev = { oldSerial: old.issued.serial, status: st, renewal: ctx.policy.renewal };
      if (ctx.policy.renewal === "keep-until-expiry") {
        return st.status === "good" ? pass("old certificate kept valid until it expires, as the policy says", ev) : fail(`the old certificate is ${state(st)} after renewal; the policy keeps it valid until it expires`, ev);
      }
      return st.status === "revoked" && st.reason === "superseded"
        ? pass("old certificate revoked as superseded", ev)
        : fail(`the old certificate is ${state(st)} after renewal; the policy has it revoked as superseded (RFC 5280 5.3.1)`, ev);
    },
  },
  {
    id: "REN-AUTHORISED",
    title: "A renewal without proof of the old key is refused and changes nothing",
    source: "lifecycle policy: renew (at a terminal, with the card and its PIN)",
    level: "MUST",
    // A CA without the concept (OpenSSL, CFSSL) is skipped with that reason, never passed.
    needs: ["renew", "renewalAuthorisation"],
    credentials: ["raToken"],
    judges: ["renewal", "status"],
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
      const otherwise: CaError[] = [];
      for (const a of attempts) {
        // Made before the renewal is asked: a refused challenge is not a refused renewal.
        const extra = await a.extra();
        try {
          const r = await ctx.ca.renew(serial, { csrPem: csr.pem, cardExpiry: ctx.fx.defaultCardExpiry(), ...extra });
          tried.push({ attempt: a.what, accepted: true, newSerial: r.serial });
        } catch (err) {
          // Who may renew is judged here: a 401 counts (RENEWAL_UNAUTHORISED); a 429 says nothing about it.
          const r = readRefusal(err);
          const about = refusedFor(r, RENEWAL_UNAUTHORISED);
          tried.push({ attempt: a.what, ...refusalEvidence(r), aboutAuthority: about });
          if (!about) otherwise.push(r);
        }
      }
      const after = await ctx.ca.status(serial);
      const ev: Record<string, unknown> = { serial, attempts: tried, before, after };
      const accepted = tried.filter((x) => x.accepted).map((x) => x.attempt);
      if (accepted.length) return fail(`renewed for a caller with ${accepted.join(" and ")}: renewal needs the old key's proof (or the operator)`, ev);
      if (!unchanged(before, after)) return fail(`renewal refused, but the old certificate is now ${state(after)}`, ev);
      // The control: the holder's own renewal, a proof by the old key over the CA's challenge, goes through (the
      // renewal REN-NEW-CERTIFICATE judges). Only then were the refusals above about who asked, not a CA that
      // renews nobody.
      const refusedRight = await control(ctx, ev);
      if (refusedRight) return refusedRight;
      if (otherwise.length) throw refusedOtherwise(otherwise[0], RENEWAL_UNAUTHORISED.what, ev);
      return pass(`refused (${tried.map((x) => `${x.status} ${x.reason}`).join(", ")}); the old certificate is unchanged, and with the old key's proof the holder renewed`, ev);
    },
  },
];

/**
 * REN-AUTHORISED's control: the renewal with the old key's valid proof, put
 * in `ev.control`. A refusal of it as unauthorised is a defect: the failure is
 * returned. Any other refusal, or a 401/429, leaves the check not judged
 * (thrown); a renewal the old key cannot prove is judged by ISS-PUBLIC-KEY
 * (a skip, thrown).
 */
async function control(ctx: CheckContext, ev: Record<string, unknown>): Promise<Verdict | undefined> {
  try {
    const { old, renewed } = await ctx.fx.renewal();
    ev.control = { renewed: true, oldSerial: old.issued.serial, newSerial: renewed.serial };
    return undefined;
  } catch (err) {
    const r = refusal(err);
    ev.control = refusalEvidence(r);
    if (refusedFor(r, VALID_PROOF_REFUSED)) {
      return fail(`the CA refuses the holder's own valid proof (${r.status} ${r.reason}): a renewal signed with the old certificate's key over the CA's challenge was refused as unauthorised, so refusing the attempts above shows nothing`, ev);
    }
    throw refusedOtherwise(r, "a renewal with the old key's valid proof", ev);
  }
}
