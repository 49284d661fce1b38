import { DEFAULT_POLICY, type Clock, type EventBus, type LifecyclePolicy, type Outcome } from "../core/index.js";
import type { CaAdapter } from "../simulator/ca/index.js";
import { CATALOG, Fixtures, Precondition, type Check, type CertifyOptions, type Level, DEFAULT_OPTIONS } from "./checks/index.js";

export interface CheckResult {
  id: string;
  title: string;
  level: Level;
  source: string;
  outcome: Outcome;
  message: string;
  evidence: Record<string, unknown>;
  durationMs: number;
}

export interface CatalogRun {
  ca: string;
  results: CheckResult[];
  /** MUST checks that failed or could not be judged (error). */
  mustFailures: CheckResult[];
}

export interface RunCatalogOptions {
  bus: EventBus;
  clock: Clock;
  options?: Partial<CertifyOptions>;
  /** The lifecycle policy the CA is judged against (the default policy when absent). */
  policy?: LifecyclePolicy;
  /** Check IDs to run (all when absent). */
  only?: string[];
  checks?: readonly Check[];
}

/** Runs the catalogue against one CA, emitting run.* and check.* events; never throws for a check's failure. */
export async function runCatalog(ca: CaAdapter, o: RunCatalogOptions): Promise<CatalogRun> {
  const options: CertifyOptions = { ...DEFAULT_OPTIONS, ...(o.options ?? {}) };
  const all = o.checks ?? CATALOG;
  if (o.only) {
    const unknown = o.only.filter((id) => !all.some((c) => c.id === id));
    if (unknown.length) throw new RangeError(`unknown check ID: ${unknown.join(", ")}`);
  }
  const checks = o.only ? all.filter((c) => o.only!.includes(c.id)) : all;
  const caps = ca.capabilities();
  const policy = o.policy ?? DEFAULT_POLICY;
  const fx = new Fixtures(ca, o.clock, options, policy);
  const ctx = { ca, caps, clock: o.clock, options, policy, fx };
  o.bus.emit("run.started", { name: `certify ${ca.name}`, kind: "certify", meta: { ca: ca.name, capabilities: caps, options, policy: policyRules(policy) } });
  const results: CheckResult[] = [];
  for (const check of checks) {
    const head = { id: check.id, title: check.title, level: check.level, source: check.source };
    o.bus.emit("check.started", head);
    const t0 = o.clock.nowMs();
    let outcome: Outcome;
    let message: string;
    let evidence: Record<string, unknown> = {};
    const missing = (check.needs ?? []).filter((n) => !caps[n]);
    if (missing.length) {
      outcome = "skip";
      message = `the CA does not offer ${missing.join(", ")}`;
      evidence = { capabilities: Object.fromEntries(missing.map((m) => [m, false])) };
    } else {
      try {
        const v = await check.run(ctx);
        ({ outcome, message, evidence } = v);
      } catch (err) {
        if (err instanceof Precondition) {
          outcome = "skip";
          message = err.message;
          evidence = err.evidence;
        } else {
          outcome = "error";
          message = `could not be judged: ${(err as Error).message?.split("\n")[0] ?? String(err)}`;
          evidence = { error: (err as Error).name ?? "Error" };
        }
      }
    }
    const durationMs = Math.max(0, o.clock.nowMs() - t0);
    const result: CheckResult = { ...head, outcome, message, evidence: jsonSafe(evidence) as Record<string, unknown>, durationMs };
    results.push(result);
    o.bus.emit("check.finished", { ...head, outcome, message, evidence: result.evidence, durationMs }, ["durationMs", "evidence.delayMs"]);
    // Measured delays also go out as metrics, for the dashboard and for trend lines across runs.
    if (typeof result.evidence.delayMs === "number") {
      o.bus.emit("metric.sample", { name: `certify.${check.id.toLowerCase()}.delay`, value: result.evidence.delayMs, unit: "ms", labels: { ca: ca.name } }, ["value"]);
    }
  }
  const mustFailures = results.filter((r) => r.level === "MUST" && (r.outcome === "fail" || r.outcome === "error"));
  const count = (x: Outcome) => results.filter((r) => r.outcome === x).length;
  o.bus.emit("run.finished", {
    outcome: mustFailures.length ? "fail" : "pass",
    summary: { ca: ca.name, checks: results.length, pass: count("pass"), fail: count("fail"), error: count("error"), skip: count("skip"), mustFailures: mustFailures.map((r) => r.id) },
  });
  return { ca: ca.name, results, mustFailures };
}

/** The rules certify judges by, for the run log; the policy's transport PIN and PUK stay out of it. */
function policyRules(p: LifecyclePolicy): Record<string, unknown> {
  return { name: p.name, lifetimeYears: p.lifetimeYears, capAtCardExpiry: p.capAtCardExpiry, maxFailedAttempts: p.maxFailedAttempts, renewal: p.renewal, reasonsByRole: p.reasonsByRole };
}

/** Evidence goes into JSON: Dates become ISO strings, bigints decimal strings, bytes base64. */
function jsonSafe(v: unknown): unknown {
  if (typeof v === "bigint") return v.toString();
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString("base64");
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonSafe(x)]));
  return v;
}
