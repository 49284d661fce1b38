import type Database from "better-sqlite3";
import { PURGE_BATCH } from "./schema.js";

/** The store's prepared statements (store.ts), prepared once per connection. */
export type StoreStatements = ReturnType<typeof prepareStatements>;

export function prepareStatements(db: Database.Database) {
  return {
    insertCert: db.prepare(
      `INSERT INTO certificates (serial, card_id, profile, not_before, not_after, der) VALUES (@serial, @card_id, @profile, @not_before, @not_after, @der)`,
    ),
    getCert: db.prepare(`SELECT serial, card_id, profile, not_before, not_after, der FROM certificates WHERE serial = ?`),
    // A revocation needs the certificate's card, never its DER: one statement for both.
    getCertWithCard: db.prepare(
      `SELECT c.serial, c.card_id, c.profile, c.not_before, c.not_after, k.card_id AS k_card_id, k.name, k.email, k.organisation,
              k.holder_code, k.legal_code, k.authorised_code, k.registration, k.created_at
       FROM certificates c LEFT JOIN cards k ON k.card_id = c.card_id WHERE c.serial = ?`,
    ),
    hasSerial: db.prepare(`SELECT 1 FROM certificates WHERE serial = ?`).pluck(),
    appendRevocation: db.prepare(`INSERT INTO revocations (serial, status, reason, at) VALUES (?, ?, ?, ?)`),
    // The bulk path's statements (bulkRevoke): a batch's serials as one JSON array, rows in its order.
    unknownSerials: db.prepare(`SELECT key FROM json_each(?) WHERE NOT EXISTS (SELECT 1 FROM certificates WHERE serial = value)`).pluck(),
    appendRevocations: db.prepare(`INSERT INTO revocations (serial, status, reason, at) SELECT value, ?, ?, ? FROM json_each(?)`),
    auditRows: db.prepare(`INSERT INTO audit (at, serial, role, action, outcome, detail) SELECT ?, value ->> 0, ?, ?, value ->> 1, ? FROM json_each(?)`),
    allRevocations: db.prepare(`SELECT serial, status, reason, at FROM revocations ORDER BY id`).raw(),
    getFailure: db.prepare(`SELECT count, next_at, touched_at FROM failures WHERE serial = ? AND role = ? AND source = ?`),
    putFailure: db.prepare(
      `INSERT INTO failures (serial, role, source, count, next_at, touched_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (serial, role, source) DO UPDATE SET count = excluded.count, next_at = excluded.next_at, touched_at = excluded.touched_at`,
    ),
    clearFailure: db.prepare(`DELETE FROM failures WHERE serial = ? AND role = ? AND source = ?`),
    clearFailures: db.prepare(`DELETE FROM failures WHERE serial = ?`),
    purgeFailures: db.prepare(
      `DELETE FROM failures WHERE (serial, role, source) IN (SELECT serial, role, source FROM failures WHERE touched_at < ? ORDER BY touched_at LIMIT ${PURGE_BATCH})`,
    ),
    insertCard: db.prepare(
      `INSERT INTO cards (card_id, name, email, organisation, holder_code, legal_code, authorised_code, registration, created_at)
       VALUES (@card_id, @name, @email, @organisation, @holder_code, @legal_code, @authorised_code, @registration, @created_at)`,
    ),
    getCard: db.prepare(`SELECT * FROM cards WHERE card_id = ?`),
    audit: db.prepare(`INSERT INTO audit (at, serial, role, action, outcome, detail) VALUES (?, ?, ?, ?, ?, ?)`),
    useChallenge: db.prepare(`INSERT OR IGNORE INTO used_challenges (tag, expires_at) VALUES (?, ?)`),
    purgeChallenges: db.prepare(
      `DELETE FROM used_challenges WHERE tag IN (SELECT tag FROM used_challenges WHERE expires_at <= ? ORDER BY expires_at LIMIT ${PURGE_BATCH})`,
    ),
    getMeta: db.prepare(`SELECT value FROM meta WHERE key = ?`).pluck(),
    begin: db.prepare(`BEGIN IMMEDIATE`),
    commit: db.prepare(`COMMIT`),
    rollback: db.prepare(`ROLLBACK`),
    savepoint: db.prepare(`SAVEPOINT one_write`),
    releaseSavepoint: db.prepare(`RELEASE one_write`),
    rollbackToSavepoint: db.prepare(`ROLLBACK TO one_write`),
    syncNormal: db.prepare(`PRAGMA synchronous = NORMAL`),
    syncFull: db.prepare(`PRAGMA synchronous = FULL`),
    setMeta: db.prepare(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`),
    deleteMeta: db.prepare(`DELETE FROM meta WHERE key = ?`),
  };
}
