import { failureLine, apduPercentile, type Report } from "./model.js";
import { escapeMarkdown, markdownCode } from "./escape.js";

/** A short Markdown summary that fits a CI step summary (GitHub's $GITHUB_STEP_SUMMARY and the like). */
export function toMarkdown(report: Report): string {
  const t = report.totals;
  const icon = (o: string) => (o === "pass" ? "✅" : "❌");
  const lines = [
    `## cardloop: ${t.passed}/${t.runs} scenarios passed`,
    "",
    `${t.steps} checked steps, ${t.stepsFailed} failed; ${t.apdus} APDU exchanges.`,
    "",
    "| | scenario | steps | APDUs | APDU p95 (µs) | virtual time |",
    "| --- | --- | ---: | ---: | ---: | --- |",
    ...report.runs.map(
      (r) =>
        `| ${icon(r.outcome)} | ${cell(r.name)} | ${r.steps.length} | ${r.apdu.count} | ${Math.round(apduPercentile(r.apdu.micros, 95))} | ${r.startTime.slice(0, 10)} → ${r.endTime.slice(0, 10)} |`,
    ),
  ];
  const failed = report.runs.filter((r) => r.outcome !== "pass");
  if (failed.length > 0) {
    lines.push("", "### Failures", "");
    for (const r of failed) {
      for (const s of r.steps.filter((x) => x.outcome === "fail" || x.outcome === "error")) {
        lines.push(`- **${cell(r.name)}**${r.file ? ` (\`${r.file}\`)` : ""}: ${cell(failureLine(s))}`);
        lines.push(`  - expected ${markdownCode(JSON.stringify(s.expected) ?? "undefined")}, got ${markdownCode(JSON.stringify(s.actual) ?? "undefined")}`);
      }
      if (r.steps.every((s) => s.outcome === "pass")) lines.push(`- **${cell(r.name)}**: the run did not complete`);
    }
  }
  return lines.join("\n") + "\n";
}

/** Scenario names, labels and messages come from files and cards: as inert as certify's (escape.ts). */
const cell = escapeMarkdown;
