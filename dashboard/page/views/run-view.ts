import type { WatchedRun } from "../live-runs.js";
import { badge, el, fill } from "../dom.js";
import { formatDuration, formatTime } from "../format.js";
import { CertifyView } from "./certify-view.js";
import { LoadView } from "./load-view.js";
import { QualifyView } from "./qualify-view.js";
import { RawView } from "./raw-view.js";
import { ScenarioView } from "./scenario-view.js";
import type { KindView, RunData } from "./view.js";

/**
 * One run: `<section id="run" data-run-id data-kind data-verdict data-events>`
 * (data-events: the events the page holds; data-verdict: the summary's), a
 * header with the summary's headline in `[data-headline]`, and the view of
 * its kind below.
 */
export class RunView {
  readonly root: HTMLElement;
  private readonly header = el("header", { class: "run-head" });
  private readonly problem = el("div", { class: "problem", hidden: true });
  private readonly body = el("div", { class: "run-body" });
  private kind?: string;
  private view?: KindView;
  /** The kind's view failed on this run's events once: the raw table from then on, not a failing view rebuilt 4 times a second. */
  private failed = false;
  /** The run's `restarts` the view was built on: when the page lets go of events (resync, a rewritten log), the view starts over. */
  private restarts = 0;

  constructor(private readonly id: string) {
    this.root = el("section", { id: "run", "data-run-id": id, "data-kind": "", "data-verdict": "", "data-events": 0 }, this.header, this.problem, this.body);
  }

  update(w: WatchedRun | undefined): void {
    const events = w?.events.events ?? [];
    const summary = w?.summary;
    const kind = summary?.kind ?? kindOf(events);
    if ((w?.restarts ?? 0) !== this.restarts) this.startOver(w?.restarts ?? 0);
    this.root.dataset.events = String(events.length);
    this.root.dataset.verdict = summary?.verdict ?? "";
    this.root.dataset.kind = kind ?? "";
    this.renderHeader(w);
    if (kind === undefined) {
      fill(this.body, el("p", { class: "muted" }, w?.error ? "" : "waiting for the run's events…"));
      return;
    }
    const chosen = this.failed ? "raw" : kind;
    if (chosen !== this.kind || !this.view) {
      this.view?.destroy();
      this.kind = chosen;
      this.view = viewFor(chosen);
      fill(this.body, this.view.root);
    }
    const run: RunData = { id: this.id, summary, events };
    try {
      this.view.update(run);
    } catch (err) {
      // a run log the models cannot read is still shown: its events, as they are
      this.failed = true;
      this.problem.hidden = false;
      fill(this.problem, `the ${kind} view cannot read this run (${err instanceof Error ? err.message : String(err)}): its events are shown as they are`);
      this.view.destroy();
      this.kind = "raw";
      this.view = new RawView();
      fill(this.body, this.view.root);
      this.view.update(run);
    }
  }

  destroy(): void {
    this.view?.destroy();
  }

  /** The views add to what they built (a scenario's sections, a class's chart): built on events let go of, they are built anew. */
  private startOver(restarts: number): void {
    this.restarts = restarts;
    this.view?.destroy();
    this.view = undefined;
    this.kind = undefined;
    this.failed = false;
    this.problem.hidden = true;
    fill(this.problem);
    fill(this.body);
  }

  private renderHeader(w: WatchedRun | undefined): void {
    const s = w?.summary;
    const facts = s
      ? [
          s.kind,
          s.target ? `target ${s.target}` : undefined,
          `started ${formatTime(s.startedAt)}`,
          formatDuration(s.durationMs),
          (w?.events.held ?? 0) < s.events ? `loading events: ${w?.events.held ?? 0} of ${s.events}` : `${w?.events.held ?? 0} events`,
          s.dropped ? `${s.dropped} events dropped by the publisher (the run log has them)` : undefined,
          s.source === "published" ? `published${s.origin?.host ? ` from ${s.origin.host}` : ""}` : "from a run log",
          s.origin?.runLog ? `run log ${s.origin.runLog}` : undefined,
        ]
      : [`${w?.events.held ?? 0} events`];
    fill(
      this.header,
      el("h2", {}, s?.name ?? this.id, " ", s ? badge(s.verdict) : undefined),
      el("p", { class: "headline", "data-headline": "" }, s?.headline ?? ""),
      el("p", { class: "muted" }, facts.filter(Boolean).join(" · ")),
      w?.error ? el("p", { class: "problem" }, w.error) : undefined,
    );
  }
}

function viewFor(kind: string): KindView {
  switch (kind) {
    case "scenario":
      return new ScenarioView();
    case "certify":
      return new CertifyView();
    case "qualify-reader":
      return new QualifyView();
    case "load":
      return new LoadView();
    default:
      return new RawView();
  }
}

/** Before the summary comes: the kind the first run.started says (scenario runs before kinds were logged say none). */
function kindOf(events: RunData["events"]): string | undefined {
  const first = events.find((e) => e.type === "run.started");
  if (!first || first.type !== "run.started") return undefined;
  return first.data.kind ?? "scenario";
}
