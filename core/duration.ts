const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  // Calendar-free approximations; policy limits use calendar arithmetic (addYears).
  y: 365 * 86_400_000,
};

/** Parses "90d", "1h30m", "3y", "250ms" into milliseconds. */
export function parseDuration(text: string): number {
  const src = text.trim();
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(src)) !== null) {
    total += Number(m[1]) * UNIT_MS[m[2]];
    matched = re.lastIndex;
  }
  if (src.length === 0 || matched !== src.length) {
    throw new RangeError(`invalid duration "${text}" (expected e.g. 90d, 12h, 1y, 500ms)`);
  }
  return total;
}

/** Calendar addition in UTC: 2024-02-29 + 1y = 2025-02-28, as certificate policies mean it. */
export function addYears(date: Date, years: number): Date {
  const d = new Date(date.getTime());
  const month = d.getUTCMonth();
  d.setUTCFullYear(d.getUTCFullYear() + years);
  if (d.getUTCMonth() !== month) d.setUTCDate(0); // overflowed into March: clamp to end of Feb
  return d;
}
