import test from "ava";
import { SeededRandom, VirtualClock } from "../../core/index.js";
import { CaError, type IssueRequest } from "./api.js";
import { EmbeddedCa } from "./embedded-ca.js";
import { makeCsr } from "./testing.js";

/** Issues as the issuing station does: with its (RA) token. */
const raIssue = (ca: EmbeddedCa, req: IssueRequest) => ca.issue({ ...req, raToken: ca.raToken });

/** Every revocation attempt leaves a row in the audit trail of the certificate it was about. */
const holder = { id: "AU-1", name: "Aud Itor", email: "aud@example.org" };

async function setup() {
  const clock = new VirtualClock("2026-03-01T10:00:00Z");
  const ca = await EmbeddedCa.open({ clock, random: new SeededRandom(5), kdfLog2N: 4, crlScheduleMs: 0 });
  const csrPem = (await makeCsr()).pem;
  const issue = async () => (await raIssue(ca, { csrPem, profile: "authentication", holder })).serial;
  return { ca, clock, issue };
}

test("a bulk revocation writes one audit row per serial: revoked, already revoked, unknown", async (t) => {
  const { ca, clock, issue } = await setup();
  t.teardown(() => ca.close());
  const [a, b, c] = [await issue(), await issue(), await issue()];
  await ca.revokeMany([c], "keyCompromise", ca.operatorToken);
  clock.advance(60_000);
  const before = ca.audit().length;
  await ca.revokeMany([a, b, c, "0abc"], "cessationOfOperation", ca.operatorToken);
  const rows = ca.audit().slice(before);
  t.deepEqual(
    rows.map((r) => [r.serial, r.role, r.action, r.outcome, r.detail, r.at]),
    [
      [a, "operator", "bulk-revoke", "ok", "cessationOfOperation", clock.nowMs()],
      [b, "operator", "bulk-revoke", "ok", "cessationOfOperation", clock.nowMs()],
      [c, "operator", "bulk-revoke", "already-revoked", "cessationOfOperation", clock.nowMs()],
      ["0abc", "operator", "bulk-revoke", "not-found", "cessationOfOperation", clock.nowMs()],
    ],
  );
  // Each certificate's own trail shows it.
  t.deepEqual(ca.audit(a).map((r) => r.outcome), ["ok"]);
  t.deepEqual(ca.audit(c).map((r) => r.outcome), ["ok", "already-revoked"]);
});

test("the audit rows are in the revocation's transaction: a failure half-way writes neither", async (t) => {
  const { ca, issue } = await setup();
  t.teardown(() => ca.close());
  const serials = [await issue(), await issue(), await issue()];
  const before = ca.audit().length;
  // The store fails on the third serial, after two revocations and their rows were written.
  const setRevoked = ca.store.setRevoked.bind(ca.store);
  let n = 0;
  ca.store.setRevoked = (...args) => {
    if (++n === 3) throw new Error("disk full");
    return setRevoked(...args);
  };
  await t.throwsAsync(ca.revokeMany(serials, "keyCompromise", ca.operatorToken), { message: "disk full" });
  ca.store.setRevoked = setRevoked;
  t.is(ca.audit().length, before, "no audit row without its revocation");
  for (const s of serials) t.is((await ca.status(s)).status, "good");
  t.is(ca.store.db.prepare("SELECT count(*) FROM revocations").pluck().get(), 0);
});

test("denied and malformed bulk requests are audited once (their serials are not trusted)", async (t) => {
  const { ca, issue } = await setup();
  t.teardown(() => ca.close());
  const a = await issue();
  await t.throwsAsync(ca.revokeMany([a], "keyCompromise", "wrong"), { instanceOf: CaError });
  await t.throwsAsync(ca.revokeMany([a, "not hex"], "keyCompromise", ca.operatorToken), { instanceOf: CaError });
  await t.throwsAsync(ca.revokeMany([a], "noSuchReason" as never, ca.operatorToken), { instanceOf: CaError });
  const rows = ca.audit().filter((r) => r.action === "bulk-revoke");
  t.deepEqual(rows.map((r) => [r.serial, r.outcome, r.detail]), [
    [null, "bad-credential", null],
    [null, "bad-request", "bad-serial"],
    [null, "bad-request", "bad-reason"],
  ]);
  t.is((await ca.status(a)).status, "good");
});

test("a revocation with a malformed serial is refused (400) and audited, without the serial", async (t) => {
  const { ca } = await setup();
  t.teardown(() => ca.close());
  for (const serial of ["zz-not-hex", "", 42, undefined]) {
    const err = await t.throwsAsync(ca.revoke({ serial: serial as string, reason: "keyCompromise", role: "holder", code: "X", email: "a@b", name: "A" }), { instanceOf: CaError });
    t.is(err?.status, 400);
  }
  const rows = ca.audit();
  t.is(rows.length, 4);
  for (const r of rows) t.like(r, { serial: null, role: "holder", action: "revoke", outcome: "bad-request", detail: "bad-serial" });
});

test("defect 11: 1,000 malformed anonymous attempts write at most 10 rows per minute and one summary", async (t) => {
  const { ca, clock, issue } = await setup();
  t.teardown(() => ca.close());
  const serial = await issue();
  const before = ca.audit().length;
  const attacker = { source: "ip:127.0.0.2" };
  for (let i = 0; i < 1000; i++) {
    const bad = i % 2 ? { serial: "zz", role: "\x00" } : { serial, role: "holder", reason: "noSuchReason" };
    await t.throwsAsync(ca.revoke({ reason: "keyCompromise", code: "X", email: "a@b", name: "A", ...bad } as never, attacker), { instanceOf: CaError });
  }
  t.is(ca.audit().length - before, 10, "10 rows for (source, revoke, bad-request) in this minute, the rest counted");
  // Another source is counted on its own: the holder's own mistakes still show.
  await t.throwsAsync(ca.revoke({ serial: "zz", reason: "keyCompromise", role: "holder", code: "X", email: "a@b", name: "A" }, { source: "ip:127.0.0.1" }));
  t.is(ca.audit().length - before, 11);
  clock.advance(60_000);
  const rows = ca.audit().slice(before);
  t.is(rows.length, 12, "the minute is over: one summary row");
  t.like(rows.at(-1), { serial: null, action: "revoke", outcome: "suppressed", detail: "990" });
  t.true(rows.at(-1)!.at < clock.nowMs(), "dated in the minute it covers");
  t.false(rows.some((r) => r.role.includes("\x00")), "no value from the request verbatim");
  t.true(rows.some((r) => r.role === "invalid"));
});

test("defect 11: the summary of the current minute is written at close, to the store on disk", async (t) => {
  const { mkdtempSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dataDir = mkdtempSync(join(tmpdir(), "cardloop-audit-"));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const clock = new VirtualClock("2026-03-01T10:00:00Z");
  const ca = await EmbeddedCa.open({ dataDir, clock, kdfLog2N: 4, crlScheduleMs: 0 });
  for (let i = 0; i < 25; i++) {
    const err = await t.throwsAsync(ca.issue({ csrPem: "x", profile: "authentication", holder, raToken: `guess-${i}` }), { instanceOf: CaError });
    t.is(err?.status, 401);
  }
  await ca.close();
  const again = await EmbeddedCa.open({ dataDir, clock, kdfLog2N: 4, crlScheduleMs: 0 });
  t.teardown(() => again.close());
  const rows = again.audit().filter((r) => r.action === "issue");
  t.is(rows.length, 11);
  t.like(rows[0], { serial: null, role: "anonymous", outcome: "bad-credential" });
  t.like(rows[10], { outcome: "suppressed", detail: "15" });
  t.false(JSON.stringify(rows).includes("guess"), "never the token");
});

test("stored strings come from fixed vocabularies: an unknown role is 'invalid', an unknown detail is dropped", async (t) => {
  const { ca, issue } = await setup();
  t.teardown(() => ca.close());
  const serial = await issue();
  for (const role of ["\x00", "operator\nok", "a".repeat(10_000), 42]) {
    await t.throwsAsync(ca.revoke({ serial, reason: "keyCompromise", role, code: "X" } as never));
  }
  await t.throwsAsync(ca.revoke({ serial, reason: "\u0000<script>" as never, role: "holder", code: "X", email: "a@b", name: "A" }));
  const rows = ca.audit(serial);
  t.deepEqual(
    rows.map((r) => [r.role, r.outcome, r.detail]),
    [
      ["invalid", "bad-request", "bad-role"],
      ["invalid", "bad-request", "bad-role"],
      ["invalid", "bad-request", "bad-role"],
      ["invalid", "bad-request", "bad-role"],
      ["holder", "bad-request", "bad-reason"],
    ],
  );
});
