import { el, fill, table } from "../dom.js";
import { compactJson } from "../format.js";
import { BaseView, type RunData } from "./view.js";

/** Past this many rows the table shows the latest ones: a long run would otherwise hold the browser up on every rebuild. */
const MAX_ROWS = 2000;

/** Any run of a kind the page has no view for: its events as they are, one row each. */
export class RawView extends BaseView {
  private readonly note = el("p", { class: "muted" });
  private readonly rows = el("div", { class: "raw" });

  constructor() {
    super(el("div", { class: "raw-view" }));
    this.root.append(this.note, this.rows);
  }

  update(run: RunData): void {
    const first = Math.max(0, run.events.length - MAX_ROWS);
    this.note.textContent = first > 0 ? `the latest ${MAX_ROWS} of ${run.events.length} events` : `${run.events.length} events`;
    const { table: t, body } = table("events", ["#", "time", "type", "data"]);
    for (let i = first; i < run.events.length; i++) {
      const e = run.events[i];
      body.appendChild(el("tr", { "data-type": e.type }, el("td", { class: "num" }, i), el("td", {}, e.time), el("td", {}, e.type), el("td", { class: "json" }, compactJson(e.data, 400))));
    }
    fill(this.rows, t);
  }
}
