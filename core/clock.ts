/**
 * The only source of time for domain code. Expiry, renewal windows and
 * revocation times are all read from a Clock, so a run can jump years ahead.
 */
export interface Clock {
  now(): Date;
  /** Milliseconds since the epoch; the cheap form for hot paths. */
  nowMs(): number;
  /** Move this clock forward (never backward) by `ms`. */
  advance(ms: number): void;
}

/**
 * Real time plus an offset. `advance` shifts the offset, so a scenario against
 * an external CA (which lives on real time) can still look ahead.
 */
export class SystemClock implements Clock {
  private offsetMs = 0;
  now(): Date {
    return new Date(this.nowMs());
  }
  nowMs(): number {
    return Date.now() + this.offsetMs;
  }
  advance(ms: number): void {
    assertForward(ms);
    this.offsetMs += ms;
  }
}

/** A clock that moves only when told to: the default for simulated runs. */
export class VirtualClock implements Clock {
  private ms: number;
  constructor(start: Date | number | string) {
    this.ms = typeof start === "number" ? start : new Date(start).getTime();
    if (!Number.isFinite(this.ms)) throw new RangeError(`invalid start time: ${String(start)}`);
  }
  now(): Date {
    return new Date(this.ms);
  }
  nowMs(): number {
    return this.ms;
  }
  advance(ms: number): void {
    assertForward(ms);
    this.ms += ms;
  }
  /** Jump to an absolute time, which must not be in this clock's past. */
  set(to: Date): void {
    this.advance(to.getTime() - this.ms);
  }
}

function assertForward(ms: number): void {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`a clock only moves forward (got ${ms} ms)`);
}
