import { CARD_REVOCATION_REASONS, reasonAllowed, type LifecyclePolicy, type RevocationReason } from "../../core/index.js";
import { CaError } from "../../simulator/ca/index.js";
import { controlRevokes, state, unchanged } from "./controls.js";
import { CREDENTIAL_FIX, refusal, refusalEvidence, refusedFor, refusedOtherwise, Throttling, waited, type ExpectedRefusal } from "./refusals.js";
import { fail, NotJudged, pass, Precondition, skip, type Check } from "./types.js";

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
 * certdb's "certificate not found", CertStoreError 11200). The embedded
 * CA's server answers 404 not-found for a route it does not have too: a 404
 * passes only once the same request for an issued serial is not refused.
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

/** Release of a certificate that is not on hold: 409 not-on-hold (embedded, served). */
const NOT_ON_HOLD: ExpectedRefusal = { what: "409 not-on-hold", rules: [{ status: [409], reason: ["not-on-hold"] }] };

/** certify's operator token refused as another role's: 403 forbidden (embedded, served). */
const TOKEN_REFUSED: ExpectedRefusal = { what: "403 for another role's token", rules: [{ status: [403], reason: ["forbidden"] }] };

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
          // A 401, 429, 502, 503 or 504 is NotJudged by now (revokeAsHolder). A refusal of the reason, or another 5xx,
          // is the CA's; any other refusal (the credentials, the request's shape) says nothing about the reason.
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
    // The operator's token (with answers) for the unknown serial; the RA's to issue the control's certificate.
    credentials: ["raToken", "operatorToken"],
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
      const t = new Throttling();
      let r: CaError;
      try {
        const answer = await ctx.fx.unthrottled(() => ctx.ca.revoke({ serial, reason, role: "operator", operatorToken, answers }), t);
        return fail("the CA acknowledged revoking a serial it never issued", { serial, answer, after: await ctx.ca.status(serial), ...waited(t) });
      } catch (err) {
        r = refusal(err);
      }
      const after = await ctx.ca.status(serial);
      const ev: Record<string, unknown> = { serial, ...refusalEvidence(r), after, ...waited(t) };
      if (after.status !== "unknown") return fail(`refused (${r.status} ${r.reason}), but the CA now has the serial it never issued as ${state(after)}`, ev);
      if (!refusedFor(r, UNKNOWN_SERIAL)) throw refusedOtherwise(r, UNKNOWN_SERIAL.what, ev);
      // The control: the same request for a serial the CA did issue revokes. A CA that answers 404 to every
      // revocation (a route it does not have: "no such endpoint") said nothing about the serial.
      const c = await ctx.fx.issue("authentication");
      const control = await controlRevokes(ctx, c.issued.serial, () => ctx.ca.revoke({ serial: c.issued.serial, reason, role: "operator", operatorToken, answers: { holderId: c.holder.id } }), t, {
        what: "the same request for a serial the CA did issue",
        unshown: `so the ${r.status} was not shown to be about the serial`,
        fix: "see the CA's message: the operator's revocation was refused before any serial was looked up (its route, its token or its answers)",
        evidence: { ...ev, unknownSerialRefusal: refusalEvidence(r) },
      });
      return pass(`refused: ${r.status} ${r.reason}; the same request for a serial it issued revoked that one`, { ...ev, ...waited(t), control });
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
];
