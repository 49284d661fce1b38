import { CrlEntryWriter } from "../../pki/index.js";
import { affectsCrl, type StatusChangeKind, type StatusChanges } from "./status-changes.js";
import { Status, type CaStore } from "./store.js";

const CERTIFICATE_HOLD = 6;

/** Size of one shared chunk of encoded entries: 4 MiB, ~85,000 entries. */
const CHUNK = 4 << 20;

/** A read-only view of the encoded entries at one moment: what one CRL lists. */
export interface CrlEntriesSnapshot {
  /** Final revocations, each chunk's first `length` octets (never written again: safe to read from another thread). */
  chunks: Array<{ buffer: SharedArrayBuffer; length: number }>;
  /** Entries on hold, encoded now (they may still be released). */
  held: Buffer;
  /** Total octets of entries: chunks then held. */
  length: number;
  count: number;
}

/**
 * The issuing CA's CRL entries, kept DER-encoded as revocations happen, so
 * that issuing a CRL re-encodes nothing (issue 13: re-encoding 1,000,000
 * entries took ~0.7 s of the server's only thread per CRL).
 *
 * A revocation is final, so its entry is appended once to shared,
 * append-only chunks: a snapshot is the list of chunks and their lengths,
 * and the octets it covers never change, so the CRL worker reads them
 * without a copy or a lock. Holds are the one status that can be undone
 * (released) or changed (to revoked): they stay apart, a few entries
 * encoded per snapshot.
 *
 * It follows the store's StatusChanges (committed only) and reads each
 * changed serial's state back from the store, so it lists exactly what
 * CaStore.revoked() lists.
 */
export class CrlEntries {
  private readonly chunks: Array<{ buffer: SharedArrayBuffer; bytes: Uint8Array; length: number }> = [];
  private readonly held = new Map<string, { at: number; reason: number }>();
  private finalCount = 0;
  /** A change could not be followed (a throw mid-follow, e.g. no memory for a chunk): rebuild from the store before the next snapshot. */
  private dirty = false;

  constructor(
    private readonly store: CaStore,
    changes: StatusChanges,
  ) {
    this.load();
    changes.on((change) => {
      if (!affectsCrl(change) || this.dirty) return; // dirty: the rebuild reads every change from the store
      try {
        this.follow(change.kind, change.serials);
      } catch (err) {
        // Half-followed: which entries made it is unknown. The next snapshot rebuilds everything from the store
        // rather than list a revocation twice or not at all (review R1 B2); the throw is reported by StatusChanges.
        this.dirty = true;
        throw err;
      }
    });
  }

  /** Everything revoked in the store, once (at open: a startup cost, not a serving one; and after a failed follow). */
  private load(): void {
    this.chunks.length = 0; // snapshots taken before keep their own list of the old chunks
    this.held.clear();
    this.finalCount = 0;
    let w = new CrlEntryWriter(21_845); // ~1 MiB to start
    for (const [serial, at, reason] of this.store.revoked()) {
      // On hold exactly when the reason is certificateHold (revocation.ts): no second lookup per entry.
      if (reason === CERTIFICATE_HOLD) this.held.set(serial, { at, reason });
      else {
        w.add(serial, at, reason);
        this.finalCount++;
        if (w.length > CHUNK / 2) w = this.flush(w);
      }
    }
    this.flush(w);
  }

  get count(): number {
    return this.finalCount + this.held.size;
  }

  snapshot(): CrlEntriesSnapshot {
    if (this.dirty) {
      this.load(); // throws again if it fails again: the build fails ("ca.crl-failed") and the CRL stays stale
      this.dirty = false;
    }
    const w = new CrlEntryWriter(this.held.size);
    for (const [serial, h] of this.held) w.add(serial, h.at, h.reason);
    const held = Buffer.from(w.finish());
    const chunks = this.chunks.map((c) => ({ buffer: c.buffer, length: c.length }));
    const length = chunks.reduce((n, c) => n + c.length, 0) + held.length;
    return { chunks, held, length, count: this.count };
  }

  /**
   * One announced change. A group commit announces per kind, so one serial held and revoked for good in the same
   * commit is announced "on-hold" and then "revoked", and both times the store already says revoked (review R1 B3).
   * So only a "revoked"/"superseded" announcement appends a final entry (the store refuses to revoke twice: once
   * per serial); "on-hold"/"released" only bring the held set in line with the store.
   */
  private follow(kind: StatusChangeKind, serials: readonly string[]): void {
    const final = kind === "revoked" || kind === "superseded";
    let w = new CrlEntryWriter(final ? Math.min(serials.length, 100_000) : 0);
    for (const serial of serials) {
      const s = this.store.revocationState(serial);
      if (s.status === Status.onHold) {
        this.held.set(serial, { at: s.at ?? 0, reason: s.reason ?? 0 });
        continue;
      }
      this.held.delete(serial);
      if (!final || s.status !== Status.revoked) continue; // released (good again), or made final by its own announcement
      w.add(serial, s.at ?? 0, s.reason);
      this.finalCount++;
      if (w.length > CHUNK / 2) w = this.flush(w);
    }
    this.flush(w);
  }

  /** Appends what `w` holds to the chunks (across a chunk boundary if need be); returns a fresh writer. */
  private flush(w: CrlEntryWriter): CrlEntryWriter {
    const bytes = w.finish();
    let off = 0;
    while (off < bytes.length) {
      let last = this.chunks[this.chunks.length - 1];
      if (!last || last.length === CHUNK) {
        const buffer = new SharedArrayBuffer(CHUNK);
        last = { buffer, bytes: new Uint8Array(buffer), length: 0 };
        this.chunks.push(last);
      }
      const n = Math.min(CHUNK - last.length, bytes.length - off);
      last.bytes.set(bytes.subarray(off, off + n), last.length);
      last.length += n;
      off += n;
    }
    return new CrlEntryWriter(1_365); // ~64 KiB to start
  }
}
