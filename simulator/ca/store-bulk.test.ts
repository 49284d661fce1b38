import test from "ava";
import { REASON_CODES } from "../../core/index.js";
import { CaStore, Status } from "./store.js";
import type { StatusChange } from "./status-changes.js";

/** The bulk write path (CaStore.bulkRevoke): one transaction, outcomes in the order given, one row per serial. */

const AT = 1_780_000_000_000;
const WHO = { at: AT, role: "operator", action: "bulk-revoke", detail: "keyCompromise" };

function storeWith(serials: string[]) {
  const store = new CaStore(":memory:");
  store.insertSynthetic(serials, "card-1", AT - 1000, AT + 86_400_000);
  const changes: StatusChange[] = [];
  store.changes.on((c) => changes.push(c));
  return { store, changes };
}

test("a serial given twice is revoked once, then reported already revoked; unknown ones are reported; held ones are revoked", (t) => {
  const { store, changes } = storeWith(["0a01", "0a02", "0a03"]);
  store.transaction(() => store.setRevoked("0a03", Status.onHold, REASON_CODES.certificateHold, AT - 10));
  changes.length = 0;
  const out = store.bulkRevoke(["0a01", "0a01", "0bad", "0a03", "0a02"], Status.revoked, REASON_CODES.keyCompromise, AT, WHO);
  t.deepEqual(out, { revoked: ["0a01", "0a03", "0a02"], alreadyRevoked: ["0a01"], unknown: ["0bad"] });
  // One audit row per serial given, in its order, with its own outcome.
  t.deepEqual(
    store.auditLog().map((r) => [r.serial, r.outcome, r.action, r.detail, r.at]),
    [
      ["0a01", "ok", "bulk-revoke", "keyCompromise", AT],
      ["0a01", "already-revoked", "bulk-revoke", "keyCompromise", AT],
      ["0bad", "not-found", "bulk-revoke", "keyCompromise", AT],
      ["0a03", "ok", "bulk-revoke", "keyCompromise", AT],
      ["0a02", "ok", "bulk-revoke", "keyCompromise", AT],
    ],
  );
  // The revocation log: the hold, then one row per revoked serial; the in-memory state agrees.
  const log = store.db.prepare("SELECT serial, status, reason, at FROM revocations ORDER BY id").raw().all();
  t.deepEqual(log, [
    ["0a03", Status.onHold, REASON_CODES.certificateHold, AT - 10],
    ["0a01", Status.revoked, REASON_CODES.keyCompromise, AT],
    ["0a03", Status.revoked, REASON_CODES.keyCompromise, AT],
    ["0a02", Status.revoked, REASON_CODES.keyCompromise, AT],
  ]);
  for (const s of ["0a01", "0a02", "0a03"]) t.deepEqual(store.revocationState(s), { status: Status.revoked, reason: REASON_CODES.keyCompromise, at: AT });
  // One announcement for the batch, after its commit.
  t.deepEqual(changes, [{ kind: "revoked", serials: ["0a01", "0a03", "0a02"] }]);
  store.close();
});

test("a batch of only unknown or already revoked serials writes its audit rows and announces nothing", (t) => {
  const { store, changes } = storeWith(["0c01"]);
  store.bulkRevoke(["0c01"], Status.revoked, REASON_CODES.keyCompromise, AT, WHO);
  changes.length = 0;
  const out = store.bulkRevoke(["0c01", "0c02"], Status.revoked, REASON_CODES.keyCompromise, AT + 1, { ...WHO, at: AT + 1 });
  t.deepEqual(out, { revoked: [], alreadyRevoked: ["0c01"], unknown: ["0c02"] });
  t.deepEqual(changes, []);
  t.is(store.db.prepare("SELECT count(*) FROM revocations").pluck().get(), 1);
  t.deepEqual(
    store.auditLog().map((r) => r.outcome),
    ["ok", "already-revoked", "not-found"],
  );
  store.close();
});

test("a hold given twice in one batch, or for a serial already on hold, is reported already revoked: one row, one hold (review R1 P2)", (t) => {
  const { store, changes } = storeWith(["0a1b", "0a1c"]);
  store.transaction(() => store.setRevoked("0a1c", Status.onHold, REASON_CODES.certificateHold, AT - 10));
  changes.length = 0;
  const out = store.bulkRevoke(["0a1b", "0a1b", "0a1c"], Status.onHold, REASON_CODES.certificateHold, AT, WHO);
  t.deepEqual(out, { revoked: ["0a1b"], alreadyRevoked: ["0a1b", "0a1c"], unknown: [] });
  t.deepEqual(changes, [{ kind: "on-hold", serials: ["0a1b"] }]);
  t.deepEqual(store.revocationState("0a1c"), { status: Status.onHold, reason: REASON_CODES.certificateHold, at: AT - 10 }, "the earlier hold kept");
});
