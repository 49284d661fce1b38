import fs from "node:fs";
import { createRequire } from "node:module";
import { makeDirs } from "../../core/index.js";
import path from "node:path";
import type { QualificationReport } from "./battery.js";
import { percentile } from "./stats.js";

/** The report as JSON (raw samples left out: they are for the chart only). */
export function qualificationJson(r: QualificationReport): string {
  const { samples: _samples, ...rest } = r;
  return JSON.stringify(rest, null, 2) + "\n";
}

const xml = (s: string) =>
  s.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!);

/** JUnit XML: one testsuite for the reader, one testcase per criterion. */
export function qualificationJunit(r: QualificationReport): string {
  const failures = r.criteria.filter((c) => c.outcome === "fail" || c.outcome === "error").length;
  const skipped = r.criteria.filter((c) => c.outcome === "skip").length;
  const total = r.criteria.reduce((a, c) => a + c.durationMs, 0) / 1000;
  const cases = r.criteria.map((c) => {
    const head = `    <testcase classname="qualify-reader.${xml(r.reader)}" name="${xml(`${c.id}: ${c.title}`)}" time="${(c.durationMs / 1000).toFixed(3)}"`;
    if (c.outcome === "pass") return `${head}>\n      <system-out>${xml(c.message)}</system-out>\n    </testcase>`;
    if (c.outcome === "skip") return `${head}>\n      <skipped message="${xml(c.message)}"/>\n    </testcase>`;
    const ev = c.evidence ? xml(JSON.stringify(c.evidence, null, 2)) : "";
    return `${head}>\n      <failure message="${xml(c.message)}" type="${c.outcome}">${ev}</failure>\n    </testcase>`;
  });
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<testsuites name="qualify-reader" tests="${r.criteria.length}" failures="${failures}" skipped="${skipped}" time="${total.toFixed(3)}">\n` +
    `  <testsuite name="${xml(r.reader)}" tests="${r.criteria.length}" failures="${failures}" skipped="${skipped}" time="${total.toFixed(3)}">\n` +
    `    <properties>\n      <property name="atr" value="${xml(r.atr)}"/>\n      <property name="protocol" value="${xml(r.protocol ?? "")}"/>\n    </properties>\n` +
    cases.join("\n") +
    `\n  </testsuite>\n</testsuites>\n`
  );
}

let chartJs: string | undefined;
/** chart.js's UMD build, inlined so the HTML report is one self-contained file. */
function chartSource(): string {
  if (chartJs === undefined) {
    const main = createRequire(import.meta.url).resolve("chart.js");
    chartJs = fs.readFileSync(path.join(path.dirname(main), "chart.umd.js"), "utf8");
  }
  return chartJs;
}

/** Self-contained HTML: verdict, criteria table, latency table, histogram per APDU class. */
export function qualificationHtml(r: QualificationReport): string {
  const h = (s: string) => xml(s);
  const rows = r.criteria
    .map(
      (c) =>
        `<tr class="${c.outcome}"><td>${h(c.id)}</td><td>${h(c.title)}</td><td>${c.outcome.toUpperCase()}</td><td>${h(c.message)}</td><td>${c.durationMs.toFixed(1)}</td></tr>`,
    )
    .join("\n");
  const lat = Object.entries(r.latency)
    .map(
      ([cls, l]) =>
        `<tr><td>${h(cls)}</td><td>${l.count}</td><td>${l.p50Ms.toFixed(3)}</td><td>${l.p95Ms.toFixed(3)}</td><td>${l.p99Ms.toFixed(3)}</td><td>${l.maxMs.toFixed(3)}</td></tr>`,
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
  const chartData = JSON.stringify({ labels, datasets }).replace(/</g, "\\u003c");
  const verdict = r.outcome === "pass" ? "PASS" : "FAIL";
  const tp = r.throughput ? `${r.throughput.apdusPerSecond.toFixed(0)} APDUs/s over ${r.throughput.apdus} APDUs` : "n/a";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Reader qualification: ${h(r.reader)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
tr.pass td:nth-child(3){color:#176f2c;font-weight:bold}tr.fail td:nth-child(3),tr.error td:nth-child(3){color:#b00020;font-weight:bold}
tr.skip td:nth-child(3){color:#777}.verdict{font-size:1.4em;font-weight:bold}.PASS{color:#176f2c}.FAIL{color:#b00020}
code{background:#f3f3f3;padding:1px 4px}
</style></head><body>
<h1>Reader qualification: ${h(r.reader)}</h1>
<p class="verdict ${verdict}">${verdict}</p>
<p>ATR <code>${h(r.atr)}</code>${r.atrInfo ? ` (${h(r.atrInfo.summary)})` : ""}; protocol ${h(r.protocol ?? "n/a")}; throughput ${h(tp)}.</p>
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
<script>${chartSource()}</script>
<script>
const data = ${chartData};
new Chart(document.getElementById("latency"), {type: "bar", data,
  options: {animation: false, scales: {x: {stacked: true, title: {display: true, text: "round trip (ms, bin start)"}},
  y: {stacked: true, title: {display: true, text: "APDUs"}}}}});
</script>
</body></html>
`;
}

/** Writes qualification.json, junit.xml and report.html into `dir`; returns their paths. */
export function writeQualificationReports(r: QualificationReport, dir: string): { json: string; junit: string; html: string } {
  makeDirs(dir);
  const files = {
    json: path.join(dir, "qualification.json"),
    junit: path.join(dir, "junit.xml"),
    html: path.join(dir, "report.html"),
  };
  fs.writeFileSync(files.json, qualificationJson(r));
  fs.writeFileSync(files.junit, qualificationJunit(r));
  fs.writeFileSync(files.html, qualificationHtml(r));
  return files;
}
