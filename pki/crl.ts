import type { AuthorityKeyId } from "./certificate.js";
import { type AlgorithmId, type Extension, readAlgorithm, readExtensions, readSigned } from "./signed-envelope.js";
import {
  DerReader,
  Tag,
  ctx,
  ctxPrim,
  decodeBoolean,
  decodeSmallInt,
  decodeTime,
  hexOf,
  integerHex,
  readOne,
  readTlv,
  checkDer,
  checkMinimalInteger,
} from "./der.js";
import type { VerifyResult } from "./signed-data.js";
import { bytesEqual, reasonForCode } from "../core/index.js";
import { DecodeError, type ResultCode } from "./errors.js";
import { type ParsedName, parseName } from "./name.js";
import { OID } from "./oids.js";
import { type GeneralName, decodeGeneralNamesExtension } from "./general-name.js";
import { type DistributionPoint, type ResolvedDpName, decodeDistributionPointName, decodeDistributionPoints, decodeReasonFlags, resolveRelative } from "./distribution-points.js";

const KNOWN_CRL_EXTENSIONS = new Set<string>([
  OID.crlNumber,
  OID.deltaCrlIndicator,
  OID.issuingDistributionPoint,
  OID.authorityKeyIdentifier,
  OID.issuerAltName,
  OID.freshestCrl,
  OID.authorityInfoAccess,
  OID.expiredCertsOnCrl,
]);
const KNOWN_ENTRY_EXTENSIONS = new Set<string>([OID.crlReason, OID.holdInstructionCode, OID.invalidityDate, OID.certificateIssuer]);
/** Separates the certificate issuer's key from the serial in an indirect CRL's index (no canonical name key holds a NUL). */
const SEP = "\u0000";

export interface RevokedEntry {
  serial: string;
  revocationDate: number;
  /** Reason name; "unspecified" when the entry has no reasonCode. */
  reason: string;
  /** The reasonCode as carried, when the entry has one. */
  reasonCode?: number;
  invalidityDate?: number;
  holdInstruction?: string;
}

/** IssuingDistributionPoint (RFC 5280 5.2.5), decoded whole. */
export interface IssuingDistributionPoint {
  fullName?: readonly GeneralName[];
  /** nameRelativeToCRLIssuer: the RDN's canonical key (resolved against the CRL issuer by `Crl.idpName`). */
  relativeName?: string;
  onlyContainsUserCerts: boolean;
  onlyContainsCACerts: boolean;
  /** ReasonFlags mask (bit 1 = keyCompromise ... 8 = aACompromise), when the CRL covers only some reasons. */
  onlySomeReasons?: number;
  indirectCRL: boolean;
  onlyContainsAttributeCerts: boolean;
}

/**
 * A borrowed, lazy view of one CRL. The revoked list is indexed on first lookup
 * (serial -> entry offset, so lookups are O(1); (issuer, serial) for the entries an
 * indirect CRL assigns to other issuers); entries decode fully only on a hit.
 */
export class Crl {
  readonly der: Uint8Array;
  readonly tbs: Uint8Array;
  readonly signatureAlgorithm: AlgorithmId;
  /** The signature octets; empty when `signatureDefect` says why none can verify. */
  readonly signature: Uint8Array;
  /** Set when the signature BIT STRING is not octet-aligned (unused bits != 0): crl-bad-signature under every key. */
  readonly signatureDefect?: string;
  readonly version: number;
  readonly thisUpdate: number;
  readonly nextUpdate?: number;
  /** Signature cache (see signed-data.ts): the key id last verified against, and the result. */
  verifiedKeyId = 0;
  verifiedResult: VerifyResult | undefined = undefined;
  readonly extensions: Map<string, Extension>;
  private readonly issuerRange: [number, number];
  private readonly revokedRange?: [number, number];
  private _issuer?: ParsedName;
  private index?: Map<string, number>;
  private count = 0;
  /** Some entry belongs to an issuer other than the CRL's (certificateIssuer in an indirect CRL). */
  private foreign = false;
  private unknownEntryExt?: string;
  private _idp?: IssuingDistributionPoint | null;
  private _unknownCritical?: string | null;
  /** The strict profile's verdict on this CRL (RFC 5280 5.2.3), kept by revocation.ts: null = none. */
  profileVerdict?: { code: ResultCode; detail: string } | null;
  private _idpName?: ResolvedDpName | null;
  private _aki?: AuthorityKeyId | null;

  constructor(der: Uint8Array) {
    this.der = der;
    const outer = readOne(der, Tag.Sequence, "CertificateList");
    const top = DerReader.of(der, outer);
    const { tbsTlv, tbs, algorithmTlv, signatureAlgorithm, signature, signatureDefect } = readSigned(der, top, "TBSCertList", "signatureValue");
    this.tbs = tbs;
    this.signatureAlgorithm = signatureAlgorithm;
    this.signature = signature;
    if (signatureDefect) this.signatureDefect = signatureDefect;
    top.done("CertificateList");

    const r = DerReader.of(der, tbsTlv);
    const v = r.optional(Tag.Integer);
    this.version = v ? decodeSmallInt(der, v) + 1 : 1;
    if (this.version > 2) throw new DecodeError("unknown CRL version", tbsTlv.start);
    const innerStart = r.pos;
    readAlgorithm(der, r, "signature");
    // RFC 5280 5.1.1.2: the same AlgorithmIdentifier inside and outside (bytes, as for certificates).
    if (!bytesEqual(der.subarray(innerStart, r.pos), der.subarray(algorithmTlv.start, algorithmTlv.end))) {
      throw new DecodeError("TBSCertList.signature differs from signatureAlgorithm", innerStart);
    }
    const iss = r.expect(Tag.Sequence, "issuer");
    this.issuerRange = [iss.start, iss.end];
    checkDer(der, iss); // parsed lazily: strict DER checked once, here
    this.thisUpdate = decodeTime(der, r.read(), true);
    const p = r.peek();
    if (p === Tag.UtcTime || p === Tag.GeneralizedTime) this.nextUpdate = decodeTime(der, r.read(), true);
    const revoked = r.optional(Tag.Sequence);
    if (revoked) this.revokedRange = [revoked.valueStart, revoked.end];
    const ext = r.optional(ctx(0));
    if (ext) {
      if (this.version !== 2) throw new DecodeError("extensions in a v1 CRL", ext.start);
      const er = DerReader.of(der, ext);
      const seq = er.expect(Tag.Sequence, "crlExtensions");
      er.done("crlExtensions");
      this.extensions = readExtensions(der, seq, "CRL extension", true);
    } else this.extensions = new Map();
    r.done("TBSCertList");
  }

  get issuer(): ParsedName {
    return (this._issuer ??= parseName(this.der, this.issuerRange[0], this.issuerRange[1]));
  }

  /**
   * The cRLNumber extension (RFC 5280 5.2.3), or undefined when the CRL has none.
   * The content octets are read unsigned: a negative number (which 5.2.3 forbids)
   * comes out as a large one, so a "longer than 20 octets" check still catches it.
   */
  get crlNumber(): bigint | undefined {
    const e = this.extensions.get(OID.crlNumber);
    return e ? unsignedInteger(e.value, "CRLNumber") : undefined;
  }

  /** A delta CRL only lists changes since a base CRL; it cannot stand alone. */
  get isDelta(): boolean {
    return this.extensions.has(OID.deltaCrlIndicator);
  }

  /** The deltaCRLIndicator's BaseCRLNumber (RFC 5280 5.2.4), undefined for a complete CRL. */
  get baseCrlNumber(): bigint | undefined {
    const e = this.extensions.get(OID.deltaCrlIndicator);
    return e ? unsignedInteger(e.value, "BaseCRLNumber") : undefined;
  }

  /** freshestCRL (RFC 5280 5.2.6): where the delta CRLs for this complete CRL are found; empty when absent. */
  get freshestCrl(): readonly DistributionPoint[] {
    const e = this.extensions.get(OID.freshestCrl);
    return e ? decodeDistributionPoints(e.value) : [];
  }

  /** The authorityKeyIdentifier's keyIdentifier (decoded once), or undefined when the CRL has no AKI. */
  get authorityKeyId(): AuthorityKeyId | undefined {
    if (this._aki === undefined) {
      const e = this.extensions.get(OID.authorityKeyIdentifier);
      if (!e) this._aki = null;
      else {
        const r = DerReader.of(e.value, readOne(e.value, Tag.Sequence, "AuthorityKeyIdentifier"));
        const k = r.optional(ctxPrim(0));
        this._aki = k ? { keyId: hexOf(e.value, k.valueStart, k.end) } : {};
      }
    }
    return this._aki ?? undefined;
  }

  /** The IssuingDistributionPoint (decoded once), or undefined when the CRL has none. */
  get idp(): IssuingDistributionPoint | undefined {
    if (this._idp === undefined) {
      const e = this.extensions.get(OID.issuingDistributionPoint);
      this._idp = e ? decodeIssuingDistributionPoint(e.value) : null;
    }
    return this._idp ?? undefined;
  }

  /** The IDP's distribution point name, a relative one resolved against this CRL's issuer (5.2.5); undefined when it names none. */
  get idpName(): ResolvedDpName | undefined {
    if (this._idpName === undefined) {
      const idp = this.idp;
      this._idpName = idp?.fullName ? { fullName: idp.fullName } : idp?.relativeName !== undefined ? { directoryKey: resolveRelative(this.issuer, idp.relativeName) } : null;
    }
    return this._idpName ?? undefined;
  }

  /** A critical CRL or entry extension this module cannot process (the CRL is then unusable). */
  unknownCriticalExtension(): string | undefined {
    if (this._unknownCritical === undefined) {
      let found: string | null = null;
      for (const e of this.extensions.values()) {
        if (e.critical && !KNOWN_CRL_EXTENSIONS.has(e.oid)) {
          found = e.oid;
          break;
        }
      }
      this.buildIndex();
      this._unknownCritical = found ?? this.unknownEntryExt ?? null;
    }
    return this._unknownCritical ?? undefined;
  }

  /** Number of revoked entries. */
  get size(): number {
    this.buildIndex();
    return this.count;
  }

  /**
   * The entry for a serial (INTEGER content octets as hex), or undefined. O(1) after the first call.
   * `certIssuer` (a canonical name key) asks for the entry of that issuer's certificate: in an
   * indirect CRL an entry belongs to the issuer named by the last certificateIssuer before it,
   * the CRL issuer until the first one (RFC 5280 5.3.3). Without it: the CRL issuer's entries.
   */
  lookup(serialHex: string, certIssuer?: string): RevokedEntry | undefined {
    const index = this.buildIndex();
    let key = serialHex;
    if (certIssuer !== undefined && certIssuer !== this.issuer.key) {
      if (!this.foreign) return undefined; // no entry names another issuer
      key = certIssuer + SEP + serialHex;
    }
    const at = index.get(key);
    return at === undefined ? undefined : this.entryAt(at);
  }

  /** Every entry, in CRL order (for tools and tests; validation uses lookup). */
  *entries(): IterableIterator<RevokedEntry> {
    this.buildIndex();
    if (!this.revokedRange) return;
    const r = new DerReader(this.der, this.revokedRange[0], this.revokedRange[1]);
    while (!r.atEnd()) yield this.entryAt(r.read().start);
  }

  /**
   * One walk over the revoked list: strict DER of every entry, unknown critical entry
   * extensions, and the index. A direct CRL's index is serial -> offset; an entry that a
   * certificateIssuer assigns to another issuer is keyed (issuer key, serial), so the
   * common case keeps its plain keys and lookups stay one Map hit either way.
   */
  private buildIndex(): Map<string, number> {
    if (this.index) return this.index;
    const index = new Map<string, number>();
    let count = 0;
    if (this.revokedRange) {
      const der = this.der;
      const r = new DerReader(der, this.revokedRange[0], this.revokedRange[1]);
      /** Keys of the issuer the current entries belong to; undefined: the CRL issuer. */
      let owners: string[] | undefined;
      while (!r.atEnd()) {
        const entry = r.expect(Tag.Sequence, "revokedCertificate");
        const serialTlv = readTlv(der, entry.valueStart, entry.end);
        const serial = integerHex(der, serialTlv);
        const dateTlv = readTlv(der, serialTlv.end, entry.end);
        decodeTime(der, dateTlv, true);
        if (dateTlv.end < entry.end) {
          // Entry extensions: checked once here, so a CRL with an unknown critical one is refused as a whole.
          const ext = readTlv(der, dateTlv.end, entry.end);
          if (ext.tag !== Tag.Sequence || ext.end !== entry.end) throw new DecodeError("bad crlEntryExtensions", ext.start);
          const exts = readExtensions(der, ext, "CRL entry extension", true);
          for (const e of exts.values()) {
            if (e.critical && !KNOWN_ENTRY_EXTENSIONS.has(e.oid)) this.unknownEntryExt ??= e.oid;
          }
          const ci = exts.get(OID.certificateIssuer);
          if (ci) owners = this.ownersOf(decodeGeneralNamesExtension(ci.value, "CertificateIssuer"));
        }
        count++;
        if (!owners) {
          if (!index.has(serial)) index.set(serial, entry.start);
        } else {
          for (const k of owners) {
            const key = k === "" ? serial : k + SEP + serial;
            if (!index.has(key)) index.set(key, entry.start);
          }
        }
      }
    }
    this.count = count;
    this.index = index;
    return index;
  }

  /** certificateIssuer's directory names as index prefixes ("" = the CRL issuer itself); other name forms name no certificate issuer. */
  private ownersOf(names: GeneralName[]): string[] | undefined {
    const self = this.issuer.key;
    const out: string[] = [];
    for (const n of names) {
      if (n.type !== "directoryName") continue;
      if (n.name.key === self) out.push("");
      else {
        out.push(n.name.key);
        this.foreign = true;
      }
    }
    return out.length === 1 && out[0] === "" ? undefined : out;
  }

  private entryAt(at: number): RevokedEntry {
    const der = this.der;
    const entry = readTlv(der, at, der.length);
    const r = DerReader.of(der, entry);
    const serial = integerHex(der, r.read());
    // buildIndex already checked this entry's DER (times, extensions): read it, not re-check it.
    const revocationDate = decodeTime(der, r.read());
    const out: RevokedEntry = { serial, revocationDate, reason: "unspecified" };
    const ext = r.optional(Tag.Sequence);
    if (ext) {
      const exts = readExtensions(der, ext, "CRL entry extension");
      const reason = exts.get(OID.crlReason);
      if (reason) {
        const code = decodeSmallInt(reason.value, readOne(reason.value, Tag.Enumerated, "CRLReason"));
        out.reason = reasonForCode(code) ?? `reason-${code}`;
        out.reasonCode = code;
      }
      const inv = exts.get(OID.invalidityDate);
      if (inv) out.invalidityDate = decodeTime(inv.value, readOne(inv.value, Tag.GeneralizedTime, "invalidityDate"), true);
      const hold = exts.get(OID.holdInstructionCode);
      if (hold) out.holdInstruction = hexOf(hold.value, 0, hold.value.length);
    }
    return out;
  }
}

/** An INTEGER extension value (CRLNumber, BaseCRLNumber), its content octets read unsigned. */
function unsignedInteger(v: Uint8Array, what: string): bigint {
  const t = readOne(v, Tag.Integer, what);
  checkMinimalInteger(v, t);
  return t.end === t.valueStart ? 0n : BigInt("0x" + hexOf(v, t.valueStart, t.end));
}

const IDP_FLAGS = ["", "onlyContainsUserCerts", "onlyContainsCACerts", "", "indirectCRL", "onlyContainsAttributeCerts"] as const;

/**
 * IssuingDistributionPoint (RFC 5280 5.2.5): fields in order, once each; the DEFAULT
 * FALSE booleans omitted when false (DER); at most one of the three "only contains"
 * flags; never an empty SEQUENCE (5.2.5: conforming issuers MUST NOT emit one).
 */
export function decodeIssuingDistributionPoint(v: Uint8Array): IssuingDistributionPoint {
  const seq = readOne(v, Tag.Sequence, "IssuingDistributionPoint");
  const r = DerReader.of(v, seq);
  if (r.atEnd()) throw new DecodeError("IssuingDistributionPoint: empty SEQUENCE", seq.start);
  const out: IssuingDistributionPoint = { onlyContainsUserCerts: false, onlyContainsCACerts: false, indirectCRL: false, onlyContainsAttributeCerts: false };
  let last = -1;
  while (!r.atEnd()) {
    const t = r.read();
    const n = t.tag & 0x1f;
    if (t.tag > 0xff || (t.tag & 0xc0) !== 0x80 || n > 5) throw new DecodeError("unknown IssuingDistributionPoint field", t.start);
    if (n <= last) throw new DecodeError("IssuingDistributionPoint: fields out of order or repeated", t.start);
    last = n;
    const constructed = (t.tag & 0x20) !== 0;
    if (n === 0) {
      if (!constructed) throw new DecodeError("IssuingDistributionPoint: distributionPoint is not constructed", t.start);
      Object.assign(out, decodeDistributionPointName(v, t));
      continue;
    }
    if (constructed) throw new DecodeError("IssuingDistributionPoint: constructed encoding of a primitive field", t.start);
    if (n === 3) {
      out.onlySomeReasons = decodeReasonFlags(v, t);
      continue;
    }
    // The IDP booleans are DEFAULT FALSE: DER omits them rather than encoding FALSE.
    if (!decodeBoolean(v, { ...t, tag: Tag.Boolean })) throw new DecodeError("IssuingDistributionPoint: FALSE encoded (a DEFAULT value is omitted in DER)", t.start);
    out[IDP_FLAGS[n] as "indirectCRL"] = true;
  }
  if (Number(out.onlyContainsUserCerts) + Number(out.onlyContainsCACerts) + Number(out.onlyContainsAttributeCerts) > 1) {
    throw new DecodeError("IssuingDistributionPoint: more than one of onlyContainsUserCerts, onlyContainsCACerts, onlyContainsAttributeCerts", seq.start);
  }
  return out;
}
