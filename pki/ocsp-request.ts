import { readAlgorithm } from "./signed-envelope.js";
import { DerReader, Tag, type Tlv, ctx, decodeBoolean, decodeOid, hexOf, readOne } from "./der.js";
import { DecodeError } from "./errors.js";
import { OID } from "./oids.js";

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

/**
 * A parsed request. A responder needs the CertIDs and the nonce only, so the
 * other requestExtensions are not collected while parsing; `extensions` walks
 * them on first use (tools: re-sending a request without its nonce).
 */
export class OcspRequest {
  private _extensions?: Uint8Array[];

  constructor(
    readonly certIds: OcspRequestCertId[],
    /** The whole nonce Extension, echoed byte for byte in the response. */
    readonly nonceExtension: Uint8Array | undefined,
    /** The nonce Extension's extnValue content (what its OCTET STRING holds), kept from the parse. */
    private readonly nonceValue: Uint8Array | undefined,
    private readonly der: Uint8Array,
    /** The requestExtensions' SEQUENCE OF content in `der` (undefined: the request has none). */
    private readonly extensionsTlv: Tlv | undefined,
  ) {}

  /**
   * The nonce itself, or undefined when the request has no nonce extension: the
   * content of the OCTET STRING its extnValue holds (RFC 8954 / RFC 6960 4.4.1).
   * An extnValue that is not exactly one OCTET STRING throws DecodeError. The
   * length rule (1..32 octets) is the responder's to apply.
   */
  get nonce(): Uint8Array | undefined {
    const v = this.nonceValue;
    if (!v) return undefined;
    const t = readOne(v, Tag.OctetString, "nonce");
    return v.subarray(t.valueStart, t.end);
  }

  /** Every requestExtension's DER, in order; the nonce is the very `nonceExtension` array, so callers can filter it out by identity. */
  get extensions(): Uint8Array[] {
    if (!this._extensions) {
      const out: Uint8Array[] = [];
      if (this.extensionsTlv) {
        const nonceAt = this.nonceExtension ? this.nonceExtension.byteOffset - this.der.byteOffset : -1;
        const r = DerReader.of(this.der, this.extensionsTlv);
        while (!r.atEnd()) {
          const e = r.read();
          out.push(e.start === nonceAt ? this.nonceExtension! : this.der.subarray(e.start, e.end));
        }
      }
      this._extensions = out;
    }
    return this._extensions;
  }
}

export function parseOcspRequest(der: Uint8Array): OcspRequest {
  const top = DerReader.of(der, readOne(der, Tag.Sequence, "OCSPRequest"));
  const tbs = top.enter(Tag.Sequence, "tbsRequest");
  const certIds: OcspRequestCertId[] = [];
  let extensions: Tlv | undefined;
  let nonce: NonceParts | undefined;
  let sawList = false;
  while (!tbs.atEnd()) {
    const f = tbs.read();
    if (f.tag === ctx(0) || f.tag === ctx(1)) continue; // version, requestorName
    if (f.tag === Tag.Sequence && !sawList) {
      sawList = true;
      const list = DerReader.of(der, f);
      while (!list.atEnd()) certIds.push(readCertId(der, list.enter(Tag.Sequence, "Request")));
    } else if (f.tag === ctx(2)) {
      const er = DerReader.of(der, f);
      extensions = er.expect(Tag.Sequence, "requestExtensions");
      er.done("requestExtensions");
      nonce = checkExtensions(der, extensions);
    } else throw new DecodeError(`unexpected field 0x${f.tag.toString(16)} in tbsRequest`, f.start);
  }
  if (certIds.length === 0) throw new DecodeError("no requests in OCSPRequest");
  return new OcspRequest(certIds, nonce?.extension, nonce?.value, der, extensions);
}

/** The nonce Extension's DER and its extnValue content, both within the request's bytes. */
interface NonceParts {
  extension: Uint8Array;
  value: Uint8Array;
}

/**
 * Checks requestExtensions in one walk, as readExtensions would (each a
 * well-formed Extension, `critical` DEFAULT FALSE omitted as DER has it, no OID
 * twice: a response echoes the nonce Extension byte for byte, and pki reads
 * responses strictly), and returns the nonce Extension and its extnValue
 * content. Nothing else is kept.
 */
function checkExtensions(der: Uint8Array, seq: Tlv): NonceParts | undefined {
  let nonce: NonceParts | undefined;
  let first: string | undefined;
  let seen: Set<string> | undefined; // made at a second extension only: most requests carry one (the nonce) or none
  const exts = DerReader.of(der, seq);
  while (!exts.atEnd()) {
    const whole = exts.expect(Tag.Sequence, "request extension");
    const e = DerReader.of(der, whole);
    const oid = decodeOid(der, e.read());
    const critical = e.optional(Tag.Boolean);
    if (critical && !decodeBoolean(der, critical)) throw new DecodeError(`request extension ${oid}: critical FALSE encoded (a DEFAULT value is omitted in DER)`, critical.start);
    const value = e.expect(Tag.OctetString, "request extension");
    e.done("request extension");
    if (first === undefined) first = oid;
    else {
      seen ??= new Set([first]);
      if (seen.has(oid)) throw new DecodeError(`request extension: duplicate extension ${oid}`, value.start);
      seen.add(oid);
    }
    if (oid === OID.ocspNonce) nonce = { extension: der.subarray(whole.start, whole.end), value: der.subarray(value.valueStart, value.end) };
  }
  return nonce;
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
