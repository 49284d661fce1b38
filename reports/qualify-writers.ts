import { percentile, type RunLogSource } from "../core/index.js";
import { chartJs } from "./chart-js.js";
import { escapeHtml, inlineJson } from "./escape.js";
import { junitXml, type JUnitCase } from "./junit-xml.js";
import { buildQualificationReport, type QualificationReport } from "./qualify-model.js";
import { writeReportSet } from "./report-set.js";

/** The report as JSON (raw samples left out: they are for the chart only). */
export function qualificationJson(r: QualificationReport): string {
  const { samples: _samples, ...rest } = r;
  return JSON.stringify(rest, null, 2) + "\n";
}

/** JUnit XML: one testsuite for the reader, one testcase per criterion (a criterion that could not be judged is a failure too). */
export function qualificationJunit(r: QualificationReport): string {
  const cases = r.criteria.map((c): JUnitCase => {
    const testcase: JUnitCase = { name: `${c.id}: ${c.title}`, classname: `qualify-reader.${r.reader}`, ms: c.durationMs };
    if (c.outcome === "pass") testcase.systemOut = c.message;
    else if (c.outcome === "skip") testcase.result = { kind: "skipped", message: c.message };
    else testcase.result = { kind: "failure", message: c.message, type: c.outcome, detail: c.evidence ? JSON.stringify(c.evidence, null, 2) : undefined };
    return testcase;
  });
  const ms = r.criteria.reduce((a, c) => a + c.durationMs, 0);
  const properties = [["atr", r.atr], ["protocol", r.protocol ?? ""]] as const;
  return junitXml({ name: "qualify-reader", suites: [{ name: r.reader, ms, id: 0, package: "cardloop.qualify-reader", properties, cases, systemOut: "" }] });
}

/** Self-contained HTML: verdict, criteria table, latency table, histogram per APDU class. */
export function qualificationHtml(r: QualificationReport): string {
  const rows = r.criteria
    .map(
      (c) =>
        `<tr class="${c.outcome}"><td>${escapeHtml(c.id)}</td><td>${escapeHtml(c.title)}</td><td>${c.outcome.toUpperCase()}</td><td>${escapeHtml(c.message)}</td><td>${c.durationMs.toFixed(1)}</td></tr>`,
    )
    .join("\n");
  const lat = Object.entries(r.latency)
    .map(
      ([cls, l]) =>
        `<tr><td>${escapeHtml(cls)}</td><td>${l.count}</td><td>${l.p50Ms.toFixed(3)}</td><td>${l.p95Ms.toFixed(3)}</td><td>${l.p99Ms.toFixed(3)}</td><td>${l.maxMs.toFixed(3)}</td></tr>`,
    )
    .join("\n");
  // One stacked histogram, a dataset per class, over [min, p95 of all]: the
  // rare slow outliers share the last bin instead of squeezing the rest into one.
  const all = Object.values(r.samples).flat().sort((a, b) => a - b);
  const bins = 40;
  const lo = all[0] ?? 0;
  const hi = all.length ? Math.max(percentile(all, 95), lo + 1e-6) : 1;
  const width = (hi - lo) / bins;
  const labels = Array.from({ length: bins }, (_, i) => (i === bins - 1 ? `>= ${(lo + i * width).toFixed(3)}` : (lo + i * width).toFixed(3)));
  const datasets = Object.entries(r.samples).map(([cls, s]) => {
    const counts = new Array<number>(bins).fill(0);
    for (const v of s) counts[Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / width)))]++;
    return { label: cls, data: counts };
  });
  const chartData = inlineJson({ labels, datasets });
  const verdict = r.outcome === "pass" ? "PASS" : "FAIL";
  const tp = r.throughput ? `${r.throughput.apdusPerSecond.toFixed(0)} APDUs/s over ${r.throughput.apdus} APDUs` : "n/a";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Reader qualification: ${escapeHtml(r.reader)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
tr.pass td:nth-child(3){color:#176f2c;font-weight:bold}tr.fail td:nth-child(3),tr.error td:nth-child(3){color:#b00020;font-weight:bold}
tr.skip td:nth-child(3){color:#777}.verdict{font-size:1.4em;font-weight:bold}.PASS{color:#176f2c}.FAIL{color:#b00020}
code{background:#f3f3f3;padding:1px 4px}
</style></head><body>
<h1>Reader qualification: ${escapeHtml(r.reader)}</h1>
<p class="verdict ${verdict}">${verdict}</p>
<p>ATR <code>${escapeHtml(r.atr)}</code>${r.atrInfo ? ` (${escapeHtml(r.atrInfo.summary)})` : ""}; protocol ${escapeHtml(r.protocol ?? "n/a")}; throughput ${escapeHtml(tp)}.</p>
<h2>Criteria</h2>
<table><thead><tr><th>id</th><th>criterion</th><th>outcome</th><th>detail</th><th>ms</th></tr></thead><tbody>
${rows}
</tbody></table>
<h2>Latency per APDU class (ms)</h2>
<table><thead><tr><th>class</th><th>n</th><th>p50</th><th>p95</th><th>p99</th><th>max</th></tr></thead><tbody>
${lat}
</tbody></table>
<h2>Round-trip histogram</h2>
<div style="max-width:900px"><canvas id="latency"></canvas></div>
<script>${chartJs()}</script>
<script>
const data = ${chartData};
new Chart(document.getElementById("latency"), {type: "bar", data,
  options: {animation: false, scales: {x: {stacked: true, title: {display: true, text: "round trip (ms, bin start)"}},
  y: {stacked: true, title: {display: true, text: "APDUs"}}}}});
</script>
</body></html>
`;
}

export interface QualificationReportFiles {
  json: string;
  junit: string;
  html: string;
}

/** qualification.json, junit.xml and report.html from the run log (the only input a report ever has). */
export function writeQualificationReports(runLog: RunLogSource, dir: string): { files: QualificationReportFiles; report: QualificationReport } {
  return writeReportSet(runLog, dir, buildQualificationReport, {
    json: { file: "qualification.json", render: qualificationJson },
    junit: { file: "junit.xml", render: qualificationJunit },
    html: { file: "report.html", render: qualificationHtml },
  });
}
