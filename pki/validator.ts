import { createHash } from "node:crypto";
import { Certificate } from "./certificate.js";
import { latin1Of } from "./der.js";
import { Crl } from "./crl.js";
import type { Failure, Revocation } from "./errors.js";
import { OcspResponse } from "./ocsp.js";
import { type RevocationPolicy, type Usage, type ValidPath, validatePath } from "./path.js";
import { DEFAULT_POLICY_INPUTS, type PolicyInputs } from "./policy-graph.js";
import { signatureCounters } from "./signed-data.js";

export type CertInput = Uint8Array | Certificate;
export type CrlInput = Uint8Array | Crl;
export type OcspInput = Uint8Array | OcspResponse;

export interface ValidateOptions {
  anchors: readonly CertInput[];
  intermediates?: readonly CertInput[];
  /** The time to validate at (a document's signing time, or the clock's now). Required: pki/ never reads the wall clock. */
  time: Date | number;
  crls?: readonly CrlInput[];
  ocspResponses?: readonly OcspInput[];
  usage?: Usage;
  /** Default "if-present": see RevocationPolicy. */
  revocation?: RevocationPolicy;
  /** The nonce sent in the OCSP request; responses must echo it. */
  ocspNonce?: Uint8Array;
  /** Staleness limit for OCSP answers without nextUpdate (default 7 days). */
  ocspMaxAgeMs?: number;
  /** RFC 5280 6.1.1 (c) user-initial-policy-set, OIDs (default [anyPolicy], "2.5.29.32.0"). */
  initialPolicySet?: readonly string[];
  /** RFC 5280 6.1.1 (f) initial-explicit-policy (default false). */
  initialExplicitPolicy?: boolean;
  /** RFC 5280 6.1.1 (e) initial-policy-mapping-inhibit (default false). */
  initialPolicyMappingInhibit?: boolean;
  /** RFC 5280 6.1.1 (g) initial-any-policy-inhibit (default false). */
  initialInhibitAnyPolicy?: boolean;
  /** Extended key usage OIDs the leaf must allow (and any CA on the path that restricts EKU). */
  eku?: readonly string[];
  /**
   * Apply the trust anchor's own validity, basic, key usage, name and policy constraints and critical
   * extensions (RFC 5937); a leaf that is itself an anchor still needs its validity, critical
   * extensions, usage and EKU. Default true.
   */
  anchorConstraints?: boolean;
  /**
   * RFC 5280 section 4 checks on every certificate below the anchor and every CRL: "strict" (default)
   * all the MUSTs a relying party can hold a certificate to, "pedantic" also the four PKITS expects
   * tolerated (profile.ts PEDANTIC_RULES) and the anchor itself, "lenient" none: only what 6.1 and 6.3 require.
   */
  profile?: "lenient" | "strict" | "pedantic";
  /** Use delta CRLs with their complete CRLs (RFC 5280 6.3.3 (c)). Default true. */
  useDeltaCrls?: boolean;
}

export interface Valid extends Omit<ValidPath, "path" | "revocations"> {
  valid: true;
  /** Leaf first, trust anchor last. */
  path: Certificate[];
  /** Revocations that exist but happened after the validation time (the signature predates them). */
  revocations: Revocation[];
}

export type ValidationResult = Valid | Failure;

/**
 * What a Validator's caches saved, since it was made: the proof that "an
 * intermediate already verified is not verified again" and "a CRL is parsed once".
 */
export interface ValidatorStats {
  validations: number;
  /** Signatures checked with node:crypto (certificates, CRLs, OCSP responses). */
  signatureVerifications: number;
  /** Signature results answered from the cache instead. */
  signatureCacheHits: number;
  /** Certificates decoded (leaves included). */
  certificatesParsed: number;
  crlsParsed: number;
}

const DAY = 86_400_000;
const CONTENT_CACHE_MAX = 4096;

/**
 * The Validator seam. Holds parse caches keyed by the identity of the caller's
 * byte arrays (then by content: the DER of a certificate, a digest of a CRL), so an
 * intermediate, anchor or CRL passed again is not parsed again;
 * signature results are cached per (signed object, key) in signed-data.ts, so an
 * intermediate or CRL already verified under its issuer is not verified again.
 *
 * Malformed inputs (bytes that are not a certificate/CRL/OCSP response) throw
 * DecodeError; a certificate on the path with a malformed extension yields
 * { valid: false, code: "malformed" }.
 */
export class Validator {
  private readonly certs = new WeakMap<Uint8Array, Certificate>();
  private readonly crls = new WeakMap<Uint8Array, Crl>();
  private readonly ocsp = new WeakMap<Uint8Array, OcspResponse>();

  /** Second-level caches by content, for callers that pass fresh copies of the same bytes. */
  private readonly certsByContent = new Map<string, Certificate>();
  private readonly crlsByContent = new Map<string, Crl>();

  private readonly counts: ValidatorStats = { validations: 0, signatureVerifications: 0, signatureCacheHits: 0, certificatesParsed: 0, crlsParsed: 0 };

  /** A snapshot of the counters (see ValidatorStats). */
  stats(): ValidatorStats {
    return { ...this.counts };
  }

  certificate(input: CertInput): Certificate {
    if (input instanceof Certificate) return input;
    let c = this.certs.get(input);
    if (c) return c;
    const key = latin1Of(input);
    c = this.certsByContent.get(key);
    if (!c) {
      c = new Certificate(input);
      this.counts.certificatesParsed++;
      if (this.certsByContent.size >= CONTENT_CACHE_MAX) this.certsByContent.clear();
      this.certsByContent.set(key, c);
    }
    this.certs.set(input, c);
    return c;
  }

  crl(input: CrlInput): Crl {
    if (input instanceof Crl) return input;
    let c = this.crls.get(input);
    if (c) return c;
    // CRLs can be megabytes: key them by a digest rather than by a string of their bytes.
    const key = createHash("sha256").update(input).digest("base64");
    c = this.crlsByContent.get(key);
    if (!c) {
      c = new Crl(input);
      this.counts.crlsParsed++;
      if (this.crlsByContent.size >= CONTENT_CACHE_MAX) this.crlsByContent.clear();
      this.crlsByContent.set(key, c);
    }
    this.crls.set(input, c);
    return c;
  }

  ocspResponse(input: OcspInput): OcspResponse {
    if (input instanceof OcspResponse) return input;
    let c = this.ocsp.get(input);
    if (!c) this.ocsp.set(input, (c = new OcspResponse(input)));
    return c;
  }

  /**
   * Leaves are usually new, so they do not go into the WeakMap (every WeakMap entry is
   * an ephemeron the garbage collector must trace); a small ring of recent leaves keeps
   * a leaf validated again (warm) from being parsed again.
   */
  private readonly recentLeaves = new Map<Uint8Array, Certificate>();
  private leafCertificate(input: CertInput): Certificate {
    if (input instanceof Certificate) return input;
    const known = this.recentLeaves.get(input) ?? this.certs.get(input);
    if (known) return known;
    const c = new Certificate(input);
    this.counts.certificatesParsed++;
    if (this.recentLeaves.size >= 16) this.recentLeaves.delete(this.recentLeaves.keys().next().value!);
    this.recentLeaves.set(input, c);
    return c;
  }

  validate(leaf: CertInput, opts: ValidateOptions): ValidationResult {
    const time = typeof opts.time === "number" ? opts.time : opts.time.getTime();
    if (!Number.isFinite(time)) throw new RangeError("validation time is not a valid date");
    const n = this.counts;
    const verified = signatureCounters.verifications;
    const hits = signatureCounters.cacheHits;
    n.validations++;
    try {
      return validatePath({
        leaf: this.leafCertificate(leaf),
        anchors: opts.anchors.map((a) => this.certificate(a)),
        intermediates: (opts.intermediates ?? []).map((c) => this.certificate(c)),
        crls: (opts.crls ?? []).map((c) => this.crl(c)),
        ocspResponses: (opts.ocspResponses ?? []).map((o) => this.ocspResponse(o)),
        time,
        usage: opts.usage ?? "any",
        revocation: opts.revocation ?? "if-present",
        ocspNonce: opts.ocspNonce ? Buffer.from(opts.ocspNonce).toString("hex") : undefined,
        ocspMaxAgeMs: opts.ocspMaxAgeMs ?? 7 * DAY,
        policy: policyInputs(opts),
        eku: opts.eku ?? NO_EKU,
        anchorConstraints: opts.anchorConstraints ?? true,
        profile: opts.profile ?? "strict",
        useDeltaCrls: opts.useDeltaCrls ?? true,
      });
    } finally {
      n.signatureVerifications += signatureCounters.verifications - verified;
      n.signatureCacheHits += signatureCounters.cacheHits - hits;
    }
  }
}

const NO_EKU: readonly string[] = Object.freeze([]);

function policyInputs(o: ValidateOptions): PolicyInputs {
  if (o.initialPolicySet === undefined && !o.initialExplicitPolicy && !o.initialPolicyMappingInhibit && !o.initialInhibitAnyPolicy) return DEFAULT_POLICY_INPUTS;
  if (o.initialPolicySet !== undefined && o.initialPolicySet.length === 0) throw new RangeError("initialPolicySet is empty: no policy could ever be acceptable (use [anyPolicy] to accept any)");
  return {
    initialPolicySet: o.initialPolicySet ?? DEFAULT_POLICY_INPUTS.initialPolicySet,
    initialExplicitPolicy: o.initialExplicitPolicy ?? false,
    initialPolicyMappingInhibit: o.initialPolicyMappingInhibit ?? false,
    initialInhibitAnyPolicy: o.initialInhibitAnyPolicy ?? false,
  };
}

/** A process-wide validator for callers that do not manage their own. */
export const defaultValidator = new Validator();
export const validate = (leaf: CertInput, opts: ValidateOptions): ValidationResult => defaultValidator.validate(leaf, opts);
