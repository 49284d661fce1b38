import type { Clock } from "../../core/index.js";
import { CaError } from "./api.js";
import type { CaStore } from "./store.js";

/**
 * The lockout that locks out the attacker, not the holder: wrong credentials
 * are counted per (certificate, role, source). After `maxFailedAttempts` wrong
 * ones from a triple, that triple waits: attempts before its `next_at` are
 * refused (429, with how long to wait) WITHOUT checking the credential, and
 * each further wrong one doubles the wait (1 s, 2 s, 4 s ... at most an hour,
 * at the CA's clock). Nobody else is affected: the right credential from
 * another source or for another role always works, and from the same source
 * once the wait is over. A right credential clears its triple; an operator's
 * unlock clears all of the certificate's.
 *
 * Triples untouched for a day are purged (a bounded batch per write): an
 * attacker who comes back after a day gets `maxFailedAttempts` guesses again,
 * a handful a day against 80-bit codes.
 */
const BACKOFF_FIRST_MS = 1000;
export const BACKOFF_MAX_MS = 3_600_000;
const FORGET_AFTER_MS = 24 * 3_600_000;

export class Lockout {
  constructor(
    private readonly store: CaStore,
    private readonly clock: Clock,
    private readonly maxFailedAttempts: number,
  ) {}

  /** Throws 429 while the triple waits; nothing is checked or counted then. */
  checkWait(serial: string, role: string, source: string): void {
    const f = this.store.failure(serial, role, source);
    const now = this.clock.nowMs();
    if (f && f.next_at > now) {
      const wait = f.next_at - now;
      throw new CaError(429, "too-many-attempts", `too many wrong attempts from here: try again in ${Math.ceil(wait / 1000)} s`, wait);
    }
  }

  /** Counts one wrong credential (call inside the transaction that audits it); true when the triple now waits. */
  wrong(serial: string, role: string, source: string): boolean {
    const now = this.clock.nowMs();
    const count = (this.store.failure(serial, role, source)?.count ?? 0) + 1;
    const max = this.maxFailedAttempts;
    const next_at = count >= max ? now + backoffMs(count - max) : 0;
    this.store.putFailure(serial, role, source, { count, next_at, touched_at: now }, now - FORGET_AFTER_MS);
    return next_at > 0;
  }

  /** A right credential: its triple starts from zero (a write only when there was a count). */
  right(serial: string, role: string, source: string): void {
    if (this.store.failure(serial, role, source)) this.store.clearFailure(serial, role, source);
  }

  /** Operator unlock: clears every triple of the certificate; how many there were. */
  unlock(serial: string): number {
    return this.store.clearFailures(serial);
  }
}

/** The wait after the (n+1)-th wrong attempt past the limit: 1 s doubling, at most an hour. */
export function backoffMs(n: number): number {
  return Math.min(BACKOFF_FIRST_MS * 2 ** n, BACKOFF_MAX_MS); // 2 ** n is Infinity long before n overflows
}
