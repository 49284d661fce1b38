/**
 * The one percentile definition every report and criterion uses: nearest rank
 * (Hyndman & Fan type 1, NIST's "nearest rank"). The p-th percentile of n
 * values is the value of rank ceil(p/100 * n) in ascending order (rank 1 for
 * p = 0): the smallest sample with at least p% of the samples at or below it.
 * It is always a sample, never an interpolation: a latency percentile is a
 * latency that happened. p50 of [1, 2] is 1.
 */
export function percentile(values: readonly number[], p: number): number {
  return nearestRank(ascending(values), p);
}

/** A latency series in milliseconds, as reader qualification states it. */
export interface LatencySummary {
  count: number;
  minMs: number;
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Count, min, mean, p50/p95/p99 (nearest rank) and max; NaN figures for no samples. */
export function summarise(samplesMs: readonly number[]): LatencySummary {
  const s = ascending(samplesMs);
  const sum = s.reduce((a, b) => a + b, 0);
  return {
    count: s.length,
    minMs: s[0] ?? NaN,
    meanMs: s.length ? sum / s.length : NaN,
    p50Ms: nearestRank(s, 50),
    p95Ms: nearestRank(s, 95),
    p99Ms: nearestRank(s, 99),
    maxMs: s[s.length - 1] ?? NaN,
  };
}

function ascending(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

/** NaN for no values: an empty series has no percentile (callers that show 0 say so themselves). */
function nearestRank(sorted: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within 0..100, got ${p}`);
  if (sorted.length === 0) return NaN;
  // p * n first: (p / 100) * n would make 7% of 100 samples rank 8 (0.07 * 100 = 7.000000000000001).
  const rank = Math.ceil((p * sorted.length) / 100);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}
