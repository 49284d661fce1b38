import { bytesEqual } from "../core/index.js";
import type { Certificate } from "./certificate.js";
import { KeyUsage, OID } from "./oids.js";
import type { Crl, IssuingDistributionPoint, RevokedEntry } from "./crl.js";
import { DecodeError, type Failure, type Revocation, failure } from "./errors.js";
import { type PublicKey, publicKeyOf } from "./signed-data.js";
import { isoTime } from "./time.js";
import { ocspEvidence, ocspUnsuccessful } from "./ocsp-check.js";
import type { PathInputs, PathResult } from "./path.js";
import { crlCurrent, crlUnprocessable, crlUnusable, malformedCrl, sameExtension, sameIssuer } from "./crl-checks.js";
import { findDelta } from "./crl-deltas.js";
import { budgetSpent, isBudgetSpent, verifyCharged } from "./revocation-budget.js";
import { type GeneralName, decodeGeneralNamesExtension } from "./general-name.js";
import {
  ALL_REASONS, ANY_REASON, type DistributionPoint, type ResolvedDpName, dpNamesMatch, firstDirectoryName, resolveRelative,
} from "./distribution-points.js";

/**
 * Revocation of one certificate on a validated path: RFC 5280 6.3 for CRLs
 * (distribution points, issuing distribution points, reasons, indirect and
 * delta CRLs), RFC 6960 through ocsp-check.ts for OCSP.
 */

/** What revocation checking needs from the path validation that calls it. */
export interface RevocationContext {
  in: PathInputs;
  /** Validates a CRL signer that is not on the path, to the same anchors (cached per validation). */
  validateSigner(s: Certificate): PathResult;
  /** Takes one signature check from the validation's budget; false when it is spent (the check must not be made). */
  spendSignatureCheck(): boolean;
}

const iso = isoTime;

/** Is path[pos] revoked at the validation time? Undefined when it is not (or was revoked only later). */
export function checkRevocation(ctx: RevocationContext, path: Certificate[], pos: number, issuerKey: PublicKey, later: Revocation[]): Failure | undefined {
  const cert = path[pos];
  // OCSP first: "good", a revocation, or what to answer if no CRL does (a failed answer, an error response).
  const ocsp = ctx.in.ocspResponses.length ? ocspEvidence(ctx, path, pos, issuerKey, later) : undefined;
  if (ocsp === "good") return undefined;
  if (ocsp && "valid" in ocsp && (ocsp.code === "revoked" || isBudgetSpent(ocsp))) return ocsp;

  // RFC 5280 6.3.3: reasons_mask and cert_status over the certificate's distribution points, then
  // over the CRLs its issuer publishes outside any of them (the only pass for a certificate without DPs).
  const t: Tally = { reasons: 0, usable: 0, first: undefined, seen: undefined };
  const hasDps = cert.extensions.has(OID.crlDistributionPoints);
  if (hasDps) {
    t.seen = new Set();
    for (const dp of cert.distributionPoints) {
      const f = throughDp(ctx, path, pos, issuerKey, later, t, dp);
      if (f) return f;
    }
  }
  if ((t.reasons & ALL_REASONS) !== ALL_REASONS) {
    const f = throughDp(ctx, path, pos, issuerKey, later, t, undefined);
    if (f) return f;
  }
  if ((t.reasons & ALL_REASONS) === ALL_REASONS) return undefined;
  if (t.usable > 0) {
    return failure("crl-reasons-incomplete", pos, `the CRLs for "${cert.issuer.display}" cover ${reasonNames(t.reasons & ALL_REASONS)} but not ${reasonNames(ALL_REASONS & ~t.reasons)}`);
  }
  // No usable evidence: a failed OCSP answer for this certificate, else an error response (RFC 6960 4.2.1), else the CRLs' reason.
  if (ocsp) return "valid" in ocsp ? ocsp : ocspUnsuccessful(ocsp, pos, t.first?.detail);
  return t.first ?? failure("crl-missing", pos, `no CRL or OCSP response from "${cert.issuer.display}"`);
}

/** 6.3.3's state for one certificate. */
interface Tally {
  /** reasons_mask: the reasons the usable CRLs so far are complete for (ReasonFlags bits). */
  reasons: number;
  usable: number;
  /** Why the first CRL in scope was unusable. */
  first: Failure | undefined;
  /** CRLs in scope of one of the certificate's DPs: not taken again as "not specified in a DP". */
  seen: Set<Crl> | undefined;
}

/**
 * 6.3.3 (b)-(l) for one distribution point; `dp` undefined: the issuer's own CRLs, as if through
 * a DP named by the certificate issuer with neither reasons nor cRLIssuer. Returns a revocation,
 * or a spent budget (final). A CRL that does not decode is that CRL's failure, never the validation's.
 */
function throughDp(ctx: RevocationContext, path: Certificate[], pos: number, issuerKey: PublicKey, later: Revocation[], t: Tally, dp: DistributionPoint | undefined): Failure | undefined {
  const cert = path[pos];
  const issuerName = cert.issuer.key;
  let dpName: ResolvedDpName | undefined;
  let dpNamed = false;
  for (const crl of ctx.in.crls) {
    if (crl.isDelta) continue;
    let idp: IssuingDistributionPoint | undefined;
    let idpName: ResolvedDpName | undefined;
    try {
      // (b)(1): the CRL is the certificate issuer's, or an indirect CRL from the DP's cRLIssuer.
      if (dp?.cRLIssuer) {
        if (!namesDirectory(dp.cRLIssuer, crl.issuer.key) || !crl.idp?.indirectCRL) continue;
      } else if (crl.issuer.key !== issuerName) continue;
      // (b)(2): the scope, read before the signature is checked: it only decides whether the CRL is looked at.
      idp = crl.idp;
      if (idp) {
        if (!flagsCover(idp, cert)) continue;
        idpName = crl.idpName;
      }
    } catch (err) {
      t.first ??= malformedCrl(err, crl, pos);
      continue;
    }
    if (idpName) {
      // The certificate's side of the match: outside the try, a DecodeError there is the certificate's.
      if (!dpNamed) {
        dpName = dpNameOf(cert, dp);
        dpNamed = true;
      }
      if (!dpName || !dpNamesMatch(idpName, dpName)) continue;
    }
    if (!dp && t.seen?.has(crl)) continue;
    if (dp) t.seen?.add(crl);
    // (d)-(e): the reasons this CRL answers for here. 6.3.3's loop runs "while reasons_mask is not
    // all-reasons": a CRL that adds no reason is past it, and is read (once authentic) only for a revocation.
    const interim = (idp?.onlySomeReasons ?? ANY_REASON) & (dp?.reasons ?? ANY_REASON);
    const counts = (interim & ALL_REASONS & ~t.reasons) !== 0;
    let usable: Failure | boolean;
    try {
      usable = statusFrom(ctx, crl, path, pos, issuerKey, later, t, counts);
    } catch (err) {
      const f = malformedCrl(err, crl, pos);
      if (counts) t.first ??= f;
      continue;
    }
    if (usable === false) continue;
    if (usable !== true) return usable;
    if (counts) t.reasons |= interim; // (l)
  }
  return undefined;
}

/**
 * (f)-(k) for one CRL in scope: authenticate it first (nothing of its entries is read before),
 * then the certificate's entry, its delta, currency. A revocation (or a spent budget, final:
 * the CRL not checked may have listed the certificate); else whether the CRL was usable.
 */
function statusFrom(ctx: RevocationContext, crl: Crl, path: Certificate[], pos: number, issuerKey: PublicKey, later: Revocation[], t: Tally, counts: boolean): Failure | boolean {
  const cert = path[pos];
  const { time } = ctx.in;
  const issuerName = cert.issuer.key;
  const serial = cert.serial;
  const key = authenticate(ctx, crl, path, pos, issuerKey);
  if ("valid" in key) {
    if (isBudgetSpent(key)) return key;
    if (counts) t.first ??= key;
    return false;
  }
  const unprocessable = crlUnprocessable(crl, pos); // 5.2: then not used at all, not even for a revocation
  if (unprocessable) {
    if (counts) t.first ??= unprocessable;
    return false;
  }
  // An authentic CRL proves a final revocation it lists, whatever its profile, its expiry or its delta.
  const entry = crl.lookup(serial, issuerName);
  if (entry && isFinal(entry) && effectiveTime(entry) <= time) {
    const f = crlUnusable(ctx.in, crl, pos);
    return failure("revoked", pos, `revoked ${iso(entry.revocationDate)} (${entry.reason})${f ? `, listed on a CRL that cannot show a good status (${f.code})` : ""}`, revocationOf(entry));
  }
  const delta = ctx.in.useDeltaCrls && (cert.extensions.has(OID.freshestCrl) || crl.extensions.has(OID.freshestCrl)) ? findDelta(ctx, crl, key, pos) : undefined;
  if (delta && "valid" in delta) {
    if (isBudgetSpent(delta)) return delta;
    if (counts) t.first ??= delta;
    return false;
  }
  const f = crlUnusable(ctx.in, crl, pos);
  // 6.3.3 (a)(1)(i): a current delta CRL brings an expired complete CRL up to date.
  if (f && !(f.code === "crl-expired" && delta)) {
    if (counts) t.first ??= f;
    return false;
  }
  if (counts) t.usable++;
  // (i)-(k): a delta that lists the serial decides (removeFromCRL: no longer on hold); else the complete CRL.
  const deltaEntry = delta?.lookup(serial, issuerName);
  const e = deltaEntry ?? entry;
  if (e && e.reason !== "removeFromCRL") {
    const rev = revocationOf(e);
    if (effectiveTime(e) > time) later.push(rev);
    else if (e.reason !== "certificateHold") return failure("revoked", pos, `revoked ${iso(e.revocationDate)} (${e.reason}), on a delta CRL`, rev);
    else {
      // 5.3.1: a hold is not final; a newer CRL of the same scope that no longer lists the serial releases it.
      const released = holdReleased(ctx, deltaEntry ? delta! : crl, path, pos, issuerKey);
      if (released !== true) return released || failure("revoked", pos, `revoked ${iso(e.revocationDate)} (${e.reason})${deltaEntry ? ", on a delta CRL" : ""}`, rev);
    }
  }
  return true;
}

/** Every reason but certificateHold (not final) and removeFromCRL (no revocation). */
const isFinal = (entry: RevokedEntry): boolean => entry.reason !== "certificateHold" && entry.reason !== "removeFromCRL";

/** A key suspected compromised since invalidityDate is untrustworthy from then on. */
const effectiveTime = (entry: RevokedEntry): number => Math.min(entry.revocationDate, entry.invalidityDate ?? Infinity);

/**
 * RFC 5280 5.2.3 (the CRL number tells which CRL supersedes another) and 5.3.1 (certificateHold,
 * removeFromCRL): is there an authentic, usable complete CRL of the same issuer and scope (the same
 * IDP), newer than `source` (a higher cRLNumber; without numbers, a later thisUpdate), issued by the
 * validation time, that does not list the certificate? Only the issuer name, the IDP and thisUpdate
 * are read before a candidate's signature. A spent budget: returned (the release is unknown).
 * Rare: only asked about a hold entry.
 */
function holdReleased(ctx: RevocationContext, source: Crl, path: Certificate[], pos: number, issuerKey: PublicKey): boolean | Failure {
  const cert = path[pos];
  const n = source.crlNumber;
  for (const c of ctx.in.crls) {
    if (c === source || c.isDelta || c.thisUpdate > ctx.in.time) continue;
    if (!sameExtension(c, source, OID.issuingDistributionPoint) || !sameIssuer(c, source)) continue;
    try {
      const key = authenticate(ctx, c, path, pos, issuerKey);
      if ("valid" in key) {
        if (isBudgetSpent(key)) return key;
        continue;
      }
      const m = c.crlNumber;
      if (!(n !== undefined && m !== undefined ? m > n : c.thisUpdate > source.thisUpdate)) continue;
      if (crlCurrent(ctx.in, c, pos)) continue;
      if (!c.lookup(cert.serial, cert.issuer.key)) return true;
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err; // a CRL that does not decode releases nothing
    }
  }
  return false;
}

/** (b)(2)(ii)-(iv): onlyContainsUserCerts, onlyContainsCACerts, onlyContainsAttributeCerts. */
function flagsCover(idp: IssuingDistributionPoint, cert: Certificate): boolean {
  if (idp.onlyContainsAttributeCerts) return false; // never a public-key certificate
  const isCa = cert.basicConstraints?.ca === true;
  if (idp.onlyContainsUserCerts && isCa) return false;
  return !(idp.onlyContainsCACerts && !isCa);
}

/**
 * The names a CRL's IDP must match (6.3.3 (b)(2)(i)): the DP's fullName, or its relative name
 * appended to the cRLIssuer (else the certificate issuer); a DP without a name: its cRLIssuer;
 * the issuer's own CRLs: the certificate issuer and its issuerAltName.
 */
function dpNameOf(cert: Certificate, dp: DistributionPoint | undefined): ResolvedDpName | undefined {
  if (!dp) {
    const alt = cert.extensions.get(OID.issuerAltName);
    return { directoryKey: cert.issuer.key, fullName: alt ? decodeGeneralNamesExtension(alt.value, "IssuerAltName") : undefined };
  }
  if (dp.fullName) return { fullName: dp.fullName };
  if (dp.relativeName !== undefined) {
    const base = dp.cRLIssuer ? firstDirectoryName(dp.cRLIssuer) : cert.issuer;
    return base ? { directoryKey: resolveRelative(base, dp.relativeName) } : undefined;
  }
  return dp.cRLIssuer ? { fullName: dp.cRLIssuer } : undefined;
}

function namesDirectory(names: readonly GeneralName[], key: string): boolean {
  for (const n of names) if (n.type === "directoryName" && n.name.key === key) return true;
  return false;
}

function revocationOf(entry: RevokedEntry): Revocation {
  const rev: Revocation = { reason: entry.reason, time: entry.revocationDate, source: "crl" };
  if (entry.invalidityDate !== undefined) rev.invalidityTime = entry.invalidityDate;
  return rev;
}

const REASONS = ["unused", "keyCompromise", "cACompromise", "affiliationChanged", "superseded", "cessationOfOperation", "certificateHold", "privilegeWithdrawn", "aACompromise"];

function reasonNames(mask: number): string {
  const out = REASONS.filter((_, i) => mask & (1 << i));
  return out.length ? out.join(", ") : "no reason";
}

/**
 * 6.3.3 (f)-(g): the key that signed the CRL, from a CRL issuer with cRLSign whose own path
 * reaches the same trust anchor; else why none does. Every signature check is charged to the
 * validation's budget (a pool of same-named certificates must not make a forged CRL dear).
 */
function authenticate(ctx: RevocationContext, crl: Crl, path: Certificate[], pos: number, issuerKey: PublicKey): PublicKey | Failure {
  const pathIssuer = path[pos + 1];
  const direct = crl.issuer.key === pathIssuer.subject.key;
  let keyUsageBad = false;
  let signerFailure: Failure | undefined;
  // The common case first, without allocating: the CRL is signed by the key that issued the certificate.
  if (direct) {
    const r = verifyCharged(ctx, crl, issuerKey);
    if (r === undefined) return spent(crl, pos);
    if (r === "ok") {
      const ku = pathIssuer.keyUsage;
      if (ku === undefined || ku & KeyUsage.cRLSign) return issuerKey;
      keyUsageBad = true;
    }
  }
  const anchor = path[path.length - 1];
  const signers = crlSigners(ctx, crl, direct ? pathIssuer : undefined);
  if (!direct && signers.length === 0) return failure("crl-signer-invalid", pos, `no certificate of the CRL issuer "${crl.issuer.display}" (with its authorityKeyIdentifier) is among the anchors and intermediates`);
  for (const s of signers) {
    const pk = publicKeyOf(s.spki, s.spkiAlgorithm);
    const r = verifyCharged(ctx, crl, pk);
    if (r === undefined) return spent(crl, pos);
    if (r !== "ok") continue;
    const ku = s.keyUsage;
    if (ku !== undefined && !(ku & KeyUsage.cRLSign)) {
      keyUsageBad = true;
      continue;
    }
    if (!path.includes(s)) {
      // RFC 5280 6.3.3 (f): the CRL issuer's path must start at the same trust anchor.
      if (ctx.in.anchors.includes(s)) {
        signerFailure ??= failure("crl-signer-invalid", pos, `CRL signer "${s.subject.display}" is another trust anchor`);
        continue;
      }
      const r = ctx.validateSigner(s);
      if (!r.valid) {
        signerFailure ??= failure("crl-signer-invalid", pos, `CRL signer "${s.subject.display}" is not valid: ${r.code} (${r.detail})`);
        continue;
      }
      if (r.path[r.path.length - 1] !== anchor) {
        signerFailure ??= failure("crl-signer-invalid", pos, `CRL signer "${s.subject.display}" chains to another trust anchor`);
        continue;
      }
    }
    return pk;
  }
  const name = crl.issuer.display;
  if (keyUsageBad) return failure("crl-issuer-key-usage", pos, `the key that signed the CRL from "${name}" lacks cRLSign`);
  if (signerFailure) return signerFailure;
  return failure("crl-bad-signature", pos, crl.signatureDefect ?? `CRL from "${name}" does not verify under any key of its issuer`);
}

const spent = (crl: Crl, pos: number): Failure => budgetSpent("crl-bad-signature", pos, `CRL from "${crl.issuer.display}"`);

/**
 * Other certificates with the CRL issuer's name (separate CRL keys, key rollover, indirect CRLs),
 * the path issuer (tried first by `authenticate`) and its copies excepted. When the CRL names its
 * key (authorityKeyIdentifier keyId), only certificates with that subjectKeyIdentifier, then those
 * with none: a forged CRL costs one check per certificate that could have signed it, not per name.
 */
function crlSigners(ctx: RevocationContext, crl: Crl, pathIssuer: Certificate | undefined): Certificate[] {
  const name = crl.issuer.key;
  const aki = crl.authorityKeyId?.keyId;
  const seen = new Set<Certificate>();
  const named: Certificate[] = [];
  const unmarked: Certificate[] = [];
  for (const pool of [ctx.in.anchors, ctx.in.intermediates]) {
    for (const c of pool) {
      if (c === pathIssuer || seen.has(c) || !subjectIs(c, name)) continue;
      seen.add(c);
      if (pathIssuer && bytesEqual(c.der, pathIssuer.der)) continue;
      if (aki === undefined) {
        named.push(c);
        continue;
      }
      let ski: string | undefined;
      try {
        ski = c.subjectKeyId;
      } catch (err) {
        if (err instanceof DecodeError) continue; // cannot be a valid signer: its own path is malformed
        throw err;
      }
      if (ski === aki) named.push(c);
      else if (ski === undefined) unmarked.push(c);
    }
  }
  for (const c of unmarked) named.push(c);
  return named;
}

/** A pool certificate whose subject does not decode is nobody's (as in path building). */
function subjectIs(c: Certificate, key: string): boolean {
  try {
    return c.subject.key === key;
  } catch (err) {
    if (err instanceof DecodeError) return false;
    throw err;
  }
}
