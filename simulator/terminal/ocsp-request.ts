import { createHash } from "node:crypto";
import * as asn1js from "asn1js";
import { Certificate } from "../../pki/index.js";

const SHA1 = "1.3.14.3.2.26";
const NONCE = "1.3.6.1.5.5.7.48.1.2";

/**
 * An OCSPRequest (RFC 6960 4.1.1) for one certificate, CertID over SHA-1 as
 * responders expect, with a nonce extension so a replayed answer is caught.
 */
export function buildOcspRequest(leafDer: Uint8Array, issuerDer: Uint8Array, nonce: Uint8Array): Uint8Array {
  const leaf = new Certificate(leafDer);
  const issuer = new Certificate(issuerDer);
  const certId = new asn1js.Sequence({
    value: [
      new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: SHA1 }), new asn1js.Null()] }),
      new asn1js.OctetString({ valueHex: ab(createHash("sha1").update(issuer.subjectDer).digest()) }),
      new asn1js.OctetString({ valueHex: ab(createHash("sha1").update(issuer.publicKeyBits).digest()) }),
      new asn1js.Integer({ valueHex: ab(Buffer.from(leaf.serial.length % 2 ? `0${leaf.serial}` : leaf.serial, "hex")) }),
    ],
  });
  const nonceExt = new asn1js.Sequence({
    value: [
      new asn1js.ObjectIdentifier({ value: NONCE }),
      new asn1js.OctetString({ valueHex: new asn1js.OctetString({ valueHex: ab(nonce) }).toBER(false) }),
    ],
  });
  const tbs = new asn1js.Sequence({
    value: [
      new asn1js.Sequence({ value: [new asn1js.Sequence({ value: [certId] })] }),
      new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 2 }, value: [new asn1js.Sequence({ value: [nonceExt] })] }),
    ],
  });
  return new Uint8Array(new asn1js.Sequence({ value: [tbs] }).toBER(false));
}

function ab(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}
