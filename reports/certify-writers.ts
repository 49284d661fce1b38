import type { RunLogSource } from "../core/index.js";
import { buildCertifyReport, evidenceSummary, type CertifyReport, type CheckRow } from "./certify-model.js";
import { escapeHtml } from "./escape.js";
import { junitXml, type JUnitCase } from "./junit-xml.js";
import { writeReportSet } from "./report-set.js";

const md = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

/** JUnit XML: one testcase per check; a failed MUST is a <failure>, a failed SHOULD too (CI decides on the exit code). */
export function certifyJUnit(r: CertifyReport): string {
  const cases = r.checks.map((c): JUnitCase => {
    const testcase: JUnitCase = { name: `${c.id} [${c.level}] ${c.title}`, classname: `certify.${r.ca}`, ms: c.durationMs ?? 0 };
    if (c.outcome === "fail") testcase.result = { kind: "failure", message: c.message, type: c.level, detail: `${c.source}\n${JSON.stringify(c.evidence, null, 2)}` };
    else if (c.outcome === "error") testcase.result = { kind: "error", message: c.message, type: c.level };
    else if (c.outcome === "skip") testcase.result = { kind: "skipped", message: c.message };
    return testcase;
  });
  const ms = r.checks.reduce((n, c) => n + (c.durationMs ?? 0), 0);
  return junitXml({
    name: "cardloop certify",
    suites: [{ name: `certify ${r.ca}`, ms, timestamp: r.startTime, id: 0, package: "cardloop.certify", properties: [["ca", r.ca]], cases, systemOut: "" }],
  });
}

export function certifyJson(r: CertifyReport): string {
  return JSON.stringify(r, null, 2) + "\n";
}

const ICON: Record<string, string> = { pass: "PASS", fail: "FAIL", error: "ERROR", skip: "SKIP" };

export function certifyMarkdown(r: CertifyReport): string {
  const lines = [
    `# cardloop certify: ${r.ca}`,
    "",
    `Verdict: **${r.verdict.toUpperCase()}** (${r.totals.mustFailed} MUST failed, ${r.totals.shouldFailed} SHOULD failed; ${r.totals.pass} pass, ${r.totals.fail} fail, ${r.totals.error} error, ${r.totals.skip} skip)`,
    "",
    `Run: ${r.startTime} to ${r.endTime}`,
    "",
  ];
  const problems = r.checks.filter((c) => c.outcome === "fail" || c.outcome === "error");
  if (problems.length) {
    lines.push("## What this CA gets wrong", "");
    for (const c of problems) lines.push(`- **${c.id}** (${c.level}, ${c.source}): ${c.message}`);
    lines.push("");
  }
  lines.push("## All checks", "", "| ID | Level | Outcome | Title | Source | Result |", "| --- | --- | --- | --- | --- | --- |");
  for (const c of r.checks) lines.push(`| ${c.id} | ${c.level} | ${ICON[c.outcome]} | ${md(c.title)} | ${md(c.source)} | ${md(c.message)} |`);
  lines.push("", "## Evidence", "");
  for (const c of r.checks) lines.push(`- ${c.id}: \`${md(evidenceSummary(c.evidence)).replace(/`/g, "'")}\``);
  return lines.join("\n") + "\n";
}

export function certifyHtml(r: CertifyReport): string {
  const row = (c: CheckRow) => `<tr class="${c.outcome}">
<td><code>${escapeHtml(c.id)}</code></td><td>${c.level}</td><td class="o">${ICON[c.outcome]}</td><td>${escapeHtml(c.title)}<br><small>${escapeHtml(c.source)}</small></td>
<td>${escapeHtml(c.message)}<details><summary>evidence</summary><pre>${escapeHtml(JSON.stringify(c.evidence, null, 2))}</pre></details></td></tr>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cardloop certify: ${escapeHtml(r.ca)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.4rem;vertical-align:top;text-align:left}
tr.pass .o{color:#176b1e}tr.fail .o,tr.error .o{color:#b00020;font-weight:bold}tr.skip .o{color:#777}
pre{max-width:70rem;overflow:auto;background:#f6f6f6;padding:.5rem;font-size:.8rem}
.verdict{font-size:1.3rem}.fail-v{color:#b00020}.pass-v{color:#176b1e}
</style></head><body>
<h1>cardloop certify: ${escapeHtml(r.ca)}</h1>
<p class="verdict ${r.verdict}-v">Verdict: <strong>${r.verdict.toUpperCase()}</strong>: ${r.totals.mustFailed} MUST failed, ${r.totals.shouldFailed} SHOULD failed
(${r.totals.pass} pass, ${r.totals.fail} fail, ${r.totals.error} error, ${r.totals.skip} skip)</p>
<p>Run ${escapeHtml(r.startTime)} to ${escapeHtml(r.endTime)}</p>
<table><thead><tr><th>ID</th><th>Level</th><th>Outcome</th><th>Check</th><th>Result</th></tr></thead><tbody>
${r.checks.map(row).join("\n")}
</tbody></table></body></html>
`;
}

export interface CertifyReportFiles {
  junit: string;
  json: string;
  markdown: string;
  html: string;
}

/** All four reports, from the run log (the only input a report ever has). */
export function writeCertifyReports(runLog: RunLogSource, outDir: string): { files: CertifyReportFiles; report: CertifyReport } {
  return writeReportSet(runLog, outDir, buildCertifyReport, {
    junit: { file: "junit.xml", render: certifyJUnit },
    json: { file: "certify.json", render: certifyJson },
    markdown: { file: "certify.md", render: certifyMarkdown },
    html: { file: "certify.html", render: certifyHtml },
  });
}
