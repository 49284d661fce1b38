import test from "ava";
import Database from "better-sqlite3";
import { join } from "node:path";
import { tempDir } from "../../harness/processes.js";
import { SCHEMA } from "./schema.js";
import { CaStore, Status } from "./store.js";

/**
 * New data directories keep certificates in a rowid table (schema.ts: inserts 4x cheaper than WITHOUT ROWID with
 * ~600-byte rows); directories made before keep their WITHOUT ROWID table, and the store reads and writes both.
 */
const OLD_CERTIFICATES = SCHEMA.replace(/(CREATE TABLE IF NOT EXISTS certificates \([^;]*?\n\));/, "$1 WITHOUT ROWID;");

const row = (serial: string) => ({ serial, card_id: "card", profile: "authentication", not_before: 0, not_after: 1e12, der: Buffer.from([0x30, 0x00]) });

function layout(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare(`SELECT sql FROM sqlite_schema WHERE name = 'certificates'`).pluck().get() as string).includes("WITHOUT ROWID") ? "without rowid" : "rowid";
  } finally {
    db.close();
  }
}

test("a new store keeps certificates in a rowid table", (t) => {
  const path = join(tempDir(t, "layout-new"), "ca.db");
  const store = new CaStore(path);
  store.transaction(() => store.insertCertificate(row("0e01")));
  store.close();
  t.is(layout(path), "rowid");
});

test("a data directory made with the WITHOUT ROWID layout opens, reads, issues and revokes as before", async (t) => {
  t.not(OLD_CERTIFICATES, SCHEMA, "the old layout was rebuilt for the test");
  const path = join(tempDir(t, "layout-old"), "ca.db");
  const old = new Database(path);
  old.pragma("journal_mode = WAL");
  old.exec(OLD_CERTIFICATES);
  old.prepare(`INSERT INTO certificates (serial, card_id, profile, not_before, not_after, der) VALUES ('0e02', 'card', 'authentication', 0, 1000000000000, x'3000')`).run();
  old.close();

  const store = new CaStore(path);
  t.teardown(() => store.close());
  t.is(layout(path), "without rowid", "not rewritten");
  t.is(store.certificate("0e02")?.card_id, "card");
  await store.write(() => store.insertCertificate(row("0e03")));
  t.true(store.hasSerial("0e03"));
  t.is(store.revocationTarget("0e03")?.der, null, "a revocation reads no DER");
  t.is(store.revocationTarget("0e03")?.card, undefined, "no card row: none given");
  t.true(await store.write(() => store.setRevoked("0e02", Status.revoked, 1, 10)));
  t.is(store.revocationState("0e02").status, Status.revoked);
});
