import { readAlgorithm, readExtensions } from "./certificate.js";
import { DerReader, Tag, ctx, decodeOid, hexOf, readOne } from "./der.js";
import { DecodeError } from "./errors.js";
import { NONCE_OID } from "./ocsp.js";

/**
 * An OCSPRequest (RFC 6960 4.1.1) as a responder reads it. Requests come from
 * anyone on the network: every malformation is a DecodeError (the responder
 * answers malformedRequest), nothing else escapes.
 */

export interface OcspRequestCertId {
  /** The CertID exactly as received: a response echoes it. */
  der: Uint8Array;
  hashAlgorithm: string;
  issuerNameHash: Uint8Array;
  issuerKeyHash: Uint8Array;
  /** The serial as unsigned hex, without leading zero octets. */
  serialHex: string;
}

export interface OcspRequest {
  certIds: OcspRequestCertId[];
  /** The whole nonce Extension, echoed byte for byte in the response. */
  nonceExtension?: Uint8Array;
  /** Every requestExtension's DER, in order (the nonce included). */
  extensions: Uint8Array[];
}

export function parseOcspRequest(der: Uint8Array): OcspRequest {
  const top = DerReader.of(der, readOne(der, Tag.Sequence, "OCSPRequest"));
  const tbs = top.enter(Tag.Sequence, "tbsRequest");
  const out: OcspRequest = { certIds: [], extensions: [] };
  let sawList = false;
  while (!tbs.atEnd()) {
    const f = tbs.read();
    if (f.tag === ctx(0) || f.tag === ctx(1)) continue; // version, requestorName
    if (f.tag === Tag.Sequence && !sawList) {
      sawList = true;
      const list = DerReader.of(der, f);
      while (!list.atEnd()) out.certIds.push(readCertId(der, list.enter(Tag.Sequence, "Request")));
    } else if (f.tag === ctx(2)) {
      // Checked as a whole (a response echoes the nonce, so it must be well-formed), then kept as DER.
      const er = DerReader.of(der, f);
      const seq = er.expect(Tag.Sequence, "requestExtensions");
      er.done("requestExtensions");
      readExtensions(der, seq, "request extension");
      const exts = DerReader.of(der, seq);
      while (!exts.atEnd()) {
        const e = exts.read();
        const whole = der.subarray(e.start, e.end);
        out.extensions.push(whole);
        if (extensionOid(der, e) === NONCE_OID) out.nonceExtension = whole;
      }
    } else throw new DecodeError(`unexpected field 0x${f.tag.toString(16)} in tbsRequest`, f.start);
  }
  if (out.certIds.length === 0) throw new DecodeError("no requests in OCSPRequest");
  return out;
}

function readCertId(der: Uint8Array, req: DerReader): OcspRequestCertId {
  const idTlv = req.expect(Tag.Sequence, "CertID");
  if (!req.atEnd()) req.expect(ctx(0), "singleRequestExtensions"); // read past: nothing in them changes the answer
  req.done("Request");
  const id = DerReader.of(der, idTlv);
  const hashAlgorithm = readAlgorithm(der, id, "hashAlgorithm").oid;
  const nameHash = id.expect(Tag.OctetString, "issuerNameHash");
  const keyHash = id.expect(Tag.OctetString, "issuerKeyHash");
  const serial = id.expect(Tag.Integer, "serialNumber");
  id.done("CertID");
  if (serial.end === serial.valueStart) throw new DecodeError("empty INTEGER", serial.start);
  if (der[serial.valueStart] & 0x80) throw new DecodeError("negative serialNumber", serial.start);
  let s = serial.valueStart;
  while (s < serial.end - 1 && der[s] === 0) s++;
  return {
    der: der.subarray(idTlv.start, idTlv.end),
    hashAlgorithm,
    issuerNameHash: der.subarray(nameHash.valueStart, nameHash.end),
    issuerKeyHash: der.subarray(keyHash.valueStart, keyHash.end),
    serialHex: hexOf(der, s, serial.end),
  };
}

/** The extnID of an Extension already checked by readExtensions. */
function extensionOid(der: Uint8Array, ext: { start: number; valueStart: number; end: number; tag: number }): string {
  return decodeOid(der, DerReader.of(der, ext).read());
}
