import test from "ava";
import { readFileSync } from "node:fs";
import { OID, ResultCodes, Validator, ext, errorResponse, type ResultCode, type ValidateOptions, type ValidationResult } from "../pki/index.js";
import { KU, NULL, type CertSpec, type CrlSpec, type OcspSpec, type TestKey, buildCert, buildCrl, buildOcsp, integer, keyId, name, newKey, oid, seq, tlv } from "../pki/testing/builder.js";
import { codeAt, explain, extensionSpec } from "../pki/testing/assertions.js";
import { pkits, validatePkits } from "../pki/testing/pkits.js";
import { REASONS } from "../cli/validate-reasons.js";
import { runCardloop } from "./support/pki-tools.js";

/**
 * Every reason code the validator can give: one minimal input per code that produces
 * exactly that code, at the position it belongs to (0 = the leaf), through
 * `new Validator().validate`; and each code explained where a user looks: in
 * pki/README.md (as `code`) and in `cardloop validate --help` (a line with its meaning).
 * Each input is the baseline hierarchy (root -> CA -> leaf, valid) with one thing wrong.
 */

const DAY = 86_400_000;
const NOW = Date.UTC(2031, 5, 1);
const P1 = "2.16.840.1.101.3.2.1.48.1";
const CLIENT_AUTH = OID.kpClientAuth;
const SERVER_AUTH = OID.kpServerAuth;
const UNKNOWN_OID = "1.3.6.1.4.1.55555.9";

const rootKey = newKey("p256");
const caKey = newKey("p256");
const leafKey = newKey("p256");
const rootName = name(["CN", "Codes Root"]);
const caName = name(["CN", "Codes CA"]);

const root = (o: Partial<CertSpec> = {}) =>
  buildCert({ serial: 1, issuer: rootName, subject: rootName, notBefore: NOW - 900 * DAY, notAfter: NOW + 900 * DAY, subjectKey: rootKey, issuerKey: rootKey, ca: true, keyUsage: KU.keyCertSign | KU.cRLSign, ...o });
const ca = (o: Partial<CertSpec> = {}) =>
  buildCert({ serial: 2, issuer: rootName, subject: caName, notBefore: NOW - 800 * DAY, notAfter: NOW + 800 * DAY, subjectKey: caKey, issuerKey: rootKey, ca: true, keyUsage: KU.keyCertSign | KU.cRLSign, ...o });
const leaf = (o: Partial<CertSpec> = {}) =>
  buildCert({ serial: 10, issuer: caName, subject: name(["CN", "Holder"]), notBefore: NOW - 10 * DAY, notAfter: NOW + 10 * DAY, subjectKey: leafKey, issuerKey: caKey, ca: false, keyUsage: KU.digitalSignature, ...o });
const caCrl = (o: Partial<CrlSpec> = {}) => buildCrl({ issuer: caName, issuerKey: caKey, thisUpdate: NOW - DAY, nextUpdate: NOW + DAY, entries: [], ...o });
const rootCrl = buildCrl({ issuer: rootName, issuerKey: rootKey, thisUpdate: NOW - DAY, nextUpdate: NOW + DAY, entries: [] });
const ocsp = (single: Partial<OcspSpec["responses"][number]> = {}, o: Partial<OcspSpec> = {}) =>
  buildOcsp({ responderName: caName, signer: caKey, producedAt: NOW, responses: [{ issuerName: caName, issuerKey: caKey, serial: 10, status: "good", thisUpdate: NOW - 3600_000, nextUpdate: NOW + DAY, ...single }], ...o });

/** The last octet of a signed object flipped: the DER still decodes (it ends inside the signature's s), the signature no longer verifies. */
const flipLast = (der: Uint8Array) => Uint8Array.from(der, (b, i) => (i === der.length - 1 ? b ^ 1 : b));

interface Input {
  leaf?: Uint8Array;
  anchors?: Uint8Array[];
  intermediates?: Uint8Array[];
}
/** The baseline with the parts given replaced, and options over the defaults. */
function check(i: Input = {}, opts: Partial<ValidateOptions> = {}): ValidationResult {
  return new Validator().validate(i.leaf ?? leaf(), { anchors: i.anchors ?? [root()], intermediates: i.intermediates ?? [ca()], time: NOW, ...opts });
}
const withCa = (o: Partial<CertSpec>, l: Partial<CertSpec> = {}, opts: Partial<ValidateOptions> = {}) => check({ intermediates: [ca(o)], leaf: leaf(l) }, opts);
const withLeaf = (o: Partial<CertSpec>, opts: Partial<ValidateOptions> = {}) => check({ leaf: leaf(o) }, opts);
const withCrl = (crl: Uint8Array, i: Input = {}) => check(i, { crls: [rootCrl, crl] });
const withOcsp = (response: Uint8Array, opts: Partial<ValidateOptions> = {}) => check({}, { crls: [rootCrl], ocspResponses: [response], ...opts });
const pkitsCase = (n: string) => validatePkits(new Validator(), pkits.cases.find((c) => c.number === n)!);

/** A chain of `n` CAs under the root (each issuing the next) and a leaf under the last. */
function longChain(n: number): Input {
  const keys: TestKey[] = [rootKey, ...Array.from({ length: n }, () => newKey("p256"))];
  const names = [rootName, ...keys.slice(1).map((_, i) => name(["CN", `Long CA ${i + 1}`]))];
  const cas = keys.slice(1).map((k, i) => buildCert({ serial: 100 + i, issuer: names[i], subject: names[i + 1], notBefore: NOW - 800 * DAY, notAfter: NOW + 800 * DAY, subjectKey: k, issuerKey: keys[i], ca: true, keyUsage: KU.keyCertSign | KU.cRLSign }));
  return { intermediates: cas, leaf: leaf({ issuer: names[n], issuerKey: keys[n] }) };
}

/** A leaf under the root directly, RSA-signed, its signature algorithm rewritten to md5WithRSAEncryption (both copies). */
function md5Leaf(): Input {
  const rsa = newKey("rsa");
  const rsaRootName = name(["CN", "RSA Root"]);
  const rsaRoot = buildCert({ serial: 1, issuer: rsaRootName, subject: rsaRootName, notBefore: NOW - 900 * DAY, notAfter: NOW + 900 * DAY, subjectKey: rsa, issuerKey: rsa, ca: true, keyUsage: KU.keyCertSign | KU.cRLSign });
  const der = leaf({ issuer: rsaRootName, issuerKey: rsa });
  const hex = Buffer.from(der).toString("hex").split(Buffer.from(oid("1.2.840.113549.1.1.11")).toString("hex")).join(Buffer.from(oid("1.2.840.113549.1.1.4")).toString("hex"));
  return { leaf: Uint8Array.from(Buffer.from(hex, "hex")), anchors: [rsaRoot], intermediates: [] };
}

const registeredId = (dotted: string) => tlv(0x88, oid(dotted).subarray(2)); // GeneralName [8] IMPLICIT OBJECT IDENTIFIER
const policies = (...oids: string[]) => extensionSpec(ext.certificatePolicies(oids));
// What pki/build refuses to write (RFC 5280 4.2.1.4, 4.2.1.5 MUST NOTs), so written here by hand.
const duplicatePolicies = (p: string) => ({ oid: OID.certificatePolicies, value: seq(seq(oid(p)), seq(oid(p))) });
const mapsAnyPolicy = (to: string) => ({ oid: OID.policyMappings, critical: true, value: seq(seq(oid(OID.anyPolicy), oid(to))) });

/** [code, position, what is wrong, the validation]: one row per code, more where a code belongs at several positions. */
const CASES: Array<[ResultCode, number, string, () => ValidationResult]> = [
  ["malformed", 0, "the leaf's subjectAltName is an INTEGER, not GeneralNames", () => withLeaf({ extra: [{ oid: OID.subjectAltName, value: integer(5) }] })],
  ["expired", 0, "the leaf's notAfter is a day before the validation time", () => withLeaf({ notAfter: NOW - DAY })],
  ["not-yet-valid", 0, "the leaf's notBefore is a day after it", () => withLeaf({ notBefore: NOW + DAY })],
  ["revoked", 0, "the CA's CRL lists the leaf", () => withCrl(caCrl({ entries: [{ serial: 10, date: NOW - 2 * DAY, reason: 1 }] }))],
  ["bad-signature", 0, "the leaf's signature has one bit flipped", () => check({ leaf: flipLast(leaf()) })],
  ["unsupported-signature-algorithm", 0, "the leaf says md5WithRSAEncryption", () => check(md5Leaf())],
  ["unknown-issuer", 0, "the CA is not given", () => check({ intermediates: [] })],
  ["path-length", 1, "a sub-CA under a CA with pathLenConstraint 0", () => {
    const subKey = newKey("p256");
    const subName = name(["CN", "Sub CA"]);
    const sub = buildCert({ serial: 3, issuer: caName, subject: subName, notBefore: NOW - 700 * DAY, notAfter: NOW + 700 * DAY, subjectKey: subKey, issuerKey: caKey, ca: true, keyUsage: KU.keyCertSign | KU.cRLSign });
    return check({ intermediates: [ca({ pathLen: 0 }), sub], leaf: leaf({ issuer: subName, issuerKey: subKey }) });
  }],
  ["basic-constraints", 1, "the CA has no basicConstraints", () => withCa({ ca: undefined, keyUsage: undefined })],
  ["key-usage", 1, "the CA's keyUsage lacks keyCertSign", () => withCa({ keyUsage: KU.cRLSign })],
  ["key-usage", 0, "the leaf lacks nonRepudiation, usage signature asked", () => check({}, { usage: "signature" })],
  ["unknown-critical-extension", 0, "the leaf has an unknown critical extension", () => withLeaf({ extra: [{ oid: UNKNOWN_OID, critical: true, value: NULL }] })],
  ["path-too-long", 10, "ten CAs between the leaf and the root", () => check(longChain(10))],
  ["crl-missing", 0, "revocation required, no CRL of the CA", () => check({}, { crls: [rootCrl], revocation: "require" })],
  ["crl-expired", 0, "the CA's CRL is past its nextUpdate", () => withCrl(caCrl({ thisUpdate: NOW - 10 * DAY, nextUpdate: NOW - DAY }))],
  ["crl-bad-signature", 0, "the CA's CRL has one bit of its signature flipped", () => withCrl(flipLast(caCrl()))],
  ["crl-unknown-critical-extension", 0, "the CA's CRL has an unknown critical extension", () => withCrl(caCrl({ extra: [{ oid: UNKNOWN_OID, critical: true, value: NULL }] }))],
  ["crl-issuer-key-usage", 0, "the CA's keyUsage lacks cRLSign, and it signs the CRL", () => withCrl(caCrl(), { intermediates: [ca({ keyUsage: KU.keyCertSign })] })],
  // PKITS 4.4.21: the CRL is signed by the CA's separate CRL-signing certificate, which is revoked.
  ["crl-signer-invalid", 0, "PKITS 4.4.21: the CRL signer's own certificate is revoked", () => pkitsCase("4.4.21")],
  ["ocsp-bad-signature", 0, "the OCSP response's signature is corrupt", () => withOcsp(ocsp({}, { badSignature: true }))],
  ["ocsp-unauthorized-responder", 0, "the OCSP response is signed by a key the CA never delegated to", () => withOcsp(ocsp({}, { responderName: name(["CN", "Stranger"]), signer: newKey("p256") }))],
  ["ocsp-expired", 0, "the OCSP answer's nextUpdate is past", () => withOcsp(ocsp({ thisUpdate: NOW - 10 * DAY, nextUpdate: NOW - DAY }))],
  ["ocsp-unknown-status", 0, "the OCSP responder answers unknown", () => withOcsp(ocsp({ status: "unknown" }))],
  ["ocsp-nonce-mismatch", 0, "the OCSP response echoes another nonce", () => withOcsp(ocsp({}, { nonce: Uint8Array.of(1, 2, 3, 4) }), { ocspNonce: Uint8Array.of(9, 9, 9, 9) })],
  // An error-status response (tryLater) and no other evidence for the leaf: the response is why there is no answer.
  ["ocsp-unsuccessful", 0, "the only OCSP response is tryLater", () => withOcsp(errorResponse(3))],
  ["name-not-permitted", 0, "the leaf's dNSName is outside the CA's permitted subtree", () =>
    withCa({ extra: [extensionSpec(ext.nameConstraints({ permitted: { dNSName: ["example.com"] } }))] }, { extra: [extensionSpec(ext.subjectAltName([{ dNSName: "host.example.org" }]))] })],
  ["name-excluded", 0, "the leaf's dNSName is inside the CA's excluded subtree", () =>
    withCa({ extra: [extensionSpec(ext.nameConstraints({ excluded: { dNSName: ["example.com"] } }))] }, { extra: [extensionSpec(ext.subjectAltName([{ dNSName: "host.example.com" }]))] })],
  ["name-constraints-unsupported", 0, "a registeredID constraint and a registeredID name", () =>
    withCa({ extra: [{ oid: OID.nameConstraints, critical: true, value: seq(tlv(0xa0, seq(registeredId("1.2.3.4")))) }] }, { extra: [{ oid: OID.subjectAltName, value: seq(registeredId("1.2.3.5")) }] })],
  ["no-valid-policy", 0, "an explicit policy required, the CA asserts one, the leaf none", () => withCa({ extra: [policies(P1)] }, {}, { initialExplicitPolicy: true })],
  ["policy-mapping-any", 1, "the CA maps anyPolicy to a policy", () =>
    withCa({ extra: [policies(OID.anyPolicy), mapsAnyPolicy(P1)] })],
  ["extended-key-usage", 0, "the leaf allows clientAuth, serverAuth asked", () => withLeaf({ eku: [CLIENT_AUTH] }, { eku: [SERVER_AUTH] })],
  ["extended-key-usage", 1, "the CA restricts to serverAuth, clientAuth asked", () => withCa({ eku: [SERVER_AUTH] }, { eku: [CLIENT_AUTH] }, { eku: [CLIENT_AUTH] })],
  ["extended-key-usage", 2, "the anchor restricts to serverAuth, clientAuth asked", () => check({ anchors: [root({ eku: [SERVER_AUTH] })], leaf: leaf({ eku: [CLIENT_AUTH] }) }, { eku: [CLIENT_AUTH] })],
  ["profile-serial-number", 0, "the leaf's serial number is zero", () => withLeaf({ serial: 0 })],
  ["profile-time-encoding", 0, "pedantic: the leaf's 2031 validity as GeneralizedTime", () => withLeaf({ generalizedTimes: true }, { profile: "pedantic" })],
  ["profile-empty-subject", 0, "the leaf's subject is empty and it has no subjectAltName", () => withLeaf({ subject: seq() })],
  ["profile-empty-extension", 0, "the leaf's extendedKeyUsage is empty", () => withLeaf({ eku: [] })],
  ["profile-extension-criticality", 1, "the CA's nameConstraints is not critical", () =>
    withCa({ extra: [{ ...extensionSpec(ext.nameConstraints({ permitted: { dNSName: ["example.com"] } })), critical: false }] })],
  ["profile-missing-authority-key-id", 0, "the leaf has no authorityKeyIdentifier", () => withLeaf({ keyIds: false })],
  ["profile-missing-subject-key-id", 1, "the CA has an authorityKeyIdentifier but no subjectKeyIdentifier", () =>
    withCa({ keyIds: false, extra: [extensionSpec(ext.authorityKeyIdentifier(keyId(rootKey.spki)))] })],
  ["profile-key-usage", 0, "the leaf asserts keyCertSign without being a CA", () => withLeaf({ keyUsage: KU.digitalSignature | KU.keyCertSign })],
  ["profile-duplicate-policy", 0, "the leaf lists one policy twice", () => withLeaf({ extra: [duplicatePolicies(P1)] })],
  ["profile-name-constraints-in-leaf", 0, "the leaf carries nameConstraints", () => withLeaf({ extra: [extensionSpec(ext.nameConstraints({ permitted: { dNSName: ["example.com"] } }))] })],
  ["crl-number-missing", 0, "the CA's CRL has no cRLNumber", () => withCrl(caCrl({ crlNumber: null }))],
  ["crl-number-critical", 0, "the CA's CRL marks its cRLNumber critical", () => withCrl(caCrl({ crlNumber: null, extra: [{ oid: OID.crlNumber, critical: true, value: integer(1) }] }))],
  // issuingDistributionPoint with onlySomeReasons {keyCompromise}: the one CRL covers one reason of nine.
  ["crl-reasons-incomplete", 0, "the CA's only CRL covers keyCompromise only", () =>
    withCrl(caCrl({ extra: [{ oid: OID.issuingDistributionPoint, critical: true, value: seq(tlv(0x83, Uint8Array.of(6, 0x40))) }] }))],
];

test("the baseline (root -> CA -> leaf, both CRLs, a good OCSP answer) is valid: each case below changes one thing", (t) => {
  t.is(codeAt(check()), "valid");
  t.is(codeAt(check({}, { crls: [rootCrl, caCrl()], revocation: "require" })), "valid");
  t.is(codeAt(withOcsp(ocsp(), { revocation: "require" })), "valid");
  t.is(codeAt(check({}, { eku: [CLIENT_AUTH], initialExplicitPolicy: false, profile: "pedantic" })), "valid");
});

for (const [code, position, why, run] of CASES) {
  test(`${code}@${position}: ${why}`, (t) => {
    const r = run();
    t.is(codeAt(r), `${code}@${position}`, explain(r));
  });
}

test("every reason code has an input above (a code no input can produce is a defect: remove it)", (t) => {
  const covered = new Set<string>(CASES.map(([c]) => c));
  t.deepEqual(ResultCodes.filter((c) => !covered.has(c)), []);
});

const readme = readFileSync(new URL("../pki/README.md", import.meta.url), "utf8");

test("the CLI's table has exactly the reason codes of pki/errors.ts, each with a meaning", (t) => {
  t.deepEqual(Object.keys(REASONS).sort(), [...ResultCodes].sort());
  for (const c of ResultCodes) t.true(REASONS[c].length > 10 && !REASONS[c].includes("\n"), c);
});

test("every reason code appears in pki/README.md as `code`", (t) => {
  const missing = ResultCodes.filter((c) => !readme.includes(`\`${c}\``));
  t.deepEqual(missing, []);
});

test("every reason code appears in `cardloop validate --help`, with its meaning", async (t) => {
  const { code, stdout } = await runCardloop(t, ["validate", "--help"]);
  t.is(code, 0);
  const lines = stdout.split("\n");
  const missing = ResultCodes.filter((c) => !lines.some((l) => l.trim().startsWith(`${c} `) && l.includes(REASONS[c])));
  t.deepEqual(missing, []);
  t.regex(stdout, /\binput-error\b/);
});
