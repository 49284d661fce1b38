import { DerReader, Tag, type Tlv, checkDer, decodeBoolean, decodeOid, readTlv } from "./der.js";
import { DecodeError } from "./errors.js";

/**
 * The parts every signed X.509 structure shares (certificates, CRLs, CSRs, OCSP
 * responses): the SIGNED{} envelope, AlgorithmIdentifiers and Extensions.
 */

/** An AlgorithmIdentifier: its OID and, if any, the raw parameters element. */
export interface AlgorithmId {
  oid: string;
  /** The parameters element (absent, NULL or a structure), as bytes of the element. */
  params?: Uint8Array;
}

/** One extension; its value is sliced out only when asked for (`buf[start, end)` is it, for scans that must not slice). */
export class Extension {
  private _value?: Uint8Array;
  constructor(
    readonly oid: string,
    readonly critical: boolean,
    readonly buf: Uint8Array,
    readonly start: number,
    readonly end: number,
  ) {}
  /** Content of the extnValue OCTET STRING. */
  get value(): Uint8Array {
    return (this._value ??= this.buf.subarray(this.start, this.end));
  }
}


/** An AlgorithmIdentifier at `r`; `checked`: its element already passed checkDer (a certificate's SPKI), so the parameters are not walked again. */
export function readAlgorithm(buf: Uint8Array, r: DerReader, what: string, checked = false): AlgorithmId {
  const seq = r.enter(Tag.Sequence, what);
  const oid = decodeOid(buf, seq.read());
  let params: Uint8Array | undefined;
  if (!seq.atEnd()) {
    const p = seq.read();
    if (!checked) checkDer(buf, p); // e.g. a NULL with content, a non-minimal curve OID
    params = buf.subarray(p.start, p.end);
  }
  seq.done(what);
  return { oid, params };
}

/** The SIGNED{} envelope (a certificate, CRL, CSR, basic OCSP response): what is signed, the algorithm, the signature. */
export interface SignedParts {
  tbsTlv: Tlv;
  /** The signed bytes. */
  tbs: Uint8Array;
  /** The outer AlgorithmIdentifier element, for comparing with a copy inside the signed part. */
  algorithmTlv: Tlv;
  signatureAlgorithm: AlgorithmId;
  /** The signature octets; empty (never verifies) when `signatureDefect` is set. */
  signature: Uint8Array;
  /** Why the signature cannot verify whatever the key, when its encoding already says so. */
  signatureDefect?: string;
}

const NO_SIGNATURE = new Uint8Array(0);

/**
 * Reads the three elements of a SIGNED{} SEQUENCE from `r`, which is positioned at its first one.
 * The signature BIT STRING must have no unused bits: outside the signed bytes, any other count
 * would be a second encoding of the same signature (malleability). As in OpenSSL ("invalid bit
 * string bits left": the object parses, its signature fails), such a signature is kept as
 * `signatureDefect` and an empty signature, which no key verifies: the validator answers
 * bad-signature (crl-bad-signature, ocsp-bad-signature) for it, never "ok".
 */
export function readSigned(buf: Uint8Array, r: DerReader, tbsName: string, signatureName: string): SignedParts {
  const tbsTlv = r.expect(Tag.Sequence, tbsName);
  const algorithmTlv = readTlv(buf, r.pos, r.end);
  const signatureAlgorithm = readAlgorithm(buf, r, "signatureAlgorithm");
  const bits = r.expect(Tag.BitString, signatureName);
  const tbs = buf.subarray(tbsTlv.start, tbsTlv.end);
  const unused = bits.end > bits.valueStart ? buf[bits.valueStart] : -1;
  if (unused < 0 || unused > 7) throw new DecodeError(`${signatureName}: bad BIT STRING`, bits.start);
  if (unused === 0) return { tbsTlv, tbs, algorithmTlv, signatureAlgorithm, signature: buf.subarray(bits.valueStart + 1, bits.end) };
  const signatureDefect = `${signatureName} BIT STRING has ${unused} unused bits (must be 0): not a signature any key verifies`;
  return { tbsTlv, tbs, algorithmTlv, signatureAlgorithm, signature: NO_SIGNATURE, signatureDefect };
}

/**
 * Reads `[3] Extensions` style content: SEQUENCE OF Extension, into a Map by OID.
 * `strict` (certificates, CRLs, OCSP responses): SIZE (1..MAX); `critical` is DEFAULT
 * FALSE, so an encoded FALSE is refused; every extnValue is one DER element, checked
 * whole (checkDer) so values nobody decodes are DER too, except the value of the
 * extension `opaque` names: OCSP responses pass the nonce, which responders in the field
 * echo without its OCTET STRING (any bytes; see OcspResponse.nonce). Without `strict`
 * (a CRL entry's extensions on a lookup hit, already checked when the CRL was indexed)
 * only the structure is read.
 */
export function readExtensions(buf: Uint8Array, seqTlv: Tlv, what: string, strict = false, opaque?: string): Map<string, Extension> {
  const out = new Map<string, Extension>();
  const r = DerReader.of(buf, seqTlv);
  if (strict && r.atEnd()) throw new DecodeError(`${what}: empty extensions (SIZE (1..MAX))`, seqTlv.start);
  while (!r.atEnd()) {
    const e = r.enter(Tag.Sequence, what);
    const oid = decodeOid(buf, e.read());
    let critical = false;
    const c = e.optional(Tag.Boolean);
    if (c) {
      critical = decodeBoolean(buf, c);
      if (strict && !critical) throw new DecodeError(`${what} ${oid}: critical FALSE encoded (a DEFAULT value is omitted in DER)`, c.start);
    }
    const v = e.expect(Tag.OctetString, what);
    e.done(what);
    if (strict && oid !== opaque) {
      const inner = readTlv(buf, v.valueStart, v.end);
      if (inner.end !== v.end) throw new DecodeError(`${what} ${oid}: trailing data after the value`, inner.end);
      checkDer(buf, inner);
    }
    if (out.has(oid)) throw new DecodeError(`${what}: duplicate extension ${oid}`, v.start);
    out.set(oid, new Extension(oid, critical, buf, v.valueStart, v.end));
  }
  return out;
}

