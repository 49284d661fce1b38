import test from "ava";
import { Certificate, Validator } from "./index.js";
import { KU, type TestKey, buildCert, buildCrl, integer, name, newKey, oid, seq, set, tlv, twoLevelPki } from "./testing/builder.js";

/**
 * Path building and the trust anchor, after review: the cap on complete paths, a
 * certificate that does not decode is one candidate's failure and not the search's,
 * the CRL signer's path to the path's own anchor (RFC 5280 6.3.3 (f)), the leaf that
 * is an anchor, the anchor's policy constraints (RFC 5937), and anchors judged by
 * the profile only when it is "pedantic".
 */

const DAY = 86_400_000;
const NOW = Date.UTC(2031, 0, 15);
const CA_KU = KU.keyCertSign | KU.cRLSign;
const ANY = "2.5.29.32.0";
const P1 = "2.16.840.1.101.3.2.1.48.1";
const show = (r: ReturnType<Validator["validate"]>) => (r.valid ? `valid via ${r.path.at(-1)!.subject.display}` : `${r.code}@${r.position}`);

let serial = 100;
/** A certificate of `subject` (with key `key`) issued by `issuer` (name, key); a CA unless `ku` says otherwise. */
const cert = (issuer: Uint8Array, issuerKey: TestKey, subject: Uint8Array, key: TestKey, more: Partial<Parameters<typeof buildCert>[0]> = {}) =>
  buildCert({ serial: serial++, issuer, subject, notBefore: NOW - 900 * DAY, notAfter: NOW + 900 * DAY, subjectKey: key, issuerKey, ca: true, keyUsage: CA_KU, ...more });
const selfSigned = (n: Uint8Array, k: TestKey, more: Partial<Parameters<typeof buildCert>[0]> = {}) => cert(n, k, n, k, more);
const crl = (issuer: Uint8Array, issuerKey: TestKey) => buildCrl({ issuer, issuerKey, thisUpdate: NOW - DAY, nextUpdate: NOW + DAY, entries: [] });
const policies = (...oids: string[]) => ({ oid: "2.5.29.32", value: seq(...oids.map((o) => seq(oid(o)))) });

// ------------------------------------------------------------------ 1. the cap on complete paths

test("copies of CAs multiply paths: at most 32 are validated in full, and the best failure is reported", (t) => {
  const [rK, yK, zK] = [newKey(), newKey(), newKey()];
  const [rN, yN, zN] = [name(["CN", "Root"]), name(["CN", "Y"]), name(["CN", "Z"])];
  const root = selfSigned(rN, rK);
  // 24 copies of Y (same name and key, other serials) under the root, 24 of Z under Y's key: 576 paths.
  const ys = Array.from({ length: 24 }, () => cert(rN, rK, yN, yK));
  const zs = Array.from({ length: 24 }, () => cert(yN, yK, zN, zK));
  const leaf = new Certificate(cert(zN, zK, name(["CN", "Holder"]), newKey(), { ca: false, keyUsage: KU.digitalSignature }));
  // Every complete path fails on the leaf (usage "signature" wants nonRepudiation): count the leaf's full checks.
  let fullChecks = 0;
  const unknown = leaf.unknownCriticalExtensions.bind(leaf);
  leaf.unknownCriticalExtensions = () => (fullChecks++, unknown());
  const r = new Validator().validate(leaf, { anchors: [root], intermediates: [...ys, ...zs], time: NOW, usage: "signature" });
  t.is(show(r), "key-usage@0");
  t.true(fullChecks <= 32, `complete paths validated: ${fullChecks}`);
  t.true(fullChecks >= 32, "the cap is what stopped the search");
  if (!r.valid) t.regex(r.detail, /stopped after 32 complete paths/);
  // A valid path among the first ones is still found.
  const ok = new Validator().validate(leaf, { anchors: [root], intermediates: [...ys, ...zs], time: NOW, usage: "authentication" });
  t.is(show(ok), "valid via CN=Root");
});

// ------------------------------------------------------------------ 2. DecodeError is one candidate's

test("a cross-certificate whose certificatePolicies does not decode is skipped: the other path is found", (t) => {
  const p = twoLevelPki("r4", NOW);
  const leaf = buildCert(p.leafSpec(78));
  const r2K = newKey();
  const r2N = name(["C", "XX"], ["CN", "Root 2"]);
  const root2 = selfSigned(r2N, r2K);
  const bad = { oid: "2.5.29.32", value: seq(integer(5)) }; // DER, but not PolicyInformation
  const cross = cert(r2N, r2K, p.caName, p.caKey, { extra: [bad] });
  const v = new Validator();
  for (const intermediates of [[cross, p.ca], [p.ca, cross]]) {
    t.is(show(v.validate(leaf, { anchors: [root2, p.root], intermediates, time: NOW })), "valid via C=XX, O=r4, CN=Root");
  }
  // The only path: malformed at the cross-certificate's own position, not at the leaf.
  const only = v.validate(leaf, { anchors: [root2], intermediates: [cross], time: NOW });
  t.is(show(only), "malformed@1");
  if (!only.valid) t.regex(only.detail, /PolicyInformation/);
});

test("a pool member whose subject or subjectKeyIdentifier does not decode is no candidate", (t) => {
  const now = Date.UTC(2025, 0, 1);
  const p = twoLevelPki("pool", now);
  const leaf = buildCert(p.leafSpec(7));
  const k = newKey();
  const base = { anchors: [p.root], time: now, usage: "authentication" as const };
  // The issuing CA's name, an SKI that is a SEQUENCE rather than an OCTET STRING.
  const badSki = buildCert({ serial: 9, issuer: name(["CN", "nobody"]), subject: p.caName, notBefore: now - DAY, notAfter: now + DAY, subjectKey: k, issuerKey: k, ca: true, keyUsage: KU.keyCertSign, keyIds: false, extra: [{ oid: "2.5.29.14", value: seq(tlv(0x04, Uint8Array.of(1, 2))) }] });
  // A subject that is DER but no Name (an empty RDN).
  const badSubject = buildCert({ serial: 10, issuer: name(["CN", "x"]), subject: seq(set()), notBefore: now - DAY, notAfter: now + DAY, subjectKey: k, issuerKey: k, ca: true, keyUsage: KU.keyCertSign });
  const v = new Validator();
  for (const intermediates of [[p.ca, badSki], [badSki, p.ca], [p.ca, badSubject], [badSubject, p.ca]]) {
    t.is(show(v.validate(leaf, { ...base, intermediates })), "valid via C=XX, O=pool, CN=Root");
  }
  // Nothing else to try: reported where the candidate would stand, not at the leaf.
  t.is(show(v.validate(leaf, { ...base, intermediates: [badSubject] })), "malformed@1");
  // An empty certificatePolicies in a copy of the CA signed by the root: that copy fails, the other validates.
  const emptyPolicies = buildCert({ serial: 11, issuer: p.rootName, subject: p.caName, notBefore: now - 800 * DAY, notAfter: now + 800 * DAY, subjectKey: p.caKey, issuerKey: p.rootKey, ca: true, keyUsage: CA_KU, extra: [{ oid: "2.5.29.32", value: seq() }] });
  for (const intermediates of [[emptyPolicies, p.ca], [p.ca, emptyPolicies]]) {
    t.is(show(v.validate(leaf, { ...base, intermediates, profile: "lenient" })), "valid via C=XX, O=pool, CN=Root");
  }
  t.is(show(v.validate(leaf, { ...base, intermediates: [emptyPolicies], profile: "lenient" })), "malformed@1");
});

// ------------------------------------------------------------------ 3. the CRL signer's path

test("the CRL signer's path is built to the path's own anchor, whichever anchor comes first (6.3.3 (f))", (t) => {
  const [r1K, r2K, cK, bK, sK] = [newKey(), newKey(), newKey(), newKey(), newKey()];
  const [r1N, r2N, cN, bN] = [name(["CN", "Root 1"]), name(["CN", "Root 2"]), name(["CN", "Issuing CA"]), name(["CN", "Bridge"])];
  const root1 = selfSigned(r1N, r1K);
  const root2 = selfSigned(r2N, r2K);
  const c = cert(r1N, r1K, cN, cK);
  const bridgeUnder2 = cert(r2N, r2K, bN, bK);
  const bridgeUnder1 = cert(r1N, r1K, bN, bK);
  // The CA's separate CRL key, certified by the bridge (same name as the CA).
  const signer = cert(bN, bK, cN, sK, { ca: false, keyUsage: KU.cRLSign });
  const leaf = cert(cN, cK, name(["CN", "Holder"]), newKey(), { ca: false, keyUsage: KU.digitalSignature });
  const crls = [crl(cN, sK), crl(r1N, r1K), crl(r2N, r2K), crl(bN, bK)];
  const v = new Validator();
  for (const anchors of [[root1], [root1, root2], [root2, root1]]) {
    for (const intermediates of [[bridgeUnder2, bridgeUnder1, signer, c], [bridgeUnder1, bridgeUnder2, signer, c]]) {
      t.is(show(v.validate(leaf, { anchors, intermediates, crls, time: NOW })), "valid via CN=Root 1");
    }
  }
  // The signer's only path goes to Root 2: refused.
  const r = v.validate(leaf, { anchors: [root1, root2], intermediates: [bridgeUnder2, signer, c], crls, time: NOW });
  t.is(show(r), "crl-signer-invalid@0");
});

test("a CRL signer that fails only for the nesting limit is validated again where it is reached higher up", (t) => {
  // L <- B <- R. R's CRLs: one signed by SA (subject R, under B), one by R. B's CRL is signed by SB
  // (subject B, under C); C's by SC (subject C, under R). Checking B reaches SA, then SB two levels
  // deep, whose own signer SC is past the limit: SB fails there. L's CRL needs SB again, from the
  // top: it must be validated anew, not answered from that failure.
  const [rK, bK, cK, saK, sbK, scK] = [newKey(), newKey(), newKey(), newKey(), newKey(), newKey()];
  const [rN, bN, cN] = [name(["CN", "R"]), name(["CN", "B"]), name(["CN", "C"])];
  const root = selfSigned(rN, rK);
  const b = cert(rN, rK, bN, bK);
  const c = cert(rN, rK, cN, cK);
  const signerOnly = { ca: false, keyUsage: KU.cRLSign };
  const sa = cert(bN, bK, rN, saK, signerOnly);
  const sb = cert(cN, cK, bN, sbK, signerOnly);
  const sc = cert(rN, rK, cN, scK, signerOnly);
  const leaf = cert(bN, bK, name(["CN", "Holder"]), newKey(), { ca: false, keyUsage: KU.digitalSignature });
  const crls = [crl(rN, saK), crl(rN, rK), crl(bN, sbK), crl(cN, scK)];
  const r = new Validator().validate(leaf, { anchors: [root], intermediates: [b, c, sa, sb, sc], crls, time: NOW });
  t.is(show(r), "valid via CN=R");
});

// ------------------------------------------------------------------ 4. a leaf that is an anchor

test("a leaf byte-equal to an anchor: its validity, critical extensions, key usage and EKU still apply", (t) => {
  const k = newKey();
  const n = name(["C", "XX"], ["CN", "Pinned"]);
  const serverAuth = "1.3.6.1.5.5.7.3.1";
  const clientAuth = "1.3.6.1.5.5.7.3.2";
  const good = selfSigned(n, k, { keyUsage: CA_KU | KU.digitalSignature, eku: [serverAuth] });
  const expired = selfSigned(n, k, { notBefore: NOW - 900 * DAY, notAfter: NOW - 10 * DAY });
  const critical = selfSigned(n, k, { extra: [{ oid: "1.2.3.4.5", critical: true, value: seq() }] });
  const v = new Validator();
  const as = (c: Uint8Array, more: object = {}) => show(v.validate(c, { anchors: [c], time: NOW, ...more }));
  t.is(as(good), "valid via C=XX, CN=Pinned");
  t.is(as(good, { usage: "authentication", eku: [serverAuth] }), "valid via C=XX, CN=Pinned");
  t.is(as(expired), "expired@0");
  t.is(as(critical), "unknown-critical-extension@0");
  t.is(as(good, { usage: "signature" }), "key-usage@0");
  t.is(as(good, { eku: [clientAuth] }), "extended-key-usage@0");
  // Without anchorConstraints the anchor is a name and a key: trusted as it is.
  for (const c of [expired, critical]) t.is(as(c, { anchorConstraints: false }), "valid via C=XX, CN=Pinned");
  t.is(as(good, { usage: "signature", anchorConstraints: false }), "valid via C=XX, CN=Pinned");
});

// ------------------------------------------------------------------ 5. the anchor's policy constraints

test("the anchor's policyConstraints and inhibitAnyPolicy apply as RFC 5937 says, unless anchorConstraints is false", (t) => {
  const [rK, cK] = [newKey(), newKey()];
  const [rN, cN] = [name(["CN", "Policy root"]), name(["CN", "Policy CA"])];
  const requireExplicit = (skip: number) => ({ oid: "2.5.29.36", critical: true, value: seq(tlv(0x80, Uint8Array.of(skip))) });
  const inhibitAny = (skip: number) => ({ oid: "2.5.29.54", critical: true, value: integer(skip) });
  const leafUnder = (caPolicies: string[], leafPolicies: string[]) => {
    const ca = cert(rN, rK, cN, cK, { extra: [policies(...caPolicies)] });
    const leaf = cert(cN, cK, name(["CN", "Holder"]), newKey(), { ca: false, keyUsage: KU.digitalSignature, extra: leafPolicies.length ? [policies(...leafPolicies)] : [] });
    return { ca, leaf };
  };
  const v = new Validator();
  const run = (anchor: Uint8Array, path: { ca: Uint8Array; leaf: Uint8Array }, more: object = {}) => {
    const r = v.validate(path.leaf, { anchors: [anchor], intermediates: [path.ca], time: NOW, ...more });
    return r.valid ? `valid [${r.userConstrainedPolicySet.join(",")}]` : `${r.code}@${r.position}`;
  };
  // requireExplicitPolicy 0 in the anchor: the leaf without policies leaves no valid policy.
  const noLeafPolicy = leafUnder([P1], []);
  t.is(run(selfSigned(rN, rK), noLeafPolicy), "valid []");
  t.is(run(selfSigned(rN, rK, { extra: [requireExplicit(0)] }), noLeafPolicy), "no-valid-policy@0");
  t.is(run(selfSigned(rN, rK, { extra: [requireExplicit(0)] }), noLeafPolicy, { anchorConstraints: false }), "valid []");
  t.is(run(selfSigned(rN, rK, { extra: [requireExplicit(0)] }), leafUnder([P1], [P1])), `valid [${P1}]`);
  // inhibitAnyPolicy 0 in the anchor: the CA's anyPolicy no longer stands for P1.
  const anyCa = leafUnder([ANY], [P1]);
  const explicit = { initialExplicitPolicy: true };
  t.is(run(selfSigned(rN, rK), anyCa, explicit), `valid [${P1}]`);
  t.is(run(selfSigned(rN, rK, { extra: [inhibitAny(0)] }), anyCa, explicit), "no-valid-policy@1");
  t.is(run(selfSigned(rN, rK, { extra: [inhibitAny(1)] }), anyCa, explicit), `valid [${P1}]`);
  t.is(run(selfSigned(rN, rK, { extra: [inhibitAny(0)] }), anyCa, { ...explicit, anchorConstraints: false }), `valid [${P1}]`);
  // A v3 anchor whose policyConstraints does not decode: malformed at the anchor.
  const broken = selfSigned(rN, rK, { extra: [{ oid: "2.5.29.36", critical: true, value: seq(tlv(0x80, new Uint8Array(0))) }] });
  t.is(run(broken, noLeafPolicy), "malformed@2");
});

// ------------------------------------------------------------------ 6. the profile does not judge anchors

test("the strict profile does not judge the trust anchor (serial 0, no SKI); pedantic does", (t) => {
  const [rK, cK] = [newKey(), newKey()];
  const [rN, cN] = [name(["CN", "Old root"]), name(["CN", "Modern CA"])];
  // As public roots have them: serial 0 (9 of the 142 roots in /etc/ssl/certs), no subjectKeyIdentifier (2).
  const serialZero = buildCert({ serial: 0, issuer: rN, subject: rN, notBefore: NOW - 900 * DAY, notAfter: NOW + 900 * DAY, subjectKey: rK, issuerKey: rK, ca: true, keyUsage: CA_KU });
  const noSki = buildCert({ serial: 1, issuer: rN, subject: rN, notBefore: NOW - 900 * DAY, notAfter: NOW + 900 * DAY, subjectKey: rK, issuerKey: rK, ca: true, keyUsage: CA_KU, keyIds: false });
  const ca = cert(rN, rK, cN, cK);
  const leaf = cert(cN, cK, name(["CN", "Holder"]), newKey(), { ca: false, keyUsage: KU.digitalSignature });
  const v = new Validator();
  for (const anchor of [serialZero, noSki]) {
    t.is(show(v.validate(leaf, { anchors: [anchor], intermediates: [ca], time: NOW })), "valid via CN=Old root");
    const pedantic = v.validate(leaf, { anchors: [anchor], intermediates: [ca], time: NOW, profile: "pedantic" });
    t.is(pedantic.valid ? "valid" : `${pedantic.position}:${pedantic.code.startsWith("profile-")}`, "2:true");
  }
});
