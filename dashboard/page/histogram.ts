/**
 * Equal-width bins over a latency series, for a histogram chart: `bins`
 * bins from the smallest to the largest sample (one bin when all are equal).
 */
export interface Histogram {
  /** Each bin's lower edge. */
  edges: number[];
  width: number;
  counts: number[];
}

export function histogram(samples: readonly number[], bins = 20): Histogram {
  const finite = samples.filter(Number.isFinite);
  if (finite.length === 0) return { edges: [], width: 0, counts: [] };
  let min = Infinity;
  let max = -Infinity;
  for (const v of finite) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (max === min) return { edges: [min], width: 0, counts: [finite.length] };
  const n = Math.max(1, Math.floor(bins));
  const width = (max - min) / n;
  const counts = new Array<number>(n).fill(0);
  // the largest sample falls in the last bin, not one past it
  for (const v of finite) counts[Math.min(n - 1, Math.floor((v - min) / width))]++;
  return { edges: counts.map((_, i) => min + i * width), width, counts };
}
