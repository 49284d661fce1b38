/**
 * The one event of the CA's certificate state: every issue, revocation, hold,
 * release and supersession is announced here once, after its commit, by the
 * store that wrote it (CaStore.changes). The OCSP response cache, the CRL
 * publisher and the CRL schedule follow it; nobody invalidates by hand.
 */
export type StatusChangeKind = "issued" | "revoked" | "on-hold" | "released" | "superseded";

export interface StatusChange {
  kind: StatusChangeKind;
  /** Lower-case hex, as the store spells them. Never empty. */
  serials: readonly string[];
}

export type StatusListener = (change: StatusChange) => void;

/** What `changed` reports when a listener threw: the change it could not follow, and the error. */
export type StatusFailureListener = (change: StatusChange, error: unknown) => void;

/**
 * A tiny synchronous emitter: listeners run before `changed` returns, so the next request already sees the change.
 *
 * Every listener runs, each in its own try: one that throws must not keep the others (the OCSP cache's
 * invalidation, the CRL's change count and schedule) from a change that is committed and about to be acknowledged
 * (review R1 B2). A failure goes to the failure listeners (the CA reports it as "ca.follower-failed"); keeping its
 * own state sound after a throw is each follower's job (CrlEntries rebuilds itself from the store), since only it
 * knows what it missed. `changed` itself never throws: its callers have committed already and cannot undo.
 */
export class StatusChanges {
  private readonly listeners: StatusListener[] = [];
  private readonly failures: StatusFailureListener[] = [];

  on(listener: StatusListener): void {
    this.listeners.push(listener);
  }

  onFailure(listener: StatusFailureListener): void {
    this.failures.push(listener);
  }

  changed(kind: StatusChangeKind, serials: readonly string[]): void {
    if (serials.length === 0) return;
    const change = { kind, serials };
    for (const l of this.listeners) {
      try {
        l(change);
      } catch (error) {
        for (const f of this.failures) {
          try {
            f(change, error);
          } catch {
            // a reporter that fails cannot be reported to; the other listeners still run
          }
        }
      }
    }
  }
}

/** Whether a change alters what a CRL lists (a new certificate is on no CRL). */
export function affectsCrl(change: StatusChange): boolean {
  return change.kind !== "issued";
}
