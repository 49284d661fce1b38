import { CLASS_ORDER, type CertifyReport, type CheckRow, CLASS_LABEL, countsText, provenanceFacts, resultLabel, rowText, verdictText, verdictTone } from "../browser-safe.js";
import { liveCertify } from "../certify-live.js";
import { badge, el, fill, rememberOpen, select, table } from "../dom.js";
import { formatDuration, prettyJson } from "../format.js";
import { BaseView, moreToCome, type RunData } from "./view.js";

/**
 * A certify run's check matrix, in the reports' own words and order
 * (failures first: reports/certify-model.ts sorts by class), with filters by
 * level, by class and by text that survive the rebuilds.
 */
export class CertifyView extends BaseView {
  private readonly verdict = el("div", { class: "certify-verdict" });
  private readonly provenance = el("details", { class: "provenance" });
  private readonly count = el("span", { class: "muted" });
  private readonly matrix = el("div", { class: "matrix" });
  private readonly level = select("level", [["", "all levels"], ["MUST", "MUST"], ["SHOULD", "SHOULD"]], "");
  private readonly klass = select("class", [["", "all results"], ...CLASS_ORDER.map((c) => [c, CLASS_LABEL[c]] as const)], "");
  private readonly search = el("input", { type: "search", name: "check-search", placeholder: "search checks", "aria-label": "search checks" });
  private readonly open = new Set<string>();
  private report?: CertifyReport;
  /** Checks started and not finished while the run is live: the model reads them as cut short, the page as running. */
  private inFlight: ReadonlySet<string> = new Set<string>();

  constructor() {
    super(el("div", { class: "certify-view" }));
    const filters = el("div", { class: "filters" }, this.level, this.klass, this.search, this.count);
    for (const control of [this.level, this.klass, this.search]) control.addEventListener("input", () => this.renderMatrix());
    this.provenance.append(el("summary", {}, "provenance"));
    this.root.append(this.verdict, this.provenance, filters, this.matrix);
  }

  update(run: RunData): void {
    const live = liveCertify(run.events, moreToCome(run));
    const { report: r, running } = live;
    this.report = r;
    this.inFlight = live.inFlight;
    const done = r.checks.filter((c) => !this.inFlight.has(c.id)).length;
    fill(
      this.verdict,
      running ? badge("running", "RUNNING") : badge(verdictTone(r), verdictText(r)),
      " ",
      el("span", {}, `${r.ca}: ${running ? `${done} checks done so far` : countsText(r)}`),
    );
    const facts = provenanceFacts(r);
    fill(this.provenance, el("summary", {}, "provenance"), el("dl", {}, ...facts.flatMap((f) => [el("dt", {}, f.label), el("dd", {}, f.value)])));
    this.renderMatrix();
  }

  private renderMatrix(): void {
    const r = this.report;
    if (!r) return;
    const level = this.level.value;
    const klass = this.klass.value;
    const needle = this.search.value.trim().toLowerCase();
    const rows = r.checks.filter(
      (c) =>
        (level === "" || c.level === level) &&
        (klass === "" || c.class === klass) &&
        (needle === "" || [c.id, c.title, c.source, c.message].some((s) => s.toLowerCase().includes(needle))),
    );
    this.count.textContent = `${rows.length} of ${r.checks.length} checks`;
    const { table: t, body } = table("checks", ["ID", "level", "result", "source", "message", "evidence"]);
    for (const c of rows) body.appendChild(this.row(c));
    fill(this.matrix, t);
  }

  private row(c: CheckRow): HTMLTableRowElement {
    if (this.inFlight.has(c.id)) {
      return el(
        "tr",
        { "data-check-id": c.id, "data-class": "running", "data-level": c.level },
        el("td", { class: "id", title: c.title }, c.id),
        el("td", {}, c.level),
        el("td", {}, badge("running", "RUNNING")),
        el("td", {}, c.source),
        el("td", { class: "message" }, el("div", {}, c.title)),
        el("td", {}),
      );
    }
    return el(
      "tr",
      { "data-check-id": c.id, "data-class": c.class, "data-level": c.level },
      el("td", { class: "id", title: c.title }, c.id),
      el("td", {}, c.level),
      el("td", {}, badge(c.class, resultLabel(c))),
      el("td", {}, c.source),
      el("td", { class: "message" }, el("div", {}, c.title), el("div", { class: "muted" }, rowText(c)), c.reproduce ? el("code", { class: "reproduce" }, c.reproduce) : undefined),
      el("td", {}, evidence(c, this.open)),
    );
  }
}

function evidence(c: CheckRow, open: Set<string>): HTMLElement | string {
  const produced = c.producedBy ?? [];
  if (Object.keys(c.evidence).length === 0 && produced.length === 0) return c.durationMs !== undefined ? formatDuration(c.durationMs) : "";
  const body = { ...c.evidence, ...(produced.length ? { producedBy: produced } : {}) };
  return rememberOpen(
    el("details", {}, el("summary", {}, c.durationMs !== undefined ? `evidence · ${formatDuration(c.durationMs)}` : "evidence"), el("pre", {}, prettyJson(body))),
    c.id,
    open,
  );
}
