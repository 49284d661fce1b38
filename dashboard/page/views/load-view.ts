import { chartBox, drawChart } from "../charts.js";
import { el, fill, table } from "../dom.js";
import { formatNumber } from "../format.js";
import { delaySummary, latest, loadSeries, type LoadSeries } from "../load-model.js";
import { BaseView, type RunData } from "./view.js";

/**
 * A bulk-revocation load run, live: throughput and latency p50/p99 over time,
 * and each sampled serial's propagation delay to OCSP and to the CRL, from
 * the metric.sample events core/load-events.ts names.
 */
export class LoadView extends BaseView {
  private readonly figures = el("div", { class: "load-figures" });
  private readonly throughput = chartBox("throughput");
  private readonly latency = chartBox("latency");
  private readonly propagation = chartBox("propagation");

  constructor() {
    super(el("div", { class: "load-view" }));
    this.root.append(this.figures, el("div", { class: "load-charts" }, this.throughput.box, this.latency.box, this.propagation.box));
  }

  update(run: RunData): void {
    const s = loadSeries(run.events);
    this.renderFigures(s);
    const phases = [...s.throughput.entries()];
    drawChart(this.throughput.canvas, {
      type: "line",
      title: "throughput",
      datasets: phases.length ? phases.map(([phase, points]) => ({ label: phase || "revocations/s", data: points })) : [{ label: "revocations/s", data: [] }],
      xTitle: "s since start",
      yTitle: "revocations/s",
    });
    drawChart(this.latency.canvas, {
      type: "line",
      title: "latency",
      datasets: [
        { label: "p50", data: s.p50 },
        { label: "p99", data: s.p99 },
      ],
      xTitle: "s since start",
      yTitle: "ms",
    });
    drawChart(this.propagation.canvas, {
      type: "line",
      title: "propagation delay after revocation",
      datasets: [
        { label: "OCSP", data: s.ocsp, dotsOnly: true },
        { label: "CRL", data: s.crl, dotsOnly: true },
      ],
      xTitle: "s since start",
      yTitle: "ms",
    });
  }

  private renderFigures(s: LoadSeries): void {
    const ms = (v: number) => (Number.isFinite(v) ? `${formatNumber(v, 1)} ms` : "–");
    const now = [...s.throughput.values()].map(latest).filter(Number.isFinite);
    const errors = [...s.errors.entries()];
    const { table: t, body } = table("load-table", ["figure", "value"]);
    const rows: Array<[string, string]> = [
      ["throughput (latest)", now.length ? `${formatNumber(now.reduce((a, b) => a + b, 0), 1)} /s` : "–"],
      ["latency p50 (latest)", ms(latest(s.p50))],
      ["latency p99 (latest)", ms(latest(s.p99))],
    ];
    for (const [name, points] of [["OCSP", s.ocsp], ["CRL", s.crl]] as const) {
      const d = delaySummary(points);
      rows.push([`propagation to ${name}`, d.count ? `p50 ${ms(d.p50)}, p99 ${ms(d.p99)}, max ${ms(d.max)} (${d.count} serials)` : "–"]);
    }
    rows.push(["errors", errors.length ? errors.map(([k, v]) => `${k}: ${v}`).join(", ") : "0"]);
    for (const [k, v] of rows) body.appendChild(el("tr", { "data-figure": k }, el("th", { scope: "row" }, k), el("td", {}, v)));
    fill(this.figures, t);
  }
}
