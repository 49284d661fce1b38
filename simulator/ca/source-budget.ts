import type { Clock } from "../../core/index.js";
import { CaError } from "./api.js";

/**
 * How many failed credential checks one source may cost the CA, across all
 * certificates. The lockout (lockout.ts) counts per (certificate, role,
 * source), so a source spraying wrong codes over many serials, or over serials
 * that do not exist (each as slow as a wrong code, on purpose), would never
 * wait and would keep the CA's cores busy with scrypt. This bucket bounds that
 * work per source: `burst` failures, refilled at `perSecond`; once empty, the
 * source's checks are refused (429) before any key derivation. A right code
 * costs nothing, so a representative revoking a whole department's cards from
 * one desk is never slowed. In memory only: a restart forgives, which costs an
 * attacker one restart per `burst` guesses.
 */
export interface SourceBudgetOptions {
  burst: number;
  perSecond: number;
  /** Sources remembered at most (a spoofing-free flood from many addresses cannot grow the map without bound). */
  maxSources: number;
}

/**
 * Six times the policy's lockout count (30 for the default 5): room for a
 * tester who tries wrong codes on purpose (certify's catalogue costs about
 * 3.5 times the count), then one check per 5 s, which keeps an attacker at a
 * few percent of one core per address even at the default scrypt cost.
 */
export function sourceBudgetFor(maxFailedAttempts: number): SourceBudgetOptions {
  return { burst: 6 * maxFailedAttempts, perSecond: 0.2, maxSources: 50_000 };
}

export const DEFAULT_SOURCE_BUDGET: SourceBudgetOptions = sourceBudgetFor(5);

interface Bucket {
  tokens: number;
  at: number;
}

export class SourceBudget {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly clock: Clock,
    private readonly o: SourceBudgetOptions = DEFAULT_SOURCE_BUDGET,
  ) {}

  /**
   * Takes one check's worth from `source` before the check runs (so that
   * parallel requests cannot all pass an empty bucket); 429 when there is
   * none. Give it back with `refund` when the credential was right. True
   * when the source had not failed lately (a full bucket): its check may go
   * ahead of those of sources that have.
   */
  take(source: string): boolean {
    const now = this.clock.nowMs();
    const b = this.refilled(source, now);
    const untouched = b.tokens >= this.o.burst;
    if (b.tokens < 1) {
      const wait = Math.ceil(((1 - b.tokens) / this.o.perSecond) * 1000);
      throw new CaError(429, "too-many-attempts", `too many failed attempts from here: try again in ${Math.ceil(wait / 1000)} s`, wait);
    }
    b.tokens -= 1;
    return untouched;
  }

  /**
   * For a check that runs synchronously (a keyed-hash code check: microseconds, no await before its verdict):
   * 429 when the source has nothing left, else nothing is taken; `spend` after a wrong credential. Nothing can
   * run between the two, so parallel requests cannot overrun the bucket, and right credentials from one source
   * in any number, at once, are never refused. True when the source had not failed lately.
   */
  check(source: string): boolean {
    const b = this.refilled(source, this.clock.nowMs());
    if (b.tokens < 1) {
      const wait = Math.ceil(((1 - b.tokens) / this.o.perSecond) * 1000);
      throw new CaError(429, "too-many-attempts", `too many failed attempts from here: try again in ${Math.ceil(wait / 1000)} s`, wait);
    }
    return b.tokens >= this.o.burst;
  }

  /** One failed check, counted after the fact (see `check`). */
  spend(source: string): void {
    const b = this.refilled(source, this.clock.nowMs());
    b.tokens -= 1;
  }

  refund(source: string): void {
    const b = this.buckets.get(source);
    if (b) b.tokens = Math.min(this.o.burst, b.tokens + 1);
  }

  private refilled(source: string, now: number): Bucket {
    let b = this.buckets.get(source);
    if (!b) {
      if (this.buckets.size >= this.o.maxSources) this.forgetFull(now);
      b = { tokens: this.o.burst, at: now };
      this.buckets.set(source, b);
      return b;
    }
    b.tokens = Math.min(this.o.burst, b.tokens + ((now - b.at) / 1000) * this.o.perSecond);
    b.at = now;
    return b;
  }

  /** Drops the buckets that have refilled (they hold nothing to remember); failing that, the oldest half. */
  private forgetFull(now: number): void {
    const fullAfterMs = (this.o.burst / this.o.perSecond) * 1000;
    for (const [k, b] of this.buckets) if (now - b.at >= fullAfterMs) this.buckets.delete(k);
    if (this.buckets.size < this.o.maxSources) return;
    let drop = Math.ceil(this.buckets.size / 2);
    for (const k of this.buckets.keys()) {
      if (drop-- <= 0) break;
      this.buckets.delete(k);
    }
  }
}
