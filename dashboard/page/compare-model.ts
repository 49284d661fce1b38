import { type CheckRow, resultLabel } from "./browser-safe.js";
import type { LiveCertify } from "./certify-live.js";

/**
 * Two certify runs side by side by check ID (two CAs, or one CA before and
 * after a change). A row differs when its result differs, or when only one
 * run has the check; messages alone (serial numbers, timings) do not count.
 * A check still running, or not reached yet by a run still going, is no
 * difference (yet): it says so instead of a result.
 */

/** One side of a row: a result, a check under way, one a running run has not reached yet, or one a finished run lacks. */
export type SideState = "done" | "running" | "not yet" | "absent";

export interface CompareRow {
  id: string;
  title: string;
  level: string;
  a?: CheckRow;
  b?: CheckRow;
  aState: SideState;
  bState: SideState;
  differs: boolean;
}

export function compareChecks(a: LiveCertify, b: LiveCertify): CompareRow[] {
  const byId = new Map<string, CompareRow>();
  const order = new Map<string, number>();
  const add = (row: CheckRow, side: "a" | "b", offset: number) => {
    const r = byId.get(row.id) ?? { id: row.id, title: row.title, level: row.level, aState: "absent", bState: "absent", differs: false };
    r[side] = row;
    byId.set(row.id, r);
    if (!order.has(row.id)) order.set(row.id, offset + row.index);
  };
  for (const row of a.report.checks) add(row, "a", 0);
  // B's checks that A lacks come after A's, in B's order
  for (const row of b.report.checks) add(row, "b", 1_000_000);
  const rows = [...byId.values()];
  for (const r of rows) {
    r.aState = sideState(a, r.a, r.id);
    r.bState = sideState(b, r.b, r.id);
    r.differs = settles(r.aState) && settles(r.bState) && (!r.a || !r.b || resultLabel(r.a) !== resultLabel(r.b));
  }
  return rows.sort((x, y) => Number(y.differs) - Number(x.differs) || (order.get(x.id) ?? 0) - (order.get(y.id) ?? 0));
}

function sideState(run: LiveCertify, row: CheckRow | undefined, id: string): SideState {
  if (!row) return run.running ? "not yet" : "absent";
  return run.inFlight.has(id) ? "running" : "done";
}

const settles = (s: SideState): boolean => s === "done" || s === "absent";
