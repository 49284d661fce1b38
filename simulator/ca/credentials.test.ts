import test from "ava";
import Database from "better-sqlite3";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SeededRandom, VirtualClock } from "../../core/index.js";
import { CaError, type IssueRequest } from "./api.js";
import { rotateToken } from "./credentials.js";
import { DataDirLockedError } from "./data-dir-lock.js";
import { EmbeddedCa, type EmbeddedCaOptions } from "./embedded-ca.js";
import { makeCsr } from "./testing.js";

/**
 * Who may act, with which credential: the issuing station's (RA) token to
 * issue, the operator's token for operator revocation and hold (answers on
 * top), both stored only as hashes (issue 11, defects 1 and 2).
 */
const START = "2026-03-01T10:00:00Z";
const carol = { id: "card-0042", name: "Carol Example", email: "carol@example.org", registration: { dateOfBirth: "1985-02-03" } };

/** Issues as the issuing station does: with its (RA) token. */
const raIssue = (ca: EmbeddedCa, req: IssueRequest) => ca.issue({ ...req, raToken: ca.raToken });

async function newCa(extra: Partial<EmbeddedCaOptions> = {}) {
  const ca = await EmbeddedCa.open({ clock: new VirtualClock(START), random: new SeededRandom(17), kdfLog2N: 4, crlScheduleMs: 0, ...extra });
  return ca;
}

function tmp(t: import("ava").ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), "cardloop-ca-cred-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function refusal(t: import("ava").ExecutionContext, p: Promise<unknown>, status: number, reason: string) {
  const err = await t.throwsAsync(p, { instanceOf: CaError });
  t.deepEqual([err?.status, err?.reason], [status, reason], err?.message);
}

const count = (ca: EmbeddedCa, table: string) => ca.store.db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;

test("defect 1: Mallory without the RA token gets 401 and no certificate in Carol's name; the operator's token is 403; never audited with the token", async (t) => {
  const ca = await newCa();
  t.teardown(() => ca.close());
  await raIssue(ca, { csrPem: (await makeCsr()).pem, profile: "authentication", holder: carol });
  const mallory = (await makeCsr({ commonName: "Mallory" })).pem;
  const req = { csrPem: mallory, profile: "authentication" as const, holder: { id: carol.id, name: "anything", email: "mallory@example.org" } };
  await refusal(t, ca.issue(req), 401, "credential-required");
  await refusal(t, ca.issue({ ...req, raToken: "guessed-token" }), 401, "bad-credential");
  await refusal(t, ca.issue({ ...req, raToken: ca.operatorToken }), 403, "forbidden");
  // Checked before anything else is looked at: garbage without a token is 401, not 400.
  await refusal(t, ca.issue({ csrPem: 42, profile: "nope", holder: null } as never), 401, "credential-required");
  t.is(count(ca, "certificates"), 1, "no certificate for Mallory");
  const rows = ca.audit().filter((r) => r.action === "issue");
  t.deepEqual(
    rows.map((r) => [r.serial, r.role, r.outcome]),
    [
      [null, "anonymous", "credential-required"],
      [null, "anonymous", "bad-credential"],
      [null, "operator", "forbidden"],
      [null, "anonymous", "credential-required"],
    ],
  );
  const all = JSON.stringify(ca.audit());
  t.false(all.includes("guessed-token") || all.includes(ca.operatorToken!) || all.includes(ca.raToken!));
  t.true(ca.capabilities().issuanceAuthorisation);
});

test("defect 2: the operator role with the right answers but no operator token is refused (401); the certificate stays good; it counts no failure", async (t) => {
  const ca = await newCa();
  t.teardown(() => ca.close());
  const r = await raIssue(ca, { csrPem: (await makeCsr()).pem, profile: "authentication", holder: carol });
  const answers = { holderId: carol.id, dateOfBirth: carol.registration.dateOfBirth };
  for (let i = 0; i < 10; i++) {
    await refusal(t, ca.revoke({ serial: r.serial, reason: "keyCompromise", role: "operator", answers }), 401, "credential-required");
    await refusal(t, ca.revoke({ serial: r.serial, reason: "certificateHold", role: "operator", answers, operatorToken: "nope" }), 401, "bad-credential");
  }
  await refusal(t, ca.revoke({ serial: r.serial, reason: "certificateHold", role: "operator", answers, operatorToken: ca.raToken }), 403, "forbidden");
  t.is((await ca.status(r.serial)).status, "good");
  t.is(count(ca, "failures"), 0, "a missing or bad token does not count toward the certificate's failures");
  // The token alone is not enough either: the answers are checked on top, and wrong answers count like wrong codes.
  await refusal(t, ca.revoke({ serial: r.serial, reason: "certificateHold", role: "operator", answers: { holderId: carol.id, dateOfBirth: "1985-02-04" }, operatorToken: ca.operatorToken }), 403, "forbidden");
  t.is(ca.store.failure(r.serial, "operator", "local")?.count, 1);
  const held = await ca.revoke({ serial: r.serial, reason: "certificateHold", role: "operator", answers, operatorToken: ca.operatorToken });
  t.is(held.status, "on-hold");
  t.is(ca.store.failure(r.serial, "operator", "local"), undefined, "a right credential clears its count");
});

test("tokens: only their hashes are stored; the first start writes operator.token and ra.token (0600) once, and the CA never reads them back", async (t) => {
  const dataDir = tmp(t);
  const clock = new VirtualClock(START);
  const a = await EmbeddedCa.open({ dataDir, clock, kdfLog2N: 4, crlScheduleMs: 0 });
  const { operatorToken, raToken } = a.credentials();
  t.truthy(operatorToken && raToken);
  t.not(operatorToken, raToken);
  t.is(Buffer.from(raToken!, "base64url").length, 32, "256 random bits");
  for (const [file, token] of [["operator.token", operatorToken], ["ra.token", raToken]] as const) {
    t.is(readFileSync(join(dataDir, file), "utf8").trim(), token!);
    t.is(statSync(join(dataDir, file)).mode & 0o777, 0o600);
  }
  t.is(a.roleOf(operatorToken), "operator");
  t.is(a.roleOf(raToken), "ra");
  for (const other of [undefined, null, 42, "", raToken + "x", "x".repeat(100_000)]) t.is(a.roleOf(other), undefined);
  await a.close();
  const db = Buffer.concat([readFileSync(join(dataDir, "ca.db")), ...(existsSync(join(dataDir, "ca.db-wal")) ? [readFileSync(join(dataDir, "ca.db-wal"))] : [])]);
  t.false(db.includes(operatorToken!) || db.includes(raToken!), "the store holds no token");

  rmSync(join(dataDir, "operator.token"));
  rmSync(join(dataDir, "ra.token"));
  const b = await EmbeddedCa.open({ dataDir, clock, kdfLog2N: 4, crlScheduleMs: 0 });
  t.deepEqual(b.credentials(), {}, "a reopened CA knows no token");
  t.is(b.roleOf(operatorToken), "operator", "deleting the files changes nothing");
  t.is(b.roleOf(raToken), "ra");
  t.false(existsSync(join(dataDir, "operator.token")), "written once, not again");
  await b.close();

  const c = await EmbeddedCa.open({ dataDir, clock, kdfLog2N: 4, crlScheduleMs: 0, operatorToken: "operator-given-0123456789abcdef", raToken: "ra-given-0123456789abcdefghij" });
  t.deepEqual(c.credentials(), { raToken: "ra-given-0123456789abcdefghij", operatorToken: "operator-given-0123456789abcdef" });
  t.is(c.roleOf(operatorToken), undefined, "a given token replaces the stored hash");
  await c.close();
  const d = await EmbeddedCa.open({ dataDir, clock, kdfLog2N: 4, crlScheduleMs: 0 });
  t.is(d.roleOf("operator-given-0123456789abcdef"), "operator");
  t.is(d.roleOf("ra-given-0123456789abcdefghij"), "ra");
  await d.close();
});

test("rotateToken (cardloop ca token): refused while a CA holds the directory; a new token whose hash replaces the old; the stale file goes", async (t) => {
  const dataDir = tmp(t);
  await t.throwsAsync(rotateToken(dataDir, "ra"), { instanceOf: CaError, message: /there is no CA in/ });
  const ca = await EmbeddedCa.open({ dataDir, kdfLog2N: 4, crlScheduleMs: 0 });
  const old = ca.credentials();
  await t.throwsAsync(rotateToken(dataDir, "operator"), { instanceOf: DataDirLockedError });
  await ca.close();
  const ra = await rotateToken(dataDir, "ra");
  t.is(Buffer.from(ra, "base64url").length, 32);
  t.false(existsSync(join(dataDir, "ra.token")), "the file with the old token is removed");
  t.true(existsSync(join(dataDir, "operator.token")), "the other role's is left alone");
  const again = await EmbeddedCa.open({ dataDir, kdfLog2N: 4, crlScheduleMs: 0 });
  t.teardown(() => again.close());
  t.is(again.roleOf(ra), "ra");
  t.is(again.roleOf(old.raToken), undefined);
  t.is(again.roleOf(old.operatorToken), "operator");
  await t.throwsAsync(rotateToken(dataDir, "nobody" as never), { instanceOf: CaError });
});

test("in memory: both tokens made at open (or given), offered through credentials() for callers to put into requests", async (t) => {
  const ca = await newCa();
  t.teardown(() => ca.close());
  t.deepEqual(ca.credentials(), { raToken: ca.raToken, operatorToken: ca.operatorToken });
  const given = await newCa({ raToken: "station-1-0123456789abcdefghij" });
  t.teardown(() => given.close());
  t.is(given.raToken, "station-1-0123456789abcdefghij");
  t.truthy(given.operatorToken);
  t.is(given.roleOf("station-1-0123456789abcdefghij"), "ra");
});

test("given tokens must be unguessable and distinct: under 22 characters (128 bits) or the same for both roles is refused at open", async (t) => {
  await t.throwsAsync(newCa({ raToken: "station-1" }), { message: /the issuing station's token must be 22 to 512 characters/ });
  await t.throwsAsync(newCa({ operatorToken: "x".repeat(21) }), { message: /the operator's token must be 22 to 512 characters/ });
  const same = "same-token-0123456789abcdefghij";
  await t.throwsAsync(newCa({ raToken: same, operatorToken: same }), { message: /must differ/ });
});

test("a data directory from before hashed tokens keeps its operator token: the file's token is adopted once, not replaced", async (t) => {
  const dataDir = tmp(t);
  const a = await EmbeddedCa.open({ dataDir, kdfLog2N: 4, crlScheduleMs: 0 });
  const token = a.operatorToken!;
  await a.close();
  // What an older CA leaves: the token in its file and no hash in the store.
  const db = new Database(join(dataDir, "ca.db"));
  db.prepare("DELETE FROM meta WHERE key = 'operator_token_sha256'").run();
  db.close();
  const b = await EmbeddedCa.open({ dataDir, kdfLog2N: 4, crlScheduleMs: 0 });
  t.teardown(() => b.close());
  t.is(b.roleOf(token), "operator", "the clients' token still works");
  t.is(readFileSync(join(dataDir, "operator.token"), "utf8").trim(), token, "the file is left as it was");
});
