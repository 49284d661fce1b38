/*
 * Pacing for the load generator (issue 13). Open loop as wrk2 does it: each
 * request has an intended start on a fixed schedule, and its latency runs
 * from there, so a CA that stalls shows in the latencies of everything that
 * should have started during the stall, instead of being hidden by the
 * generator sending less (coordinated omission). The generator does not
 * sleep per request: a timer ticks and sends whatever is due.
 */

/** Requests of `serialsPerRequest` serials at `ratePerSecond` serials per second from `t0` (performance.now() ms). */
export class OpenLoopSchedule {
  /** ms between two intended starts. */
  readonly intervalMs: number;

  constructor(
    readonly t0: number,
    ratePerSecond: number,
    serialsPerRequest = 1,
  ) {
    if (!(Number.isFinite(ratePerSecond) && ratePerSecond > 0)) throw new RangeError(`the open loop's rate must be a positive number per second, got ${ratePerSecond}`);
    if (!(Number.isInteger(serialsPerRequest) && serialsPerRequest >= 1)) throw new RangeError(`serials per request must be an integer >= 1, got ${serialsPerRequest}`);
    this.intervalMs = (1000 * serialsPerRequest) / ratePerSecond;
  }

  /** When request k (from 0) should start. */
  intendedStart(k: number): number {
    return this.t0 + k * this.intervalMs;
  }

  /** How many requests should have started by `now`: those whose intended start is at or before it. */
  dueBy(now: number): number {
    if (now < this.t0) return 0;
    let n = Math.floor((now - this.t0) / this.intervalMs) + 1;
    // the division and intendedStart() round differently: settle on intendedStart()'s word
    if (this.intendedStart(n) <= now) n++;
    else if (n > 0 && this.intendedStart(n - 1) > now) n--;
    return n;
  }
}

/**
 * Lets the event loop breathe during a loop of requests that all settle as
 * microtasks (a CA adapter answering from memory never yields to timers or
 * I/O by itself): every `everyMs`, the workers all wait for one
 * setImmediate, during which timers (metrics, the duration) and signals run.
 */
export class Breather {
  private last = performance.now();
  private pending: Promise<void> | undefined;

  constructor(private readonly everyMs = 20) {}

  /** A promise to await when it is time to yield, undefined otherwise (no allocation on the hot path). */
  due(): Promise<void> | undefined {
    if (this.pending) return this.pending;
    const now = performance.now();
    if (now - this.last < this.everyMs) return undefined;
    this.pending = new Promise<void>((resolve) =>
      setImmediate(() => {
        this.pending = undefined;
        this.last = performance.now();
        resolve();
      }),
    );
    return this.pending;
  }
}

/** Calls `fn` every `everyMs` until stopped; the timer never keeps the process alive. */
export function every(everyMs: number, fn: () => void): { stop(): void } {
  const timer = setInterval(fn, everyMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
