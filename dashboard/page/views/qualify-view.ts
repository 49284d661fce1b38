import { buildQualificationReport, type QualificationReport } from "../browser-safe.js";
import { chartBox, drawChart } from "../charts.js";
import { badge, el, fill, table } from "../dom.js";
import { formatDuration, formatNumber } from "../format.js";
import { histogram } from "../histogram.js";
import { BaseView, moreToCome, type RunData } from "./view.js";

/** A reader qualification: the reader, its criteria, and a latency histogram per APDU class. */
export class QualifyView extends BaseView {
  private readonly head = el("div", { class: "qualify-head" });
  private readonly criteria = el("div", { class: "criteria" });
  private readonly latency = el("div", { class: "latency" });
  private readonly charts = el("div", { class: "histograms" });
  private readonly canvases = new Map<string, HTMLCanvasElement>();

  constructor() {
    super(el("div", { class: "qualify-view" }));
    this.root.append(this.head, el("h3", {}, "Criteria"), this.criteria, el("h3", {}, "Latency per APDU class"), this.latency, this.charts);
  }

  update(run: RunData): void {
    const r = buildQualificationReport(run.events);
    const running = moreToCome(run);
    fill(
      this.head,
      el("p", {}, running ? badge("running", "RUNNING") : badge(r.outcome, r.outcome.toUpperCase()), " reader ", el("strong", {}, r.reader)),
      el(
        "p",
        { class: "muted" },
        [r.atr ? `ATR ${r.atr}` : undefined, r.atrInfo?.summary, r.protocol, r.iterations ? `${r.iterations} iterations` : undefined, throughputText(r)].filter(Boolean).join(" · "),
      ),
    );
    const { table: ct, body: cb } = table("criteria-table", ["criterion", "title", "outcome", "message", "time"]);
    for (const c of r.criteria) {
      cb.appendChild(
        el(
          "tr",
          { "data-criterion": c.id, "data-outcome": c.outcome },
          el("td", { class: "id" }, c.id),
          el("td", {}, c.title),
          el("td", {}, badge(c.outcome)),
          el("td", { class: "message" }, c.message),
          el("td", { class: "num" }, formatDuration(c.durationMs)),
        ),
      );
    }
    fill(this.criteria, r.criteria.length ? ct : el("p", { class: "muted" }, "no criterion judged yet"));
    this.renderLatency(r);
  }

  private renderLatency(r: QualificationReport): void {
    const classes = Object.keys(r.samples);
    const { table: lt, body: lb } = table("latency-table", ["class", "n", "min", "mean", "p50", "p95", "p99", "max"]);
    for (const cls of classes) {
      const l = r.latency[cls];
      if (!l) continue;
      const ms = (v: number) => `${formatNumber(v, 3)} ms`;
      lb.appendChild(el("tr", { "data-class": cls }, el("td", {}, cls), el("td", { class: "num" }, l.count), ...[l.minMs, l.meanMs, l.p50Ms, l.p95Ms, l.p99Ms, l.maxMs].map((v) => el("td", { class: "num" }, ms(v)))));
    }
    fill(this.latency, classes.length ? lt : el("p", { class: "muted" }, "no latency measured yet"));
    for (const cls of classes) {
      let canvas = this.canvases.get(cls);
      if (!canvas) {
        const box = chartBox(`latency-${cls}`);
        canvas = box.canvas;
        this.canvases.set(cls, canvas);
        this.charts.appendChild(el("div", { class: "histogram", "data-class": cls }, el("h4", {}, cls), box.box));
      }
      const h = histogram(r.samples[cls] ?? []);
      drawChart(canvas, {
        type: "bar",
        title: `${cls}: round trips (ms)`,
        labels: h.edges.map((e) => (h.width === 0 ? formatNumber(e, 3) : `${formatNumber(e, 2)}–${formatNumber(e + h.width, 2)}`)),
        datasets: [{ label: "round trips", data: h.counts }],
        xTitle: "ms",
        yTitle: "count",
      });
    }
  }
}

function throughputText(r: QualificationReport): string | undefined {
  const t = r.throughput;
  return t ? `${formatNumber(t.apdusPerSecond, 1)} APDUs/s (${t.apdus} in ${formatNumber(t.seconds, 2)} s)` : undefined;
}
