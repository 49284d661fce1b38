import Database from "better-sqlite3";
import { REASON_CODES } from "../../core/index.js";
import { PURGE_BATCH, SCHEMA } from "./schema.js";
import { StatusChanges, type StatusChangeKind } from "./status-changes.js";

/**
 * The CA's durable state in SQLite (better-sqlite3, WAL).
 *
 * Durability choice: journal_mode=WAL with synchronous=FULL. Every commit
 * fsyncs the WAL before better-sqlite3 returns, and the CA acknowledges a
 * revocation only after that commit, so an acknowledged revocation survives
 * kill -9 and also a power loss. (WAL + NORMAL would survive a process crash
 * but could lose the last commits on power loss.) The cost is one fsync per
 * transaction, which is why bulk revocations run as one transaction.
 *
 * Revocations are an append-only log (table `revocations`), materialised in
 * memory as serial -> state at open. Why: serials are random, so updating
 * a status column in place rewrites a random B-tree page per revocation;
 * measured on this design's first version, 1,000,000 revocations in 10,000-row
 * transactions took 26 s in the store alone, mostly WAL page writes. Appending
 * to the log writes sequential pages only. Wrong-credential counters live in
 * `failures`, one row per (certificate, role, source) (lockout.ts).
 *
 * Every write that changes a certificate's status (insert, revoke, hold,
 * release, bulk revocation) is announced on `changes` by the store itself,
 * once its transaction commits (a rolled-back write is never announced): the
 * OCSP cache and the CRL publisher follow it, and a new write path cannot
 * forget to tell them.
 */

export const Status = { good: 0, revoked: 1, onHold: 2 } as const;
export type StatusCode = (typeof Status)[keyof typeof Status];

export interface CertificateRow {
  serial: string;
  card_id: string;
  profile: string;
  not_before: number;
  not_after: number;
  status: StatusCode;
  reason: number | null;
  revoked_at: number | null;
  der: Buffer | null;
}

export interface CardRow {
  card_id: string;
  name: string;
  email: string;
  organisation: string | null;
  holder_code: string;
  legal_code: string | null;
  authorised_code: string | null;
  /** JSON object: question -> salted hash of the answer. */
  registration: string;
  created_at: number;
}

/** Wrong credentials from one source for one role on one certificate (lockout.ts). */
export interface FailureRow {
  count: number;
  /** Refused without a check before this time (CA clock, ms); 0 while under the limit. */
  next_at: number;
  /** The last wrong attempt: rows untouched for long are purged. */
  touched_at: number;
}

export interface AuditEntry {
  at: number;
  serial: string | null;
  role: string;
  action: string;
  outcome: string;
  detail?: string;
}

/** Who did a bulk revocation; each serial's row gets its own serial and outcome (any given here are ignored). */
export type BulkAudit = Omit<AuditEntry, "serial" | "outcome"> & Partial<Pick<AuditEntry, "serial" | "outcome">>;

export interface BulkOutcome {
  revoked: string[];
  alreadyRevoked: string[];
  unknown: string[];
}

export class CaStore {
  readonly db: Database.Database;
  /** The status changes this store committed (status-changes.ts). */
  readonly changes = new StatusChanges();
  private readonly st: ReturnType<CaStore["prepare"]>;
  /** serial -> packed state (at * 64 + reason * 4 + status) for revoked and held certificates. */
  private readonly state = new Map<string, number>();
  /** Undo steps for in-memory state changed inside the current transaction. */
  private undo: Array<() => void> | undefined;
  /** Status changes written inside the current transaction: announced when it commits, dropped when it rolls back. */
  private pending: Array<{ kind: StatusChangeKind; serials: readonly string[] }> = [];
  /** Set while bulkRevoke runs: it announces its serials as one change instead of setRevoked announcing each. */
  private inBulk = false;

  /** `path` ":memory:" for a throwaway CA (demos, unit tests). */
  constructor(path: string) {
    this.db = new Database(path);
    if (path !== ":memory:") {
      this.db.pragma("journal_mode = WAL");
      this.db.pragma("synchronous = FULL");
    }
    // Serials are random, so bulk revocations touch B-tree pages all over the table:
    // a larger page cache (64 MiB) keeps them from being re-read and re-evicted.
    this.db.pragma("cache_size = -65536");
    this.db.pragma("temp_store = MEMORY");
    this.db.exec(SCHEMA);
    this.st = this.prepare();
    for (const [serial, status, reason, at] of this.st.allRevocations.iterate() as IterableIterator<[string, number, number | null, number]>) {
      if (status === Status.good) this.state.delete(serial);
      else this.state.set(serial, pack(status as StatusCode, reason ?? 0, at));
    }
  }

  private prepare() {
    const db = this.db;
    return {
      insertCert: db.prepare(
        `INSERT INTO certificates (serial, card_id, profile, not_before, not_after, der) VALUES (@serial, @card_id, @profile, @not_before, @not_after, @der)`,
      ),
      getCert: db.prepare(`SELECT serial, card_id, profile, not_before, not_after, der FROM certificates WHERE serial = ?`),
      hasSerial: db.prepare(`SELECT 1 FROM certificates WHERE serial = ?`).pluck(),
      appendRevocation: db.prepare(`INSERT INTO revocations (serial, status, reason, at) VALUES (?, ?, ?, ?)`),
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
      setMeta: db.prepare(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`),
    };
  }

  /** One SQLite transaction; in-memory revocation state rolls back with it. */
  transaction<T>(fn: () => T): T {
    if (this.undo) return fn(); // nested: part of the outer transaction
    this.undo = [];
    let out: T;
    try {
      out = this.db.transaction(fn)();
    } catch (err) {
      const steps = this.undo ?? [];
      this.undo = undefined;
      this.pending = [];
      for (let i = steps.length - 1; i >= 0; i--) steps[i]();
      throw err;
    }
    this.undo = undefined;
    // Committed: only now may anyone (OCSP, CRL) act on the changes.
    const committed = this.pending;
    this.pending = [];
    for (const c of committed) this.changes.changed(c.kind, c.serials);
    return out;
  }

  /** Announces a status change: at once outside a transaction (a lone statement commits itself), else at the commit. */
  private announce(kind: StatusChangeKind, serials: readonly string[]): void {
    if (this.undo === undefined) this.changes.changed(kind, serials);
    else this.pending.push({ kind, serials });
  }

  private setState(serial: string, packed: number | undefined): void {
    const before = this.state.get(serial);
    if (packed === undefined) this.state.delete(serial);
    else this.state.set(serial, packed);
    this.undo?.push(() => (before === undefined ? this.state.delete(serial) : this.state.set(serial, before)));
  }

  /** Current revocation state of a serial (status good when never revoked or released). */
  revocationState(serial: string): { status: StatusCode; reason: number | null; at: number | null } {
    const p = this.state.get(serial);
    if (p === undefined) return { status: Status.good, reason: null, at: null };
    return unpack(p);
  }

  get revokedCount(): number {
    return this.state.size;
  }

  insertCertificate(row: Pick<CertificateRow, "serial" | "card_id" | "profile" | "not_before" | "not_after" | "der">): void {
    this.st.insertCert.run(row);
    this.announce("issued", [row.serial]);
  }

  hasSerial(serial: string): boolean {
    return this.st.hasSerial.get(serial) !== undefined;
  }

  certificate(serial: string): CertificateRow | undefined {
    const row = this.st.getCert.get(serial) as Omit<CertificateRow, "status" | "reason" | "revoked_at"> | undefined;
    if (!row) return undefined;
    const r = this.revocationState(serial);
    return { ...row, status: r.status, reason: r.reason, revoked_at: r.at };
  }

  /** Sets revoked or on-hold (call inside transaction()); false when it was already (finally) revoked. Assumes the serial exists. */
  setRevoked(serial: string, status: StatusCode, reason: number, at: number): boolean {
    const cur = this.state.get(serial);
    if (cur !== undefined && (cur & 3) === Status.revoked) return false;
    this.st.appendRevocation.run(serial, status, reason, at);
    this.setState(serial, pack(status, reason, at));
    if (!this.inBulk) this.announce(changeKind(status, reason), [serial]);
    return true;
  }

  /** Releases from hold (call inside transaction()); false when not on hold. */
  release(serial: string, at: number): boolean {
    const cur = this.state.get(serial);
    if (cur === undefined || (cur & 3) !== Status.onHold) return false;
    this.st.appendRevocation.run(serial, Status.good, null, at);
    this.setState(serial, undefined);
    this.announce("released", [serial]);
    return true;
  }

  // ------------------------------------------------ wrong-credential counts

  failure(serial: string, role: string, source: string): FailureRow | undefined {
    return this.st.getFailure.get(serial, role, source) as FailureRow | undefined;
  }

  /**
   * Writes a triple's count (call inside a transaction with its audit row).
   * First purges a bounded batch of rows untouched since `purgeBefore`, so the
   * table cannot grow without bound and no write does unbounded work.
   */
  putFailure(serial: string, role: string, source: string, row: FailureRow, purgeBefore: number): void {
    this.st.purgeFailures.run(purgeBefore);
    this.st.putFailure.run(serial, role, source, row.count, row.next_at, row.touched_at);
  }

  /** A right credential: that triple starts from zero. */
  clearFailure(serial: string, role: string, source: string): void {
    this.st.clearFailure.run(serial, role, source);
  }

  /** Operator unlock: every triple of the certificate; returns how many there were. */
  clearFailures(serial: string): number {
    return this.st.clearFailures.run(serial).changes;
  }

  insertCard(row: CardRow): void {
    this.st.insertCard.run(row);
  }

  card(cardId: string): CardRow | undefined {
    return this.st.getCard.get(cardId) as CardRow | undefined;
  }

  audit(e: AuditEntry): void {
    this.st.audit.run(e.at, e.serial, e.role, e.action, e.outcome, e.detail ?? null);
  }

  auditLog(serial?: string): AuditEntry[] {
    const rows = serial
      ? this.db.prepare(`SELECT at, serial, role, action, outcome, detail FROM audit WHERE serial = ? ORDER BY id`).all(serial)
      : this.db.prepare(`SELECT at, serial, role, action, outcome, detail FROM audit ORDER BY id`).all();
    return rows as AuditEntry[];
  }

  /**
   * Revokes many in ONE transaction (one fsync): the bulk path. Unknown and
   * already-revoked serials are reported, not errors. One audit row per serial,
   * in the same transaction, so each certificate's own trail shows it: the
   * rows are appends (rowid order, no index on serial), which keeps a million
   * of them cheap.
   */
  bulkRevoke(serials: string[], status: StatusCode, reason: number, at: number, audit: BulkAudit): BulkOutcome {
    const out: BulkOutcome = { revoked: [], alreadyRevoked: [], unknown: [] };
    const { role, action, detail = null } = audit;
    const row = this.st.audit;
    this.transaction(() => {
      // One change for the whole batch (out.revoked itself, no copy), not one per serial.
      this.inBulk = true;
      try {
        for (const s of serials) {
          let outcome: string;
          if (this.st.hasSerial.get(s) === undefined) {
            out.unknown.push(s);
            outcome = "not-found";
          } else if (this.setRevoked(s, status, reason, at)) {
            out.revoked.push(s);
            outcome = "ok";
          } else {
            out.alreadyRevoked.push(s);
            outcome = "already-revoked";
          }
          row.run(audit.at, s, role, action, outcome, detail);
        }
      } finally {
        this.inBulk = false;
      }
      this.announce(changeKind(status, reason), out.revoked);
    });
    return out;
  }

  // ------------------------------------------------------ renewal challenges

  /**
   * Records a challenge as used (call inside the renewal's transaction, only
   * for a verified proof); false when it was used before. Challenges are
   * stateless until then (renewal-challenges.ts): handing one out stores
   * nothing. Expired entries, which can never match again, are purged in
   * bounded batches on the way.
   */
  useChallenge(tag: string, expiresAt: number, now: number): boolean {
    this.st.purgeChallenges.run(now);
    return this.st.useChallenge.run(tag, expiresAt).changes === 1;
  }

  /** Every revoked or held certificate as [serialHex, revokedAtMs, reasonCode]: the CRL's input. */
  *revoked(): IterableIterator<[string, number, number]> {
    const entry: [string, number, number] = ["", 0, 0];
    for (const [serial, p] of this.state) {
      // one reused tuple: the CRL writer consumes each entry before the next
      entry[0] = serial;
      entry[1] = Math.floor(p / 64);
      entry[2] = Math.floor(p / 4) & 15;
      yield entry;
    }
  }

  meta(key: string): string | undefined {
    return this.st.getMeta.get(key) as string | undefined;
  }

  setMeta(key: string, value: string): void {
    this.st.setMeta.run(key, value);
  }

  /**
   * Benchmark/load-test helper: inserts certificate rows without building
   * certificates (no DER), in one transaction. Such serials answer status,
   * OCSP and revocation exactly like issued ones; only their PEM is absent.
   */
  insertSynthetic(serials: string[], cardId: string, notBefore: number, notAfter: number): void {
    // Sorted inserts append to the primary-key B-tree instead of splitting random pages.
    const sorted = [...serials].sort();
    this.transaction(() => {
      for (const serial of sorted) {
        this.st.insertCert.run({ serial, card_id: cardId, profile: "authentication", not_before: notBefore, not_after: notAfter, der: null });
      }
      this.announce("issued", sorted);
    });
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}


/** What a revocation-log entry is, as a status change: a hold, a supersession (renewal) or a revocation. */
function changeKind(status: StatusCode, reason: number): StatusChangeKind {
  if (status === Status.onHold) return "on-hold";
  return reason === REASON_CODES.superseded ? "superseded" : "revoked";
}

// at (ms, < 2^47) * 64 + reason (4 bits) * 4 + status (2 bits): exact in a double.
function pack(status: StatusCode, reason: number, at: number): number {
  return at * 64 + (reason & 15) * 4 + status;
}

function unpack(p: number): { status: StatusCode; reason: number; at: number } {
  return { status: (p & 3) as StatusCode, reason: Math.floor(p / 4) & 15, at: Math.floor(p / 64) };
}
