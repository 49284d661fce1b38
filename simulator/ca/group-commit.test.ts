import test from "ava";
import { join } from "node:path";
import { SeededRandom, VirtualClock } from "../../core/index.js";
import { tempDir } from "../../harness/processes.js";
import type { IssueRequest } from "./api.js";
import { EmbeddedCa } from "./embedded-ca.js";
import type { StatusChange } from "./status-changes.js";
import { CaStore, Status } from "./store.js";
import { makeCsr } from "./testing.js";

/**
 * Group commit (store.ts `write`): concurrent writers share one durable
 * commit, each in its own savepoint, each acknowledged only after the commit
 * that holds it, the commit's status changes announced once per kind.
 */
const raIssue = (ca: EmbeddedCa, req: IssueRequest) => ca.issue({ ...req, raToken: ca.raToken });
const N = 40;
let csrPem: string;
test.before(async () => {
  csrPem = (await makeCsr()).pem;
});

test("N concurrent revocations take fewer commits than N; each acknowledged one is revoked after reopening the store", async (t) => {
  const dataDir = join(tempDir(t, "group-commit"), "ca");
  const clock = new VirtualClock("2026-03-01T10:00:00Z");
  const ca = await EmbeddedCa.open({ dataDir, clock, random: new SeededRandom(5), crlScheduleMs: 0 });
  let closed = false;
  t.teardown(() => (closed ? undefined : ca.close()));
  const holder = { id: "GC-1", name: "Gina Group", email: "gina@example.org" };
  const issuedBefore = ca.store.commits;
  // Concurrent issuance shares commits too; only the first for the card returns its codes.
  const issued = await Promise.all(Array.from({ length: N }, () => raIssue(ca, { csrPem, profile: "authentication", holder })));
  t.true(ca.store.commits - issuedBefore < N, `issuance: ${ca.store.commits - issuedBefore} commits for ${N}`);
  const code = issued.find((c) => c.cancellationCodes)!.cancellationCodes!.holder;
  t.is(issued.filter((c) => c.cancellationCodes).length, 1, "one card, one set of codes");

  const changes: StatusChange[] = [];
  ca.store.changes.on((c) => changes.push(c));
  const before = ca.store.commits;
  const acked = await Promise.all(
    issued.map((c) => ca.revoke({ serial: c.serial, reason: "keyCompromise", role: "holder", code, email: holder.email, name: holder.name })),
  );
  const commits = ca.store.commits - before;
  t.true(commits >= 1 && commits < N, `${commits} commits for ${N} revocations`);
  t.deepEqual(acked.map((r) => r.status), Array<string>(N).fill("revoked"));
  // One announcement per commit (all of one kind here), covering every serial once.
  t.is(changes.length, commits);
  t.deepEqual(changes.flatMap((c) => c.serials).sort(), issued.map((c) => c.serial).sort());
  await ca.close();
  closed = true;

  const store = new CaStore(join(dataDir, "ca.db"));
  t.teardown(() => store.close());
  for (const c of issued) t.is(store.revocationState(c.serial).status, Status.revoked);
  t.is(store.auditLog().filter((e) => e.action === "revoke" && e.outcome === "ok").length, N);
});

test("a write that throws inside a group commit rolls back only itself: its rows and in-memory state are gone, the others committed", async (t) => {
  const store = new CaStore(":memory:");
  t.teardown(() => store.close());
  const serials = ["4a01", "4a02", "4a03"];
  store.insertSynthetic(serials, "card", 0, 1e12);
  const announced: StatusChange[] = [];
  store.changes.on((c) => announced.push(c));
  const before = store.commits;
  const results = await Promise.allSettled([
    store.write(() => store.setRevoked("4a01", Status.revoked, 1, 10)),
    store.write(() => {
      store.setRevoked("4a02", Status.revoked, 1, 10);
      store.audit({ at: 10, serial: "4a02", role: "holder", action: "revoke", outcome: "ok" });
      throw new Error("refused half-way");
    }),
    store.write(() => store.setRevoked("4a03", Status.onHold, 6, 10)),
  ]);
  t.is(store.commits - before, 1, "one commit for the three");
  t.deepEqual(results.map((r) => r.status), ["fulfilled", "rejected", "fulfilled"]);
  t.is(store.revocationState("4a01").status, Status.revoked);
  t.is(store.revocationState("4a02").status, Status.good, "the in-memory state rolled back with the savepoint");
  t.is(store.revocationState("4a03").status, Status.onHold);
  t.is(store.db.prepare("SELECT count(*) FROM revocations WHERE serial = '4a02'").pluck().get(), 0);
  t.is(store.auditLog("4a02").length, 0);
  t.deepEqual(
    announced.map((c) => [c.kind, [...c.serials]]),
    [
      ["revoked", ["4a01"]],
      ["on-hold", ["4a03"]],
    ],
    "after the commit, once per kind, never the rolled-back serial",
  );
});

test("a commit that fails acknowledges nobody and leaves no in-memory trace", async (t) => {
  const store = new CaStore(":memory:");
  t.teardown(() => store.close());
  store.insertSynthetic(["4b01"], "card", 0, 1e12);
  // A trigger that fails the whole transaction at COMMIT time would need a deferred constraint: a deferred foreign key does.
  store.db.exec("PRAGMA foreign_keys = ON; CREATE TABLE guard (x TEXT REFERENCES nowhere_at_all(y) DEFERRABLE INITIALLY DEFERRED)");
  store.db.exec("CREATE TABLE nowhere_at_all (y TEXT PRIMARY KEY)");
  const r = await Promise.allSettled([
    store.write(() => store.setRevoked("4b01", Status.revoked, 1, 10)),
    store.write(() => store.db.prepare("INSERT INTO guard (x) VALUES ('dangling')").run()),
  ]);
  t.deepEqual(r.map((x) => x.status), ["rejected", "rejected"]);
  t.is(store.revocationState("4b01").status, Status.good);
  t.is(store.db.prepare("SELECT count(*) FROM revocations").pluck().get(), 0);
  t.false(store.db.inTransaction);
});

test("CaStore.write refuses an async fn at once, and a promise returned by a sync-looking fn rolls back its own savepoint only (review R1 P5)", async (t) => {
  const store = new CaStore(":memory:");
  t.teardown(() => store.close());
  store.insertSynthetic(["0c01", "0c02"], "card", 0, 1e12);
  t.throws(() => store.write((async () => 1) as unknown as () => number), { instanceOf: TypeError, message: /synchronous/ });
  const sneaky = store.write((() => {
    store.setRevoked("0c01", Status.revoked, 1, 1000);
    return Promise.resolve(1);
  }) as unknown as () => number);
  const fine = store.write(() => store.setRevoked("0c02", Status.revoked, 1, 1000));
  await t.throwsAsync(sneaky, { instanceOf: TypeError, message: /synchronous/ });
  t.true(await fine);
  t.is(store.revocationState("0c01").status, Status.good, "its write rolled back");
  t.is(store.revocationState("0c02").status, Status.revoked);
});

test("closing with writes queued commits them first; a write after the close is refused 503 closed, not a 500 (review R1 P4)", async (t) => {
  const store = new CaStore(":memory:");
  store.insertSynthetic(["0d01"], "card", 0, 1e12);
  const queued = store.write(() => store.setRevoked("0d01", Status.revoked, 1, 1000));
  store.close();
  t.true(await queued, "committed at the close, acknowledged as usual");
  const late = store.write(() => 1);
  await t.throwsAsync(late, { message: /closed/ });
  const err = await late.catch((e: unknown) => e);
  t.like(err as object, { status: 503, reason: "closed" });
});
