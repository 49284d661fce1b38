import test from "ava";
import type { ExecutionContext } from "ava";
import { DEFAULT_POLICY, type LifecyclePolicy } from "../../core/index.js";
import { openScenario } from "../engine.js";
import type { Action, Expectation, Step, StepArgs } from "../format.js";
import { explorationScenario } from "./cast.js";
import { reasonGiven } from "./commands.js";
import { applyStep, initialModel, type LifecycleModel } from "./model.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Every model's steps so far, with its predictions: `confirm` runs them against the real card, terminals and embedded CA. */
const recorded = new WeakMap<LifecycleModel, Step[]>();

function model(policy?: LifecyclePolicy): LifecycleModel {
  const m = initialModel(explorationScenario({ seed: 7, ca: "embedded", ...(policy ? { policy: { ref: "test", policy } } : {}) }));
  recorded.set(m, []);
  return m;
}

/** One step's prediction, the model moved past it. */
function step(m: LifecycleModel, action: Action, args: StepArgs): Expectation {
  const expect = applyStep(m, action, args);
  const steps = recorded.get(m)!;
  steps.push({ index: steps.length, line: 0, action, args, expect });
  return expect;
}

/** Applies steps in order; returns each step's prediction. */
function play(m: LifecycleModel, ...steps: [Action, StepArgs][]) {
  return steps.map(([action, args]) => step(m, action, args));
}

/** The predictions hold for the real thing too: each step, run by the scenario engine against the embedded CA, passes. */
async function confirm(t: ExecutionContext, m: LifecycleModel): Promise<void> {
  const session = await openScenario(explorationScenario({ seed: 7, ca: "embedded", policy: { ref: "test", policy: m.policy } }));
  t.is(session.error, undefined);
  try {
    for (const st of recorded.get(m)!) {
      const r = await session.step(st);
      t.is(r.outcome, "pass", `step ${st.index + 1} ${st.action} ${JSON.stringify(st.args)}: ${r.message}`);
    }
  } finally {
    await session.finish();
  }
}

test("issue: a personal card gets 3-year certificates and the holder's code; a professional card that expires first caps them", async (t) => {
  const m = model();
  t.deepEqual(step(m, "issue", { card: "ana-card" }), { result: "ok", cappedByCard: false, validYears: 3, codeHolders: ["holder"] });
  // ben-card expires 2027-01-06 (the CHUID keeps the date: midnight), 9 hours short of two years after the start.
  t.deepEqual(step(m, "issue", { card: "ben-card" }), {
    result: "ok",
    cappedByCard: true,
    validYears: 2,
    codeHolders: ["holder", "legal-representative", "authorised-representative"],
  });
  t.is(m.cards["ben-card"].auth!.notAfter, Date.UTC(2027, 0, 6));
  await confirm(t, m);
});

test("issue: an absent card is refused, a blocked one cannot take its holder's PIN", async (t) => {
  const m = model();
  const [lost] = play(m, ["lose-card", { card: "ana-card" }], ["issue", { card: "ana-card" }]).slice(1);
  t.deepEqual(lost, { result: "refused", reason: "card-absent" });
  const out = play(m, ["verify-pin", { card: "ben-card", pin: "wrong", times: 3 }], ["issue", { card: "ben-card" }]);
  t.deepEqual(out, [
    { result: "refused", reason: "pin-blocked", retries: 0 },
    { result: "refused", reason: "pin-blocked" },
  ]);
  t.is(m.cards["ben-card"].gen, 0);
  await confirm(t, m);
});

test("PIN: wrong tries count down across terminals, the last blocks, the PUK unblocks with a new PIN", async (t) => {
  const m = model();
  step(m, "issue", { card: "ana-card" });
  const out = play(
    m,
    ["verify-pin", { card: "ana-card", pin: "wrong" }],
    ["authenticate", { card: "ana-card", pin: "wrong" }],
    ["sign", { card: "ana-card", document: "d1", pin: "wrong" }],
    ["authenticate", { card: "ana-card" }],
    ["unblock", { card: "ana-card", puk: "wrong", newPin: "564738" }],
    ["unblock", { card: "ana-card", newPin: "564738" }],
    ["authenticate", { card: "ana-card" }],
  );
  t.deepEqual(out, [
    { result: "refused", reason: "wrong-pin", retries: 2 },
    { result: "refused", reason: "wrong-pin", retries: 1 },
    { result: "refused", reason: "pin-blocked", retries: 0 },
    { result: "refused", reason: "pin-blocked" },
    { result: "refused", reason: "wrong-puk", retries: 2 },
    { result: "ok" },
    { result: "ok", validation: "valid" },
  ]);
  t.is(m.cards["ana-card"].pin, "564738");
  await confirm(t, m);
});

test("PUK: three wrong ones block it for good", async (t) => {
  const m = model();
  const out = play(m, ...[1, 2, 3, 4].map((): [Action, StepArgs] => ["unblock", { card: "ana-card", puk: "wrong", newPin: "564738" }]));
  t.deepEqual(
    out.map((o) => [o.reason, o.retries]),
    [
      ["wrong-puk", 2],
      ["wrong-puk", 1],
      ["puk-blocked", 0],
      ["puk-blocked", undefined],
    ],
  );
  await confirm(t, m);
});

test("sign: the certificate is checked before the PIN, so a revoked card spends no PIN try", async (t) => {
  const m = model();
  step(m, "issue", { card: "ana-card" });
  step(m, "revoke", { card: "ana-card", role: "holder", code: "correct", reason: "cessationOfOperation" });
  t.deepEqual(step(m, "sign", { card: "ana-card", document: "d1", pin: "wrong" }), { result: "refused", reason: "revoked" });
  t.is(m.cards["ana-card"].pinLeft, 3);
  t.deepEqual(step(m, "authenticate", { card: "ana-card", pin: "wrong" }), { result: "refused", reason: "wrong-pin", retries: 2 });
  t.is(m.documents.length, 0);
  await confirm(t, m);
});

test("verify-signature: a revocation at the signing instant counts, a later one only when checked now", async (t) => {
  const m = model();
  const out = play(
    m,
    ["issue", { card: "ana-card" }],
    ["sign", { card: "ana-card", document: "before" }],
    ["advance", { by: DAY }],
    ["sign", { card: "ana-card", document: "same-instant" }],
    ["revoke", { card: "ana-card", role: "operator", code: "correct", reason: "unspecified" }],
    ["verify-signature", { document: "before", at: "signing-time" }],
    ["verify-signature", { document: "before", at: "now" }],
    ["verify-signature", { document: "same-instant", at: "signing-time" }],
  );
  t.deepEqual(out.slice(5), [
    { result: "ok", validation: "valid" },
    { result: "refused", reason: "revoked" },
    { result: "refused", reason: "revoked" },
  ]);
  await confirm(t, m);
});

test("expiry: every use refused after notAfter (expiry before revocation), a signature still verifies at its signing time", async (t) => {
  const m = model();
  play(m, ["issue", { card: "ana-card" }], ["sign", { card: "ana-card", document: "d" }], ["revoke", { card: "ana-card", role: "holder", code: "correct", reason: "unspecified" }]);
  step(m, "advance", { to: new Date(m.cards["ana-card"].auth!.notAfter + 1000) });
  t.deepEqual(step(m, "authenticate", { card: "ana-card" }), { result: "refused", reason: "expired" });
  t.deepEqual(step(m, "verify-signature", { document: "d", at: "now" }), { result: "refused", reason: "expired" });
  await confirm(t, m);
});

test("renew: new certificates, the old ones superseded; refused for an expired card before any PIN try", async (t) => {
  const m = model();
  play(m, ["issue", { card: "ben-card" }], ["sign", { card: "ben-card", document: "d" }], ["advance", { by: 30 * DAY }]);
  t.deepEqual(step(m, "renew", { card: "ben-card" }), { result: "ok", serialChanged: true, cappedByCard: true });
  t.deepEqual(step(m, "verify-signature", { document: "d", at: "now" }), { result: "refused", reason: "revoked" });
  t.deepEqual(step(m, "status", { card: "ben-card" }), { result: "ok", status: "good" });
  step(m, "advance", { to: new Date(Date.UTC(2027, 0, 7)) });
  t.deepEqual(step(m, "renew", { card: "ben-card", pin: "wrong" }), { result: "refused", reason: "card-expired" });
  t.is(m.cards["ben-card"].pinLeft, 3);
  await confirm(t, m);
});

test("renew: a found card whose certificates were revoked is renewed and works again", async (t) => {
  const m = model();
  const out = play(
    m,
    ["issue", { card: "ana-card" }],
    ["lose-card", { card: "ana-card" }],
    ["revoke", { card: "ana-card", role: "holder", code: "correct", reason: "keyCompromise" }],
    ["renew", { card: "ana-card" }],
    ["find-card", { card: "ana-card" }],
    ["authenticate", { card: "ana-card" }],
    ["renew", { card: "ana-card" }],
    ["authenticate", { card: "ana-card" }],
    ["status", { card: "ana-card" }],
  );
  t.deepEqual(out.slice(2), [
    { result: "ok", revoked: 2, status: "revoked" },
    { result: "refused", reason: "card-absent" },
    { result: "ok" },
    { result: "refused", reason: "revoked" },
    { result: "ok", serialChanged: true, cappedByCard: false },
    { result: "ok", validation: "valid" },
    { result: "ok", status: "good" },
  ]);
  await confirm(t, m);
});

test("revoke: representatives only for a professional card; a wrong code revokes nothing; a second revocation is refused", async (t) => {
  const m = model();
  play(m, ["issue", { card: "ana-card" }], ["issue", { card: "ben-card" }]);
  const out = play(
    m,
    ["revoke", { card: "ana-card", role: "legal-representative", code: "correct" }],
    ["revoke", { card: "ben-card", role: "authorised-representative", code: "wrong" }],
    ["status", { card: "ben-card" }],
    ["revoke", { card: "ben-card", role: "legal-representative", code: "correct", reason: "affiliationChanged" }],
    ["revoke", { card: "ben-card", role: "operator", code: "correct" }],
    ["status", { card: "ben-card" }],
  );
  t.deepEqual(out, [
    { result: "refused", reason: "forbidden" },
    { result: "refused", reason: "forbidden" },
    { result: "ok", status: "good" },
    { result: "ok", revoked: 2, status: "revoked" },
    { result: "refused", reason: "already-revoked" },
    { result: "ok", status: "revoked", revocationReason: "affiliationChanged" },
  ]);
  await confirm(t, m);
});

test("revoke: the fifth wrong code makes that role wait, the right code too, until time passes; other roles are not affected", async (t) => {
  const m = model();
  step(m, "issue", { card: "ana-card" });
  const wrong = play(m, ...[1, 2, 3, 4, 5, 6].map((): [Action, StepArgs] => ["revoke", { card: "ana-card", role: "holder", code: "wrong" }]));
  t.deepEqual(
    wrong.map((o) => o.reason),
    ["forbidden", "forbidden", "forbidden", "forbidden", "forbidden", "too-many-attempts"],
  );
  t.deepEqual(step(m, "revoke", { card: "ana-card", role: "holder", code: "correct" }), { result: "refused", reason: "too-many-attempts" });
  t.deepEqual(step(m, "status", { card: "ana-card" }), { result: "ok", status: "good" });
  step(m, "advance", { by: HOUR });
  // After the wait one more wrong code is counted (the sixth) and doubles the wait; the right one after that wait works.
  t.deepEqual(step(m, "revoke", { card: "ana-card", role: "holder", code: "wrong" }), { result: "refused", reason: "forbidden" });
  t.deepEqual(step(m, "revoke", { card: "ana-card", role: "operator", code: "correct" }), { result: "ok", revoked: 2, status: "revoked" });
  await confirm(t, m);
});

test("revoke: the source's budget of wrong credentials runs out across cards and roles, and refills with time", async (t) => {
  const m = model();
  play(m, ["issue", { card: "ana-card" }], ["issue", { card: "ben-card" }]);
  const attempts: [Action, StepArgs][] = [];
  for (const card of ["ana-card", "ben-card"]) for (const role of ["holder", "operator", "legal-representative", "authorised-representative"] as const) for (let i = 0; i < 5; i++) attempts.push(["revoke", { card, role, code: "wrong" }]);
  const out = play(m, ...attempts);
  t.is(out.filter((o) => o.reason === "forbidden").length, 30);
  t.is(out.filter((o) => o.reason === "too-many-attempts").length, 10);
  step(m, "advance", { by: HOUR });
  t.deepEqual(step(m, "revoke", { card: "ben-card", role: "authorised-representative", code: "correct" }), { result: "ok", revoked: 2, status: "revoked" });
  await confirm(t, m);
});

test("mobile: never synced, then the copy; stale after a renewal until the next sync; alert within 30 days of expiry", async (t) => {
  const m = model();
  const out = play(m, ["mobile-check", { card: "ana-card" }], ["mobile-sync", { card: "ana-card" }], ["issue", { card: "ana-card" }], ["mobile-sync", { card: "ana-card" }]);
  t.deepEqual(out, [
    { result: "refused", reason: "never-synced" },
    { result: "refused", reason: "not-personalised" },
    { result: "ok", validYears: 3, cappedByCard: false, codeHolders: ["holder"] },
    { result: "ok", alert: false, daysLeft: 1095, serialChanged: false },
  ]);
  step(m, "advance", { by: 1080 * DAY });
  t.deepEqual(step(m, "mobile-check", { card: "ana-card" }), { result: "ok", stale: false, alert: true, daysLeft: 15 });
  step(m, "renew", { card: "ana-card" });
  t.deepEqual(step(m, "mobile-check", { card: "ana-card" }), { result: "ok", stale: true, alert: true, daysLeft: 15 });
  t.deepEqual(step(m, "mobile-sync", { card: "ana-card" }), { result: "ok", alert: false, daysLeft: 745, serialChanged: true });
  await confirm(t, m);
});

test("a policy that keeps a reason from a role: refused before any credential is checked, nothing counted; another policy's lockout count", async (t) => {
  const policy: LifecyclePolicy = {
    ...DEFAULT_POLICY,
    name: "strict",
    maxFailedAttempts: 2,
    renewal: "keep-until-expiry",
    reasonsByRole: { ...DEFAULT_POLICY.reasonsByRole, holder: ["keyCompromise", "unspecified"] },
  };
  const m = model(policy);
  const out = play(
    m,
    ["issue", { card: "ana-card" }],
    ["revoke", { card: "ana-card", role: "holder", code: "wrong", reason: "cessationOfOperation" }],
    ["revoke", { card: "ana-card", role: "holder", code: "wrong", reason: "keyCompromise" }],
    ["revoke", { card: "ana-card", role: "holder", code: "wrong", reason: "keyCompromise" }],
    ["revoke", { card: "ana-card", role: "holder", code: "correct", reason: "keyCompromise" }],
    ["sign", { card: "ana-card", document: "d" }],
    ["renew", { card: "ana-card" }],
    ["sign", { card: "ana-card", document: "e" }],
    // keep-until-expiry: the certificate that signed "d" was not revoked by the renewal.
    ["verify-signature", { document: "d", at: "now" }],
  );
  t.deepEqual(out.slice(1), [
    { result: "refused", reason: "reason-not-allowed" },
    { result: "refused", reason: "forbidden" },
    { result: "refused", reason: "forbidden" },
    { result: "refused", reason: "too-many-attempts" },
    { result: "ok", validation: "valid" },
    { result: "ok", serialChanged: true, cappedByCard: false },
    { result: "ok", validation: "valid" },
    { result: "ok", validation: "valid" },
  ]);
  await confirm(t, m);
});

test("the holder of a lost card reports keyCompromise; with the card in hand, another reason", (t) => {
  const m = model();
  t.is(reasonGiven(m, "ana-card", "holder", "keyCompromise"), "unspecified");
  t.is(reasonGiven(m, "ana-card", "holder", "cessationOfOperation"), "cessationOfOperation");
  t.is(reasonGiven(m, "ana-card", "operator", "keyCompromise"), "keyCompromise");
  step(m, "lose-card", { card: "ana-card" });
  t.is(reasonGiven(m, "ana-card", "holder", "cessationOfOperation"), "keyCompromise");
});
