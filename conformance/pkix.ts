/**
 * The certificate, CRL, CSR and OCSP reading and writing the checks need, as
 * thin adapters over pki/'s views and builders (the checks want serials as
 * normalised hex, Dates and PEM strings). pki/ does all the DER.
 */
import { KeyObject, createHash, webcrypto } from "node:crypto";
import { normSerial, toHex } from "../core/index.js";
import {
  Certificate as PkiCertificate,
  Crl as PkiCrl,
  DecodeError,
  KeyUsage,
  OcspResponse,
  OID,
  buildCsr,
  buildOcspRequest as buildPkiOcspRequest,
  encodeName,
  encodeOcspRequest,
  encodePem,
  issuerHashes,
  parseOcspRequest,
  pemToDer,
  publicKeyOf,
  softwareSigningKey,
  verifySignature,
} from "../pki/index.js";

export type KeyAlg = "p256" | "rsa1024" | "rsa2048";

// Serials compare as integers (core's normSerial, shared with scenarios/); re-exported for the conformance code.
export { normSerial };

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
  const keys = (await webcrypto.subtle.generateKey(ALGS[alg], true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const key = KeyObject.from(keys.privateKey);
  const signer = softwareSigningKey(key, KeyObject.from(keys.publicKey));
  const der = buildCsr(encodeName([[OID.commonName, commonName.replace(/[,+="\\<>;#]/g, " ")]]), signer);
  return { pem: encodePem(der, "CERTIFICATE REQUEST"), spkiHex: toHex(signer.spki), key };
}

/** The same request with one bit of its signature flipped: it still parses, it no longer verifies. */
export function breakSignature(pem: string, label = "CERTIFICATE REQUEST"): string {
  const der = pemToDer(pem);
  der[der.length - 2] ^= 0x01; // inside the signature value (the last field of every signed object)
  return encodePem(der, label);
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
  cert: PkiCertificate;
}

/** The KeyUsage names in bit order (pki's table lists them so). */
const KU_NAMES = Object.entries(KeyUsage);

export const EKU = {
  clientAuth: OID.kpClientAuth,
  emailProtection: OID.kpEmailProtection,
  ocspSigning: OID.kpOcspSigning,
} as const;

export function certInfo(pem: string): CertInfo {
  const der = pemToDer(pem);
  const cert = new PkiCertificate(der);
  const ku = cert.keyUsage;
  const bc = cert.basicConstraints;
  return {
    pem,
    der,
    serial: normSerial(cert.serial),
    serialRawHex: cert.serial,
    subject: cert.subject.display,
    issuer: cert.issuer.display,
    notBefore: new Date(cert.notBefore),
    notAfter: new Date(cert.notAfter),
    keyUsage: ku === undefined ? undefined : { critical: cert.extensions.get(OID.keyUsage)!.critical, names: KU_NAMES.filter(([, mask]) => (ku & mask) !== 0).map(([name]) => name) },
    extKeyUsage: cert.extKeyUsage,
    basicConstraints: bc ? { ca: bc.ca, critical: cert.extensions.get(OID.basicConstraints)!.critical } : undefined,
    aki: cert.authorityKeyId?.keyId,
    ski: cert.subjectKeyId,
    ocspUrls: cert.authorityInfoAccess.ocsp,
    crlUrls: cert.crlDistributionPoints,
    spkiHex: toHex(cert.spki),
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
  /** The TBSCertList's DER: what the issuer signed. Two fetches with equal TBS are one CRL, whatever their signatures (ECDSA signs anew each time). */
  tbs: Uint8Array;
  issuer: string;
  thisUpdate: Date;
  nextUpdate?: Date;
  number?: bigint;
  aki?: string;
  entries: Map<string, CrlEntry>;
  crl: PkiCrl;
}

export function parseCrl(der: Uint8Array): CrlInfo {
  const crl = new PkiCrl(der);
  const entries = new Map<string, CrlEntry>();
  for (const e of crl.entries()) {
    const serial = normSerial(e.serial);
    entries.set(serial, { serial, revocationDate: new Date(e.revocationDate), reason: e.reasonCode });
  }
  return {
    der,
    tbs: crl.tbs,
    issuer: crl.issuer.display,
    thisUpdate: new Date(crl.thisUpdate),
    nextUpdate: crl.nextUpdate === undefined ? undefined : new Date(crl.nextUpdate),
    number: crlNumberOf(crl),
    aki: crl.authorityKeyId?.keyId,
    entries,
    crl,
  };
}

/** The cRLNumber; a malformed one counts as none (the CRL-NUMBER check then says so) rather than failing every CRL check. */
function crlNumberOf(crl: PkiCrl): bigint | undefined {
  try {
    return crl.crlNumber;
  } catch (err) {
    if (err instanceof DecodeError) return undefined;
    throw err;
  }
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

/** An OCSP request for serials issued by `issuerPem` (SHA-1 CertIDs, as every responder accepts). */
export function buildOcspRequest(issuerPem: string, serials: string[], nonce?: Uint8Array): Uint8Array {
  return buildPkiOcspRequest(new PkiCertificate(pemToDer(issuerPem)), serials.map(normSerial), nonce);
}

/** The serials an OCSP request asks about (used by adapters that answer per request). */
export function ocspRequestSerials(der: Uint8Array): string[] {
  return parseOcspRequest(der).certIds.map((c) => normSerial(c.serialHex));
}

/** The request without its nonce extension (a fault a broken proxy or responder introduces). */
export function stripOcspNonce(der: Uint8Array): Uint8Array {
  const req = parseOcspRequest(der);
  return encodeOcspRequest(
    req.certIds.map((c) => c.der),
    req.extensions.filter((e) => e !== req.nonceExtension),
  );
}

/** A CertID as a response carries it: hashes as hex, the serial normalised. */
export interface CertIdHex {
  hashAlgorithm: string;
  issuerNameHash: string;
  issuerKeyHash: string;
  serial: string;
}

export interface SingleStatus {
  serial: string;
  /** The CertID this SingleResponse answers for: which issuer, not only which serial. */
  certId: CertIdHex;
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
  signature?: Uint8Array;
  tbs?: Uint8Array;
  /** pki's view of the response (the signature algorithm with its parameters, the responder's name). */
  ocsp: OcspResponse;
}

export function parseOcspResponse(der: Uint8Array): OcspInfo {
  const resp = new OcspResponse(der);
  const out: OcspInfo = {
    der,
    responseStatus: resp.statusCode,
    responseStatusName: resp.status,
    responses: [],
    certsPem: [],
    ocsp: resp,
  };
  if (resp.tbs.length === 0) return out; // no responseBytes
  out.tbs = resp.tbs;
  out.producedAt = new Date(resp.producedAt);
  out.sigAlg = resp.signatureAlgorithm.oid;
  out.signature = resp.signature;
  if ("byName" in resp.responderId) out.responderByName = resp.responderId.byName.display;
  else out.responderByKeyHash = resp.responderId.byKeyHash;
  if (resp.nonce !== undefined) out.nonce = resp.nonce;
  for (const r of resp.responses) {
    const single: SingleStatus = {
      serial: normSerial(r.certId.serial),
      certId: { ...r.certId, serial: normSerial(r.certId.serial) },
      status: r.status,
      thisUpdate: new Date(r.thisUpdate),
      nextUpdate: r.nextUpdate === undefined ? undefined : new Date(r.nextUpdate),
    };
    if (r.status === "revoked") {
      if (r.revocationTime !== undefined) single.revokedAt = new Date(r.revocationTime);
      if (r.revocationReasonCode !== undefined) single.reason = r.revocationReasonCode;
    }
    out.responses.push(single);
  }
  for (const c of resp.certs) out.certsPem.push(encodePem(c.der, "CERTIFICATE"));
  return out;
}

/** Verifies the BasicOCSPResponse signature with `signerPem`'s key (pki/'s signature code). */
export function ocspSignedBy(info: OcspInfo, signerPem: string): boolean {
  if (!info.tbs || !info.signature) return false;
  try {
    const signer = new PkiCertificate(pemToDer(signerPem));
    return verifySignature(publicKeyOf(signer.spki), info.ocsp.signatureAlgorithm, info.tbs, info.signature) === "ok";
  } catch {
    return false;
  }
}

/**
 * True when `id` names `serial` issued by `issuerPem`: the serial, and both
 * issuer hashes in the CertID's own hash algorithm (RFC 6960 4.1.1), as a
 * relying party matches an answer to its question. A responder that answers
 * for the serial under another issuer has not answered for this CA.
 */
export function certIdNames(id: CertIdHex, issuerPem: string, serial: string): boolean {
  if (normSerial(id.serial) !== normSerial(serial)) return false;
  const h = issuerHashesOf(issuerPem).get(id.hashAlgorithm);
  return h !== undefined && h.name.toString("hex") === id.issuerNameHash.toLowerCase() && h.key.toString("hex") === id.issuerKeyHash.toLowerCase();
}

const hashesByIssuer = new Map<string, ReturnType<typeof issuerHashes>>();
/** The issuer's name and key hashes in every algorithm a CertID may use (the propagation polls ask often). */
function issuerHashesOf(issuerPem: string): ReturnType<typeof issuerHashes> {
  let h = hashesByIssuer.get(issuerPem);
  if (!h) {
    const issuer = new PkiCertificate(pemToDer(issuerPem));
    h = issuerHashes(issuer.subjectDer, issuer.spki);
    if (hashesByIssuer.size > 16) hashesByIssuer.clear();
    hashesByIssuer.set(issuerPem, h);
  }
  return h;
}

/** The SingleResponse that answers for `serial` of `issuerPem` (CertID match), if any. */
export function singleFor(info: OcspInfo, issuerPem: string, serial: string): SingleStatus | undefined {
  return info.responses.find((s) => certIdNames(s.certId, issuerPem, serial));
}

/** RFC 6960 4.4.8: the response extension a responder using the extended revoked definition MUST include. */
export const OCSP_EXTENDED_REVOKE = "1.3.6.1.5.5.7.48.1.9";

/** A CRL as PEM ("X509 CRL"), the form `openssl crl -text` reads. */
export function crlPem(der: Uint8Array): string {
  return encodePem(der, "X509 CRL");
}

/** SHA-1 of a certificate's subjectPublicKey bits: the byKey ResponderID form. */
export function keyHash(pem: string): string {
  return createHash("sha1").update(new PkiCertificate(pemToDer(pem)).publicKeyBits).digest("hex");
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
  return new PkiCrl(der).signature;
}
