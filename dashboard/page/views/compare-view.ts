import { type CheckRow, resultLabel, rowText, verdictText, verdictTone } from "../browser-safe.js";
import { liveCertify } from "../certify-live.js";
import { compareChecks, type SideState } from "../compare-model.js";
import { badge, el, fill, table } from "../dom.js";
import { runHref } from "../router.js";
import { destroyCharts } from "../charts.js";
import { moreToCome, type RunData } from "./view.js";

/**
 * Two certify runs side by side by check ID: `<section id="compare"
 * data-differences=N>`, differing rows (result differs, or one run lacks the
 * check) marked with class `diff` and listed first. A check under way (or
 * not reached yet by a run still going) shows so and is no difference: the
 * rule is compare-model.ts's, the in-flight checks certify-live.ts's, as
 * the check matrix shows them.
 */
export class CompareView {
  readonly root: HTMLElement;
  private readonly heads = el("div", { class: "compare-heads" });
  private readonly count = el("p", { class: "compare-count" });
  private readonly onlyDiffs = el("input", { type: "checkbox", name: "only-differences" });
  private readonly matrix = el("div", { class: "matrix" });
  private last?: { a: RunData; b: RunData };

  constructor(a: string, b: string) {
    this.root = el("section", { id: "compare", "data-run-a": a, "data-run-b": b, "data-differences": 0 });
    this.onlyDiffs.addEventListener("change", () => this.last && this.update(this.last.a, this.last.b));
    this.root.append(
      el("h2", {}, "Compare certify runs"),
      this.heads,
      el("div", { class: "filters" }, this.count, el("label", {}, this.onlyDiffs, " only differences")),
      this.matrix,
    );
  }

  update(a: RunData, b: RunData): void {
    this.last = { a, b };
    const la = liveCertify(a.events, moreToCome(a));
    const lb = liveCertify(b.events, moreToCome(b));
    const ra = la.report;
    const rb = lb.report;
    fill(this.heads, head("A", a, verdictTone(ra), verdictText(ra), ra.ca), head("B", b, verdictTone(rb), verdictText(rb), rb.ca));
    const rows = compareChecks(la, lb);
    const differences = rows.filter((r) => r.differs).length;
    this.root.dataset.differences = String(differences);
    this.count.textContent = `${differences} ${differences === 1 ? "difference" : "differences"} in ${rows.length} checks`;
    const { table: t, body } = table("checks compare", ["ID", "level", "A", "A says", "B", "B says"]);
    for (const r of rows) {
      if (this.onlyDiffs.checked && !r.differs) continue;
      body.appendChild(
        el(
          "tr",
          { "data-check-id": r.id, class: r.differs ? "diff" : undefined },
          el("td", { class: "id", title: r.title }, r.id),
          el("td", {}, r.level),
          el("td", { "data-state": r.aState }, result(r.a, r.aState)),
          el("td", { class: "message" }, r.a && r.aState === "done" ? rowText(r.a) : ""),
          el("td", { "data-state": r.bState }, result(r.b, r.bState)),
          el("td", { class: "message" }, r.b && r.bState === "done" ? rowText(r.b) : ""),
        ),
      );
    }
    fill(this.matrix, t);
  }

  destroy(): void {
    destroyCharts(this.root);
  }
}

function head(side: string, run: RunData, tone: string, verdict: string, ca: string): HTMLElement {
  const s = run.summary;
  return el(
    "div",
    { class: "compare-head", "data-side": side },
    el("h3", {}, `${side}: `, el("a", { href: runHref(run.id) }, s?.name ?? run.id)),
    el("p", {}, moreToCome(run) ? badge("running", "RUNNING") : badge(tone, verdict), " ", ca),
    el("p", { class: "muted" }, `${run.id} · ${run.events.length} events${s?.headline ? ` · ${s.headline}` : ""}`),
  );
}

function result(c: CheckRow | undefined, state: SideState): HTMLElement {
  if (state === "running") return badge("running", "RUNNING");
  if (state === "not yet") return el("span", { class: "muted" }, "not reached yet");
  return c ? badge(c.class, resultLabel(c)) : el("span", { class: "muted" }, "not in this run");
}
