import test from "ava";
import fc from "fast-check";
import { Certificate, DecodeError, Validator, normalizeText, parseName } from "./index.js";
import { NameConstraintsState, decodeNameConstraints } from "./name-constraints.js";
import { KU, buildCert, name, newKey, printable, seq, set, oid, utf8, tlv } from "./testing/builder.js";

const parse = (der: Uint8Array) => parseName(der, 0, der.length);
const key = (der: Uint8Array) => parse(der).key;
const enc = (s: string) => new TextEncoder().encode(s);

test("RFC 5280 7.1: case, surrounding and repeated whitespace do not matter", (t) => {
  t.is(key(name(["C", "US"], ["CN", "Good  CA "])), key(seq(set(seq(oid("2.5.4.6"), printable("us"))), set(seq(oid("2.5.4.3"), printable(" good ca"))))));
});

test("PrintableString and UTF8String of the same text match (rollover, PKITS 4.3.10)", (t) => {
  t.is(key(seq(set(seq(oid("2.5.4.3"), printable("Rollover CA"))))), key(seq(set(seq(oid("2.5.4.3"), utf8("Rollover CA"))))));
});

test("non-ASCII UTF8String compares case-insensitively after NFKC", (t) => {
  t.is(key(seq(set(seq(oid("2.5.4.3"), utf8("ÉCOLE ﬁne"))))), key(seq(set(seq(oid("2.5.4.3"), utf8("école fine"))))));
});

test("RDN order matters; attributes within one RDN are a set", (t) => {
  t.not(key(name(["O", "a"], ["OU", "b"])), key(name(["OU", "b"], ["O", "a"])));
  const ab = seq(set(seq(oid("2.5.4.10"), utf8("a")), seq(oid("2.5.4.11"), utf8("b"))));
  const ba = seq(set(seq(oid("2.5.4.11"), utf8("b")), seq(oid("2.5.4.10"), utf8("a"))));
  t.is(key(ab), key(ba));
});

test("different values, attribute types or non-string values differ", (t) => {
  t.not(key(name(["CN", "a"])), key(name(["CN", "b"])));
  t.not(key(name(["CN", "a"])), key(name(["O", "a"])));
  const octet = seq(set(seq(oid("2.5.4.45"), tlv(0x03, new Uint8Array([0, 1])))));
  const octet2 = seq(set(seq(oid("2.5.4.45"), tlv(0x03, new Uint8Array([0, 2])))));
  t.not(key(octet), key(octet2));
});

test("property: normalization is idempotent and ignores case of ASCII", (t) => {
  fc.assert(
    fc.property(fc.string(), (s) => normalizeText(normalizeText(s)) === normalizeText(s) && normalizeText(s.toUpperCase()) === normalizeText(s.toLowerCase())),
  );
  t.is(normalizeText("  A \t  B  "), "a b");
});

test("invalid UTF-8 in a UTF8String is a DecodeError: two different invalid values cannot compare equal", (t) => {
  const cn = (b: number[]) => seq(set(seq(oid("2.5.4.3"), tlv(0x0c, Uint8Array.from(b)))));
  for (const b of [[0xff], [0xfe], [0x61, 0x80], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82]]) t.throws(() => parse(cn(b)), { instanceOf: DecodeError }, b.join(","));
  t.is(parse(cn([0x63, 0xc3, 0xa9])).display, "CN=c\u00e9");
});

test("key is the RDN keys joined by ',', and equal keys mean equal RDN sequences (what the directoryName index relies on)", (t) => {
  const value = fc.string({ unit: fc.constantFrom("a", ",", "+", "=", "\\", " ", "#"), maxLength: 4 });
  const rdn = fc.array(fc.tuple(fc.constantFrom("2.5.4.3", "2.5.4.10"), value), { minLength: 1, maxLength: 2 });
  const der = fc.array(rdn, { maxLength: 3 }).map((rs) => seq(...rs.map((avas) => set(...avas.map(([o, v]) => seq(oid(o), utf8(v)))))));
  t.notThrows(() =>
    fc.assert(
      fc.property(der, der, (a, b) => {
        const [x, y] = [parse(a), parse(b)];
        return x.key === x.rdns.join(",") && (x.key === y.key) === (JSON.stringify(x.rdns) === JSON.stringify(y.rdns));
      }),
      { numRuns: 500 },
    ),
  );
});

test("an emailAddress that is no string is kept as opaqueEmails (its DER in hex), strings as emails", (t) => {
  const n = parse(seq(set(seq(oid("1.2.840.113549.1.9.1"), tlv(0x16, enc("a@example.com")))), set(seq(oid("1.2.840.113549.1.9.1"), tlv(0x04, enc("x@example.com"))))));
  t.deepEqual([n.emails, n.opaqueEmails], [["a@example.com"], ["040d78406578616d706c652e636f6d"]]);
  t.deepEqual(parse(name(["CN", "x"])).opaqueEmails, []);
});

test("name constraints refuse a subject emailAddress that is no string wherever rfc822Name is constrained (OpenSSL: unsupported name syntax)", (t) => {
  const k = newKey("p256");
  const T = Date.UTC(2030, 0, 1);
  const subject = seq(set(seq(oid("2.5.4.3"), utf8("x"))), set(seq(oid("1.2.840.113549.1.9.1"), tlv(0x04, enc("x@example.com")))));
  const san = (g: Uint8Array[]) => (g.length ? [{ oid: "2.5.29.17", value: seq(...g) }] : []);
  const leaf = (g: Uint8Array[] = []) => new Certificate(buildCert({ serial: 9, issuer: name(["CN", "CA"]), subject, notBefore: T, notAfter: T + 1, subjectKey: k, issuerKey: k, ca: false, keyUsage: KU.digitalSignature, extra: san(g) }));
  const subtrees = (tag: number, g: Uint8Array) => tlv(tag, seq(g));
  const check = (ncs: Uint8Array[], cert: Certificate) => {
    const s = new NameConstraintsState();
    ncs.forEach((v, i) => s.add(decodeNameConstraints(v), `CA${i + 1}`));
    const v = s.check(cert);
    return v ? `${v.code}: ${v.detail}` : "ok";
  };
  const [email, dns] = [(s: string) => tlv(0x81, enc(s)), (s: string) => tlv(0x82, enc(s))];
  t.regex(check([seq(subtrees(0xa1, email("example.com")))], leaf()), /^name-not-permitted: emailAddress #040d78406578616d706c652e636f6d \(subject, not a string\) cannot be compared .*"CA1"/);
  t.regex(check([seq(subtrees(0xa0, email("example.com")))], leaf()), /^name-not-permitted: /);
  t.regex(check([seq(subtrees(0xa0, dns("example.com"))), seq(subtrees(0xa1, email("evil.example")))], leaf([dns("www.example.com")])), /^name-not-permitted: /, "a second CA constraining rfc822Name");
  t.is(check([seq(subtrees(0xa0, dns("example.com")))], leaf([dns("www.example.com")])), "ok", "not where only other forms are constrained");
  // A self-issued intermediate with that subject, under a CA constraining rfc822Name: the validator skips its names.
  const [rootName, rootKey, siKey] = [name(["CN", "Root"]), newKey("p256"), newKey("p256")];
  const ca = { notBefore: T - 1, notAfter: T + 2, ca: true, keyUsage: KU.keyCertSign | KU.cRLSign };
  const root = buildCert({ ...ca, serial: 1, issuer: rootName, subject: rootName, subjectKey: rootKey, issuerKey: rootKey });
  const constraining = buildCert({ ...ca, serial: 2, issuer: rootName, subject, subjectKey: k, issuerKey: rootKey, extra: [{ oid: "2.5.29.30", critical: true, value: seq(subtrees(0xa0, email("example.com"))) }] });
  const selfIssued = buildCert({ ...ca, serial: 3, issuer: subject, subject, subjectKey: siKey, issuerKey: k });
  const holder = buildCert({ serial: 4, issuer: subject, subject: name(["CN", "Holder"]), notBefore: T, notAfter: T + 1, subjectKey: k, issuerKey: siKey, ca: false, keyUsage: KU.digitalSignature });
  const r = new Validator().validate(holder, { anchors: [root], intermediates: [constraining, selfIssued], time: T });
  t.true(r.valid, r.valid ? "" : `not for a self-issued intermediate's subject: ${r.code} ${r.detail}`);
});
