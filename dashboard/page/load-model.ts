import { type AnyEvent, LOAD_METRICS, percentile } from "./browser-safe.js";

/**
 * A bulk-revocation load run's figures over time, from the metric.sample
 * events core/load-events.ts names. x is seconds since the run started (the
 * run's clock), so the charts need no date library.
 */

export interface Point {
  x: number;
  y: number;
}

export interface LoadSeries {
  /** Throughput per phase (labels.phase; "" when unlabelled). */
  throughput: Map<string, Point[]>;
  p50: Point[];
  p99: Point[];
  ocsp: Point[];
  crl: Point[];
  /** The latest error count per class. */
  errors: Map<string, number>;
  /** The last time any sample was taken, in seconds since the start. */
  lastX: number;
}

export interface DelaySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/** Where each load metric's samples go (a Map: a metric's name is never looked up on a prototype). */
const SERIES = new Map<string, (s: LoadSeries, point: Point, labels: Record<string, string>) => void>([
  [LOAD_METRICS.throughput, (s, point, labels) => {
    const phase = labels.phase ?? "";
    const list = s.throughput.get(phase);
    if (list) list.push(point);
    else s.throughput.set(phase, [point]);
  }],
  [LOAD_METRICS.latencyP50, (s, point) => s.p50.push(point)],
  [LOAD_METRICS.latencyP99, (s, point) => s.p99.push(point)],
  [LOAD_METRICS.propagationOcsp, (s, point) => s.ocsp.push(point)],
  [LOAD_METRICS.propagationCrl, (s, point) => s.crl.push(point)],
  [LOAD_METRICS.errors, (s, point, labels) => s.errors.set(labels.class ?? "all", point.y)],
]);

export function loadSeries(events: readonly AnyEvent[]): LoadSeries {
  const s: LoadSeries = { throughput: new Map(), p50: [], p99: [], ocsp: [], crl: [], errors: new Map(), lastX: 0 };
  let start: number | undefined;
  for (const e of events) {
    const t = Date.parse(e.time);
    if (e.type === "run.started" && start === undefined && Number.isFinite(t)) start = t;
    if (e.type !== "metric.sample" || typeof e.data.value !== "number") continue;
    if (start === undefined && Number.isFinite(t)) start = t;
    const x = Number.isFinite(t) && start !== undefined ? (t - start) / 1000 : s.lastX;
    s.lastX = Math.max(s.lastX, x);
    const point = { x, y: e.data.value };
    const labels = e.data.labels ?? {};
    SERIES.get(e.data.name)?.(s, point, labels);
  }
  return s;
}

export function delaySummary(points: readonly Point[]): DelaySummary {
  const ys = points.map((p) => p.y);
  if (ys.length === 0) return { count: 0, p50: NaN, p99: NaN, max: NaN };
  return { count: ys.length, p50: percentile(ys, 50), p99: percentile(ys, 99), max: Math.max(...ys) };
}

/** The last value of a series (what a live figure shows), NaN when empty. */
export const latest = (points: readonly Point[]): number => points[points.length - 1]?.y ?? NaN;
