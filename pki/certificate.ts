import {
  DerReader, Tag, ctx, ctxPrim, decodeBitString, decodeBoolean, decodeNamedBits, decodeOid, decodeSmallInt, decodeString, decodeTime, hexOf, integerHex, readOne, readTlv, checkDer,
} from "./der.js";
import type { VerifyResult } from "./signed-data.js";
import { bytesEqual } from "../core/index.js";
import { DecodeError, type ResultCode } from "./errors.js";
import { type ParsedName, parseNameCached } from "./name.js";
import { OID } from "./oids.js";
import { type AlgorithmId, type Extension, readAlgorithm, readExtensions, readSigned } from "./signed-envelope.js";
import { type GeneralName, decodeGeneralNamesExtension, smtpUtf8Mailbox } from "./general-name.js";
import { type NameConstraints, decodeNameConstraints } from "./name-constraints.js";
import {
  type PolicyConstraints, type PolicyMapping, decodeCertificatePolicies, decodeInhibitAnyPolicy, decodePolicyConstraints, decodePolicyMappings,
} from "./policy-extensions.js";
import { type DistributionPoint, decodeDistributionPoints } from "./distribution-points.js";

/**
 * Extensions this module processes (or that carry no constraint it must enforce).
 * A critical extension outside this set makes the certificate unusable (RFC 5280 4.2).
 */
export const KNOWN_CERT_EXTENSIONS: ReadonlySet<string> = new Set([
  OID.basicConstraints, OID.keyUsage, OID.extKeyUsage, OID.subjectKeyIdentifier, OID.authorityKeyIdentifier,
  OID.crlDistributionPoints, OID.freshestCrl, OID.authorityInfoAccess, OID.subjectInfoAccess, OID.subjectAltName, OID.issuerAltName,
  OID.certificatePolicies, OID.policyMappings, OID.policyConstraints, OID.inhibitAnyPolicy, OID.nameConstraints, OID.ocspNoCheck,
]);

export interface BasicConstraints {
  ca: boolean;
  pathLen?: number;
}

export interface AuthorityKeyId {
  keyId?: string;
  serial?: string;
}

/**
 * A borrowed, lazy view of one X.509 certificate. The constructor walks the
 * structure once (offsets only); names and extension values decode on first use.
 */
export class Certificate {
  readonly der: Uint8Array;
  readonly tbs: Uint8Array;
  readonly signatureAlgorithm: AlgorithmId;
  /** The signature octets; empty when `signatureDefect` says why none can verify. */
  readonly signature: Uint8Array;
  /** Set when the signature BIT STRING is not octet-aligned (unused bits != 0): it is then a bad signature under every key. */
  readonly signatureDefect?: string;
  readonly version: number;
  readonly serial: string;
  readonly notBefore: number;
  readonly notAfter: number;
  /** notBefore / notAfter were GeneralizedTime rather than UTCTime (the profile's 4.1.2.5 rule). */
  readonly notBeforeGeneralized: boolean;
  readonly notAfterGeneralized: boolean;
  /** issuerUniqueID or subjectUniqueID is present (the profile's 4.1.2.8 rule). */
  readonly uniqueIdentifiers: boolean;
  /** The whole SubjectPublicKeyInfo element. */
  readonly spki: Uint8Array;
  /** Signature cache (see signed-data.ts): the key id last verified against, and the result. */
  verifiedKeyId = 0;
  verifiedResult: VerifyResult | undefined = undefined;
  /** Profile cache (see profile.ts): the last role and level checked, and the verdict (null: conforming). */
  profileKey = "";
  profileVerdict: { code: ResultCode; detail: string } | null = null;
  readonly extensions: Map<string, Extension>;
  private readonly issuerRange: [number, number];
  private readonly subjectRange: [number, number];
  private _issuer?: ParsedName;
  private _subject?: ParsedName;
  private _bc?: BasicConstraints | null;
  private _ku?: number | null;
  private _eku?: string[] | null;
  private _ski?: string | null;
  private _aki?: AuthorityKeyId | null;
  private _san?: GeneralName[];
  private _nc?: NameConstraints | null;
  private _policies?: string[] | null;
  private _mappings?: PolicyMapping[] | null;
  private _pc?: PolicyConstraints | null;
  private _inhibitAny?: number | null;
  private _dps?: DistributionPoint[];
  private _freshest?: DistributionPoint[];
  private _spkiAlgorithm?: AlgorithmId;
  private _publicKeyBits?: Uint8Array;
  /** Offsets in `spki`: its AlgorithmIdentifier, and the subjectPublicKey octets (after the unused-bits octet). */
  private readonly spkiAlgorithmAt: number;
  private readonly publicKeyAt: number;

  constructor(der: Uint8Array) {
    this.der = der;
    const outer = readOne(der, Tag.Sequence, "Certificate");
    const cert = DerReader.of(der, outer);
    const { tbsTlv, tbs: signed, algorithmTlv: outerAlg, signatureAlgorithm, signature, signatureDefect } = readSigned(der, cert, "TBSCertificate", "signatureValue");
    this.tbs = signed;
    this.signatureAlgorithm = signatureAlgorithm;
    this.signature = signature;
    if (signatureDefect) this.signatureDefect = signatureDefect;
    cert.done("Certificate");

    const tbs = DerReader.of(der, tbsTlv);
    const v = tbs.optional(ctx(0));
    if (v) {
      const vr = DerReader.of(der, v);
      this.version = decodeSmallInt(der, vr.expect(Tag.Integer, "version")) + 1;
      vr.done("version");
      if (this.version === 1) throw new DecodeError("version v1 encoded (a DEFAULT value is omitted in DER)", v.start);
    } else this.version = 1;
    if (this.version > 3) throw new DecodeError("unknown certificate version", tbsTlv.start);
    this.serial = integerHex(der, tbs.expect(Tag.Integer, "serialNumber"));
    const innerAlg = tbs.read();
    // RFC 5280 4.1.1.2: the two AlgorithmIdentifiers must be identical; comparing bytes avoids decoding twice.
    if (!bytesEqual(der.subarray(innerAlg.start, innerAlg.end), der.subarray(outerAlg.start, outerAlg.end))) {
      throw new DecodeError("TBSCertificate.signature differs from signatureAlgorithm", innerAlg.start);
    }
    const iss = tbs.expect(Tag.Sequence, "issuer");
    this.issuerRange = [iss.start, iss.end];
    const validity = tbs.enter(Tag.Sequence, "validity");
    const nb = validity.read();
    this.notBefore = decodeTime(der, nb, true);
    this.notBeforeGeneralized = nb.tag === Tag.GeneralizedTime;
    const na = validity.read();
    this.notAfter = decodeTime(der, na, true);
    this.notAfterGeneralized = na.tag === Tag.GeneralizedTime;
    validity.done("validity");
    const sub = tbs.expect(Tag.Sequence, "subject");
    this.subjectRange = [sub.start, sub.end];
    const spkiTlv = tbs.expect(Tag.Sequence, "subjectPublicKeyInfo");
    this.spki = der.subarray(spkiTlv.start, spkiTlv.end); // decoded on demand: a leaf's key is rarely needed
    // Strict DER for the parts decoded lazily (or by node:crypto): checked once, here.
    checkDer(der, iss);
    checkDer(der, sub);
    checkDer(der, spkiTlv);
    let uids = false;
    for (const n of [1, 2]) {
      const u = tbs.optional(ctxPrim(n)); // issuer/subjectUniqueID: not used for chaining (RFC 5280 4.1.2.8)
      if (u) {
        decodeBitString(der, { ...u, tag: Tag.BitString });
        uids = true;
      }
    }
    this.uniqueIdentifiers = uids;
    const ext = tbs.optional(ctx(3));
    if (ext) {
      if (this.version !== 3) throw new DecodeError("extensions in a non-v3 certificate", ext.start);
      const er = DerReader.of(der, ext);
      const seq = er.expect(Tag.Sequence, "Extensions");
      er.done("Extensions");
      this.extensions = readExtensions(der, seq, "Extension", true);
    } else this.extensions = new Map();
    tbs.done("TBSCertificate");
    // DEFAULT values and named bits are type rules checkDer cannot see: decode these two now (both small).
    if (this.extensions.has(OID.basicConstraints)) void this.basicConstraints;
    if (this.extensions.has(OID.keyUsage)) void this.keyUsage;
    // The SPKI's layout: checkDer has walked it (the key BIT STRING's padding is DER); the key must also be
    // octets, so its unused-bits octet is 0. The algorithm decodes on demand (spkiAlgorithm).
    const alg = readTlv(der, spkiTlv.valueStart, spkiTlv.end);
    const key = readTlv(der, alg.end, spkiTlv.end);
    if (key.tag !== Tag.BitString) throw new DecodeError(`subjectPublicKey: expected tag 0x3, got 0x${key.tag.toString(16)}`, key.start);
    if (key.end !== spkiTlv.end) throw new DecodeError("SubjectPublicKeyInfo: trailing data", key.end);
    const unused = der[key.valueStart];
    if (unused !== 0) throw new DecodeError(`subjectPublicKey: BIT STRING has ${unused} unused bits (must be 0)`, key.start);
    this.spkiAlgorithmAt = alg.start - spkiTlv.start;
    this.publicKeyAt = key.valueStart + 1 - spkiTlv.start;
  }

  get spkiAlgorithm(): AlgorithmId {
    return (this._spkiAlgorithm ??= readAlgorithm(this.spki, new DerReader(this.spki, this.spkiAlgorithmAt, this.publicKeyAt), "SubjectPublicKeyInfo.algorithm", true));
  }
  /** The subjectPublicKey BIT STRING content (without the unused-bits octet). */
  get publicKeyBits(): Uint8Array {
    return (this._publicKeyBits ??= this.spki.subarray(this.publicKeyAt));
  }

  get issuer(): ParsedName {
    return (this._issuer ??= parseNameCached(this.der, this.issuerRange[0], this.issuerRange[1]));
  }
  get subject(): ParsedName {
    return (this._subject ??= parseNameCached(this.der, this.subjectRange[0], this.subjectRange[1]));
  }
  /** The issuer Name element's DER (for OCSP CertID hashes). */
  get issuerDer(): Uint8Array {
    return this.der.subarray(this.issuerRange[0], this.issuerRange[1]);
  }
  get subjectDer(): Uint8Array {
    return this.der.subarray(this.subjectRange[0], this.subjectRange[1]);
  }
  /** The subject / issuer is the empty Name (SEQUENCE {}, two octets), known without parsing it. */
  get subjectEmpty(): boolean {
    return this.subjectRange[1] - this.subjectRange[0] === 2;
  }
  get issuerEmpty(): boolean {
    return this.issuerRange[1] - this.issuerRange[0] === 2;
  }
  /** Issuer and subject names match (RFC 5280 6.1: self-issued certificates are not counted in path length). */
  get selfIssued(): boolean {
    return this.issuer.key === this.subject.key;
  }

  get basicConstraints(): BasicConstraints | undefined {
    if (this._bc === undefined) {
      const e = this.extensions.get(OID.basicConstraints);
      this._bc = e ? decodeBasicConstraints(e.value) : null;
    }
    return this._bc ?? undefined;
  }

  /** KeyUsage bits, or undefined when the extension is absent (= any usage). */
  get keyUsage(): number | undefined {
    if (this._ku === undefined) {
      const e = this.extensions.get(OID.keyUsage);
      this._ku = e ? decodeNamedBits(e.value, readOne(e.value, Tag.BitString, "KeyUsage")) : null;
    }
    return this._ku ?? undefined;
  }

  get extKeyUsage(): string[] | undefined {
    if (this._eku === undefined) {
      const e = this.extensions.get(OID.extKeyUsage);
      if (!e) this._eku = null;
      else {
        const r = DerReader.of(e.value, readOne(e.value, Tag.Sequence, "ExtKeyUsage"));
        const out: string[] = [];
        while (!r.atEnd()) out.push(decodeOid(e.value, r.read()));
        this._eku = out;
      }
    }
    return this._eku ?? undefined;
  }

  get subjectKeyId(): string | undefined {
    if (this._ski === undefined) {
      const e = this.extensions.get(OID.subjectKeyIdentifier);
      if (!e) this._ski = null;
      else {
        const t = readOne(e.value, Tag.OctetString, "SubjectKeyIdentifier");
        this._ski = hexOf(e.value, t.valueStart, t.end);
      }
    }
    return this._ski ?? undefined;
  }

  get authorityKeyId(): AuthorityKeyId | undefined {
    if (this._aki === undefined) {
      const e = this.extensions.get(OID.authorityKeyIdentifier);
      this._aki = e ? decodeAuthorityKeyId(e.value) : null;
    }
    return this._aki ?? undefined;
  }

  /** URIs of the CRL distribution points: the uniformResourceIdentifiers of their fullNames (not of cRLIssuer). */
  get crlDistributionPoints(): string[] {
    const out: string[] = [];
    for (const dp of this.distributionPoints) for (const g of dp.fullName ?? []) if (g.type === "uniformResourceIdentifier") out.push(g.value);
    return out;
  }

  /** AIA: OCSP responder and caIssuers URIs. */
  get authorityInfoAccess(): { ocsp: string[]; caIssuers: string[] } {
    const out = { ocsp: [] as string[], caIssuers: [] as string[] };
    const e = this.extensions.get(OID.authorityInfoAccess);
    if (!e) return out;
    const r = DerReader.of(e.value, readOne(e.value, Tag.Sequence, "AuthorityInfoAccess"));
    while (!r.atEnd()) {
      const ad = r.enter(Tag.Sequence, "AccessDescription");
      const method = decodeOid(e.value, ad.read());
      const loc = ad.read();
      if (loc.tag === ctxPrim(6)) {
        const uri = decodeString(e.value, { ...loc, tag: Tag.Ia5String });
        if (method === OID.adOcsp) out.ocsp.push(uri);
        else if (method === OID.adCaIssuers) out.caIssuers.push(uri);
      }
    }
    return out;
  }

  /**
   * The subjectAltName mailboxes: rfc822Name and, RFC 9598, otherName id-on-SmtpUTF8Mailbox
   * (a UTF8String: one that is not is malformed). Other names are skipped.
   */
  get emailAltNames(): string[] {
    const out: string[] = [];
    for (const g of this.subjectAltNames) {
      if (g.type === "rfc822Name") out.push(g.value);
      else if (g.type === "otherName" && g.oid === OID.smtpUtf8Mailbox) {
        const box = smtpUtf8Mailbox(g.value);
        if (box === undefined) throw new DecodeError("SmtpUTF8Mailbox: the otherName value is not a UTF8String", 0);
        out.push(box);
      }
    }
    return out;
  }

  /** Every subjectAltName (empty when the extension is absent). */
  get subjectAltNames(): readonly GeneralName[] {
    if (this._san === undefined) {
      const e = this.extensions.get(OID.subjectAltName);
      this._san = e ? decodeGeneralNamesExtension(e.value, "SubjectAltName") : [];
    }
    return this._san;
  }

  get nameConstraints(): NameConstraints | undefined {
    if (this._nc === undefined) {
      const e = this.extensions.get(OID.nameConstraints);
      this._nc = e ? decodeNameConstraints(e.value) : null;
    }
    return this._nc ?? undefined;
  }

  /** certificatePolicies OIDs, or undefined when the extension is absent. */
  get policies(): readonly string[] | undefined {
    if (this._policies === undefined) {
      const e = this.extensions.get(OID.certificatePolicies);
      this._policies = e ? decodeCertificatePolicies(e.value) : null;
    }
    return this._policies ?? undefined;
  }

  get policyMappings(): readonly PolicyMapping[] | undefined {
    if (this._mappings === undefined) {
      const e = this.extensions.get(OID.policyMappings);
      this._mappings = e ? decodePolicyMappings(e.value) : null;
    }
    return this._mappings ?? undefined;
  }

  get policyConstraints(): PolicyConstraints | undefined {
    if (this._pc === undefined) {
      const e = this.extensions.get(OID.policyConstraints);
      this._pc = e ? decodePolicyConstraints(e.value) : null;
    }
    return this._pc ?? undefined;
  }

  /** inhibitAnyPolicy SkipCerts, or undefined when absent. */
  get inhibitAnyPolicy(): number | undefined {
    if (this._inhibitAny === undefined) {
      const e = this.extensions.get(OID.inhibitAnyPolicy);
      this._inhibitAny = e ? decodeInhibitAnyPolicy(e.value) : null;
    }
    return this._inhibitAny ?? undefined;
  }

  /** cRLDistributionPoints, whole (empty when absent). */
  get distributionPoints(): readonly DistributionPoint[] {
    if (this._dps === undefined) {
      const e = this.extensions.get(OID.crlDistributionPoints);
      this._dps = e ? decodeDistributionPoints(e.value) : [];
    }
    return this._dps;
  }

  /** freshestCRL (where delta CRLs are found; empty when absent). */
  get freshestCrl(): readonly DistributionPoint[] {
    if (this._freshest === undefined) {
      const e = this.extensions.get(OID.freshestCrl);
      this._freshest = e ? decodeDistributionPoints(e.value) : [];
    }
    return this._freshest;
  }

  /** OIDs of critical extensions this module does not process. */
  unknownCriticalExtensions(): readonly string[] {
    let out: string[] | undefined;
    for (const e of this.extensions.values()) if (e.critical && !KNOWN_CERT_EXTENSIONS.has(e.oid)) (out ??= []).push(e.oid);
    return out ?? NONE;
  }

  /** Decodes every extension this view knows, so malformed ones surface as DecodeError now. */
  decodeAll(): void {
    void this.issuer;
    void this.subject;
    void this.spkiAlgorithm;
    void this.basicConstraints;
    void this.keyUsage;
    void this.extKeyUsage;
    void this.subjectKeyId;
    void this.authorityKeyId;
    void this.crlDistributionPoints;
    void this.authorityInfoAccess;
    void this.emailAltNames;
    void this.subjectAltNames;
    void this.nameConstraints;
    void this.policies;
    void this.policyMappings;
    void this.policyConstraints;
    void this.inhibitAnyPolicy;
    void this.distributionPoints;
    void this.freshestCrl;
  }
}

const NONE: readonly string[] = Object.freeze([]);

function decodeBasicConstraints(v: Uint8Array): BasicConstraints {
  const r = DerReader.of(v, readOne(v, Tag.Sequence, "BasicConstraints"));
  let ca = false;
  let pathLen: number | undefined;
  const c = r.optional(Tag.Boolean);
  if (c) {
    ca = decodeBoolean(v, c);
    if (!ca) throw new DecodeError("BasicConstraints: cA FALSE encoded (a DEFAULT value is omitted in DER)", c.start);
  }
  const p = r.optional(Tag.Integer);
  if (p) pathLen = decodeSmallInt(v, p);
  r.done("BasicConstraints");
  return pathLen === undefined ? { ca } : { ca, pathLen };
}

function decodeAuthorityKeyId(v: Uint8Array): AuthorityKeyId {
  const r = DerReader.of(v, readOne(v, Tag.Sequence, "AuthorityKeyIdentifier"));
  const out: AuthorityKeyId = {};
  const k = r.optional(ctxPrim(0));
  if (k) out.keyId = hexOf(v, k.valueStart, k.end);
  r.optional(ctx(1)); // authorityCertIssuer
  const s = r.optional(ctxPrim(2));
  if (s) out.serial = hexOf(v, s.valueStart, s.end);
  r.done("AuthorityKeyIdentifier");
  return out;
}
