import type { RunSummary } from "../../protocol.js";
import { badge, el, fill, select, table } from "../dom.js";
import { formatDuration, formatTime } from "../format.js";
import { compareHref, runHref } from "../router.js";

const VERDICTS = ["running", "pass", "fail", "incomplete"] as const;

/**
 * The run list, live: kind, name, target, start, duration, verdict and
 * headline per run (`<tr data-run-id data-verdict>`), newest first, with a
 * text search and filters by kind and verdict; two certify runs picked with
 * their checkboxes open the compare view.
 */
export class RunsView {
  readonly root = el("section", { id: "runs" });
  private readonly search = el("input", { type: "search", name: "run-search", placeholder: "search runs", "aria-label": "search runs" });
  private kind = select("kind", [["", "all kinds"]], "");
  private readonly verdict = select("verdict", [["", "all verdicts"], ...VERDICTS.map((v) => [v, v] as const)], "");
  private readonly compare = el("button", { type: "button", id: "compare-button", disabled: true }, "compare");
  private readonly count = el("span", { class: "muted" });
  private readonly list = el("div", { class: "runs-table" });
  /** Picked certify runs, in the order picked: the first is A. */
  private readonly picked: string[] = [];
  private runs: RunSummary[] = [];
  private kinds = "";

  constructor() {
    for (const control of [this.search, this.verdict]) control.addEventListener("input", () => this.render());
    this.kind.addEventListener("input", () => this.render());
    this.compare.addEventListener("click", () => {
      if (this.picked.length === 2) location.hash = compareHref(this.picked[0], this.picked[1]);
    });
    this.root.append(el("h2", {}, "Runs"), el("div", { class: "filters" }, this.search, this.kind, this.verdict, this.compare, this.count), this.list);
  }

  update(runs: RunSummary[]): void {
    this.runs = runs;
    this.refreshKinds();
    this.render();
  }

  destroy(): void {}

  /** The kind filter offers the kinds present, keeping the user's choice. */
  private refreshKinds(): void {
    const kinds = [...new Set(this.runs.map((r) => r.kind))].sort();
    if (kinds.join("\n") === this.kinds) return;
    this.kinds = kinds.join("\n");
    const next = select("kind", [["", "all kinds"], ...kinds.map((k) => [k, k] as const)], this.kind.value);
    next.addEventListener("input", () => this.render());
    this.kind.replaceWith(next);
    this.kind = next;
  }

  private render(): void {
    const needle = this.search.value.trim().toLowerCase();
    const kind = this.kind.value;
    const verdict = this.verdict.value;
    // a picked run that is gone from the list is no longer picked
    for (let i = this.picked.length - 1; i >= 0; i--) if (!this.runs.some((r) => r.id === this.picked[i])) this.picked.splice(i, 1);
    const shown = this.runs.filter(
      (r) =>
        (kind === "" || r.kind === kind) &&
        (verdict === "" || r.verdict === verdict) &&
        (needle === "" || [r.id, r.kind, r.name, r.target ?? "", r.headline, r.verdict].some((s) => s.toLowerCase().includes(needle))),
    );
    this.count.textContent = this.runs.length === 0 ? "" : `${shown.length} of ${this.runs.length} runs`;
    this.compare.disabled = this.picked.length !== 2;
    this.compare.title = this.picked.length === 2 ? "compare the two certify runs picked" : "pick two certify runs";
    if (this.runs.length === 0) {
      fill(this.list, el("p", { class: "empty" }, "No runs yet. Runs appear here as drivers publish them (--dashboard URL) and as run logs appear under --runs."));
      return;
    }
    const { table: t, body } = table("runs", ["", "kind", "name", "target", "start", "duration", "verdict", "headline"]);
    for (const r of shown) body.appendChild(this.row(r));
    fill(this.list, t);
  }

  private row(r: RunSummary): HTMLTableRowElement {
    const pick = r.kind === "certify" ? this.checkbox(r) : undefined;
    const tr = el(
      "tr",
      { "data-run-id": r.id, "data-verdict": r.verdict, "data-kind": r.kind, class: "run-row" },
      el("td", {}, pick),
      el("td", {}, r.kind),
      el("td", {}, el("a", { href: runHref(r.id), title: r.id }, r.name || r.id)),
      el("td", {}, r.target ?? ""),
      el("td", { title: r.startedAt }, formatTime(r.startedAt)),
      el("td", { class: "num" }, formatDuration(r.durationMs)),
      el("td", {}, badge(r.verdict)),
      el("td", { class: "headline" }, r.headline),
    );
    // the whole row is the link; the checkbox and the link itself keep their own clicks
    tr.addEventListener("click", (e) => {
      const target = e.target as Element;
      if (target.closest("a, input, label")) return;
      location.hash = runHref(r.id);
    });
    return tr;
  }

  private checkbox(r: RunSummary): HTMLLabelElement {
    const box = el("input", { type: "checkbox", name: "pick", value: r.id, "aria-label": `pick ${r.name} to compare` });
    box.checked = this.picked.includes(r.id);
    box.addEventListener("change", () => {
      const at = this.picked.indexOf(r.id);
      if (box.checked && at < 0) this.picked.push(r.id);
      if (!box.checked && at >= 0) this.picked.splice(at, 1);
      this.compare.disabled = this.picked.length !== 2;
      this.compare.title = this.picked.length === 2 ? "compare the two certify runs picked" : "pick two certify runs";
    });
    return el("label", { class: "pick" }, box);
  }
}
