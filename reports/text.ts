import { relative } from "node:path";
import type { CertifyReport, CheckRow } from "./certify-model.js";
import { CLASS_LABEL, PROVENANCE_UNDECLARED, adapterPassText, countsText, isAdapterMadePass, provenanceUndeclared, resultLabel, verdictText, warningText } from "./certify-wording.js";
import type { Report } from "./model.js";
import type { QualificationReport } from "./qualify-model.js";

/**
 * What the CLI prints at the end of a run, from the same models the report
 * files are built from: the terminal and the reports cannot disagree.
 */

/**
 * `run` and `demo`: a line per scenario, its failing steps, the total. Files are shown relative to `cwd`.
 * `noun` names what the total counts (the dashboard's summary of a run of another kind says "runs").
 */
export function scenarioSummaryText(report: Pick<Report, "runs"> & { totals: Pick<Report["totals"], "passed" | "runs"> }, wallMs: number, cwd: string, noun = "scenarios"): string {
  const lines: string[] = [];
  for (const r of report.runs) {
    const tag = r.outcome === "pass" ? "PASS " : r.outcome === "fail" ? "FAIL " : "ERROR";
    lines.push(`${tag} ${r.name} (${r.steps.length} steps, ${(r.wallMs ?? 0).toFixed(0)} ms)`);
    for (const s of r.steps.filter((x) => x.outcome !== "pass")) {
      const where = `${r.file === undefined ? "" : relative(cwd, r.file)}:${s.line}`;
      lines.push(`      ${where}: step ${s.index + 1} ${s.action}${s.label ? ` "${s.label}"` : ""}: ${s.message}`);
    }
    if (r.error) lines.push(`      run stopped: ${r.error}`);
  }
  lines.push(`${report.totals.passed}/${report.totals.runs} ${noun} passed in ${(wallMs / 1000).toFixed(2)} s`);
  return lines.join("\n") + "\n";
}

/**
 * `certify`: the verdict and its exit status, the counts, whether the adapter
 * declared its provenance (only when it did not), then a line per defect,
 * per check not judged, allowed or not (grouped by fix, each distinct fix said
 * once after the checks it fixes), per warning and per pass on what the
 * adapter made.
 */
export function certifySummaryText(r: CertifyReport): string {
  const head = [`${r.ca}: ${verdictText(r)}`, countsText(r), ...(provenanceUndeclared(r) ? [PROVENANCE_UNDECLARED] : [])];
  // A tagged line per check, or an untagged line under them (a fix). The tag column is 10 wide whatever the run
  // holds, so the lines scripts grep for keep one shape; "PASS (adapter-made)" runs past it.
  const rows: Array<{ tag: string; c?: CheckRow; text: string }> = [];
  for (const c of r.checks.filter((x) => x.class === "defect")) rows.push({ tag: resultLabel(c), c, text: c.message });
  const notJudged = r.checks.filter((x) => x.class === "not-judged" || x.class === "not-judged-allowed");
  for (const fix of new Set(notJudged.map((c) => c.fix ?? ""))) {
    const fixed = notJudged.filter((c) => (c.fix ?? "") === fix);
    for (const c of fixed) rows.push({ tag: CLASS_LABEL["not-judged"], c, text: `(${c.cause ?? "unknown cause"}) ${c.message}` });
    if (fix) rows.push({ tag: "", text: `fix${fixed.length > 1 ? ` for ${fixed.map((c) => c.id).join(", ")}` : ""}: ${fix}` });
  }
  for (const c of r.checks.filter((x) => x.class === "warning")) rows.push({ tag: resultLabel(c), c, text: warningText(c) });
  for (const c of r.checks.filter(isAdapterMadePass)) rows.push({ tag: resultLabel(c), c, text: adapterPassText(c) });
  const lines = rows.map(({ tag, c, text }) => (c ? `${tag.padEnd(10)} ${c.level.padEnd(6)} ${c.id.padEnd(26)} ${text}` : `${"".padEnd(10)} ${text}`));
  return [...head, ...lines].join("\n") + "\n";
}

/** `qualify-reader`: the reader, a line per criterion, the latency per APDU class, the verdict. */
export function qualificationSummaryText(r: QualificationReport): string {
  const out: string[] = [`reader ${r.reader}: ATR ${r.atr}${r.protocol ? `, ${r.protocol}` : ""}`];
  for (const c of r.criteria) out.push(`${c.outcome.toUpperCase().padEnd(4)} ${c.id.padEnd(20)} ${c.message}`);
  for (const [cls, l] of Object.entries(r.latency)) {
    out.push(`latency ${cls.padEnd(14)} n=${String(l.count).padEnd(5)} p50 ${l.p50Ms.toFixed(3)} ms  p95 ${l.p95Ms.toFixed(3)} ms  p99 ${l.p99Ms.toFixed(3)} ms`);
  }
  if (r.throughput) out.push(`throughput ${r.throughput.apdusPerSecond.toFixed(0)} APDUs/s`);
  out.push(`qualification ${r.outcome.toUpperCase()}`);
  return out.join("\n") + "\n";
}
