import type { Certificate } from "./certificate.js";
import { KeyUsage, OID } from "./oids.js";
import { DecodeError, type Failure, type Revocation, failure } from "./errors.js";
import { type PublicKey, inheritDsaParams, publicKeyOf, verifyCached } from "./signed-data.js";
import { isoTime } from "./time.js";
import { NameConstraintsState } from "./name-constraints.js";
import { type AnchorPolicy, type PolicyCert, type PolicyInputs, processPolicies } from "./policy-graph.js";
import { type PathRole, certificateProfile } from "./profile.js";
import { type RevocationContext, checkRevocation } from "./revocation.js";
import type { PathInputs, PathResult, Usage } from "./path.js";

/**
 * RFC 5280 6.1 over one complete path that path building (path.ts) found: the anchor's
 * own constraints (RFC 5937), signatures, validity, the section 4 profile, name
 * constraints, basic constraints and key usage, extended key usage, certificate
 * policies, then revocation (revocation.ts) top down.
 */

/** What the path is validated for: the caller's leaf, or a CRL signer (any usage, default policy inputs). */
export interface Purpose {
  usage: Usage;
  eku: readonly string[];
  policy: PolicyInputs;
}

/** What validation needs of path building's per-validation context. */
export interface ValidationContext extends RevocationContext {
  readonly in: PathInputs;
  /** The anchor of the path whose revocation is being checked: a CRL signer's path must reach it (6.3.3 (f)). */
  revocationAnchor?: Certificate;
}

/** A DecodeError at `pos` is that certificate's failure; anything else is a bug and propagates. */
export function malformed(err: unknown, pos: number): Failure {
  if (!(err instanceof DecodeError)) throw err;
  return failure("malformed", pos, err.message);
}

/**
 * RFC 5280 6.1 over a complete path (leaf first, anchor last), then revocation top-down. `pos`
 * follows the certificate being judged: a DecodeError there makes the path malformed at it.
 */
export function validateFull(ctx: ValidationContext, path: Certificate[], purpose: Purpose): PathResult {
  const { time, profile } = ctx.in;
  const n = path.length - 1; // certificates below the anchor
  const anchor = path[n];
  let pos = n;
  try {
    let workingKey: PublicKey = publicKeyOf(anchor.spki, anchor.spkiAlgorithm);
    let workingAlg = anchor.spkiAlgorithm;
    let maxPathLength = n;
    // Created at the first CA with name constraints: most paths have none.
    let names: NameConstraintsState | undefined;
    let anchorPolicy: AnchorPolicy | undefined;
    if (ctx.in.anchorConstraints) {
      const f = checkAnchor(ctx, anchor, n, purpose);
      if (f) return f;
      if (anchor.version >= 3) {
        const nc = anchor.nameConstraints;
        if (nc) (names = new NameConstraintsState()).add(nc, anchor.subject.display);
        const pathLen = anchor.basicConstraints?.pathLen;
        if (pathLen !== undefined && pathLen < maxPathLength) maxPathLength = pathLen;
        if (anchor.policyConstraints || anchor.inhibitAnyPolicy !== undefined) anchorPolicy = anchor;
      }
    }
    // Each certificate's issuer key, for its revocation check: kept only when revocation runs.
    const { revocation, crls, ocspResponses } = ctx.in;
    const keys: PublicKey[] | undefined = revocation === "require" || (revocation === "if-present" && crls.length + ocspResponses.length > 0) ? new Array(n + 1) : undefined;
    if (keys) keys[n] = workingKey;
    for (let i = 1; i <= n; i++) {
      const c = path[n - i];
      pos = n - i;
      const sig = verifyCached(c, workingKey, c.signatureAlgorithm, c.tbs, c.signature);
      if (sig === "unsupported") return failure("unsupported-signature-algorithm", pos, `signature algorithm ${c.signatureAlgorithm.oid} not supported with a ${workingKey.type} key`);
      if (sig === "bad") return failure("bad-signature", pos, c.signatureDefect ?? `signature does not verify under the key of "${path[pos + 1].subject.display}"`);
      if (time < c.notBefore) return failure("not-yet-valid", pos, `notBefore ${iso(c.notBefore)} is after ${iso(time)}`);
      if (time > c.notAfter) return failure("expired", pos, `notAfter ${iso(c.notAfter)} is before ${iso(time)}`);
      // No name chaining check: building joins a certificate only to issuers whose subject is its issuer.
      const unknown = c.unknownCriticalExtensions();
      if (unknown.length) return failure("unknown-critical-extension", pos, `unsupported critical extension ${unknown.join(", ")}`);
      if (profile !== "lenient") {
        const p = certificateProfile(c, i < n ? "ca" : "leaf", profile);
        if (p) return failure(p.code, pos, p.detail);
      }
      // 6.1.3 (b)-(c): a self-issued certificate's names are not checked, unless it is the leaf.
      if (names && !(c.selfIssued && i < n)) {
        const v = names.check(c);
        if (v) return failure(v.code, pos, v.detail);
      }
      // What policy processing reads, decoded here so a malformed extension is malformed at its certificate.
      void c.policies;
      if (i < n) {
        void c.policyMappings;
        void c.policyConstraints;
        void c.inhibitAnyPolicy;
        // Preparation for the next certificate (6.1.4 (g), (k)-(n)).
        const bc = c.basicConstraints;
        if (c.version < 3) return failure("basic-constraints", pos, "a v1/v2 certificate cannot be an intermediate CA");
        if (!bc || !bc.ca) return failure("basic-constraints", pos, bc ? "basicConstraints cA is false" : "no basicConstraints extension in a CA certificate");
        if (!c.selfIssued) {
          if (maxPathLength <= 0) return failure("path-length", pos, "pathLenConstraint exceeded");
          maxPathLength--;
        }
        if (bc.pathLen !== undefined && bc.pathLen < maxPathLength) maxPathLength = bc.pathLen;
        const ku = c.keyUsage;
        if (ku !== undefined && !(ku & KeyUsage.keyCertSign)) return failure("key-usage", pos, "keyUsage lacks keyCertSign");
        const nc = c.nameConstraints;
        if (nc) (names ??= new NameConstraintsState()).add(nc, c.subject.display);
        const eku = ekuRestriction(c, purpose.eku, "CA");
        if (eku) return failure("extended-key-usage", pos, eku);
      } else {
        const f = leafUsage(c, pos, purpose);
        if (f) return f;
        break; // the leaf's own key is not needed: loading it would cost a createPublicKey per new leaf
      }
      // Working key for the next certificate, inheriting DSA parameters when the SPKI omits them.
      let pk = publicKeyOf(c.spki, c.spkiAlgorithm);
      if (pk.needsParams) pk = inheritDsaParams(pk, c.publicKeyBits, workingAlg);
      else workingAlg = c.spkiAlgorithm;
      workingKey = pk;
      if (keys) keys[pos] = pk;
    }

    // The certificates below the anchor, top down (a Certificate is a PolicyCert: the same getters).
    const policy = processPolicies(policyPath(path), purpose.policy, anchorPolicy);
    if (!policy.ok) return failure(policy.code, n - 1 - policy.index, policy.detail);

    const revocations: Revocation[] = [];
    if (keys) {
      const outer = ctx.revocationAnchor;
      ctx.revocationAnchor = anchor;
      try {
        for (pos = n - 1; pos >= 0; pos--) {
          const f = checkRevocation(ctx, path, pos, keys[pos + 1], revocations);
          if (f) return f;
        }
      } finally {
        ctx.revocationAnchor = outer;
      }
    }
    return { valid: true, path, revocations, userConstrainedPolicySet: policy.userConstrainedPolicySet, authoritiesConstrainedPolicySet: policy.authoritiesConstrainedPolicySet };
  } catch (err) {
    return malformed(err, pos);
  }
}

const iso = isoTime;

/** The leaf's key usage for the caller's purpose, and its extended key usage. */
export function leafUsage(c: Certificate, pos: number, purpose: Purpose): Failure | undefined {
  const ku = c.keyUsage;
  if (ku !== undefined) {
    if (purpose.usage === "authentication" && !(ku & KeyUsage.digitalSignature)) return failure("key-usage", pos, "keyUsage lacks digitalSignature (needed for authentication)");
    if (purpose.usage === "signature" && !(ku & KeyUsage.nonRepudiation)) return failure("key-usage", pos, "keyUsage lacks nonRepudiation (needed for signature)");
  }
  const eku = ekuRestriction(c, purpose.eku, "leaf");
  return eku ? failure("extended-key-usage", pos, eku) : undefined;
}

/** RFC 5937: the anchor's validity and critical extensions (also when it is validated as the leaf). */
export function anchorValidity(ctx: ValidationContext, anchor: Certificate, pos: number): Failure | undefined {
  const { time } = ctx.in;
  if (time < anchor.notBefore) return failure("not-yet-valid", pos, `trust anchor notBefore ${iso(anchor.notBefore)} is after ${iso(time)}`);
  if (time > anchor.notAfter) return failure("expired", pos, `trust anchor notAfter ${iso(anchor.notAfter)} is before ${iso(time)}`);
  const unknown = anchor.unknownCriticalExtensions();
  if (unknown.length) return failure("unknown-critical-extension", pos, `trust anchor has unsupported critical extension ${unknown.join(", ")}`);
  return undefined;
}

/**
 * RFC 5937: the anchor, taken as a certificate, constrains what it anchors. Its validity,
 * critical extensions, CA-ness and keyCertSign are checked here; its name constraints,
 * pathLenConstraint and policy constraints are applied by the caller. A v1 anchor carries no
 * extensions and is a CA by being trusted. The profile of section 4 is a rule for issuers and
 * anchors are the user's configuration (public roots with serial 0 or without an SKI are
 * common): only "pedantic" judges the anchor by it.
 */
function checkAnchor(ctx: ValidationContext, anchor: Certificate, pos: number, purpose: Purpose): Failure | undefined {
  const f = anchorValidity(ctx, anchor, pos);
  if (f) return f;
  if (ctx.in.profile === "pedantic") {
    const p = certificateProfile(anchor, ANCHOR, "pedantic");
    if (p) return failure(p.code, pos, `trust anchor: ${p.detail}`);
  }
  if (anchor.version >= 3) {
    const bc = anchor.basicConstraints;
    if (!bc || !bc.ca) return failure("basic-constraints", pos, bc ? "trust anchor's basicConstraints cA is false" : "trust anchor has no basicConstraints extension");
    const ku = anchor.keyUsage;
    if (ku !== undefined && !(ku & KeyUsage.keyCertSign)) return failure("key-usage", pos, "trust anchor's keyUsage lacks keyCertSign");
    const eku = ekuRestriction(anchor, purpose.eku, "trust anchor");
    if (eku) return failure("extended-key-usage", pos, eku);
  }
  return undefined;
}

const ANCHOR: PathRole = "anchor";

/** path[n-1] .. path[0]: the anchor's child first, as policy processing walks them. */
function policyPath(path: Certificate[]): readonly PolicyCert[] {
  const n = path.length - 1;
  const out: Certificate[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = path[n - 1 - i];
  return out;
}

/**
 * Extended key usage. The leaf must list each requested purpose (or
 * anyExtendedKeyUsage), unless it has no EKU extension (unrestricted, RFC 5280
 * 4.2.1.12). RFC 5280 gives an EKU in a CA certificate no meaning; like the CA/B
 * Forum, Mozilla, Windows and Go, a CA that lists EKUs restricts the certificates
 * below it to those purposes (anyExtendedKeyUsage lifts it).
 */
function ekuRestriction(c: Certificate, wanted: readonly string[], role: string): string | undefined {
  if (wanted.length === 0) return undefined;
  const eku = c.extKeyUsage;
  if (eku === undefined || eku.includes(OID.anyExtendedKeyUsage)) return undefined;
  const missing = wanted.filter((w) => !eku.includes(w));
  if (missing.length === 0) return undefined;
  return `${role} "${c.subject.display}" extendedKeyUsage (${eku.join(", ") || "empty"}) lacks ${missing.join(", ")}`;
}
