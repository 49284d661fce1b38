import test from "ava";
import { KeyObject } from "node:crypto";
import { SeededRandom, VirtualClock } from "../../core/index.js";
import { CaError, type RenewRequest, type IssueRequest } from "./api.js";
import { EmbeddedCa } from "./embedded-ca.js";
import { signRenewal } from "./renewal-proof.js";
import { makeCsr, proveRenewal } from "./testing.js";

/** Issues as the issuing station does: with its (RA) token. */
const raIssue = (ca: EmbeddedCa, req: IssueRequest) => ca.issue({ ...req, raToken: ca.raToken });

/**
 * Renewal needs authority over the old certificate: the card's proof (the old
 * key's signature over a single-use CA challenge) or the operator token.
 * Anything else is a 403 (401 for a token that is nobody's) that changes
 * nothing and is audited.
 */
const holder = { id: "RN-1", name: "Rita Renew", email: "rita@example.org" };

async function setup() {
  const clock = new VirtualClock("2026-03-01T10:00:00Z");
  const ca = await EmbeddedCa.open({ clock, random: new SeededRandom(11), kdfLog2N: 4, crlScheduleMs: 0 });
  const old = await makeCsr();
  const issued = await raIssue(ca, { csrPem: old.pem, profile: "authentication", holder });
  const next = await makeCsr();
  return { ca, clock, serial: issued.serial, oldKey: KeyObject.from(old.keys.privateKey), csrPem: next.pem };
}

/** The parts of the CA a renewal would change: certificates, revocations, the old one's status. */
async function state(ca: EmbeddedCa, serial: string) {
  const count = (table: string) => ca.store.db.prepare(`SELECT count(*) FROM ${table}`).pluck().get();
  return JSON.stringify([count("certificates"), count("revocations"), await ca.status(serial)]);
}

async function refused(t: import("ava").ExecutionContext, ca: EmbeddedCa, serial: string, req: RenewRequest, reason: string, status = 403) {
  const before = await state(ca, serial);
  const auditBefore = ca.audit(serial).length;
  const err = await t.throwsAsync(ca.renew(serial, req), { instanceOf: CaError });
  t.is(err?.status, status, err?.message);
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
  const otherSerial = (await raIssue(ca, { csrPem: other.pem, profile: "signature", holder })).serial;
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
  const ch = await ca.renewalChallenge(serial);
  t.is(ch.expiresAt.getTime() - clock.nowMs(), 5 * 60_000);
  const proof = { challenge: ch.challenge, proof: signRenewal(oldKey, serial, ch.challenge) };
  clock.advance(5 * 60_000);
  await refused(t, ca, serial, { csrPem, ...proof }, "bad-challenge");
  // A fresh one works.
  const fresh = await proveRenewal(ca, serial, oldKey);
  t.truthy(await ca.renew(serial, { csrPem, ...fresh }));
});

test("an RSA card key proves with PKCS#1 v1.5; a revoked certificate (a found card) renews the same way", async (t) => {
  const { ca, csrPem } = await setup();
  t.teardown(() => ca.close());
  const rsa = await makeCsr({ keyType: "rsa" });
  const r = await raIssue(ca, { csrPem: rsa.pem, profile: "signature", holder });
  await ca.revokeMany([r.serial], "keyCompromise", ca.operatorToken);
  const n = await ca.renew(r.serial, { csrPem, ...(await proveRenewal(ca, r.serial, rsa.keys.privateKey)) });
  t.is((await ca.status(n.serial)).status, "good");
  t.like(await ca.status(r.serial), { status: "revoked", reason: "keyCompromise" });
});

test("an operator renews with the token; a wrong token is refused; the audit holds neither token nor proof", async (t) => {
  const { ca, serial, oldKey, csrPem } = await setup();
  t.teardown(() => ca.close());
  await refused(t, ca, serial, { csrPem, operatorToken: "not-the-token" }, "bad-credential", 401);
  await refused(t, ca, serial, { csrPem, operatorToken: ca.raToken }, "forbidden", 403);
  // A token, even a wrong one, is judged alone: a valid proof alongside does not rescue it.
  const proof = await proveRenewal(ca, serial, oldKey);
  await refused(t, ca, serial, { csrPem, operatorToken: "", ...proof }, "credential-required", 401);
  const n = await ca.renew(serial, { csrPem, operatorToken: ca.operatorToken });
  t.truthy(n.serial);
  t.like(ca.audit(serial).at(-1), { role: "operator", outcome: "ok" });
  const audit = JSON.stringify(ca.audit());
  t.false(audit.includes(ca.operatorToken!) || audit.includes(ca.raToken!));
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

test("defect 5: 50 challenge requests after the holder's evict nothing and store nothing; the holder's renewal succeeds", async (t) => {
  const { ca, serial, oldKey, csrPem } = await setup();
  t.teardown(() => ca.close());
  const rows = () => ca.store.db.prepare("SELECT (SELECT count(*) FROM used_challenges) + (SELECT count(*) FROM audit) + (SELECT count(*) FROM meta)").pluck().get();
  const holderProof = await proveRenewal(ca, serial, oldKey);
  const before = rows();
  const flood = [];
  for (let i = 0; i < 50; i++) flood.push((await ca.renewalChallenge(serial)).challenge);
  t.is(new Set(flood).size, 50, "every challenge is different");
  t.is(rows(), before, "handing out challenges writes nothing");
  const renewed = await ca.renew(serial, { csrPem, ...holderProof });
  t.not(renewed.serial, serial);
  t.like(await ca.status(serial), { status: "revoked", reason: "superseded" });
});

test("a challenge is bound to its serial and to this CA's key; a used one cannot be used twice, even after the CA restarts", async (t) => {
  const { mkdtempSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dataDir = mkdtempSync(join(tmpdir(), "cardloop-renewal-"));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const clock = new VirtualClock("2026-03-01T10:00:00Z");
  const opts = { dataDir, clock, random: new SeededRandom(12), kdfLog2N: 4, crlScheduleMs: 0, renewal: "keep-until-expiry" as const };
  let ca = await EmbeddedCa.open(opts);
  const old = await makeCsr();
  const serial = (await raIssue(ca, { csrPem: old.pem, profile: "authentication", holder })).serial;
  const oldKey = KeyObject.from(old.keys.privateKey);
  const proof = await proveRenewal(ca, serial, oldKey);
  // Another CA's challenge, signed by the right key, is not this CA's.
  const other = await EmbeddedCa.open({ clock, kdfLog2N: 4, crlScheduleMs: 0 });
  const foreign = (await other.renewalChallenge((await raIssue(other, { csrPem: old.pem, profile: "authentication", holder })).serial)).challenge;
  await other.close();
  await refused(t, ca, serial, { csrPem: old.pem, challenge: foreign, proof: signRenewal(oldKey, serial, foreign) }, "bad-challenge");
  // One flipped character: no longer this CA's.
  const flipped = proof.challenge!.slice(0, 10) + (proof.challenge![10] === "A" ? "B" : "A") + proof.challenge!.slice(11);
  await refused(t, ca, serial, { csrPem: old.pem, challenge: flipped, proof: signRenewal(oldKey, serial, flipped) }, "bad-challenge");

  t.truthy(await ca.renew(serial, { csrPem: old.pem, ...proof }));
  await refused(t, ca, serial, { csrPem: old.pem, ...proof }, "bad-challenge");
  const unused = await proveRenewal(ca, serial, oldKey);
  await ca.close();
  ca = await EmbeddedCa.open(opts);
  t.teardown(() => ca.close());
  await refused(t, ca, serial, { csrPem: old.pem, ...proof }, "bad-challenge");
  t.truthy(await ca.renew(serial, { csrPem: old.pem, ...unused }), "the key survives the restart: an unused challenge still works");
  const used = () => ca.store.db.prepare("SELECT count(*) FROM used_challenges").pluck().get();
  t.is(used(), 2);
  clock.advance(5 * 60_000);
  await ca.renew(serial, { csrPem: old.pem, ...(await proveRenewal(ca, serial, oldKey)) });
  t.is(used(), 1, "expired entries are purged when the next one is recorded");
});
