import test from "ava";
import fc from "fast-check";
import { DEFAULT_POLICY, reasonAllowed } from "../../core/index.js";
import type { CaAdapter, CaCapabilities } from "../../simulator/ca/index.js";
import { explorationScenario } from "./cast.js";
import { lifecycleCommands, type StepCommand } from "./commands.js";
import { applyStep, initialModel, type LifecycleModel } from "./model.js";
import { exploreTarget, FULL_TARGET, notExplored, type ExploreTarget } from "./target.js";

/** The capabilities the shipped OpenSSL and CFSSL adapters declare. */
const REAL_TIME_CAPS: CaCapabilities = {
  renew: true,
  hold: false,
  authorisation: false,
  cancellationCodes: false,
  cardExpiryCap: true,
  crl: true,
  ocsp: true,
  ocspGet: true,
  bulkRevoke: false,
  virtualClock: false,
};

const adapter = (name: string, caps: Partial<CaCapabilities> = {}) => ({ name, capabilities: () => ({ ...REAL_TIME_CAPS, ...caps }) }) as unknown as CaAdapter;
const OPENSSL = exploreTarget(adapter("openssl", { unrecordedReasons: ["privilegeWithdrawn", "aACompromise"] }));
const CFSSL = exploreTarget(adapter("cfssl", { cardExpiryCap: false, revokesAgain: true }), "crl-number-missing");

test("the traits come from the capabilities, not from the adapter's name: a wrapped adapter keeps them, a namesake without them has none", (t) => {
  const wrapped = exploreTarget(adapter("openssl (refusing revoke)", { unrecordedReasons: ["privilegeWithdrawn", "aACompromise"], revokesAgain: true }));
  t.deepEqual(wrapped.unrecordedReasons, ["privilegeWithdrawn", "aACompromise"]);
  t.false(wrapped.finalRevocation);
  const namesake = exploreTarget(adapter("cfssl"));
  t.deepEqual(namesake.unrecordedReasons, []);
  t.true(namesake.finalRevocation);
});

function model(target: ExploreTarget): LifecycleModel {
  return initialModel(explorationScenario({ seed: 3, ca: "x" }), target);
}

test("a CA that implements the whole policy leaves nothing out; the shipped real-time CAs say what they lack, once each", (t) => {
  t.deepEqual(notExplored(FULL_TARGET), []);
  t.deepEqual(notExplored(exploreTarget(adapter("embedded", { authorisation: true, cancellationCodes: true, virtualClock: true }))), []);
  const openssl = notExplored(OPENSSL);
  t.is(openssl.length, 4, openssl.join("\n"));
  for (const what of ["keeps real time", "checks no revocation credential", "cancellation codes handed out at issuance", "privilegeWithdrawn, aACompromise"]) {
    t.is(openssl.filter((l) => l.includes(what)).length, 1, what);
  }
  const cfssl = notExplored(CFSSL);
  t.true(cfssl.some((l) => l.includes("does not cap")));
  t.true(cfssl.some((l) => l.includes("second revocation")));
  t.true(cfssl.some((l) => l.includes("crl-number-missing")));
  t.false(cfssl.some((l) => l.includes("privilegeWithdrawn")));
});

/** Every command fast-check may draw, with the model at `m`: the ones whose check lets them run. */
function runnable(m: LifecycleModel, seed: number): StepCommand[] {
  const [arb] = lifecycleCommands();
  return fc.sample(arb, { seed, numRuns: 400 }).filter((c) => c.check(m));
}

test("a CA that keeps real time gets no step that moves the clock; one that checks no credential gets only revocations it would judge as the policy does", (t) => {
  const m = model(OPENSSL);
  applyStep(m, "issue", { card: "ana-card" });
  applyStep(m, "issue", { card: "ben-card" });
  const cmds = runnable(m, 5);
  t.false(
    cmds.some((c) => c.action === "advance"),
    "no advance",
  );
  const revokes = cmds.filter((c) => c.action === "revoke").map((c) => c.toString());
  t.true(revokes.length > 10, `${revokes.length} revocations drawn`);
  t.false(
    revokes.some((l) => l.includes("wrong code")),
    "no wrong code",
  );
  t.false(
    revokes.some((l) => /ana-card as (legal|authorised)-representative/.test(l)),
    "no representative of a personal card",
  );
  // The same draws against the embedded CA's full policy: advances and wrong codes are generated there.
  const full = model(FULL_TARGET);
  applyStep(full, "issue", { card: "ana-card" });
  const all = runnable(full, 5);
  t.true(all.some((c) => c.action === "advance"));
  t.true(all.some((c) => c.toString().includes("wrong code")));
});

test("the model reads the CA's traits: no codes, the uncapped lifetime, an unrecordable reason refused, a CRL every validation refuses", (t) => {
  const o = model(OPENSSL);
  t.like(applyStep(o, "issue", { card: "ben-card" }), { result: "ok", cappedByCard: true, codeHolders: [] });
  t.true(reasonAllowed(DEFAULT_POLICY, "operator", "privilegeWithdrawn"));
  t.deepEqual(applyStep(o, "revoke", { card: "ben-card", role: "operator", code: "correct", reason: "privilegeWithdrawn" }), { result: "refused", reason: "unsupported-reason" });
  t.deepEqual(applyStep(o, "mobile-sync", { card: "ben-card" }), { result: "ok", alert: false, serialChanged: false }, "no daysLeft on real time");

  const c = model(CFSSL);
  t.like(applyStep(c, "issue", { card: "ben-card" }), { result: "ok", cappedByCard: false, validYears: 3 });
  t.deepEqual(applyStep(c, "authenticate", { card: "ben-card" }), { result: "refused", reason: "crl-number-missing" });
  // A revoked certificate is found on the CRL before the CRL's defect is judged.
  t.like(applyStep(c, "revoke", { card: "ben-card", role: "holder", code: "correct", reason: "unspecified" }), { result: "ok", revoked: 2 });
  t.deepEqual(applyStep(c, "authenticate", { card: "ben-card" }), { result: "refused", reason: "revoked" });
  t.deepEqual(applyStep(c, "sign", { card: "ben-card", document: "doc-1" }), { result: "refused", reason: "revoked" });
});
