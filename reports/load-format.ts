import type { LoadPercentiles, LoadSummaryData } from "../core/browser.js";
import { interruptedText, signalExitStatus, type LoadReport, type LoadVerdict } from "./load-model.js";

/**
 * The figures and phrases every load report shares (the terminal lines,
 * JUnit, Markdown, HTML), so that each says a number the same way.
 */

/** How many serials a list shows in the terminal, JUnit, Markdown and HTML; load.json has them all. */
export const LIST_LIMIT = 100;

/** A figure that may be missing: a percentile over no samples is NaN, which JSON writes as null. */
const known = (v: number | null | undefined): v is number => typeof v === "number" && Number.isFinite(v);

/** Milliseconds with the precision they deserve: 0.42 ms, 12.3 ms, 1250 ms. */
export function ms(v: number | null | undefined): string {
  if (!known(v)) return "n/a";
  const a = Math.abs(v);
  return `${a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2)} ms`;
}

export function count(v: number | null | undefined): string {
  return known(v) ? String(Math.round(v)) : "n/a";
}

export function rate(v: number | null | undefined): string {
  return known(v) ? `${Math.round(v)}/s` : "n/a";
}

export function seconds(msValue: number | null | undefined): string {
  return known(msValue) ? `${(msValue / 1000).toFixed(2)} s` : "n/a";
}

export const VERDICT_LABEL: Record<LoadVerdict, string> = { pass: "PASS", fail: "FAIL", error: "ERROR", interrupted: "INTERRUPTED" };

/** The one verdict sentence: the exit status beside it, so the words and the status cannot drift. */
export function verdictText(r: Pick<LoadReport, "verdict" | "summary" | "interruptedReason">): string {
  if (!r.summary) return `INTERRUPTED: ${r.interruptedReason ?? "no final figures"}`;
  const s = r.summary;
  const why = s.exitCode === 2 ? "the CA could not be reached or set up" : s.exitCode === 1 ? failedBecause(s) : "every gate passed, nothing lost or wrongly revoked";
  if (s.interrupted) {
    // Never "PASS" for a stopped run: the process exits 130/143, and the figures are of a part of the plan.
    const status = signalExitStatus(s.interrupted.signal);
    return `${VERDICT_LABEL.interrupted}${status === undefined ? "" : ` (exit status ${status})`}: ${interruptedText(s.interrupted.signal)}; in what was verified: ${why}`;
  }
  return `${VERDICT_LABEL[r.verdict]} (exit status ${s.exitCode}): ${why}`;
}

/** The run's notes (what completeness did not hold against the CA, how long publication took to settle) and each channel's note, one line each. */
export function notesOf(s: LoadSummaryData): string[] {
  const channelNotes = channels(s).flatMap(([name, c]) => (typeof c.note === "string" ? [`${name} propagation: ${c.note}`] : []));
  return [...(s.notes ?? []), ...channelNotes];
}

function failedBecause(s: LoadSummaryData): string {
  const why: string[] = [];
  const gates = s.gates.filter((g) => !g.passed).map((g) => g.gate);
  if (gates.length) why.push(`gate${gates.length > 1 ? "s" : ""} ${gates.join(", ")} failed`);
  const c = s.completeness;
  if (c.lost.length) why.push(`${c.lost.length} lost`);
  if (c.wronglyRevoked.length) why.push(`${c.wronglyRevoked.length} wrongly revoked`);
  if (c.wrongReason.length) why.push(`${c.wrongReason.length} with the wrong reason`);
  if (!c.complete) why.push(`verification incomplete${c.incompleteReason ? ` (${c.incompleteReason})` : ""}`);
  return why.length ? why.join("; ") : "the run failed";
}

/** "p50 1.20 ms  p99 ...": one series' percentiles on one line. */
export function percentilesText(p: LoadPercentiles): string {
  return `p50 ${ms(p.p50)}  p99 ${ms(p.p99)}  p99.9 ${ms(p.p999)}  max ${ms(p.max)}  (n=${count(p.count)})`;
}

/** What completeness found, in one line. */
export function completenessText(c: LoadSummaryData["completeness"]): string {
  const line =
    `${count(c.checked)} checked, ${c.lost.length} lost, ${c.wronglyRevoked.length} wrongly revoked, ${c.wrongReason.length} wrong reason; ` +
    `${count(c.controlChecked)} control certificates checked; ${count(c.revokedDespiteError)} revoked despite an error`;
  return c.complete ? line : `${line}; INCOMPLETE: ${c.incompleteReason ?? "verification could not run to the end"}`;
}

/** Failed serials by class, most first: "timeout 3, 5xx 503 2", or "none". */
export function errorsText(errors: Record<string, number>): string {
  const list = errorRows(errors);
  return list.length ? list.map(([cls, n]) => `${cls} ${count(n)}`).join(", ") : "none";
}

export function errorRows(errors: Record<string, number>): Array<[string, number]> {
  return Object.entries(errors).sort((a, b) => (b[1] ?? 0) - (a[1] ?? 0) || a[0].localeCompare(b[0]));
}

/** The first LIST_LIMIT items and how many more there are. */
export function bounded<T>(items: readonly T[], limit = LIST_LIMIT): { shown: T[]; more: number } {
  return { shown: items.slice(0, limit), more: Math.max(0, items.length - limit) };
}

/** "and 12 more (load.json lists them all)", or "". */
export function moreText(more: number): string {
  return more > 0 ? `and ${more} more (load.json lists them all)` : "";
}

/** A gate as one line: "PASS min-rate: limit 1000/s, actual 5000/s". */
export function gateText(g: LoadSummaryData["gates"][number]): string {
  return `${g.passed ? "PASS" : "FAIL"} ${g.gate}: limit ${g.limit}, actual ${g.actual}`;
}

/** The loop and mode of the revoke phase, in words. */
export function modeText(s: LoadSummaryData): string {
  return `${s.revoke.bulk ? "bulk" : "single requests"}, ${s.revoke.loop} loop`;
}

/** The propagation channels in a fixed order, with their names as the reports print them. */
export function channels(s: LoadSummaryData): Array<[string, LoadSummaryData["propagation"]["ocsp"]]> {
  return [
    ["OCSP", s.propagation.ocsp],
    ["CRL", s.propagation.crl],
  ];
}
