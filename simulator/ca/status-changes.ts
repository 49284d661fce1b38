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

/** A tiny synchronous emitter: listeners run before `changed` returns, so the next request already sees the change. */
export class StatusChanges {
  private readonly listeners: StatusListener[] = [];

  on(listener: StatusListener): void {
    this.listeners.push(listener);
  }

  changed(kind: StatusChangeKind, serials: readonly string[]): void {
    if (serials.length === 0) return;
    const change = { kind, serials };
    for (const l of this.listeners) l(change);
  }
}

/** Whether a change alters what a CRL lists (a new certificate is on no CRL). */
export function affectsCrl(change: StatusChange): boolean {
  return change.kind !== "issued";
}
