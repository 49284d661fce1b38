import test from "ava";
import { Validator } from "./index.js";
import { errorResponse } from "./build/ocsp-response.js";
import { KU, type CrlEntrySpec, type ExtensionSpec, type TestKey, buildCert, buildCrl, buildOcsp, integer, name, newKey, seq, set, tlv, twoLevelPki } from "./testing/builder.js";
import { codeAt as verdict } from "./testing/assertions.js";

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

test("every real CRL signature verification is charged to the validation's budget of 2,048; a spent budget is final", (t) => {
  const v = new Validator();
  // 300 same-named CAs without SKI (so any could have signed), each its own key: every try is a real verification.
  const pool = decoys(300, 300, false);
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
  const first = run([good, ...forged.slice(0, 2)]);
  t.log(`the good CRL first, 2 forged after it: ${first.checks} checks`);
  t.is(verdict(first.r), "valid", "the forged CRLs after a complete one cannot revoke: unauthenticated, they are not read");
  t.true(first.checks <= 2048 + 16);
  // Past the budget, a CRL read only for a revocation may have held one: never skipped, the answer is the budget.
  const v2 = new Validator(); // nothing cached: every forged CRL's tries are real verifications again
  const again = Array.from({ length: 8 }, (_, i) => caCrl({ key: stranger, crlNumber: 40 + i }));
  const after = checks(v2, () => v2.validate(freshLeaf(), { ...base, intermediates: [p.ca, ...pool], crls: [good, ...again, p.rootCrl] }));
  t.log(`the good CRL first, 8 forged after it: ${after.checks} checks, ${after.verified} verifications`);
  t.is(verdict(after.r), "crl-bad-signature@0");
  if (!after.r.valid) t.regex(after.r.detail, /budget/);
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

// ------------------------------------------------------------------ 5. a spent budget is final; cache hits are free

test("copies of one forged CRL cost nothing past their first check: a revoking CRL after 2,100 of them still revokes", (t) => {
  const v = new Validator();
  const old = caCrl({ thisUpdate: NOW - 2 * DAY, crlNumber: 1 });
  const revoking = caCrl({ thisUpdate: NOW - 3600_000, crlNumber: 2, entries: [{ serial: 77, date: NOW - DAY, reason: 1 }] });
  const junk: Uint8Array[] = Array(2100).fill(caCrl({ key: stranger, crlNumber: 3 }));
  const r = checks(v, () => v.validate(leaf, { ...base, crls: [p.rootCrl, old, ...junk, revoking] }));
  t.log(`[old, 2,100 copies of a forged CRL, revoking]: ${verdict(r.r)}, ${r.verified} verifications, ${r.checks - r.verified} cache hits`);
  t.is(verdict(r.r), "revoked@0");
  t.true(r.verified <= 8, `verifications ${r.verified}`);
  t.is(verdict(v.validate(leaf, { ...base, crls: [p.rootCrl, ...junk, old, revoking] })), "revoked@0", "the copies first");
});

const freshest: ExtensionSpec = { oid: "2.5.29.46", value: seq(seq(tlv(0xa0, tlv(0xa0, tlv(0x86, new TextEncoder().encode("http://x/delta")))))) };
const deltaInd = (n: number): ExtensionSpec => ({ oid: "2.5.29.27", critical: true, value: integer(n) });

test("a complete CRL's deltas are found once per issuer, scope and key: 12 complete CRLs and 180 deltas cost about 192 checks, not 12 x 180", (t) => {
  const v = new Validator();
  const K = 12;
  const D = 180;
  const completes = Array.from({ length: K }, (_, i) =>
    caCrl({ thisUpdate: NOW - (K - i) * 3600_000, crlNumber: 1000 + 100 * i, extra: [freshest], entries: i === K - 1 ? [{ serial: 77, date: NOW - 2 * 3600_000, reason: 1 }] : [] }),
  );
  const deltas = Array.from({ length: D }, (_, j) => caCrl({ thisUpdate: NOW - 3600_000, crlNumber: 1001 + (j % 99), extra: [deltaInd(1000)] }));
  for (const useDeltaCrls of [false, true]) {
    const r = checks(v, () => v.validate(freshLeaf(), { ...base, crls: [p.rootCrl, ...completes, ...deltas], useDeltaCrls }));
    t.log(`K=${K}, D=${D}, useDeltaCrls ${useDeltaCrls}: ${verdict(r.r)}, ${r.verified} verifications, ${r.checks - r.verified} cache hits`);
    t.is(verdict(r.r), "valid", "a fresh leaf: listed nowhere");
    t.true(r.checks <= K + D + 8, `checks ${r.checks}`);
  }
  const r = v.validate(leaf, { ...base, crls: [p.rootCrl, ...completes, ...deltas] });
  t.is(verdict(r), "revoked@0", "the last complete CRL lists serial 77");
  if (!r.valid) t.is(r.revocation?.reason, "keyCompromise");
});

test("a delta that does not decode, or a budget spent on deltas, never hides a final revocation of the complete CRL", (t) => {
  const v = new Validator();
  const listing = caCrl({ crlNumber: 10, extra: [freshest], entries: [{ serial: 77, date: NOW - DAY, reason: 1 }] });
  const plain = caCrl({ crlNumber: 10, extra: [freshest] });
  const badDelta = caCrl({ crlNumber: 11, extra: [deltaInd(10)], entries: [nonDerEntry] });
  t.is(verdict(v.validate(leaf, { ...base, crls: [p.rootCrl, listing, badDelta] })), "revoked@0");
  t.is(verdict(v.validate(leaf, { ...base, crls: [p.rootCrl, plain, badDelta] })), "malformed@0", "control: the delta's failure, when nothing is listed");
  // 2,100 distinct forged deltas: each a real verification, the budget is spent on them.
  const forged = Array.from({ length: 2100 }, (_, i) => caCrl({ key: stranger, crlNumber: 11 + i, extra: [deltaInd(10)] }));
  const r1 = checks(v, () => v.validate(leaf, { ...base, crls: [p.rootCrl, listing, ...forged] }));
  t.log(`complete CRL listing the leaf, 2,100 forged deltas: ${verdict(r1.r)}, ${r1.verified} verifications`);
  t.is(verdict(r1.r), "revoked@0");
  // Listed nowhere: the spent budget is the answer, though a later CRL (without deltas) says good.
  const r2 = v.validate(leaf, { ...base, crls: [p.rootCrl, plain, ...forged, caCrl({ crlNumber: 12 })] });
  t.is(verdict(r2), "crl-bad-signature@0");
  if (!r2.valid) t.regex(r2.detail, /budget/);
});

// ------------------------------------------------------------------ 6. OCSP: names that do not decode, budget, cost

const emptyRdnSubject = seq(set());
const goodSingle = { issuerName: p.caName, issuerKey: p.caKey, serial: 77, status: "good" as const, thisUpdate: NOW - 3600_000, nextUpdate: NOW + DAY };

test("an OCSP response or pool certificate whose name does not decode is not the responder: a good CRL still answers", (t) => {
  const v = new Validator();
  const junk = buildCert({ serial: 9, issuer: p.caName, subject: emptyRdnSubject, notBefore: NOW - DAY, notAfter: NOW + DAY, subjectKey: stranger, issuerKey: stranger });
  const withJunk = buildOcsp({ responderName: name(["CN", "Anyone"]), signer: stranger, producedAt: NOW - 3600_000, certs: [junk], responses: [goodSingle] });
  const plain = buildOcsp({ responderName: name(["CN", "Anyone"]), signer: stranger, producedAt: NOW - 3600_000, responses: [goodSingle] });
  t.is(verdict(v.validate(leaf, { ...base, crls: [p.rootCrl, good], ocspResponses: [withJunk] })), "valid");
  t.is(verdict(v.validate(leaf, { ...base, intermediates: [p.ca, junk], crls: [p.rootCrl, good], ocspResponses: [plain] })), "valid", "the junk in the pool");
  t.is(verdict(v.validate(leaf, { ...base, crls: [p.rootCrl], ocspResponses: [withJunk] })), "ocsp-unauthorized-responder@0", "alone: that response's own failure");
});

test("OCSP: a response's signer is worked out once per issuer key, and its verifications are charged to the budget", (t) => {
  const v = new Validator();
  const responder = name(["CN", "Anyone"]);
  const delegates = (n: number) =>
    Array.from({ length: n }, (_, i) => buildCert({ serial: 10 + i, issuer: p.caName, subject: responder, notBefore: NOW - DAY, notAfter: NOW + DAY, subjectKey: stranger, issuerKey: stranger, eku: ["1.3.6.1.5.5.7.3.9"] }));
  const S = 300;
  const C = 300;
  const forged = buildOcsp({ responderName: responder, signer: stranger, producedAt: NOW - 3600_000, certs: delegates(C), responses: Array(S).fill(goodSingle) });
  const r = checks(v, () => v.validate(leaf, { ...base, crls: [p.rootCrl, good], ocspResponses: [forged] }));
  t.log(`${S} singles x ${C} claimed delegates: ${verdict(r.r)}, ${r.verified} verifications, ${r.checks - r.verified} cache hits, ${r.ms.toFixed(1)} ms`);
  t.is(verdict(r.r), "valid", "the forged response fails; the CRL answers");
  t.true(r.checks <= C + 16, `checks ${r.checks} (once per single: ${S * C})`);
  // 2,100 claimed delegates, each a real verification: the budget is spent, and that is final.
  const big = buildOcsp({ responderName: responder, signer: stranger, producedAt: NOW - 3600_000, certs: delegates(2100), responses: [goodSingle] });
  const spent = checks(v, () => v.validate(leaf, { ...base, crls: [p.rootCrl, good], ocspResponses: [big] }));
  t.log(`2,100 claimed delegates: ${verdict(spent.r)}, ${spent.verified} verifications`);
  t.is(verdict(spent.r), "ocsp-bad-signature@0");
  if (!spent.r.valid) t.regex(spent.r.detail, /budget/);
  t.true(spent.verified <= 2048 + 4);
});

// ------------------------------------------------------------------ 7. CRL signers whose subject does not decode; read order; one rule for final revocations

test("a pool certificate whose subject does not decode is no CRL signer: a rollover CRL is still verified", (t) => {
  const v = new Validator();
  const caKey2 = newKey("p256");
  const caNew = buildCert({ serial: 3, issuer: p.rootName, subject: p.caName, notBefore: NOW - 10 * DAY, notAfter: NOW + 800 * DAY, subjectKey: caKey2, issuerKey: p.rootKey, ca: true, pathLen: 0, keyUsage: KU.keyCertSign | KU.cRLSign });
  const other = newKey("p256");
  const junk = buildCert({ serial: 9, issuer: p.rootName, subject: emptyRdnSubject, notBefore: NOW - DAY, notAfter: NOW + DAY, subjectKey: other, issuerKey: other });
  const code = (pool: Uint8Array[], crls: Uint8Array[]) => verdict(v.validate(leaf, { anchors: [p.root], intermediates: pool, crls: [p.rootCrl, ...crls], time: NOW }));
  const rollover = caCrl({ key: caKey2 });
  t.is(code([p.ca, caNew], [rollover]), "valid");
  t.is(code([p.ca, caNew, junk], [rollover]), "valid");
  t.is(code([junk, p.ca, caNew], [rollover]), "valid", "in any order");
  // A hold on the old key's CRL, released by the new key's newer CRL, the junk in the pool.
  const hold = caCrl({ thisUpdate: NOW - 2 * DAY, crlNumber: 1, entries: [{ serial: 77, date: NOW - 3 * DAY, reason: 6 }] });
  const release = caCrl({ key: caKey2, thisUpdate: NOW - 3600_000, crlNumber: 2 });
  t.is(code([p.ca, caNew, junk], [hold, release]), "valid");
  t.is(code([p.ca, caNew, junk], [hold]), "revoked@0", "control: the hold alone");
});

test("a newer CRL's cRLNumber is read only once it is authenticated (a forged one's never)", (t) => {
  const v = new Validator();
  const hold = caCrl({ thisUpdate: NOW - 2 * DAY, crlNumber: 1, entries: [{ serial: 77, date: NOW - 3 * DAY, reason: 6 }] });
  const forged = caCrl({ key: stranger, thisUpdate: NOW - 3600_000, crlNumber: 2 });
  const view = v.crl(forged);
  let reads = 0;
  const real = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(view), "crlNumber")!;
  Object.defineProperty(view, "crlNumber", { get() { reads++; return real.get!.call(this); } });
  t.is(verdict(v.validate(leaf, { ...base, crls: [p.rootCrl, hold, forged] })), "revoked@0", "a forged newer CRL releases nothing");
  t.is(reads, 0, "its cRLNumber was never read");
});

test("an authentic CRL proves a final revocation it lists whatever its profile or expiry; an unprocessable one proves nothing", (t) => {
  const v = new Validator();
  const keyCompromise = [{ serial: 77, date: NOW - 3 * DAY, reason: 1 }];
  const onHold = [{ serial: 77, date: NOW - 3 * DAY, reason: 6 }];
  const code = (crl: Uint8Array) => verdict(v.validate(leaf, { ...base, crls: [p.rootCrl, crl] }));
  t.is(code(caCrl({ crlNumber: null, entries: keyCompromise })), "revoked@0", "no cRLNumber (strict profile)");
  t.is(code(caCrl({ crlNumber: null, nextUpdate: NOW - 1, entries: keyCompromise })), "revoked@0", "no cRLNumber and expired");
  const criticalNumber: ExtensionSpec = { oid: "2.5.29.20", critical: true, value: tlv(0x02, Uint8Array.of(5)) };
  t.is(code(caCrl({ crlNumber: null, extra: [criticalNumber], entries: keyCompromise })), "revoked@0", "a critical cRLNumber");
  t.is(code(caCrl({ crlNumber: null, entries: onHold })), "crl-number-missing@0", "a hold is not final: the CRL must be usable");
  t.is(code(caCrl({ crlNumber: null, nextUpdate: NOW - 1, entries: onHold })), "crl-number-missing@0");
  t.is(code(caCrl({ crlNumber: null })), "crl-number-missing@0", "nor does it show a good status");
  const unknown: ExtensionSpec = { oid: "1.2.3.4.5", critical: true, value: Uint8Array.of(5, 0) };
  t.is(code(caCrl({ extra: [unknown], entries: keyCompromise })), "crl-unknown-critical-extension@0", "RFC 5280 5.2: a CRL with an unprocessable critical extension is not used at all");
  const r = v.validate(leaf, { ...base, crls: [p.rootCrl, caCrl({ crlNumber: null, nextUpdate: NOW - 1, entries: keyCompromise })] });
  if (!r.valid) t.regex(r.detail, /keyCompromise.*listed on a CRL/);
});
