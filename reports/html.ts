import { escapeHtml } from "./escape.js";
import { htmlPage } from "./html-page.js";
import { INS_NAMES, failureLine, apduPercentile, type Report, type RunReport } from "./model.js";

/**
 * A single self-contained HTML file: styles, data and chart.js are inlined,
 * so it opens from a CI artifact or a mail attachment with no network.
 */
export function toHtml(report: Report, options: { title?: string } = {}): string {
  const title = options.title ?? "cardloop lifecycle report";
  const t = report.totals;
  const chartData = {
    labels: report.runs.map((r) => r.name),
    ins: insSeries(report.runs),
    p50: report.runs.map((r) => Math.round(apduPercentile(r.apdu.micros, 50))),
    p95: report.runs.map((r) => Math.round(apduPercentile(r.apdu.micros, 95))),
  };
  return htmlPage({
    title,
    css: CSS,
    data: chartData,
    body: `<header>
  <h1>${escapeHtml(title)}</h1>
  <p class="${t.failed === 0 ? "pass" : "fail"}"><strong>${t.passed}/${t.runs}</strong> scenarios passed ·
  ${t.steps} checked steps (${t.stepsFailed} failed) · ${t.apdus} APDU exchanges</p>
</header>
<section>
  <h2>APDU exchanges per scenario</h2>
  <div class="charts"><div><canvas id="apduCount"></canvas></div><div><canvas id="apduLatency"></canvas></div></div>
  ${apduTable(report.runs)}
</section>
${report.runs.map(runSection).join("\n")}`,
    charts: `const palette = ["#3867d6","#20bf6b","#f7b731","#eb3b5a","#8854d0","#0fb9b1","#fa8231","#4b6584","#a5b1c2"];
new Chart(document.getElementById("apduCount"), {
  type: "bar",
  data: { labels: DATA.labels, datasets: DATA.ins.map((s, i) => ({ label: s.label, data: s.data, backgroundColor: palette[i % palette.length] })) },
  options: { animation: false, maintainAspectRatio: false, plugins: { title: { display: true, text: "APDU exchanges by instruction" }, legend: { position: "bottom", labels: { boxWidth: 12 } } }, scales: { x: { stacked: true }, y: { stacked: true } } },
});
new Chart(document.getElementById("apduLatency"), {
  type: "bar",
  data: { labels: DATA.labels, datasets: [
    { label: "p50 µs", data: DATA.p50, backgroundColor: "#3867d6" },
    { label: "p95 µs", data: DATA.p95, backgroundColor: "#eb3b5a" } ] },
  options: { animation: false, maintainAspectRatio: false, plugins: { title: { display: true, text: "APDU latency (wall clock, µs)" }, legend: { position: "bottom" } } },
});`,
  });
}

function runSection(run: RunReport): string {
  const ok = run.outcome === "pass";
  return `<section class="run">
  <h2><span class="badge ${ok ? "pass" : "fail"}">${ok ? "PASS" : run.outcome.toUpperCase()}</span> ${escapeHtml(run.name)}</h2>
  <p class="meta">${run.file ? `<code>${escapeHtml(run.file)}</code> · ` : ""}seed ${escapeHtml(String(run.seed ?? "-"))} ·
  virtual time ${escapeHtml(run.startTime)} → ${escapeHtml(run.endTime)} · ${run.apdu.count} APDUs${run.wallMs !== undefined ? ` · ${run.wallMs.toFixed(0)} ms wall` : ""}</p>
  ${timeline(run)}
  <table class="steps">
    <thead><tr><th>#</th><th>virtual time</th><th>step</th><th>outcome</th><th>APDUs</th><th>ms</th><th>detail</th></tr></thead>
    <tbody>
${run.steps
  .map(
    (s) => `    <tr class="${s.outcome}"><td>${s.index + 1}</td><td>${escapeHtml(s.time.replace(".000Z", "Z"))}</td><td>${escapeHtml(s.action)}${s.label ? `<br><small>${escapeHtml(s.label)}</small>` : ""}</td>
      <td>${s.outcome}</td><td>${s.apdus}</td><td>${s.durationMs === undefined ? "" : s.durationMs.toFixed(1)}</td>
      <td>${s.outcome === "pass" ? `<code>${escapeHtml(JSON.stringify(s.actual ?? ""))}</code>` : `${escapeHtml(failureLine(s))}<br>expected <code>${escapeHtml(JSON.stringify(s.expected ?? null))}</code><br>actual <code>${escapeHtml(JSON.stringify(s.actual ?? null))}</code>`}</td></tr>`,
  )
  .join("\n")}
    </tbody>
  </table>
</section>`;
}

/** One lane per card: its lifecycle events placed on the run's virtual time axis (inline SVG). */
function timeline(run: RunReport): string {
  const cards = Object.entries(run.cards);
  if (cards.length === 0) return "";
  const t0 = Date.parse(run.startTime);
  const span = Math.max(1, Date.parse(run.endTime) - t0);
  const width = 900;
  const left = 140;
  const lane = 64;
  const height = cards.length * lane + 24;
  const x = (iso: string) => left + ((Date.parse(iso) - t0) / span) * (width - left - 20);
  const parts: string[] = [];
  cards.forEach(([card, events], i) => {
    const y = 20 + i * lane;
    parts.push(`<text x="4" y="${y + 4}" class="lane">${escapeHtml(card)}</text>`);
    parts.push(`<line x1="${left}" y1="${y}" x2="${width - 20}" y2="${y}" class="axis"/>`);
    // Labels of nearby events (lost, then revoked two hours later) stack instead of overprinting.
    const levels: number[] = [];
    events.forEach((e) => {
      const px = x(e.time);
      const cx = px.toFixed(1);
      let k = levels.findIndex((last) => px - last > 56);
      if (k === -1) k = levels.length;
      levels[k] = px;
      parts.push(
        `<g><title>${escapeHtml(`${e.time} ${e.state}${e.detail ? `: ${e.detail}` : ""}`)}</title><circle cx="${cx}" cy="${y}" r="6" class="st-${escapeHtml(e.state)}"/>` +
          `<text x="${cx}" y="${y + 18 + k * 11}" class="ev">${escapeHtml(e.state)}</text></g>`,
      );
    });
  });
  return `<figure class="timeline"><figcaption>Card lifecycle (virtual time ${escapeHtml(run.startTime.slice(0, 10))} → ${escapeHtml(run.endTime.slice(0, 10))})</figcaption>
  <svg viewBox="0 0 ${width} ${height}" width="100%" role="img">${parts.join("")}</svg></figure>`;
}

function apduTable(runs: RunReport[]): string {
  return `<table class="apdu"><thead><tr><th>scenario</th><th>APDUs</th><th>p50 µs</th><th>p95 µs</th><th>max µs</th><th>status words</th></tr></thead><tbody>
${runs
  .map(
    (r) =>
      `<tr><td>${escapeHtml(r.name)}</td><td>${r.apdu.count}</td><td>${Math.round(apduPercentile(r.apdu.micros, 50))}</td><td>${Math.round(apduPercentile(r.apdu.micros, 95))}</td><td>${Math.round(Math.max(0, ...r.apdu.micros))}</td><td>${escapeHtml(
        Object.entries(r.apdu.bySw)
          .map(([sw, n]) => `${sw}×${n}`)
          .join(" "),
      )}</td></tr>`,
  )
  .join("\n")}
</tbody></table>`;
}

function insSeries(runs: RunReport[]): { label: string; data: number[] }[] {
  const all = [...new Set(runs.flatMap((r) => Object.keys(r.apdu.byIns)))].sort();
  return all.map((ins) => ({ label: `${ins} ${INS_NAMES[ins] ?? ""}`.trim(), data: runs.map((r) => r.apdu.byIns[ins] ?? 0) }));
}

/** What this report adds to the house style (html-page.ts): badges, failed rows, chart height, the card timelines. */
const CSS = `
.badge{font-size:.7em;padding:.15em .5em;border-radius:3px;color:#fff;vertical-align:middle}
.badge.pass{background:#1e7d3a} .badge.fail{background:#b3261e}
tr.fail td,tr.error td{background:#fdecea} .charts>div{height:420px}
.timeline svg{background:#fafafa;border:1px solid #eee} .axis{stroke:#999;stroke-width:2}
.lane{font-size:12px;font-weight:600} .ev{font-size:10px;text-anchor:middle}
circle{fill:#4b6584} .st-issued,.st-renewed,.st-found,.st-unblocked{fill:#20bf6b} .st-revoked,.st-blocked,.st-expired{fill:#eb3b5a} .st-lost{fill:#f7b731}
`;
