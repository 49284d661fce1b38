import { createHash } from "node:crypto";
import {
  CARDLOOP_VERSION,
  DEFAULT_POLICY,
  DEFAULT_VERDICT_RULES,
  certifyVerdict,
  classifyRow,
  type Clock,
  type EventBus,
  type LifecyclePolicy,
  type Outcome,
  type VerdictRules,
} from "../core/index.js";
import type { CaAdapter, CaCapabilities, CaCredentials, CaIdentity, Provenance } from "../simulator/ca/index.js";
import { CATALOG, Fixtures, unjudged, type Check, type CertifyOptions, type Level, type Verdict, DEFAULT_OPTIONS } from "./checks/index.js";
import { judgeThrown, missingCredentials } from "./judgement.js";

/**
 * The catalogue's version: raised when a check's meaning changes (a new
 * requirement, a changed threshold), so that two reports of one version
 * judged by the same rules. The hash in reports covers the check list itself.
 */
export const CATALOG_VERSION = "2";

export interface CheckResult {
  id: string;
  title: string;
  level: Level;
  source: string;
  outcome: Outcome;
  message: string;
  evidence: Record<string, unknown>;
  durationMs: number;
  cause?: string;
  fix?: string;
  madeBy?: "ca" | "adapter";
}

export interface CatalogRun {
  ca: string;
  results: CheckResult[];
  /** MUST checks that failed on the CA's own artefacts. */
  mustFailures: CheckResult[];
  verdict: "pass" | "fail" | "incomplete";
}

export interface RunCatalogOptions {
  bus: EventBus;
  clock: Clock;
  options?: Partial<CertifyOptions>;
  /** The lifecycle policy the CA is judged against (the default policy when absent). */
  policy?: LifecyclePolicy;
  /** Where that policy came from (a shipped name or a file), for the reports. */
  policySource?: string;
  /** Check IDs to run (all when absent). */
  only?: string[];
  checks?: readonly Check[];
  rules?: VerdictRules;
  /** The command line that runs one check again, for reports (certify fills it in). */
  reproduce?: (id: string) => string;
}

/** The catalogue's identity: its version and a hash of what each check is (ID, level, source, title). */
export function catalogIdentity(checks: readonly Check[] = CATALOG): { version: string; sha256: string; checks: number } {
  const list = checks.map((c) => [c.id, c.level, c.source, c.title].join("\t")).join("\n");
  return { version: CATALOG_VERSION, sha256: createHash("sha256").update(list).digest("hex"), checks: checks.length };
}

/**
 * Which checks certify cannot judge for want of a credential this CA asks
 * for, without running them: the CLI says so before it starts.
 */
export function checksLackingCredentials(checks: readonly Check[], caps: CaCapabilities, held: CaCredentials): Array<{ id: string; missing: Array<keyof CaCredentials> }> {
  return checks.map((c) => ({ id: c.id, missing: missingCredentials(c, caps, held) })).filter((x) => x.missing.length > 0);
}

/** Evidence fields that measure time (propagation): they legitimately differ from run to run. */
const VOLATILE_EVIDENCE = ["durationMs", "evidence.delayMs", "evidence.maxMs", "evidence.delaysMs", "evidence.worstResolutionMs"];

/** Runs the catalogue against one CA, emitting run.* and check.* events; never throws for a check's failure. */
export async function runCatalog(ca: CaAdapter, o: RunCatalogOptions): Promise<CatalogRun> {
  const options: CertifyOptions = { ...DEFAULT_OPTIONS, ...(o.options ?? {}) };
  const rules = o.rules ?? DEFAULT_VERDICT_RULES;
  const all = o.checks ?? CATALOG;
  if (o.only) {
    const unknown = o.only.filter((id) => !all.some((c) => c.id === id));
    if (unknown.length) throw new RangeError(`unknown check ID: ${unknown.join(", ")}`);
  }
  const checks = o.only ? all.filter((c) => o.only!.includes(c.id)) : all;
  const caps = ca.capabilities();
  const policy = o.policy ?? DEFAULT_POLICY;
  const held = ca.credentials?.() ?? {};
  // An adapter that cannot say what it is still gets judged: the report says "unknown".
  const provenance: Provenance = safely(() => ca.provenance?.()) ?? {};
  const identity: CaIdentity = (await Promise.resolve(safely(() => ca.identity?.())).catch(() => undefined)) ?? { software: "unknown" };
  // Values no report may carry, wherever a CA or an error message quotes them: certify's tokens, the codes it was handed.
  const scrub = (v: unknown) => scrubSecrets(v, [held.raToken, held.operatorToken, ...fx.knownSecrets()]);
  const fx = new Fixtures(ca, o.clock, options, policy);
  const ctx = { ca, caps, clock: o.clock, options, policy, fx };
  o.bus.emit("run.started", {
    name: `certify ${ca.name}`,
    kind: "certify",
    meta: {
      ca: ca.name,
      identity,
      capabilities: caps,
      provenance,
      // Which credentials certify held, never their values.
      credentialsHeld: { raToken: held.raToken !== undefined, operatorToken: held.operatorToken !== undefined },
      cardloopVersion: CARDLOOP_VERSION,
      catalogue: catalogIdentity(all),
      ...(o.only ? { only: o.only } : {}),
      options,
      rules,
      policy: policyRules(policy),
      ...(o.policySource ? { policySource: o.policySource } : {}),
    },
  });
  const results: CheckResult[] = [];
  for (const check of checks) {
    const head = { id: check.id, title: check.title, level: check.level, source: check.source };
    o.bus.emit("check.started", head);
    const t0 = o.clock.nowMs();
    let v: Verdict;
    const missing = (check.needs ?? []).filter((n) => !caps[n]);
    const lacking = missingCredentials(check, caps, held);
    if (missing.length) {
      v = { outcome: "skip", message: `the CA does not offer ${missing.join(", ")}`, evidence: { capabilities: Object.fromEntries(missing.map((m) => [m, false])) } };
    } else if (lacking.length) {
      v = unjudged("credential", `certify holds no ${lacking.join(" or ")} for this CA, which asks for it`, `give ${lacking.join(" and ")} in --ca-config`, { credentialsMissing: lacking });
    } else {
      try {
        v = await check.run(ctx);
      } catch (err) {
        v = judgeThrown(err);
      }
    }
    const producedBy = (check.judges ?? []).flatMap((a) => (provenance[a] ? [{ artefact: a, ...provenance[a]! }] : []));
    // Adapter-made when something the verdict rests on is the adapter's doing: the check's artefacts, or the
    // narrower ones the verdict names (the lifecycle's failing step).
    const restsOn = v.restsOn ?? check.judges ?? [];
    const madeBy = restsOn.some((a) => provenance[a]?.by === "adapter") ? ("adapter" as const) : ("ca" as const);
    const durationMs = Math.max(0, o.clock.nowMs() - t0);
    const { restsOn: _narrowed, ...verdict } = v;
    const result: CheckResult = {
      ...head,
      ...verdict,
      message: scrub(verdict.message) as string,
      evidence: scrub(jsonSafe(verdict.evidence)) as Record<string, unknown>,
      durationMs,
      ...(producedBy.length ? { madeBy } : {}),
    };
    results.push(result);
    o.bus.emit(
      "check.finished",
      {
        ...head,
        outcome: result.outcome,
        message: result.message,
        evidence: result.evidence,
        durationMs,
        ...(result.cause ? { cause: result.cause, fix: result.fix } : {}),
        ...(producedBy.length ? { madeBy, producedBy } : {}),
        ...(o.reproduce ? { reproduce: o.reproduce(check.id) } : {}),
      },
      // Wall-clock figures differ between two runs of the same seed; a message quoting them too.
      [
        ...VOLATILE_EVIDENCE,
        ...Object.keys(result.evidence).filter((k) => /^p\d+Ms$/.test(k)).map((k) => `evidence.${k}`),
        ...(typeof result.evidence.delayMs === "number" ? ["message"] : []),
      ],
    );
    // Measured delays also go out as metrics, for the dashboard and for trend lines across runs.
    if (typeof result.evidence.delayMs === "number") {
      o.bus.emit("metric.sample", { name: `certify.${check.id.toLowerCase()}.delay`, value: result.evidence.delayMs, unit: "ms", labels: { ca: ca.name } }, ["value"]);
    }
  }
  const verdict = certifyVerdict(results, rules);
  const mustFailures = results.filter((r) => r.level === "MUST" && classifyRow(r, rules) === "defect");
  const count = (x: Outcome) => results.filter((r) => r.outcome === x).length;
  o.bus.emit("run.finished", {
    outcome: verdict === "pass" ? "pass" : verdict === "fail" ? "fail" : "error",
    summary: {
      ca: ca.name,
      verdict,
      checks: results.length,
      pass: count("pass"),
      fail: count("fail"),
      notJudged: count("error"),
      skip: count("skip"),
      mustFailures: mustFailures.map((r) => r.id),
    },
  });
  return { ca: ca.name, results, mustFailures, verdict };
}

/** The rules certify judges by, for the run log; the policy's transport PIN and PUK stay out of it. */
function policyRules(p: LifecyclePolicy): Record<string, unknown> {
  return { name: p.name, lifetimeYears: p.lifetimeYears, capAtCardExpiry: p.capAtCardExpiry, maxFailedAttempts: p.maxFailedAttempts, renewal: p.renewal, reasonsByRole: p.reasonsByRole };
}

function safely<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

/** Strings with any of `secrets` (at least 8 characters: never a common word) masked, at any depth. */
export function scrubSecrets(v: unknown, secrets: ReadonlyArray<string | undefined>): unknown {
  const known = secrets.filter((x): x is string => typeof x === "string" && x.length >= 8);
  if (!known.length) return v;
  const walk = (x: unknown): unknown => {
    if (typeof x === "string") return known.reduce((t, k) => t.split(k).join("***"), x);
    if (Array.isArray(x)) return x.map(walk);
    if (x && typeof x === "object") return Object.fromEntries(Object.entries(x).map(([k, y]) => [k, walk(y)]));
    return x;
  };
  return walk(v);
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
