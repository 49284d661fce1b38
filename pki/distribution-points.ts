import { DerReader, Tag, type Tlv, ctx, ctxPrim, decodeNamedBits, readOne } from "./der.js";
import { DecodeError } from "./errors.js";
import { type GeneralName, decodeGeneralNames, sameGeneralName } from "./general-name.js";
import { type ParsedName, parseName } from "./name.js";

/**
 * DistributionPoint (RFC 5280 4.2.1.13), for cRLDistributionPoints and freshestCRL,
 * the DistributionPointName an IssuingDistributionPoint shares with it (5.2.5),
 * and the name matching of 6.3.3 (b)(2)(i).
 */
export interface DistributionPoint {
  /** distributionPoint fullName. */
  fullName?: readonly GeneralName[];
  /** distributionPoint nameRelativeToCRLIssuer: the RDN's canonical key (as ParsedName.rdns holds them). */
  relativeName?: string;
  /** ReasonFlags as a mask (bit 0 = unused, 1 = keyCompromise, ... 8 = aACompromise), when present. */
  reasons?: number;
  cRLIssuer?: readonly GeneralName[];
}

/** ReasonFlags bits 1-8 (keyCompromise .. aACompromise): every reason a CRL can be complete for. */
export const ALL_REASONS = 0x1fe;
/** The interim mask of a CRL and distribution point that restrict nothing (6.3.3 (d)(4)). */
export const ANY_REASON = 0x1ff;

/** CRLDistributionPoints / FreshestCRL: SEQUENCE SIZE (1..MAX) OF DistributionPoint. */
export function decodeDistributionPoints(value: Uint8Array): DistributionPoint[] {
  const r = DerReader.of(value, readOne(value, Tag.Sequence, "CRLDistributionPoints"));
  if (r.atEnd()) throw new DecodeError("CRLDistributionPoints: empty (SIZE (1..MAX))", 0);
  const out: DistributionPoint[] = [];
  while (!r.atEnd()) out.push(decodeDistributionPoint(value, r.expect(Tag.Sequence, "DistributionPoint")));
  return out;
}

function decodeDistributionPoint(v: Uint8Array, seq: Tlv): DistributionPoint {
  const r = DerReader.of(v, seq);
  const dp: DistributionPoint = {};
  const name = r.optional(ctx(0));
  if (name) Object.assign(dp, decodeDistributionPointName(v, name));
  const reasons = r.optional(ctxPrim(1));
  if (reasons) dp.reasons = decodeReasonFlags(v, reasons);
  const issuer = r.optional(ctx(2));
  if (issuer) dp.cRLIssuer = decodeGeneralNames(v, issuer, "cRLIssuer");
  r.done("DistributionPoint");
  // 4.2.1.13: "either distributionPoint or cRLIssuer MUST be present".
  if (!name && !issuer) throw new DecodeError("DistributionPoint with neither distributionPoint nor cRLIssuer", seq.start);
  return dp;
}

/** DistributionPointName ::= CHOICE { fullName [0] GeneralNames, nameRelativeToCRLIssuer [1] RDN }, inside its [0] EXPLICIT tag. */
export function decodeDistributionPointName(v: Uint8Array, outer: Tlv): { fullName?: GeneralName[]; relativeName?: string } {
  const r = DerReader.of(v, outer);
  const t = r.read();
  r.done("DistributionPointName");
  if (t.tag === ctx(0)) return { fullName: decodeGeneralNames(v, t, "DistributionPointName fullName") };
  if (t.tag === ctx(1)) return { relativeName: rdnKey(v, t) };
  throw new DecodeError(`DistributionPointName: unexpected tag 0x${t.tag.toString(16)}`, t.start);
}

/** ReasonFlags, [n] IMPLICIT BIT STRING with named bits (DER: no trailing zero bits); bits past aACompromise are dropped. */
export function decodeReasonFlags(v: Uint8Array, t: Tlv): number {
  return decodeNamedBits(v, { ...t, tag: Tag.BitString }) & ANY_REASON;
}

/** The canonical key of an implicitly tagged RelativeDistinguishedName (SET SIZE (1..MAX) OF AttributeTypeAndValue). */
function rdnKey(v: Uint8Array, t: Tlv): string {
  // Rewrapped as a one-RDN Name, so name.ts's rules (and escaping) make the key.
  const content = v.subarray(t.valueStart, t.end);
  const set = concat([Tag.Set], lengthOctets(content.length), content);
  const name = concat([Tag.Sequence], lengthOctets(set.length), set);
  const parsed = parseName(name, 0, name.length);
  if (parsed.rdns.length !== 1) throw new DecodeError("nameRelativeToCRLIssuer: not one RDN", t.start);
  return parsed.rdns[0];
}

function lengthOctets(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  for (let x = n; x > 0; x = Math.floor(x / 256)) out.unshift(x & 0xff);
  return [0x80 | out.length, ...out];
}

function concat(tag: number[], len: number[], body: Uint8Array): Uint8Array {
  const out = new Uint8Array(tag.length + len.length + body.length);
  out.set(tag);
  out.set(len, tag.length);
  out.set(body, tag.length + len.length);
  return out;
}

/**
 * A distribution point name ready for matching: the fullName, or the relative name
 * resolved against the name it is relative to (RFC 5280 4.2.1.13, 5.2.5) as the
 * canonical key of the whole distinguished name.
 */
export interface ResolvedDpName {
  fullName?: readonly GeneralName[];
  /** Canonical key of the resolved directory name. */
  directoryKey?: string;
}

/** Appends an RDN key to a name (an empty base gives the RDN alone). */
export function resolveRelative(base: ParsedName, rdn: string): string {
  return base.empty ? rdn : `${base.key},${rdn}`;
}

/** RFC 5280 6.3.3 (b)(2)(i): does one name of `a` match one name of `b`? */
export function dpNamesMatch(a: ResolvedDpName, b: ResolvedDpName): boolean {
  if (a.directoryKey !== undefined) {
    if (a.directoryKey === b.directoryKey) return true;
    if (b.fullName && hasDirectory(b.fullName, a.directoryKey)) return true;
  }
  if (a.fullName) {
    if (b.directoryKey !== undefined && hasDirectory(a.fullName, b.directoryKey)) return true;
    if (b.fullName) for (const x of a.fullName) for (const y of b.fullName) if (sameGeneralName(x, y)) return true;
  }
  return false;
}

function hasDirectory(names: readonly GeneralName[], key: string): boolean {
  for (const n of names) if (n.type === "directoryName" && n.name.key === key) return true;
  return false;
}

/** The first directoryName of a GeneralNames (the name a relative name is appended to when cRLIssuer is given). */
export function firstDirectoryName(names: readonly GeneralName[]): ParsedName | undefined {
  for (const n of names) if (n.type === "directoryName") return n.name;
  return undefined;
}
