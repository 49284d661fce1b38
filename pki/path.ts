import type { Certificate } from "./certificate.js";
import { KeyUsage } from "./oids.js";
import type { Crl, RevokedEntry } from "./crl.js";
import { DecodeError, type Failure, type Revocation, failure } from "./errors.js";
import type { OcspResponse } from "./ocsp.js";
import { type PublicKey, inheritDsaParams, publicKeyOf, verifyCached } from "./signed-data.js";
import { isoTime } from "./time.js";
import { certIdMatches, checkOcsp } from "./ocsp-check.js";

/**
 * Path building (anchors + a pool of intermediates, by name and AKI/SKI, with
 * backtracking) and RFC 5280 6.1 basic path validation, with revocation by CRL
 * (RFC 5280 6.3, complete CRLs only) and by OCSP (RFC 6960).
 *
 * Positions count from the leaf: 0 = leaf, path.length - 1 = the trust anchor.
 * The trust anchor is a name and a key: its validity, constraints and revocation
 * are not checked (RFC 5280 6.1.1 (d)).
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
}

export type PathResult = { valid: true; path: Certificate[]; revocations: Revocation[] } | Failure;

const MAX_PATH = 10;
const MAX_EDGES = 200;
const MAX_SIGNER_DEPTH = 2;

/** Per-validation state: budgets, and CRL-signer results found so far. */
interface Ctx {
  in: PathInputs;
  edges: number;
  depth: number;
  /** Created only when a CRL signer off the path must be validated (rare). */
  signerResults?: Map<Certificate, PathResult>;
  inProgress?: Set<Certificate>;
}

export function validatePath(inputs: PathInputs): PathResult {
  const ctx: Ctx = { in: inputs, edges: 0, depth: 0 };
  return buildAndValidate(ctx, inputs.leaf, inputs.usage);
}

function buildAndValidate(ctx: Ctx, leaf: Certificate, usage: Usage): PathResult {
  try {
    return build(ctx, leaf, usage);
  } catch (err) {
    if (err instanceof DecodeError) return failure("malformed", 0, err.message);
    throw err;
  }
}

/** Path-building state for one leaf: the chain so far and the most telling failure seen. */
interface Walk {
  ctx: Ctx;
  usage: Usage;
  chain: Certificate[];
  best?: Failure;
  /** best comes from a complete path (validation failed) rather than from building. */
  bestComplete: boolean;
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

function build(ctx: Ctx, leaf: Certificate, usage: Usage): PathResult {
  // A leaf that is itself a trust anchor is valid as itself.
  for (const a of ctx.in.anchors) if (a === leaf || sameDer(a, leaf)) return { valid: true, path: [leaf], revocations: [] };
  const w: Walk = { ctx, usage, chain: [leaf], bestComplete: false };
  const r = walk(w);
  if (r) return r;
  return w.best ?? failure("unknown-issuer", 0, `no path to a trust anchor for "${leaf.issuer.display}"`);
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
  const issuerKey = cur.issuer.key;
  let found = false;
  for (const anchor of ordered(ctx.in.anchors, issuerKey, cur)) {
    found = true;
    if (++ctx.edges > MAX_EDGES) return undefined;
    const edge = edgeSignature(cur, anchor, pos);
    if (edge) {
      note(w, edge, false);
      continue;
    }
    chain.push(anchor);
    const r = validateFull(ctx, chain.slice(), w.usage);
    chain.pop();
    if (r.valid) return r;
    note(w, r, true);
  }
  for (const inter of ordered(ctx.in.intermediates, issuerKey, cur)) {
    if (inChain(chain, inter)) continue;
    found = true;
    if (++ctx.edges > MAX_EDGES) return undefined;
    const edge = edgeSignature(cur, inter, pos);
    if (edge) {
      note(w, edge, false);
      continue;
    }
    chain.push(inter);
    const r = walk(w);
    chain.pop();
    if (r) return r;
  }
  if (!found) note(w, failure("unknown-issuer", pos, `no certificate for issuer "${cur.issuer.display}"`), false);
  return undefined;
}

/** A certificate may appear once in a path (the same object or the same bytes). */
function inChain(chain: Certificate[], c: Certificate): boolean {
  for (const x of chain) if (x === c || sameDer(x, c)) return true;
  return false;
}

const NO_CERTS: Certificate[] = [];

/** Certificates whose subject is `name`, those whose SKI matches the child's AKI first. */
function ordered(pool: readonly Certificate[], name: string, child: Certificate): Certificate[] {
  let out: Certificate[] | undefined;
  for (const c of pool) if (c.subject.key === name) (out ??= []).push(c);
  if (!out) return NO_CERTS;
  if (out.length > 1) {
    const aki = child.authorityKeyId?.keyId;
    if (aki) out.sort((a, b) => skiRank(a, aki) - skiRank(b, aki));
  }
  return out;
}

const skiRank = (c: Certificate, aki: string): number => (c.subjectKeyId === aki ? 0 : c.subjectKeyId === undefined ? 1 : 2);

/** The signature of `child` under `issuer`'s key, when it can be checked without the rest of the path. */
function edgeSignature(child: Certificate, issuer: Certificate, pos: number): Failure | undefined {
  const pk = publicKeyOf(issuer.spki, issuer.spkiAlgorithm);
  if (pk.needsParams) return undefined; // DSA key inheriting parameters: checked once the path is known
  const r = verifyCached(child, pk, child.signatureAlgorithm, child.tbs, child.signature);
  if (r === "ok") return undefined;
  if (r === "unsupported") return failure("unsupported-signature-algorithm", pos, `signature algorithm ${child.signatureAlgorithm.oid} or issuer key type ${pk.type} not supported`);
  return failure("bad-signature", pos, child.signatureDefect ?? `signature does not verify under the key of "${issuer.subject.display}"`);
}

function sameDer(a: Certificate, b: Certificate): boolean {
  if (a.der.length !== b.der.length) return false;
  const x = a.der;
  const y = b.der;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** RFC 5280 6.1 over a complete path (leaf first, anchor last), then revocation top-down. */
function validateFull(ctx: Ctx, path: Certificate[], usage: Usage): PathResult {
  const { time } = ctx.in;
  const n = path.length - 1; // certificates below the anchor
  const anchor = path[n];
  let workingKey: PublicKey = publicKeyOf(anchor.spki, anchor.spkiAlgorithm);
  let workingAlg = anchor.spkiAlgorithm;
  let workingName = anchor.subject.key;
  let maxPathLength = n;
  const keys: PublicKey[] = new Array(n + 1);
  keys[n] = workingKey;
  for (let i = 1; i <= n; i++) {
    const c = path[n - i];
    const pos = n - i;
    const sig = verifyCached(c, workingKey, c.signatureAlgorithm, c.tbs, c.signature);
    if (sig === "unsupported") return failure("unsupported-signature-algorithm", pos, `signature algorithm ${c.signatureAlgorithm.oid} not supported with a ${workingKey.type} key`);
    if (sig === "bad") return failure("bad-signature", pos, c.signatureDefect ?? `signature does not verify under the key of "${path[pos + 1].subject.display}"`);
    if (time < c.notBefore) return failure("not-yet-valid", pos, `notBefore ${iso(c.notBefore)} is after ${iso(time)}`);
    if (time > c.notAfter) return failure("expired", pos, `notAfter ${iso(c.notAfter)} is before ${iso(time)}`);
    if (c.issuer.key !== workingName) return failure("name-chaining", pos, `issuer "${c.issuer.display}" is not "${path[pos + 1].subject.display}"`);
    const unknown = c.unknownCriticalExtensions();
    if (unknown.length) return failure("unknown-critical-extension", pos, `unsupported critical extension ${unknown.join(", ")}`);
    if (i < n) {
      // Preparation for the next certificate (6.1.4 (k)-(n)).
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
    } else {
      const ku = c.keyUsage;
      if (ku !== undefined) {
        if (usage === "authentication" && !(ku & KeyUsage.digitalSignature)) return failure("key-usage", pos, "keyUsage lacks digitalSignature (needed for authentication)");
        if (usage === "signature" && !(ku & KeyUsage.nonRepudiation)) return failure("key-usage", pos, "keyUsage lacks nonRepudiation (needed for signature)");
      }
    }
    if (i === n) break; // the leaf's own key is not needed: loading it would cost a createPublicKey per new leaf
    // Working key for the next certificate, inheriting DSA parameters when the SPKI omits them.
    let pk = publicKeyOf(c.spki, c.spkiAlgorithm);
    if (pk.needsParams) pk = inheritDsaParams(pk, c.publicKeyBits, workingAlg);
    else workingAlg = c.spkiAlgorithm;
    workingKey = pk;
    keys[pos] = pk;
    workingName = c.subject.key;
  }

  const revocations: Revocation[] = [];
  if (ctx.in.revocation !== "off") {
    const sources = ctx.in.crls.length + ctx.in.ocspResponses.length;
    const required = ctx.in.revocation === "require" || sources > 0;
    if (required) {
      for (let pos = n - 1; pos >= 0; pos--) {
        const f = checkRevocation(ctx, path, pos, keys[pos + 1], revocations);
        if (f) return f;
      }
    }
  }
  return { valid: true, path, revocations };
}

const iso = isoTime;

/** Is path[pos] revoked at the validation time? Undefined when it is not (or was revoked only later). */
function checkRevocation(ctx: Ctx, path: Certificate[], pos: number, issuerKey: PublicKey, later: Revocation[]): Failure | undefined {
  const cert = path[pos];
  const issuer = path[pos + 1];
  const { time } = ctx.in;

  let ocspFailure: Failure | undefined;
  for (const resp of ctx.in.ocspResponses) {
    if (resp.status !== "successful") continue;
    for (const single of resp.responses) {
      if (!certIdMatches(single, cert, issuer)) continue;
      const f = checkOcsp(ctx.in, resp, single, path, pos, issuerKey);
      if (f === "good") return undefined;
      if ("code" in f && f.code === "revoked") return f;
      if ("valid" in f) {
        ocspFailure ??= f;
      } else {
        later.push(f);
        return undefined;
      }
    }
  }

  let first: Failure | undefined;
  let candidates = 0;
  let usable = 0;
  const issuerName = cert.issuer.key;
  for (const crl of ctx.in.crls) {
    if (crl.issuer.key !== issuerName || crl.isDelta || !inScope(crl, cert)) continue;
    candidates++;
    const f = crlUsable(ctx, crl, path, pos, issuerKey);
    if (f) {
      // An authentic CRL past its nextUpdate cannot show that a certificate is good, but it
      // still proves a revocation it lists (a revocation is final, unless it is a hold).
      if (f.code === "crl-expired") {
        const entry = crl.lookup(cert.serial);
        if (entry && entry.reason !== "certificateHold" && entry.reason !== "removeFromCRL") {
          const effective = Math.min(entry.revocationDate, entry.invalidityDate ?? Infinity);
          if (effective <= time) return failure("revoked", pos, `revoked ${iso(entry.revocationDate)} (${entry.reason}), listed on an expired CRL`, revocationOf(entry));
        }
      }
      first ??= f;
      continue;
    }
    usable++;
    const entry = crl.lookup(cert.serial);
    if (entry && entry.reason !== "removeFromCRL") {
      const rev = revocationOf(entry);
      // A key suspected compromised since invalidityDate is untrustworthy from then on.
      const effective = Math.min(entry.revocationDate, entry.invalidityDate ?? Infinity);
      if (effective <= time) return failure("revoked", pos, `revoked ${iso(entry.revocationDate)} (${entry.reason})`, rev);
      later.push(rev);
    }
  }
  if (candidates === 0) return ocspFailure ?? failure("crl-missing", pos, `no CRL or OCSP response from "${cert.issuer.display}"`);
  if (usable === 0) return ocspFailure ?? first;
  return undefined;
}

function revocationOf(entry: RevokedEntry): Revocation {
  const rev: Revocation = { reason: entry.reason, time: entry.revocationDate, source: "crl" };
  if (entry.invalidityDate !== undefined) rev.invalidityTime = entry.invalidityDate;
  return rev;
}

function inScope(crl: Crl, cert: Certificate): boolean {
  const s = crl.scope;
  if (!s) return true;
  if (s.indirect || s.onlyAttributeCerts || s.onlySomeReasons) return false;
  const isCa = cert.basicConstraints?.ca === true;
  if (s.onlyUserCerts && isCa) return false;
  if (s.onlyCaCerts && !isCa) return false;
  if (s.hasDistributionPoint) {
    const dps = cert.crlDistributionPoints;
    if (!s.distributionPointUris.some((u) => dps.includes(u))) return false;
  }
  return true;
}

/** Undefined when the CRL is authentic, current and processable for path[pos]; else why not. */
function crlUsable(ctx: Ctx, crl: Crl, path: Certificate[], pos: number, issuerKey: PublicKey): Failure | undefined {
  const pathIssuer = path[pos + 1];
  const name = pathIssuer.subject.display; // ParsedName is cached: no cost per call
  let keyUsageBad = false;
  let signerFailure: Failure | undefined;
  // The common case first, without allocating: the CRL is signed by the key that issued the certificate.
  if (verifyCached(crl, issuerKey, crl.signatureAlgorithm, crl.tbs, crl.signature) === "ok") {
    const ku = pathIssuer.keyUsage;
    if (ku === undefined || ku & KeyUsage.cRLSign) return crlCurrent(ctx, crl, pos, name);
  }
  for (const s of crlSigners(ctx, crl, pathIssuer)) {
    const pk = s === pathIssuer ? issuerKey : publicKeyOf(s.spki, s.spkiAlgorithm);
    if (verifyCached(crl, pk, crl.signatureAlgorithm, crl.tbs, crl.signature) !== "ok") continue;
    const ku = s.keyUsage;
    if (ku !== undefined && !(ku & KeyUsage.cRLSign)) {
      keyUsageBad = true;
      continue;
    }
    if (s !== pathIssuer && !path.includes(s) && !ctx.in.anchors.includes(s)) {
      const r = validateSigner(ctx, s);
      if (!r.valid) {
        signerFailure ??= failure("crl-signer-invalid", pos, `CRL signer "${s.subject.display}" is not valid: ${r.code} (${r.detail})`);
        continue;
      }
      // RFC 5280 6.3.3 (f): the CRL issuer's path must start at the same trust anchor.
      if (r.path[r.path.length - 1] !== path[path.length - 1]) {
        signerFailure ??= failure("crl-signer-invalid", pos, `CRL signer "${s.subject.display}" chains to another trust anchor`);
        continue;
      }
    }
    return crlCurrent(ctx, crl, pos, name);
  }
  if (keyUsageBad) return failure("crl-issuer-key-usage", pos, `the key that signed the CRL from "${name}" lacks cRLSign`);
  if (signerFailure) return signerFailure;
  return failure("crl-bad-signature", pos, crl.signatureDefect ?? `CRL from "${name}" does not verify under any key of its issuer`);
}

/** An authentic CRL is usable when it has no critical extension we cannot process and is not past nextUpdate. */
function crlCurrent(ctx: Ctx, crl: Crl, pos: number, name: string): Failure | undefined {
  const unknown = crl.unknownCriticalExtension();
  if (unknown) return failure("crl-unknown-critical-extension", pos, `CRL from "${name}" has unsupported critical extension ${unknown}`);
  if (crl.nextUpdate !== undefined && ctx.in.time > crl.nextUpdate) return failure("crl-expired", pos, `CRL from "${name}" expired ${iso(crl.nextUpdate)}`);
  return undefined;
}

/** The path issuer first, then other certificates with the CRL issuer's name (separate CRL keys, key rollover). */
function crlSigners(ctx: Ctx, crl: Crl, pathIssuer: Certificate): Certificate[] {
  const out = [pathIssuer];
  const name = crl.issuer.key;
  const aki = crl.authorityKeyId?.keyId;
  const extra: Certificate[] = [];
  for (const pool of [ctx.in.anchors, ctx.in.intermediates]) {
    for (const c of pool) if (c !== pathIssuer && c.subject.key === name && !sameDer(c, pathIssuer)) extra.push(c);
  }
  if (aki) extra.sort((a, b) => Number(b.subjectKeyId === aki) - Number(a.subjectKeyId === aki));
  return out.concat(extra);
}

/** Validates a certificate that signs CRLs or OCSP responses but is not on the path. */
function validateSigner(ctx: Ctx, s: Certificate): PathResult {
  ctx.signerResults ??= new Map();
  ctx.inProgress ??= new Set();
  const cached = ctx.signerResults.get(s);
  if (cached) return cached;
  if (ctx.inProgress.has(s) || ctx.depth >= MAX_SIGNER_DEPTH) {
    return failure("crl-signer-invalid", 0, "CRL signer validation loops or nests too deep");
  }
  ctx.inProgress.add(s);
  ctx.depth++;
  const r = buildAndValidate(ctx, s, "any");
  ctx.depth--;
  ctx.inProgress.delete(s);
  ctx.signerResults.set(s, r);
  return r;
}
