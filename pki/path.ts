import type { Certificate } from "./certificate.js";
import { OID } from "./oids.js";
import type { Crl } from "./crl.js";
import { type Failure, type Revocation, failure } from "./errors.js";
import type { OcspResponse } from "./ocsp.js";
import { type PublicKey, publicKeyOf } from "./signed-data.js";
import { verifyCharged } from "./revocation-budget.js";
import { bytesEqual } from "../core/index.js";
import { DEFAULT_POLICY_INPUTS, type PolicyInputs } from "./policy-graph.js";
import type { ProfileLevel } from "./profile.js";
import { type Purpose, type ValidationContext, anchorValidity, leafUsage, malformed, validateFull } from "./path-validation.js";

/**
 * Path building (anchors + a pool of intermediates, by name and AKI/SKI, with
 * backtracking) and RFC 5280 6.1 path validation (name constraints, policies),
 * with revocation by CRL (RFC 5280 6.3, revocation.ts) and by OCSP (RFC 6960).
 *
 * Positions count from the leaf: 0 = leaf, path.length - 1 = the trust anchor.
 * With `anchorConstraints` (the default) the anchor's own validity, basic
 * constraints, key usage, name and policy constraints and critical extensions
 * apply (RFC 5937); without it the anchor is a name and a key (RFC 5280 6.1.1 (d)).
 * This file builds paths and owns the per-validation context (budgets, the CRL-signer
 * cache); path-validation.ts judges each complete path.
 */

/** What the leaf's key must be good for: keyUsage digitalSignature, nonRepudiation, or nothing in particular. */
export type Usage = "authentication" | "signature" | "any";

/**
 * Revocation policy.
 *  - "require": every certificate below the anchor needs a usable CRL or OCSP answer, else crl-missing.
 *  - "if-present" (default): when the caller supplies any CRL or OCSP response, it is taken as the
 *    revocation source for the whole path and every certificate needs an answer (PKITS semantics,
 *    4.4.1 "Missing CRL"); when none is supplied at all, revocation is not checked.
 *  - "off": revocation is not checked.
 */
export type RevocationPolicy = "require" | "if-present" | "off";

export interface PathInputs {
  leaf: Certificate;
  intermediates: readonly Certificate[];
  anchors: readonly Certificate[];
  /** Validation time, ms since the epoch. */
  time: number;
  crls: readonly Crl[];
  ocspResponses: readonly OcspResponse[];
  usage: Usage;
  revocation: RevocationPolicy;
  /** Expected OCSP nonce (hex of the nonce octets), when the caller sent one. */
  ocspNonce?: string;
  /** Age after which an OCSP answer without nextUpdate is stale. */
  ocspMaxAgeMs: number;
  /** RFC 5280 6.1.1 (c), (e)-(g). */
  policy: PolicyInputs;
  /** Extended key usages the leaf must allow (and every CA that restricts EKU); empty: not checked. */
  eku: readonly string[];
  /** Apply the trust anchor's own constraints (RFC 5937). */
  anchorConstraints: boolean;
  /** RFC 5280 section 4 checks (profile.ts) on every certificate below the anchor and every CRL (the anchor too when "pedantic"): "strict", "pedantic" (to the letter), or "lenient" (none). */
  profile: "lenient" | ProfileLevel;
  /** Use delta CRLs (RFC 5280 6.3.3 (c), use-deltas). */
  useDeltaCrls: boolean;
}

export interface ValidPath {
  valid: true;
  path: Certificate[];
  revocations: Revocation[];
  /** RFC 5280 6.1.6 (OIDs; anyPolicy is 2.5.29.32.0). */
  userConstrainedPolicySet: string[];
  authoritiesConstrainedPolicySet: string[];
}

export type PathResult = ValidPath | Failure;

const MAX_PATH = 10;
/**
 * Candidate edges path building may try for one leaf, cached or not: a pool of 1,000 candidates
 * with the same name and the same claimed key identifier, the right one last, needs about 1,000;
 * a bound on the search, not a depth, keeps an adversarial pool's walk bounded.
 */
const MAX_SEARCH_STEPS = 2048;
/**
 * Real signature verifications one validation may make (path edges, CRLs, delta CRLs, OCSP
 * responses), charged through verifyCharged: a cache hit is free. 2,048 P-256 verifies are ~140 ms.
 */
const MAX_SIGNATURE_CHECKS = 2048;
/**
 * Complete paths validated in full per validation. Copies of the same CAs (same names and keys,
 * other serials) multiply: 32 copies of two CAs make ~1,000 paths, each a full RFC 5280 6.1 run
 * (name constraints, policies) though its signatures are cached. Real hierarchies offer a few
 * (cross-certificates, key rollover); past 32 the best failure seen is the answer.
 */
const MAX_FULL_PATHS = 32;
const MAX_SIGNER_DEPTH = 2;

/** Per-validation state: budgets, and CRL-signer results found so far. */
class Ctx implements ValidationContext {
  /** Candidate edges tried (MAX_SEARCH_STEPS). */
  steps = 0;
  /** Real signature verifications made (MAX_SIGNATURE_CHECKS). */
  signatureChecks = 0;
  fullPaths = 0;
  depth = 0;
  /** The anchor of the path whose revocation is being checked: a CRL signer's path must reach it (6.3.3 (f)). */
  revocationAnchor?: Certificate;
  /** A signer validation met the nesting limit or a loop: failures found meanwhile are not cached. */
  signerLimited = false;
  /** Created only when a CRL signer off the path must be validated (rare): signer -> required anchor -> result. */
  signerResults?: Map<Certificate, Map<Certificate | undefined, PathResult>>;
  inProgress?: Set<Certificate>;
  readonly in: PathInputs;
  constructor(inputs: PathInputs) {
    this.in = inputs;
  }
  /** `anchor`: the trust anchor the signer's path must reach; by default that of the path being checked. */
  validateSigner(s: Certificate, anchor: Certificate | undefined = this.revocationAnchor): PathResult {
    return validateSigner(this, s, anchor);
  }
  spendSignatureCheck(): boolean {
    return ++this.signatureChecks <= MAX_SIGNATURE_CHECKS;
  }
}

export function validatePath(inputs: PathInputs): PathResult {
  return buildAndValidate(new Ctx(inputs), inputs.leaf, { usage: inputs.usage, eku: inputs.eku, policy: inputs.policy }, inputs.anchors);
}

const SIGNER_PURPOSE: Purpose = { usage: "any", eku: [], policy: DEFAULT_POLICY_INPUTS };

/** A DecodeError that escapes the per-candidate and per-certificate handling is the leaf's own. */
function buildAndValidate(ctx: Ctx, leaf: Certificate, purpose: Purpose, anchors: readonly Certificate[]): PathResult {
  try {
    return build(ctx, leaf, purpose, anchors);
  } catch (err) {
    return malformed(err, 0);
  }
}

/** Path-building state for one leaf: the chain so far and the most telling failure seen. */
interface Walk {
  ctx: Ctx;
  purpose: Purpose;
  anchors: readonly Certificate[];
  chain: Certificate[];
  best?: Failure;
  /** best comes from a complete path (validation failed) rather than from building. */
  bestComplete: boolean;
  /** MAX_FULL_PATHS stopped the search. */
  capped: boolean;
}

/** Keeps the most telling failure: a complete path's beats a building failure; among those, the one furthest up. */
function note(w: Walk, f: Failure, complete: boolean): void {
  if (!w.best) {
    w.best = f;
    w.bestComplete = complete;
  } else if (complete && !w.bestComplete) {
    w.best = f;
    w.bestComplete = true;
  } else if (!complete && !w.bestComplete && f.position > w.best.position) w.best = f;
}

function build(ctx: Ctx, leaf: Certificate, purpose: Purpose, anchors: readonly Certificate[]): PathResult {
  // The leaf's names decode here, inside buildAndValidate's try, so that one that cannot is the leaf
  // malformed (position 0): nothing else reads its subject unless name constraints apply, and a valid
  // result would carry a name no caller can print (one name parse: nothing next to the signature).
  void leaf.subject;
  void leaf.issuer;
  for (const a of anchors) if (a === leaf || bytesEqual(a.der, leaf.der)) return anchorAsLeaf(ctx, leaf, purpose);
  const w: Walk = { ctx, purpose, anchors, chain: [leaf], bestComplete: false, capped: false };
  const r = walk(w);
  if (r) return r;
  if (w.capped) {
    const why = `path building stopped after ${MAX_FULL_PATHS} complete paths`;
    return w.best ? { ...w.best, detail: `${w.best.detail} (${why})` } : failure("unknown-issuer", 0, `no valid path to a trust anchor: ${why}`);
  }
  return w.best ?? failure("unknown-issuer", 0, `no path to a trust anchor for "${leaf.issuer.display}"`);
}

/**
 * A leaf that is itself a trust anchor is its own path. With anchorConstraints its validity and
 * critical extensions (RFC 5937) and the leaf's key usage and EKU still apply.
 */
function anchorAsLeaf(ctx: Ctx, leaf: Certificate, purpose: Purpose): PathResult {
  if (ctx.in.anchorConstraints) {
    try {
      const f = anchorValidity(ctx, leaf, 0) ?? leafUsage(leaf, 0, purpose);
      if (f) return f;
    } catch (err) {
      return malformed(err, 0);
    }
  }
  return { valid: true, path: [leaf], revocations: [], userConstrainedPolicySet: [...purpose.policy.initialPolicySet], authoritiesConstrainedPolicySet: [OID.anyPolicy] };
}

/** Depth-first search upwards from the chain's last certificate; anchors are tried before intermediates. */
function walk(w: Walk): PathResult | undefined {
  const { ctx, chain } = w;
  const cur = chain[chain.length - 1];
  const pos = chain.length - 1;
  if (chain.length > MAX_PATH) {
    note(w, failure("path-too-long", pos, `no trust anchor within ${MAX_PATH} certificates`), false);
    return undefined;
  }
  let issuerKey: string;
  try {
    issuerKey = cur.issuer.key;
  } catch (err) {
    note(w, malformed(err, pos), false);
    return undefined;
  }
  let found = false;
  for (const anchor of ordered(w, w.anchors, issuerKey, cur, pos)) {
    found = true;
    if (++ctx.steps > MAX_SEARCH_STEPS) return undefined;
    const edge = edgeSignature(ctx, cur, anchor, pos);
    if (edge === SPENT) return undefined;
    if (edge) {
      note(w, edge, false);
      continue;
    }
    if (ctx.fullPaths >= MAX_FULL_PATHS) {
      w.capped = true;
      return undefined;
    }
    ctx.fullPaths++;
    chain.push(anchor);
    const r = validateFull(ctx, chain.slice(), w.purpose);
    chain.pop();
    if (r.valid) return r;
    note(w, r, true);
  }
  for (const inter of ordered(w, ctx.in.intermediates, issuerKey, cur, pos)) {
    if (inChain(chain, inter)) continue;
    found = true;
    if (++ctx.steps > MAX_SEARCH_STEPS) return undefined;
    const edge = edgeSignature(ctx, cur, inter, pos);
    if (edge === SPENT) return undefined;
    if (edge) {
      note(w, edge, false);
      continue;
    }
    chain.push(inter);
    const r = walk(w);
    chain.pop();
    if (r || w.capped) return r;
  }
  if (!found) note(w, failure("unknown-issuer", pos, `no certificate for issuer "${cur.issuer.display}"`), false);
  return undefined;
}

/** A certificate may appear once in a path (the same object or the same bytes). */
function inChain(chain: Certificate[], c: Certificate): boolean {
  for (const x of chain) if (x === c || bytesEqual(x.der, c.der)) return true;
  return false;
}

const NO_CERTS: Certificate[] = [];

/**
 * Certificates whose subject is `name`, those whose SKI matches the child's AKI first. A pool
 * member whose subject or SKI does not decode is no candidate: noted malformed where it would stand.
 */
function ordered(w: Walk, pool: readonly Certificate[], name: string, child: Certificate, pos: number): Certificate[] {
  let out: Certificate[] | undefined;
  for (const c of pool) {
    try {
      if (c.subject.key === name) (out ??= []).push(c);
    } catch (err) {
      note(w, malformed(err, pos + 1), false);
    }
  }
  if (!out || out.length === 1) return out ?? NO_CERTS;
  let aki: string | undefined;
  try {
    aki = child.authorityKeyId?.keyId;
  } catch (err) {
    note(w, malformed(err, pos), false);
    return NO_CERTS;
  }
  if (!aki) return out;
  const rank = new Map<Certificate, number>();
  for (const c of out) {
    try {
      rank.set(c, c.subjectKeyId === aki ? 0 : c.subjectKeyId === undefined ? 1 : 2);
    } catch (err) {
      note(w, malformed(err, pos + 1), false);
    }
  }
  return out.filter((c) => rank.has(c)).sort((a, b) => rank.get(a)! - rank.get(b)!);
}

/** edgeSignature could not check: the validation's budget of signature checks is spent. */
const SPENT = "spent";

/**
 * The signature of `child` under `issuer`'s key, when it can be checked without the rest of the
 * path, charged to the validation's budget when it is a real verification.
 */
function edgeSignature(ctx: Ctx, child: Certificate, issuer: Certificate, pos: number): Failure | typeof SPENT | undefined {
  let pk: PublicKey;
  try {
    pk = publicKeyOf(issuer.spki, issuer.spkiAlgorithm);
  } catch (err) {
    return malformed(err, pos + 1);
  }
  if (pk.needsParams) return undefined; // DSA key inheriting parameters: checked once the path is known
  const r = verifyCharged(ctx, child, pk);
  if (r === undefined) return SPENT;
  if (r === "ok") return undefined;
  if (r === "unsupported") return failure("unsupported-signature-algorithm", pos, `signature algorithm ${child.signatureAlgorithm.oid} or issuer key type ${pk.type} not supported`);
  return failure("bad-signature", pos, child.signatureDefect ?? `signature does not verify under the key of "${issuer.subject.display}"`);
}

/**
 * Validates a certificate that signs CRLs or OCSP responses but is not on the path, to the
 * anchor `anchor` (RFC 5280 6.3.3 (f): the same anchor as the path; undefined: any), cached
 * per (signer, anchor). A failure met under the nesting limit or in a loop is not cached:
 * reached from elsewhere the signer may validate.
 */
function validateSigner(ctx: Ctx, s: Certificate, anchor: Certificate | undefined): PathResult {
  const results = (ctx.signerResults ??= new Map());
  const inProgress = (ctx.inProgress ??= new Set());
  const cached = results.get(s)?.get(anchor);
  if (cached) return cached;
  if (inProgress.has(s) || ctx.depth >= MAX_SIGNER_DEPTH) {
    ctx.signerLimited = true;
    return failure("crl-signer-invalid", 0, "CRL signer validation loops or nests too deep");
  }
  const outerLimited = ctx.signerLimited;
  ctx.signerLimited = false;
  inProgress.add(s);
  ctx.depth++;
  const r = buildAndValidate(ctx, s, SIGNER_PURPOSE, anchor ? [anchor] : ctx.in.anchors);
  ctx.depth--;
  inProgress.delete(s);
  if (r.valid || !ctx.signerLimited) {
    let byAnchor = results.get(s);
    if (!byAnchor) results.set(s, (byAnchor = new Map()));
    byAnchor.set(anchor, r);
  }
  ctx.signerLimited ||= outerLimited;
  return r;
}
