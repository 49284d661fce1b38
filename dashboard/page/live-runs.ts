import { PROTOCOL_VERSION, type ClientMessage, type RunSummary, type ServerMessage } from "../protocol.js";
import { RunEvents } from "./run-events.js";

/**
 * What the page knows of the dashboard: the run list, and the events of the
 * runs on screen. It turns server messages into that state and says what to
 * send back; it touches no DOM and no socket, so a test drives it with
 * messages alone.
 */

export interface WatchedRun {
  readonly id: string;
  readonly events: RunEvents;
  summary?: RunSummary;
  /** What the server said went wrong for this run (an unknown id, ...). */
  error?: string;
  /** The `from` of the re-subscription sent to mend a gap, until events arrive: one is enough. */
  resubscribedFrom?: number;
  /**
   * The generation (RunSummary.generation) of the events held: sent with a
   * re-subscription, and a summary of another one means the run's log was
   * replaced. Unknown until a summary says (the first one is taken as is).
   */
  generation?: string;
  /** Bumped each time held events are let go of: a view built from them starts over instead of adding to them. */
  restarts: number;
  /** The server refused the subscription (a run not there yet, ...): subscribed again when the run appears. */
  refused: boolean;
}

/** A notice with a key replaces the notice shown with that key (one line per run that fell behind, not one per resync). */
export type Change = { what: "runs" } | { what: "run"; id: string } | { what: "notice"; text: string; kind: "info" | "warning"; key?: string };

export class LiveRuns {
  readonly runs = new Map<string, RunSummary>();
  private readonly watched = new Map<string, WatchedRun>();
  /** The dashboard's version, from its hello. */
  serverVersion?: string;

  constructor(
    private readonly send: (message: ClientMessage) => void,
    private readonly changed: (change: Change) => void,
  ) {}

  /** The socket (re)opened: everything is subscribed again, each run from what the page holds. */
  connected(): void {
    this.send({ v: PROTOCOL_VERSION, type: "runs.subscribe" });
    for (const w of this.watched.values()) {
      w.resubscribedFrom = undefined;
      w.refused = false;
      this.subscribe(w);
    }
  }

  /** The runs on screen now: the others are unsubscribed and their events let go. */
  watch(ids: readonly string[], connected: boolean): void {
    for (const id of [...this.watched.keys()]) {
      if (ids.includes(id)) continue;
      this.watched.delete(id);
      if (connected) this.send({ v: PROTOCOL_VERSION, type: "run.unsubscribe", run: id });
    }
    for (const id of ids) {
      if (this.watched.has(id)) continue;
      const summary = this.runs.get(id);
      const w: WatchedRun = { id, events: new RunEvents(), summary, generation: summary?.generation, restarts: 0, refused: false };
      this.watched.set(id, w);
      if (connected) this.subscribe(w);
    }
  }

  run(id: string): WatchedRun | undefined {
    return this.watched.get(id);
  }

  /** Runs newest first, as the list shows them. */
  sortedRuns(): RunSummary[] {
    return [...this.runs.values()].sort((a, b) => b.startedAt.localeCompare(a.startedAt) || a.id.localeCompare(b.id));
  }

  receive(m: ServerMessage): void {
    switch (m.type) {
      case "hello":
        this.serverVersion = m.version;
        if (m.protocol !== PROTOCOL_VERSION) {
          this.changed({ what: "notice", kind: "warning", text: `the dashboard speaks protocol ${m.protocol}, this page ${PROTOCOL_VERSION}: reload the page` });
        }
        return;
      case "runs": {
        this.runs.clear();
        const touched = m.runs.map((r) => this.upsert(r)).filter((w) => w !== undefined);
        this.changed({ what: "runs" });
        for (const w of touched) this.changed({ what: "run", id: w.id });
        return;
      }
      case "run": {
        const w = this.upsert(m.run);
        this.changed({ what: "runs" });
        if (w) this.changed({ what: "run", id: w.id });
        return;
      }
      case "events":
        this.events(m.run, m.from, m.events);
        return;
      case "resync":
        this.resync(m.run, m.from, m.reason);
        return;
      case "error": {
        const w = m.run === undefined ? undefined : this.watched.get(m.run);
        if (w) {
          // the subscription did not take: nothing comes until the run appears (its summary), then it is asked for again
          w.error = m.message;
          w.refused = true;
          w.resubscribedFrom = undefined;
          this.changed({ what: "run", id: w.id });
        } else {
          this.changed({ what: "notice", kind: "warning", text: `dashboard: ${m.message}` });
        }
        return;
      }
    }
  }

  /** A summary from the list or a `run` message; the watched run it concerns, if any. */
  private upsert(summary: RunSummary): WatchedRun | undefined {
    this.runs.set(summary.id, summary);
    const w = this.watched.get(summary.id);
    if (!w) return undefined;
    w.summary = summary;
    w.error = undefined;
    const replaced = w.generation !== undefined && w.generation !== summary.generation && w.events.held > 0;
    w.generation = summary.generation;
    if (replaced) {
      // the events held are another copy's (the log was rewritten, the dashboard restarted): all of them go, and the run loads again from 0
      this.restart(w);
      this.replacedNotice(w.id);
    }
    if (replaced || w.refused) {
      w.refused = false;
      this.subscribe(w);
    }
    return w;
  }

  private resync(id: string, from: number, reason: "slow" | "replaced" | (string & {})): void {
    const w = this.watched.get(id);
    if (!w) return;
    if (w.events.truncate(from)) w.restarts++;
    // the server's cursor is at `from` now: a re-subscription sent before it is no reason to hold back the next one
    w.resubscribedFrom = undefined;
    if (reason === "slow") {
      this.changed({ what: "notice", kind: "warning", key: `resync:${id}`, text: `this page fell behind; the dashboard resent events from #${from}` });
    } else {
      // another copy of the run: which generation the events to come are, the next summary says
      w.generation = undefined;
      this.replacedNotice(id);
    }
    this.changed({ what: "run", id });
  }

  private restart(w: WatchedRun): void {
    w.events.truncate(0);
    w.restarts++;
    w.resubscribedFrom = undefined;
  }

  private replacedNotice(id: string): void {
    this.changed({ what: "notice", kind: "info", key: `replaced:${id}`, text: "the run log was rewritten; reloading it" });
  }

  private events(id: string, from: number, events: readonly unknown[]): void {
    const w = this.watched.get(id);
    // a message still in flight for a run the page has left
    if (!w || !Array.isArray(events)) return;
    const applied = w.events.apply(from, events);
    if (applied.kind === "appended") {
      w.resubscribedFrom = undefined;
      w.error = undefined;
      w.refused = false;
      this.changed({ what: "run", id });
    } else if (applied.kind === "gap" && w.resubscribedFrom !== applied.held) {
      // Messages of the old cursor may still arrive after the re-subscription: one per position held is enough.
      this.subscribe(w);
    }
  }

  private subscribe(w: WatchedRun): void {
    const from = w.events.held;
    w.resubscribedFrom = from;
    this.send({ v: PROTOCOL_VERSION, type: "run.subscribe", run: w.id, from, ...(from > 0 && w.generation !== undefined ? { generation: w.generation } : {}) });
  }
}
