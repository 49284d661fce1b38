import { type AnyEvent, buildCertifyReport, type CertifyReport } from "./browser-safe.js";

/**
 * A certify run as the page shows it while it may still be going: the
 * report's model reads a log without its end as cut short (a RUN-INCOMPLETE
 * row, the check under way "not judged"); the page reads the same log as a
 * run in progress. One rule for the check matrix and the compare view.
 */
export interface LiveCertify {
  /** The report's own, less the RUN-INCOMPLETE row while more is to come (a run still going lacks its end: that is not a check). */
  report: CertifyReport;
  /** More is to come: the run is running, or the page has not caught up with it. */
  running: boolean;
  /** Checks started and not finished while running: shown RUNNING, never a result, never a difference. */
  inFlight: ReadonlySet<string>;
}

/** The row reports/certify-model.ts adds to a log without run.finished. */
const INCOMPLETE_ROW = "RUN-INCOMPLETE";

export function liveCertify(events: readonly AnyEvent[], running: boolean): LiveCertify {
  const r = buildCertifyReport(events);
  if (!running) return { report: r, running, inFlight: new Set() };
  return { report: { ...r, checks: r.checks.filter((c) => c.id !== INCOMPLETE_ROW) }, running, inFlight: checksInFlight(events) };
}

function checksInFlight(events: readonly AnyEvent[]): Set<string> {
  const open = new Set<string>();
  for (const e of events) {
    if (e.type === "check.started") open.add(e.data.id);
    else if (e.type === "check.finished") open.delete(e.data.id);
  }
  return open;
}
