import type { Clock, LifecyclePolicy } from "../../core/index.js";
import type { Artefact, CaAdapter, CaCapabilities, CaCredentials } from "../../simulator/ca/index.js";
import type { Fixtures } from "./fixtures.js";

export type Level = "MUST" | "SHOULD";
/**
 * The three answers certify keeps apart, and "does not apply":
 * - pass: the CA conforms;
 * - fail: the CA does not conform;
 * - error: the harness could not judge (a credential it lacks, the CA
 *   throttling it, an adapter limitation, an unreachable endpoint, a refusal
 *   for another reason than the one the check is about): never a CA defect;
 *   `cause` and `fix` say why and what to do;
 * - skip: the check does not apply (a capability the CA does not offer, a
 *   policy that rules it out, a root cause another check judges).
 */
export type VerdictOutcome = "pass" | "fail" | "skip" | "error";

/** Why the harness could not judge. */
export type NotJudgedCause =
  /** certify lacks a credential the CA asks for (--ca-config). */
  | "credential"
  /** the CA throttles certify's address. */
  | "throttled"
  /** the CA or one of its endpoints could not be reached. */
  | "unreachable"
  /** the adapter cannot do what the check needs. */
  | "adapter"
  /** the CA refused for another reason than the one the check is about, so the check learnt nothing. */
  | "refused-otherwise"
  /** the harness itself failed (a bug in cardloop: report it). */
  | "harness";

export interface Verdict {
  outcome: VerdictOutcome;
  message: string;
  /** The bytes or fields the verdict was reached on. Public material only: never a key or a code. */
  evidence: Record<string, unknown>;
  /** With outcome "error": why the harness could not judge, and what would let it. */
  cause?: NotJudgedCause;
  fix?: string;
  /**
   * The artefacts this verdict rests on, where narrower than the check's
   * `judges` (the lifecycle's failing step: issuance, not the whole
   * lifecycle). The verdict is adapter-made when one of them is.
   */
  restsOn?: Artefact[];
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
  /** Revocations observed by each propagation check: a distribution, not one sample. */
  samples: number;
  /** The percentile of those delays judged against the threshold (95: p95 <= threshold). */
  percentile: number;
}

export const DEFAULT_OPTIONS: CertifyOptions = {
  propagationThresholdMs: 10_000,
  pollIntervalMs: 100,
  concurrency: 16,
  clockSkewMs: 60_000,
  samples: 10,
  percentile: 95,
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
  /**
   * The credentials the check sends where the CA checks them (default
   * ["raToken"]: every check has certificates issued). The runner does not
   * run a check whose credential certify lacks for a CA that asks for it
   * (`issuanceAuthorisation` for raToken, `authorisation` for operatorToken):
   * it is not judged, with the fix, and `certify` names them before it starts.
   */
  credentials?: Array<keyof CaCredentials>;
  /**
   * The artefacts the verdict rests on. Where the adapter's provenance says it
   * made one itself (`by: "adapter"`), a failure is marked adapter-made and is
   * a warning, never a CA defect.
   */
  judges?: Artefact[];
  run(ctx: CheckContext): Promise<Verdict>;
}

export const pass = (message: string, evidence: Record<string, unknown> = {}): Verdict => ({ outcome: "pass", message, evidence });
export const fail = (message: string, evidence: Record<string, unknown> = {}): Verdict => ({ outcome: "fail", message, evidence });
export const skip = (message: string, evidence: Record<string, unknown> = {}): Verdict => ({ outcome: "skip", message, evidence });
/** The harness could not judge: never a CA defect. */
export const unjudged = (cause: NotJudgedCause, message: string, fix: string, evidence: Record<string, unknown> = {}): Verdict => ({ outcome: "error", message, evidence, cause, fix });

/**
 * Thrown from inside a check (or a fixture) when the harness cannot judge:
 * the check's verdict is `unjudged(cause, message, fix)`.
 */
export class NotJudged extends Error {
  constructor(
    /** Why (not `cause`: that is Error's chain). */
    readonly why: NotJudgedCause,
    message: string,
    readonly fix: string,
    readonly evidence: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/**
 * Thrown from inside a check when something it depends on is already judged
 * by another check (the root cause fails there, once; this one skips), or
 * when the check does not apply. Not for what the harness lacks: that is
 * `NotJudged`.
 */
export class Precondition extends Error {
  constructor(
    message: string,
    readonly evidence: Record<string, unknown> = {},
  ) {
    super(message);
  }
}
