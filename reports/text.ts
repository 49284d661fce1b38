import { relative } from "node:path";
import type { CertifyReport, CheckRow } from "./certify-model.js";
import { countsText, verdictText, warningText } from "./certify-wording.js";
import type { Report } from "./model.js";
import type { QualificationReport } from "./qualify-model.js";

/**
 * What the CLI prints at the end of a run, from the same models the report
 * files are built from: the terminal and the reports cannot disagree.
 */

/** `run` and `demo`: a line per scenario, its failing steps, the total. Files are shown relative to `cwd`. */
export function scenarioSummaryText(report: Report, wallMs: number, cwd: string): string {
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
  lines.push(`${report.totals.passed}/${report.totals.runs} scenarios passed in ${(wallMs / 1000).toFixed(2)} s`);
  return lines.join("\n") + "\n";
}

/**
 * `certify`: the verdict and its exit status, the counts, then a line per
 * defect, per check not judged (each distinct fix said once, after the
 * checks it fixes) and per warning, in the report's order.
 */
export function certifySummaryText(r: CertifyReport): string {
  const lines = [`${r.ca}: ${verdictText(r)}`, countsText(r)];
  const line = (tag: string, c: CheckRow, text: string) => `${tag.padEnd(10)} ${c.level.padEnd(6)} ${c.id.padEnd(26)} ${text}`;
  for (const c of r.checks.filter((x) => x.class === "defect")) lines.push(line("FAIL", c, c.message));
  const notJudged = r.checks.filter((x) => x.class === "not-judged" || x.class === "not-judged-allowed");
  for (const fix of new Set(notJudged.map((c) => c.fix ?? ""))) {
    const fixed = notJudged.filter((c) => (c.fix ?? "") === fix);
    for (const c of fixed) lines.push(line("NOT JUDGED", c, `(${c.cause ?? "unknown cause"}) ${c.message}`));
    if (fix) lines.push(`${"".padEnd(10)} fix${fixed.length > 1 ? ` for ${fixed.map((c) => c.id).join(", ")}` : ""}: ${fix}`);
  }
  for (const c of r.checks.filter((x) => x.class === "warning")) lines.push(line("WARN", c, warningText(c)));
  return lines.join("\n") + "\n";
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
