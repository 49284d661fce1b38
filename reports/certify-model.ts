import type { AnyEvent, Outcome } from "../core/index.js";

/** One certify run as the reports see it, rebuilt from check.* events of the run log alone. */
export interface CheckRow {
  id: string;
  title: string;
  level: "MUST" | "SHOULD";
  source: string;
  outcome: Outcome;
  message: string;
  evidence: Record<string, unknown>;
  durationMs?: number;
  time: string;
}

export interface CertifyReport {
  ca: string;
  startTime: string;
  endTime: string;
  verdict: "pass" | "fail";
  capabilities: Record<string, unknown>;
  checks: CheckRow[];
  totals: Record<Outcome, number> & { mustFailed: number; shouldFailed: number };
}

export function buildCertifyReport(events: readonly AnyEvent[]): CertifyReport {
  let ca = "unknown";
  let startTime = events[0]?.time ?? "";
  let endTime = startTime;
  let capabilities: Record<string, unknown> = {};
  const checks: CheckRow[] = [];
  const started = new Set<string>();
  for (const e of events) {
    endTime = e.time;
    if (e.type === "run.started") {
      ca = String(e.data.meta?.ca ?? e.data.name);
      startTime = e.time;
      capabilities = (e.data.meta?.capabilities as Record<string, unknown>) ?? {};
    } else if (e.type === "check.started") {
      started.add(e.data.id);
    } else if (e.type === "check.finished") {
      started.delete(e.data.id);
      checks.push({
        id: e.data.id,
        title: e.data.title,
        level: e.data.level,
        source: e.data.source,
        outcome: e.data.outcome,
        message: e.data.message ?? "",
        evidence: e.data.evidence ?? {},
        durationMs: e.data.durationMs,
        time: e.time,
      });
    }
  }
  // A check that started and never finished (the run died): an error, never a pass.
  for (const id of started) {
    const e = events.find((x) => x.type === "check.started" && x.data.id === id);
    if (e && e.type === "check.started") checks.push({ ...e.data, outcome: "error", message: "started but never finished", evidence: {}, time: endTime });
  }
  const count = (o: Outcome) => checks.filter((c) => c.outcome === o).length;
  const bad = (c: CheckRow) => c.outcome === "fail" || c.outcome === "error";
  const mustFailed = checks.filter((c) => c.level === "MUST" && bad(c)).length;
  return {
    ca,
    startTime,
    endTime,
    verdict: mustFailed ? "fail" : "pass",
    capabilities,
    checks,
    totals: { pass: count("pass"), fail: count("fail"), error: count("error"), skip: count("skip"), mustFailed, shouldFailed: checks.filter((c) => c.level === "SHOULD" && bad(c)).length },
  };
}

/** Evidence in a few hundred characters, for tables; the JSON report keeps all of it. */
export function evidenceSummary(ev: Record<string, unknown>, max = 300): string {
  const short = Object.fromEntries(
    Object.entries(ev).map(([k, v]) => [k, typeof v === "string" && v.length > 80 ? `${v.slice(0, 40)}…(${v.length} chars)` : v]),
  );
  const s = JSON.stringify(short);
  return s.length > max ? s.slice(0, max) + "…" : s;
}
