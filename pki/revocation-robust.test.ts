import test from "ava";
import { Validator } from "./index.js";
import { errorResponse } from "./build/ocsp-response.js";
import { KU, type CrlEntrySpec, type ExtensionSpec, type TestKey, buildCert, buildCrl, buildOcsp, newKey, seq, tlv, twoLevelPki } from "./testing/builder.js";

/**
 * Revocation against hostile or untidy inputs: forged CRLs cost a bounded number of signature
 * checks (the validation's budget, the CRL's authorityKeyIdentifier), nothing of a CRL is read
 * before it is authenticated and a CRL that does not decode fails alone, a newer CRL releases a
 * hold (RFC 5280 5.2.3, 5.3.1), and an error-status OCSP response is an answer (RFC 6960 4.2.1).
 */

const DAY = 86_400_000;
const NOW = Date.UTC(2031, 5, 1);
const p = twoLevelPki("robust", NOW);
const base = { anchors: [p.root], intermediates: [p.ca], time: NOW };
const stranger = newKey("p256");
let serial = 1000;
const freshLeaf = () => buildCert(p.leafSpec(++serial));
const leaf = buildCert(p.leafSpec(77));
const verdict = (r: ReturnType<Validator["validate"]>) => (r.valid ? "valid" : `${r.code}@${r.position}`);
type CrlOver = { key?: TestKey; entries?: CrlEntrySpec[]; extra?: ExtensionSpec[]; crlNumber?: number | null; thisUpdate?: number; nextUpdate?: number };
const caCrl = (o: CrlOver = {}) =>
  buildCrl({ issuer: p.caName, issuerKey: o.key ?? p.caKey, thisUpdate: o.thisUpdate ?? NOW - DAY, nextUpdate: o.nextUpdate ?? NOW + 7 * DAY, entries: o.entries ?? [], extra: o.extra, crlNumber: o.crlNumber });
/** A crlReason whose ENUMERATED has a redundant leading octet: not DER (found only when the entries are indexed). */
const nonDerEntry: CrlEntrySpec = { serial: 5, date: NOW - DAY, extra: [{ oid: "2.5.29.21", value: Uint8Array.of(0x0a, 0x02, 0x00, 0x01) }] };
const good = caCrl();
/** Signature checks made in one validation (verifications and cache hits: what the budget counts). */
function checks(v: Validator, run: () => ReturnType<Validator["validate"]>) {
  const s0 = v.stats();
  const t0 = performance.now();
  const r = run();
  const s1 = v.stats();
  return { r, verified: s1.signatureVerifications - s0.signatureVerifications, checks: s1.signatureVerifications + s1.signatureCacheHits - s0.signatureVerifications - s0.signatureCacheHits, ms: performance.now() - t0 };
}
/** `count` CA certificates named as the issuing CA, over `keys` distinct keys, with or without SKI/AKI. */
function decoys(count: number, keys: number, keyIds: boolean): Uint8Array[] {
  const ks = Array.from({ length: keys }, () => newKey("p256"));
  return Array.from({ length: count }, (_, i) =>
    buildCert({ serial: 5000 + i, issuer: p.rootName, subject: p.caName, notBefore: NOW - 900 * DAY, notAfter: NOW + 900 * DAY, subjectKey: ks[i % keys], issuerKey: p.rootKey, ca: true, keyUsage: KU.keyCertSign | KU.cRLSign, keyIds }),
  );
}

// ------------------------------------------------------------------ 1. signature checks are bounded

test("a forged CRL naming the CA is tried only under the path issuer and certificates whose SKI its AKI names", (t) => {
  const v = new Validator();
  const pool = decoys(200, 20, true);
  const opts = (crls: Uint8Array[]) => ({ ...base, intermediates: [...pool, p.ca], crls: [...crls, good, p.rootCrl] });
  v.validate(freshLeaf(), opts([])); // warm: the chain and the good CRLs verified once
  const plain = checks(v, () => v.validate(freshLeaf(), opts([])));
  const forged = Array.from({ length: 5 }, (_, i) => caCrl({ key: stranger, crlNumber: 10 + i }));
  const withForged = checks(v, () => v.validate(freshLeaf(), opts(forged)));
  t.log(`200 same-named CAs (20 keys), 5 forged CRLs first: ${withForged.verified} verifications (${plain.verified} without them), ${withForged.ms.toFixed(1)} ms`);
  t.is(verdict(plain.r), "valid");
  t.is(verdict(withForged.r), "valid");
  t.true(withForged.verified - plain.verified <= 5, `one check per forged CRL, got ${withForged.verified - plain.verified}`);
});

test("every CRL signature check is charged to the validation's budget of 2,048", (t) => {
  const v = new Validator();
  // 300 same-named CAs without SKI (so any could have signed), over 4 keys: cache hits are checks too.
  const pool = decoys(300, 4, false);
  const forged = Array.from({ length: 8 }, (_, i) => caCrl({ key: stranger, crlNumber: 20 + i }));
  const run = (crls: Uint8Array[]) => checks(v, () => v.validate(freshLeaf(), { ...base, intermediates: [p.ca, ...pool], crls: [...crls, p.rootCrl] }));
  const spent = run([...forged, good]);
  t.log(`8 forged CRLs before the good one, 300 candidates each: ${spent.checks} checks, ${spent.verified} verifications, ${spent.ms.toFixed(1)} ms`);
  t.true(spent.checks <= 2048 + 16, `checks ${spent.checks}`);
  t.false(spent.r.valid, "the good CRL comes after the budget is spent: not verified, so no answer");
  if (!spent.r.valid) {
    t.is(spent.r.code, "crl-bad-signature");
    t.regex(spent.r.detail, /budget/);
  }
  const first = run([good, ...forged]);
  t.log(`the good CRL first: ${first.checks} checks`);
  t.is(verdict(first.r), "valid", "the forged CRLs after a complete one cannot revoke: unauthenticated, they are not read");
  t.true(first.checks <= 2048 + 16);
});

// ------------------------------------------------------------------ 2. authenticate, then read; a bad CRL fails alone

test("a forged CRL that does not decode past its header changes nothing (its entries are never read)", (t) => {
  const v = new Validator();
  const junk = caCrl({ key: stranger, crlNumber: 99, entries: [nonDerEntry] });
  t.is(verdict(v.validate(leaf, { ...base, crls: [good, p.rootCrl, junk] })), "valid");
  t.is(verdict(v.validate(leaf, { ...base, crls: [junk, good, p.rootCrl] })), "valid", "in either order");
  const listing = caCrl({ key: stranger, entries: [{ serial: 77, date: NOW - DAY, reason: 1 }] });
  t.is(verdict(v.validate(leaf, { ...base, crls: [good, p.rootCrl, listing] })), "valid", "a forged revocation is no revocation");
  const alone = v.validate(leaf, { ...base, crls: [p.rootCrl, junk] });
  t.is(verdict(alone), "crl-bad-signature@0", "authenticated first: its signature is what fails");
});

test("a CRL whose IssuingDistributionPoint does not decode is that CRL's failure, named", (t) => {
  const v = new Validator();
  const badIdp: ExtensionSpec = { oid: "2.5.29.28", critical: true, value: seq() }; // 5.2.5: never an empty SEQUENCE
  const forged = caCrl({ key: stranger, extra: [badIdp] });
  t.is(verdict(v.validate(leaf, { ...base, crls: [forged, good, p.rootCrl] })), "valid");
  const r = v.validate(leaf, { ...base, crls: [p.rootCrl, caCrl({ extra: [badIdp] })] });
  t.is(verdict(r), "malformed@0");
  if (!r.valid) t.regex(r.detail, /^CRL from "C=XX, O=robust, CN=Issuing CA" does not decode: IssuingDistributionPoint/);
});

test("an authentic CRL with a non-DER entry fails alone: another CRL may still answer", (t) => {
  const v = new Validator();
  const bad = caCrl({ entries: [nonDerEntry], crlNumber: 2 });
  const r = v.validate(leaf, { ...base, crls: [p.rootCrl, bad] });
  t.is(verdict(r), "malformed@0");
  if (!r.valid) t.regex(r.detail, /CRL from ".*Issuing CA" does not decode/);
  t.is(verdict(v.validate(leaf, { ...base, crls: [bad, good, p.rootCrl] })), "valid");
});

test("an authentic delta CRL that does not decode is the complete CRL's failure", (t) => {
  const v = new Validator();
  const freshest: ExtensionSpec = { oid: "2.5.29.46", value: seq(seq(tlv(0xa0, tlv(0xa0, tlv(0x86, new TextEncoder().encode("http://x/delta")))))) };
  const complete = caCrl({ extra: [freshest], crlNumber: 10 });
  const delta = caCrl({ extra: [{ oid: "2.5.29.27", critical: true, value: tlv(0x02, Uint8Array.of(10)) }], crlNumber: 11, entries: [nonDerEntry] });
  const r = v.validate(leaf, { ...base, crls: [p.rootCrl, complete, delta] });
  t.is(verdict(r), "malformed@0");
  if (!r.valid) t.regex(r.detail, /^delta CRL from/);
  const forgedDelta = caCrl({ key: stranger, extra: [{ oid: "2.5.29.27", critical: true, value: tlv(0x02, Uint8Array.of(10)) }], crlNumber: 12, entries: [nonDerEntry] });
  t.is(verdict(v.validate(leaf, { ...base, crls: [p.rootCrl, complete, forgedDelta] })), "valid", "a forged delta is ignored unread");
});

// ------------------------------------------------------------------ 3. a newer CRL releases a hold

test("a hold is released by a newer CRL of the same issuer and scope that no longer lists the serial", (t) => {
  const v = new Validator();
  const hold = { serial: 77, date: NOW - 3 * DAY, reason: 6 };
  const crl1 = caCrl({ thisUpdate: NOW - 2 * DAY, crlNumber: 1, entries: [hold] });
  const crl2 = caCrl({ thisUpdate: NOW - 3600_000, crlNumber: 2 });
  const code = (crls: Uint8Array[], extra: object = {}) => verdict(v.validate(leaf, { ...base, crls: [p.rootCrl, ...crls], ...extra }));
  t.is(code([crl2, crl1]), "valid");
  t.is(code([crl1, crl2]), "valid", "in either order");
  t.is(code([crl1]), "revoked@0", "alone, the hold stands");
  t.is(code([crl1, caCrl({ thisUpdate: NOW - 3600_000, crlNumber: 2, entries: [hold] })]), "revoked@0", "still listed on the newer CRL");
  t.is(code([crl1, caCrl({ thisUpdate: NOW - 3 * DAY, crlNumber: 0 })]), "revoked@0", "an older CRL number releases nothing");
  t.is(code([crl1, caCrl({ thisUpdate: NOW + 3600_000, crlNumber: 2 })]), "revoked@0", "issued after the validation time");
  t.is(code([crl1, caCrl({ key: stranger, thisUpdate: NOW - 3600_000, crlNumber: 2 })]), "revoked@0", "a forged newer CRL");
  t.is(code([crl1, caCrl({ thisUpdate: NOW - 3600_000, crlNumber: 2, nextUpdate: NOW - 1 })]), "revoked@0", "an expired newer CRL is not usable");
  const scoped: ExtensionSpec = { oid: "2.5.29.28", critical: true, value: seq(tlv(0x81, Uint8Array.of(0xff))) };
  t.is(code([crl1, caCrl({ thisUpdate: NOW - 3600_000, crlNumber: 2, extra: [scoped] })]), "revoked@0", "another scope (an IDP) releases nothing");
  // Without CRL numbers (lenient profile): the later thisUpdate supersedes.
  const n1 = caCrl({ thisUpdate: NOW - 2 * DAY, crlNumber: null, entries: [hold] });
  const n2 = caCrl({ thisUpdate: NOW - 3600_000, crlNumber: null });
  t.is(code([n2, n1], { profile: "lenient" }), "valid");
  t.is(code([n1, caCrl({ thisUpdate: NOW - 3 * DAY, crlNumber: null })], { profile: "lenient" }), "revoked@0");
});

test("a final revocation is not released by a newer CRL: any authentic CRL listing it proves it", (t) => {
  const v = new Validator();
  const crl1 = caCrl({ thisUpdate: NOW - 2 * DAY, crlNumber: 1, entries: [{ serial: 77, date: NOW - 3 * DAY, reason: 1 }] });
  const crl2 = caCrl({ thisUpdate: NOW - 3600_000, crlNumber: 2 });
  const r = v.validate(leaf, { ...base, crls: [p.rootCrl, crl2, crl1] });
  t.is(verdict(r), "revoked@0");
  if (!r.valid) t.is(r.revocation?.reason, "keyCompromise");
});

// ------------------------------------------------------------------ 4. error-status OCSP responses

test("an error-status OCSP response answers ocsp-unsuccessful when no CRL does, its status named", (t) => {
  const v = new Validator();
  const code = (ocsp: Uint8Array[], crls: Uint8Array[]) => v.validate(leaf, { ...base, crls: [p.rootCrl, ...crls], ocspResponses: ocsp });
  for (const [status, label] of [[1, "malformedRequest"], [2, "internalError"], [3, "tryLater"], [5, "sigRequired"], [6, "unauthorized"]] as const) {
    const r = code([errorResponse(status)], []);
    t.is(verdict(r), "ocsp-unsuccessful@0", label);
    if (!r.valid) {
      t.true(r.detail.includes(label), r.detail);
      t.regex(r.detail, /without a CertID/);
    }
  }
  t.is(verdict(code([errorResponse(3)], [good])), "valid", "a CRL that answers comes first");
  t.is(verdict(code([errorResponse(3)], [caCrl({ entries: [{ serial: 77, date: NOW - DAY, reason: 1 }] })])), "revoked@0");
  const expired = code([errorResponse(3)], [caCrl({ nextUpdate: NOW - 1 })]);
  t.is(verdict(expired), "ocsp-unsuccessful@0");
  if (!expired.valid) t.regex(expired.detail, /CRL: .*expired/, "the unusable CRL's reason is told too");
  // A failed answer that matches the certificate is more telling than an error response.
  const bad = buildOcsp({ responderName: p.caName, signer: p.caKey, producedAt: NOW - 3600_000, badSignature: true, responses: [{ issuerName: p.caName, issuerKey: p.caKey, serial: 77, status: "good", thisUpdate: NOW - 3600_000, nextUpdate: NOW + DAY }] });
  t.is(verdict(code([errorResponse(3), bad], [])), "ocsp-bad-signature@0");
});
