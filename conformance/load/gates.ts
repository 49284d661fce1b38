import { parseDuration, percentile, UsageError } from "../../core/index.js";
import type { GateResult } from "./types.js";

/*
 * The CI gates of `cardloop load revoke`: --min-rate (acknowledged
 * revocations per second), --max-p99 (request latency) and
 * --max-propagation (a percentile of the delay from acknowledgement to
 * publication, on OCSP, the CRL or both). A gate that cannot be judged (no
 * samples) fails and says so: a CI job must not pass on figures it never had.
 */

export type PropagationChannel = "ocsp" | "crl";

export interface Gates {
  minRate?: number;
  maxP99Ms?: number;
  maxPropagation?: { channels: PropagationChannel[]; percentile: number; ms: number; text: string };
  /** `--max-errors N|P%`: failed serials allowed (a count, or a share of the serials sent). Not given: 0, any failure fails the run. */
  maxErrors?: { count?: number; percent?: number; text: string };
}

export interface GateFigures {
  /** Acknowledged revocations per second over the revoke phase. */
  perSecond: number;
  /** Request latency p99 (ms); NaN when no request completed. */
  p99Ms: number;
  propagation: { ocsp: number[]; crl: number[]; notSeen: { ocsp: number; crl: number } };
  /** Serials sent, acknowledged, and failed by class (absent: the run sent nothing, no error gates). */
  revocations?: { sent: number; acknowledged: number; errors: Record<string, number> };
}

/** `--max-errors 10` (failed serials) or `--max-errors 0.5%` (of the serials sent). */
export function parseMaxErrors(text: string): NonNullable<Gates["maxErrors"]> {
  const given = String(text).trim();
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(given);
  if (!m) throw new UsageError(`--max-errors ${JSON.stringify(given)}: expected a count of failed serials (e.g. 10) or a percentage of those sent (e.g. 0.5%)`);
  const n = Number(m[1]);
  if (m[2]) {
    if (!(n <= 100)) throw new UsageError(`--max-errors ${JSON.stringify(given)}: a percentage is at most 100%`);
    return { percent: n, text: given };
  }
  if (!Number.isSafeInteger(n)) throw new UsageError(`--max-errors ${JSON.stringify(given)}: a count is a whole number`);
  return { count: n, text: given };
}

/**
 * The error gates, judged on every run that sent something: failed serials
 * beyond --max-errors (default 0) fail it, naming the classes; serials sent
 * and none acknowledged always fails (a wrong token or a dead CA is no pass).
 */
function errorGates(g: Gates, r: NonNullable<GateFigures["revocations"]>): GateResult[] {
  const out: GateResult[] = [];
  if (r.sent === 0) return out;
  const failed = Object.values(r.errors).reduce((s, n) => s + n, 0);
  const me = g.maxErrors;
  const allowed = me?.percent !== undefined ? (me.percent / 100) * r.sent : (me?.count ?? 0);
  // Shown when given, or when something failed: a clean run without the option keeps its gates list short.
  if (me || failed > 0) {
    const classes = Object.entries(r.errors)
      .filter(([, n]) => n > 0)
      .sort((a, b) => b[1] - a[1])
      .map(([cls, n]) => `${n} ${cls}`)
      .join(", ");
    out.push({
      gate: "max-errors",
      limit: me ? me.text : "0 (default)",
      actual: `${failed} of ${r.sent} serials failed${classes ? ` (${classes})` : ""}`,
      passed: failed <= allowed,
    });
  }
  if (r.acknowledged === 0) out.push({ gate: "acknowledged", limit: "at least 1", actual: `0 of ${r.sent} serials sent acknowledged`, passed: false });
  return out;
}


const OPTION = "--max-propagation";
const SHAPE = /^(?:(ocsp|crl):)?(?:p(\d{1,3}(?:\.\d{1,3})?)=)?(.+)$/;

/**
 * `[ocsp:|crl:][pNN=]D`: "2s" (p99 on both channels), "ocsp:500ms",
 * "crl:p95=1m", "p99.9=250ms". `text` is the option as given (trimmed):
 * parsing it again gives the same gate.
 */
export function parseMaxPropagation(text: string): NonNullable<Gates["maxPropagation"]> {
  const given = String(text).trim();
  const m = SHAPE.exec(given);
  const expected = "expected [ocsp:|crl:][pNN=]DURATION, e.g. 2s, ocsp:500ms or crl:p95=1m";
  if (!m) throw new UsageError(`${OPTION} ${JSON.stringify(given)}: ${expected}`);
  const [, channel, p, d] = m;
  const pct = p === undefined ? 99 : Number(p);
  if (!(pct > 0 && pct <= 100)) throw new UsageError(`${OPTION} ${JSON.stringify(given)}: the percentile must be above 0 and at most 100 (got p${p})`);
  let ms: number;
  try {
    ms = parseDuration(d);
  } catch {
    throw new UsageError(`${OPTION} ${JSON.stringify(given)}: ${JSON.stringify(d)} is not a duration; ${expected}`);
  }
  if (!Number.isFinite(ms)) throw new UsageError(`${OPTION} ${JSON.stringify(given)}: the duration is out of range`);
  return { channels: channel ? [channel as PropagationChannel] : ["ocsp", "crl"], percentile: pct, ms, text: given };
}

/** The gate in the option's own syntax, canonical (for a plan record; parses back to the same gate). */
export function formatMaxPropagation(g: NonNullable<Gates["maxPropagation"]>): string {
  const channel = g.channels.length === 1 ? `${g.channels[0]}:` : "";
  return `${channel}p${g.percentile}=${plainDecimal(g.ms)}ms`;
}

/** A number as plain decimal digits, never an exponent ("1e+21" is no duration); exact, since String(x) reads back as x. */
function plainDecimal(x: number): string {
  const s = String(x);
  const m = /^(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (!m) return s;
  const digits = m[1] + (m[2] ?? "");
  const exp = Number(m[3]);
  if (exp >= 0) return digits.length > exp + 1 ? `${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}` : digits + "0".repeat(exp + 1 - digits.length);
  return `0.${"0".repeat(-exp - 1)}${digits}`;
}

/** One result per gate given (per channel for --max-propagation), in the order min-rate, max-p99, max-errors/acknowledged, max-propagation. */
export function evaluateGates(g: Gates, figures: GateFigures): GateResult[] {
  const out: GateResult[] = [];
  if (g.minRate !== undefined) {
    const rate = figures.perSecond;
    const judged = Number.isFinite(rate);
    out.push({
      gate: "min-rate",
      limit: `${num(g.minRate)}/s`,
      actual: judged ? `${num(rate)}/s` : "no rate: nothing was measured",
      passed: judged && rate >= g.minRate,
    });
  }
  if (g.maxP99Ms !== undefined) {
    const p99 = figures.p99Ms;
    const judged = Number.isFinite(p99);
    out.push({
      gate: "max-p99",
      limit: `${num(g.maxP99Ms)}ms`,
      actual: judged ? `${num(p99)}ms` : "no samples: no request completed",
      passed: judged && p99 <= g.maxP99Ms,
    });
  }
  if (figures.revocations) out.push(...errorGates(g, figures.revocations));
  const mp = g.maxPropagation;
  if (mp) {
    for (const channel of mp.channels) {
      const delays = figures.propagation[channel];
      const notSeen = figures.propagation.notSeen[channel];
      const name = channel.toUpperCase();
      const limit = `${channel} p${mp.percentile} <= ${num(mp.ms)}ms`;
      if (delays.length === 0) {
        const why = notSeen > 0 ? `${notSeen} watched serials never seen` : "no samples: the channel was not watched";
        out.push({ gate: "max-propagation", limit, actual: `${name}: ${why}`, passed: false });
        continue;
      }
      const value = percentile(delays, mp.percentile);
      const unseen = notSeen > 0 ? `, ${notSeen} of ${delays.length + notSeen} watched never seen` : "";
      out.push({
        gate: "max-propagation",
        limit,
        actual: `${channel} p${mp.percentile} = ${num(value)}ms${unseen}`,
        passed: notSeen === 0 && value <= mp.ms,
      });
    }
  }
  return out;
}

/** A figure as a person reads it: whole above 100, one decimal below, at most 3 significant decimals for small values. */
function num(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 100 || Number.isInteger(v)) return String(Math.round(v));
  if (a >= 1) return v.toFixed(1);
  return String(Number(v.toPrecision(3)));
}
