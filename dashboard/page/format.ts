/** How the page writes durations, times and values: short, and the same in every view. */

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m - h * 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** A wall-clock ISO time in the viewer's local time, to the second. */
export function formatTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** A run's virtual time as it is logged (UTC, as the run's clock says), without the noise of milliseconds at zero. */
export function formatVirtual(iso: string): string {
  return iso.replace("T", " ").replace(/\.000Z$|Z$/, "");
}

/** Virtual time elapsed since the scenario's start: "+0", "+90 d 2 h". */
export function formatOffset(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return "+0";
  return `+${formatDuration(ms)}`;
}

/** A figure with at most `digits` decimals, no trailing zeros. */
export function formatNumber(n: number, digits = 2): string {
  if (!Number.isFinite(n)) return "–";
  return String(Number(n.toFixed(digits)));
}

/** A value as one line of JSON, cut at `max` characters. */
export function compactJson(value: unknown, max = 240): string {
  let text: string;
  try {
    text = typeof value === "string" ? value : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A value as indented JSON, for expected/actual and evidence panels. */
export function prettyJson(value: unknown): string {
  if (value === undefined) return "(nothing)";
  try {
    return typeof value === "string" ? value : (JSON.stringify(value, null, 2) ?? String(value));
  } catch {
    return String(value);
  }
}
