import type { Clock, LifecyclePolicy } from "../../core/index.js";
import type { CaAdapter, CaCapabilities } from "../../simulator/ca/index.js";
import type { Fixtures } from "./fixtures.js";

export type Level = "MUST" | "SHOULD";
export type VerdictOutcome = "pass" | "fail" | "skip";

export interface Verdict {
  outcome: VerdictOutcome;
  message: string;
  /** The bytes or fields the verdict was reached on. Public material only: never a key or a code. */
  evidence: Record<string, unknown>;
}

export interface CertifyOptions {
  /** Longest acceptable delay from a revocation's acknowledgement to its appearance on the CRL / in OCSP. */
  propagationThresholdMs: number;
  /** How long to keep looking after the threshold before calling it "never" (default: 2 x threshold). */
  propagationHorizonMs?: number;
  pollIntervalMs: number;
  /** Issuance requests sent at once by the concurrency check. */
  concurrency: number;
  /** Tolerated clock difference between us and the CA (a notBefore this far in the future is still "now"). */
  clockSkewMs: number;
}

export const DEFAULT_OPTIONS: CertifyOptions = {
  propagationThresholdMs: 10_000,
  pollIntervalMs: 100,
  concurrency: 16,
  clockSkewMs: 60_000,
};

export interface CheckContext {
  ca: CaAdapter;
  caps: CaCapabilities;
  clock: Clock;
  options: CertifyOptions;
  /** What the CA is judged against: lifetime cap, card-expiry cap, lockout count, renewal rule, reasons by role. */
  policy: LifecyclePolicy;
  fx: Fixtures;
}

export interface Check {
  /** Stable: reports, --only and CI history key on it. */
  id: string;
  title: string;
  /** Where the requirement comes from: an RFC section or the lifecycle policy. */
  source: string;
  level: Level;
  /** Capabilities the CA must offer for the check to apply; a missing one is a skip, never a pass. */
  needs?: Array<keyof CaCapabilities>;
  run(ctx: CheckContext): Promise<Verdict>;
}

export const pass = (message: string, evidence: Record<string, unknown> = {}): Verdict => ({ outcome: "pass", message, evidence });
export const fail = (message: string, evidence: Record<string, unknown> = {}): Verdict => ({ outcome: "fail", message, evidence });
export const skip = (message: string, evidence: Record<string, unknown> = {}): Verdict => ({ outcome: "skip", message, evidence });

/**
 * Thrown from inside a check when something it depends on is already judged
 * by another check (the root cause fails there, once; this one skips).
 */
export class Precondition extends Error {
  constructor(
    message: string,
    readonly evidence: Record<string, unknown> = {},
  ) {
    super(message);
  }
}
