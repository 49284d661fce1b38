import type { CaAdapter, RevocationReason } from "../../simulator/ca/index.js";
import type { EventBus } from "../../core/index.js";

/*
 * The contract between the phases of `cardloop load revoke` (issue 13):
 * prepare (prepare.ts) -> revoke (revoke-phase.ts, schedule.ts) -> verify
 * (propagation.ts while revoking, completeness.ts at the end) -> gates
 * (gates.ts), orchestrated by run.ts. Every phase talks to the CA only
 * through the CaAdapter seam, so a run judges any CA the same way.
 */

/**
 * One certificate the run may revoke. `holder` carries what a revocation by
 * the holder needs; `holder.code` is a secret: it never reaches an event, a
 * log line or a report (only the serial does).
 */
export interface LoadTarget {
  /** Lower-case hex, as the CA spells it (normSerial). */
  serial: string;
  holder?: { id: string; name: string; email: string; code?: string };
}

/** Who revokes with single requests. Batches are always the operator's (bulk revocation needs the operator token). */
export type LoadRole = "holder" | "operator";

/** Open loop: requests start on a fixed schedule whatever the CA does (wrk2); closed loop: C requests in flight. */
export type Loop = { kind: "open"; ratePerSecond: number } | { kind: "closed"; concurrency: number };

/** `--reasons keyCompromise=0.1,cessationOfOperation=0.9`: weights, normalised to sum to 1. */
export type ReasonMix = ReadonlyArray<{ reason: RevocationReason; weight: number }>;

/** `--shard I/N`: this agent is shard `index` (1-based) of `of`. */
export interface Shard {
  index: number;
  of: number;
}

export interface RevokePlan {
  /** Stop after this many revocation requests (serials, not batches) have been sent... */
  count?: number;
  /** ...or after this long, whichever comes first; the phase also ends when the targets run out. */
  durationMs?: number;
  loop: Loop;
  /** Serials per request: 1 = single requests; > 1 uses `revokeMany` when the CA offers it (capabilities().bulkRevoke), single requests otherwise. */
  batch: number;
  role: LoadRole;
  reasons: ReasonMix;
  /** Per request; a request past it counts as a timeout (its serials are not acknowledged). */
  timeoutMs: number;
  /** Needed for batches and for the operator role. Never logged. */
  operatorToken?: string;
}

/** One acknowledged revocation: the CA said revoked (single: RevocationResult; bulk: in the batch and not unknown/already revoked). */
export interface Ack {
  serial: string;
  reason: RevocationReason;
  /** performance.now() when the acknowledgement arrived: propagation is measured from here. */
  ackedAt: number;
}

/**
 * Error classes, as the summary counts them: "timeout", "reset" (the
 * connection was reset or closed mid-request), "refused" (nothing listens),
 * "4xx <status> <reason>" (e.g. "403 forbidden", "409 already-revoked"),
 * "5xx <status>" (e.g. "5xx 503"), "other" (anything else; the message is
 * not kept: it may quote a request).
 */
export type ErrorClass = string;

/** What the revoke phase measured. Latencies in ms, from each request's intended start (open loop) or its send (closed loop). */
export interface RevokeOutcome {
  acked: Ack[];
  /** Serials sent whose request failed (not acknowledged), by class; their serials are listed so completeness can say they were not wrongly revoked... or were. */
  failed: Map<ErrorClass, string[]>;
  /** Requests (not serials) sent, and serials sent. */
  requests: number;
  serialsSent: number;
  /** performance.now() at the phase's start and end. */
  startedAt: number;
  endedAt: number;
  /** Whether batches really went to a bulk endpoint (false: the CA has none, single requests were sent). */
  bulk: boolean;
  latency: LatencyRecorder;
}

/** Latency histogram (HdrHistogram underneath): every sample recorded; percentiles from all of them. */
export interface LatencyRecorder {
  record(ms: number): void;
  readonly count: number;
  /** Nearest-rank-like percentile from the histogram (HdrHistogram's value at percentile), ms. */
  percentile(p: number): number;
  readonly maxMs: number;
  readonly meanMs: number;
  /** A copy of the samples since the last call (for the per-interval figures), then reset of that interval. */
  takeInterval(): LatencyRecorder;
  /** Buckets for a report's histogram: [upper bound ms, count] with a count > 0, ascending. */
  buckets(): Array<[number, number]>;
}

/** Propagation figures of one channel (OCSP or CRL) over the sampled serials. */
export interface PropagationFigures {
  /** Serials sampled and acknowledged (the ones watched). */
  watched: number;
  /** Delays (ms) from acknowledgement until the channel said revoked, one per serial seen. */
  delaysMs: number[];
  /** Watched serials the channel never showed within the propagation timeout. */
  notSeen: string[];
}

export interface Completeness {
  /** Acknowledged revocations checked on the final CRL and over OCSP. */
  checked: number;
  /** Acknowledged but missing from the final CRL or answered good/unknown by OCSP: serial and what was wrong. */
  lost: Array<{ serial: string; crl: "listed" | "missing"; ocsp: "revoked" | "good" | "unknown" | "error" }>;
  /** Acknowledged with one reason, published with another (CRL or OCSP). */
  wrongReason: Array<{ serial: string; expected: RevocationReason; crl?: string; ocsp?: string }>;
  /** Control certificates (never revoked by this run) found revoked anywhere, and serials sent whose request failed that were published as revoked anyway (not an error: said). */
  wronglyRevoked: string[];
  /** Control certificates checked (still good on OCSP, absent from the CRL). */
  controlChecked: number;
  /** Failed requests whose serial turned out revoked (the CA did it but the answer was lost): counted, not an error. */
  revokedDespiteError: number;
}

/** A CI gate and how it went. */
export interface GateResult {
  /** "min-rate", "max-p99", "max-propagation". */
  gate: string;
  /** As given: "10000/s", "50ms", "ocsp p99 <= 2s". */
  limit: string;
  actual: string;
  passed: boolean;
}

/** What every phase gets: the CA, the run's bus (events) and a stop signal (SIGINT, a CA dying is not one). */
export interface PhaseContext {
  ca: CaAdapter;
  bus: EventBus;
  signal?: AbortSignal;
}
