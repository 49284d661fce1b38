// core/browser.ts, not core/index.ts: the dashboard's page bundles this model for the browser.
import {
  DEFAULT_VERDICT_RULES,
  VERDICT_EXIT,
  verdictOf,
  classifyRow,
  type CertifyVerdict,
  type RowClass,
  type VerdictRules,
  type AnyEvent,
  type Outcome,
} from "../core/browser.js";

/**
 * One certify run as the reports see it, rebuilt from the run log alone:
 * run.started's meta (what was judged, by what, how) and the check.* events.
 * reports/ imports only core, so the runner's meta is read through the local
 * shapes below, each field checked before use (older logs lack most of them).
 */

/** How one artefact a verdict rests on was obtained: by the CA's own means or made by the adapter. */
export interface ArtefactOrigin {
  by: "ca" | "adapter";
  /** The command line or endpoint, as a user would run it. */
  how: string;
  note?: string;
}

export interface CheckRow {
  id: string;
  title: string;
  level: "MUST" | "SHOULD";
  source: string;
  outcome: Outcome;
  /** What the outcome means for the run (core/certify-verdict.ts), under the run's rules. */
  class: RowClass;
  message: string;
  evidence: Record<string, unknown>;
  durationMs?: number;
  time: string;
  /** Position in the run (catalogue order): rows are listed by class, then by this. */
  index: number;
  /** Not judged: why (credential, throttled, unreachable, adapter, refused-otherwise, harness). */
  cause?: string;
  /** Not judged: what would let certify judge it. */
  fix?: string;
  madeBy?: "ca" | "adapter";
  producedBy?: Array<ArtefactOrigin & { artefact: string }>;
  /** The command line that runs this check alone again. */
  reproduce?: string;
}

export interface CertifyProvenance {
  cardloopVersion?: string;
  catalogue?: { version: string; sha256: string; checks: number };
  /** The CA under test, as its adapter tells it. */
  identity: { software: string; version?: string; url?: string };
  capabilities: Record<string, unknown>;
  /** Per artefact (issuance, renewal, revocation, status, crl, ocsp): who made it and with what command. */
  artefacts: Record<string, ArtefactOrigin>;
  /**
   * Whether the adapter declared how it obtains any artefact: false when it
   * declared none (a module without `provenance()`: everything is taken as
   * the CA's own); absent in a log from before provenance was recorded.
   */
  artefactsDeclared?: boolean;
  /** Which credentials certify held (never their values). */
  credentialsHeld: Record<string, boolean>;
  policy?: Record<string, unknown>;
  policySource?: string;
  options?: Record<string, unknown>;
  /** The check IDs asked for with --only (absent: the whole catalogue). */
  only?: string[];
  startTime: string;
  endTime: string;
  durationMs: number;
}

export interface CertifyTotals extends Record<Outcome, number> {
  checks: number;
  defects: number;
  warnings: number;
  /** Not judged, and that leaves the run incomplete. */
  notJudged: number;
  /** Not judged, tolerated by allowIncomplete. */
  notJudgedAllowed: number;
}

export interface CertifyReport {
  ca: string;
  startTime: string;
  endTime: string;
  verdict: CertifyVerdict;
  /** certify's exit status for this verdict: 0 pass, 1 fail, 3 incomplete. */
  exitCode: number;
  rules: VerdictRules;
  provenance: CertifyProvenance;
  /** Failures first: defects, not judged, warnings, not judged but allowed, then pass, then skip; run order within each. */
  checks: CheckRow[];
  totals: CertifyTotals;
}

/** The order rows are listed in, in every format: what needs someone's attention first. */
export const CLASS_ORDER: readonly RowClass[] = ["defect", "not-judged", "warning", "not-judged-allowed", "pass", "skip"];

export function buildCertifyReport(events: readonly AnyEvent[]): CertifyReport {
  let ca = "unknown";
  let meta: Record<string, unknown> = {};
  let startTime = events[0]?.time ?? "";
  let endTime = startTime;
  const rows: Array<Omit<CheckRow, "class">> = [];
  const running = new Map<string, { head: Extract<AnyEvent, { type: "check.started" }>["data"]; index: number }>();
  let index = 0;
  let finished = false;
  for (const e of events) {
    endTime = e.time;
    if (e.type === "run.finished") finished = true;
    if (e.type === "run.started") {
      meta = e.data.meta ?? {};
      ca = String(meta.ca ?? e.data.name);
      startTime = e.time;
    } else if (e.type === "check.started") {
      running.set(e.data.id, { head: e.data, index: index++ });
    } else if (e.type === "check.finished") {
      const d = e.data;
      const at = running.get(d.id)?.index ?? index++;
      running.delete(d.id);
      rows.push({
        id: d.id,
        title: d.title,
        level: d.level,
        source: d.source,
        outcome: d.outcome,
        message: d.message ?? "",
        evidence: d.evidence ?? {},
        durationMs: d.durationMs,
        time: e.time,
        index: at,
        ...(d.cause !== undefined ? { cause: d.cause } : {}),
        ...(d.fix !== undefined ? { fix: d.fix } : {}),
        ...(d.madeBy !== undefined ? { madeBy: d.madeBy } : {}),
        ...(d.producedBy !== undefined ? { producedBy: d.producedBy } : {}),
        ...(d.reproduce !== undefined ? { reproduce: d.reproduce } : {}),
      });
    }
  }
  // A check that started and never finished (the run died in it): not judged, never a pass.
  for (const { head, index: at } of running.values()) {
    rows.push({
      ...head,
      outcome: "error",
      cause: "harness",
      message: "started but never finished: the run stopped during this check",
      fix: "run the check again; if the run stops in it again, report it to cardloop",
      evidence: {},
      time: endTime,
      index: at,
    });
  }
  // A run that died between checks (or before the first) left no trace of the checks it never started: it cannot pass.
  if (!finished) {
    rows.push({
      id: "RUN-INCOMPLETE",
      title: "The run finished",
      level: "MUST",
      source: "cardloop certify",
      outcome: "error",
      cause: "harness",
      message: "the run log ends before the run finished: checks after the last one recorded never ran",
      fix: "run certify again; if it stops again, report it to cardloop with the run log",
      evidence: { checksRecorded: rows.length },
      time: endTime,
      index: index++,
    });
  }
  const rules = rulesOf(meta.rules);
  const checks = rows
    .map((r): CheckRow => ({ ...r, class: classifyRow(r, rules) }))
    .sort((a, b) => CLASS_ORDER.indexOf(a.class) - CLASS_ORDER.indexOf(b.class) || a.index - b.index);
  const verdict = verdictOf(checks.map((c) => c.class));
  return {
    ca,
    startTime,
    endTime,
    verdict,
    exitCode: VERDICT_EXIT[verdict],
    rules,
    provenance: provenanceOf(meta, startTime, endTime),
    checks,
    totals: totalsOf(checks),
  };
}

function totalsOf(checks: readonly CheckRow[]): CertifyTotals {
  const outcomes = (o: Outcome) => checks.filter((c) => c.outcome === o).length;
  const classes = (k: RowClass) => checks.filter((c) => c.class === k).length;
  return {
    checks: checks.length,
    pass: outcomes("pass"),
    fail: outcomes("fail"),
    error: outcomes("error"),
    skip: outcomes("skip"),
    defects: classes("defect"),
    warnings: classes("warning"),
    notJudged: classes("not-judged"),
    notJudgedAllowed: classes("not-judged-allowed"),
  };
}

/** The verdict rules the run was judged by; a log from before they existed was judged by the defaults. The dashboard's summary reads them so too. */
export function rulesOf(v: unknown): VerdictRules {
  const r = record(v);
  return {
    allowIncomplete: typeof r.allowIncomplete === "boolean" ? r.allowIncomplete : DEFAULT_VERDICT_RULES.allowIncomplete,
    strict: typeof r.strict === "boolean" ? r.strict : DEFAULT_VERDICT_RULES.strict,
  };
}

function provenanceOf(meta: Record<string, unknown>, startTime: string, endTime: string): CertifyProvenance {
  const identity = record(meta.identity);
  const catalogue = record(meta.catalogue);
  const artefacts: Record<string, ArtefactOrigin> = {};
  for (const [name, v] of Object.entries(record(meta.provenance))) {
    const a = record(v);
    if ((a.by === "ca" || a.by === "adapter") && typeof a.how === "string") artefacts[name] = { by: a.by, how: a.how, ...(typeof a.note === "string" ? { note: a.note } : {}) };
  }
  const held = Object.fromEntries(Object.entries(record(meta.credentialsHeld)).filter((kv): kv is [string, boolean] => typeof kv[1] === "boolean"));
  const ms = Date.parse(endTime) - Date.parse(startTime);
  return {
    ...(typeof meta.cardloopVersion === "string" ? { cardloopVersion: meta.cardloopVersion } : {}),
    ...(typeof catalogue.version === "string" && typeof catalogue.sha256 === "string"
      ? { catalogue: { version: catalogue.version, sha256: catalogue.sha256, checks: Number(catalogue.checks ?? 0) } }
      : {}),
    identity: {
      software: typeof identity.software === "string" ? identity.software : "unknown",
      ...(typeof identity.version === "string" ? { version: identity.version } : {}),
      ...(typeof identity.url === "string" ? { url: identity.url } : {}),
    },
    capabilities: record(meta.capabilities),
    artefacts,
    ...(meta.provenance !== undefined ? { artefactsDeclared: Object.keys(artefacts).length > 0 } : {}),
    credentialsHeld: held,
    ...(meta.policy !== undefined ? { policy: record(meta.policy) } : {}),
    ...(typeof meta.policySource === "string" ? { policySource: meta.policySource } : {}),
    ...(meta.options !== undefined ? { options: record(meta.options) } : {}),
    ...(Array.isArray(meta.only) ? { only: meta.only.map(String) } : {}),
    startTime,
    endTime,
    durationMs: Number.isFinite(ms) ? Math.max(0, ms) : 0,
  };
}

/** v when it is a plain object (an event field read before use), else an empty one. */
export function record(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}
