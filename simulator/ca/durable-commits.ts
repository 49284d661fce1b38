import { closeSync, fdatasync, fdatasyncSync, openSync } from "node:fs";

/**
 * When a commit of the CA's store is on disk, and what may happen then
 * (store.ts's group commit).
 *
 * A group commit runs with synchronous=NORMAL: COMMIT appends its frames to
 * the WAL and returns without an fsync, and this queue fsyncs the WAL
 * (fdatasync on libuv's pool) before the commit is published: its writers
 * acknowledged, its status changes announced and made visible to readers
 * (OCSP, the CRL, status). What is acknowledged or published is on disk, as
 * with synchronous=FULL; the difference is that the event loop no longer
 * waits for the disk: it runs the next requests (and the next commit) while
 * the fsync is in flight, and one fsync covers every commit made before it
 * started (fdatasync flushes the whole file, whoever wrote it).
 *
 * Commits made with synchronous=FULL (the store's `transaction()` and lone
 * statements) were fsynced before SQLite returned: they publish at once, and
 * with them every earlier commit still waiting (their frames precede them in
 * the same WAL). Checkpoints are SQLite's: with NORMAL it syncs the WAL
 * before copying it into the database and the database after, so a
 * checkpointed frame is durable in the database file.
 *
 * Commits publish in commit order. An fsync that fails leaves the durability
 * of the waiting commits unknown: they fail (their writers get the storage
 * fault, a 503) and the queue refuses further commits: the CA must be
 * restarted, which recovers whatever the WAL really holds.
 */

export interface Committed {
  /** The commit is on disk: publish it (never throws; the store catches what its followers throw). */
  durable(): void;
  /** Its durability is unknown (the fsync failed). */
  failed(err: Error): void;
}

export class DurableCommits {
  /** Commits not yet published, in commit order, each with its place in that order. */
  private readonly waiting: Array<{ c: Committed; seq: number }> = [];
  /** Commits added so far: an fsync covers those added before it started, whatever was published meanwhile. */
  private added = 0;
  private fd: number | undefined;
  private syncing = false;
  private closed = false;
  private broken: Error | undefined;
  private fsyncs = 0;

  /** `walPath`: the database's -wal file; undefined for an in-memory database (every commit is as durable as it gets at once). */
  constructor(private readonly walPath: string | undefined) {}

  /** The fault that stopped this queue (a failed fsync), or undefined. */
  get fault(): Error | undefined {
    return this.broken;
  }

  /** Commits waiting for their fsync. */
  get pending(): number {
    return this.waiting.length;
  }

  /** WAL fsyncs run by this queue so far (tests and benches compare them with the commits). */
  get syncs(): number {
    return this.fsyncs;
  }

  /**
   * A commit has returned. `fsynced`: SQLite synced it already (synchronous=FULL): it and every earlier waiting
   * commit publish now. Otherwise it publishes after the next fsync of the WAL.
   */
  add(c: Committed, fsynced: boolean): void {
    if (this.broken) return c.failed(this.broken);
    this.waiting.push({ c, seq: ++this.added });
    if (fsynced || this.walPath === undefined) this.publishAll();
    else this.startSync();
  }

  /** A FULL commit or a lone statement returned: everything committed before it is on disk too. */
  syncedNow(): void {
    this.publishAll();
  }

  /** Before the database closes: fsyncs what waits, on this thread, and publishes it; closes the WAL's descriptor. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.waiting.length > 0 && !this.broken) {
      try {
        fdatasyncSync(this.openWal());
        this.fsyncs++;
        this.publishAll();
      } catch (err) {
        this.fail(asStorageFault(err));
      }
    }
    // An fsync still in flight on the pool closes the descriptor when it returns.
    if (!this.syncing) this.closeFd();
  }

  private startSync(): void {
    if (this.syncing || this.closed) return;
    let fd: number;
    try {
      fd = this.openWal();
    } catch (err) {
      return this.fail(asStorageFault(err));
    }
    this.syncing = true;
    // Every commit added so far has returned from COMMIT: its frames are in the file this fsync flushes. Not a count
    // of those waiting: a FULL commit may publish them meanwhile, and a commit added after it is not covered.
    const upTo = this.added;
    fdatasync(fd, (err) => {
      this.syncing = false;
      this.fsyncs++;
      if (err) this.fail(asStorageFault(err));
      else this.publish(upTo);
      if (this.closed) this.closeFd();
      else if (this.waiting.length > 0 && !this.broken) this.startSync();
    });
  }

  private publishAll(): void {
    this.publish(this.added);
  }

  /** Publishes, in order, the waiting commits added up to the `upTo`-th. */
  private publish(upTo: number): void {
    let n = 0;
    while (n < this.waiting.length && this.waiting[n].seq <= upTo) n++;
    for (const w of this.waiting.splice(0, n)) w.c.durable();
  }

  private fail(err: Error): void {
    this.broken ??= err;
    for (const w of this.waiting.splice(0)) w.c.failed(err);
  }

  private openWal(): number {
    if (this.fd === undefined) this.fd = openSync(this.walPath!, "r");
    return this.fd;
  }

  private closeFd(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // already gone
    }
    this.fd = undefined;
  }
}

/** An fsync fault as SQLite would report it, so that the HTTP layer answers 503 io-error (storage-fault.ts). */
function asStorageFault(err: unknown): Error {
  const e = new Error(`the CA's storage could not be synced to disk: ${(err as Error)?.message ?? String(err)}`);
  (e as Error & { code: string }).code = "SQLITE_IOERR_FSYNC";
  return e;
}
