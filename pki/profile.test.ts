import test, { type ExecutionContext } from "ava";
import fc from "fast-check";
import { generateEcKeyPair } from "../core/index.js";
import { buildCertificate, encodeName, ext } from "./build/certificate.js";
import { keyIdentifier, softwareSigningKey } from "./build/keys.js";
import { Certificate } from "./certificate.js";
import { KU as BIT, OID } from "./oids.js";
import { PEDANTIC_RULES, type PathRole, certificateProfile, crlProfile } from "./profile.js";
import { Crl } from "./crl.js";
import type { ResultCode } from "./errors.js";
import { type CertSpec, type CrlSpec, type ExtensionSpec, KU, buildCert, buildCrl, explicit, integer, name, newKey, octets, oid, seq, set, tlv, utf8 } from "./testing/builder.js";
import { KeyPool, buildChain, chainParams } from "./testing/chains.js";
import { HierarchyKeys, buildHierarchy, hierarchySpec } from "./testing/hierarchies.js";
import { certDer, pkits, validatePkits } from "./testing/pkits.js";
import { codeAt as verdict } from "./testing/assertions.js";
import { Validator } from "./validator.js";

/**
 * The strict profile (profile.ts): for every reason code a chain built to break exactly
 * that rule fails with it in strict mode, at the right position, and validates in lenient
 * mode; conforming chains (the production builders, random chains) pass strict; and every
 * PKITS case keeps its verdict with the strict profile on.
 */

const DAY = 86_400_000;
const NOW = Date.UTC(2031, 0, 15);
const keys = { root: newKey(), ca: newKey(), leaf: newKey() };
const rootName = name(["C", "XX"], ["O", "profile"], ["CN", "Root"]);
const caName = name(["C", "XX"], ["O", "profile"], ["CN", "Issuing CA"]);
const leafName = name(["C", "XX"], ["CN", "Holder"]);
const enc = (s: string) => new TextEncoder().encode(s);
const x = (oidText: string, value: Uint8Array, critical = false): ExtensionSpec => ({ oid: oidText, value, critical });
const skiOf = (k: typeof keys.root) => x(OID.subjectKeyIdentifier, octets(keyIdFor(k)));
const akiOf = (k: typeof keys.root) => x(OID.authorityKeyIdentifier, seq(tlv(0x80, keyIdFor(k))));
const keyIdFor = (k: typeof keys.root) => keyIdentifier(k.spki);

type Over = Partial<CertSpec>;
const rootSpec = (o: Over = {}): CertSpec => ({ serial: 1, issuer: rootName, subject: rootName, notBefore: NOW - 900 * DAY, notAfter: NOW + 900 * DAY, subjectKey: keys.root, issuerKey: keys.root, ca: true, keyUsage: KU.keyCertSign | KU.cRLSign, ...o });
const caSpec = (o: Over = {}): CertSpec => ({ serial: 2, issuer: rootName, subject: caName, notBefore: NOW - 800 * DAY, notAfter: NOW + 800 * DAY, subjectKey: keys.ca, issuerKey: keys.root, ca: true, pathLen: 0, keyUsage: KU.keyCertSign | KU.cRLSign, ...o });
const leafSpec = (o: Over = {}): CertSpec => ({ serial: 3, issuer: caName, subject: leafName, notBefore: NOW - 100 * DAY, notAfter: NOW + 100 * DAY, subjectKey: keys.leaf, issuerKey: keys.ca, ca: false, keyUsage: KU.digitalSignature, ...o });

interface Chain {
  root?: Over;
  ca?: Over;
  leaf?: Over;
  crls?: Array<Partial<CrlSpec>>;
}
const v = new Validator();
function validate(c: Chain, profile: "strict" | "pedantic" | "lenient") {
  const crls = (c.crls ?? []).map((o, i) =>
    buildCrl({ issuer: i === 0 ? rootName : caName, issuerKey: i === 0 ? keys.root : keys.ca, thisUpdate: NOW - DAY, nextUpdate: NOW + 7 * DAY, entries: [], ...o }),
  );
  return v.validate(buildCert(leafSpec(c.leaf)), { anchors: [buildCert(rootSpec(c.root))], intermediates: [buildCert(caSpec(c.ca))], crls, time: NOW, profile });
}

/** Strict (or `level`): `code` at `position`, the detail citing RFC 5280; lenient: valid. */
function breaks(t: ExecutionContext, c: Chain, code: string, position: number, section: string, level: "strict" | "pedantic" = "strict") {
  const strict = validate(c, level);
  t.is(verdict(strict), `${code}@${position}`);
  if (!strict.valid) t.regex(strict.detail, new RegExp(`RFC 5280 ${section.replace(/\./g, "\\.")}`));
  t.is(verdict(validate(c, "lenient")), "valid");
}

/** A rule of PEDANTIC_RULES: pedantic gives `code` at `position`; strict and lenient: valid. */
function pedanticOnly(t: ExecutionContext, c: Chain, code: string, position: number, section: string) {
  breaks(t, c, code, position, section, "pedantic");
  t.is(verdict(validate(c, "strict")), "valid");
}

test("the chain the cases start from passes strict", (t) => {
  t.is(verdict(validate({}, "strict")), "valid");
  t.is(verdict(validate({ crls: [{}, {}] }, "strict")), "valid");
});

test("profile-serial-number (4.1.2.2): zero, negative, longer than 20 octets; a 20-octet value with its sign octet passes", (t) => {
  breaks(t, { leaf: { serial: 0 } }, "profile-serial-number", 0, "4.1.2.2");
  breaks(t, { leaf: { serial: -5 } }, "profile-serial-number", 0, "4.1.2.2");
  breaks(t, { leaf: { serial: 1n << 160n } }, "profile-serial-number", 0, "4.1.2.2"); // 21 octets of value
  breaks(t, { ca: { serial: 0 } }, "profile-serial-number", 1, "4.1.2.2");
  // The anchor is the user's configuration (public roots with serial 0 exist): judged by the pedantic profile only.
  pedanticOnly(t, { root: { serial: 0 } }, "profile-serial-number", 2, "4.1.2.2");
  t.is(verdict(validate({ leaf: { serial: (1n << 160n) - 1n } }, "strict")), "valid"); // 20 octets 0xff.., encoded with a 00 in front
});

test("profile-time-encoding (4.1.2.5): GeneralizedTime before 2050 in a CA, the anchor or the leaf, pedantic only (PKITS 4.2.4)", (t) => {
  pedanticOnly(t, { ca: { generalizedTimes: true } }, "profile-time-encoding", 1, "4.1.2.5");
  pedanticOnly(t, { root: { generalizedTimes: true } }, "profile-time-encoding", 2, "4.1.2.5");
  pedanticOnly(t, { leaf: { generalizedTimes: true } }, "profile-time-encoding", 0, "4.1.2.5");
  // From 2050 GeneralizedTime is right (and what the builder writes).
  t.is(verdict(validate({ root: { notAfter: Date.UTC(2051, 0, 1) } }, "pedantic")), "valid");
});

test("profile-empty-subject (4.1.2.6, 4.2.1.6): a CA with an empty subject; an empty subject without a critical subjectAltName", (t) => {
  const san = (critical: boolean) => x(OID.subjectAltName, seq(tlv(0x81, enc("holder@example.com"))), critical);
  breaks(t, { leaf: { subject: name() } }, "profile-empty-subject", 0, "4.1.2.6");
  breaks(t, { leaf: { subject: name(), extra: [san(false)] } }, "profile-empty-subject", 0, "4.1.2.6");
  t.is(verdict(validate({ leaf: { subject: name(), extra: [san(true)] } }, "strict")), "valid");
  breaks(t, { ca: { subject: name() }, leaf: { issuer: name() } }, "profile-empty-subject", 1, "4.1.2.6");
  // 4.1.2.4: an empty issuer (reachable only without the CA above; path validation meets that CA first).
  t.regex(certificateProfile(new Certificate(buildCert(leafSpec({ issuer: name() }))), "leaf")?.detail ?? "", /RFC 5280 4\.1\.2\.4/);
});

test("profile-empty-extension: an empty extKeyUsage (4.2.1.12), AIA, SIA, CRL DP; an empty GeneralName in a subjectAltName (4.2.1.6)", (t) => {
  breaks(t, { leaf: { eku: [] } }, "profile-empty-extension", 0, "4.2.1.12");
  breaks(t, { leaf: { extra: [x(OID.authorityInfoAccess, seq())] } }, "profile-empty-extension", 0, "4.2.2.1");
  breaks(t, { ca: { extra: [x(OID.subjectInfoAccess, seq())] } }, "profile-empty-extension", 1, "4.2.2.2");
  breaks(t, { leaf: { extra: [x(OID.crlDistributionPoints, seq())] } }, "profile-empty-extension", 0, "4.2.1.13");
  breaks(t, { leaf: { extra: [x(OID.subjectAltName, seq(tlv(0x81, enc("a@example.com")), tlv(0x82)))] } }, "profile-empty-extension", 0, "4.2.1.6");
  breaks(t, { leaf: { extra: [x(OID.subjectAltName, seq(tlv(0x82, enc(" "))))] } }, "profile-empty-extension", 0, "4.2.1.6");
  breaks(t, { leaf: { extra: [x(OID.issuerAltName, seq(tlv(0x86)))] } }, "profile-empty-extension", 0, "4.2.1.7");
  t.is(verdict(validate({ leaf: { eku: [OID.kpClientAuth] } }, "strict")), "valid");
});

test("malformed (4.2.1.6, 4.2.1.7): subjectAltName and issuerAltName are decoded whole in strict mode, with no name constraint on the path", (t) => {
  const san = (...g: Uint8Array[]) => [x(OID.subjectAltName, seq(...g))];
  const bad: Array<[string, Uint8Array]> = [
    ["a constructed dNSName", tlv(0xa2, tlv(0x16, enc("a.example")))],
    ["a primitive x400Address", tlv(0x83, Uint8Array.of(1))],
    ["an x400Address that is no ORAddress", tlv(0xa3, utf8("x"))],
    ["an ediPartyName without partyName", tlv(0xa5, utf8("x"))],
    ["an empty registeredID", tlv(0x88)],
    ["a directoryName holding a SET", tlv(0xa4, set(seq(oid("2.5.4.3"), utf8("x"))))],
    ["an otherName with two values", tlv(0xa0, oid("1.2.3"), explicit(0, utf8("a"), utf8("b")))],
    ["an otherName with no value", tlv(0xa0, oid("1.2.3"), explicit(0))],
    ["an unknown GeneralName tag", tlv(0x89, Uint8Array.of(1))],
  ];
  for (const [what, g] of bad) {
    breaks(t, { leaf: { extra: san(tlv(0x82, enc("ok.example")), g) } }, "malformed", 0, "4.2.1.6");
    t.is(verdict(validate({ leaf: { extra: san(g) } }, "strict")), "malformed@0", what);
  }
  breaks(t, { ca: { extra: san(tlv(0xa2, tlv(0x16, enc("a.example")))) } }, "malformed", 1, "4.2.1.6");
  breaks(t, { leaf: { extra: [x(OID.issuerAltName, seq(tlv(0x88)))] } }, "malformed", 0, "4.2.1.7");
  // 4.2.1.6: an iPAddress is exactly 4 (IPv4) or 16 (IPv6) octets; 8 or 32 is a constraint's address and mask.
  for (const n of [1, 5, 8, 15, 32]) breaks(t, { leaf: { extra: san(tlv(0x87, new Uint8Array(n).fill(10))) } }, "malformed", 0, "4.2.1.6");
  const every = [
    tlv(0xa0, oid("1.3.6.1.4.1.311.20.2.3"), explicit(0, utf8("holder@corp.example"))), tlv(0x81, enc("holder@example.com")), tlv(0x82, enc("holder.example")),
    tlv(0xa3, seq()), tlv(0xa4, name(["CN", "Holder"])), tlv(0xa5, explicit(0, utf8("assigner")), explicit(1, utf8("party"))), tlv(0x86, enc("https://holder.example/")),
    tlv(0x87, Uint8Array.of(192, 0, 2, 1)), tlv(0x87, new Uint8Array(16).fill(0x20)), tlv(0x88, oid("1.2.3.4").subarray(2)),
  ];
  t.is(verdict(validate({ leaf: { extra: [...san(...every), x(OID.issuerAltName, seq(...every))] } }, "strict")), "valid");
});

test("profile-extension-criticality: AKI, SKI, AIA, freshestCRL critical; nameConstraints, inhibitAnyPolicy not; basicConstraints and policyConstraints not (pedantic)", (t) => {
  const noIds = { keyIds: false };
  breaks(t, { leaf: { ...noIds, extra: [skiOf(keys.leaf), { ...akiOf(keys.ca), critical: true }] } }, "profile-extension-criticality", 0, "4.2.1.1");
  breaks(t, { leaf: { ...noIds, extra: [{ ...skiOf(keys.leaf), critical: true }, akiOf(keys.ca)] } }, "profile-extension-criticality", 0, "4.2.1.2");
  breaks(t, { leaf: { extra: [x(OID.authorityInfoAccess, seq(seq(oid(OID.adOcsp), tlv(0x86, enc("http://ocsp.example/")))), true)] } }, "profile-extension-criticality", 0, "4.2.2.1");
  breaks(t, { leaf: { extra: [x(OID.freshestCrl, seq(seq(tlv(0xa0, tlv(0xa0, tlv(0x86, enc("http://crl.example/d.crl")))))), true)] } }, "profile-extension-criticality", 0, "4.2.1.15");
  breaks(t, { ca: { extra: [x(OID.nameConstraints, seq(tlv(0xa0, seq(tlv(0x82, enc("example.com"))))))] } }, "profile-extension-criticality", 1, "4.2.1.10");
  breaks(t, { ca: { extra: [x(OID.inhibitAnyPolicy, integer(5))] } }, "profile-extension-criticality", 1, "4.2.1.14");
  pedanticOnly(t, { root: { bcCritical: false } }, "profile-extension-criticality", 2, "4.2.1.9");
  pedanticOnly(t, { ca: { bcCritical: false } }, "profile-extension-criticality", 1, "4.2.1.9");
  // requireExplicitPolicy 5: the anchor's policy constraints apply (RFC 5937) but do not bite on this short path.
  pedanticOnly(t, { root: { extra: [x(OID.policyConstraints, seq(tlv(0x80, Uint8Array.of(5))))] } }, "profile-extension-criticality", 2, "4.2.1.11");
  pedanticOnly(t, { ca: { extra: [x(OID.policyConstraints, seq(tlv(0x80, Uint8Array.of(2))))] } }, "profile-extension-criticality", 1, "4.2.1.11");
  pedanticOnly(t, { leaf: { ca: true, bcCritical: false, keyUsage: KU.keyCertSign | KU.digitalSignature, extra: [] } }, "profile-extension-criticality", 0, "4.2.1.9");
});

test("PEDANTIC_RULES: a non-critical basicConstraints or policyConstraints in a CA and unique identifiers in v3 pass strict, not pedantic", (t) => {
  const pc = x(OID.policyConstraints, seq(tlv(0x80, Uint8Array.of(2))));
  const uid = { issuerUniqueId: Uint8Array.of(1, 2), subjectUniqueId: Uint8Array.of(3) };
  for (const [c, role, code] of [
    [{ ca: { bcCritical: false } }, "ca", "profile-extension-criticality"],
    [{ ca: { extra: [pc] } }, "ca", "profile-extension-criticality"],
    [{ leaf: uid }, "leaf", "malformed"],
  ] as Array<[Chain, PathRole, ResultCode]>) {
    t.is(verdict(validate(c, "strict")), "valid");
    t.not(verdict(validate(c, "pedantic")), "valid");
    const der = buildCert(role === "ca" ? caSpec(c.ca) : leafSpec(c.leaf));
    t.is(certificateProfile(new Certificate(der), role), undefined);
    t.is(certificateProfile(new Certificate(der), role, "pedantic")?.code, code);
  }
  t.is(Object.keys(PEDANTIC_RULES).length, 4);
});

test("unique identifiers in a v1 certificate (4.1.2.8: they MUST NOT appear there) are malformed in strict mode", (t) => {
  breaks(t, { leaf: { version: 1, subjectUniqueId: Uint8Array.of(7) } }, "malformed", 0, "4.1.2.8");
  t.is(verdict(validate({ leaf: { version: 1 } }, "strict")), "valid"); // a v1 end entity carries no extensions to judge
});

test("profile-missing-authority-key-id (4.2.1.1): none, or one without keyIdentifier, below a self-signed certificate", (t) => {
  breaks(t, { leaf: { keyIds: false, extra: [skiOf(keys.leaf)] } }, "profile-missing-authority-key-id", 0, "4.2.1.1");
  const serialOnly = x(OID.authorityKeyIdentifier, seq(tlv(0xa1, tlv(0xa4, rootName)), tlv(0x82, Uint8Array.of(2))));
  breaks(t, { leaf: { keyIds: false, extra: [skiOf(keys.leaf), serialOnly] } }, "profile-missing-authority-key-id", 0, "4.2.1.1");
  // Self-issued but not self-signed (a rollover certificate): the exception does not cover it.
  breaks(t, { ca: { subject: rootName, keyIds: false, extra: [skiOf(keys.ca)] }, leaf: { issuer: rootName } }, "profile-missing-authority-key-id", 1, "4.2.1.1");
  // Self-signed: MAY omit it (the anchor, as the embedded CA's root does).
  t.is(verdict(validate({ root: { keyIds: false, extra: [skiOf(keys.root)] } }, "strict")), "valid");
});

test("profile-missing-subject-key-id (4.2.1.2): a CA certificate without SKI; the anchor under pedantic only", (t) => {
  breaks(t, { ca: { keyIds: false, extra: [akiOf(keys.root)] } }, "profile-missing-subject-key-id", 1, "4.2.1.2");
  pedanticOnly(t, { root: { keyIds: false } }, "profile-missing-subject-key-id", 2, "4.2.1.2");
  t.is(verdict(validate({ leaf: { keyIds: false, extra: [akiOf(keys.ca)] } }, "strict")), "valid"); // SHOULD only, in an end entity
});

test("profile-key-usage (4.2.1.3, 4.2.1.9): no bit set, keyCertSign without cA, pathLenConstraint without cA, a CA without keyUsage", (t) => {
  breaks(t, { leaf: { keyUsage: 0 } }, "profile-key-usage", 0, "4.2.1.3");
  breaks(t, { leaf: { keyUsage: KU.digitalSignature | KU.keyCertSign } }, "profile-key-usage", 0, "4.2.1.3");
  breaks(t, { leaf: { ca: false, pathLen: 0 } }, "profile-key-usage", 0, "4.2.1.9");
  breaks(t, { leaf: { ca: true, pathLen: 0, keyUsage: KU.digitalSignature } }, "profile-key-usage", 0, "4.2.1.9");
  breaks(t, { ca: { keyUsage: undefined } }, "profile-key-usage", 1, "4.2.1.3");
  pedanticOnly(t, { root: { keyUsage: undefined } }, "profile-key-usage", 2, "4.2.1.3");
});

test("path validation's own codes come first: a CA that is no CA, or lacks keyCertSign, is basic-constraints / key-usage in both modes", (t) => {
  for (const profile of ["strict", "lenient"] as const) {
    t.is(verdict(validate({ ca: { ca: false, pathLen: undefined } }, profile)), "basic-constraints@1");
    t.is(verdict(validate({ ca: { ca: undefined, pathLen: undefined } }, profile)), "basic-constraints@1");
    t.is(verdict(validate({ ca: { keyUsage: KU.cRLSign } }, profile)), "key-usage@1");
  }
});

test("profile-duplicate-policy (4.2.1.4): a policy OID twice", (t) => {
  const p = "2.16.840.1.101.3.2.1.48.1";
  breaks(t, { leaf: { extra: [x(OID.certificatePolicies, seq(seq(oid(p)), seq(oid("2.16.840.1.101.3.2.1.48.2")), seq(oid(p))))] } }, "profile-duplicate-policy", 0, "4.2.1.4");
  const many = Array.from({ length: 40 }, (_, i) => `1.2.3.${i}`);
  breaks(t, { leaf: { extra: [x(OID.certificatePolicies, seq(...[...many, "1.2.3.39"].map((o) => seq(oid(o)))))] } }, "profile-duplicate-policy", 0, "4.2.1.4");
  t.is(verdict(validate({ leaf: { extra: [x(OID.certificatePolicies, seq(...many.map((o) => seq(oid(o)))))] } }, "strict")), "valid");
});

test("profile-name-constraints-in-leaf (4.2.1.10): nameConstraints in a certificate that is not a CA", (t) => {
  const nc = x(OID.nameConstraints, seq(tlv(0xa0, seq(tlv(0x82, enc("example.com"))))), true);
  breaks(t, { leaf: { extra: [nc] } }, "profile-name-constraints-in-leaf", 0, "4.2.1.10");
});

test("crl-number-missing, crl-number-critical (5.2.3): at the position of the certificate the CRL answers for", (t) => {
  const num = (critical: boolean, value: Uint8Array) => ({ crlNumber: null, extra: [x(OID.crlNumber, value, critical)] });
  breaks(t, { crls: [{}, { crlNumber: null }] }, "crl-number-missing", 0, "5.2.3");
  breaks(t, { crls: [{ crlNumber: null }, {}] }, "crl-number-missing", 1, "5.2.3");
  breaks(t, { crls: [{}, num(true, integer(7))] }, "crl-number-critical", 0, "5.2.3");
  breaks(t, { crls: [{}, num(false, integer(-1))] }, "crl-number-missing", 0, "5.2.3");
  breaks(t, { crls: [{}, num(false, integer(1n << 160n))] }, "crl-number-missing", 0, "5.2.3");
  t.is(verdict(validate({ crls: [{}, num(false, integer((1n << 160n) - 1n))] }, "strict")), "valid");
  t.is(crlProfile(new Crl(buildCrl({ issuer: caName, issuerKey: keys.ca, thisUpdate: NOW, entries: [], crlNumber: 0 }))), undefined);
});

test("the embedded CA's certificates (pki/build/certificate.ts) pass strict", (t) => {
  const signer = () => softwareSigningKey(generateEcKeyPair("P-256").privateKey);
  const root = signer();
  const issuing = signer();
  const holder = signer();
  const rn = encodeName([[OID.commonName, "Profile Root CA"], [OID.organization, "Profile"]]);
  const inn = encodeName([[OID.commonName, "Profile Issuing CA"], [OID.organization, "Profile"]]);
  const rootDer = buildCertificate(
    { serial: Uint8Array.of(0x4a, 1), issuer: rn, subject: rn, notBefore: NOW - DAY, notAfter: Date.UTC(2056, 0, 1), spki: root.spki, extensions: [ext.basicConstraints(true), ext.keyUsage([BIT.keyCertSign, BIT.cRLSign]), ext.subjectKeyIdentifier(keyIdentifier(root.spki))] },
    root,
  );
  const issuingDer = buildCertificate(
    {
      serial: Uint8Array.of(0x4a, 2), issuer: rn, subject: inn, notBefore: NOW - DAY, notAfter: Date.UTC(2046, 0, 1), spki: issuing.spki,
      extensions: [ext.basicConstraints(true, 0), ext.keyUsage([BIT.digitalSignature, BIT.keyCertSign, BIT.cRLSign]), ext.subjectKeyIdentifier(keyIdentifier(issuing.spki)), ext.authorityKeyIdentifier(keyIdentifier(root.spki)), ext.crlDistributionPoint("http://ca.example/arl")],
    },
    root,
  );
  for (const [profile, ku] of [["authentication", [BIT.digitalSignature]], ["signature", [BIT.digitalSignature, BIT.nonRepudiation]]] as const) {
    const leaf = buildCertificate(
      {
        serial: Uint8Array.from(Buffer.from("4f1e2d3c4b5a69788796a5b4c3d2e1f0", "hex")), issuer: inn, subject: encodeName([[OID.commonName, "Ada Holder"], [OID.organization, "Profile"]]),
        notBefore: NOW - DAY, notAfter: NOW + 365 * DAY, spki: holder.spki,
        extensions: [
          ext.basicConstraints(false), ext.keyUsage([...ku]), ...(profile === "authentication" ? [ext.extKeyUsage([OID.kpClientAuth])] : []),
          ext.subjectKeyIdentifier(keyIdentifier(holder.spki)), ext.authorityKeyIdentifier(keyIdentifier(issuing.spki)),
          ext.ocspAccess("http://ca.example/ocsp"), ext.crlDistributionPoint("http://ca.example/crl"), ext.emailAltName("ada@example.com"),
        ],
      },
      issuing,
    );
    const r = v.validate(leaf, { anchors: [rootDer], intermediates: [issuingDer], time: NOW, usage: profile, profile: "strict" });
    t.is(verdict(r), "valid", profile);
  }
});

test("property: random conforming chains (chains.ts) get the same verdict in strict and lenient mode", (t) => {
  const pool = new KeyPool(6);
  let n = 0;
  // Conforming: a CA certificate carries keyUsage (RFC 5280 4.2.1.3), so "absent" becomes the standard bits.
  const conforming = chainParams().map((p) => ({ ...p, intermediates: p.intermediates.map((c) => ({ ...c, keyUsage: c.keyUsage === "absent" ? ("standard" as const) : c.keyUsage })) }));
  t.notThrows(() =>
    fc.assert(
      fc.property(conforming, (p) => {
        const c = buildChain(p, `p${n++}`, pool);
        const opts = { anchors: [c.root], intermediates: c.intermediates, crls: c.crls, time: c.time };
        const strict = v.validate(c.leaf, { ...opts, profile: "strict" });
        const lenient = v.validate(c.leaf, { ...opts, profile: "lenient" });
        return verdict(strict) === verdict(lenient);
      }),
      { numRuns: 150 },
    ),
  );
});

test("property: random conforming hierarchies with name constraints and policies (hierarchies.ts) get the same verdict in strict and lenient mode", (t) => {
  const hk = new HierarchyKeys();
  t.notThrows(() =>
    fc.assert(
      fc.property(hierarchySpec(), (spec) => {
        const h = buildHierarchy(spec, hk);
        const opts = { anchors: [h.root], intermediates: h.intermediates, time: h.time };
        return verdict(v.validate(h.leaf, { ...opts, profile: "strict" })) === verdict(v.validate(h.leaf, { ...opts, profile: "lenient" }));
      }),
      { numRuns: 100 },
    ),
  );
});

// ---------------------------------------------------------------- PKITS

test("PKITS: no case's verdict changes with the strict profile; 4.4.15's negative serial is named", (t) => {
  const pv = new Validator();
  const changed: string[] = [];
  const codes: string[] = [];
  for (const c of pkits.cases) {
    const strict = verdict(validatePkits(pv, c, { profile: "strict" }));
    const lenient = verdict(validatePkits(pv, c, { profile: "lenient" }));
    if ((strict === "valid") !== (lenient === "valid")) changed.push(`${c.number}: strict ${strict}, lenient ${lenient}`);
    else if (strict !== lenient) codes.push(`${c.number}: ${strict}`);
  }
  t.deepEqual(changed, []);
  t.deepEqual(codes, ["4.4.15: profile-serial-number@0"]);
});

test("PKITS certificates that break the letter of RFC 5280 are the ones PEDANTIC_RULES names", (t) => {
  const full = (n: string, role: PathRole) => certificateProfile(new Certificate(certDer(n)), role, "pedantic")?.code;
  t.is(full("ValidGeneralizedTimenotBeforeDateTest4EE", "leaf"), "profile-time-encoding");
  t.is(full("basicConstraintsNotCriticalCACert", "ca"), "profile-extension-criticality");
  t.is(full("PoliciesP12CACert", "ca"), "profile-extension-criticality");
  t.is(full("UIDCACert", "ca"), "malformed");
  t.is(full("GoodCACert", "ca"), undefined);
  t.is(full("TrustAnchorRootCertificate", "anchor"), undefined); // self-signed: no AKI needed
});
