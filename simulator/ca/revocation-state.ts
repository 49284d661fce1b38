/**
 * The in-memory mirror of the store's revocation log (store.ts): serial ->
 * packed state (at * 64 + reason * 4 + status) for revoked and held
 * certificates, in two views.
 *
 * - Published: durable commits only. What OCSP, the CRL and status answer
 *   (`get`, `entries`), so that nothing is ever said revoked that a crash
 *   could turn back to good.
 * - Newest (`current`): published, plus what is committed and waiting for its
 *   fsync, plus the open transaction. What a write decides on: a second
 *   revocation of a serial whose first waits for its fsync is refused as
 *   already revoked (and that refusal, in a later commit, is answered after
 *   the first is on disk).
 *
 * A transaction's changes are staged (`stage`, with an undo step the store
 * runs on rollback) and recorded in order; `publish` applies a committed
 * transaction's record once it is durable.
 */

export const Status = { good: 0, revoked: 1, onHold: 2 } as const;
export type StatusCode = (typeof Status)[keyof typeof Status];

/** One transaction's state changes, in order (undefined: good again), and its identity. */
export interface StagedChanges {
  entries: Array<[string, number | undefined]>;
  tx: object;
}

export class RevocationStates {
  private readonly published = new Map<string, number>();
  /** Newer than `published`: the transaction that wrote each, so that publishing an older one leaves a newer one staged. */
  private readonly staged = new Map<string, { packed: number | undefined; tx: object }>();
  private open: StagedChanges = { entries: [], tx: {} };

  /** At open, from the log in order: published at once. */
  load(serial: string, status: StatusCode, reason: number, at: number): void {
    if (status === Status.good) this.published.delete(serial);
    else this.published.set(serial, pack(status, reason, at));
  }

  /** A transaction starts. */
  begin(): void {
    this.open = { entries: [], tx: {} };
  }

  /** The transaction ended: its changes, to publish once durable (dropped if it rolled back: `discard`). */
  end(): StagedChanges {
    const done = this.open;
    this.open = { entries: [], tx: {} };
    return done;
  }

  /** How many changes the open transaction holds: a savepoint's mark. */
  get mark(): number {
    return this.open.entries.length;
  }

  /** Rolls the open transaction's record back to a mark (the staged values themselves come back through the undo steps). */
  truncate(mark: number): void {
    this.open.entries.length = mark;
  }

  /** Stages a change in the open transaction; returns the undo step that puts the staged view back. */
  stage(serial: string, packed: number | undefined): () => void {
    const before = this.staged.get(serial);
    this.staged.set(serial, { packed, tx: this.open.tx });
    this.open.entries.push([serial, packed]);
    return () => (before === undefined ? this.staged.delete(serial) : this.staged.set(serial, before));
  }

  /** A change outside any transaction (a lone statement, durable when it returns): published at once. */
  setPublished(serial: string, packed: number | undefined): void {
    if (packed === undefined) this.published.delete(serial);
    else this.published.set(serial, packed);
    this.staged.delete(serial);
  }

  /** A committed transaction is durable: its changes become what readers see. */
  publish(changes: StagedChanges): void {
    for (const [serial, packed] of changes.entries) {
      if (packed === undefined) this.published.delete(serial);
      else this.published.set(serial, packed);
      if (this.staged.get(serial)?.tx === changes.tx) this.staged.delete(serial);
    }
  }

  /** The newest packed state (undefined: good): what a write decides on. */
  current(serial: string): number | undefined {
    const s = this.staged.get(serial);
    return s !== undefined ? s.packed : this.published.get(serial);
  }

  /** The published packed state (undefined: good). */
  get(serial: string): number | undefined {
    return this.published.get(serial);
  }

  /** Published revoked and held certificates. */
  get size(): number {
    return this.published.size;
  }

  /** Published entries (serial, packed), in insertion order. */
  entries(): IterableIterator<[string, number]> {
    return this.published.entries();
  }
}

export function isOnHold(p: number | undefined): boolean {
  return p !== undefined && (p & 3) === Status.onHold;
}

/** Whether a packed state (or none) is revoked for good: held certificates may still be revoked. */
export function isFinallyRevoked(p: number | undefined): boolean {
  return p !== undefined && (p & 3) === Status.revoked;
}

// at (ms, < 2^47) * 64 + reason (4 bits) * 4 + status (2 bits): exact in a double.
export function pack(status: StatusCode, reason: number, at: number): number {
  return at * 64 + (reason & 15) * 4 + status;
}

export function unpack(p: number): { status: StatusCode; reason: number; at: number } {
  return { status: (p & 3) as StatusCode, reason: Math.floor(p / 4) & 15, at: Math.floor(p / 64) };
}
