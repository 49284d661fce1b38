import { build, type Histogram } from "hdr-histogram-js";
import type { LatencyRecorder } from "./types.js";

/*
 * Request latencies for `cardloop load revoke` (issue 13) in an HdrHistogram:
 * every sample counts, percentiles come from all of them (never an average
 * of averages), and memory stays fixed however long the run. Samples are
 * recorded as integer microseconds, 3 significant digits from 1 us to 1 hour
 * (a sample above an hour is recorded as an hour); everything reported is ms.
 */

const US_PER_MS = 1000;
const HIGHEST_US = 3_600_000_000;

function hdr(): Histogram {
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_US, numberOfSignificantValueDigits: 3, autoResize: false });
}

/** ms to the integer microseconds the histogram holds; nonsense (negative, NaN) is 0, beyond an hour is an hour. */
function toMicros(ms: number): number {
  if (!(ms > 0)) return 0;
  const us = Math.round(ms * US_PER_MS);
  return us > HIGHEST_US ? HIGHEST_US : us;
}

/** Upper bounds of a report's histogram: the recorded value rounded up to 2 significant digits (ms), so a report has tens of buckets per decade, not thousands. */
function reportBound(ms: number): number {
  if (ms <= 0) return 0;
  const step = 10 ** (Math.floor(Math.log10(ms)) - 1);
  // the division can land a hair above an integer (0.3 / 0.01): round that away before ceil
  return Number((Math.ceil(Number((ms / step).toPrecision(12))) * step).toPrecision(2));
}

export class HdrLatencyRecorder implements LatencyRecorder {
  private readonly all = hdr();
  /** The samples since the last takeInterval(). */
  private interval: Histogram | undefined;
  private sumMs = 0;
  private max = 0;

  /** `withInterval`: also keep the per-interval histogram (the phase's own recorder does; copies do not). */
  constructor(withInterval = true) {
    if (withInterval) this.interval = hdr();
  }

  record(ms: number): void {
    const us = toMicros(ms);
    this.all.recordValue(us);
    this.interval?.recordValue(us);
    const kept = us / US_PER_MS;
    this.sumMs += kept;
    if (kept > this.max) this.max = kept;
  }

  get count(): number {
    return this.all.totalCount;
  }

  /** NaN with no samples, as core/stats.ts's percentile. The value is the top of the sample's HdrHistogram bucket (within 0.1%, never below it). */
  percentile(p: number): number {
    if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within 0..100, got ${p}`);
    if (this.count === 0) return NaN;
    if (p === 100) return this.max;
    return Math.min(this.all.getValueAtPercentile(p) / US_PER_MS, this.max);
  }

  get maxMs(): number {
    return this.count === 0 ? NaN : this.max;
  }

  get meanMs(): number {
    return this.count === 0 ? NaN : this.sumMs / this.count;
  }

  takeInterval(): LatencyRecorder {
    const copy = new HdrLatencyRecorder(false);
    if (this.interval) {
      copy.addHistogram(this.interval);
      this.interval.reset();
    }
    return copy;
  }

  /** Adds another recorder's samples (shards, intervals): percentiles of the merge are those of all samples together. */
  add(other: LatencyRecorder): void {
    if (!(other instanceof HdrLatencyRecorder)) throw new TypeError("can only merge latency recorders made by latencyRecorder()");
    this.all.add(other.all);
    this.interval?.add(other.all);
    this.sumMs += other.sumMs;
    if (other.max > this.max) this.max = other.max;
  }

  buckets(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    this.forEachRecorded((us, n) => {
      const bound = reportBound((this.all as unknown as JsHistogramInternals).highestEquivalentValue(us) / US_PER_MS);
      const last = out[out.length - 1];
      if (last && last[0] === bound) last[1] += n;
      else out.push([bound, n]);
    });
    return out;
  }

  private addHistogram(h: Histogram): void {
    this.all.add(h);
    // exact sum and max are not in the histogram: take them from its values (within its precision)
    this.sumMs += (h.mean * h.totalCount) / US_PER_MS;
    this.max = h.totalCount ? h.maxValue / US_PER_MS : 0;
  }

  /** Every recorded value (microseconds, lowest of its bucket) with its count, ascending. */
  private forEachRecorded(fn: (us: number, count: number) => void): void {
    const h = this.all as unknown as JsHistogramInternals;
    for (let i = 0; i < h.countsArrayLength; i++) {
      const n = h.getCountAtIndex(i);
      if (n > 0) fn(h.valueFromIndex(i), n);
    }
  }
}

/** The parts of hdr-histogram-js's JsHistogram (what build() returns without WebAssembly) that its Histogram type leaves out. */
interface JsHistogramInternals {
  countsArrayLength: number;
  getCountAtIndex(i: number): number;
  valueFromIndex(i: number): number;
  highestEquivalentValue(value: number): number;
}

/** A latency recorder for one run or phase (HdrHistogram, microseconds inside, ms outside). */
export function latencyRecorder(): LatencyRecorder {
  return new HdrLatencyRecorder();
}
