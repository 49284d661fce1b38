/**
 * What a bulk-revocation load run (`cardloop load revoke`) puts in its run
 * log for the dashboard and the reports: `metric.sample` events with these
 * names, `load.phase` and one `load.summary`, and run.started with kind
 * "load" and meta.ca. Declared here, where the driver (conformance) and the
 * readers (reports, dashboard) can all import it.
 */
export const LOAD_METRICS = {
  /** Revocations acknowledged per second over the last interval; labels.phase. */
  throughput: "load.throughput",
  /** Latency percentiles (ms) of the acknowledged requests so far. */
  latencyP50: "load.latency.p50",
  latencyP99: "load.latency.p99",
  /** One sampled serial's delay (ms) from acknowledgement until OCSP answered revoked. */
  propagationOcsp: "load.propagation.ocsp",
  /** One sampled serial's delay (ms) from acknowledgement until the CRL listed it. */
  propagationCrl: "load.propagation.crl",
  /** Serials whose request failed so far (count: one failed batch of 1000 counts 1000); labels.class (timeout, 4xx reason, 5xx, reset). */
  errors: "load.errors",
} as const;

/** The phases of a load run, in order. */
export type LoadPhase = "prepare" | "revoke" | "verify";

/** Percentiles of one series, ms (nearest rank over all samples; from HdrHistogram for request latencies). */
export interface LoadPercentiles {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/**
 * The final figures of a load run: the reports and `--json` are built from
 * this event alone (plus the metric samples for the charts). No secret: no
 * code, no token, no holder name or email; serials only.
 */
export interface LoadSummaryData {
  ca: string;
  /** The plan as run (no credentials). */
  plan: Record<string, unknown>;
  shard?: { index: number; of: number };
  prepare: { certificates: number; control: number; ms: number; perSecond: number; source: "issued" | "file"; failed: number };
  revoke: {
    requests: number;
    serialsSent: number;
    acknowledged: number;
    ms: number;
    /** Acknowledged revocations per second over the phase. */
    perSecond: number;
    bulk: boolean;
    loop: "open" | "closed";
    /** Acknowledged requests only (and, open loop, requests due but never sent); NaN (JSON null) without samples. */
    latencyMs: LoadPercentiles;
    /** The failed requests' latencies, apart: a fast refusal must not make the CA look faster. */
    failedLatencyMs?: LoadPercentiles;
    /** Open loop: requests due before the end but never sent (the CA was behind the schedule). */
    dueNotSent?: number;
    /** [upper bound ms, count], ascending: the latency histogram of the acknowledged requests. */
    histogram: Array<[number, number]>;
    /** Failed serials by class (timeout, reset, refused, "4xx 403 forbidden", "5xx 503", wrong-answer, bulk-count-mismatch, other). */
    errors: Record<string, number>;
  };
  propagation: {
    /** `note`: why a channel was not (fully) watched, e.g. no issuer certificate for OCSP. */
    ocsp: LoadPercentiles & { watched: number; notSeen: string[]; delaysMs: number[]; note?: string };
    crl: LoadPercentiles & { watched: number; notSeen: string[]; delaysMs: number[]; note?: string };
  };
  completeness: {
    checked: number;
    lost: Array<{ serial: string; crl: string; ocsp: string }>;
    wrongReason: Array<{ serial: string; expected: string; crl?: string; ocsp?: string }>;
    wronglyRevoked: string[];
    controlChecked: number;
    revokedDespiteError: number;
    /** False when verification could not run (the CA died): then lost/wronglyRevoked are what could be checked. */
    complete: boolean;
    /** Why verification is incomplete, one line. */
    incompleteReason?: string;
  };
  gates: Array<{ gate: string; limit: string; actual: string; passed: boolean }>;
  /** The run was stopped (SIGINT/SIGTERM) before its plan was done: what was acknowledged was still verified. */
  interrupted?: { signal: string };
  /** Where an artefact was made by the adapter, not the CA (provenance): what completeness did not hold against the CA, one line each. */
  notes?: string[];
  /** 0 all good; 1 a gate failed (max-errors included), or something was lost or wrongly revoked; 2 the CA could not be reached or set up. */
  exitCode: 0 | 1 | 2;
}

declare module "./events.js" {
  interface EventMap {
    /** A load phase started or finished; `detail` carries its counts (never a secret). */
    "load.phase": { phase: LoadPhase; state: "started" | "finished"; detail?: Record<string, unknown> };
    /** The run's final figures, once, before run.finished. */
    "load.summary": LoadSummaryData;
  }
}
