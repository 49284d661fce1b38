import type { RowClass } from "../core/browser.js";
import type { CertifyReport, CheckRow } from "./certify-model.js";

/**
 * The phrases every certify format shares (terminal, JUnit, Markdown, HTML),
 * so that a check reads the same wherever someone meets it.
 */

/** Each class's short label. "NOT JUDGED" is never called a failure or an error: the CA is not at fault. */
export const CLASS_LABEL: Record<RowClass, string> = {
  defect: "FAIL",
  "not-judged": "NOT JUDGED",
  warning: "WARN",
  "not-judged-allowed": "NOT JUDGED (allowed)",
  pass: "PASS",
  skip: "SKIP",
};

/** Rows that need someone to look: the ones with a reproduction command shown beside them. */
export const needsAttention = (c: CheckRow): boolean => c.class !== "pass" && c.class !== "skip";

/**
 * A pass on something the adapter made says nothing about the CA: it is
 * labelled so wherever a pass is shown, never a plain PASS.
 */
export const isAdapterMadePass = (c: CheckRow): boolean => c.class === "pass" && c.madeBy === "adapter";

/** A row's label in a result column (and on certify's progress lines): its class's, or "PASS (adapter-made)". */
export function resultLabel(c: Pick<CheckRow, "class" | "madeBy">): string {
  return c.class === "pass" && c.madeBy === "adapter" ? "PASS (adapter-made)" : CLASS_LABEL[c.class];
}

/** What a row says in a result's place: its message, or the warning, not-judged or adapter-made wording. */
export function rowText(c: CheckRow): string {
  if (c.class === "warning") return warningText(c);
  if (c.class === "not-judged" || c.class === "not-judged-allowed") return notJudgedText(c);
  return isAdapterMadePass(c) ? adapterPassText(c) : c.message;
}

/** Who made an artefact, as the reports name them. */
export const byLabel = (by: "ca" | "adapter"): string => (by === "ca" ? "CA" : "adapter");

/** "crl made by the adapter: cfssl gencrl ...", without the note. */
export const producedByText = (p: NonNullable<CheckRow["producedBy"]>[number]): string => `${p.artefact} made by the ${byLabel(p.by)}: ${p.how}`;

/** " (the adapter, not the CA, made the renewal)", or "" when the row does not say which. */
function adapterMadeNote(c: CheckRow): string {
  const made = (c.producedBy ?? []).filter((p) => p.by === "adapter").map((p) => p.artefact);
  return made.length ? ` (the adapter, not the CA, made the ${made.join(", ")})` : "";
}

/** A warning, saying why it does not fail the run. */
export function warningText(c: CheckRow): string {
  if (c.madeBy === "adapter") return `adapter-made: ${c.message}${adapterMadeNote(c)}`;
  return `${c.level} not met: ${c.message}`;
}

/** A pass on what the adapter made (shown beside "PASS (adapter-made)"), saying why it does not vouch for the CA. */
export function adapterPassText(c: CheckRow): string {
  return `${c.message}${adapterMadeNote(c) || " (the adapter, not the CA, made what this check judged)"}`;
}

/** A check certify could not judge: why, and what would let it. */
export function notJudgedText(c: CheckRow): string {
  return `not judged (${c.cause ?? "unknown cause"}): ${c.message}${c.fix ? `; fix: ${c.fix}` : ""}`;
}

/**
 * "FAIL (exit status 1)". A run that passes only because allowIncomplete
 * tolerated checks not judged says so in the same breath: "PASS (exit status
 * 0), incomplete: 55 checks not judged (allowed by --allow-incomplete)".
 */
export function verdictText(r: Pick<CertifyReport, "verdict" | "exitCode" | "totals">): string {
  const allowed = r.totals.notJudgedAllowed;
  const incomplete = allowed ? `, incomplete: ${allowed} ${allowed === 1 ? "check" : "checks"} not judged (allowed by --allow-incomplete)` : "";
  return `${r.verdict.toUpperCase()} (exit status ${r.exitCode})${incomplete}`;
}

/** How the verdict is coloured: a pass with checks not judged is a warning, never a plain green pass. */
export function verdictTone(r: CertifyReport): "pass" | "fail" | "incomplete" {
  return r.verdict === "pass" && r.totals.notJudgedAllowed > 0 ? "incomplete" : r.verdict;
}

/** Said where the artefact table would be, when the adapter declared no provenance at all. */
export const PROVENANCE_UNDECLARED = "provenance: not declared by the adapter (every artefact is taken as the CA's own)";

/** Whether to say PROVENANCE_UNDECLARED: the adapter declared none (a log from before provenance says nothing either way). */
export const provenanceUndeclared = (r: CertifyReport): boolean => r.provenance.artefactsDeclared === false;

/** "7 checks: 1 defect, 2 warnings, 1 not judged, 3 pass, 0 skipped". */
export function countsText(r: Pick<CertifyReport, "totals">): string {
  const t = r.totals;
  const n = (k: number, one: string, many = `${one}s`) => `${k} ${k === 1 ? one : many}`;
  const allowed = t.notJudgedAllowed ? `, ${t.notJudgedAllowed} not judged but allowed (allowIncomplete)` : "";
  return `${n(t.checks, "check")}: ${n(t.defects, "defect")}, ${n(t.warnings, "warning")}, ${t.notJudged} not judged${allowed}, ${t.pass} pass, ${t.skip} skipped`;
}

export interface Fact {
  /** A name without spaces, for JUnit properties. */
  key: string;
  label: string;
  value: string;
}

/**
 * Provenance as label/value pairs: what was judged, by which cardloop and
 * catalogue, under which rules, when. Capabilities and artefacts are listed
 * by `capabilityFacts` and `artefactFacts`.
 */
export function provenanceFacts(r: CertifyReport): Fact[] {
  const p = r.provenance;
  const unknown = "unknown (not in this run log)";
  const facts: Array<[string, string, string | undefined]> = [
    ["verdict", "verdict", r.verdict],
    ["exit-code", "exit status", String(r.exitCode)],
    ["ca", "CA (--ca)", r.ca],
    ["ca-software", "CA software", p.identity.software],
    ["ca-version", "CA version", p.identity.version ?? unknown],
    ["ca-url", "CA URL", p.identity.url],
    ["cardloop-version", "cardloop version", p.cardloopVersion ?? unknown],
    ["catalogue-version", "catalogue version", p.catalogue?.version ?? unknown],
    ["catalogue-sha256", "catalogue SHA-256", p.catalogue?.sha256 ?? unknown],
    ["catalogue-checks", "checks in the catalogue", p.catalogue ? String(p.catalogue.checks) : undefined],
    ["only", "checks asked for (--only)", p.only?.join(", ")],
    ["strict", "strict (SHOULD failures fail the run)", String(r.rules.strict)],
    ["allow-incomplete", "allowIncomplete (checks not judged do not fail the run)", String(r.rules.allowIncomplete)],
    ["policy-source", "policy from", p.policySource],
    ["policy", "policy", p.policy ? JSON.stringify(p.policy) : undefined],
    ["options", "options", p.options ? JSON.stringify(p.options) : undefined],
    ["credentials-held", "credentials certify held", Object.keys(p.credentialsHeld).length ? Object.entries(p.credentialsHeld).map(([k, v]) => `${k}: ${v}`).join(", ") : undefined],
    ["started", "started", p.startTime],
    ["finished", "finished", p.endTime],
    ["duration", "duration", `${(p.durationMs / 1000).toFixed(1)} s`],
  ];
  return facts.filter((f): f is [string, string, string] => f[2] !== undefined).map(([key, label, value]) => ({ key, label, value }));
}

/** Each capability the adapter declared, its value as written (booleans as true/false). */
export function capabilityFacts(r: CertifyReport): Fact[] {
  return Object.entries(r.provenance.capabilities).map(([name, v]) => ({ key: `capability-${name}`, label: name, value: typeof v === "string" ? v : JSON.stringify(v) }));
}

/** How each artefact was produced: by whom, the command line, and the adapter's note. */
export function artefactFacts(r: CertifyReport): Array<Fact & { by: "ca" | "adapter"; how: string; note?: string }> {
  return Object.entries(r.provenance.artefacts).map(([name, a]) => ({
    key: `artefact-${name}`,
    label: name,
    value: `${a.by}: ${a.how}${a.note ? ` (${a.note})` : ""}`,
    by: a.by,
    how: a.how,
    ...(a.note ? { note: a.note } : {}),
  }));
}
