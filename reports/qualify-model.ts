import { summarise, type AnyEvent, type LatencySummary, type Outcome } from "../core/index.js";

/**
 * A reader qualification as the reports see it, rebuilt from the run log
 * alone: the criteria from check.* events, the reader's set-up and its
 * measured figures from the qualify.* events below (their types are declared
 * here, the report's input contract, and merged into core's EventMap so the
 * battery that emits them is checked against it).
 */
export interface QualifyStartedData {
  reader: string;
  iterations: number;
  thresholds: Record<string, number>;
}

// Types, not interfaces, where a value doubles as a criterion's evidence (a plain record).
export type AtrInfo = {
  summary: string;
  ts: string;
  t0: string;
  interfaces: Array<Record<string, string | number>>;
  historical: string;
  protocols: number[];
  tckValid?: boolean;
};

/** What the card and the reader said about themselves: the ATR (hex) as read, and the negotiated protocol. */
export interface QualifyCardData {
  atr: string;
  atrInfo?: AtrInfo;
  protocol?: string;
}

/** Every round trip measured, in ms, per APDU class: the latency table and the histogram come from these. */
export interface QualifySamplesData {
  samplesMs: Record<string, number[]>;
}

export type Throughput = {
  apdus: number;
  seconds: number;
  apdusPerSecond: number;
};

declare module "../core/events.js" {
  interface EventMap {
    "qualify.started": QualifyStartedData;
    "qualify.card": QualifyCardData;
    "qualify.samples": QualifySamplesData;
    "qualify.throughput": Throughput;
  }
}

export interface CriterionResult {
  id: string;
  title: string;
  outcome: Outcome;
  message: string;
  evidence?: Record<string, unknown>;
  durationMs: number;
}

export interface QualificationReport<T extends object = Record<string, number>> {
  reader: string;
  atr: string;
  atrInfo?: AtrInfo;
  protocol?: string;
  iterations: number;
  thresholds: T;
  criteria: CriterionResult[];
  latency: Record<string, LatencySummary>;
  /** Raw round-trip samples per class (ms), for charts. */
  samples: Record<string, number[]>;
  throughput?: Throughput;
  outcome: "pass" | "fail";
}

export function buildQualificationReport(events: readonly AnyEvent[]): QualificationReport {
  // Key order as the battery builds its report: the JSON report reads the same either way.
  const report: QualificationReport = { reader: "unknown", atr: "", iterations: 0, thresholds: {}, criteria: [], latency: {}, samples: {}, outcome: "pass" };
  let card: QualifyCardData | undefined;
  let throughput: Throughput | undefined;
  const open = new Map<string, { title: string }>();
  for (const e of events) {
    switch (e.type) {
      case "qualify.started":
        Object.assign(report, { reader: e.data.reader, iterations: e.data.iterations, thresholds: e.data.thresholds });
        break;
      case "qualify.card":
        card = e.data;
        report.atr = e.data.atr;
        break;
      case "qualify.samples":
        report.samples = e.data.samplesMs;
        report.latency = Object.fromEntries(Object.entries(e.data.samplesMs).map(([cls, s]) => [cls, summarise(s)]));
        break;
      case "qualify.throughput":
        throughput = e.data;
        break;
      case "check.started":
        open.set(e.data.id, { title: e.data.title });
        break;
      case "check.finished": {
        open.delete(e.data.id);
        const d = e.data;
        const evidence = d.evidence === undefined ? {} : { evidence: d.evidence };
        report.criteria.push({ id: d.id, title: d.title, outcome: d.outcome, message: d.message ?? "", ...evidence, durationMs: d.durationMs ?? 0 });
        break;
      }
    }
  }
  // A criterion that started and never finished (the run died): an error, never a pass.
  for (const [id, { title }] of open) report.criteria.push({ id, title, outcome: "error", message: "started but never finished", durationMs: 0 });
  // Nothing judged is no qualification: only criteria that all passed or were skipped make a pass.
  const bad = report.criteria.length === 0 || report.criteria.some((c) => c.outcome === "fail" || c.outcome === "error");
  report.outcome = bad ? "fail" : "pass";
  if (card?.atrInfo) report.atrInfo = card.atrInfo;
  if (card?.protocol !== undefined) report.protocol = card.protocol;
  if (throughput) report.throughput = throughput;
  return report;
}
