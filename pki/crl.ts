import { type AlgorithmId, type AuthorityKeyId, type Extension, readAlgorithm, readExtensions, readSigned } from "./certificate.js";
import {
  DerReader,
  Tag,
  ctx,
  ctxPrim,
  decodeBoolean,
  decodeSmallInt,
  decodeString,
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
import { DecodeError } from "./errors.js";
import { type ParsedName, parseName } from "./name.js";
import { OID } from "./oids.js";

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
/** certificateIssuer is left out on purpose: indirect CRLs are not supported, so it makes a CRL unusable. */
const KNOWN_ENTRY_EXTENSIONS = new Set<string>([OID.crlReason, OID.holdInstructionCode, OID.invalidityDate]);

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

/** What an IssuingDistributionPoint restricts this CRL to. */
export interface CrlScope {
  onlyUserCerts: boolean;
  onlyCaCerts: boolean;
  onlyAttributeCerts: boolean;
  onlySomeReasons: boolean;
  indirect: boolean;
  /** URIs of the distribution point name; empty when the IDP names none. */
  distributionPointUris: string[];
  hasDistributionPoint: boolean;
}

/**
 * A borrowed, lazy view of one CRL. The revoked list is indexed on first lookup
 * (serial -> entry offset, so lookups are O(1)); entries decode fully only on a hit.
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
  private unknownEntryExt?: string;

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
    if (!e) return undefined;
    const t = readOne(e.value, Tag.Integer, "CRLNumber");
    checkMinimalInteger(e.value, t);
    return t.end === t.valueStart ? 0n : BigInt("0x" + hexOf(e.value, t.valueStart, t.end));
  }

  /** A delta CRL only lists changes since a base CRL; it cannot stand alone. */
  get isDelta(): boolean {
    return this.extensions.has(OID.deltaCrlIndicator);
  }

  get authorityKeyId(): AuthorityKeyId | undefined {
    const e = this.extensions.get(OID.authorityKeyIdentifier);
    if (!e) return undefined;
    const r = DerReader.of(e.value, readOne(e.value, Tag.Sequence, "AuthorityKeyIdentifier"));
    const k = r.optional(ctxPrim(0));
    return k ? { keyId: hexOf(e.value, k.valueStart, k.end) } : {};
  }

  get scope(): CrlScope | undefined {
    const e = this.extensions.get(OID.issuingDistributionPoint);
    if (!e) return undefined;
    const v = e.value;
    const r = DerReader.of(v, readOne(v, Tag.Sequence, "IssuingDistributionPoint"));
    const s: CrlScope = {
      onlyUserCerts: false,
      onlyCaCerts: false,
      onlyAttributeCerts: false,
      onlySomeReasons: false,
      indirect: false,
      distributionPointUris: [],
      hasDistributionPoint: false,
    };
    // The IDP booleans are DEFAULT FALSE: DER omits them rather than encoding FALSE.
    const flag = (t: { tag: number; start: number; valueStart: number; end: number }) => {
      if (!decodeBoolean(v, { ...t, tag: Tag.Boolean })) throw new DecodeError("IssuingDistributionPoint: FALSE encoded (a DEFAULT value is omitted in DER)", t.start);
      return true;
    };
    while (!r.atEnd()) {
      const t = r.read();
      switch (t.tag) {
        case ctx(0): {
          s.hasDistributionPoint = true;
          const walk = (dr: DerReader, depth: number): void => {
            if (depth > 6) throw new DecodeError("IDP nesting too deep", dr.pos);
            while (!dr.atEnd()) {
              const x = dr.read();
              if (x.tag === ctxPrim(6)) s.distributionPointUris.push(decodeString(v, { ...x, tag: Tag.Ia5String }));
              else if (x.tag & 0x20) walk(DerReader.of(v, x), depth + 1);
            }
          };
          walk(DerReader.of(v, t), 0);
          break;
        }
        case ctxPrim(1):
          s.onlyUserCerts = flag(t);
          break;
        case ctxPrim(2):
          s.onlyCaCerts = flag(t);
          break;
        case ctx(3):
        case ctxPrim(3):
          s.onlySomeReasons = true;
          break;
        case ctxPrim(4):
          s.indirect = flag(t);
          break;
        case ctxPrim(5):
          s.onlyAttributeCerts = flag(t);
          break;
        default:
          throw new DecodeError("unknown IssuingDistributionPoint field", t.start);
      }
    }
    return s;
  }

  /** A critical CRL or entry extension this module cannot process (the CRL is then unusable). */
  unknownCriticalExtension(): string | undefined {
    for (const e of this.extensions.values()) if (e.critical && !KNOWN_CRL_EXTENSIONS.has(e.oid)) return e.oid;
    this.buildIndex();
    return this.unknownEntryExt;
  }

  /** Number of revoked entries. */
  get size(): number {
    return this.buildIndex().size;
  }

  /** The entry for a serial (INTEGER content octets as hex), or undefined. O(1) after the first call. */
  lookup(serialHex: string): RevokedEntry | undefined {
    const at = this.buildIndex().get(serialHex);
    return at === undefined ? undefined : this.entryAt(at);
  }

  /** Every entry, in CRL order (for tools and tests; validation uses lookup). */
  *entries(): IterableIterator<RevokedEntry> {
    for (const at of this.buildIndex().values()) yield this.entryAt(at);
  }

  private buildIndex(): Map<string, number> {
    if (this.index) return this.index;
    const index = new Map<string, number>();
    if (this.revokedRange) {
      const der = this.der;
      const r = new DerReader(der, this.revokedRange[0], this.revokedRange[1]);
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
          for (const e of readExtensions(der, ext, "CRL entry extension", true).values()) {
            if (e.critical && !KNOWN_ENTRY_EXTENSIONS.has(e.oid)) this.unknownEntryExt ??= e.oid;
          }
        }
        if (!index.has(serial)) index.set(serial, entry.start);
      }
    }
    this.index = index;
    return index;
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
