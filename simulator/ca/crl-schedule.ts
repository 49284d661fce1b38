import type { CrlPublisher } from "./crl-publisher.js";
import { affectsCrl, type StatusChanges } from "./status-changes.js";

export interface CrlScheduleOptions {
  /** Quiet time after a change before the CRL is reissued (real time). */
  debounceMs: number;
  /** Longest a change waits for the CRL under a sustained stream of changes (real time). */
  maxDelayMs: number;
  /** How often (real time) to check whether a CRL is past half its validity at the CA's clock; 0: never. */
  everyMs: number;
}

/**
 * When the CRLs are reissued without anyone asking (Boulder's crl-updater,
 * the timing half): shortly after status changes (debounced, but at least
 * every maxDelayMs under a sustained stream), and when a signed CRL is past
 * half its validity at the CA's clock. It follows StatusChanges only to time
 * the reissue; that a change makes the CRL stale, what a CRL contains and how
 * it is signed are CrlPublisher's.
 */
export class CrlSchedule {
  private debounce?: NodeJS.Timeout;
  private maxDelay?: NodeJS.Timeout;
  private readonly periodic?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly publisher: CrlPublisher,
    changes: StatusChanges,
    private readonly o: CrlScheduleOptions,
  ) {
    publisher.onReissued(() => this.cancelPending());
    changes.on((change) => {
      if (affectsCrl(change)) this.soon();
    });
    if (o.everyMs > 0) {
      this.periodic = setInterval(() => {
        if (this.closed) return;
        const due = publisher.due();
        if (due.issuing) publisher.reissue();
        if (due.root) publisher.reissueRoot();
      }, o.everyMs);
      this.periodic.unref();
    }
  }

  close(): void {
    this.closed = true;
    for (const timer of [this.debounce, this.maxDelay, this.periodic]) if (timer) clearTimeout(timer);
  }

  /** Debounce: reissue after a quiet spell, but at least every maxDelayMs under sustained changes. */
  private soon(): void {
    if (this.closed) return;
    // current(): reissues only if the CRL is stale (any reissue since cancels these timers anyway).
    const fire = () => {
      if (!this.closed) this.publisher.current();
    };
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(fire, this.o.debounceMs);
    this.debounce.unref();
    if (!this.maxDelay) {
      this.maxDelay = setTimeout(fire, this.o.maxDelayMs);
      this.maxDelay.unref();
    }
  }

  private cancelPending(): void {
    for (const timer of [this.debounce, this.maxDelay]) if (timer) clearTimeout(timer);
    this.debounce = this.maxDelay = undefined;
  }
}
