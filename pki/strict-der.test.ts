import test from "ava";
import fc from "fast-check";
import { generateEcKeyPair } from "../core/index.js";
import { readTlv } from "./der.js";
import {
  Certificate,
  Crl,
  DecodeError,
  OcspResponse,
  Validator,
  buildCertificate,
  buildCrl,
  buildOcspRequest,
  buildOcspResponse,
  encodeName,
  ext,
  KU,
  OID,
  keyIdentifier,
  nonceExtension,
  parseOcspRequest,
  softwareSigningKey,
  type SigningKey,
} from "./index.js";
import { codeAt } from "./testing/assertions.js";

/**
 * Defect 7 and the "strict DER where it matters" rule: every DER rule the
 * readers enforce, shown on mutants of a real certificate, CRL and OCSP
 * response (built by pki's builders). Each mutant of a signed part is RE-SIGNED by the issuer, so
 * the only thing wrong with it is the encoding: the refusal must come from the
 * DER rule (a DecodeError naming it, or the validator's "malformed"), never
 * from the signature. Signature BIT STRINGs with unused bits are the one
 * defect outside the signed bytes: they parse (as in OpenSSL) but never verify.
 */

const T = Date.UTC(2026, 2, 1, 12);
const DAY = 86_400_000;
const caKey = softwareSigningKey(generateEcKeyPair("P-256").privateKey);
const leafKey = softwareSigningKey(generateEcKeyPair("P-256").privateKey);
const caName = encodeName([[OID.country, "FR"], [OID.organization, "cardloop"], [OID.commonName, "Strict CA"]]);
const caCert = buildCertificate(
  { serial: Uint8Array.of(1), issuer: caName, subject: caName, notBefore: T - 900 * DAY, notAfter: T + 900 * DAY, spki: caKey.spki, extensions: [ext.basicConstraints(true, 1), ext.keyUsage([KU.keyCertSign, KU.cRLSign]), ext.subjectKeyIdentifier(keyIdentifier(caKey.spki))] },
  caKey,
);

function leafExtensions(): Uint8Array[] {
  return [
    ext.basicConstraints(false),
    ext.keyUsage([KU.digitalSignature]),
    ext.extKeyUsage([OID.kpClientAuth]),
    ext.subjectKeyIdentifier(keyIdentifier(leafKey.spki)),
    ext.authorityKeyIdentifier(keyIdentifier(caKey.spki)),
    ext.ocspAccess("http://ca.example/ocsp"),
    ext.crlDistributionPoint("http://ca.example/crl"),
    ext.emailAltName("zoe@example.org"),
  ];
}
const leafCert = buildCertificate(
  {
    serial: Buffer.from("4a0b0c0d0e0f", "hex"),
    issuer: caName,
    subject: encodeName([[OID.commonName, "Zoë Holder"], [OID.organization, "Acme"]]),
    notBefore: T - 10 * DAY,
    notAfter: T + 300 * DAY,
    spki: leafKey.spki,
    extensions: leafExtensions(),
  },
  caKey,
);
const crlSpec = { issuerName: caName, issuerKeyId: keyIdentifier(caKey.spki), signer: caKey };
const crlDer = buildCrl({
  ...crlSpec,
  crlNumber: 7n,
  thisUpdate: T - DAY,
  nextUpdate: T + 6 * DAY,
  entries: [
    ["0102", T - 5 * DAY, 1],
    ["0a0b", T - 4 * DAY, 6],
  ],
});

/** A CA-signed OCSP answer for the leaf (responderID byKey, the CA certificate sent along), echoing a nonce. */
const OCSP_NONCE = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
const leafCertId = parseOcspRequest(buildOcspRequest(new Certificate(caCert), ["4a0b0c0d0e0f"])).certIds[0].der;
function ocspDer(nonceExt: Uint8Array = nonceExtension(OCSP_NONCE)): Uint8Array {
  return buildOcspResponse({ signer: caKey, certificate: caCert }, T - 3600_000, [{ certId: leafCertId, status: { kind: "good" }, thisUpdate: T - 3600_000, nextUpdate: T + DAY }], nonceExt);
}

// ------------------------------------------------------------------ a tiny DER tree, to re-encode mutants

interface Node {
  /** Identifier octets as written (one octet, or the high-tag form a mutant uses). */
  tag: number[];
  children?: Node[];
  content?: Uint8Array;
  /** How the length is written: DER, or one of the non-DER forms a mutant uses. */
  len?: "long" | "indefinite";
  /** An OCTET STRING whose content is DER (an extnValue): kept as children, written back as content. */
  wraps?: boolean;
}

function parse(buf: Uint8Array, start = 0, end = buf.length): Node {
  const t = readTlv(buf, start, end);
  const tag = buf[t.start];
  if (tag & 0x20) {
    const children: Node[] = [];
    for (let p = t.valueStart; p < t.end; ) {
      const c = readTlv(buf, p, t.end);
      children.push(parse(buf, p, c.end));
      p = c.end;
    }
    return { tag: [tag], children };
  }
  return { tag: [tag], content: buf.slice(t.valueStart, t.end) };
}

function header(n: number, form?: Node["len"]): number[] {
  if (form === "indefinite") return [0x80];
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  if (form === "long") return n < 0x80 ? [0x81, n] : [0x80 | (bytes.length + 1), 0, ...bytes]; // below 128 in long form, else a leading zero octet
  return n < 0x80 ? [n] : [0x80 | bytes.length, ...bytes];
}

function encode(n: Node): Uint8Array {
  const body = n.children
    ? n.wraps
      ? Buffer.concat(n.children.map(encode))
      : Buffer.concat([...n.children.map(encode), ...(n.len === "indefinite" ? [Buffer.from([0, 0])] : [])])
    : Buffer.from(n.content!);
  return Uint8Array.from([...n.tag, ...header(body.length, n.len), ...body]);
}

/** The extnValues of an Extensions SEQUENCE parsed as DER, so mutants can reach inside them. */
function openExtensions(seq: Node): void {
  for (const e of seq.children ?? []) {
    const value = e.children?.[e.children.length - 1];
    if (value?.content) {
      value.children = [parse(value.content)];
      value.wraps = true;
    }
  }
}

/** Certificate or CRL as a tree: [tbs, algorithm, signature]; extension values opened. */
function tree(der: Uint8Array): Node {
  const root = parse(der);
  const tbs = root.children![0];
  for (const c of tbs.children!) {
    if (c.tag[0] === 0xa3 || c.tag[0] === 0xa0) openExtensions(c.children![0]); // [3] cert / [0] CRL extensions
    if (c.tag[0] === 0x30 && c.children?.every((e) => e.tag[0] === 0x30 && e.children?.[0].tag[0] === 0x02)) {
      for (const entry of c.children) if (entry.children![2]) openExtensions(entry.children![2]); // CRL entries
    }
  }
  return root;
}

/** Re-signs a tree's tbs with `key` (the mutant's only defect is then its encoding). */
function resign(root: Node, key: SigningKey): Uint8Array {
  const tbs = encode(root.children![0]);
  const sig = key.sign(tbs);
  root.children![2] = { tag: [0x03], content: Uint8Array.from([0, ...sig]) };
  return encode(root);
}

/** Paths into the tree by child indexes. */
const at = (root: Node, ...path: number[]): Node => path.reduce((n, i) => n.children![i], root);
const extByOid = (extsSeq: Node, oidBytes: number[]): Node => extsSeq.children!.find((e) => Buffer.from(e.children![0].content!).equals(Buffer.from(oidBytes)))!;

// TBSCertificate children: 0 [0] version, 1 serial, 2 signature, 3 issuer, 4 validity, 5 subject, 6 spki, 7 [3] extensions
const certExts = (r: Node) => at(r, 0, 7, 0);
const OID_KU = [0x55, 0x1d, 0x0f];
const OID_BC = [0x55, 0x1d, 0x13];
const OID_EKU = [0x55, 0x1d, 0x25];
const OID_SAN = [0x55, 0x1d, 0x11];
// TBSCertList children: 0 version, 1 signature, 2 issuer, 3 thisUpdate, 4 nextUpdate, 5 revokedCertificates, 6 [0] extensions
const crlExts = (r: Node) => at(r, 0, 6, 0);
const OID_CRLNUMBER = [0x55, 0x1d, 0x14];

// OCSPResponse { status, [0] { SEQUENCE { responseType, OCTET STRING { BasicOCSPResponse } } } }
const basicOf = (outer: Node) => at(outer, 1, 0, 1);
/** The BasicOCSPResponse inside an OCSPResponse, as a tree [tbsResponseData, algorithm, signature, [0] certs]; extension values opened. */
function ocspTree(der: Uint8Array): { outer: Node; basic: Node } {
  const outer = parse(der);
  const basic = parse(basicOf(outer).content!);
  // ResponseData children: 0 responderID, 1 producedAt, 2 responses, 3 [1] responseExtensions
  for (const c of basic.children![0].children!) if (c.tag[0] === 0xa1 && c.children?.[0].tag[0] === 0x30 && c.children[0].children?.[0]?.tag[0] === 0x30) openExtensions(c.children[0]);
  return { outer, basic };
}
/** The OCSPResponse around a re-signed BasicOCSPResponse tree. */
function resignOcsp(o: { outer: Node; basic: Node }, key: SigningKey): Uint8Array {
  basicOf(o.outer).content = resign(o.basic, key);
  return encode(o.outer);
}
const ocspExts = (b: Node) => at(b, 0, 3, 0);
// id-pkix-ocsp-extended-revoke (RFC 6960 4.4.8): extnValue NULL
const OID_EXTENDED_REVOKE = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x09];
const OID_NONCE = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02];
const extensionNode = (oidBytes: number[], value: Node, critical?: boolean): Node => ({
  tag: [0x30],
  children: [{ tag: [0x06], content: Uint8Array.from(oidBytes) }, ...(critical === undefined ? [] : [{ tag: [0x01], content: Uint8Array.of(critical ? 0xff : 0) }]), { tag: [0x04], wraps: true, children: [value] }],
});
const nullNode = (): Node => ({ tag: [0x05], content: new Uint8Array(0) });

// ------------------------------------------------------------------ judging

const validator = new Validator();

/** Why pki refuses a certificate: the view's DecodeError, or the validator's malformed detail; undefined = accepted. */
function certRefusal(der: Uint8Array): string | undefined {
  try {
    const c = new Certificate(der);
    c.decodeAll();
    const r = new Validator().validate(der, { anchors: [caCert], time: T, usage: "authentication" });
    if (r.valid) return undefined;
    return r.code === "malformed" ? r.detail : `${r.code}: ${r.detail}`;
  } catch (err) {
    if (err instanceof DecodeError) return err.message;
    throw err;
  }
}

/** Why pki refuses a CRL: a DecodeError from the view (every lazy part forced), or the validator's detail. */
function crlRefusal(der: Uint8Array): string | undefined {
  try {
    const c = new Crl(der);
    void c.issuer;
    void c.crlNumber;
    void c.authorityKeyId;
    void c.idp;
    c.unknownCriticalExtension();
    [...c.entries()];
    const r = validator.validate(leafCert, { anchors: [caCert], crls: [der], time: T, usage: "authentication" });
    if (r.valid) return undefined;
    return r.code === "malformed" ? r.detail : `${r.code}: ${r.detail}`;
  } catch (err) {
    if (err instanceof DecodeError) return err.message;
    throw err;
  }
}

/** Why pki refuses an OCSP response: a DecodeError from the view, or the validator's verdict on the leaf with it (nonce required). */
function ocspRefusal(der: Uint8Array): string | undefined {
  try {
    void new OcspResponse(der);
    const r = new Validator().validate(leafCert, { anchors: [caCert], ocspResponses: [der], ocspNonce: OCSP_NONCE, time: T, usage: "authentication" });
    if (r.valid) return undefined;
    return r.code === "malformed" ? r.detail : `${r.code}: ${r.detail}`;
  } catch (err) {
    if (err instanceof DecodeError) return err.message;
    throw err;
  }
}

test("the originals, and their re-signed unmutated trees, are accepted (the mutants below differ only in the rule they break)", (t) => {
  t.is(certRefusal(leafCert), undefined);
  t.is(crlRefusal(crlDer), undefined);
  t.is(ocspRefusal(ocspDer()), undefined);
  t.is(certRefusal(resign(tree(leafCert), caKey)), undefined);
  t.is(crlRefusal(resign(tree(crlDer), caKey)), undefined);
  t.is(ocspRefusal(resignOcsp(ocspTree(ocspDer()), caKey)), undefined);
});

interface Mutant {
  rule: string;
  mutate: (root: Node) => void;
  reason: RegExp;
}

const CERT_MUTANTS: Mutant[] = [
  { rule: "length in long form below 128 (subject Name)", mutate: (r) => (at(r, 0, 5).len = "long"), reason: /non-minimal length \(long form below 128\)/ },
  { rule: "length with a leading zero octet (the TBSCertificate)", mutate: (r) => (at(r, 0).len = "long"), reason: /non-minimal length \(leading zero octet\)/ },
  { rule: "length in long form inside an RDN", mutate: (r) => (at(r, 0, 3, 0, 0).len = "long"), reason: /non-minimal length/ },
  { rule: "length in long form inside an extension value (EKU)", mutate: (r) => (extByOid(certExts(r), OID_EKU).children![1].children![0].len = "long"), reason: /non-minimal length/ },
  { rule: "indefinite length (validity)", mutate: (r) => (at(r, 0, 4).len = "indefinite"), reason: /indefinite length is not DER/ },
  { rule: "indefinite length (subjectPublicKeyInfo)", mutate: (r) => (at(r, 0, 6).len = "indefinite"), reason: /indefinite length is not DER/ },
  { rule: "INTEGER with a redundant 0x00 (serialNumber)", mutate: (r) => (at(r, 0, 1).content = Uint8Array.from([0, ...at(r, 0, 1).content!])), reason: /redundant leading octet/ },
  { rule: "INTEGER with a redundant 0xFF (serialNumber)", mutate: (r) => (at(r, 0, 1).content = Uint8Array.of(0xff, 0x80, 0x01)), reason: /redundant leading octet/ },
  { rule: "INTEGER with a redundant 0x00 (version)", mutate: (r) => (at(r, 0, 0, 0).content = Uint8Array.of(0, 2)), reason: /redundant leading octet/ },
  { rule: "INTEGER with a redundant 0x00 (basicConstraints pathLen)", mutate: (r) => {
      const bc = extByOid(certExts(r), OID_BC).children!;
      bc[bc.length - 1].children![0].children!.push({ tag: [0x02], content: Uint8Array.of(0, 1) });
    }, reason: /redundant leading octet/ },
  { rule: "BOOLEAN 0x01 for TRUE (keyUsage critical)", mutate: (r) => (extByOid(certExts(r), OID_KU).children![1].content = Uint8Array.of(0x01)), reason: /BOOLEAN is not 0x00 or 0xFF/ },
  { rule: "high-tag form for a tag number below 31 (validity SEQUENCE)", mutate: (r) => (at(r, 0, 4).tag = [0x3f, 0x10]), reason: /non-minimal tag number \(high-tag form/ },
  { rule: "high-tag form with a leading 0x80 (subject)", mutate: (r) => (at(r, 0, 5).tag = [0x3f, 0x80, 0x10]), reason: /non-minimal tag number \(leading 0x80\)/ },
  { rule: "DEFAULT critical FALSE encoded (extKeyUsage)", mutate: (r) => extByOid(certExts(r), OID_EKU).children!.splice(1, 0, { tag: [0x01], content: Uint8Array.of(0) }), reason: /critical FALSE encoded/ },
  { rule: "DEFAULT cA FALSE encoded (basicConstraints)", mutate: (r) => extByOid(certExts(r), OID_BC).children!.at(-1)!.children![0].children!.push({ tag: [0x01], content: Uint8Array.of(0) }), reason: /cA FALSE encoded/ },
  { rule: "DEFAULT version v1 encoded", mutate: (r) => {
      at(r, 0).children!.splice(7, 1); // a v1 certificate has no extensions
      at(r, 0, 0, 0).content = Uint8Array.of(0);
    }, reason: /version v1 encoded/ },
  { rule: "named bits with a trailing zero octet (keyUsage)", mutate: (r) => {
      const bits = extByOid(certExts(r), OID_KU).children!.at(-1)!.children![0];
      bits.content = Uint8Array.from([...bits.content!, 0]);
    }, reason: /trailing zero bits/ },
  { rule: "named bits with trailing zero bits counted as used (keyUsage 00 80)", mutate: (r) => (extByOid(certExts(r), OID_KU).children!.at(-1)!.children![0].content = Uint8Array.of(0, 0x80)), reason: /trailing zero bits/ },
  { rule: "BIT STRING unused bits not zero (keyUsage 07 81)", mutate: (r) => (extByOid(certExts(r), OID_KU).children!.at(-1)!.children![0].content = Uint8Array.of(7, 0x81)), reason: /unused bits are not zero/ },
  { rule: "subjectPublicKey BIT STRING with unused bits", mutate: (r) => (at(r, 0, 6, 1).content![0] = 1), reason: /subjectPublicKey: BIT STRING has 1 unused bits|BIT STRING unused bits are not zero/ },
  { rule: "constructed UTF8String (BER) in the subject", mutate: (r) => {
      const v = at(r, 0, 5, 0, 0, 1);
      at(r, 0, 5, 0, 0).children![1] = { tag: [0x2c], children: [{ tag: [0x0c], content: v.content! }] };
    }, reason: /constructed encoding of universal type 12/ },
  { rule: "empty Extensions SEQUENCE", mutate: (r) => (certExts(r).children = []), reason: /empty extensions/ },
  { rule: "non-minimal OID arc (0x80 padding)", mutate: (r) => (extByOid(certExts(r), OID_SAN).children![0].content = Uint8Array.of(0x55, 0x80, 0x1d, 0x11)), reason: /non-minimal OID arc/ },
  { rule: "NULL with content as AlgorithmIdentifier parameters", mutate: (r) => {
      at(r, 0, 2).children!.push({ tag: [0x05], content: Uint8Array.of(0) });
      at(r, 1).children!.push({ tag: [0x05], content: Uint8Array.of(0) });
    }, reason: /NULL with content/ },
  { rule: "GeneralizedTime with fractional seconds (notAfter)", mutate: (r) => (at(r, 0, 4).children![1] = { tag: [0x18], content: Buffer.from("20270101000000.5Z") }), reason: /fractional seconds/ },
  { rule: "GeneralizedTime with a trailing zero in the fraction", mutate: (r) => (at(r, 0, 4).children![1] = { tag: [0x18], content: Buffer.from("20270101000000.50Z") }), reason: /fractional seconds|trailing zero/ },
];

for (const m of CERT_MUTANTS) {
  test(`certificate, re-signed: ${m.rule} -> refused`, (t) => {
    const r = tree(leafCert);
    m.mutate(r);
    const der = resign(r, caKey);
    const why = certRefusal(der);
    t.truthy(why, "refused");
    t.regex(why ?? "", m.reason);
  });
}

const CRL_MUTANTS: Mutant[] = [
  { rule: "length in long form below 128 (issuer)", mutate: (r) => (at(r, 0, 2).len = "long"), reason: /non-minimal length/ },
  { rule: "length in long form (a revoked entry)", mutate: (r) => (at(r, 0, 5, 1).len = "long"), reason: /non-minimal length/ },
  { rule: "indefinite length (revokedCertificates)", mutate: (r) => (at(r, 0, 5).len = "indefinite"), reason: /indefinite length/ },
  { rule: "INTEGER with a redundant 0x00 (an entry's serial)", mutate: (r) => (at(r, 0, 5, 0, 0).content = Uint8Array.of(0, 1, 2)), reason: /redundant leading octet/ },
  { rule: "INTEGER with a redundant 0x00 (cRLNumber)", mutate: (r) => (extByOid(crlExts(r), OID_CRLNUMBER).children!.at(-1)!.children![0].content = Uint8Array.of(0, 7)), reason: /redundant leading octet/ },
  { rule: "ENUMERATED with a redundant 0x00 (an entry's reasonCode)", mutate: (r) => (at(r, 0, 5, 0, 2, 0, 1).children![0].content = Uint8Array.of(0, 1)), reason: /redundant leading octet/ },
  { rule: "BOOLEAN 0x01 (cRLNumber marked critical the BER way)", mutate: (r) => extByOid(crlExts(r), OID_CRLNUMBER).children!.splice(1, 0, { tag: [0x01], content: Uint8Array.of(1) }), reason: /BOOLEAN is not 0x00 or 0xFF/ },
  { rule: "DEFAULT critical FALSE encoded (cRLNumber)", mutate: (r) => extByOid(crlExts(r), OID_CRLNUMBER).children!.splice(1, 0, { tag: [0x01], content: Uint8Array.of(0) }), reason: /critical FALSE encoded/ },
  { rule: "DEFAULT FALSE encoded in an IssuingDistributionPoint", mutate: (r) =>
      crlExts(r).children!.push({ tag: [0x30], children: [{ tag: [0x06], content: Uint8Array.of(0x55, 0x1d, 0x1c) }, { tag: [0x01], content: Uint8Array.of(0xff) }, { tag: [0x04], wraps: true, children: [{ tag: [0x30], children: [{ tag: [0x81], content: Uint8Array.of(0) }] }] }] }),
    reason: /IssuingDistributionPoint: FALSE encoded/ },
  { rule: "high-tag form for thisUpdate", mutate: (r) => (at(r, 0, 3).tag = [0x1f, 0x17]), reason: /non-minimal tag number/ },
  { rule: "GeneralizedTime with fractional seconds (an entry's revocationDate)", mutate: (r) => (at(r, 0, 5, 0).children![1] = { tag: [0x18], content: Buffer.from("20260224120000.25Z") }), reason: /fractional seconds/ },
  { rule: "TBSCertList.signature differs from signatureAlgorithm in parameters (NULL added inside only)", mutate: (r) => at(r, 0, 1).children!.push({ tag: [0x05], content: new Uint8Array(0) }), reason: /differs from signatureAlgorithm/ },
];

for (const m of CRL_MUTANTS) {
  test(`CRL, re-signed: ${m.rule} -> refused`, (t) => {
    const r = tree(crlDer);
    m.mutate(r);
    const der = resign(r, caKey);
    const why = crlRefusal(der);
    t.truthy(why, "refused");
    t.regex(why ?? "", m.reason);
  });
}

const OCSP_MUTANTS: Mutant[] = [
  { rule: "responseExtensions: DEFAULT critical FALSE encoded (extended revoke)", mutate: (b) => ocspExts(b).children!.push(extensionNode(OID_EXTENDED_REVOKE, nullNode(), false)), reason: /critical FALSE encoded/ },
  { rule: "responseExtensions: DEFAULT critical FALSE encoded on the nonce (its tolerance is for the value only)", mutate: (b) => extByOid(ocspExts(b), OID_NONCE).children!.splice(1, 0, { tag: [0x01], content: Uint8Array.of(0) }), reason: /critical FALSE encoded/ },
  { rule: "responseExtensions: a value that is not DER (NULL with content)", mutate: (b) => ocspExts(b).children!.push(extensionNode(OID_EXTENDED_REVOKE, { tag: [0x05], content: Uint8Array.of(0) })), reason: /NULL with content/ },
  { rule: "responseExtensions: a value with a long-form length below 128", mutate: (b) => ocspExts(b).children!.push(extensionNode(OID_EXTENDED_REVOKE, { ...nullNode(), len: "long" })), reason: /non-minimal length/ },
  { rule: "responseExtensions: trailing data after a value", mutate: (b) => {
      const e = extensionNode(OID_EXTENDED_REVOKE, nullNode());
      e.children!.at(-1)!.children!.push(nullNode());
      ocspExts(b).children!.push(e);
    }, reason: /trailing data after the value/ },
  { rule: "responseExtensions: the nonce extnValue OCTET STRING itself with a long-form length (the tolerance is for what it holds)", mutate: (b) => (extByOid(ocspExts(b), OID_NONCE).children!.at(-1)!.len = "long"), reason: /non-minimal length/ },
  { rule: "empty responseExtensions SEQUENCE", mutate: (b) => (ocspExts(b).children = []), reason: /empty extensions/ },
  { rule: "singleExtensions: DEFAULT critical FALSE encoded", mutate: (b) => at(b, 0, 2, 0).children!.push({ tag: [0xa1], children: [{ tag: [0x30], children: [extensionNode(OID_EXTENDED_REVOKE, nullNode(), false)] }] }), reason: /critical FALSE encoded/ },
  { rule: "singleExtensions: a value that is not DER (BOOLEAN 0x01)", mutate: (b) => at(b, 0, 2, 0).children!.push({ tag: [0xa1], children: [{ tag: [0x30], children: [extensionNode(OID_EXTENDED_REVOKE, { tag: [0x01], content: Uint8Array.of(1) })] }] }), reason: /BOOLEAN is not 0x00 or 0xFF/ },
  { rule: "responderID byName: constructed UTF8String (BER) in the Name", mutate: (b) => {
      const n = parse(caName);
      const v = at(n, 2, 0, 1); // CN=Strict CA
      at(n, 2, 0).children![1] = { tag: [0x2c], children: [{ tag: [0x0c], content: v.content! }] };
      at(b, 0).children![0] = { tag: [0xa1], children: [n] };
    }, reason: /constructed encoding of universal type 12/ },
  { rule: "responderID byName: BOOLEAN 0x01 as an attribute value", mutate: (b) => {
      const n = parse(caName);
      at(n, 2, 0).children![1] = { tag: [0x01], content: Uint8Array.of(1) };
      at(b, 0).children![0] = { tag: [0xa1], children: [n] };
    }, reason: /BOOLEAN is not 0x00 or 0xFF/ },
];

test("OCSP response, re-signed: the byName responderID and a nonce echoed bare (not DER inside) are accepted; the mutants below are not", (t) => {
  const byName = ocspTree(ocspDer());
  at(byName.basic, 0).children![0] = { tag: [0xa1], children: [parse(caName)] };
  t.is(ocspRefusal(resignOcsp(byName, caKey)), undefined, "responderID byName, the CA's Name");
  // a responder echoing the nonce without its OCTET STRING: extnValue holds the bare octets, here not even DER (04 81 01 ..)
  const bare = Uint8Array.of(0x04, 0x81, 0x01, 0xaa);
  const bareExt = Uint8Array.from([0x30, 2 + OID_NONCE.length + 2 + bare.length, 0x06, OID_NONCE.length, ...OID_NONCE, 0x04, bare.length, ...bare]);
  const r = new OcspResponse(ocspDer(bareExt));
  t.is(r.nonce, Buffer.from(bare).toString("hex"));
  const v = new Validator().validate(leafCert, { anchors: [caCert], ocspResponses: [ocspDer(bareExt)], ocspNonce: bare, time: T, usage: "authentication" });
  t.true(v.valid, "the nonce's value is the one extnValue not held to DER");
});

for (const m of OCSP_MUTANTS) {
  test(`OCSP response, re-signed: ${m.rule} -> refused`, (t) => {
    const o = ocspTree(ocspDer());
    m.mutate(o.basic);
    const why = ocspRefusal(resignOcsp(o, caKey));
    t.truthy(why, "refused");
    t.regex(why ?? "", m.reason);
  });
}

/** The signature BIT STRING's unused-bits octet set to `unused` (outside the signed bytes: no re-signing). */
function withUnusedBits(der: Uint8Array, unused: number): Uint8Array {
  const r = parse(der);
  r.children![2].content = Uint8Array.from([unused, ...r.children![2].content!.subarray(1)]);
  return encode(r);
}

test("signature BIT STRING with 1-7 unused bits: the view says why, the validator answers bad-signature / crl-bad-signature (28 mutants)", (t) => {
  // 7 counts x (leaf, intermediate CA, a CRL with entries, an empty CRL) = 28 mutants; today's OpenSSL refuses all of them too.
  const subKey = softwareSigningKey(generateEcKeyPair("P-256").privateKey);
  const subName = encodeName([[OID.commonName, "Strict Sub CA"]]);
  const sub = buildCertificate({ serial: Uint8Array.of(2), issuer: caName, subject: subName, notBefore: T - 9 * DAY, notAfter: T + 90 * DAY, spki: subKey.spki, extensions: [ext.basicConstraints(true, 0), ext.keyUsage([KU.keyCertSign, KU.cRLSign]), ext.subjectKeyIdentifier(keyIdentifier(subKey.spki)), ext.authorityKeyIdentifier(keyIdentifier(caKey.spki))] }, caKey);
  const leaf2 = buildCertificate({ serial: Uint8Array.of(3), issuer: subName, subject: encodeName([[OID.commonName, "Leaf 2"]]), notBefore: T - DAY, notAfter: T + 9 * DAY, spki: leafKey.spki, extensions: [ext.keyUsage([KU.digitalSignature]), ext.authorityKeyIdentifier(keyIdentifier(subKey.spki))] }, subKey);
  const emptyCrl = buildCrl({ ...crlSpec, crlNumber: 6n, thisUpdate: T - 2 * DAY, nextUpdate: T + 5 * DAY, entries: [] });
  const validate = (leaf: Uint8Array, o: { intermediates?: Uint8Array[]; crls?: Uint8Array[] }) => new Validator().validate(leaf, { anchors: [caCert], time: T, usage: "authentication", ...o });
  t.true(validate(leaf2, { intermediates: [sub] }).valid, "control: the unmutated chain");
  t.true(validate(leafCert, { crls: [emptyCrl] }).valid, "control: the unmutated CRL");
  const verdicts: string[] = [];
  for (let unused = 1; unused <= 7; unused++) {
    const leafM = withUnusedBits(leafCert, unused);
    const subM = withUnusedBits(sub, unused);
    t.regex(new Certificate(leafM).signatureDefect ?? "", new RegExp(`${unused} unused bits \\(must be 0\\)`));
    t.is(new Certificate(leafM).signature.length, 0, "no signature octets to verify");
    for (const r of [validate(leafM, {}), validate(leaf2, { intermediates: [subM] })]) verdicts.push(codeAt(r));
    for (const crl of [crlDer, emptyCrl]) {
      const m = withUnusedBits(crl, unused);
      t.truthy(new Crl(m).signatureDefect);
      const r = validate(leafCert, { crls: [m] });
      verdicts.push(codeAt(r));
    }
  }
  t.is(verdicts.length, 28);
  t.deepEqual(new Set(verdicts), new Set(["bad-signature@0", "bad-signature@1", "crl-bad-signature@0"]));
});

test("OCSP response signature BIT STRING with 1-7 unused bits: the view says why, the validator answers ocsp-bad-signature with that reason (7 mutants)", (t) => {
  const der = ocspDer();
  t.is(ocspRefusal(der), undefined, "control: the unmutated response");
  for (let unused = 1; unused <= 7; unused++) {
    const outer = parse(der);
    basicOf(outer).content = withUnusedBits(basicOf(outer).content!, unused);
    const m = encode(outer);
    const view = new OcspResponse(m);
    const defect = new RegExp(`signature BIT STRING has ${unused} unused bits \\(must be 0\\)`);
    t.regex(view.signatureDefect ?? "", defect);
    t.is(view.signature.length, 0, "no signature octets to verify");
    const r = new Validator().validate(leafCert, { anchors: [caCert], ocspResponses: [m], time: T, usage: "authentication" });
    t.is(codeAt(r), "ocsp-bad-signature@0");
    if (!r.valid) t.regex(r.detail, defect, "the detail is the defect, as for certificates and CRLs");
  }
});

// ------------------------------------------------------------------ properties

/** A node picked by a path of random numbers, and the rule applied to it. */
type Rule = "long-length" | "indefinite" | "high-tag" | "integer-pad" | "boolean" | "constructed-string";
const RULES: Rule[] = ["long-length", "indefinite", "high-tag", "integer-pad", "boolean", "constructed-string"];

function nodes(n: Node, out: Node[] = []): Node[] {
  out.push(n);
  for (const c of n.children ?? []) nodes(c, out);
  return out;
}

const STRING_TAGS = new Set([0x0c, 0x13, 0x16]);
/** Applies `rule` to the `pick`-th node it applies to; false when no node qualifies. */
function applyRule(tbs: Node, rule: Rule, pick: number): boolean {
  const all = nodes(tbs);
  const fits = all.filter((n) => {
    const tag = n.tag[0];
    switch (rule) {
      case "long-length":
      case "high-tag":
        return n.tag.length === 1;
      case "indefinite":
        return n.children !== undefined && !n.wraps;
      case "integer-pad":
        return (tag === 0x02 || tag === 0x0a) && n.content !== undefined && n.content.length > 0;
      case "boolean":
        return tag === 0x01;
      case "constructed-string":
        return STRING_TAGS.has(tag);
    }
  });
  if (fits.length === 0) return false;
  const n = fits[pick % fits.length];
  switch (rule) {
    case "long-length":
      n.len = "long";
      break;
    case "indefinite":
      n.len = "indefinite";
      break;
    case "high-tag":
      n.tag = [n.tag[0] | 0x1f, n.tag[0] & 0x1f];
      break;
    case "integer-pad":
      n.content = Uint8Array.from([n.content![0] & 0x80 ? 0xff : 0x00, ...n.content!]);
      break;
    case "boolean":
      n.content = Uint8Array.of(1 + (pick % 0xfe));
      break;
    case "constructed-string":
      n.children = [{ tag: [n.tag[0]], content: n.content! }];
      n.content = undefined;
      n.tag = [n.tag[0] | 0x20];
      break;
  }
  return true;
}

const nameText = fc.string({ minLength: 1, maxLength: 40, unit: "grapheme" }).filter((s) => s.trim() !== "" && !/[\u0000-\u001f\u007f-\u009f]/.test(s));
const certSpec = fc.record({
  serial: fc.uint8Array({ minLength: 1, maxLength: 20 }).filter((b) => b.some((x) => x !== 0)),
  cn: nameText,
  org: fc.option(nameText, { nil: undefined }),
  // digitalSignature always: the validator checks the "authentication" usage
  ku: fc.subarray([KU.nonRepudiation, KU.keyEncipherment, KU.keyAgreement, KU.decipherOnly]).map((b) => [KU.digitalSignature, ...b]),
  local: fc.stringMatching(/^[a-z0-9]{1,12}(\.[a-z0-9]{1,8})?$/),
  days: fc.integer({ min: 1, max: 20_000 }),
});

function buildLeaf(s: typeof certSpec extends fc.Arbitrary<infer R> ? R : never): Uint8Array {
  const subject = encodeName(s.org ? [[OID.commonName, s.cn], [OID.organization, s.org]] : [[OID.commonName, s.cn]]);
  return buildCertificate(
    {
      serial: s.serial,
      issuer: caName,
      subject,
      notBefore: T - DAY,
      notAfter: T + s.days * DAY,
      spki: leafKey.spki,
      extensions: [ext.basicConstraints(false), ext.keyUsage(s.ku), ext.authorityKeyIdentifier(keyIdentifier(caKey.spki)), ext.emailAltName(`${s.local}@example.org`)],
    },
    caKey,
  );
}

test("property: certificates from the builders are accepted; any single-rule mutation of the signed part is refused, only ever with DecodeError", (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(certSpec, fc.constantFrom(...RULES), fc.nat(), (spec, rule, pick) => {
        const der = buildLeaf(spec);
        if (certRefusal(der) !== undefined) return false;
        const r = tree(der);
        fc.pre(applyRule(r.children![0], rule, pick));
        const why = certRefusal(resign(r, caKey)); // throws if anything but DecodeError escapes
        return why !== undefined && !/^bad-signature/.test(why);
      }),
      { numRuns: 150 },
    ),
  );
});

test("property: CRLs from the builders are accepted; any single-rule mutation of the signed part is refused, only ever with DecodeError", (t) => {
  const entry = fc.record({ serial: fc.uint8Array({ minLength: 1, maxLength: 20 }).filter((b) => b[0] !== 0), ago: fc.integer({ min: 1, max: 900 }), reason: fc.constantFrom(undefined, 1, 3, 4, 5, 6, 9) });
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 6 }), fc.bigInt({ min: 1n, max: (1n << 100n) - 1n }), fc.constantFrom(...RULES), fc.nat(), (entries, crlNumber, rule, pick) => {
        const der = buildCrl({
          ...crlSpec,
          crlNumber,
          thisUpdate: T - DAY,
          nextUpdate: T + DAY,
          entries: entries.map((e): [string, number, number | null] => [Buffer.from(e.serial).toString("hex"), T - e.ago * DAY, e.reason ?? null]),
        });
        if (crlRefusal(der) !== undefined) return false;
        const r = tree(der);
        fc.pre(applyRule(r.children![0], rule, pick));
        const why = crlRefusal(resign(r, caKey));
        return why !== undefined && !/^crl-bad-signature/.test(why);
      }),
      { numRuns: 150 },
    ),
  );
});
