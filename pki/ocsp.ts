import { Certificate } from "./certificate.js";
import { type AlgorithmId, type Extension, readAlgorithm, readExtensions, readSigned } from "./signed-envelope.js";
import { DerReader, Tag, checkDer, ctx, ctxPrim, decodeOid, decodeSmallInt, decodeTime, hexOf, integerHex, readOne } from "./der.js";
import type { VerifyResult } from "./signed-data.js";
import { reasonForCode } from "../core/index.js";
import { DecodeError } from "./errors.js";
import { type ParsedName, parseName } from "./name.js";
import { OID } from "./oids.js";

/** OCSPResponseStatus (RFC 6960 4.2.1) by name: the one table the reader and the builders share (4 is not used). */
export const OcspStatus = {
  successful: 0,
  malformedRequest: 1,
  internalError: 2,
  tryLater: 3,
  sigRequired: 5,
  unauthorized: 6,
} as const;

const STATUS_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(OcspStatus).map(([name, code]) => [code, name]));

export interface CertId {
  /** Hash algorithm OID of the two hashes below. */
  hashAlgorithm: string;
  issuerNameHash: string;
  issuerKeyHash: string;
  serial: string;
}

export interface SingleResponse {
  certId: CertId;
  status: "good" | "revoked" | "unknown";
  revocationTime?: number;
  revocationReason?: string;
  /** The CRLReason code, when the response carries one. */
  revocationReasonCode?: number;
  thisUpdate: number;
  nextUpdate?: number;
}

export type ResponderId = { byName: ParsedName } | { byKeyHash: string };

/**
 * An OCSP response (RFC 6960): the OCSPResponse wrapper, or a bare BasicOCSPResponse.
 * Only `status === "successful"` responses carry the signed data below.
 */
export class OcspResponse {
  readonly der: Uint8Array;
  readonly status: string;
  /** OCSPResponseStatus as its number (0 successful, 1 malformedRequest, ...). */
  readonly statusCode: number = 0;
  readonly tbs: Uint8Array = new Uint8Array(0);
  readonly signatureAlgorithm: AlgorithmId = { oid: "" };
  readonly signature: Uint8Array = new Uint8Array(0);
  /** Set when the signature BIT STRING has unused bits: ocsp-bad-signature under every key (see readSigned). */
  readonly signatureDefect?: string;
  readonly responderId: ResponderId = { byKeyHash: "" };
  readonly producedAt: number = 0;
  readonly responses: SingleResponse[] = [];
  readonly extensions: Map<string, Extension> = new Map();
  /** Signature cache (see signed-data.ts): the key id last verified against, and the result. */
  verifiedKeyId = 0;
  verifiedResult: VerifyResult | undefined = undefined;
  /** Certificates the responder sent along (for a delegated responder). */
  readonly certs: Certificate[] = [];
  private _nonce?: string | null;

  constructor(der: Uint8Array) {
    this.der = der;
    const outer = readOne(der, Tag.Sequence, "OCSPResponse");
    const r = DerReader.of(der, outer);
    let basic: { buf: Uint8Array; start: number; end: number };
    if (r.peek() === Tag.Enumerated) {
      const st = decodeSmallInt(der, r.read());
      this.statusCode = st;
      this.status = STATUS_NAMES.get(st) ?? `status-${st}`;
      const rb = r.optional(ctx(0));
      r.done("OCSPResponse");
      if (!rb) {
        if (this.status === "successful") throw new DecodeError("successful OCSPResponse without responseBytes", outer.start);
        return;
      }
      const rbs = DerReader.of(der, rb).enter(Tag.Sequence, "ResponseBytes");
      const type = decodeOid(der, rbs.read());
      if (type !== OID.ocspBasic) throw new DecodeError(`unsupported OCSP response type ${type}`, rb.start);
      const oct = rbs.expect(Tag.OctetString, "response");
      rbs.done("ResponseBytes");
      const inner = der.subarray(oct.valueStart, oct.end);
      basic = { buf: inner, start: 0, end: inner.length };
    } else {
      this.status = "successful";
      basic = { buf: der, start: 0, end: der.length };
    }
    const b = basic.buf;
    const br = DerReader.of(b, readOne(b, Tag.Sequence, "BasicOCSPResponse"));
    const { tbsTlv, tbs, signatureAlgorithm, signature, signatureDefect } = readSigned(b, br, "ResponseData", "signature");
    this.tbs = tbs;
    this.signatureAlgorithm = signatureAlgorithm;
    this.signature = signature;
    if (signatureDefect) this.signatureDefect = signatureDefect;
    const certs = br.optional(ctx(0));
    if (certs) {
      const cr = DerReader.of(b, certs).enter(Tag.Sequence, "certs");
      while (!cr.atEnd()) {
        const c = cr.expect(Tag.Sequence, "Certificate");
        this.certs.push(new Certificate(b.subarray(c.start, c.end)));
      }
    }
    br.done("BasicOCSPResponse");

    const t = DerReader.of(b, tbsTlv);
    const v = t.optional(ctx(0));
    if (v && decodeSmallInt(b, DerReader.of(b, v).expect(Tag.Integer, "version")) !== 0) throw new DecodeError("unknown OCSP version", v.start);
    const rid = t.read();
    if (rid.tag === ctx(1)) {
      const n = DerReader.of(b, rid).expect(Tag.Sequence, "responderID byName");
      checkDer(b, n); // parseName reads, it does not check DER (as for a certificate's issuer and subject)
      this.responderId = { byName: parseName(b, n.start, n.end) };
    } else if (rid.tag === ctx(2)) {
      const k = DerReader.of(b, rid).expect(Tag.OctetString, "responderID byKey");
      this.responderId = { byKeyHash: hexOf(b, k.valueStart, k.end) };
    } else throw new DecodeError("bad ResponderID", rid.start);
    this.producedAt = decodeTime(b, t.expect(Tag.GeneralizedTime, "producedAt"));
    const rs = t.enter(Tag.Sequence, "responses");
    while (!rs.atEnd()) this.responses.push(readSingle(b, rs.enter(Tag.Sequence, "SingleResponse")));
    const ext = t.optional(ctx(1));
    if (ext) {
      const er = DerReader.of(b, ext);
      // Strict, except the nonce's value: responders in the field echo it without its OCTET STRING (see `nonce`).
      this.extensions = readExtensions(b, er.expect(Tag.Sequence, "responseExtensions"), "OCSP extension", true, OID.ocspNonce);
      er.done("responseExtensions");
    }
    t.done("ResponseData");
  }

  /**
   * The nonce as hex, if the response carries one: the content of the OCTET
   * STRING the extnValue holds (RFC 8954), or, from a responder that echoes the
   * nonce without that wrapping, the extnValue itself.
   */
  get nonce(): string | undefined {
    if (this._nonce === undefined) {
      const e = this.extensions.get(OID.ocspNonce);
      this._nonce = e ? nonceHex(e.value) : null;
    }
    return this._nonce ?? undefined;
  }

  /**
   * Whether the response echoes the nonce `expectedHex`: as RFC 8954's OCTET
   * STRING, or bare, as some responders echo it (a bare value may itself parse
   * as an OCTET STRING, so both readings are tried).
   */
  echoesNonce(expectedHex: string): boolean {
    if (this.nonce === expectedHex) return true;
    const e = this.extensions.get(OID.ocspNonce);
    return e !== undefined && hexOf(e.value, 0, e.value.length) === expectedHex;
  }
}

function nonceHex(value: Uint8Array): string {
  try {
    const t = readOne(value, Tag.OctetString, "nonce");
    return hexOf(value, t.valueStart, t.end);
  } catch (err) {
    if (err instanceof DecodeError) return hexOf(value, 0, value.length);
    throw err;
  }
}

function readSingle(b: Uint8Array, r: DerReader): SingleResponse {
  const id = r.enter(Tag.Sequence, "CertID");
  const hashAlgorithm = readAlgorithm(b, id, "hashAlgorithm").oid;
  const nh = id.expect(Tag.OctetString, "issuerNameHash");
  const kh = id.expect(Tag.OctetString, "issuerKeyHash");
  const serial = integerHex(b, id.read());
  id.done("CertID");
  const certId: CertId = { hashAlgorithm, issuerNameHash: hexOf(b, nh.valueStart, nh.end), issuerKeyHash: hexOf(b, kh.valueStart, kh.end), serial };
  const st = r.read();
  let status: SingleResponse["status"];
  let revocationTime: number | undefined;
  let revocationReason: string | undefined;
  let revocationReasonCode: number | undefined;
  if (st.tag === ctxPrim(0)) status = "good";
  else if (st.tag === ctxPrim(2)) status = "unknown";
  else if (st.tag === ctx(1)) {
    status = "revoked";
    const ri = DerReader.of(b, st);
    revocationTime = decodeTime(b, ri.expect(Tag.GeneralizedTime, "revocationTime"));
    const reason = ri.optional(ctx(0));
    if (reason) {
      const code = decodeSmallInt(b, DerReader.of(b, reason).expect(Tag.Enumerated, "CRLReason"));
      revocationReason = reasonForCode(code) ?? `reason-${code}`;
      revocationReasonCode = code;
    }
    ri.done("RevokedInfo");
  } else throw new DecodeError("bad CertStatus", st.start);
  const thisUpdate = decodeTime(b, r.expect(Tag.GeneralizedTime, "thisUpdate"));
  let nextUpdate: number | undefined;
  const nu = r.optional(ctx(0));
  if (nu) nextUpdate = decodeTime(b, DerReader.of(b, nu).expect(Tag.GeneralizedTime, "nextUpdate"));
  const se = r.optional(ctx(1));
  if (se) readExtensions(b, DerReader.of(b, se).expect(Tag.Sequence, "singleExtensions"), "singleExtension", true);
  r.done("SingleResponse");
  const out: SingleResponse = { certId, status, thisUpdate };
  if (nextUpdate !== undefined) out.nextUpdate = nextUpdate;
  if (revocationTime !== undefined) out.revocationTime = revocationTime;
  if (revocationReason !== undefined) out.revocationReason = revocationReason;
  if (revocationReasonCode !== undefined) out.revocationReasonCode = revocationReasonCode;
  return out;
}
