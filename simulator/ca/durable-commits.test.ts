import test from "ava";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../harness/processes.js";
import { DurableCommits } from "./durable-commits.js";
import { storageFault } from "./storage-fault.js";
import { CaStore, Status } from "./store.js";

/**
 * Group commits fsync the WAL off the event loop (durable-commits.ts): nothing
 * is acknowledged or published (OCSP, CRL, status) before its fsync, writers
 * decide on the newest state meanwhile, and a failed fsync fails what waited.
 */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

function fileStore(t: import("ava").ExecutionContext, serials: string[]): CaStore {
  const store = new CaStore(join(tempDir(t, "durable"), "ca.db"));
  t.teardown(() => store.close());
  store.insertSynthetic(serials, "card", 0, 1e12);
  return store;
}

test("a group commit is published and acknowledged only after its fsync; until then readers see the durable state", async (t) => {
  const store = fileStore(t, ["d001"]);
  const heard: string[] = [];
  store.changes.on((c) => heard.push(`${c.kind} ${c.serials.join(",")}`));
  let acked = false;
  const write = store.write(() => store.setRevoked("d001", Status.revoked, 1, 10)).then((v) => ((acked = true), v));
  await nextTurn(); // the flush ran (committed, NORMAL); the fsync's callback can only come in a later poll phase
  t.is(store.durabilityQueue.pending, 1, "committed, waiting for its fsync");
  t.is(store.revocationState("d001").status, Status.good, "not published before the fsync");
  t.deepEqual(heard, [], "not announced before the fsync");
  t.false(acked);
  t.true(await write);
  t.is(store.revocationState("d001").status, Status.revoked);
  t.deepEqual(heard, ["revoked d001"]);
  t.true(store.durabilityQueue.syncs >= 1);
});

test("a second revocation of a serial whose first waits for its fsync is decided on the newest state: refused", async (t) => {
  const store = fileStore(t, ["d002"]);
  const first = store.write(() => store.setRevoked("d002", Status.revoked, 1, 10));
  await nextTurn();
  t.is(store.revocationState("d002").status, Status.good);
  const second = store.write(() => store.setRevoked("d002", Status.revoked, 1, 11));
  t.deepEqual(await Promise.all([first, second]), [true, false]);
  t.is(store.revocationState("d002").at, 10, "the first revocation's time stands");
  t.is(store.db.prepare("SELECT count(*) FROM revocations WHERE serial = 'd002'").pluck().get(), 1);
});

test("a synchronous transaction (FULL) publishes the group commits waiting before it, in order", async (t) => {
  const store = fileStore(t, ["d003", "d004"]);
  const order: string[] = [];
  store.changes.on((c) => order.push(c.serials.join(",")));
  const waiting = store.write(() => store.setRevoked("d003", Status.revoked, 1, 10));
  await nextTurn();
  t.is(store.revocationState("d003").status, Status.good);
  store.transaction(() => store.setRevoked("d004", Status.onHold, 6, 11));
  t.deepEqual(order, ["d003", "d004"], "the earlier commit first: its frames precede the FULL commit's in the WAL");
  t.is(store.revocationState("d003").status, Status.revoked);
  t.is(store.revocationState("d004").status, Status.onHold);
  t.true(await waiting);
});

test("closing the store syncs and acknowledges what waits; a reopened store has it", async (t) => {
  const dir = tempDir(t, "durable-close");
  const store = new CaStore(join(dir, "ca.db"));
  store.insertSynthetic(["d005"], "card", 0, 1e12);
  const write = store.write(() => store.setRevoked("d005", Status.revoked, 1, 10));
  await nextTurn();
  store.close();
  t.true(await write);
  const again = new CaStore(join(dir, "ca.db"));
  t.teardown(() => again.close());
  t.is(again.revocationState("d005").status, Status.revoked);
});

test("an in-memory store publishes a group commit at once (nothing to fsync)", async (t) => {
  const store = new CaStore(":memory:");
  t.teardown(() => store.close());
  store.insertSynthetic(["d006"], "card", 0, 1e12);
  t.true(await store.write(() => store.setRevoked("d006", Status.revoked, 1, 10)));
  t.is(store.revocationState("d006").status, Status.revoked);
  t.is(store.durabilityQueue.syncs, 0);
});

test("a group commit made while an fsync runs waits for an fsync of its own, even when a FULL commit published the others meanwhile", async (t) => {
  const wal = join(tempDir(t, "durable-order"), "ca.db-wal");
  writeFileSync(wal, "frames");
  const queue = new DurableCommits(wal);
  t.teardown(() => queue.close());
  const published: string[] = [];
  const commit = (name: string, onDurable?: () => void) => ({
    durable: () => (published.push(`${name} after ${queue.syncs} fsyncs`), onDurable?.()),
    failed: () => published.push(`${name} failed`),
  });
  queue.add(commit("a"), false); // its fsync starts
  queue.add(commit("x"), true); // a FULL commit: a and x are on disk
  let bDurable!: () => void;
  const b = new Promise<void>((resolve) => (bDurable = resolve));
  queue.add(commit("b", bDurable), false); // written after the running fsync began: that fsync does not cover it
  t.deepEqual(published, ["a after 0 fsyncs", "x after 0 fsyncs"]);
  await b;
  t.deepEqual(published, ["a after 0 fsyncs", "x after 0 fsyncs", "b after 2 fsyncs"], "b published after an fsync that started after it");
  t.is(queue.syncs, 2);
});

test("a failed fsync fails every waiting commit with a storage fault (503 io-error) and every later one", (t) => {
  const queue = new DurableCommits(join(tempDir(t, "durable-fail"), "missing", "ca.db-wal"));
  const outcomes: string[] = [];
  const commit = (name: string) => ({ durable: () => outcomes.push(`${name} durable`), failed: (e: Error) => outcomes.push(`${name} ${storageFault(e)?.reason}`) });
  queue.add(commit("a"), false);
  queue.add(commit("b"), false);
  queue.add(commit("c"), true); // even one SQLite synced: the queue is broken, durability of what waited unknown
  t.deepEqual(outcomes, ["a io-error", "b io-error", "c io-error"]);
  t.is(storageFault(queue.fault)?.code, "SQLITE_IOERR_FSYNC");
  queue.close();
});

test("the store refuses writes once its durability is broken: the writer gets the storage fault", async (t) => {
  const store = fileStore(t, ["d007"]);
  // Break it as a failed fsync would: through the queue's own failure path (the -wal file's descriptor is gone).
  const queue = (store as unknown as { durability: DurableCommits }).durability;
  (queue as unknown as { walPath: string }).walPath = join(tempDir(t, "durable-gone"), "none", "x-wal");
  (queue as unknown as { fd: number | undefined }).fd = undefined;
  await t.throwsAsync(store.write(() => store.setRevoked("d007", Status.revoked, 1, 10)), { message: /could not be synced/ });
  await t.throwsAsync(store.write(() => 1), { message: /could not be synced/ });
  t.throws(() => store.transaction(() => 1), { message: /could not be synced/ });
  t.is(store.revocationState("d007").status, Status.good, "never published");
});
