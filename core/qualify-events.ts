import type { Outcome } from "./events.js";

/**
 * The reader qualification's run-log events: conformance/qualify's battery
 * sends them, reports/ rebuilds the qualification from them, so their shapes
 * live here, where both can import them. The criteria themselves are check.*
 * events; these carry the reader's set-up and the measured figures.
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

/** One criterion as judged; the run log carries it as a check.started/check.finished pair. */
export interface CriterionResult {
  id: string;
  title: string;
  outcome: Outcome;
  message: string;
  evidence?: Record<string, unknown>;
  durationMs: number;
}

declare module "./events.js" {
  interface EventMap {
    "qualify.started": QualifyStartedData;
    "qualify.card": QualifyCardData;
    "qualify.samples": QualifySamplesData;
    "qualify.throughput": Throughput;
  }
}
