/**
 * Calendar arithmetic on ms-since-epoch numbers, without Date objects: pki/ keeps
 * time as plain numbers handed in by the caller (no wall clock, no Date).
 */

export interface UtcParts {
  year: number;
  month: number; // 1-12
  day: number;
  hour: number;
  minute: number;
  second: number;
  ms: number;
}

const DAY_MS = 86_400_000;

/** Civil date from days since 1970-01-01 (proleptic Gregorian; H. Hinnant's algorithm). */
export function utcParts(t: number): UtcParts {
  const days = Math.floor(t / DAY_MS);
  let rem = t - days * DAY_MS;
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const hour = Math.floor(rem / 3_600_000);
  rem -= hour * 3_600_000;
  const minute = Math.floor(rem / 60_000);
  rem -= minute * 60_000;
  const second = Math.floor(rem / 1000);
  return { year, month, day, hour, minute, second, ms: rem - second * 1000 };
}

const pad = (n: number, w = 2): string => String(n).padStart(w, "0");

/** ISO 8601 in UTC, e.g. 2031-06-01T00:00:00.000Z (for messages). */
export function isoTime(t: number): string {
  if (!Number.isFinite(t)) return String(t);
  const p = utcParts(t);
  return `${pad(p.year, 4)}-${pad(p.month)}-${pad(p.day)}T${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}.${pad(p.ms, 3)}Z`;
}
