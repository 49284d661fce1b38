import { type AlgorithmId, readSigned } from "./signed-envelope.js";
import { DerReader, Tag, ctx, decodeSmallInt, readOne } from "./der.js";
import { DecodeError } from "./errors.js";
import { type ParsedName, parseName } from "./name.js";
import { publicKeyOf, verifySignature } from "./signed-data.js";

/** A PKCS#10 CertificationRequest (RFC 2986): a view over its DER, with its self-signature check. */
export class CertificationRequest {
  readonly der: Uint8Array;
  /** The CertificationRequestInfo: what the signature covers. */
  readonly info: Uint8Array;
  readonly subjectDer: Uint8Array;
  /** The whole SubjectPublicKeyInfo element. */
  readonly spki: Uint8Array;
  readonly signatureAlgorithm: AlgorithmId;
  readonly signature: Uint8Array;
  private readonly subjectRange: [number, number];
  private _subject?: ParsedName;

  constructor(der: Uint8Array) {
    this.der = der;
    const top = DerReader.of(der, readOne(der, Tag.Sequence, "CertificationRequest"));
    const { tbsTlv: infoTlv, tbs: signed, signatureAlgorithm, signature } = readSigned(der, top, "CertificationRequestInfo", "signature");
    this.info = signed;
    this.signatureAlgorithm = signatureAlgorithm;
    this.signature = signature;
    top.done("CertificationRequest");
    const info = DerReader.of(der, infoTlv);
    if (decodeSmallInt(der, info.expect(Tag.Integer, "version")) !== 0) throw new DecodeError("unknown CertificationRequest version", infoTlv.start);
    const subject = info.expect(Tag.Sequence, "subject");
    this.subjectDer = der.subarray(subject.start, subject.end);
    this.subjectRange = [subject.start, subject.end];
    const spki = info.expect(Tag.Sequence, "subjectPKInfo");
    this.spki = der.subarray(spki.start, spki.end);
    info.expect(ctx(0), "attributes");
    info.done("CertificationRequestInfo");
  }

  get subject(): ParsedName {
    return (this._subject ??= parseName(this.der, this.subjectRange[0], this.subjectRange[1]));
  }

  /** True when the request is signed by the key it carries (proof of possession). */
  verify(): boolean {
    try {
      return verifySignature(publicKeyOf(this.spki), this.signatureAlgorithm, this.info, this.signature) === "ok";
    } catch {
      return false;
    }
  }
}
