import { failureLine, apduPercentile, type Report } from "./model.js";

/** The machine-readable summary: totals, one entry per scenario, failures with their evidence. */
export function toJsonSummary(report: Report): string {
  const runs = report.runs.map((r) => ({
    name: r.name,
    file: r.file,
    seed: r.seed,
    outcome: r.outcome,
    virtualTime: { start: r.startTime, end: r.endTime },
    wallMs: r.wallMs,
    steps: { total: r.steps.length, failed: r.steps.filter((s) => s.outcome !== "pass").length },
    apdu: {
      count: r.apdu.count,
      byIns: r.apdu.byIns,
      bySw: r.apdu.bySw,
      micros: { p50: apduPercentile(r.apdu.micros, 50), p95: apduPercentile(r.apdu.micros, 95), max: Math.max(0, ...r.apdu.micros) },
    },
    cards: r.cards,
    failures: r.steps
      .filter((s) => s.outcome === "fail" || s.outcome === "error")
      .map((s) => ({ step: s.index + 1, action: s.action, label: s.label, line: s.line, message: failureLine(s), expected: s.expected, actual: s.actual, evidence: s.evidence })),
  }));
  return JSON.stringify({ tool: "cardloop", totals: report.totals, outcome: report.totals.failed === 0 ? "pass" : "fail", runs }, null, 2) + "\n";
}
