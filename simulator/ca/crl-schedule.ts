import type { CrlPublisher } from "./crl-publisher.js";
import { affectsCrl, type StatusChanges } from "./status-changes.js";

export interface CrlScheduleOptions {
  /** Quiet time after a change before the CRL is reissued (real time). */
  debounceMs: number;
  /** Longest a change waits for the CRL under a sustained stream of changes (real time). */
  maxDelayMs: number;
  /** How often (real time) to check whether a CRL is past half its validity at the CA's clock; 0: never. */
  everyMs: number;
  /** First wait (real time) before trying again after a failed reissue; doubles per failure. 1 s by default. */
  retryMs?: number;
  /** Longest wait between retries. 60 s by default. */
  maxRetryMs?: number;
}

/**
 * When the CRLs are reissued without anyone asking (Boulder's crl-updater,
 * the timing half): shortly after status changes (debounced, but at least
 * every maxDelayMs under a sustained stream), and when a signed CRL is past
 * half its validity at the CA's clock. It follows StatusChanges only to time
 * the reissue; that a change makes the CRL stale, what a CRL contains and how
 * it is signed are CrlPublisher's.
 *
 * No timer of it can end the process: a reissue that fails (a full disk, a
 * read-only store: issue 11, defect 6) is reported by the publisher
 * ("ca.crl-failed") and tried again with exponential backoff until it
 * succeeds; meanwhile the CRL stays stale, so a request for it tries too.
 */
export class CrlSchedule {
  private debounce?: NodeJS.Timeout;
  private maxDelay?: NodeJS.Timeout;
  private retry?: NodeJS.Timeout;
  private readonly periodic?: NodeJS.Timeout;
  private readonly firstRetryMs: number;
  private readonly maxRetryMs: number;
  private backoffMs: number;
  private closed = false;

  constructor(
    private readonly publisher: CrlPublisher,
    changes: StatusChanges,
    private readonly o: CrlScheduleOptions,
  ) {
    this.firstRetryMs = this.backoffMs = Math.max(1, o.retryMs ?? 1000);
    this.maxRetryMs = Math.max(this.firstRetryMs, o.maxRetryMs ?? 60_000);
    // Only an install that covers every change cancels the pending reissue: a build off the event loop installs a
    // snapshot taken before a change that arrived meanwhile, and that change keeps its timers (review R1 B4).
    publisher.onReissued(() => {
      if (!publisher.stale()) this.cancelPending();
    });
    changes.on((change) => {
      if (affectsCrl(change)) this.soon();
    });
    if (o.everyMs > 0) {
      this.periodic = setInterval(() => this.attempt(() => publisher.due()), o.everyMs);
      this.periodic.unref();
    }
  }

  close(): void {
    this.closed = true;
    for (const timer of [this.debounce, this.maxDelay, this.periodic, this.retry]) if (timer) clearTimeout(timer);
  }

  /** Debounce: reissue after a quiet spell, but at least every maxDelayMs under sustained changes. */
  private soon(): void {
    if (this.closed) return;
    // Either timer firing is the one rebuild (a failure is the retry's from then on); only if still stale.
    const fire = () => {
      this.cancelPending();
      this.attempt(() => ({ issuing: this.publisher.stale(), root: false }));
    };
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(fire, this.o.debounceMs);
    this.debounce.unref();
    if (!this.maxDelay) {
      this.maxDelay = setTimeout(fire, this.o.maxDelayMs);
      this.maxDelay.unref();
    }
  }

  /**
   * One try at reissuing what `which` names (every timer comes here). It
   * cannot throw (tryReissue never rejects); on failure it plans one retry, the
   * wait doubling per failure up to maxRetryMs; a success resets the wait.
   */
  private attempt(which: () => { issuing: boolean; root: boolean }): void {
    if (this.closed) return;
    const planned = this.retry ? undefined : this.backoffMs;
    // The build runs off the event loop (crl-worker.ts): the outcome arrives later; tryReissue never rejects.
    void Promise.resolve(this.publisher.tryReissue(which(), planned)).then((ok) => this.settled(ok));
  }

  private settled(ok: boolean): void {
    if (ok) {
      if (!this.retry) this.backoffMs = this.firstRetryMs;
      return;
    }
    if (this.retry || this.closed) return; // one retry is planned already
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.attempt(() => ({ issuing: this.publisher.stale(), root: this.publisher.due().root }));
    }, this.backoffMs);
    this.retry.unref();
    this.backoffMs = Math.min(this.backoffMs * 2, this.maxRetryMs);
  }

  private cancelPending(): void {
    for (const timer of [this.debounce, this.maxDelay]) if (timer) clearTimeout(timer);
    this.debounce = this.maxDelay = undefined;
  }
}
