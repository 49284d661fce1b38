import test from "ava";
import fc from "fast-check";
import { Validator } from "./index.js";
import { decodeIssuingDistributionPoint } from "./crl.js";
import { decodeDistributionPoints } from "./distribution-points.js";
import { DecodeError } from "./errors.js";
import { KU, type CrlEntrySpec, type ExtensionSpec, buildCert, buildCrl, keyUsageValue, name, newKey, oid, seq, set, tlv, twoLevelPki, utf8 } from "./testing/builder.js";
import { type PkitsCase, pkits, pkitsSection, validatePkits } from "./testing/pkits.js";
import { codeAt, codeAt as verdict, explain } from "./testing/assertions.js";

/**
 * RFC 5280 6.3.3 as PKITS 4.4, 4.14 and 4.15 exercise it, and as built CRLs do:
 * reasons partitioned over CRLs, indirect CRLs with certificateIssuer entries,
 * delta CRLs (removeFromCRL, base CRL numbers), IDP scopes; the DP and IDP
 * decoders on arbitrary bytes.
 */

// ------------------------------------------------------------------ PKITS

const pkitsValidator = new Validator();
const runPkits = (c: PkitsCase) => validatePkits(pkitsValidator, c);

for (const [section, count] of [["4.4", 21], ["4.14", 35], ["4.15", 10]] as const) {
  test(`PKITS ${section} (${count} cases) through Validator.validate: each gives shouldValidate`, (t) => {
    const cases = pkitsSection(section);
    t.is(cases.length, count);
    const wrong: string[] = [];
    for (const c of cases) {
      const r = runPkits(c);
      if (r.valid !== c.shouldValidate) wrong.push(`${c.number} ${c.title.trim()}: ${explain(r)}`);
    }
    t.deepEqual(wrong, []);
  });
}

test("PKITS 4.14 and 4.15: the reason codes are the precise ones", (t) => {
  const codeOf = (num: string) => {
    const r = runPkits(pkits.cases.find((c) => c.number === num)!);
    return codeAt(r);
  };
  t.is(codeOf("4.14.3"), "crl-missing@0", "the DP names another CRL");
  t.is(codeOf("4.14.9"), "crl-missing@0", "no DP, and the only CRL has an IDP naming a DP");
  t.is(codeOf("4.14.12"), "crl-missing@0", "onlyContainsCACerts for a leaf");
  t.is(codeOf("4.14.14"), "crl-missing@0", "onlyContainsAttributeCerts");
  t.is(codeOf("4.14.16"), "revoked@0", "on hold on the other-reasons CRL");
  t.is(codeOf("4.14.17"), "crl-reasons-incomplete@0", "two CRLs that leave reasons uncovered");
  t.is(codeOf("4.14.21"), "revoked@0", "revoked on the second DP's CRL");
  t.is(codeOf("4.14.27"), "crl-missing@0", "cRLIssuer names a CA whose CRL is not indirect");
  t.is(codeOf("4.14.31"), "revoked@0", "a certificateIssuer entry of an indirect CRL");
  t.is(codeOf("4.14.33"), "valid", "the serial is listed for another issuer");
  t.is(codeOf("4.14.35"), "crl-missing@0", "cRLIssuer names a CA with no CRL");
  t.is(codeOf("4.15.1"), "crl-missing@0", "a delta CRL alone is no complete CRL");
  t.is(codeOf("4.15.4"), "revoked@0", "revoked on the delta");
  t.is(codeOf("4.15.5"), "valid", "a hold removed by the delta");
  t.is(codeOf("4.15.10"), "crl-expired@0", "the delta's base is newer than the expired complete CRL");
});

// ------------------------------------------------------------------ DER for the extensions the builder lacks

const DAY = 86_400_000;
const NOW = Date.UTC(2031, 5, 1);
const ascii = (s: string) => new TextEncoder().encode(s);
const dirName = (n: Uint8Array) => tlv(0xa4, n);
const uri = (s: string) => tlv(0x86, ascii(s));
/** ReasonFlags mask (bit 1 = keyCompromise ...) as a BIT STRING implicitly tagged [n]. */
const reasonFlags = (n: number, mask: number) => {
  const b = keyUsageValue(mask);
  return tlv(0x80 | n, b.subarray(2));
};
const R = { keyCompromise: 1 << 1, cACompromise: 1 << 2, affiliationChanged: 1 << 3, superseded: 1 << 4, cessationOfOperation: 1 << 5, certificateHold: 1 << 6, privilegeWithdrawn: 1 << 7, aACompromise: 1 << 8 };
const COMPROMISES = R.keyCompromise | R.cACompromise | R.aACompromise;
const OTHERS = 0x1fe & ~COMPROMISES;

interface Idp {
  full?: Uint8Array[];
  onlyUser?: boolean;
  onlyCa?: boolean;
  reasons?: number;
  indirect?: boolean;
}
function idpExt(i: Idp): ExtensionSpec {
  const parts: Uint8Array[] = [];
  if (i.full) parts.push(tlv(0xa0, tlv(0xa0, ...i.full)));
  if (i.onlyUser) parts.push(tlv(0x81, Uint8Array.of(0xff)));
  if (i.onlyCa) parts.push(tlv(0x82, Uint8Array.of(0xff)));
  if (i.reasons !== undefined) parts.push(reasonFlags(3, i.reasons));
  if (i.indirect) parts.push(tlv(0x84, Uint8Array.of(0xff)));
  return { oid: "2.5.29.28", critical: true, value: seq(...parts) };
}
interface Dp {
  full?: Uint8Array[];
  reasons?: number;
  crlIssuer?: Uint8Array[];
}
const dpValue = (dps: Dp[]) =>
  seq(...dps.map((d) => seq(...(d.full ? [tlv(0xa0, tlv(0xa0, ...d.full))] : []), ...(d.reasons !== undefined ? [reasonFlags(1, d.reasons)] : []), ...(d.crlIssuer ? [tlv(0xa2, ...d.crlIssuer)] : []))));
const crlDpExt = (dps: Dp[]): ExtensionSpec => ({ oid: "2.5.29.31", value: dpValue(dps) });
const freshestExt = (dps: Dp[]): ExtensionSpec => ({ oid: "2.5.29.46", value: dpValue(dps) });
const deltaIndicator = (base: number): ExtensionSpec => ({ oid: "2.5.29.27", critical: true, value: tlv(0x02, Uint8Array.of(base)) });
const certificateIssuer = (n: Uint8Array): ExtensionSpec => ({ oid: "2.5.29.29", critical: true, value: seq(dirName(n)) });

// ------------------------------------------------------------------ built hierarchies

const { rootKey, rootName, caKey, caName, root, ca, rootCrl, leafSpec } = twoLevelPki("dp", NOW);
const base = { anchors: [root], intermediates: [ca], time: NOW };
const caCrl = (entries: CrlEntrySpec[], extra: ExtensionSpec[] = [], crlNumber = 1) =>
  buildCrl({ issuer: caName, issuerKey: caKey, thisUpdate: NOW - DAY, nextUpdate: NOW + 7 * DAY, entries, extra, crlNumber });
const leaf = (serial: number, extra: ExtensionSpec[] = []) => buildCert({ ...leafSpec(serial), extra });

test("reasons partitioned over two CRLs: valid only with both", (t) => {
  const v = new Validator();
  const compromise = caCrl([{ serial: 71, date: NOW - DAY, reason: 1 }], [idpExt({ reasons: COMPROMISES })]);
  const others = caCrl([{ serial: 72, date: NOW - DAY, reason: 4 }], [idpExt({ reasons: OTHERS })]);
  const code = (serial: number, crls: Uint8Array[]) => verdict(v.validate(leaf(serial), { ...base, crls: [rootCrl, ...crls] }));
  t.is(code(70, [compromise]), "crl-reasons-incomplete@0");
  t.is(code(70, [others]), "crl-reasons-incomplete@0");
  t.is(code(70, [compromise, others]), "valid");
  t.is(code(70, [others, compromise]), "valid", "in either order");
  t.is(code(71, [compromise, others]), "revoked@0", "listed on the compromise CRL");
  t.is(code(72, [compromise, others]), "revoked@0", "listed on the other-reasons CRL");
  t.is(code(72, [compromise]), "crl-reasons-incomplete@0", "a revocation on a CRL not given cannot be seen");
  // The certificate's DPs can split the reasons too (6.3.3 (d)): each DP's CRL answers for its reasons only.
  const dpLeaf = leaf(73, [crlDpExt([{ full: [uri("http://x/compromise")], reasons: COMPROMISES }, { full: [uri("http://x/others")], reasons: OTHERS }])]);
  const a = caCrl([], [idpExt({ full: [uri("http://x/compromise")] })]);
  const b = caCrl([], [idpExt({ full: [uri("http://x/others")] })]);
  t.is(verdict(v.validate(dpLeaf, { ...base, crls: [rootCrl, a] })), "crl-reasons-incomplete@0");
  t.is(verdict(v.validate(dpLeaf, { ...base, crls: [rootCrl, a, b] })), "valid");
});

test("an indirect CRL's certificateIssuer entries revoke a certificate of another CA", (t) => {
  // CRL issuer: a second CA under the root, with cRLSign; the leaf's DP names it as cRLIssuer.
  const crlIssuerKey = newKey("p256");
  const crlIssuerName = name(["C", "XX"], ["O", "dp"], ["CN", "CRL Issuer"]);
  const crlIssuer = buildCert({ serial: 3, issuer: rootName, subject: crlIssuerName, notBefore: NOW - 800 * DAY, notAfter: NOW + 800 * DAY, subjectKey: crlIssuerKey, issuerKey: rootKey, ca: true, pathLen: 0, keyUsage: KU.keyCertSign | KU.cRLSign });
  const dp = crlDpExt([{ full: [uri("http://crl.example/indirect")], crlIssuer: [dirName(crlIssuerName)] }]);
  const entries: CrlEntrySpec[] = [
    { serial: 80, date: NOW - DAY, reason: 1 }, // the CRL issuer's own certificate 80
    { serial: 81, date: NOW - DAY, reason: 1, extra: [certificateIssuer(caName)] }, // from here on: the issuing CA's
    { serial: 82, date: NOW - DAY, reason: 1 },
    { serial: 83, date: NOW - DAY, reason: 1, extra: [certificateIssuer(crlIssuerName)] }, // back to the CRL issuer's own
  ];
  const indirect = (idp: Idp) => buildCrl({ issuer: crlIssuerName, issuerKey: crlIssuerKey, thisUpdate: NOW - DAY, nextUpdate: NOW + 7 * DAY, entries, extra: [idpExt(idp)] });
  const good = indirect({ full: [uri("http://crl.example/indirect")], indirect: true });
  const v = new Validator();
  const code = (serial: number, crls: Uint8Array[], intermediates = [ca, crlIssuer]) => verdict(v.validate(leaf(serial, [dp]), { ...base, intermediates, crls: [rootCrl, ...crls] }));
  t.is(code(81, [good]), "revoked@0", "the first entry after certificateIssuer");
  t.is(code(82, [good]), "revoked@0", "an entry inheriting the last certificateIssuer");
  t.is(code(80, [good]), "valid", "serial 80 is listed for the CRL issuer's own certificate, not this CA's");
  t.is(code(83, [good]), "valid", "serial 83 is back under the CRL issuer");
  t.is(code(84, [good]), "valid");
  t.is(code(81, [indirect({ full: [uri("http://crl.example/indirect")] })]), "crl-missing@0", "without indirectCRL in its IDP the CRL is not for this certificate");
  t.is(code(81, [indirect({ full: [uri("http://crl.example/other")], indirect: true })]), "crl-missing@0", "an IDP naming another DP");
  t.is(code(84, [good], [ca]), "crl-signer-invalid@0", "the CRL issuer's certificate cannot be found, so its key is not validated");
  const crlIssuerNoSign = buildCert({ serial: 4, issuer: rootName, subject: crlIssuerName, notBefore: NOW - 800 * DAY, notAfter: NOW + 800 * DAY, subjectKey: crlIssuerKey, issuerKey: rootKey, ca: true, pathLen: 0, keyUsage: KU.keyCertSign });
  t.is(code(84, [good], [ca, crlIssuerNoSign]), "crl-issuer-key-usage@0", "6.3.3 (f): the CRL issuer needs cRLSign");
  // The index is keyed by (issuer, serial): each issuer's entries are found in O(1), apart.
  const c = v.crl(good);
  t.is(c.size, 4);
  t.is(c.lookup("50")?.serial, "50", "without an issuer: the CRL issuer's own entries");
  t.is(c.lookup("51"), undefined);
  t.is(c.lookup("51", v.certificate(ca).subject.key)?.reason, "keyCompromise");
  t.is(c.lookup("50", v.certificate(ca).subject.key), undefined);
  t.is(c.lookup("53", c.issuer.key)?.serial, "53");
});

test("delta CRLs: one revokes, one unrevokes (removeFromCRL) a serial of the complete CRL; useDeltaCrls false ignores them", (t) => {
  const fresh = freshestExt([{ full: [uri("http://crl.example/delta")] }]);
  const complete = caCrl([{ serial: 90, date: NOW - 3 * DAY, reason: 6 }], [fresh], 10);
  const delta = (entries: CrlEntrySpec[], baseNumber: number, number: number) => caCrl(entries, [deltaIndicator(baseNumber)], number);
  const unhold = delta([{ serial: 90, date: NOW - DAY, reason: 8 }], 10, 11);
  const revoke = delta([{ serial: 91, date: NOW - DAY, reason: 1 }], 10, 11);
  const v = new Validator();
  const code = (serial: number, crls: Uint8Array[], useDeltaCrls = true) => verdict(v.validate(leaf(serial), { ...base, crls: [rootCrl, ...crls], useDeltaCrls }));
  t.is(code(90, [complete]), "revoked@0", "on hold on the complete CRL");
  t.is(code(90, [complete, unhold]), "valid", "the delta removes the hold");
  t.is(code(90, [complete, unhold], false), "revoked@0", "without deltas the hold stands");
  t.is(code(91, [complete]), "valid");
  t.is(code(91, [complete, revoke]), "revoked@0", "revoked on the delta");
  t.is(code(91, [complete, revoke], false), "valid");
  t.is(code(91, [revoke]), "crl-missing@0", "a delta alone is not a complete CRL");
  // The certificate's freshestCRL is enough when the complete CRL has none (6.3.3 (c)).
  const plain = caCrl([], [], 10);
  const freshLeaf = buildCert({ ...leafSpec(91), extra: [fresh] });
  t.is(verdict(v.validate(freshLeaf, { ...base, crls: [rootCrl, plain, revoke] })), "revoked@0");
  t.is(code(91, [plain, revoke]), "valid", "neither the certificate nor the complete CRL points to deltas");
});

test("a delta CRL with the wrong base number (or not newer, or another signer) is ignored", (t) => {
  const fresh = freshestExt([{ full: [uri("http://crl.example/delta")] }]);
  const complete = caCrl([], [fresh], 10);
  const v = new Validator();
  const code = (crls: Uint8Array[]) => verdict(v.validate(leaf(92), { ...base, crls: [rootCrl, complete, ...crls] }));
  const entries = [{ serial: 92, date: NOW - DAY, reason: 1 }];
  t.is(code([caCrl(entries, [deltaIndicator(10)], 11)]), "revoked@0", "control: base 10, number 11");
  t.is(code([caCrl(entries, [deltaIndicator(12)], 13)]), "valid", "BaseCRLNumber 12 is newer than the complete CRL (10)");
  t.is(code([caCrl(entries, [deltaIndicator(9)], 10)]), "valid", "delta number 10 is not newer than the complete CRL");
  const otherKey = newKey("p256");
  t.is(code([buildCrl({ issuer: caName, issuerKey: otherKey, thisUpdate: NOW - DAY, nextUpdate: NOW + DAY, entries, extra: [deltaIndicator(10)], crlNumber: 11 })]), "valid", "signed by another key");
  t.is(code([caCrl(entries, [deltaIndicator(10), idpExt({ onlyUser: true })], 11)]), "valid", "its IDP differs from the complete CRL's");
  // An expired complete CRL is brought up to date by a current delta (6.3.3 (a)(1)(i)).
  const old = buildCrl({ issuer: caName, issuerKey: caKey, thisUpdate: NOW - 9 * DAY, nextUpdate: NOW - DAY, entries: [], extra: [fresh], crlNumber: 10 });
  const leafCode = (crls: Uint8Array[]) => verdict(v.validate(leaf(93), { ...base, crls: [rootCrl, old, ...crls] }));
  t.is(leafCode([]), "crl-expired@0");
  t.is(leafCode([caCrl([], [deltaIndicator(10)], 11)]), "valid");
  t.is(leafCode([caCrl([], [deltaIndicator(11)], 12)]), "crl-expired@0", "not a delta of this complete CRL");
});

test("an onlyContainsCACerts CRL is not used for a leaf (and onlyContainsUserCerts not for a CA)", (t) => {
  const v = new Validator();
  const arl = caCrl([], [idpExt({ onlyCa: true })]);
  const users = caCrl([], [idpExt({ onlyUser: true })]);
  t.is(verdict(v.validate(leaf(95), { ...base, crls: [rootCrl, arl] })), "crl-missing@0");
  t.is(verdict(v.validate(leaf(95), { ...base, crls: [rootCrl, arl, users] })), "valid");
  const rootArl = buildCrl({ issuer: rootName, issuerKey: rootKey, thisUpdate: NOW - DAY, nextUpdate: NOW + DAY, entries: [], extra: [idpExt({ onlyUser: true })] });
  t.is(verdict(v.validate(leaf(95), { ...base, crls: [rootArl, users] })), "crl-missing@1", "the CA certificate is not a user certificate");
});

test("distribution point names: relative names resolve against the CRL issuer, fullNames compare as GeneralNames", (t) => {
  const v = new Validator();
  const rdn = set(seq(oid("2.5.4.3"), utf8("CRL one")));
  const caCrlOneName = name(["C", "XX"], ["O", "dp"], ["CN", "Issuing CA"], ["CN", "CRL one"]);
  const relIdp: ExtensionSpec = { oid: "2.5.29.28", critical: true, value: seq(tlv(0xa0, tlv(0xa1, rdn.subarray(2)))) };
  const relCrl = caCrl([], [relIdp]);
  const byFull = leaf(96, [crlDpExt([{ full: [dirName(caCrlOneName)] }])]);
  const byRel = leaf(97, [{ oid: "2.5.29.31", value: seq(seq(tlv(0xa0, tlv(0xa1, rdn.subarray(2))))) }]);
  const elsewhere = leaf(98, [crlDpExt([{ full: [uri("http://elsewhere/")] }])]);
  t.is(verdict(v.validate(byFull, { ...base, crls: [rootCrl, relCrl] })), "valid");
  t.is(verdict(v.validate(byRel, { ...base, crls: [rootCrl, relCrl] })), "valid");
  t.is(verdict(v.validate(elsewhere, { ...base, crls: [rootCrl, relCrl] })), "crl-missing@0");
  t.is(verdict(v.validate(elsewhere, { ...base, crls: [rootCrl, caCrl([])] })), "valid", "a CRL without IDP covers every DP");
});

// ------------------------------------------------------------------ decoders on arbitrary bytes

const onlyDecodeErrors = (f: () => unknown): boolean => {
  try {
    f();
    return true;
  } catch (err) {
    return err instanceof DecodeError;
  }
};

/** Well-formed DPs and IDPs from random parts, then (mostly) one octet changed or the end cut off. */
const nameArb = fc.oneof(fc.webUrl().map(uri), fc.constantFrom(caName, rootName).map(dirName), fc.domain().map((d) => tlv(0x82, ascii(d))));
const optional = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const dpArb = fc.record({ full: optional(fc.array(nameArb, { minLength: 1, maxLength: 2 })), reasons: optional(fc.integer({ min: 1, max: 0x1ff })), crlIssuer: optional(fc.array(nameArb, { minLength: 1, maxLength: 2 })) });
const idpArb = fc.record({ full: optional(fc.array(nameArb, { minLength: 1, maxLength: 2 })), onlyUser: fc.boolean(), onlyCa: fc.boolean(), reasons: optional(fc.integer({ min: 1, max: 0x1ff })), indirect: fc.boolean() });
const mutated = (der: fc.Arbitrary<Uint8Array>) =>
  fc.tuple(der, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 3 })).map(([d, at, byte, how]) => {
    if (how === 0 || d.length === 0) return d;
    const i = at % d.length;
    if (how === 1) return d.subarray(0, i);
    const out = d.slice();
    out[i] = how === 2 ? byte : out[i] ^ 0x20;
    return out;
  });
const inputs = fc.oneof(fc.uint8Array({ maxLength: 200 }), mutated(fc.array(dpArb, { minLength: 1, maxLength: 3 }).map(dpValue)), mutated(idpArb.map((i) => idpExt(i).value)));

test("fast-check: decodeDistributionPoints and the IDP decoder throw only DecodeError, on arbitrary and on structured bytes", (t) => {
  let decodedDp = 0;
  let decodedIdp = 0;
  t.notThrows(() =>
    fc.assert(
      fc.property(inputs, (b) => {
        const dpOk = onlyDecodeErrors(() => {
          decodeDistributionPoints(b);
          decodedDp++;
        });
        const idpOk = onlyDecodeErrors(() => {
          decodeIssuingDistributionPoint(b);
          decodedIdp++;
        });
        return dpOk && idpOk;
      }),
      { numRuns: 3000, seed: 12 },
    ),
  );
  t.true(decodedDp > 100 && decodedIdp > 100, `some inputs decode, so the deeper code runs (${decodedDp} DPs, ${decodedIdp} IDPs)`);
});

test("decodeDistributionPoints: what 4.2.1.13 allows and refuses", (t) => {
  const full = decodeDistributionPoints(dpValue([{ full: [uri("http://a/"), dirName(caName)], reasons: R.keyCompromise | R.superseded, crlIssuer: [dirName(rootName)] }]));
  t.is(full.length, 1);
  t.deepEqual(full[0].fullName?.map((g) => g.type), ["uniformResourceIdentifier", "directoryName"]);
  t.is(full[0].reasons, R.keyCompromise | R.superseded);
  t.is(full[0].cRLIssuer?.[0].type, "directoryName");
  const rel = decodeDistributionPoints(seq(seq(tlv(0xa0, tlv(0xa1, seq(oid("2.5.4.3"), utf8("CRL  One")))))));
  t.is(rel[0].relativeName, "2.5.4.3=crl one", "the RDN's canonical key");
  t.is(decodeDistributionPoints(dpValue([{ crlIssuer: [dirName(caName)] }]))[0].fullName, undefined, "cRLIssuer alone is allowed");
  const refuses = (v: Uint8Array, why: RegExp) => t.throws(() => decodeDistributionPoints(v), { instanceOf: DecodeError, message: why });
  refuses(seq(), /empty/);
  refuses(seq(seq()), /neither distributionPoint nor cRLIssuer/);
  refuses(seq(seq(reasonFlags(1, R.keyCompromise))), /neither distributionPoint nor cRLIssuer/);
  refuses(seq(seq(tlv(0xa0))), /unexpected end|DistributionPointName/);
  refuses(seq(seq(tlv(0xa0, tlv(0xa0)))), /empty GeneralNames/);
  refuses(seq(seq(tlv(0xa2, dirName(caName)), tlv(0xa0, tlv(0xa0, uri("http://a/"))))), /trailing data/);
  refuses(seq(seq(tlv(0xa0, tlv(0xa0, uri("http://a/"))), tlv(0x81, Uint8Array.of(1, 0x40)))), /trailing zero bits|not DER/);
});
