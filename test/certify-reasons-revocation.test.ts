import test, { type ExecutionContext } from "ava";
import { DEFAULT_POLICY, EventBus, SystemClock } from "../core/index.js";
import { cfsslRefusal } from "../conformance/adapters/cfssl.js";
import { createEmbeddedAdapter, type EmbeddedAdapterOptions } from "../conformance/adapters/embedded.js";
import { FaultyCa, type Fault } from "../conformance/adapters/faulty.js";
import { RefusingCa, type Refusal, type RefusableOps } from "../conformance/adapters/refusing.js";
import { runCatalog, type CheckResult } from "../conformance/runner.js";
import { CATALOG, type CertifyOptions } from "../conformance/checks/index.js";
import { normSerial } from "../conformance/pkix.js";
import type { CaAdapter, Holder, RevokeRequest } from "../simulator/ca/api.js";
import type { EmbeddedCa } from "../simulator/ca/index.js";

/**
 * Each renewal and revocation check passes only for its own reason: a CA
 * that does the wrong thing the check is about (a FaultyCa, or a small
 * wrapper here), hidden behind a refusal for another reason (RefusingCa), is
 * not given a pass; and each still passes on the correct embedded CA.
 */
const clock = new SystemClock();

const MINE = [
  "REN-NEW-CERTIFICATE",
  "REN-OLD-SUPERSEDED",
  "REN-AUTHORISED",
  "REV-REASONS",
  "REV-UNKNOWN-SERIAL",
  "REV-DUPLICATE",
  "REV-HOLD-RELEASE",
  "REV-CANCELLATION-CODES",
  "REV-AUTH-WRONG-CODE",
  "REV-AUTH-LOCKOUT",
  "REV-AUTH-ROLE",
];

/** A propagation horizon short enough that REV-DUPLICATE's watch never waits long, and far from the embedded CA's delays. */
const OPTIONS: Partial<CertifyOptions> = { propagationThresholdMs: 5_000, propagationHorizonMs: 5_000 };

/** A fresh embedded CA (closed when the test ends), wrapped by `wrap`, and the verdicts of `ids` on it. */
async function judge(t: ExecutionContext, ids: string[], wrap: (ca: EmbeddedCa) => CaAdapter = (ca) => ca, embedded: EmbeddedAdapterOptions = {}): Promise<CheckResult[]> {
  const ca = await createEmbeddedAdapter(embedded);
  t.teardown(() => ca.close());
  const r = await runCatalog(wrap(ca), { bus: new EventBus(clock), clock, only: ids, options: OPTIONS });
  return r.results;
}

const one = async (t: ExecutionContext, id: string, wrap: (ca: EmbeddedCa) => CaAdapter, embedded?: EmbeddedAdapterOptions) => (await judge(t, [id], wrap, embedded))[0];

/** A refusal of `op` requests (those `when` picks), typed by the operation. */
function refuse<K extends keyof RefusableOps>(op: K, r: { status: number; reason: string; message: string; when?: (arg: RefusableOps[K]) => boolean }): Refusal {
  return { op, ...r } as unknown as Refusal;
}

/** The embedded CA with one fault, behind refusals for another reason. */
const hidden = (fault: Fault, refusals: Refusal[]) => (ca: EmbeddedCa) => new RefusingCa(new FaultyCa(ca, fault), refusals);

/** A CFSSL error, as the CFSSL adapter throws it (`cfsslRefusal` maps its code and message to the seam's status and reason). */
function cfssl(code: number, message: string, httpStatus = 400): { status: number; reason: string; message: string } {
  return { ...cfsslRefusal(code, message, httpStatus), message: `cfssl ${code}: ${message}` };
}

/** Not judged because the CA refused for another reason than the check's. */
function refusedOtherwise(t: ExecutionContext, r: CheckResult, status: number, reason: string) {
  t.is(r.outcome, "error", `${r.id}: ${r.message}`);
  t.is(r.cause, "refused-otherwise", r.message);
  t.is(r.evidence.status, status);
  t.is(r.evidence.reason, reason);
  t.truthy(r.fix);
}

/** Every CaAdapter method of `inner`, with some replaced: for defects no FaultyCa fault has. */
function altered(inner: CaAdapter, overrides: Partial<CaAdapter>): CaAdapter {
  const same: CaAdapter = {
    name: `${inner.name} (altered)`,
    capabilities: () => inner.capabilities(),
    issue: (req) => inner.issue(req),
    renew: (serial, req) => inner.renew(serial, req),
    ...(inner.renewalChallenge ? { renewalChallenge: (serial: string) => inner.renewalChallenge!(serial) } : {}),
    revoke: (req) => inner.revoke(req),
    release: (serial, token) => inner.release(serial, token),
    status: (serial) => inner.status(serial),
    crl: () => inner.crl(),
    ocsp: (req, method) => inner.ocsp(req, method),
    anchors: () => inner.anchors(),
    ...(inner.credentials ? { credentials: () => inner.credentials!() } : {}),
    close: () => inner.close(),
  };
  return { ...same, ...overrides };
}

/**
 * The embedded CA, recording what it issued: its serials, and the cancellation
 * codes it handed out, so that a wrapper can tell certify's wrong codes (of
 * the right one's shape, drawn at random) from the right ones.
 */
function recorded(ca: EmbeddedCa): { adapter: CaAdapter; issued: (serial: string) => boolean; wrong: (q: RevokeRequest) => boolean } {
  const serials = new Set<string>();
  const codes = new Set<string>();
  const adapter = altered(ca, {
    issue: async (req) => {
      const c = await ca.issue(req);
      serials.add(normSerial(c.serial));
      for (const code of Object.values(c.cancellationCodes ?? {})) if (code) codes.add(code);
      return c;
    },
  });
  return { adapter, issued: (serial) => serials.has(normSerial(serial)), wrong: (q) => q.code !== undefined && !codes.has(q.code) };
}

test("on the correct embedded CA every renewal and revocation check passes, with the refusal's status, reason and message as evidence", async (t) => {
  const results = await judge(t, MINE);
  t.deepEqual(
    results.map((r) => [r.id, r.outcome]),
    MINE.map((id) => [id, "pass"]),
    results.map((r) => `${r.id}: ${r.message}`).join("\n"),
  );
  const by = (id: string) => results.find((r) => r.id === id)!;
  t.like(by("REV-UNKNOWN-SERIAL").evidence, { status: 404, reason: "not-found", after: { status: "unknown" } });
  t.regex(String(by("REV-UNKNOWN-SERIAL").evidence.caMessage), /no certificate with serial/);
  t.like(by("REV-DUPLICATE").evidence, { status: 409, reason: "already-revoked" });
  t.like(by("REV-AUTH-WRONG-CODE").evidence, { status: 403, reason: "forbidden", statusAfter: "good", control: { revoked: "revoked", statusAfter: "revoked" } });
  t.like(by("REV-AUTH-ROLE").evidence, { status: 403, reason: "forbidden", statusAfter: "good", control: { revoked: "revoked", statusAfter: "revoked" } });
  t.is(by("REV-AUTH-LOCKOUT").message, "stopped after 5 wrong codes (refused with 429), not before");
  // the right code revoked a fresh certificate first (the control), and a fresh one again after the limit: the 429 was the lockout's
  t.like(by("REV-AUTH-LOCKOUT").evidence, { control: { revoked: "revoked", statusAfter: "revoked" }, afterLimit: { rightRefused: { status: 429, reason: "too-many-attempts" } }, addressProbe: { throttled: false } });
  t.like(by("REV-UNKNOWN-SERIAL").evidence, { control: { revoked: "revoked", statusAfter: "revoked" } });
  t.like(by("REN-AUTHORISED").evidence, { control: { renewed: true } });
  const attempts = by("REN-AUTHORISED").evidence.attempts as Array<Record<string, unknown>>;
  t.deepEqual(attempts.map((a) => [a.status, a.reason, a.aboutAuthority]), [[403, "renewal-unauthorised", true], [403, "bad-proof", true]]);
  // no code, token or key in any evidence
  t.false(/PRIVATE KEY|operatorToken|raToken/.test(JSON.stringify(results.map((r) => r.evidence))));
});

test("each check says what it sends and what its verdict rests on", (t) => {
  const of = (id: string) => CATALOG.find((c) => c.id === id)!;
  for (const id of MINE) t.truthy(of(id).judges?.length, id);
  t.deepEqual(of("REN-NEW-CERTIFICATE").judges, ["renewal"]);
  for (const id of ["REN-OLD-SUPERSEDED", "REN-AUTHORISED"]) t.deepEqual(of(id).judges, ["renewal", "status"], id);
  for (const id of MINE.filter((x) => x.startsWith("REV-") && x !== "REV-CANCELLATION-CODES")) t.deepEqual(of(id).judges, ["revocation", "status"], id);
  t.deepEqual(of("REV-CANCELLATION-CODES").judges, ["issuance"]);
  // the operator's token for the unknown serial, the RA's to issue the control's certificate
  t.deepEqual(of("REV-UNKNOWN-SERIAL").credentials, ["raToken", "operatorToken"]);
  t.deepEqual(of("REV-HOLD-RELEASE").credentials, ["raToken", "operatorToken"]);
  for (const id of MINE.filter((x) => x !== "REV-UNKNOWN-SERIAL" && x !== "REV-HOLD-RELEASE")) t.deepEqual(of(id).credentials, ["raToken"], id);
});

test("REN-NEW-CERTIFICATE: a renewal under another profile (a signature certificate for an authentication one) fails", async (t) => {
  const r = await one(t, "REN-NEW-CERTIFICATE", (ca) => {
    const holders = new Map<string, Holder>();
    return altered(ca, {
      issue: async (req) => {
        const c = await ca.issue(req);
        holders.set(normSerial(c.serial), req.holder);
        return c;
      },
      // the new key, the same holder, a new serial: but certified for signing
      renew: async (serial, req) => ca.issue({ csrPem: req.csrPem, profile: "signature", holder: holders.get(normSerial(serial))!, cardExpiry: req.cardExpiry, raToken: ca.raToken }),
    });
  });
  t.is(r.outcome, "fail", r.message);
  t.regex(r.message, /^the renewed certificate is for another use than the one it renews/);
  t.notDeepEqual(r.evidence.oldUsage, r.evidence.newUsage);
});

test("REN-NEW-CERTIFICATE: a renewal refused for another reason is not judged", async (t) => {
  const r = await one(t, "REN-NEW-CERTIFICATE", hidden("renew-returns-old", [refuse("renew", { status: 413, reason: "too-large", message: "the body is larger than this endpoint takes (65536 bytes)" })]));
  t.is(r.outcome, "error", r.message);
  t.is(r.cause, "refused-otherwise");
});

test("REN-OLD-SUPERSEDED: an old certificate kept valid fails in the policy's words; a renewal refused for another reason is not judged", async (t) => {
  const kept = await one(t, "REN-OLD-SUPERSEDED", (ca) => ca, { renewal: "keep-until-expiry" });
  t.is(kept.outcome, "fail");
  t.is(kept.message, "the old certificate is good after renewal; the policy has it revoked as superseded (RFC 5280 5.3.1)");
  const refused = await one(t, "REN-OLD-SUPERSEDED", hidden("renew-returns-old", [refuse("renew", { status: 400, reason: "bad-card-expiry", message: "cardExpiry must be a date string" })]));
  t.is(refused.outcome, "error");
  t.is(refused.cause, "refused-otherwise");
});

test("REN-AUTHORISED: a CA renewing without proof, behind a 413 for proofless requests, is not given a pass", async (t) => {
  const r = await one(
    t,
    "REN-AUTHORISED",
    hidden("renew-without-proof", [refuse("renew", { when: ({ req }) => req.proof === undefined, status: 413, reason: "too-large", message: "the body is larger than this endpoint takes (65536 bytes)" })]),
  );
  refusedOtherwise(t, r, 413, "too-large");
  // the attempt with a proof by another key was refused for its authority, and is in the evidence
  const attempts = r.evidence.attempts as Array<Record<string, unknown>>;
  t.deepEqual(attempts.map((a) => [a.status, a.reason, a.aboutAuthority]), [[413, "too-large", false], [403, "bad-proof", true]]);
});

test("REN-AUTHORISED: a refused renewal challenge is not a refused renewal: the attempt with another key's proof was never made", async (t) => {
  const r = await one(t, "REN-AUTHORISED", (ca) => new RefusingCa(ca, [refuse("renewalChallenge", { status: 403, reason: "forbidden", message: "renewal challenges need the operator token" })]));
  refusedOtherwise(t, r, 403, "forbidden");
});

test("REN-AUTHORISED: a CA refusing every renewal (403 bad-proof) fails: it refuses the holder's own valid proof; the renewal checks skip, pointing there", async (t) => {
  const results = await judge(t, ["REN-NEW-CERTIFICATE", "REN-OLD-SUPERSEDED", "REN-AUTHORISED"], (ca) =>
    new RefusingCa(ca, [refuse("renew", { status: 403, reason: "bad-proof", message: "the proof does not verify under the certificate's key" })]),
  );
  const by = (id: string) => results.find((r) => r.id === id)!;
  const authorised = by("REN-AUTHORISED");
  t.is(authorised.outcome, "fail", authorised.message);
  t.regex(authorised.message, /^the CA refuses the holder's own valid proof \(403 bad-proof\)/);
  t.like(authorised.evidence, { control: { status: 403, reason: "bad-proof" } });
  for (const id of ["REN-NEW-CERTIFICATE", "REN-OLD-SUPERSEDED"]) {
    t.is(by(id).outcome, "skip", id);
    t.regex(by(id).message, /see REN-AUTHORISED$/, id);
  }
});

test("REN-AUTHORISED: the holder's own renewal refused for another reason (413) is not judged, not a pass", async (t) => {
  // the two attempts without authority are refused as such; the third renewal, certify's with the old key's proof, gets 413
  let renewals = 0;
  const r = await one(t, "REN-AUTHORISED", (ca) => new RefusingCa(ca, [refuse("renew", { when: () => ++renewals === 3, status: 413, reason: "too-large", message: "the body is larger than this endpoint takes (65536 bytes)" })]));
  refusedOtherwise(t, r, 413, "too-large");
  t.like(r.evidence, { control: { status: 413, reason: "too-large" } });
  const attempts = r.evidence.attempts as Array<Record<string, unknown>>;
  t.deepEqual(attempts.map((a) => [a.status, a.reason, a.aboutAuthority]), [[403, "renewal-unauthorised", true], [403, "bad-proof", true]]);
});

test("REN-AUTHORISED: a CA certifying a key of its own leaves no old key to prove with: skipped, pointing at ISS-PUBLIC-KEY", async (t) => {
  const r = await one(t, "REN-AUTHORISED", (ca) => new FaultyCa(ca, "substitute-key"));
  t.is(r.outcome, "skip", r.message);
  t.regex(r.message, /see ISS-PUBLIC-KEY/);
});

test("REN-AUTHORISED: a CA renewing without proof still fails", async (t) => {
  const r = await one(t, "REN-AUTHORISED", (ca) => new FaultyCa(ca, "renew-without-proof"));
  t.is(r.outcome, "fail");
  t.regex(r.message, /^renewed for a caller with no proof/);
});

test("REV-REASONS: reasons collapsed to unspecified, behind a 403 for the credentials, are not judged (nor a defect)", async (t) => {
  const r = await one(
    t,
    "REV-REASONS",
    hidden("collapse-reasons", [refuse("revoke", { when: (q) => q.reason !== "keyCompromise", status: 403, reason: "forbidden", message: "the credentials do not allow revoking this certificate" })]),
  );
  refusedOtherwise(t, r, 403, "forbidden");
});

test("REV-REASONS: a refusal of the reason itself fails, in every CA's words; CFSSL's generic code only with its message", async (t) => {
  const refusing = (status: number, reason: string, message: string) => (ca: EmbeddedCa) => new RefusingCa(ca, [refuse("revoke", { when: (q) => q.reason === "privilegeWithdrawn", status, reason, message })]);
  const openssl = await one(t, "REV-REASONS", refusing(400, "unsupported-reason", "openssl ca cannot record reason privilegeWithdrawn"));
  t.is(openssl.outcome, "fail");
  t.is(openssl.message, "privilegeWithdrawn refused (400 unsupported-reason)");
  const policy = await one(t, "REV-REASONS", refusing(403, "reason-not-allowed", "the policy does not let the holder revoke with reason privilegeWithdrawn"));
  t.is(policy.outcome, "fail");
  // CFSSL's "Invalid reason code" as the CFSSL adapter maps it: about the reason
  const invalid = cfssl(400, "Invalid reason code");
  const cfsslReason = await one(t, "REV-REASONS", refusing(invalid.status, invalid.reason, invalid.message));
  t.is(cfsslReason.outcome, "fail");
  t.is(cfsslReason.message, `privilegeWithdrawn refused (${invalid.status} ${invalid.reason})`);
  // a generic CFSSL code the adapter could not place is not about the reason
  const unparsed = cfssl(400, "Unable to parse revocation request");
  const cfsslOther = await one(t, "REV-REASONS", refusing(unparsed.status, unparsed.reason, unparsed.message));
  refusedOtherwise(t, cfsslOther, unparsed.status, unparsed.reason);
});

test("REV-UNKNOWN-SERIAL: a CA acknowledging unknown serials, behind a 400 about the answers (the reported case), is not given a pass", async (t) => {
  const answers = await one(
    t,
    "REV-UNKNOWN-SERIAL",
    hidden("ack-unknown-serial", [refuse("revoke", { status: 400, reason: "bad-request", message: "answers to the registration questions are required for the operator role" })]),
  );
  refusedOtherwise(t, answers, 400, "bad-request");
  t.regex(answers.message, /answers to the registration questions are required/);
  const role = await one(t, "REV-UNKNOWN-SERIAL", hidden("ack-unknown-serial", [refuse("revoke", { status: 403, reason: "forbidden", message: "revocation by the operator needs the operator token, not the RA's" })]));
  refusedOtherwise(t, role, 403, "forbidden");
  // and a CA acknowledging them still fails
  const acked = await one(t, "REV-UNKNOWN-SERIAL", (ca) => new FaultyCa(ca, "ack-unknown-serial"));
  t.is(acked.outcome, "fail");
});

/** Refuses revocations of serials the CA never issued (as CFSSL's certdb does), and only those: the control's goes through. */
const refusingUnknown = (status: number, reason: string, message: string) => (ca: EmbeddedCa) => {
  const rec = recorded(ca);
  return new RefusingCa(rec.adapter, [refuse("revoke", { when: (q) => !rec.issued(q.serial), status, reason, message })]);
};

test("REV-UNKNOWN-SERIAL: CFSSL's certdb 'certificate not found' passes; its code with another message does not", async (t) => {
  // CFSSL's "certificate not found" as the CFSSL adapter maps it
  const notFound = cfssl(11200, "failed to revoke the certificate: certificate not found");
  const found = await one(t, "REV-UNKNOWN-SERIAL", refusingUnknown(notFound.status, notFound.reason, notFound.message));
  t.is(found.outcome, "pass", found.message);
  // its certdb code with a message that is not about the serial teaches nothing
  const noKey = cfssl(11200, "no such authority key");
  const other = await one(t, "REV-UNKNOWN-SERIAL", refusingUnknown(noKey.status, noKey.reason, noKey.message));
  refusedOtherwise(t, other, noKey.status, noKey.reason);
  // nor does a 404 whose reason is not about the serial
  const route = await one(t, "REV-UNKNOWN-SERIAL", refusingUnknown(404, "no-such-route", "no such authority key"));
  refusedOtherwise(t, route, 404, "no-such-route");
});

test("REV-UNKNOWN-SERIAL: a CA answering 404 to every revocation (a route it does not have) is not given a pass: the control for an issued serial gets 404 too", async (t) => {
  const r = await one(t, "REV-UNKNOWN-SERIAL", (ca) => new RefusingCa(ca, [refuse("revoke", { status: 404, reason: "not-found", message: "no such endpoint" })]));
  refusedOtherwise(t, r, 404, "not-found");
  t.regex(r.message, /^the same request for a serial the CA did issue was refused too \(404 not-found: "no such endpoint"\), so the 404 was not shown to be about the serial/);
  t.like(r.evidence, { unknownSerialRefusal: { status: 404, reason: "not-found" }, control: { status: 404, reason: "not-found" } });
  // the control was about another serial: one the CA issued
  const control = r.evidence.control as { serial: string };
  t.not(normSerial(control.serial), normSerial(String(r.evidence.serial)));
});

test("REV-UNKNOWN-SERIAL and REV-HOLD-RELEASE: without the operator's token they are not judged, with the fix, before anything is sent", async (t) => {
  let issued = 0;
  let revoked = 0;
  const results = await judge(t, ["REV-UNKNOWN-SERIAL", "REV-HOLD-RELEASE"], (ca) =>
    altered(ca, {
      credentials: () => ({ raToken: ca.raToken }),
      issue: (req) => (issued++, ca.issue(req)),
      revoke: (req) => (revoked++, ca.revoke(req)),
    }),
  );
  for (const r of results) {
    t.is(r.outcome, "error", r.id);
    t.is(r.cause, "credential", r.id);
    t.deepEqual(r.evidence.credentialsMissing, ["operatorToken"], r.id);
    t.regex(r.fix ?? "", /operatorToken/);
  }
  t.is(issued, 0);
  t.is(revoked, 0);
});

test("REV-DUPLICATE: a CA acknowledging a second revocation, behind a 403 for the credentials, is not given a pass", async (t) => {
  const seen = new Set<string>();
  const second = (q: { serial: string }) => seen.has(q.serial) || (seen.add(q.serial), false);
  const r = await one(t, "REV-DUPLICATE", hidden("ack-duplicate", [refuse("revoke", { when: second, status: 403, reason: "forbidden", message: "the credentials do not allow revoking this certificate" })]));
  refusedOtherwise(t, r, 403, "forbidden");
  t.like(r.evidence, { before: { status: "revoked" }, after: { status: "revoked" } });
  // and acknowledging it still fails
  const acked = await one(t, "REV-DUPLICATE", (ca) => new FaultyCa(ca, "ack-duplicate"));
  t.is(acked.outcome, "fail");
  t.is(acked.message, "the CA acknowledged revoking an already revoked certificate");
});

test("REV-HOLD-RELEASE: a CA that acknowledges certificateHold but holds nothing fails (it is not 'refused' the release)", async (t) => {
  const r = await one(t, "REV-HOLD-RELEASE", (ca) =>
    altered(ca, {
      revoke: async (req) => (req.reason === "certificateHold" ? { serial: req.serial, status: "on-hold", reason: "certificateHold", revokedAt: clock.now() } : ca.revoke(req)),
    }),
  );
  t.is(r.outcome, "fail", r.message);
  t.is(r.message, "after certificateHold the certificate is good, not on hold (RFC 5280 5.3.1)");
});

test("REV-HOLD-RELEASE: a release that does nothing, behind a refusal for another reason, is not given a pass", async (t) => {
  const r = await one(t, "REV-HOLD-RELEASE", hidden("release-noop", [refuse("release", { status: 400, reason: "bad-serial", message: "serial must be a hex string" })]));
  refusedOtherwise(t, r, 400, "bad-serial");
  t.like(r.evidence, { onHold: { status: "on-hold" }, after: { status: "on-hold" } });
  // and a release that does nothing still fails
  const noop = await one(t, "REV-HOLD-RELEASE", (ca) => new FaultyCa(ca, "release-noop"));
  t.is(noop.outcome, "fail");
  t.regex(noop.message, /^after release the certificate is on-hold/);
});

test("REV-HOLD-RELEASE: the operator token refused is a credential to fix; 'not on hold' for a held certificate is a defect", async (t) => {
  const token = await one(t, "REV-HOLD-RELEASE", (ca) => new RefusingCa(ca, [refuse("release", { status: 403, reason: "forbidden", message: "release from hold needs the operator token, not the RA's" })]));
  t.is(token.outcome, "error");
  t.is(token.cause, "credential");
  const missing = await one(t, "REV-HOLD-RELEASE", (ca) => new RefusingCa(ca, [refuse("release", { status: 401, reason: "credential-required", message: "release from hold needs the operator token" })]));
  t.is(missing.outcome, "error");
  t.is(missing.cause, "credential");
  const notHeld = await one(t, "REV-HOLD-RELEASE", (ca) => new RefusingCa(ca, [refuse("release", { status: 409, reason: "not-on-hold", message: "the certificate is not on hold" })]));
  t.is(notHeld.outcome, "fail");
  t.regex(notHeld.message, /on hold, but refused to release it as not on hold/);
});

test("REV-CANCELLATION-CODES: a CA handing out no codes, behind a refused issuance, is not judged", async (t) => {
  const r = await one(t, "REV-CANCELLATION-CODES", hidden("no-codes", [refuse("issue", { status: 413, reason: "too-large", message: "the body is larger than this endpoint takes (65536 bytes)" })]));
  t.is(r.outcome, "error");
  t.is(r.cause, "refused-otherwise");
});

test("REV-AUTH-WRONG-CODE: a CA accepting any holder code, behind a 400 about the body, is not given a pass", async (t) => {
  const r = await one(t, "REV-AUTH-WRONG-CODE", hidden("ignore-holder-code", [refuse("revoke", { when: (q) => q.role === "holder", status: 400, reason: "bad-request", message: "email is too long" })]));
  refusedOtherwise(t, r, 400, "bad-request");
});

test("REV-AUTH-WRONG-CODE: a CA refusing every holder with 403 is not shown to refuse the code: the right code is refused too", async (t) => {
  const r = await one(t, "REV-AUTH-WRONG-CODE", hidden("ignore-holder-code", [refuse("revoke", { when: (q) => q.role === "holder", status: 403, reason: "forbidden", message: "holders may not revoke here" })]));
  t.is(r.outcome, "error");
  t.is(r.cause, "refused-otherwise");
  t.regex(r.message, /^the right credential was refused too \(403 forbidden/);
  t.like(r.evidence, { status: 403, reason: "forbidden", control: { status: 403, reason: "forbidden" } });
});

test("REV-AUTH-LOCKOUT: wrong codes refused for another reason are not guesses the CA counted: not judged, not a defect", async (t) => {
  const r = await one(t, "REV-AUTH-LOCKOUT", (ca) => {
    const rec = recorded(ca);
    return new RefusingCa(rec.adapter, [refuse("revoke", { when: rec.wrong, status: 400, reason: "bad-request", message: "name is too long" })]);
  });
  refusedOtherwise(t, r, 400, "bad-request");
});

test("REV-AUTH-LOCKOUT: a CA that never locks, whose right code after the limit is refused 429 for being busy, is not given a pass", async (t) => {
  const wrong = new Map<string, number>();
  const busyAfterLimit = (isWrong: (q: RevokeRequest) => boolean) => (q: RevokeRequest) => {
    if (isWrong(q)) return wrong.set(q.serial, (wrong.get(q.serial) ?? 0) + 1), false;
    return (wrong.get(q.serial) ?? 0) >= DEFAULT_POLICY.maxFailedAttempts;
  };
  const r = await one(
    t,
    "REV-AUTH-LOCKOUT",
    (ca) => {
      const rec = recorded(ca);
      return new RefusingCa(rec.adapter, [refuse("revoke", { when: busyAfterLimit(rec.wrong), status: 429, reason: "busy", message: "the CA is receiving too much at once; try again shortly" })]);
    },
    { maxFailedAttempts: 1_000_000 },
  );
  refusedOtherwise(t, r, 429, "busy");
  // without the wrapper the same CA fails: no limit on guessing
  const plain = await one(t, "REV-AUTH-LOCKOUT", (ca) => ca, { maxFailedAttempts: 1_000_000 });
  t.is(plain.outcome, "fail");
  t.regex(plain.message, /no limit on guessing/);
});

test("REV-AUTH-LOCKOUT: a CA refusing every holder (403 forbidden) is not shown to stop guessers: the right code on a fresh certificate is refused too", async (t) => {
  const r = await one(t, "REV-AUTH-LOCKOUT", (ca) => new RefusingCa(ca, [refuse("revoke", { when: (q) => q.role === "holder", status: 403, reason: "forbidden", message: "holders may not revoke here" })]));
  refusedOtherwise(t, r, 403, "forbidden");
  t.regex(r.message, /^the right code was refused with no wrong code before it \(403 forbidden: "holders may not revoke here"\)/);
  t.like(r.evidence, { control: { status: 403, reason: "forbidden" } });
});

test("REV-AUTH-LOCKOUT: the right code refused after the limit because the whole address is throttled (429) is not a lockout: not judged", async (t) => {
  // A CA that never locks a certificate's guesser, but whose budget of failed checks for this address runs out with
  // the last wrong code: from then on every holder of every certificate gets 429 too-many-attempts, as the embedded
  // CA's source budget answers.
  const n = DEFAULT_POLICY.maxFailedAttempts;
  let wrongSeen = 0;
  const r = await one(
    t,
    "REV-AUTH-LOCKOUT",
    (ca) => {
      const rec = recorded(ca);
      const spent = (q: RevokeRequest) => {
        if (wrongSeen >= 2 * n - 1) return true; // n - 1 wrong codes, then n: the address's budget is spent
        if (rec.wrong(q)) wrongSeen++;
        return false;
      };
      return new RefusingCa(rec.adapter, [refuse("revoke", { when: (q) => q.role === "holder" && spent(q), status: 429, reason: "too-many-attempts", message: "too many failed attempts from here: try again in 5 s" })]);
    },
    { maxFailedAttempts: 1_000_000 },
  );
  t.is(r.outcome, "error", r.message);
  t.is(r.cause, "throttled");
  t.is(r.message, "this address is throttled by the CA (429)");
  t.like(r.evidence, { afterLimit: { rightRefused: { status: 429, reason: "too-many-attempts" } }, addressProbe: { status: 429, reason: "too-many-attempts" } });
});

test("REV-AUTH-LOCKOUT: after the limit, a probe refused for another reason tells neither lockout nor address throttling: not judged", async (t) => {
  // The guessed certificate answers 429 once its guesser has spent n wrong codes; the fresh certificate of the probe
  // that would tell a lockout from address-wide throttling is refused for something else (403).
  const n = DEFAULT_POLICY.maxFailedAttempts;
  let wrongSeen = 0;
  let guessed: string | undefined;
  const r = await one(
    t,
    "REV-AUTH-LOCKOUT",
    (ca) => {
      const rec = recorded(ca);
      const answer = (q: RevokeRequest): "429" | "403" | undefined => {
        if (rec.wrong(q)) {
          wrongSeen++;
          guessed = q.serial;
          return undefined;
        }
        if (wrongSeen < 2 * n - 1) return undefined;
        return q.serial === guessed ? "429" : "403";
      };
      return new RefusingCa(rec.adapter, [
        refuse("revoke", { when: (q) => q.role === "holder" && answer(q) === "429", status: 429, reason: "too-many-attempts", message: "locked: try again in 5 s" }),
        refuse("revoke", { when: (q) => q.role === "holder" && wrongSeen >= 2 * n - 1 && q.serial !== guessed, status: 403, reason: "forbidden", message: "revocations paused for maintenance" }),
      ]);
    },
    { maxFailedAttempts: 1_000_000 },
  );
  refusedOtherwise(t, r, 403, "forbidden");
  t.regex(r.message, /probe telling certificate from address throttling/);
});

test("REV-AUTH-LOCKOUT: a CA accepting any holder code fails: a wrong code revoked the certificate", async (t) => {
  const r = await one(t, "REV-AUTH-LOCKOUT", (ca) => new FaultyCa(ca, "ignore-holder-code"));
  t.is(r.outcome, "fail", r.message);
  t.regex(r.message, /^a wrong code revoked the certificate/);
  t.like(r.evidence, { afterFewer: { wrongAccepted: 1, statusAfter: "revoked" } });
});

test("REV-AUTH-WRONG-CODE and REV-AUTH-LOCKOUT: wrong codes have the right code's shape, so a CA that checks the format refuses them for being wrong", async (t) => {
  const sent: string[] = [];
  const CODE = /^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$/;
  const results = await judge(t, ["REV-AUTH-WRONG-CODE", "REV-AUTH-LOCKOUT"], (ca) => {
    const rec = recorded(ca);
    const malformed = (q: RevokeRequest) => {
      if (rec.wrong(q)) sent.push(q.code!);
      return q.code !== undefined && !CODE.test(q.code);
    };
    return new RefusingCa(rec.adapter, [refuse("revoke", { when: malformed, status: 400, reason: "bad-code", message: "a cancellation code is 16 symbols of Crockford base32, XXXX-XXXX-XXXX-XXXX" })]);
  });
  t.deepEqual(
    results.map((r) => [r.id, r.outcome]),
    [
      ["REV-AUTH-WRONG-CODE", "pass"],
      ["REV-AUTH-LOCKOUT", "pass"],
    ],
    results.map((r) => r.message).join("; "),
  );
  // 1 for REV-AUTH-WRONG-CODE, 4 + 5 for REV-AUTH-LOCKOUT: all of the right shape, none twice
  t.is(sent.length, 1 + 2 * DEFAULT_POLICY.maxFailedAttempts - 1);
  t.true(sent.every((c) => CODE.test(c)));
  t.is(new Set(sent).size, sent.length);
});

test("REV-AUTH-ROLE: a CA accepting any representative's code, behind a 400 about the role, is not given a pass", async (t) => {
  const r = await one(
    t,
    "REV-AUTH-ROLE",
    hidden("ignore-representative-code", [refuse("revoke", { when: (q) => q.role === "legal-representative", status: 400, reason: "bad-role", message: "role must be one of holder, operator" })]),
  );
  refusedOtherwise(t, r, 400, "bad-role");
});

test("REV-AUTH-ROLE: a CA refusing every representative with 403 is not shown to refuse the other organisation's code", async (t) => {
  const r = await one(
    t,
    "REV-AUTH-ROLE",
    hidden("ignore-representative-code", [refuse("revoke", { when: (q) => q.role === "legal-representative", status: 403, reason: "forbidden", message: "representatives may not revoke here" })]),
  );
  t.is(r.outcome, "error");
  t.is(r.cause, "refused-otherwise");
  t.like(r.evidence, { status: 403, control: { status: 403 } });
  // and the CA accepting any representative's code still fails
  const any = await one(t, "REV-AUTH-ROLE", (ca) => new FaultyCa(ca, "ignore-representative-code"));
  t.is(any.outcome, "fail");
});

// ------------------------------------------------------------------ statuses that say nothing about the request

test("REV-REASONS: a 503 (the CA cannot serve now) or a 502 (a gateway) is not judged, never a refusal of the reason", async (t) => {
  const failing = (status: number, reason: string) => (ca: EmbeddedCa) =>
    new RefusingCa(ca, [refuse("revoke", { when: (q) => q.reason === "privilegeWithdrawn", status, reason, message: "try again shortly" })]);
  const unavailable = await one(t, "REV-REASONS", failing(503, "unavailable"));
  t.is(unavailable.outcome, "error", unavailable.message);
  t.is(unavailable.cause, "throttled");
  const gateway = await one(t, "REV-REASONS", failing(502, "bad-gateway"));
  t.is(gateway.outcome, "error", gateway.message);
  t.is(gateway.cause, "unreachable");
  // a 500 is still the CA failing a well-formed request
  const broken = await one(t, "REV-REASONS", failing(500, "internal"));
  t.is(broken.outcome, "fail", broken.message);
});

test("LIFECYCLE-SCENARIO: a step answered 503 is not judged; a step answered 500 is a CA defect resting on that step", async (t) => {
  const failing = (status: number, reason: string) => (ca: EmbeddedCa) => new RefusingCa(ca, [refuse("revoke", { status, reason, message: "the CA cannot revoke now" })]);
  const unavailable = await one(t, "LIFECYCLE-SCENARIO", failing(503, "unavailable"));
  t.is(unavailable.outcome, "error", unavailable.message);
  t.is(unavailable.cause, "throttled");
  const broken = await one(t, "LIFECYCLE-SCENARIO", failing(500, "internal"));
  t.is(broken.outcome, "fail", broken.message);
  t.regex(broken.message, /^after renew: the CA failed a well-formed request \(500 internal/);
  t.deepEqual(broken.evidence.restsOn, ["revocation"]);
});

test("REV-LOCKOUT-HOLDER: a control the CA acknowledges without revoking is not judged", async (t) => {
  const r = await one(t, "REV-LOCKOUT-HOLDER", (ca) =>
    altered(ca, { revoke: async (q) => (q.role === "holder" ? { serial: q.serial, status: "revoked", reason: q.reason, revokedAt: new Date() } : ca.revoke(q)) }),
  );
  t.is(r.outcome, "error", r.message);
  t.is(r.cause, "refused-otherwise");
  t.regex(r.message, /was acknowledged, but the certificate is good: the control did not revoke/);
  t.like(r.evidence, { control: { revoked: "revoked", statusAfter: "good" } });
});
