import { buildReport, failureLine, type RunReport, type StepReport } from "../browser-safe.js";
import { shortHex } from "../apdu-decode.js";
import { chartBox, drawChart } from "../charts.js";
import { append, badge, el, fill, rememberOpen, table, type Child } from "../dom.js";
import { formatDuration, formatNumber, formatOffset, formatVirtual, prettyJson } from "../format.js";
import { scenarioExchanges, type Exchange, type ScenarioExchanges } from "../scenario-model.js";
import { BaseView, moreToCome, type RunData } from "./view.js";

/**
 * A scenario run (`cardloop run`, `cardloop demo`: one or more scenarios in
 * one run log): the failing expectations first, then per scenario its steps
 * on a virtual-time line, each step's APDU exchanges decoded, and a chart of
 * APDU time per instruction.
 */
export class ScenarioView extends BaseView {
  private readonly failures = el("section", { class: "failures", hidden: true });
  private readonly overview = el("div", { class: "overview" });
  private readonly list = el("div", { class: "scenarios" });
  private readonly sections: ScenarioSection[] = [];
  private readonly open = new Set<string>();

  constructor() {
    super(el("div", { class: "scenario-view" }));
    this.root.append(this.failures, this.overview, this.list);
  }

  update(run: RunData): void {
    const report = buildReport(run.events);
    const exchanges = scenarioExchanges(run.events);
    // once the dashboard says the run is over, a scenario without its run.finished was cut short, not running
    if (!moreToCome(run)) for (const x of exchanges) x.finished = true;
    this.renderFailures(report.runs);
    this.renderOverview(report.runs, exchanges);
    report.runs.forEach((r, i) => {
      let section = this.sections[i];
      if (!section) {
        section = new ScenarioSection(i, this.open);
        this.sections.push(section);
        this.list.appendChild(section.root);
      }
      section.update(r, exchanges[i] ?? emptyExchanges());
    });
  }

  private renderFailures(runs: readonly RunReport[]): void {
    const items: HTMLElement[] = [];
    runs.forEach((r, i) => {
      for (const step of r.steps.filter(isFailure)) items.push(expectation(r, step, i));
      if (r.error) items.push(el("div", { class: "expectation" }, el("p", { class: "where" }, `${r.name}: `, r.error)));
    });
    this.failures.hidden = items.length === 0;
    fill(this.failures, el("h2", {}, items.length === 1 ? "Failing expectation" : "Failing expectations"), ...items);
  }

  private renderOverview(runs: readonly RunReport[], exchanges: readonly ScenarioExchanges[]): void {
    const { table: t, body } = table("overview-table", ["scenario", "outcome", "steps", "failed", "APDUs", "virtual time"]);
    runs.forEach((r, i) => {
      const outcome = scenarioOutcome(r, exchanges[i]);
      const go = el("button", { type: "button", class: "link" }, r.name);
      go.addEventListener("click", () => this.sections[i]?.root.scrollIntoView({ block: "start" }));
      body.appendChild(
        el(
          "tr",
          { "data-outcome": outcome },
          el("td", {}, go),
          el("td", {}, badge(outcome)),
          el("td", { class: "num" }, r.steps.length),
          el("td", { class: "num" }, r.steps.filter(isFailure).length),
          el("td", { class: "num" }, r.apdu.count),
          el("td", {}, formatOffset(span(r))),
        ),
      );
    });
    fill(this.overview, t);
  }
}

class ScenarioSection {
  readonly root: HTMLElement;
  private readonly head = el("div", { class: "scenario-head" });
  private readonly failure = el("div", { class: "scenario-failure" });
  private readonly timeline = el("div", { class: "timeline", "aria-hidden": "true" });
  private readonly steps = el("ol", { class: "steps" });
  private readonly canvas: HTMLCanvasElement;
  private signature = "";

  constructor(
    private readonly index: number,
    private readonly open: Set<string>,
  ) {
    const chart = chartBox("apdu-time");
    this.canvas = chart.canvas;
    this.root = el("section", { class: "scenario", "data-scenario": index }, this.head, this.failure, this.timeline, this.steps, chart.box);
  }

  update(r: RunReport, x: ScenarioExchanges): void {
    const outcome = scenarioOutcome(r, x);
    // a finished scenario does not change: the rebuilds while later ones run leave it be
    const signature = `${r.steps.length}|${outcome}|${r.apdu.count}|${r.endTime}|${x.current?.exchanges.length ?? -1}`;
    if (signature === this.signature) return;
    this.signature = signature;
    this.root.dataset.outcome = outcome;
    fill(
      this.head,
      el("h3", {}, r.name, " ", badge(outcome)),
      el(
        "p",
        { class: "meta" },
        [r.file, r.seed !== undefined ? `seed ${r.seed}` : undefined, `${r.steps.length} steps`, `${r.apdu.count} APDUs`, `virtual ${formatVirtual(r.startTime)} → ${formatVirtual(r.endTime)}`]
          .filter(Boolean)
          .join(" · "),
      ),
    );
    const failed = r.steps.find(isFailure);
    fill(this.failure, failed ? expectation(r, failed, this.index) : undefined);
    this.renderTimeline(r);
    this.renderSteps(r, x);
    const names = [...x.byInstruction.keys()];
    drawChart(this.canvas, {
      type: "bar",
      title: "APDU time per instruction",
      labels: names,
      datasets: [{ label: "total ms", data: names.map((n) => (x.byInstruction.get(n)?.micros ?? 0) / 1000) }],
      yTitle: "ms",
    });
  }

  private renderTimeline(r: RunReport): void {
    const start = Date.parse(r.startTime);
    const total = span(r);
    const ticks = r.steps.map((s, k) => {
      const at = Date.parse(s.time) - start;
      const tick = el("span", { class: "tick", "data-outcome": s.outcome, title: `#${k + 1} ${s.action}: ${s.outcome} at ${formatOffset(at)}` });
      // CSSOM, not a style attribute: the CSP allows the former only
      tick.style.left = `${total > 0 ? (100 * at) / total : (100 * (k + 0.5)) / Math.max(1, r.steps.length)}%`;
      return tick;
    });
    fill(this.timeline, el("span", { class: "edge start" }, "+0"), ...ticks, el("span", { class: "edge end" }, formatOffset(total)));
  }

  private renderSteps(r: RunReport, x: ScenarioExchanges): void {
    const start = Date.parse(r.startTime);
    const items = r.steps.map((s, k) => this.step(s, k, x.steps[k] ?? [], Date.parse(s.time) - start));
    if (x.current) {
      const c = x.current;
      items.push(
        el(
          "li",
          { class: "step", "data-outcome": "running" },
          el("div", { class: "step-line" }, el("span", { class: "step-name" }, `#${c.index + 1} ${c.action}${c.label ? ` “${c.label}”` : ""}`), badge("running"), el("span", { class: "count" }, `${c.exchanges.length} APDUs`)),
        ),
      );
    }
    fill(this.steps, ...items);
  }

  private step(s: StepReport, k: number, exchanges: readonly Exchange[], offsetMs: number): HTMLLIElement {
    const details = el(
      "details",
      {},
      el(
        "summary",
        { class: "step-line" },
        el("span", { class: "vtime", title: s.time }, formatVirtual(s.time)),
        el("span", { class: "offset" }, formatOffset(offsetMs)),
        el("span", { class: "step-name" }, `#${s.index + 1} ${s.action}${s.label ? ` “${s.label}”` : ""}${s.line ? ` (line ${s.line})` : ""}`),
        badge(s.outcome),
        el("span", { class: "count" }, s.durationMs !== undefined ? formatDuration(s.durationMs) : ""),
        el("span", { class: "count" }, `${exchanges.length} APDUs`),
      ),
    );
    // the body is built when first opened: a demo holds hundreds of exchanges
    let built = false;
    const build = () => {
      if (built || !details.open) return;
      built = true;
      append(details, ...stepBody(s, exchanges));
    };
    details.addEventListener("toggle", build);
    rememberOpen(details, `${this.index}:${k}`, this.open);
    build();
    return el("li", { class: "step", "data-outcome": s.outcome, "data-step": k }, details);
  }
}

function stepBody(s: StepReport, exchanges: readonly Exchange[]): Child[] {
  return [
    s.message ? el("p", { class: "message" }, s.message) : undefined,
    s.expected !== undefined || s.actual !== undefined ? expectedActual(s) : undefined,
    s.evidence && Object.keys(s.evidence).length > 0 ? el("div", { class: "evidence" }, el("h4", {}, "evidence"), el("pre", {}, prettyJson(s.evidence))) : undefined,
    exchanges.length > 0 ? exchangeTable(exchanges) : el("p", { class: "muted" }, "no APDU exchanges in this step"),
  ];
}

export function exchangeTable(exchanges: readonly Exchange[]): HTMLTableElement {
  const { table: t, body } = table("apdus", ["#", "instruction", "header", "command data", "Le", "response data", "SW", "meaning", "µs"]);
  for (const x of exchanges) {
    body.appendChild(
      el(
        "tr",
        { "data-sw": x.sw, class: x.ok ? undefined : "sw-error" },
        el("td", { class: "num" }, x.at),
        el("td", { title: `INS ${x.ins}` }, x.insName),
        el("td", { class: "hex" }, x.header),
        el("td", { class: "hex", title: x.data.length > 64 ? x.data : undefined }, x.masked ? `${shortHex(x.data)} (masked)` : shortHex(x.data)),
        el("td", { class: "num" }, x.le ?? ""),
        el("td", { class: "hex", title: x.responseData.length > 64 ? x.responseData : undefined }, shortHex(x.responseData)),
        el("td", { class: "hex" }, x.sw),
        el("td", {}, x.swMeaning),
        el("td", { class: "num" }, x.micros !== undefined ? formatNumber(x.micros, 0) : ""),
      ),
    );
  }
  return t;
}

function expectation(r: RunReport, step: StepReport, index: number): HTMLElement {
  return el("div", { class: "expectation", "data-scenario": index }, el("p", { class: "where" }, `${r.name}: ${failureLine(step)}`), expectedActual(step));
}

function expectedActual(s: StepReport): HTMLElement {
  return el(
    "div",
    { class: "expected-actual" },
    el("div", {}, el("h4", {}, "expected"), el("pre", {}, prettyJson(s.expected))),
    el("div", {}, el("h4", {}, "actual"), el("pre", {}, prettyJson(s.actual))),
  );
}

const isFailure = (s: StepReport): boolean => s.outcome === "fail" || s.outcome === "error";

/** A scenario still under way reads "running", not the "error" the model gives a run without its run.finished. */
function scenarioOutcome(r: RunReport, x: ScenarioExchanges | undefined): string {
  return x && !x.finished && !r.steps.some(isFailure) ? "running" : r.outcome;
}

function span(r: RunReport): number {
  const ms = Date.parse(r.endTime) - Date.parse(r.startTime);
  return Number.isFinite(ms) ? Math.max(0, ms) : 0;
}

function emptyExchanges(): ScenarioExchanges {
  return { finished: false, steps: [], outside: [], byInstruction: new Map() };
}
