import { createHash, type KeyObject } from "node:crypto";
import * as asn1js from "asn1js";
import type { KeyAlgorithm } from "./algorithms.js";

/** What the terminal needs from the card to sign a request: the card keeps the key. */
export interface CardSigner {
  signDigest(slot: number, alg: KeyAlgorithm, digest: Uint8Array): Promise<Uint8Array>;
}

export interface CsrSubject {
  commonName: string;
  email?: string;
  organisation?: string;
  /** The holder's identifier (X.520 serialNumber attribute). */
  serialNumber?: string;
}

const OID = {
  commonName: "2.5.4.3",
  serialNumber: "2.5.4.5",
  organisation: "2.5.4.10",
  email: "1.2.840.113549.1.9.1",
  ecdsaSha256: "1.2.840.10045.4.3.2",
  ecdsaSha384: "1.2.840.10045.4.3.3",
  rsaSha256: "1.2.840.113549.1.1.11",
};

/** Digest and signature algorithm used for a key: P-384 pairs with SHA-384 (SP 800-78-4). */
export function signatureScheme(alg: KeyAlgorithm): { hash: "sha256" | "sha384"; oid: string; nullParams: boolean } {
  switch (alg) {
    case "p384":
      return { hash: "sha384", oid: OID.ecdsaSha384, nullParams: false };
    case "rsa2048":
      return { hash: "sha256", oid: OID.rsaSha256, nullParams: true };
    default:
      return { hash: "sha256", oid: OID.ecdsaSha256, nullParams: false };
  }
}

/**
 * Builds a PKCS#10 CertificationRequest (RFC 2986) whose signature the card
 * makes: the CertificationRequestInfo is hashed here and only the digest goes
 * to the card (GENERAL AUTHENTICATE), so the private key never leaves it.
 */
export async function buildCsr(
  card: CardSigner,
  slot: number,
  alg: KeyAlgorithm,
  publicKey: KeyObject,
  subject: CsrSubject,
): Promise<{ der: Uint8Array; pem: string }> {
  const scheme = signatureScheme(alg);
  const spki = publicKey.export({ type: "spki", format: "der" });
  const spkiAsn = asn1js.fromBER(toArrayBuffer(spki));
  if (spkiAsn.offset === -1) throw new Error("card returned a public key that does not encode as SubjectPublicKeyInfo");
  const info = new asn1js.Sequence({
    value: [
      new asn1js.Integer({ value: 0 }),
      encodeName(subject),
      spkiAsn.result,
      // attributes [0] IMPLICIT SET OF Attribute: empty
      new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [] }),
    ],
  });
  const infoDer = new Uint8Array(info.toBER(false));
  const digest = new Uint8Array(createHash(scheme.hash).update(infoDer).digest());
  const signature = await card.signDigest(slot, alg, digest);
  const algId = new asn1js.Sequence({
    value: [new asn1js.ObjectIdentifier({ value: scheme.oid }), ...(scheme.nullParams ? [new asn1js.Null()] : [])],
  });
  const csr = new asn1js.Sequence({
    value: [info, algId, new asn1js.BitString({ valueHex: toArrayBuffer(signature) })],
  });
  const der = new Uint8Array(csr.toBER(false));
  return { der, pem: toPem(der, "CERTIFICATE REQUEST") };
}

function encodeName(s: CsrSubject): asn1js.Sequence {
  const rdns: [string, asn1js.BaseStringBlock][] = [];
  if (s.organisation) rdns.push([OID.organisation, new asn1js.Utf8String({ value: s.organisation })]);
  rdns.push([OID.commonName, new asn1js.Utf8String({ value: s.commonName })]);
  // X.520 serialNumber is a PrintableString: omitted when the id does not fit that alphabet.
  if (s.serialNumber && /^[A-Za-z0-9 '()+,\-./:=?]+$/.test(s.serialNumber)) rdns.push([OID.serialNumber, new asn1js.PrintableString({ value: s.serialNumber })]);
  if (s.email) rdns.push([OID.email, new asn1js.IA5String({ value: s.email })]);
  return new asn1js.Sequence({
    value: rdns.map(
      ([oid, value]) =>
        new asn1js.Set({ value: [new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: oid }), value] })] }),
    ),
  });
}

export function toPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString("base64").replace(/(.{64})/g, "$1\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

export function fromPem(pem: string): Uint8Array {
  const b64 = pem.replace(/-----(BEGIN|END) [^-]+-----/g, "").replace(/\s+/g, "");
  return new Uint8Array(Buffer.from(b64, "base64"));
}

function toArrayBuffer(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}
