import test from "ava";
import { Validator } from "./index.js";
import { KU, type KeyType, type TestKey, buildCert, buildCrl, buildOcsp, name, newKey, twoLevelPki } from "./testing/builder.js";
import { codeAt } from "./testing/assertions.js";

/** Revocation by CRL and OCSP, validation at a past time, policies, usages and algorithms. */

const DAY = 86_400_000;
const NOW = Date.UTC(2031, 5, 1);
const { caKey, caName, root, ca, rootCrl, leafSpec: underCa } = twoLevelPki("rev", NOW);
const leafKey = newKey("p256");
const respKey = newKey("p256");
const leafName = name(["C", "XX"], ["CN", "Holder"]);

const leafSpec = underCa(77, leafName, leafKey);
const leaf = buildCert(leafSpec);
const caCrl = (entries: Parameters<typeof buildCrl>[0]["entries"], nextUpdate = NOW + 7 * DAY) => buildCrl({ issuer: caName, issuerKey: caKey, thisUpdate: NOW - DAY, nextUpdate, entries });

const base = { anchors: [root], intermediates: [ca], time: NOW };

test("CRL: revoked before the validation time is revoked, with reason and time", (t) => {
  const v = new Validator();
  const r = v.validate(leaf, { ...base, crls: [rootCrl, caCrl([{ serial: 77, date: NOW - 3 * DAY, reason: 1 }])] });
  t.false(r.valid);
  if (r.valid) return;
  t.is(r.code, "revoked");
  t.is(r.position, 0);
  t.deepEqual(r.revocation, { reason: "keyCompromise", time: NOW - 3 * DAY, source: "crl" });
});

test("CRL: a signature made before the revocation stays valid at its signing time", (t) => {
  const v = new Validator();
  const crl = buildCrl({ issuer: caName, issuerKey: caKey, thisUpdate: NOW + 5 * DAY, nextUpdate: NOW + 30 * DAY, entries: [{ serial: 77, date: NOW + 4 * DAY, reason: 4 }] });
  const signedAt = NOW - DAY;
  const r = v.validate(leaf, { ...base, time: signedAt, crls: [rootCrl, crl] });
  t.true(r.valid);
  if (r.valid) t.deepEqual(r.revocations, [{ reason: "superseded", time: NOW + 4 * DAY, source: "crl" }]);
  const after = v.validate(leaf, { ...base, time: NOW + 4 * DAY + 1, crls: [rootCrl, crl] });
  t.is(after.valid ? "valid" : after.code, "revoked");
});

test("CRL: invalidityDate before the signing time makes the signature untrustworthy", (t) => {
  const v = new Validator();
  const crl = buildCrl({ issuer: caName, issuerKey: caKey, thisUpdate: NOW + 5 * DAY, nextUpdate: NOW + 30 * DAY, entries: [{ serial: 77, date: NOW + 4 * DAY, reason: 1, invalidity: NOW - 10 * DAY }] });
  const r = v.validate(leaf, { ...base, time: NOW - DAY, crls: [rootCrl, crl] });
  t.false(r.valid);
  if (!r.valid) t.is(r.revocation?.invalidityTime, NOW - 10 * DAY);
});

test("CRL: certificateHold counts as revoked while on the list", (t) => {
  const r = new Validator().validate(leaf, { ...base, crls: [rootCrl, caCrl([{ serial: 77, date: NOW - DAY, reason: 6 }])] });
  t.false(r.valid);
  if (!r.valid) t.is(r.revocation?.reason, "certificateHold");
});

test("CRL: expired, badly signed, unknown critical entry extension", (t) => {
  const v = new Validator();
  const code = (crls: Uint8Array[]) => {
    const r = v.validate(leaf, { ...base, crls });
    return r.valid ? "valid" : r.code;
  };
  t.is(code([rootCrl, caCrl([], NOW - 1)]), "crl-expired");
  const forged = caCrl([]);
  forged[forged.length - 5] ^= 0x40;
  t.is(code([rootCrl, forged]), "crl-bad-signature");
  t.is(code([rootCrl, caCrl([{ serial: 5, date: NOW - DAY, extra: [{ oid: "1.2.3.4", critical: true, value: new Uint8Array([5, 0]) }] }])]), "crl-unknown-critical-extension");
  t.is(code([rootCrl]), "crl-missing");
  t.is(code([rootCrl, caCrl([])]), "valid");
});

test("revocation policy: if-present skips when nothing is given, require demands it, off ignores it", (t) => {
  const v = new Validator();
  t.true(v.validate(leaf, base).valid);
  const req = v.validate(leaf, { ...base, revocation: "require" });
  t.is(req.valid ? "valid" : req.code, "crl-missing");
  t.true(v.validate(leaf, { ...base, revocation: "off", crls: [rootCrl, caCrl([{ serial: 77, date: NOW - DAY }])] }).valid);
});

test("a 10,000-entry CRL is indexed: lookups find the right entry", (t) => {
  const entries = Array.from({ length: 10_000 }, (_, i) => ({ serial: 1_000_000 + i, date: NOW - 50 * DAY }));
  entries.push({ serial: 77, date: NOW - 2 * DAY });
  const big = caCrl(entries);
  const v = new Validator();
  const crl = v.crl(big);
  t.is(crl.size, 10_001);
  t.is(crl.lookup("0f4240")?.serial, "0f4240");
  t.is(crl.lookup("4d")?.revocationDate, NOW - 2 * DAY);
  t.is(crl.lookup("4e"), undefined);
  t.is(v.crl(big), crl, "a CRL passed again is not parsed again");
});

// ------------------------------------------------------------------ OCSP

const single = (over: Partial<Parameters<typeof buildOcsp>[0]["responses"][0]> = {}) => ({
  issuerName: caName,
  issuerKey: caKey,
  serial: 77,
  status: "good" as const,
  thisUpdate: NOW - 3600_000,
  nextUpdate: NOW + DAY,
  ...over,
});
const ocspFromCa = (over: Partial<Parameters<typeof buildOcsp>[0]> = {}) => buildOcsp({ responderName: caName, signer: caKey, producedAt: NOW - 3600_000, responses: [single()], ...over });
const ocspCode = (responses: Uint8Array[], extra: object = {}) => {
  const r = new Validator().validate(leaf, { ...base, crls: [rootCrl], ocspResponses: responses, ...extra });
  return r.valid ? "valid" : r.code;
};

test("OCSP: good answer signed by the CA (by name and by key hash)", (t) => {
  t.is(ocspCode([ocspFromCa()]), "valid");
  t.is(ocspCode([buildOcsp({ responderKey: caKey, signer: caKey, producedAt: NOW, responses: [single()] })]), "valid");
});

test("OCSP: revoked before the time is revoked; after it is still valid", (t) => {
  const v = new Validator();
  const before = v.validate(leaf, { ...base, crls: [rootCrl], ocspResponses: [ocspFromCa({ responses: [single({ status: "revoked", revocationTime: NOW - DAY, reason: 1 })] })] });
  t.false(before.valid);
  if (!before.valid) t.deepEqual(before.revocation, { reason: "keyCompromise", time: NOW - DAY, source: "ocsp" });
  const later = v.validate(leaf, { ...base, crls: [rootCrl], ocspResponses: [ocspFromCa({ responses: [single({ status: "revoked", revocationTime: NOW + DAY })] })] });
  t.true(later.valid);
});

test("OCSP: delegated responder needs id-kp-OCSPSigning from the CA", (t) => {
  const respName = name(["C", "XX"], ["CN", "OCSP responder"]);
  const delegate = (eku?: string[]) =>
    buildCert({ serial: 900, issuer: caName, subject: respName, notBefore: NOW - 10 * DAY, notAfter: NOW + 10 * DAY, subjectKey: respKey, issuerKey: caKey, keyUsage: KU.digitalSignature, eku });
  const withEku = buildOcsp({ responderName: respName, signer: respKey, producedAt: NOW, responses: [single()], certs: [delegate(["1.3.6.1.5.5.7.3.9"])] });
  t.is(ocspCode([withEku]), "valid");
  const withoutEku = buildOcsp({ responderName: respName, signer: respKey, producedAt: NOW, responses: [single()], certs: [delegate(["1.3.6.1.5.5.7.3.2"])] });
  t.is(ocspCode([withoutEku]), "ocsp-unauthorized-responder");
  const selfMade = buildOcsp({ responderName: respName, signer: respKey, producedAt: NOW, responses: [single()] });
  t.is(ocspCode([selfMade]), "ocsp-unauthorized-responder");
});

test("OCSP: bad signature, stale answer, unknown status, nonce", (t) => {
  t.is(ocspCode([ocspFromCa({ badSignature: true })]), "ocsp-bad-signature");
  t.is(ocspCode([ocspFromCa({ responses: [single({ nextUpdate: NOW - 1 })] })]), "ocsp-expired");
  t.is(ocspCode([ocspFromCa({ responses: [single({ nextUpdate: undefined, thisUpdate: NOW - 30 * DAY })] })]), "ocsp-expired");
  t.is(ocspCode([ocspFromCa({ responses: [single({ status: "unknown" })] })]), "ocsp-unknown-status");
  const nonce = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  t.is(ocspCode([ocspFromCa({ nonce })], { ocspNonce: nonce }), "valid");
  t.is(ocspCode([ocspFromCa({ nonce, bareNonce: true })], { ocspNonce: nonce }), "valid", "a nonce echoed without its OCTET STRING still matches");
  t.is(ocspCode([ocspFromCa({ nonce, bareNonce: true })], { ocspNonce: new Uint8Array([9, 9]) }), "ocsp-nonce-mismatch");
  // a bare nonce whose bytes happen to read as an OCTET STRING (04 02 ..) still matches as sent
  const lookalike = new Uint8Array([0x04, 0x02, 0xaa, 0xbb]);
  t.is(ocspCode([ocspFromCa({ nonce: lookalike, bareNonce: true })], { ocspNonce: lookalike }), "valid");
  t.is(ocspCode([ocspFromCa({ nonce })], { ocspNonce: new Uint8Array([9, 9]) }), "ocsp-nonce-mismatch");
  t.is(ocspCode([ocspFromCa()], { ocspNonce: nonce }), "ocsp-nonce-mismatch");
});

test("OCSP: a bad OCSP answer falls back to a good CRL", (t) => {
  const r = new Validator().validate(leaf, { ...base, crls: [rootCrl, caCrl([])], ocspResponses: [ocspFromCa({ badSignature: true })] });
  t.true(r.valid);
});

// ------------------------------------------------------------------ usages, extensions, algorithms

test("leaf usage: authentication needs digitalSignature, signature needs nonRepudiation", (t) => {
  const v = new Validator();
  const nr = buildCert({ ...leafSpec, serial: 78, keyUsage: KU.nonRepudiation });
  const code = (l: Uint8Array, usage: "authentication" | "signature") => {
    const r = v.validate(l, { ...base, usage });
    return r.valid ? "valid" : r.code;
  };
  t.is(code(leaf, "authentication"), "valid");
  t.is(code(leaf, "signature"), "key-usage");
  t.is(code(nr, "signature"), "valid");
  t.is(code(nr, "authentication"), "key-usage");
});

test("an unknown critical extension in the leaf is rejected; a non-critical one is ignored", (t) => {
  const v = new Validator();
  const crit = buildCert({ ...leafSpec, serial: 79, extra: [{ oid: "1.2.3.4.5", critical: true, value: new Uint8Array([5, 0]) }] });
  const r = v.validate(crit, base);
  t.is(codeAt(r), "unknown-critical-extension@0");
  const soft = buildCert({ ...leafSpec, serial: 80, extra: [{ oid: "1.2.3.4.5", value: new Uint8Array([5, 0]) }] });
  t.true(v.validate(soft, base).valid);
});

for (const type of ["p384", "ed25519", "rsa", "rsa-pss"] as KeyType[]) {
  test(`signature algorithm ${type}: valid chain verifies, a flipped bit does not`, (t) => {
    const k: TestKey = newKey(type);
    const n = name(["CN", `Root ${type}`]);
    // keyUsage: the strict profile (the default) wants it in a CA (RFC 5280 4.2.1.3).
    const r = buildCert({ serial: 1, issuer: n, subject: n, notBefore: NOW - DAY, notAfter: NOW + DAY, subjectKey: k, issuerKey: k, ca: true, keyUsage: KU.keyCertSign | KU.cRLSign });
    const l = buildCert({ serial: 2, issuer: n, subject: name(["CN", "leaf"]), notBefore: NOW - DAY, notAfter: NOW + DAY, subjectKey: leafKey, issuerKey: k });
    const v = new Validator();
    t.true(v.validate(l, { anchors: [r], time: NOW }).valid);
    const bad = l.slice();
    bad[bad.length - 2] ^= 1;
    const res = v.validate(bad, { anchors: [r], time: NOW });
    t.is(res.valid ? "valid" : res.code, "bad-signature");
  });
}

test("the parse cache returns the same view for the same bytes", (t) => {
  const v = new Validator();
  t.is(v.certificate(ca), v.certificate(ca));
});

test("copies of the same intermediate and CRL bytes reuse one parsed (and verified) view", (t) => {
  const v = new Validator();
  t.is(v.certificate(ca.slice()), v.certificate(ca.slice()));
  const big = caCrl([]);
  t.is(v.crl(big.slice()), v.crl(big.slice()));
  t.not(v.certificate(ca), v.certificate(root));
});

test("CRL: an expired CRL still proves a listed revocation, but not a hold or a good status", (t) => {
  const v = new Validator();
  const code = (entries: Parameters<typeof caCrl>[0]) => {
    const r = v.validate(leaf, { ...base, crls: [rootCrl, caCrl(entries, NOW - 1)] });
    return r.valid ? "valid" : r.code;
  };
  t.is(code([{ serial: 77, date: NOW - 3 * DAY, reason: 1 }]), "revoked");
  t.is(code([{ serial: 77, date: NOW - 3 * DAY, reason: 6 }]), "crl-expired");
  t.is(code([]), "crl-expired");
});

test("CRL: strict profile refuses a CRL without a cRLNumber or with a critical one (RFC 5280 5.2.3); lenient takes both", (t) => {
  const v = new Validator();
  const noNumber = buildCrl({ issuer: caName, issuerKey: caKey, thisUpdate: NOW - DAY, nextUpdate: NOW + 7 * DAY, entries: [], crlNumber: null });
  const critical = buildCrl({ issuer: caName, issuerKey: caKey, thisUpdate: NOW - DAY, nextUpdate: NOW + 7 * DAY, entries: [], crlNumber: null, extra: [{ oid: "2.5.29.20", critical: true, value: new Uint8Array([2, 1, 5]) }] });
  const code = (crl: Uint8Array, profile: "strict" | "lenient", extra: Uint8Array[] = []) => {
    const r = v.validate(leaf, { ...base, crls: [rootCrl, crl, ...extra], profile });
    return codeAt(r);
  };
  t.is(code(noNumber, "strict"), "crl-number-missing@0");
  t.is(code(critical, "strict"), "crl-number-critical@0");
  t.is(code(noNumber, "lenient"), "valid");
  t.is(code(critical, "lenient"), "valid");
  t.is(code(noNumber, "strict", [caCrl([])]), "valid", "another CRL answers");
});

test("CRL: a second complete CRL listing the certificate revokes it, though the first already covered every reason", (t) => {
  const r = new Validator().validate(leaf, { ...base, crls: [rootCrl, caCrl([]), caCrl([{ serial: 77, date: NOW - DAY, reason: 1 }])] });
  t.is(r.valid ? "valid" : r.code, "revoked");
});
