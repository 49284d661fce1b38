// core/browser.ts, not core/index.ts: the model is a pure function of events (no node: module).
import { isRecord, LOAD_METRICS, type AnyEvent, type LoadPhase, type LoadSummaryData } from "../core/browser.js";

/**
 * A bulk-revocation load run (`cardloop load revoke`) as the reports see it,
 * rebuilt from the run log alone: the final figures are the `load.summary`
 * event's data, the charts come from the `metric.sample` events
 * core/load-events.ts names, the phases from `load.phase`, and the name and
 * CA from `run.started`. Nothing else in the log is read, so nothing else can
 * reach a report.
 */

/** One sample of a series: x in seconds since the run started (the run's clock), y the value. */
export interface LoadPoint {
  x: number;
  y: number;
}

export interface LoadPhaseTiming {
  phase: LoadPhase;
  started?: string;
  finished?: string;
  /** From the two events' times; absent while the phase never finished. */
  ms?: number;
  /** The phase's counts as its finished event gave them (primitives only). */
  detail: Record<string, string | number | boolean>;
}

export interface LoadSeries {
  /** Acknowledged revocations per second over each interval, per phase (labels.phase; "" when unlabelled). */
  throughput: Array<{ phase: string; points: LoadPoint[] }>;
  latencyP50: LoadPoint[];
  latencyP99: LoadPoint[];
  /** One point per sampled serial: its delay (ms) until OCSP said revoked / the CRL listed it. */
  propagationOcsp: LoadPoint[];
  propagationCrl: LoadPoint[];
  /** The latest failed-request count per class. */
  errors: Record<string, number>;
}

/**
 * pass: exit 0; fail: a gate failed or something was lost (exit 1); error:
 * the CA could not be reached or set up (exit 2); interrupted: stopped by a
 * signal (exit 130/143: the summary's `interrupted` says which, and its
 * figures cover what was sent before), or no final figures at all.
 */
export type LoadVerdict = "pass" | "fail" | "error" | "interrupted";

export interface LoadReport {
  name: string;
  ca: string;
  started?: string;
  finished?: string;
  /** run.started meta, primitive values only. */
  meta: Record<string, string | number | boolean>;
  phases: LoadPhaseTiming[];
  series: LoadSeries;
  /** The final figures; absent when the run was cut short (or its summary is unreadable). */
  summary?: LoadSummaryData;
  verdict: LoadVerdict;
  /** Why the run is interrupted (no final figures, or the signal that stopped it), one line; set exactly when verdict is "interrupted". */
  interruptedReason?: string;
}

/** The verdict of each exit status a summary can carry. */
export const EXIT_VERDICT = { 0: "pass", 1: "fail", 2: "error" } as const;

export function buildLoadReport(events: readonly AnyEvent[]): LoadReport {
  const report: LoadReport = { name: "load revoke", ca: "unknown", meta: {}, phases: [], series: emptySeries(), verdict: "interrupted" };
  const throughput = new Map<string, LoadPoint[]>();
  let start: number | undefined;
  let summaryIssue: string | undefined;
  for (const e of events) {
    const t = Date.parse(e.time);
    if (start === undefined && Number.isFinite(t)) start = t;
    const x = start === undefined || !Number.isFinite(t) ? 0 : (t - start) / 1000;
    switch (e.type) {
      case "run.started":
        if (report.started !== undefined) break;
        report.started = e.time;
        if (Number.isFinite(t)) start = t;
        if (typeof e.data.name === "string") report.name = e.data.name;
        report.meta = primitives(e.data.meta);
        if (typeof report.meta.ca === "string") report.ca = report.meta.ca;
        break;
      case "run.finished":
        report.finished = e.time;
        break;
      case "load.phase":
        phaseEvent(report.phases, e.data, e.time);
        break;
      case "load.summary": {
        summaryIssue = summaryProblem(e.data);
        if (summaryIssue === undefined) report.summary = e.data;
        break;
      }
      case "metric.sample":
        if (typeof e.data.value === "number" && typeof e.data.name === "string") sample(report.series, throughput, e.data.name, { x, y: e.data.value }, e.data.labels);
        break;
    }
  }
  report.series.throughput = [...throughput].map(([phase, points]) => ({ phase, points }));
  if (report.summary) {
    report.ca = report.summary.ca;
    report.verdict = summaryVerdict(report.summary);
    if (report.summary.interrupted) report.interruptedReason = interruptedText(report.summary.interrupted.signal);
  } else {
    report.interruptedReason =
      summaryIssue !== undefined
        ? `the run log's load.summary is unreadable: ${summaryIssue}`
        : report.finished !== undefined
          ? "the run finished without a load.summary (no final figures)"
          : cutShort(report.phases);
  }
  return report;
}

/** A stopped run is never a pass, whatever its figures: the process exits 130/143, and the verdict says so. */
export function summaryVerdict(s: LoadSummaryData): LoadVerdict {
  return s.interrupted ? "interrupted" : EXIT_VERDICT[s.exitCode];
}

/** The exit status of the process a signal stopped (as cli/exit.ts signalExitCode: 128 + the signal's number). */
export function signalExitStatus(signal: string): number | undefined {
  return ({ SIGHUP: 129, SIGINT: 130, SIGQUIT: 131, SIGTERM: 143 } as Record<string, number>)[signal];
}

export function interruptedText(signal: string): string {
  return `stopped by ${signal}: the figures cover what was sent before it (what was acknowledged was still verified)`;
}

function emptySeries(): LoadSeries {
  return { throughput: [], latencyP50: [], latencyP99: [], propagationOcsp: [], propagationCrl: [], errors: {} };
}

function sample(s: LoadSeries, throughput: Map<string, LoadPoint[]>, name: string, point: LoadPoint, labels: Record<string, string> | undefined) {
  switch (name) {
    case LOAD_METRICS.throughput: {
      const phase = typeof labels?.phase === "string" ? labels.phase : "";
      const list = throughput.get(phase);
      if (list) list.push(point);
      else throughput.set(phase, [point]);
      break;
    }
    case LOAD_METRICS.latencyP50:
      s.latencyP50.push(point);
      break;
    case LOAD_METRICS.latencyP99:
      s.latencyP99.push(point);
      break;
    case LOAD_METRICS.propagationOcsp:
      s.propagationOcsp.push(point);
      break;
    case LOAD_METRICS.propagationCrl:
      s.propagationCrl.push(point);
      break;
    case LOAD_METRICS.errors: {
      const cls = typeof labels?.class === "string" ? labels.class : "all";
      // Object.defineProperty: a class named "__proto__" is a key like any other, never the prototype.
      Object.defineProperty(s.errors, cls, { value: point.y, enumerable: true, writable: true, configurable: true });
      break;
    }
  }
}

const PHASES: readonly LoadPhase[] = ["prepare", "revoke", "verify"];

function phaseEvent(phases: LoadPhaseTiming[], d: Record<string, unknown>, time: string) {
  const phase = PHASES.find((p) => p === d.phase);
  if (phase === undefined) return;
  let p = phases.find((x) => x.phase === phase);
  if (d.state === "started") {
    if (p === undefined) phases.push({ phase, started: time, detail: {} });
    return;
  }
  if (d.state !== "finished") return;
  if (p === undefined) {
    p = { phase, detail: {} };
    phases.push(p);
  }
  p.finished = time;
  p.detail = primitives(d.detail);
  const ms = p.started === undefined ? NaN : Date.parse(time) - Date.parse(p.started);
  if (Number.isFinite(ms)) p.ms = ms;
}

function cutShort(phases: readonly LoadPhaseTiming[]): string {
  const open = phases.find((p) => p.finished === undefined);
  if (open) return `the run log has no load.summary: the run was cut short during the ${open.phase} phase`;
  const last = phases[phases.length - 1];
  return last ? `the run log has no load.summary: the run was cut short after the ${last.phase} phase` : "the run log has no load.summary: the run was cut short before any phase";
}

function primitives(v: unknown): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  if (!isRecord(v)) return out;
  for (const [k, x] of Object.entries(v)) {
    if (typeof x === "string" || typeof x === "number" || typeof x === "boolean") Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/*
 * The summary is read back from a file, so its shape is checked once here and
 * the writers trust it. Numbers may be null: JSON writes a NaN percentile (a
 * channel with no samples) as null, and the writers print it as "n/a".
 */
type Check = (v: unknown) => boolean;
const num: Check = (v) => v === null || typeof v === "number";
const str: Check = (v) => typeof v === "string";
const bool: Check = (v) => typeof v === "boolean";
const oneOf = (...values: string[]): Check => (v) => typeof v === "string" && values.includes(v);
const arrayOf = (item: Check): Check => (v) => Array.isArray(v) && v.every(item);
const shape =
  (fields: Record<string, Check>, optional: Record<string, Check> = {}): Check =>
  (v) =>
    isRecord(v) && Object.entries(fields).every(([k, c]) => c(v[k])) && Object.entries(optional).every(([k, c]) => v[k] === undefined || c(v[k]));
const recordOf = (item: Check): Check => (v) => isRecord(v) && Object.values(v).every(item);

const percentiles = { count: num, p50: num, p90: num, p99: num, p999: num, max: num, mean: num };
const channel = shape({ ...percentiles, watched: num, notSeen: arrayOf(str), delaysMs: arrayOf(num) }, { note: str });

const PARTS: Record<keyof LoadSummaryData, Check> = {
  ca: str,
  plan: isRecord,
  shard: (v) => v === undefined || shape({ index: num, of: num })(v),
  prepare: shape({ certificates: num, control: num, ms: num, perSecond: num, source: oneOf("issued", "file"), failed: num }),
  revoke: shape(
    {
    requests: num,
    serialsSent: num,
    acknowledged: num,
    ms: num,
    perSecond: num,
    bulk: bool,
    loop: oneOf("open", "closed"),
    latencyMs: shape(percentiles),
    histogram: arrayOf((b) => Array.isArray(b) && b.length === 2 && num(b[0]) && num(b[1])),
    errors: recordOf(num),
  }, { failedLatencyMs: shape(percentiles), dueNotSent: num }),
  propagation: shape({ ocsp: channel, crl: channel }),
  completeness: shape(
    {
      checked: num,
      lost: arrayOf(shape({ serial: str, crl: str, ocsp: str })),
      wrongReason: arrayOf(shape({ serial: str, expected: str }, { crl: str, ocsp: str })),
      wronglyRevoked: arrayOf(str),
      controlChecked: num,
      revokedDespiteError: num,
      complete: bool,
    },
    { incompleteReason: str },
  ),
  gates: arrayOf(shape({ gate: str, limit: str, actual: str, passed: bool })),
  interrupted: (v) => v === undefined || shape({ signal: str })(v),
  notes: (v) => v === undefined || arrayOf(str)(v),
  exitCode: (v) => v === 0 || v === 1 || v === 2,
};

/** Which part of a load.summary is not as core/load-events.ts declares it (undefined: the whole is). */
export function summaryProblem(d: unknown): string | undefined {
  if (!isRecord(d)) return "not an object";
  const bad = Object.entries(PARTS).find(([k, c]) => !c(d[k]));
  return bad ? `"${bad[0]}" is missing or malformed` : undefined;
}
