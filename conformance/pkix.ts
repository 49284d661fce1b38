/**
 * The certificate, CRL and OCSP reading the checks need, on @peculiar/x509,
 * pkijs and node:crypto. Kept in one small file so that it can be pointed at
 * pki/ once that module is complete, without touching the checks.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import * as pkijs from "pkijs";
import * as asn1js from "asn1js";
import { KeyObject, createHash, webcrypto } from "node:crypto";
import { Certificate as PkiCertificate, Crl as PkiCrl, publicKeyOf, verifySignature } from "../pki/index.js";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
pkijs.setEngine("node", new pkijs.CryptoEngine({ name: "node", crypto: webcrypto as unknown as ConstructorParameters<typeof pkijs.CryptoEngine>[0]["crypto"] }));

export type KeyAlg = "p256" | "rsa1024" | "rsa2048";

export function toHex(b: ArrayBuffer | Uint8Array): string {
  return Buffer.from(b instanceof Uint8Array ? b : new Uint8Array(b)).toString("hex");
}

/** Serial numbers compared as integers: "00ab" and "ab" are one serial. */
export function normSerial(hex: string): string {
  const h = hex.replace(/[^0-9a-fA-F]/g, "").toLowerCase();
  return h === "" ? "0" : BigInt("0x" + h).toString(16);
}

export function pemToDer(pem: string): Uint8Array {
  const b64 = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  return new Uint8Array(Buffer.from(b64, "base64"));
}

export function derToPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString("base64").replace(/(.{64})/g, "$1\n").trim();
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

const ALGS: Record<KeyAlg, webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams> = {
  p256: { name: "ECDSA", namedCurve: "P-256" },
  rsa1024: { name: "RSASSA-PKCS1-v1_5", modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
  rsa2048: { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
};

export interface Csr {
  pem: string;
  /** SubjectPublicKeyInfo of the requested key, hex. */
  spkiHex: string;
  /** The requested key's private half: in this process only, never in evidence (a renewal proves with it). */
  key: KeyObject;
}

/** A fresh key (never leaves this process, never logged) and a PKCS#10 request signed by it. */
export async function makeCsr(commonName: string, alg: KeyAlg = "p256"): Promise<Csr> {
  const params = ALGS[alg];
  const keys = (await webcrypto.subtle.generateKey(params, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${commonName.replace(/[,+="\\<>;#]/g, " ")}`,
    keys: keys as unknown as Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>[0]["keys"],
    signingAlgorithm: alg === "p256" ? { name: "ECDSA", hash: "SHA-256" } : params,
  });
  const spki = await webcrypto.subtle.exportKey("spki", keys.publicKey);
  return { pem: csr.toString("pem"), spkiHex: toHex(spki), key: KeyObject.from(keys.privateKey) };
}

/** The same request with one bit of its signature flipped: it still parses, it no longer verifies. */
export function breakSignature(pem: string, label = "CERTIFICATE REQUEST"): string {
  const der = pemToDer(pem);
  der[der.length - 2] ^= 0x01; // inside the signature value (the last field of every signed object)
  return derToPem(der, label);
}

export interface CertInfo {
  pem: string;
  der: Uint8Array;
  serial: string;
  /** DER contents octets of the serialNumber INTEGER, hex (sign byte included). */
  serialRawHex: string;
  subject: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  keyUsage?: { critical: boolean; names: string[] };
  extKeyUsage?: string[];
  basicConstraints?: { ca: boolean; critical: boolean };
  aki?: string;
  ski?: string;
  ocspUrls: string[];
  crlUrls: string[];
  spkiHex: string;
  cert: x509.X509Certificate;
}

const KU_NAMES: Array<[number, string]> = [
  [x509.KeyUsageFlags.digitalSignature, "digitalSignature"],
  [x509.KeyUsageFlags.nonRepudiation, "nonRepudiation"],
  [x509.KeyUsageFlags.keyEncipherment, "keyEncipherment"],
  [x509.KeyUsageFlags.dataEncipherment, "dataEncipherment"],
  [x509.KeyUsageFlags.keyAgreement, "keyAgreement"],
  [x509.KeyUsageFlags.keyCertSign, "keyCertSign"],
  [x509.KeyUsageFlags.cRLSign, "cRLSign"],
  [x509.KeyUsageFlags.encipherOnly, "encipherOnly"],
  [x509.KeyUsageFlags.decipherOnly, "decipherOnly"],
];

export const EKU = {
  clientAuth: "1.3.6.1.5.5.7.3.2",
  emailProtection: "1.3.6.1.5.5.7.3.4",
  ocspSigning: "1.3.6.1.5.5.7.3.9",
} as const;

export function certInfo(pem: string): CertInfo {
  const cert = new x509.X509Certificate(pem);
  const der = new Uint8Array(cert.rawData);
  const pk = pkijs.Certificate.fromBER(der);
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  const aia = cert.getExtension(x509.AuthorityInfoAccessExtension);
  const cdp = cert.getExtension(x509.CRLDistributionPointsExtension);
  const urls = (names: x509.GeneralName[] | undefined) =>
    (names ?? []).filter((n) => n.type === "url").map((n) => n.value);
  return {
    pem,
    der,
    serial: normSerial(toHex(pk.serialNumber.valueBlock.valueHexView)),
    serialRawHex: toHex(pk.serialNumber.valueBlock.valueHexView),
    subject: cert.subject,
    issuer: cert.issuer,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    keyUsage: ku ? { critical: ku.critical, names: KU_NAMES.filter(([f]) => (ku.usages & f) !== 0).map(([, n]) => n) } : undefined,
    extKeyUsage: eku ? eku.usages.map(String) : undefined,
    basicConstraints: bc ? { ca: bc.ca, critical: bc.critical } : undefined,
    aki: aki?.keyId,
    ski: ski?.keyId,
    ocspUrls: urls(aia?.ocsp),
    crlUrls: (cdp?.distributionPoints ?? []).flatMap((dp) =>
      (dp.distributionPoint?.fullName ?? []).filter((n) => n.uniformResourceIdentifier).map((n) => n.uniformResourceIdentifier!),
    ),
    spkiHex: toHex(cert.publicKey.rawData),
    cert,
  };
}

/** Verifies a certificate's signature with the issuer's key (pki/'s signature code). */
export async function certSignedBy(certPem: string, issuerPem: string): Promise<boolean> {
  try {
    const cert = new PkiCertificate(pemToDer(certPem));
    const issuer = new PkiCertificate(pemToDer(issuerPem));
    return verifySignature(publicKeyOf(issuer.spki), cert.signatureAlgorithm, cert.tbs, cert.signature) === "ok";
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- CRL

export interface CrlEntry {
  serial: string;
  revocationDate: Date;
  /** RFC 5280 CRLReason code, when the entry carries one. */
  reason?: number;
}

export interface CrlInfo {
  der: Uint8Array;
  issuer: string;
  thisUpdate: Date;
  nextUpdate?: Date;
  number?: bigint;
  aki?: string;
  entries: Map<string, CrlEntry>;
  crl: x509.X509Crl;
}

export function parseCrl(der: Uint8Array): CrlInfo {
  const crl = new x509.X509Crl(der);
  const numExt = crl.extensions.find((e) => e.type === "2.5.29.20");
  let number: bigint | undefined;
  if (numExt) {
    const asn = asn1js.fromBER(numExt.value);
    if (asn.offset !== -1 && asn.result instanceof asn1js.Integer) {
      number = BigInt("0x" + (toHex(asn.result.valueBlock.valueHexView) || "0"));
    }
  }
  const akiExt = crl.extensions.find((e) => e.type === "2.5.29.35");
  const aki = akiExt ? new x509.AuthorityKeyIdentifierExtension(akiExt.rawData).keyId : undefined;
  const entries = new Map<string, CrlEntry>();
  for (const e of crl.entries) {
    const serial = normSerial(e.serialNumber);
    entries.set(serial, { serial, revocationDate: e.revocationDate, reason: e.reason });
  }
  return { der, issuer: crl.issuer, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate, number, aki, entries, crl };
}

/** Verifies a CRL's signature with the issuer's key (pki/'s signature code, as relying parties use it). */
export async function crlSignedBy(der: Uint8Array, issuerPem: string): Promise<boolean> {
  try {
    const crl = new PkiCrl(der);
    const issuer = new PkiCertificate(pemToDer(issuerPem));
    return verifySignature(publicKeyOf(issuer.spki), crl.signatureAlgorithm, crl.tbs, crl.signature) === "ok";
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- OCSP

const SHA1 = "1.3.14.3.2.26";
const NONCE = "1.3.6.1.5.5.7.48.1.2";

/** An OCSP request for serials issued by `issuerPem` (SHA-1 CertIDs, as every responder accepts). */
export function buildOcspRequest(issuerPem: string, serials: string[], nonce?: Uint8Array): Uint8Array {
  const issuer = pkijs.Certificate.fromBER(pemToDer(issuerPem));
  const nameHash = createHash("sha1").update(new Uint8Array(issuer.subject.toSchema().toBER())).digest();
  const keyHash = createHash("sha1").update(issuer.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView).digest();
  const req = new pkijs.OCSPRequest();
  req.tbsRequest.requestList = serials.map(
    (s) =>
      new pkijs.Request({
        reqCert: new pkijs.CertID({
          hashAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: SHA1, algorithmParams: new asn1js.Null() }),
          issuerNameHash: new asn1js.OctetString({ valueHex: nameHash }),
          issuerKeyHash: new asn1js.OctetString({ valueHex: keyHash }),
          serialNumber: new asn1js.Integer({ valueHex: serialToDerContents(s) }),
        }),
      }),
  );
  if (nonce) {
    req.tbsRequest.requestExtensions = [
      new pkijs.Extension({ extnID: NONCE, extnValue: new asn1js.OctetString({ valueHex: nonce }).toBER() }),
    ];
  }
  return new Uint8Array(req.toSchema(true).toBER());
}

function serialToDerContents(hex: string): ArrayBuffer {
  let h = normSerial(hex);
  if (h.length % 2) h = "0" + h;
  if (parseInt(h.slice(0, 2), 16) & 0x80) h = "00" + h;
  const b = Buffer.from(h, "hex");
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

/** The serials an OCSP request asks about (used by adapters that answer per request). */
export function ocspRequestSerials(der: Uint8Array): string[] {
  const req = pkijs.OCSPRequest.fromBER(der);
  return req.tbsRequest.requestList.map((r) => normSerial(toHex(r.reqCert.serialNumber.valueBlock.valueHexView)));
}

/** The request without its nonce extension (a fault a broken proxy or responder introduces). */
export function stripOcspNonce(der: Uint8Array): Uint8Array {
  const req = pkijs.OCSPRequest.fromBER(der);
  req.tbsRequest.requestExtensions = (req.tbsRequest.requestExtensions ?? []).filter((e) => e.extnID !== NONCE);
  if (req.tbsRequest.requestExtensions.length === 0) delete req.tbsRequest.requestExtensions;
  return new Uint8Array(req.toSchema(true).toBER());
}

export const OCSP_STATUS = ["successful", "malformedRequest", "internalError", "tryLater", "(4)", "sigRequired", "unauthorized"];

export interface SingleStatus {
  serial: string;
  status: "good" | "revoked" | "unknown";
  revokedAt?: Date;
  reason?: number;
  thisUpdate: Date;
  nextUpdate?: Date;
}

export interface OcspInfo {
  der: Uint8Array;
  /** OCSPResponseStatus: 0 successful, 1 malformedRequest, 6 unauthorized, ... */
  responseStatus: number;
  responseStatusName: string;
  producedAt?: Date;
  responses: SingleStatus[];
  nonce?: string;
  responderByName?: string;
  responderByKeyHash?: string;
  certsPem: string[];
  sigAlg?: string;
  /** DER of the signature AlgorithmIdentifier's parameters, when present (RSA-PSS). */
  sigParams?: Uint8Array;
  signature?: Uint8Array;
  tbs?: Uint8Array;
}

export function parseOcspResponse(der: Uint8Array): OcspInfo {
  const resp = pkijs.OCSPResponse.fromBER(der);
  const responseStatus = resp.responseStatus.valueBlock.valueDec;
  const out: OcspInfo = {
    der,
    responseStatus,
    responseStatusName: OCSP_STATUS[responseStatus] ?? String(responseStatus),
    responses: [],
    certsPem: [],
  };
  if (!resp.responseBytes) return out;
  const basicDer = resp.responseBytes.response.valueBlock.valueHexView;
  const basic = pkijs.BasicOCSPResponse.fromBER(basicDer);
  const rd = basic.tbsResponseData;
  const raw = asn1js.fromBER(basicDer);
  const seq = raw.result as asn1js.Sequence;
  out.tbs = new Uint8Array(seq.valueBlock.value[0].valueBeforeDecodeView);
  out.producedAt = rd.producedAt;
  out.sigAlg = basic.signatureAlgorithm.algorithmId;
  const params = basic.signatureAlgorithm.algorithmParams as asn1js.BaseBlock | undefined;
  if (params && !(params instanceof asn1js.Null)) out.sigParams = new Uint8Array(params.toBER());
  out.signature = new Uint8Array(basic.signature.valueBlock.valueHexView);
  if (rd.responderID instanceof pkijs.RelativeDistinguishedNames) {
    out.responderByName = rd.responderID.typesAndValues.map((tv) => `${tv.type}=${tv.value.valueBlock.value}`).join(",");
  } else if (rd.responderID instanceof asn1js.OctetString) {
    out.responderByKeyHash = toHex(rd.responderID.valueBlock.valueHexView);
  }
  for (const ext of rd.responseExtensions ?? []) {
    if (ext.extnID === NONCE) {
      // The nonce extension value is an OCTET STRING wrapping the nonce; some responders omit the wrapping.
      const inner = asn1js.fromBER(ext.extnValue.valueBlock.valueHexView);
      out.nonce =
        inner.offset !== -1 && inner.result instanceof asn1js.OctetString
          ? toHex(inner.result.valueBlock.valueHexView)
          : toHex(ext.extnValue.valueBlock.valueHexView);
    }
  }
  for (const r of rd.responses) {
    const cs = r.certStatus as asn1js.BaseBlock & { idBlock: { tagNumber: number }; valueBlock: { value?: asn1js.BaseBlock[] } };
    const tag = cs.idBlock.tagNumber;
    const single: SingleStatus = {
      serial: normSerial(toHex(r.certID.serialNumber.valueBlock.valueHexView)),
      status: tag === 0 ? "good" : tag === 1 ? "revoked" : "unknown",
      thisUpdate: r.thisUpdate,
      nextUpdate: r.nextUpdate,
    };
    if (tag === 1) {
      const parts = cs.valueBlock.value ?? [];
      const time = parts[0] as asn1js.GeneralizedTime | undefined;
      if (time && "toDate" in time) single.revokedAt = time.toDate();
      const reasonBlock = parts[1] as (asn1js.Constructed & { valueBlock: { value: asn1js.Enumerated[] } }) | undefined;
      const en = reasonBlock?.valueBlock?.value?.[0];
      if (en && en instanceof asn1js.Enumerated) single.reason = en.valueBlock.valueDec;
    }
    out.responses.push(single);
  }
  for (const c of basic.certs ?? []) {
    out.certsPem.push(derToPem(new Uint8Array(c.toSchema().toBER()), "CERTIFICATE"));
  }
  return out;
}

/** Verifies the BasicOCSPResponse signature with `signerPem`'s key (pki/'s signature code). */
export function ocspSignedBy(info: OcspInfo, signerPem: string): boolean {
  if (!info.tbs || !info.signature || !info.sigAlg) return false;
  try {
    const signer = new PkiCertificate(pemToDer(signerPem));
    return verifySignature(publicKeyOf(signer.spki), { oid: info.sigAlg, ...(info.sigParams ? { params: info.sigParams } : {}) }, info.tbs, info.signature) === "ok";
  } catch {
    return false;
  }
}

/** SHA-1 of a certificate's subjectPublicKey bits: the byKey ResponderID form. */
export function keyHash(pem: string): string {
  const c = pkijs.Certificate.fromBER(pemToDer(pem));
  return createHash("sha1").update(c.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView).digest("hex");
}

/** The DER of a certificate's subject Name, hex (for byName responder matching). */
export function subjectName(pem: string): string {
  return new x509.X509Certificate(pem).subject;
}

/** Flips one bit of the signature of a signed object in a DER blob, leaving it parseable. */
export function corruptSignatureIn(der: Uint8Array, signature: Uint8Array): Uint8Array {
  const out = new Uint8Array(der);
  const at = Buffer.from(out).indexOf(Buffer.from(signature));
  if (at < 0) throw new Error("signature not found in DER");
  out[at + signature.length - 2] ^= 0x01;
  return out;
}

export function crlSignature(der: Uint8Array): Uint8Array {
  return new Uint8Array(pkijs.CertificateRevocationList.fromBER(der).signatureValue.valueBlock.valueHexView);
}
