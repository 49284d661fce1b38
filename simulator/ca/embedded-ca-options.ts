/**
 * What an embedded CA is opened with (EmbeddedCa.open), and the lifecycle
 * policy those options amount to. Apart from embedded-ca.ts so the facade
 * keeps to wiring and delegation.
 */
import { DEFAULT_POLICY, type Clock, type EventBus, type LifecyclePolicy, type Random, type RenewalRule } from "../../core/index.js";
import type { HsmConfig, KeyType } from "./hierarchy.js";

export interface EmbeddedCaOptions {
  /** Where the CA lives (created on first start; one CA at a time: see data-dir-lock.ts). Omitted: a throwaway in-memory CA. */
  dataDir?: string;
  clock?: Clock;
  /** Serials, cancellation codes, salts. A SeededRandom gives the same serials for the same seed. */
  random?: Random;
  /**
   * Keys and signatures from `random` too (a seeded run: one seed, the same
   * bytes): new keys drawn from it, EC signatures by RFC 6979 on the event
   * loop instead of node's random k on the thread pool and the CRL worker.
   * Off by default: a SeededRandom alone repeats serials and codes, and the
   * CA keeps its production signing paths. Not with an HSM-held issuing key
   * (SoftHSM draws its own k): the CA then warns (log.message).
   */
  deterministic?: boolean;
  keyType?: KeyType;
  /** Put the issuing CA key in SoftHSMv2 (ECDSA P-256), under <dataDir>/softhsm. */
  hsm?: HsmConfig | boolean;
  /** Base URL written into AIA (OCSP) and CRL distribution points. */
  baseUrl?: string;
  name?: string;
  /**
   * The lifecycle rules: certificate lifetime, card-expiry cap, lockout,
   * renewal rule, reasons per role. DEFAULT_POLICY (core/policy.ts) when absent.
   */
  policy?: LifecyclePolicy;
  /** Overrides the policy's lifetimeYears. */
  maxValidityYears?: number;
  /** Wrong credentials from one source before it has to wait (429, doubling); overrides the policy's. */
  maxFailedAttempts?: number;
  /** Overrides the policy's renewal rule. */
  renewal?: RenewalRule;
  /** CRL nextUpdate - thisUpdate. */
  crlValidityMs?: number;
  /** How a served CRL is built: "worker" (default: pre-encoded entries, copied, hashed and signed off the event loop) or "sync" (as before issue 13; to measure against). */
  crlBuild?: "worker" | "sync";
  /** The root's CRL (ARL) nextUpdate - thisUpdate; 30 days by default. */
  rootCrlValidityMs?: number;
  /** Quiet time after a revocation before the CRL is regenerated (real time). */
  crlDebounceMs?: number;
  /** Longest a revocation waits for the CRL under a sustained stream of revocations (real time). */
  crlMaxDelayMs?: number;
  /** How often (real time) the CA checks whether its CRLs are past half their validity at its clock; 0 disables. */
  crlScheduleMs?: number;
  /** How long (at the CA's clock) a renewal challenge can be used; 5 minutes by default. */
  renewalChallengeMs?: number;
  /** OCSP nextUpdate - thisUpdate, and how long a cached response is served. */
  ocspValidityMs?: number;
  /**
   * The longest nonce the responder echoes; longer is malformedRequest. 32 by
   * default (RFC 8954); RFC 9654 allows up to 128. Above 128 the responder signs
   * nonces no client may send (certify's OCSP-NONCE-LENGTH fails).
   */
  ocspMaxNonceOctets?: number;
  /** log2 of scrypt's N for registration answers (codes get a keyed hash, secrets.ts); 14 by default (lower it only for throwaway CAs). */
  kdfLog2N?: number;
  /** Sets the operator token (its hash replaces the stored one); otherwise generated at the first start (written once to <dataDir>/operator.token). */
  operatorToken?: string;
  /** Sets the issuing station's (RA) token; otherwise generated at the first start (written once to <dataDir>/ra.token). */
  raToken?: string;
  events?: EventBus;
}

/** The options' policy (DEFAULT_POLICY when absent) with the explicit overrides folded in; the very policy object when there are none. */
export function effectivePolicy(o: EmbeddedCaOptions): LifecyclePolicy {
  const base = o.policy ?? DEFAULT_POLICY;
  if (o.maxValidityYears === undefined && o.maxFailedAttempts === undefined && o.renewal === undefined) return base;
  return {
    ...base,
    lifetimeYears: o.maxValidityYears ?? base.lifetimeYears,
    maxFailedAttempts: o.maxFailedAttempts ?? base.maxFailedAttempts,
    renewal: o.renewal ?? base.renewal,
  };
}
