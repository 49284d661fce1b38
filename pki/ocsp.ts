import { type AlgorithmId, Certificate, type Extension, readAlgorithm, readExtensions } from "./certificate.js";
import { DerReader, Tag, ctx, ctxPrim, decodeBitString, decodeOid, decodeSmallInt, decodeTime, hexOf, integerHex, readOne } from "./der.js";
import type { VerifyResult } from "./signed-data.js";
import { DecodeError, RevocationReasons } from "./errors.js";
import { type ParsedName, parseName } from "./name.js";

const BASIC = "1.3.6.1.5.5.7.48.1.1";
export const NONCE_OID = "1.3.6.1.5.5.7.48.1.2";

export const OcspStatuses = ["successful", "malformedRequest", "internalError", "tryLater", "unused", "sigRequired", "unauthorized"] as const;

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
  readonly responderId: ResponderId = { byKeyHash: "" };
  readonly producedAt: number = 0;
  readonly responses: SingleResponse[] = [];
  readonly extensions: Map<string, Extension> = new Map();
  /** Signature cache (see signed-data.ts): the key id last verified against, and the result. */
  verifiedKeyId = 0;
  verifiedResult: VerifyResult | undefined = undefined;
  /** Certificates the responder sent along (for a delegated responder). */
  readonly certs: Certificate[] = [];

  constructor(der: Uint8Array) {
    this.der = der;
    const outer = readOne(der, Tag.Sequence, "OCSPResponse");
    const r = DerReader.of(der, outer);
    let basic: { buf: Uint8Array; start: number; end: number };
    if (r.peek() === Tag.Enumerated) {
      const st = decodeSmallInt(der, r.read());
      this.statusCode = st;
      this.status = OcspStatuses[st] ?? `status-${st}`;
      const rb = r.optional(ctx(0));
      r.done("OCSPResponse");
      if (!rb) {
        if (this.status === "successful") throw new DecodeError("successful OCSPResponse without responseBytes", outer.start);
        return;
      }
      const rbs = DerReader.of(der, rb).enter(Tag.Sequence, "ResponseBytes");
      const type = decodeOid(der, rbs.read());
      if (type !== BASIC) throw new DecodeError(`unsupported OCSP response type ${type}`, rb.start);
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
    const tbsTlv = br.expect(Tag.Sequence, "ResponseData");
    this.tbs = b.subarray(tbsTlv.start, tbsTlv.end);
    this.signatureAlgorithm = readAlgorithm(b, br, "signatureAlgorithm");
    this.signature = decodeBitString(b, br.expect(Tag.BitString, "signature")).bytes;
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
      this.extensions = readExtensions(b, er.expect(Tag.Sequence, "responseExtensions"), "OCSP extension");
      er.done("responseExtensions");
    }
    t.done("ResponseData");
  }

  /** The nonce extension's value as hex (the whole extnValue content), if present. */
  get nonce(): string | undefined {
    const e = this.extensions.get(NONCE_OID);
    return e ? hexOf(e.value, 0, e.value.length) : undefined;
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
      revocationReason = RevocationReasons[code] ?? `reason-${code}`;
      revocationReasonCode = code;
    }
    ri.done("RevokedInfo");
  } else throw new DecodeError("bad CertStatus", st.start);
  const thisUpdate = decodeTime(b, r.expect(Tag.GeneralizedTime, "thisUpdate"));
  let nextUpdate: number | undefined;
  const nu = r.optional(ctx(0));
  if (nu) nextUpdate = decodeTime(b, DerReader.of(b, nu).expect(Tag.GeneralizedTime, "nextUpdate"));
  const se = r.optional(ctx(1));
  if (se) readExtensions(b, DerReader.of(b, se).expect(Tag.Sequence, "singleExtensions"), "singleExtension");
  r.done("SingleResponse");
  const out: SingleResponse = { certId, status, thisUpdate };
  if (nextUpdate !== undefined) out.nextUpdate = nextUpdate;
  if (revocationTime !== undefined) out.revocationTime = revocationTime;
  if (revocationReason !== undefined) out.revocationReason = revocationReason;
  if (revocationReasonCode !== undefined) out.revocationReasonCode = revocationReasonCode;
  return out;
}
