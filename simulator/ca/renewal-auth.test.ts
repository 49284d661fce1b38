import test from "ava";
import { KeyObject } from "node:crypto";
import { SeededRandom, VirtualClock } from "../../core/index.js";
import { CaError, type RenewRequest } from "./api.js";
import { CHALLENGES_PER_SERIAL, EmbeddedCa } from "./embedded-ca.js";
import { signRenewal } from "./renewal-proof.js";
import { makeCsr, proveRenewal } from "./testing.js";

/**
 * Renewal needs authority over the old certificate: the card's proof (the old
 * key's signature over a single-use CA challenge) or the operator token.
 * Anything else is a 403 that changes nothing and is audited.
 */
const holder = { id: "RN-1", name: "Rita Renew", email: "rita@example.org" };

async function setup() {
  const clock = new VirtualClock("2026-03-01T10:00:00Z");
  const ca = await EmbeddedCa.open({ clock, random: new SeededRandom(11), kdfLog2N: 4, crlScheduleMs: 0 });
  const old = await makeCsr();
  const issued = await ca.issue({ csrPem: old.pem, profile: "authentication", holder });
  const next = await makeCsr();
  return { ca, clock, serial: issued.serial, oldKey: KeyObject.from(old.keys.privateKey), csrPem: next.pem };
}

/** The parts of the CA a renewal would change: certificates, revocations, the old one's status. */
async function state(ca: EmbeddedCa, serial: string) {
  const count = (table: string) => ca.store.db.prepare(`SELECT count(*) FROM ${table}`).pluck().get();
  return JSON.stringify([count("certificates"), count("revocations"), await ca.status(serial)]);
}

async function refused(t: import("ava").ExecutionContext, ca: EmbeddedCa, serial: string, req: RenewRequest, reason: string) {
  const before = await state(ca, serial);
  const auditBefore = ca.audit(serial).length;
  const err = await t.throwsAsync(ca.renew(serial, req), { instanceOf: CaError });
  t.is(err?.status, 403, err?.message);
  t.is(err?.reason, reason);
  t.is(await state(ca, serial), before, "a refused renewal changes nothing");
  const audit = ca.audit(serial);
  t.is(audit.length, auditBefore + 1, "and is audited");
  t.like(audit[audit.length - 1], { action: "renew", outcome: reason });
}

test("no proof, a proof by another key, a challenge of another certificate or an expired one: 403, nothing changes, audited", async (t) => {
  const { ca, clock, serial, oldKey, csrPem } = await setup();
  t.teardown(() => ca.close());
  await refused(t, ca, serial, { csrPem }, "renewal-unauthorised");
  t.is(ca.audit(serial).at(-1)!.role, "anonymous");

  const stranger = KeyObject.from((await makeCsr()).keys.privateKey);
  await refused(t, ca, serial, { csrPem, ...(await proveRenewal(ca, serial, stranger)) }, "bad-proof");
  await refused(t, ca, serial, { csrPem, challenge: "made-up", proof: new Uint8Array([1, 2, 3]) }, "bad-challenge");
  await refused(t, ca, serial, { csrPem, challenge: (await ca.renewalChallenge(serial)).challenge }, "bad-proof");

  // A challenge handed out for another certificate, signed by that certificate's own key.
  const other = await makeCsr();
  const otherSerial = (await ca.issue({ csrPem: other.pem, profile: "signature", holder })).serial;
  const ch = await ca.renewalChallenge(otherSerial);
  await refused(t, ca, serial, { csrPem, challenge: ch.challenge, proof: signRenewal(KeyObject.from(other.keys.privateKey), serial, ch.challenge) }, "bad-challenge");

  const late = await proveRenewal(ca, serial, oldKey);
  clock.advance(5 * 60_000 + 1);
  await refused(t, ca, serial, { csrPem, ...late }, "bad-challenge");
  t.is((await ca.status(serial)).status, "good");
});

test("a valid proof renews once: replaying it (for another key, or concurrently) is refused", async (t) => {
  const { ca, serial, oldKey, csrPem } = await setup();
  t.teardown(() => ca.close());
  const proof = await proveRenewal(ca, serial, oldKey);
  // A wrong attempt with the same challenge does not use it up (else anyone overhearing it could cancel a renewal).
  await refused(t, ca, serial, { csrPem, challenge: proof.challenge, proof: new Uint8Array(72) }, "bad-proof");
  const renewed = await ca.renew(serial, { csrPem, ...proof });
  t.not(renewed.serial, serial);
  t.like(await ca.status(serial), { status: "revoked", reason: "superseded" });
  t.like(ca.audit(serial).at(-1), { role: "card", action: "renew", outcome: "ok" });

  const eavesdropper = await makeCsr();
  await refused(t, ca, serial, { csrPem: eavesdropper.pem, ...proof }, "bad-challenge");

  // Two requests in flight with one proof: exactly one renews.
  const again = await proveRenewal(ca, serial, oldKey);
  const results = await Promise.allSettled([ca.renew(serial, { csrPem, ...again }), ca.renew(serial, { csrPem: eavesdropper.pem, ...again })]);
  t.is(results.filter((r) => r.status === "fulfilled").length, 1);
  const lost = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
  t.is((lost.reason as CaError).status, 403);
});

test("the challenge must be used before it expires (5 minutes at the CA's clock)", async (t) => {
  const { ca, clock, serial, oldKey, csrPem } = await setup();
  t.teardown(() => ca.close());
  const proof = await proveRenewal(ca, serial, oldKey);
  const ch = ca.store.challenge(proof.challenge!)!;
  t.is(ch.expires_at - clock.nowMs(), 5 * 60_000);
  clock.advance(5 * 60_000);
  await refused(t, ca, serial, { csrPem, ...proof }, "bad-challenge");
  // A fresh one works, and asking for it drops the expired row.
  const fresh = await proveRenewal(ca, serial, oldKey);
  t.is(ca.store.challenge(proof.challenge!), undefined);
  t.truthy(await ca.renew(serial, { csrPem, ...fresh }));
});

test("an RSA card key proves with PKCS#1 v1.5; a revoked certificate (a found card) renews the same way", async (t) => {
  const { ca, csrPem } = await setup();
  t.teardown(() => ca.close());
  const rsa = await makeCsr({ keyType: "rsa" });
  const r = await ca.issue({ csrPem: rsa.pem, profile: "signature", holder });
  await ca.revokeMany([r.serial], "keyCompromise", ca.operatorToken);
  const n = await ca.renew(r.serial, { csrPem, ...(await proveRenewal(ca, r.serial, rsa.keys.privateKey)) });
  t.is((await ca.status(n.serial)).status, "good");
  t.like(await ca.status(r.serial), { status: "revoked", reason: "keyCompromise" });
});

test("an operator renews with the token; a wrong token is refused; the audit holds neither token nor proof", async (t) => {
  const { ca, serial, oldKey, csrPem } = await setup();
  t.teardown(() => ca.close());
  await refused(t, ca, serial, { csrPem, operatorToken: "not-the-token" }, "forbidden");
  // A token, even a wrong one, is judged alone: a valid proof alongside does not rescue it.
  const proof = await proveRenewal(ca, serial, oldKey);
  await refused(t, ca, serial, { csrPem, operatorToken: "", ...proof }, "forbidden");
  const n = await ca.renew(serial, { csrPem, operatorToken: ca.operatorToken });
  t.truthy(n.serial);
  t.like(ca.audit(serial).at(-1), { role: "operator", outcome: "ok" });
  const audit = JSON.stringify(ca.audit());
  t.false(audit.includes(ca.operatorToken));
  t.false(audit.includes(Buffer.from(proof.proof!).toString("base64")));
  t.false(audit.includes(proof.challenge!));
});

test("renewal of an unknown or malformed serial: 404 / 400, audited", async (t) => {
  const { ca, csrPem } = await setup();
  t.teardown(() => ca.close());
  await t.throwsAsync(ca.renew("0abc", { csrPem }), { instanceOf: CaError, message: /no certificate/ });
  await t.throwsAsync(ca.renew("zz", { csrPem }), { instanceOf: CaError, message: /serial must be/ });
  await t.throwsAsync(ca.renewalChallenge("0abc"), { instanceOf: CaError, message: /no certificate/ });
  const rows = ca.audit().filter((e) => e.action === "renew");
  t.deepEqual(rows.map((e) => [e.serial, e.outcome]), [["0abc", "not-found"], [null, "bad-serial"]]);
});

test("asking for challenges again and again keeps only the newest few per certificate: the oldest stop working, the newest still renews", async (t) => {
  const { ca, clock, serial, oldKey, csrPem } = await setup();
  t.teardown(() => ca.close());
  const proofs = [];
  for (let i = 0; i < CHALLENGES_PER_SERIAL + 2; i++) {
    proofs.push(await proveRenewal(ca, serial, oldKey));
    clock.advance(1000);
  }
  const live = () => ca.store.db.prepare("SELECT count(*) FROM renewal_challenges WHERE serial = ?").pluck().get(serial);
  t.is(live(), CHALLENGES_PER_SERIAL);
  // another certificate's challenges are not this one's to evict
  const other = await ca.issue({ csrPem: (await makeCsr()).pem, profile: "signature", holder });
  await ca.renewalChallenge(other.serial);
  t.is(live(), CHALLENGES_PER_SERIAL);
  await refused(t, ca, serial, { csrPem, ...proofs[0] }, "bad-challenge");
  await refused(t, ca, serial, { csrPem, ...proofs[1] }, "bad-challenge");
  const renewed = await ca.renew(serial, { csrPem, ...proofs.at(-1)! });
  t.not(renewed.serial, serial);
});
