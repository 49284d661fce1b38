/**
 * The qualification's run-log events (core/events.ts's EventMap), declared by
 * the battery that sends them. The criteria themselves are check.* events;
 * these carry the reader's set-up and the measured figures. reports/ reads
 * them through interfaces of its own (it imports only core).
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

declare module "../../core/events.js" {
  interface EventMap {
    "qualify.started": QualifyStartedData;
    "qualify.card": QualifyCardData;
    "qualify.samples": QualifySamplesData;
    "qualify.throughput": Throughput;
  }
}
