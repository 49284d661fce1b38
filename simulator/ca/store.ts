import Database from "better-sqlite3";
import { REASON_CODES } from "../../core/index.js";
import { CaError } from "./api.js";
import { DurableCommits } from "./durable-commits.js";
import { isFinallyRevoked, isOnHold, pack, RevocationStates, Status, unpack, type StagedChanges, type StatusCode } from "./revocation-state.js";
import { SCHEMA } from "./schema.js";
import { prepareStatements, type StoreStatements } from "./store-statements.js";
import { StatusChanges, type StatusChangeKind } from "./status-changes.js";

/**
 * The CA's durable state in SQLite (better-sqlite3, WAL).
 *
 * It runs over 450 lines (about 650): the group commit (`write`/`flush`) rolls back, per
 * savepoint, the in-memory mirror this class keeps (staged revocation state, undo steps,
 * pending announcements) and hands each commit to the fsync queue; outside the class it
 * would need those internals exposed. What has a job of its own is apart: the statements
 * (store-statements.ts), the two views of the revocation state (revocation-state.ts), the
 * fsync queue (durable-commits.ts).
 *
 * Durability choice: journal_mode=WAL, and nothing is acknowledged or
 * published before its commit's WAL frames are fsynced, so an acknowledged
 * revocation survives kill -9 and also a power loss. `transaction()` and lone
 * statements run with synchronous=FULL (SQLite fsyncs before returning); the
 * group commit (`write`) runs with NORMAL and fsyncs the WAL off the event
 * loop before it publishes (durable-commits.ts). (NORMAL alone would survive
 * a process crash but could lose the last commits on power loss.)
 *
 * Two views of the revocation state: the published one (`revocationState`,
 * `revoked()`: what OCSP, the CRL and status answer) holds only durable
 * commits; writers decide on the newest (committed or staged in the current
 * transaction, `current`), so a second revocation of a serial whose first is
 * still waiting for its fsync is refused as already revoked, and that
 * refusal, in a later commit, is answered after the first is on disk.
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
 *
 * Group commit (`write`): concurrent writers share one durable commit. Writes
 * queued within one event-loop turn run in ONE transaction, each in its own
 * SAVEPOINT, so a write that throws rolls back only itself; each promise
 * settles only after the fsync that covers its commit (durable-commits.ts):
 * nothing is acknowledged before it is on disk. The commit's status changes
 * are announced once per kind, at that moment too.
 */

export { Status, type StatusCode } from "./revocation-state.js";

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

/** A certificate as a revocation reads it: no DER, its card alongside (`revocationTarget`). */
export type RevocationTarget = CertificateRow & { card: CardRow | undefined };

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
  private readonly st: StoreStatements;
  /** The revocation log in memory: published (durable) and newest views (revocation-state.ts). */
  private readonly state = new RevocationStates();
  /** Commits waiting for their fsync, published in order (durable-commits.ts). */
  private readonly durability: DurableCommits;
  private readonly fileBacked: boolean;
  /** Undo steps for in-memory state changed inside the current transaction. */
  private undo: Array<() => void> | undefined;
  /** Status changes written inside the current transaction: announced when it commits, dropped when it rolls back. */
  private pending: Array<{ kind: StatusChangeKind; serials: readonly string[] }> = [];
  /** Set while bulkRevoke runs: setRevoked collects its serials here (one append, one announcement) instead of writing each. */
  private bulkAppends: string[] | undefined;
  /** Writes waiting for the next group commit (`write`). */
  private queued: Array<QueuedWrite> = [];
  private flushScheduled = false;
  private commitCount = 0;
  private groupedCount = 0;
  /**
   * Serials with a row in `failures` (or that had one: a purge leaves them here, which costs only a lookup).
   * Nearly every revocation is by a right credential on a certificate nobody guessed at: the lockout's two
   * lookups per request (its wait, then clearing the count) are then skipped without asking SQLite.
   */
  private readonly failedSerials = new Set<string>();
  /** Card rows never change once written: the last CARD_CACHE read are kept (issuance and renewal read cards through it; a revocation reads its card with the certificate, revocationTarget). */
  private readonly cards = new Map<string, CardRow>();

  /** `path` ":memory:" for a throwaway CA (demos, unit tests). */
  constructor(path: string) {
    this.db = new Database(path);
    this.fileBacked = path !== ":memory:";
    this.durability = new DurableCommits(this.fileBacked ? `${path}-wal` : undefined);
    if (this.fileBacked) {
      this.db.pragma("journal_mode = WAL");
      this.db.pragma("synchronous = FULL");
    }
    // Serials are random, so bulk revocations touch B-tree pages all over the table:
    // a larger page cache (64 MiB) keeps them from being re-read and re-evicted.
    this.db.pragma("cache_size = -65536");
    this.db.pragma("temp_store = MEMORY");
    this.db.exec(SCHEMA);
    this.st = prepareStatements(this.db);
    for (const serial of this.db.prepare(`SELECT DISTINCT serial FROM failures`).pluck().iterate() as IterableIterator<string>) this.failedSerials.add(serial);
    for (const [serial, status, reason, at] of this.st.allRevocations.iterate() as IterableIterator<[string, number, number | null, number]>) {
      this.state.load(serial, status as StatusCode, reason ?? 0, at);
    }
  }

  /** One SQLite transaction; in-memory revocation state rolls back with it. */
  transaction<T>(fn: () => T): T {
    if (this.undo) return fn(); // nested: part of the outer transaction
    const fault = this.durability.fault;
    if (fault) throw fault;
    const steps = this.openTx();
    let out: T;
    try {
      out = this.db.transaction(fn)();
    } catch (err) {
      this.closeTx();
      for (let i = steps.length - 1; i >= 0; i--) steps[i]();
      throw err;
    }
    const commit = this.closeTx();
    this.commitCount++;
    // synchronous=FULL: on disk now, and so is every commit still waiting for its fsync; only now may anyone (OCSP, CRL) act on it.
    this.durability.syncedNow();
    this.publish(commit, false);
    return out;
  }

  /** A transaction starts: in-memory changes are recorded (undo, staged entries, announcements) until closeTx. */
  private openTx(): Array<() => void> {
    const undo: Array<() => void> = [];
    this.undo = undo;
    this.pending = [];
    this.state.begin();
    return undo;
  }

  /** The transaction ended: what it changed, to publish once it is durable (a rolled-back one is simply dropped). */
  private closeTx(): CommitRecord {
    const commit: CommitRecord = { changes: this.state.end(), announcements: this.pending };
    this.undo = undefined;
    this.pending = [];
    return commit;
  }

  /** A commit is on disk: its state becomes what readers see, then its changes are announced (`byKind`: one per kind for a group commit's many writes). */
  private publish(commit: CommitRecord, byKind: boolean): void {
    this.state.publish(commit.changes);
    // changed() never throws: each follower runs in its own try and a failure is reported (status-changes.ts).
    if (!byKind || commit.announcements.length === 1) {
      for (const c of commit.announcements) this.changes.changed(c.kind, c.serials);
      return;
    }
    const kinds = new Map<StatusChangeKind, string[]>();
    for (const c of commit.announcements) {
      const list = kinds.get(c.kind);
      if (list) for (const s of c.serials) list.push(s);
      else kinds.set(c.kind, [...c.serials]);
    }
    for (const [kind, serials] of kinds) this.changes.changed(kind, serials);
  }

  /** Durable commits so far (transactions and group commits): tests and benches compare it with the writes acknowledged. */
  get commits(): number {
    return this.commitCount;
  }

  /** Writes that went through `write` so far (each in some group commit). */
  get groupedWrites(): number {
    return this.groupedCount;
  }

  /**
   * Group commit: `fn` runs in the next shared transaction, in a SAVEPOINT of its own (it throws: only its own
   * writes and in-memory state roll back, and its promise rejects). Resolves with `fn`'s value once the
   * transaction holding it has committed (WAL fsynced), never before. `fn` must be synchronous, like
   * `transaction`'s; it may call `transaction` (nested: part of its savepoint).
   */
  write<T>(fn: () => T extends PromiseLike<unknown> ? never : T): Promise<T> {
    if (typeof fn !== "function") throw new TypeError("CaStore.write: fn must be a function");
    // Caught at once where the type system cannot (an `any`, or an async function declared as such).
    if (fn.constructor?.name === "AsyncFunction") throw new TypeError("CaStore.write: fn must be synchronous (an async function)");
    if (!this.db.open) return Promise.reject(closedError());
    const fault = this.durability.fault;
    if (fault) return Promise.reject(fault);
    return new Promise<T>((resolve, reject) => {
      this.queued.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        // After the I/O of this loop turn: every request that arrived meanwhile joins this commit.
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits waiting for their fsync (durable-commits.ts); WAL fsyncs run for group commits so far. */
  get durabilityQueue(): { pending: number; syncs: number } {
    return { pending: this.durability.pending, syncs: this.durability.syncs };
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.queued;
    this.queued = [];
    if (batch.length === 0) return;
    const fault = this.durability.fault ?? (this.db.open ? undefined : closedError());
    if (fault) {
      for (const w of batch) w.reject(fault);
      return;
    }
    const results = new Array<{ ok: true; value: unknown } | { ok: false; error: unknown }>(batch.length);
    const undo = this.openTx();
    let failed: unknown;
    let begun = false;
    try {
      // No fsync inside COMMIT: the WAL is fsynced off the event loop before anything of this commit is published.
      if (this.fileBacked) this.st.syncNormal.run();
      this.st.begin.run();
      begun = true;
      for (let i = 0; i < batch.length; i++) {
        const undoMark = undo.length;
        const pendingMark = this.pending.length;
        const stateMark = this.state.mark;
        this.st.savepoint.run();
        try {
          const value = batch[i].fn();
          // An async fn would go on writing after its first await, outside any transaction (review R1 P5).
          if (isThenable(value)) throw new TypeError("CaStore.write: fn must be synchronous (it returned a promise)");
          results[i] = { ok: true, value };
          this.st.releaseSavepoint.run();
        } catch (error) {
          results[i] = { ok: false, error };
          // The whole transaction is gone (SQLite rolls back by itself on some faults): the rest with it.
          if (!this.db.inTransaction) throw error;
          this.st.rollbackToSavepoint.run();
          this.st.releaseSavepoint.run();
          const steps = undo.splice(undoMark);
          for (let j = steps.length - 1; j >= 0; j--) steps[j]();
          this.pending.length = pendingMark;
          this.state.truncate(stateMark);
        }
      }
      this.st.commit.run();
    } catch (err) {
      failed = err;
      if (begun && this.db.inTransaction) {
        try {
          this.st.rollback.run();
        } catch {
          // already gone
        }
      }
      for (let j = undo.length - 1; j >= 0; j--) undo[j]();
    } finally {
      if (this.fileBacked) {
        try {
          this.st.syncFull.run();
        } catch {
          // a closed or broken connection: nothing more is written through it
        }
      }
    }
    const commit = this.closeTx();
    if (failed !== undefined) {
      // Nothing of this commit is on disk: nobody is acknowledged.
      for (let i = 0; i < batch.length; i++) {
        const r = results[i];
        batch[i].reject(r && !r.ok ? r.error : failed);
      }
      return;
    }
    this.commitCount++;
    this.groupedCount += batch.length;
    this.durability.add(
      {
        durable: () => {
          // On disk: announced (readers see it), then acknowledged.
          this.publish(commit, true);
          for (let i = 0; i < batch.length; i++) {
            const r = results[i];
            if (r.ok) batch[i].resolve(r.value);
            else batch[i].reject(r.error);
          }
        },
        failed: (err) => {
          for (let i = 0; i < batch.length; i++) {
            const r = results[i];
            batch[i].reject(r.ok ? err : r.error);
          }
        },
      },
      false, // an in-memory store's queue (no WAL) publishes at once
    );
  }

  /** Announces a status change: at once outside a transaction (a lone statement commits itself), else at the commit. */
  private announce(kind: StatusChangeKind, serials: readonly string[]): void {
    if (this.undo === undefined) {
      // A lone statement (synchronous=FULL) is on disk, and so is everything committed before it.
      this.durability.syncedNow();
      this.changes.changed(kind, serials);
    } else this.pending.push({ kind, serials });
  }

  private setState(serial: string, packed: number | undefined): void {
    const undo = this.undo;
    if (undo === undefined) {
      // A lone statement (synchronous=FULL): on disk already, as is everything committed before it.
      this.durability.syncedNow();
      this.state.setPublished(serial, packed);
      return;
    }
    undo.push(this.state.stage(serial, packed));
  }

  /** Revocation state of a serial as published: durable commits only (status good when never revoked or released). */
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

  /**
   * The certificate a revocation is asked for, without its DER (a revocation never needs it), with its card read by
   * the same statement (`card` undefined: a certificate without one, such as synthetic bench rows). One statement
   * instead of two; the card is handed to the credential check as is, not through the card cache (a load test
   * revokes each card once: caching would only churn it).
   */
  revocationTarget(serial: string): RevocationTarget | undefined {
    const row = this.st.getCertWithCard.get(serial) as (Omit<CertificateRow, "status" | "reason" | "revoked_at" | "der"> & Omit<CardRow, "card_id"> & { k_card_id: string | null }) | undefined;
    if (!row) return undefined;
    const card: CardRow | undefined =
      row.k_card_id === null
        ? undefined
        : {
            card_id: row.card_id,
            name: row.name,
            email: row.email,
            organisation: row.organisation,
            holder_code: row.holder_code,
            legal_code: row.legal_code,
            authorised_code: row.authorised_code,
            registration: row.registration,
            created_at: row.created_at,
          };
    const r = this.revocationState(serial);
    return {
      serial: row.serial,
      card_id: row.card_id,
      profile: row.profile,
      not_before: row.not_before,
      not_after: row.not_after,
      der: null,
      status: r.status,
      reason: r.reason,
      revoked_at: r.at,
      card,
    };
  }

  /** Sets revoked or on-hold (call inside transaction()); false when it was already (finally) revoked. Assumes the serial exists. */
  setRevoked(serial: string, status: StatusCode, reason: number, at: number): boolean {
    const cur = this.state.current(serial);
    if (isFinallyRevoked(cur)) return false;
    if (this.bulkAppends) this.bulkAppends.push(serial);
    else this.st.appendRevocation.run(serial, status, reason, at);
    this.setState(serial, pack(status, reason, at));
    if (!this.bulkAppends) this.announce(changeKind(status, reason), [serial]);
    return true;
  }

  /** Releases from hold (call inside transaction()); false when not on hold. */
  release(serial: string, at: number): boolean {
    if (!isOnHold(this.state.current(serial))) return false;
    this.st.appendRevocation.run(serial, Status.good, null, at);
    this.setState(serial, undefined);
    this.announce("released", [serial]);
    return true;
  }

  // ------------------------------------------------ wrong-credential counts

  failure(serial: string, role: string, source: string): FailureRow | undefined {
    if (!this.failedSerials.has(serial)) return undefined;
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
    // Kept even if this write rolls back: a superfluous member costs one lookup, a missing one a lost count.
    this.failedSerials.add(serial);
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
    const known = this.cards.get(cardId);
    if (known) return known;
    const row = this.st.getCard.get(cardId) as CardRow | undefined;
    // Only rows read outside a transaction (committed): one read inside could still roll back with it.
    if (row && this.undo === undefined) {
      if (this.cards.size >= CARD_CACHE) this.cards.delete(this.cards.keys().next().value!);
      this.cards.set(row.card_id, row);
    }
    return row;
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
   * Revokes many in ONE transaction: the bulk path (revocation.ts runs it as one write of a group commit). Unknown and
   * already-revoked serials are reported, not errors. One audit row per serial,
   * in the same transaction, so each certificate's own trail shows it: the
   * rows are appends (rowid order, no index on serial), which keeps a million
   * of them cheap.
   *
   * The lookup of the serials and the audit rows are one statement each for
   * the whole batch (a JSON array through json_each), the revocation-log
   * rows one append at the end, not three statements per serial: 7-14% less
   * per serial at 1,000,000 certificates (A/B in one process, batches of
   * 1,000). What remains is SQLite's B-tree lookups and the commit. The
   * outcome of each serial is decided in order by setRevoked, so a serial
   * given twice is revoked (or held) once and then reported already revoked, as is a hold for a serial on hold.
   */
  bulkRevoke(serials: string[], status: StatusCode, reason: number, at: number, audit: BulkAudit): BulkOutcome {
    const out: BulkOutcome = { revoked: [], alreadyRevoked: [], unknown: [] };
    const { role, action, detail = null } = audit;
    this.transaction(() => {
      const missing = new Set(this.st.unknownSerials.all(JSON.stringify(serials)) as number[]);
      const rows = new Array<[string, string]>(serials.length);
      // setRevoked collects the revoked serials (out.revoked itself, no copy): one append, one announcement.
      this.bulkAppends = out.revoked;
      try {
        for (let i = 0; i < serials.length; i++) {
          const s = serials[i];
          let outcome: string;
          if (missing.has(i)) {
            out.unknown.push(s);
            outcome = "not-found";
          } else if (status === Status.onHold && isOnHold(this.state.current(s))) {
            // Already on hold (or given twice in this batch): as the single path's 409 already-on-hold, no second row.
            out.alreadyRevoked.push(s);
            outcome = "already-revoked";
          } else if (this.setRevoked(s, status, reason, at)) {
            outcome = "ok";
          } else {
            out.alreadyRevoked.push(s);
            outcome = "already-revoked";
          }
          rows[i] = [s, outcome];
        }
      } finally {
        this.bulkAppends = undefined;
      }
      if (out.revoked.length > 0) this.st.appendRevocations.run(status, reason, at, JSON.stringify(out.revoked));
      this.st.auditRows.run(audit.at, role, action, detail, JSON.stringify(rows));
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
    for (const [serial, p] of this.state.entries()) {
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

  deleteMeta(key: string): void {
    this.st.deleteMeta.run(key);
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

  /** Commits the queued writes first (they were accepted before the close: answered as usual, not 503). */
  close(): void {
    if (!this.db.open) return;
    try {
      this.flush();
      // What waits for its fsync is synced here and published (its writers acknowledged) before the connection goes.
      this.durability.close();
    } finally {
      this.db.close();
    }
  }
}

/** Card rows kept in memory at most (a few hundred bytes each). */
const CARD_CACHE = 10_000;

/** A committed transaction's in-memory changes, published once it is durable. */
interface CommitRecord {
  changes: StagedChanges;
  announcements: Array<{ kind: StatusChangeKind; serials: readonly string[] }>;
}

interface QueuedWrite {
  fn: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** What a revocation-log entry is, as a status change: a hold, a supersession (renewal) or a revocation. */
function changeKind(status: StatusCode, reason: number): StatusChangeKind {
  if (status === Status.onHold) return "on-hold";
  return reason === REASON_CODES.superseded ? "superseded" : "revoked";
}

function isThenable(v: unknown): boolean {
  return (typeof v === "object" || typeof v === "function") && v !== null && typeof (v as { then?: unknown }).then === "function";
}

/** A write queued or asked for after the store closed: the CA's 503 "closed" (as EmbeddedCa's checkOpen), not a 500. */
function closedError(): CaError {
  return new CaError(503, "closed", "the CA is closed");
}
