import { CaError } from "../simulator/ca/index.js";
import { TerminalRefusal } from "../simulator/terminal/index.js";

/** What a step did, as its expectation sees it. */
export type StepOutcome = { result: "ok" | "refused"; reason?: string } & Record<string, unknown>;

/** A refusal the scenario can expect (terminal, card or CA said no), as an outcome; undefined for real errors. */
export function refusalOutcome(err: unknown): StepOutcome | undefined {
  if (err instanceof TerminalRefusal) {
    const extra: Record<string, unknown> = {};
    if (typeof err.details.retries === "number") extra.retries = err.details.retries;
    const check = err.details.check as { result?: string } | undefined;
    if (check?.result) extra.validation = check.result;
    if (typeof err.details.caReason === "string") return { result: "refused", reason: err.details.caReason, ...extra };
    return { result: "refused", reason: err.reason, ...extra };
  }
  if (err instanceof CaError) return { result: "refused", reason: err.reason };
  return undefined;
}

/** Compares an expectation with what happened; returns why they differ, or undefined. */
export function compare(expect: Record<string, unknown>, actual: StepOutcome): string | undefined {
  const diffs: string[] = [];
  for (const [k, want] of Object.entries(expect)) {
    const got = actual[k];
    if (!sameValue(want, got)) diffs.push(`${k}: expected ${JSON.stringify(want)}, got ${got === undefined ? "nothing" : JSON.stringify(got)}`);
  }
  if (diffs.length === 0) return undefined;
  const why = actual.result === "refused" && expect.result !== "refused" ? ` (refused: ${actual.reason})` : "";
  return diffs.join("; ") + why;
}

function sameValue(want: unknown, got: unknown): boolean {
  if (Array.isArray(want)) return Array.isArray(got) && want.length === got.length && want.every((w, i) => sameValue(w, got[i]));
  if (want !== null && typeof want === "object") return false;
  return got !== undefined && String(want) === String(got);
}

/** A deterministic wrong value of the same shape: each digit/letter moved by one. */
export function wrongSecret(s: string): string {
  return s.replace(/[0-9A-Za-z]/g, (ch) => {
    if (/[0-9]/.test(ch)) return String((Number(ch) + 1) % 10);
    if (ch === "z") return "a";
    if (ch === "Z") return "A";
    return String.fromCharCode(ch.charCodeAt(0) + 1);
  });
}
