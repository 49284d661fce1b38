import type { AnyEvent } from "../browser-safe.js";
import type { RunSummary } from "../../protocol.js";
import { destroyCharts } from "../charts.js";

/** What a run's view is built from: the summary the dashboard computed and the events the page holds. */
export interface RunData {
  id: string;
  summary?: RunSummary;
  events: readonly AnyEvent[];
}

/**
 * The run may have more to come: it is running, or the page is still
 * catching up with the events the dashboard holds. The models read a log
 * without its end as cut short; the views say "running" instead.
 */
export function moreToCome(run: RunData): boolean {
  return run.summary === undefined || run.summary.verdict === "running" || run.events.length < run.summary.events;
}

/**
 * A view of one kind of run. It is built once, then updated from all of the
 * run's events on every rebuild (the reports' models are pure functions of
 * events); its controls (filters, opened rows) live outside what it rebuilds.
 */
export interface KindView {
  readonly root: HTMLElement;
  update(run: RunData): void;
  destroy(): void;
}

/** The base of the views: a root element, and its charts let go of on destroy. */
export abstract class BaseView implements KindView {
  constructor(readonly root: HTMLElement) {}
  abstract update(run: RunData): void;
  destroy(): void {
    destroyCharts(this.root);
  }
}
