// core/browser.ts, not core/index.ts: the dashboard's page bundles this model for the browser.
import { INSTRUCTIONS, insName, percentile, type AnyEvent, type Outcome } from "../core/browser.js";

/**
 * What every report shows, rebuilt from the run log alone. A run log holds one
 * or more runs (one per scenario), each between run.started and run.finished;
 * APDU and metric events belong to the run they appear in.
 */
export interface StepReport {
  index: number;
  action: string;
  label?: string;
  line?: number;
  /** Virtual time at which the step finished. */
  time: string;
  outcome: Outcome;
  expected?: unknown;
  actual?: unknown;
  message?: string;
  evidence?: Record<string, unknown>;
  durationMs?: number;
  apdus: number;
}

export interface CardEvent {
  time: string;
  state: string;
  detail?: string;
}

export interface ApduStats {
  count: number;
  /** Count per instruction byte, e.g. "87" (GENERAL AUTHENTICATE). */
  byIns: Record<string, number>;
  /** Per-exchange latency in microseconds (wall clock). */
  micros: number[];
  /** Status words seen, e.g. "9000": 120. */
  bySw: Record<string, number>;
}

export interface RunReport {
  name: string;
  seed?: number | string;
  file?: string;
  meta: Record<string, unknown>;
  startTime: string;
  endTime: string;
  outcome: Outcome;
  steps: StepReport[];
  cards: Record<string, CardEvent[]>;
  apdu: ApduStats;
  metrics: { name: string; value: number; unit: string; labels?: Record<string, string> }[];
  /** Wall time of the whole run in ms, when the run recorded it. */
  wallMs?: number;
  /** Why the run stopped before its steps were done, when it says. */
  error?: string;
}

export interface Report {
  runs: RunReport[];
  totals: { runs: number; passed: number; failed: number; steps: number; stepsFailed: number; apdus: number };
}

/** Event types this module reads that other modules declare (kept as strings: reports import only core). */
interface CardLifecycleData {
  card: string;
  state: string;
  detail?: string;
}

export function buildReport(events: readonly AnyEvent[]): Report {
  const runs: RunReport[] = [];
  let run: RunReport | undefined;
  let stepApdus = 0;
  let stepLine: number | undefined;
  for (const e of events) {
    const type = e.type as string;
    if (e.type === "run.started") {
      run = {
        name: e.data.name,
        seed: e.data.seed,
        file: typeof e.data.meta?.file === "string" ? e.data.meta.file : undefined,
        meta: e.data.meta ?? {},
        startTime: e.time,
        endTime: e.time,
        // Until run.finished says otherwise: a run log cut short never reads as a pass.
        outcome: "error",
        steps: [],
        cards: {},
        apdu: { count: 0, byIns: {}, micros: [], bySw: {} },
        metrics: [],
      };
      runs.push(run);
      continue;
    }
    if (!run) continue;
    run.endTime = e.time;
    switch (e.type) {
      case "run.finished":
        run.outcome = e.data.outcome;
        if (typeof e.data.summary?.wallMs === "number") run.wallMs = e.data.summary.wallMs;
        if (typeof e.data.summary?.error === "string") run.error = e.data.summary.error;
        break;
      case "step.started":
        stepApdus = 0;
        stepLine = e.data.line;
        break;
      case "step.finished":
        run.steps.push({
          index: e.data.index,
          action: e.data.action,
          label: e.data.label,
          line: stepLine,
          time: e.time,
          outcome: e.data.outcome,
          expected: e.data.expected,
          actual: e.data.actual,
          message: e.data.message,
          evidence: e.data.evidence,
          durationMs: e.data.durationMs,
          apdus: stepApdus,
        });
        break;
      case "apdu.exchange": {
        stepApdus++;
        const a = run.apdu;
        a.count++;
        const ins = e.data.command.slice(2, 4).toUpperCase() || "??";
        a.byIns[ins] = (a.byIns[ins] ?? 0) + 1;
        a.bySw[e.data.sw] = (a.bySw[e.data.sw] ?? 0) + 1;
        if (typeof e.data.micros === "number") a.micros.push(e.data.micros);
        break;
      }
      case "metric.sample":
        run.metrics.push(e.data);
        break;
      default:
        if (type === "card.lifecycle") {
          const d = e.data as unknown as CardLifecycleData;
          (run.cards[d.card] ??= []).push({ time: e.time, state: d.state, detail: d.detail });
        }
    }
  }
  // A failed step fails its run even if the writer of run.finished thought otherwise.
  for (const r of runs) {
    if (r.steps.some((s) => s.outcome === "fail")) r.outcome = r.outcome === "error" ? "error" : "fail";
  }
  const steps = runs.flatMap((r) => r.steps);
  return {
    runs,
    totals: {
      runs: runs.length,
      passed: runs.filter((r) => r.outcome === "pass").length,
      failed: runs.filter((r) => r.outcome !== "pass").length,
      steps: steps.length,
      stepsFailed: steps.filter((s) => s.outcome === "fail" || s.outcome === "error").length,
      apdus: runs.reduce((n, r) => n + r.apdu.count, 0),
    },
  };
}

/** Which step failed and why, in one line: what JUnit, Markdown and the CLI print. */
export function failureLine(step: StepReport): string {
  const where = step.line ? ` (line ${step.line})` : "";
  const label = step.label ? ` "${step.label}"` : "";
  return `step ${step.index + 1} ${step.action}${label}${where}: ${step.message ?? step.outcome}`;
}

/** An APDU latency percentile (core's nearest rank) in µs; 0 for a run without APDUs, as the tables show it. */
export function apduPercentile(micros: readonly number[], p: number): number {
  return micros.length === 0 ? 0 : percentile(micros, p);
}

/**
 * The instructions' names by INS byte as the log writes it ("A4": "SELECT"), from core's one table. A vendor's
 * instruction (the YubiKey's FD, F8...) keeps its byte: a run log does not say the card is a YubiKey, and on
 * another card FD is no GET VERSION (it answers 6D00 there).
 */
export const INS_NAMES: Readonly<Record<string, string>> = Object.fromEntries(
  INSTRUCTIONS.filter((i) => i.vendor === undefined).map((i) => [i.ins.toString(16).toUpperCase().padStart(2, "0"), insName(i.ins)]),
);
