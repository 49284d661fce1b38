// core/browser.ts, not core/index.ts: the dashboard's page bundles this model for the browser.
import { summarise, type AnyEvent, type AtrInfo, type CriterionResult, type LatencySummary, type QualifyCardData, type Throughput } from "../core/browser.js";

export type { AtrInfo, CriterionResult, Throughput };

/**
 * A reader qualification as the reports see it, rebuilt from the run log
 * alone: the criteria from check.* events, the reader's set-up and its
 * measured figures from the qualify.* events the battery sends (their shapes
 * are core's: core/qualify-events.ts).
 */

export interface QualificationReport {
  reader: string;
  atr: string;
  atrInfo?: AtrInfo;
  protocol?: string;
  iterations: number;
  thresholds: Record<string, number>;
  criteria: CriterionResult[];
  latency: Record<string, LatencySummary>;
  /** Raw round-trip samples per class (ms), for charts. */
  samples: Record<string, number[]>;
  throughput?: Throughput;
  outcome: "pass" | "fail";
}

export function buildQualificationReport(events: readonly AnyEvent[]): QualificationReport {
  // Key order fixed here, whatever order the events come in: the JSON report reads the same from any log.
  const report: QualificationReport = { reader: "unknown", atr: "", iterations: 0, thresholds: {}, criteria: [], latency: {}, samples: {}, outcome: "pass" };
  let card: QualifyCardData | undefined;
  let throughput: Throughput | undefined;
  const open = new Map<string, { title: string }>();
  for (const e of events) {
    if (e.type === "check.started") {
      open.set(e.data.id, { title: e.data.title });
      continue;
    }
    if (e.type === "check.finished") {
      open.delete(e.data.id);
      const d = e.data;
      const evidence = d.evidence === undefined ? {} : { evidence: d.evidence };
      report.criteria.push({ id: d.id, title: d.title, outcome: d.outcome, message: d.message ?? "", ...evidence, durationMs: d.durationMs ?? 0 });
      continue;
    }
    switch (e.type) {
      case "qualify.started": {
        const d = e.data;
        Object.assign(report, { reader: d.reader, iterations: d.iterations, thresholds: d.thresholds });
        break;
      }
      case "qualify.card":
        card = e.data;
        report.atr = card.atr;
        break;
      case "qualify.samples": {
        const d = e.data;
        report.samples = d.samplesMs;
        report.latency = Object.fromEntries(Object.entries(d.samplesMs).map(([cls, s]) => [cls, summarise(s)]));
        break;
      }
      case "qualify.throughput":
        throughput = e.data;
        break;
    }
  }
  // A criterion that started and never finished (the run died): an error, never a pass.
  for (const [id, { title }] of open) report.criteria.push({ id, title, outcome: "error", message: "started but never finished", durationMs: 0 });
  report.outcome = qualificationOutcome(report.criteria);
  if (card?.atrInfo) report.atrInfo = card.atrInfo;
  if (card?.protocol !== undefined) report.protocol = card.protocol;
  if (throughput) report.throughput = throughput;
  return report;
}

/**
 * The qualification's verdict from its criteria (a criterion started and never
 * finished counts as an error): nothing judged is no qualification; only
 * criteria that all passed or were skipped make a pass. The dashboard's
 * summary applies the same rule to the criteria it counts.
 */
export function qualificationOutcome(criteria: ReadonlyArray<Pick<CriterionResult, "outcome">>): "pass" | "fail" {
  const bad = criteria.length === 0 || criteria.some((c) => c.outcome === "fail" || c.outcome === "error");
  return bad ? "fail" : "pass";
}
