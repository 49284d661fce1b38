/**
 * The CA store's tables (store.ts). `CREATE ... IF NOT EXISTS`: opening an older data directory brings it up to date.
 *
 * `certificates` is a rowid table with its serial index: each row carries the certificate's DER (~600 bytes), and a
 * WITHOUT ROWID table of such rows keyed by random serials splits and rebalances wide pages on every insert. Measured
 * (50,000 rows in transactions of 500, this 2-core machine): 77-87 us per insert WITHOUT ROWID, 22 us as a rowid table
 * (the row appended, only the small serial index taking the random key); lookups by serial about the same (7-12 us).
 * Data directories made before keep the WITHOUT ROWID table: every statement reads and writes both layouts alike.
 */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS certificates (
  serial TEXT PRIMARY KEY,
  card_id TEXT NOT NULL,
  profile TEXT NOT NULL,
  not_before INTEGER NOT NULL,
  not_after INTEGER NOT NULL,
  der BLOB
);
CREATE TABLE IF NOT EXISTS revocations (
  id INTEGER PRIMARY KEY,
  serial TEXT NOT NULL,
  status INTEGER NOT NULL,
  reason INTEGER,
  at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS certificates_card ON certificates(card_id);
CREATE TABLE IF NOT EXISTS cards (
  card_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  email TEXT NOT NULL,
  organisation TEXT,
  holder_code TEXT NOT NULL,
  legal_code TEXT,
  authorised_code TEXT,
  registration TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  serial TEXT,
  role TEXT NOT NULL,
  action TEXT NOT NULL,
  outcome TEXT NOT NULL,
  detail TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS failures (
  serial TEXT NOT NULL,
  role TEXT NOT NULL,
  source TEXT NOT NULL,
  count INTEGER NOT NULL,
  next_at INTEGER NOT NULL,
  touched_at INTEGER NOT NULL,
  PRIMARY KEY (serial, role, source)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS failures_by_touched ON failures (touched_at);
CREATE TABLE IF NOT EXISTS used_challenges (
  tag TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS used_challenges_by_expiry ON used_challenges (expires_at);
-- Before stateless challenges (renewal-challenges.ts) the CA stored each one it handed out.
DROP TABLE IF EXISTS renewal_challenges;
`;
// Data directories made before the per-source lockout keep certificates.failed_tries and .locked:
// nothing reads or writes them any more (dropping them would rewrite the whole table).

/** Rows purged per write at most: a write never does unbounded clean-up work. */
export const PURGE_BATCH = 32;
