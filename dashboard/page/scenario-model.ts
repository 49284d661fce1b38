import type { AnyEvent } from "./browser-safe.js";
import { decodeExchange, type DecodedExchange } from "./apdu-decode.js";

/**
 * The APDU exchanges of each step of each scenario in a run log, which the
 * reports' model counts but does not keep. Walked in the same order as
 * buildReport walks the log: run r's k-th step.finished is
 * report.runs[r].steps[k], and its exchanges are steps[k] here.
 */

export interface Exchange extends DecodedExchange {
  /** The event's position in the run (the dashboard's sequence number). */
  at: number;
  reader: string;
}

export interface ScenarioExchanges {
  /** run.finished came: the scenario is over (its outcome is final). */
  finished: boolean;
  /** Per finished step, in order. */
  steps: Exchange[][];
  /** The step under way (started, not finished), if any: its action and exchanges so far. */
  current?: { index: number; action: string; label?: string; exchanges: Exchange[] };
  /** Exchanges outside any step (set-up between steps). */
  outside: Exchange[];
  /** Per instruction name: exchanges and their total time (µs). */
  byInstruction: Map<string, { count: number; micros: number }>;
}

export function scenarioExchanges(events: readonly AnyEvent[]): ScenarioExchanges[] {
  const runs: ScenarioExchanges[] = [];
  let run: ScenarioExchanges | undefined;
  let pending: Exchange[] | undefined;
  events.forEach((e, at) => {
    switch (e.type) {
      case "run.started":
        run = { finished: false, steps: [], outside: [], byInstruction: new Map() };
        runs.push(run);
        pending = undefined;
        break;
      case "step.started":
        if (!run) break;
        pending = [];
        run.current = { index: e.data.index, action: e.data.action, label: e.data.label, exchanges: pending };
        break;
      case "step.finished":
        if (!run) break;
        run.steps.push(pending ?? []);
        pending = undefined;
        run.current = undefined;
        break;
      case "apdu.exchange": {
        if (!run) break;
        const x: Exchange = { ...decodeExchange(e.data), at, reader: String(e.data.reader ?? "") };
        (pending ?? run.outside).push(x);
        const tally = run.byInstruction.get(x.insName) ?? { count: 0, micros: 0 };
        tally.count++;
        tally.micros += x.micros ?? 0;
        run.byInstruction.set(x.insName, tally);
        break;
      }
      case "run.finished":
        if (run) {
          run.current = undefined;
          run.finished = true;
        }
        pending = undefined;
        break;
    }
  });
  return runs;
}
