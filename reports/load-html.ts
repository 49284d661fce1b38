import type { LoadPercentiles, LoadSummaryData } from "../core/browser.js";
import { escapeHtml } from "./escape.js";
import { htmlPage } from "./html-page.js";
import { bounded, channels, completenessText, count, errorRows, modeText, moreText, ms, notesOf, rate, seconds, verdictText, VERDICT_LABEL } from "./load-format.js";
import type { LoadPoint, LoadReport } from "./load-model.js";

/**
 * A load run as one self-contained HTML page (styles, data and chart.js
 * inlined; no network): the verdict, the figures as tables, the gates, what
 * was lost or wrongly revoked, and four charts: throughput over time, latency
 * p50/p99 over time, the latency histogram and the propagation CDF. Every
 * text is escaped; the chart data goes in through inlineJson.
 */
export function loadHtml(r: LoadReport): string {
  const s = r.summary;
  const title = `cardloop load revoke: ${r.ca}`;
  const cls = r.verdict === "pass" ? "pass" : r.verdict === "interrupted" ? "warn" : "fail";
  return htmlPage({
    title,
    css: CSS,
    data: chartData(r),
    body: `<header>
  <h1>${escapeHtml(title)}</h1>
  <p class="verdict ${cls}"><strong>${VERDICT_LABEL[r.verdict]}</strong> ${escapeHtml(verdictText(r).replace(/^\S+\s*/, ""))}</p>
  <p class="meta">${escapeHtml(r.name)}${r.started ? ` · started ${escapeHtml(r.started)}` : ""}${r.finished ? ` · finished ${escapeHtml(r.finished)}` : ""}${
    s?.shard ? ` · shard ${s.shard.index}/${s.shard.of}` : ""
  }${s ? ` · ${escapeHtml(modeText(s))}` : ""}</p>
  ${s ? `<p class="meta">plan <code>${escapeHtml(JSON.stringify(s.plan))}</code></p>` : ""}
</header>
${phasesTable(r)}
${s ? figures(s) + notes(s) + gates(s) : ""}
<section>
  <h2>Charts</h2>
  <div class="charts">
    <div><canvas id="throughput"></canvas></div>
    <div><canvas id="latencyOverTime"></canvas></div>
    <div><canvas id="latencyHistogram"></canvas></div>
    <div><canvas id="propagationCdf"></canvas></div>
  </div>
</section>
${s ? lists(s) : ""}`,
    charts: `const palette = ["#3867d6","#eb3b5a","#20bf6b","#f7b731","#8854d0","#0fb9b1"];
const line = (sets) => sets.map((d, i) => ({ label: d.label, data: d.points, borderColor: palette[i % palette.length], backgroundColor: palette[i % palette.length], pointRadius: 0, borderWidth: 2 }));
const axes = (x, y) => ({ x: { type: "linear", title: { display: true, text: x } }, y: { beginAtZero: true, title: { display: true, text: y } } });
const base = (title) => ({ animation: false, maintainAspectRatio: false, plugins: { title: { display: true, text: title }, legend: { position: "bottom" } } });
new Chart(document.getElementById("throughput"), { type: "line", data: { datasets: line(DATA.throughput) },
  options: { ...base("Throughput over time (acknowledged revocations/s)"), scales: axes("seconds since start", "per second") } });
new Chart(document.getElementById("latencyOverTime"), { type: "line", data: { datasets: line(DATA.latency) },
  options: { ...base("Request latency over time (all requests so far)"), scales: axes("seconds since start", "ms") } });
new Chart(document.getElementById("latencyHistogram"), { type: "bar",
  data: { labels: DATA.histogram.labels, datasets: [{ label: "requests", data: DATA.histogram.counts, backgroundColor: "#3867d6" }] },
  options: { ...base("Latency histogram (requests per bucket, ms upper bound)"), scales: { y: { beginAtZero: true } } } });
new Chart(document.getElementById("propagationCdf"), { type: "line", data: { datasets: line(DATA.cdf) },
  options: { ...base("Propagation CDF (acknowledgement until published)"), scales: { ...axes("delay (ms)", "% of sampled serials seen"), y: { min: 0, max: 100 } } } });`,
  });
}

/** The data behind the four charts: what the page draws, and what a test reads back. */
export interface LoadChartData {
  throughput: Array<{ label: string; points: LoadPoint[] }>;
  latency: Array<{ label: string; points: LoadPoint[] }>;
  histogram: { labels: string[]; counts: number[] };
  cdf: Array<{ label: string; points: LoadPoint[] }>;
}

export function chartData(r: LoadReport): LoadChartData {
  const s = r.summary;
  const hist = s?.revoke.histogram ?? [];
  // Without final figures the CDF is drawn from the propagation samples the run had sent.
  const delays: Array<[string, readonly number[]]> = s
    ? channels(s).map(([name, c]) => [name, c.delaysMs])
    : [
        ["OCSP", r.series.propagationOcsp.map((p) => p.y)],
        ["CRL", r.series.propagationCrl.map((p) => p.y)],
      ];
  return {
    throughput: r.series.throughput.map((t) => ({ label: t.phase || "throughput", points: t.points })),
    latency: [
      { label: "p50", points: r.series.latencyP50 },
      { label: "p99", points: r.series.latencyP99 },
    ],
    histogram: { labels: hist.map(([upper]) => `<= ${ms(upper)}`), counts: hist.map(([, n]) => n) },
    cdf: delays.map(([label, d]) => ({ label, points: cdf(d) })),
  };
}

/** At most this many points per CDF: enough for a smooth curve, small enough to inline any sample. */
const CDF_POINTS = 1000;

/** [delay, % of samples at or below it], by rank; thinned evenly to CDF_POINTS, keeping the last (the max). */
export function cdf(delays: readonly number[]): LoadPoint[] {
  const sorted = delays.filter((d) => typeof d === "number" && Number.isFinite(d)).sort((a, b) => a - b);
  const n = sorted.length;
  const step = Math.max(1, Math.ceil(n / CDF_POINTS));
  const points: LoadPoint[] = [];
  for (let i = step - 1; i < n; i += step) points.push({ x: sorted[i], y: ((i + 1) * 100) / n });
  if (n > 0 && points[points.length - 1].x !== sorted[n - 1]) points.push({ x: sorted[n - 1], y: 100 });
  else if (n > 0) points[points.length - 1].y = 100;
  return points;
}

function phasesTable(r: LoadReport): string {
  if (r.phases.length === 0) return `<section><h2>Phases</h2><p>No phase started.</p></section>`;
  const rows = r.phases.map(
    (p) =>
      `<tr class="${p.finished === undefined ? "fail" : ""}"><td>${p.phase}</td><td>${p.finished === undefined ? "started, never finished" : escapeHtml(seconds(p.ms))}</td><td>${escapeHtml(
        Object.entries(p.detail)
          .map(([k, v]) => `${k} ${String(v)}`)
          .join(", "),
      )}</td></tr>`,
  );
  return `<section><h2>Phases</h2><table><thead><tr><th>phase</th><th>time</th><th>counts</th></tr></thead><tbody>
${rows.join("\n")}
</tbody></table></section>`;
}

const PCT_HEAD = `<th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>mean</th>`;
const pctCells = (p: LoadPercentiles) => [ms(p.p50), ms(p.p90), ms(p.p99), ms(p.p999), ms(p.max), ms(p.mean)].map((x) => `<td class="n">${escapeHtml(x)}</td>`).join("");

function figures(s: LoadSummaryData): string {
  const p = s.prepare;
  const v = s.revoke;
  const td = (x: string) => `<td>${escapeHtml(x)}</td>`;
  const errors = errorRows(v.errors);
  return `<section><h2>Figures</h2>
<table><thead><tr><th>phase</th><th>count</th><th>time</th><th>rate</th><th>detail</th></tr></thead><tbody>
<tr><td>prepare</td>${td(`${count(p.certificates)} + ${count(p.control)} control`)}${td(seconds(p.ms))}${td(rate(p.perSecond))}${td(`${p.source}, ${count(p.failed)} failed`)}</tr>
<tr><td>revoke</td>${td(`${count(v.acknowledged)} acknowledged of ${count(v.serialsSent)}`)}${td(seconds(v.ms))}${td(rate(v.perSecond))}${td(`${count(v.requests)} requests, ${modeText(s)}`)}</tr>
</tbody></table>
<h3>Latency of revocation requests</h3>
<table><thead><tr><th>n</th>${PCT_HEAD}</tr></thead><tbody><tr><td class="n">${escapeHtml(count(v.latencyMs.count))}</td>${pctCells(v.latencyMs)}</tr></tbody></table>
<h3>Propagation (acknowledgement until published)</h3>
<table><thead><tr><th>channel</th><th>watched</th><th>seen</th><th>not seen</th>${PCT_HEAD}</tr></thead><tbody>
${channels(s)
  .map(([name, c]) => `<tr><td>${name}</td><td class="n">${escapeHtml(count(c.watched))}</td><td class="n">${c.delaysMs.length}</td><td class="n">${c.notSeen.length}</td>${pctCells(c)}</tr>`)
  .join("\n")}
</tbody></table>
<h3>Completeness</h3>
<p class="${s.completeness.lost.length + s.completeness.wronglyRevoked.length + s.completeness.wrongReason.length > 0 || !s.completeness.complete ? "fail" : "pass"}">${escapeHtml(completenessText(s.completeness))}</p>
<h3>Errors (failed serials by class)</h3>
${
  errors.length
    ? `<table><thead><tr><th>class</th><th>serials</th></tr></thead><tbody>${errors.map(([c, n]) => `<tr>${td(c)}<td class="n">${escapeHtml(count(n))}</td></tr>`).join("")}</tbody></table>`
    : "<p>None.</p>"
}
</section>`;
}

function notes(s: LoadSummaryData): string {
  const all = notesOf(s);
  return all.length ? `<section id="notes"><h2>Notes</h2><ul>${all.map((n) => `<li>${escapeHtml(n)}</li>`).join("")}</ul></section>` : "";
}

function gates(s: LoadSummaryData): string {
  if (s.gates.length === 0) return `<section><h2>Gates</h2><p>No gate was set.</p></section>`;
  const rows = s.gates.map(
    (g) => `<tr class="${g.passed ? "pass" : "fail"}"><td>${g.passed ? "PASS" : "FAIL"}</td><td>${escapeHtml(g.gate)}</td><td>${escapeHtml(g.limit)}</td><td>${escapeHtml(g.actual)}</td></tr>`,
  );
  return `<section><h2>Gates</h2><table><thead><tr><th></th><th>gate</th><th>limit</th><th>actual</th></tr></thead><tbody>
${rows.join("\n")}
</tbody></table></section>`;
}

function lists(s: LoadSummaryData): string {
  const c = s.completeness;
  const out: string[] = [];
  const section = <T>(id: string, title: string, items: readonly T[], cells: (x: T) => string[]) => {
    if (items.length === 0) return;
    const { shown, more } = bounded(items);
    const rows = shown.map((x) => `<tr>${cells(x).map((v) => `<td><code>${escapeHtml(v)}</code></td>`).join("")}</tr>`);
    out.push(`<section id="${id}"><h2>${escapeHtml(title)} (${items.length})</h2><table><tbody>
${rows.join("\n")}
</tbody></table>${more ? `<p>${escapeHtml(moreText(more))}</p>` : ""}</section>`);
  };
  section("lost", "Lost: acknowledged, not published", c.lost, (l) => [l.serial, `CRL ${l.crl}`, `OCSP ${l.ocsp}`]);
  section("wrongly-revoked", "Wrongly revoked", c.wronglyRevoked, (serial) => [serial]);
  section("wrong-reason", "Published with the wrong reason", c.wrongReason, (w) => [w.serial, `expected ${w.expected}`, `CRL ${w.crl ?? "-"}`, `OCSP ${w.ocsp ?? "-"}`]);
  for (const [name, ch] of channels(s)) section(`not-seen-${name.toLowerCase()}`, `Not seen on ${name} within the propagation timeout`, ch.notSeen, (serial) => [serial]);
  return out.join("\n");
}

/** What this report adds to the house style (html-page.ts): the verdict, numbers aligned, gate rows, chart height. */
const CSS = `
.warn{color:#a15c00} .verdict{font-size:1.2em}
td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.fail td{background:#fdecea;color:#222} tr.pass td:first-child{color:#1e7d3a;font-weight:600} tr.fail td:first-child{color:#b3261e;font-weight:600}
.charts>div{height:360px}
`;
