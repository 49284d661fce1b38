import test from "ava";
import fc from "fast-check";
import { normalizeText, parseName } from "./index.js";
import { name, printable, seq, set, oid, utf8, tlv } from "./testing/builder.js";

const key = (der: Uint8Array) => parseName(der, 0, der.length).key;

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
