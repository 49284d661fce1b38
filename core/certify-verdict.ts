import type { Outcome } from "./events.js";

/**
 * How certify turns its checks' outcomes into one verdict and an exit
 * status, in one place: the runner, every report and the command agree
 * because they all ask here.
 *
 * - A MUST check that fails on the CA's own artefacts fails the run (exit 1).
 *   With `strict`, so does a SHOULD check.
 * - A failure on something the adapter made (`madeBy: "adapter"`) is a
 *   warning: never a CA defect.
 * - A check the harness could not judge (outcome "error") leaves the run
 *   incomplete (exit 3) unless `allowIncomplete`.
 */
export interface VerdictRules {
  /** A run with checks that could not be judged still passes (exit 0) when nothing failed. */
  allowIncomplete: boolean;
  /** SHOULD failures fail the run too. */
  strict: boolean;
}

export const DEFAULT_VERDICT_RULES: VerdictRules = { allowIncomplete: false, strict: false };

export type CertifyVerdict = "pass" | "fail" | "incomplete";

/** Exit status of `certify` for each verdict (2 is for a CA that cannot be reached at all, and bad usage). */
export const VERDICT_EXIT: Record<CertifyVerdict, number> = { pass: 0, fail: 1, incomplete: 3 };

export interface JudgedRow {
  level: "MUST" | "SHOULD";
  outcome: Outcome;
  madeBy?: "ca" | "adapter";
}

/**
 * What one check's outcome means for the run:
 * - "pass": conforms;
 * - "defect": a CA defect that fails the run;
 * - "warning": a failure that does not fail the run (a SHOULD when not
 *   strict, or something the adapter made);
 * - "not-judged": the harness could not judge, and that fails the run
 *   (incomplete);
 * - "not-judged-allowed": the same, tolerated by allowIncomplete;
 * - "skip": does not apply.
 */
export type RowClass = "pass" | "defect" | "warning" | "not-judged" | "not-judged-allowed" | "skip";

export function classifyRow(r: JudgedRow, rules: VerdictRules): RowClass {
  switch (r.outcome) {
    case "pass":
      return "pass";
    case "skip":
      return "skip";
    case "error":
      return rules.allowIncomplete ? "not-judged-allowed" : "not-judged";
    case "fail":
      if (r.madeBy === "adapter") return "warning";
      return r.level === "MUST" || rules.strict ? "defect" : "warning";
  }
}

export function certifyVerdict(rows: readonly JudgedRow[], rules: VerdictRules): CertifyVerdict {
  return verdictOf(rows.map((r) => classifyRow(r, rules)));
}

/** The verdict of rows already classified. */
export function verdictOf(classes: readonly RowClass[]): CertifyVerdict {
  if (classes.includes("defect")) return "fail";
  if (classes.includes("not-judged")) return "incomplete";
  return "pass";
}
