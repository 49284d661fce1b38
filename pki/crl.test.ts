import test from "ava";
import { Crl } from "./crl.js";
import { DecodeError } from "./errors.js";
import { buildCrl, integer, name, newKey, oid, seq, tlv, utf8 } from "./testing/builder.js";

const key = newKey("p256");
const issuer = name(["CN", "CRL number CA"]);
const crl = (over: Partial<Parameters<typeof buildCrl>[0]> = {}) => new Crl(buildCrl({ issuer, issuerKey: key, thisUpdate: 0, entries: [], ...over }));

test("crlNumber: the cRLNumber extension as a bigint, undefined without one, DecodeError when it is no INTEGER", (t) => {
  t.is(crl({ crlNumber: 42 }).crlNumber, 42n);
  t.is(crl({ crlNumber: 0 }).crlNumber, 0n);
  t.is(crl({ crlNumber: null }).crlNumber, undefined);
  // 20 octets, the most RFC 5280 5.2.3 allows
  t.is(crl({ crlNumber: null, extra: [{ oid: "2.5.29.20", value: integer((1n << 159n) - 1n) }] }).crlNumber, (1n << 159n) - 1n);
  t.throws(() => crl({ crlNumber: null, extra: [{ oid: "2.5.29.20", value: tlv(0x04, Uint8Array.of(1)) }] }).crlNumber, { instanceOf: DecodeError });
});

// ------------------------------------------------------------------ RFC 5280 5.2.4-5.2.6, 5.3.3

const idpCrl = (content: Uint8Array[]) => crl({ extra: [{ oid: "2.5.29.28", critical: true, value: seq(...content) }] });
const uri = (s: string) => tlv(0x86, new TextEncoder().encode(s));

test("idp: the IssuingDistributionPoint decoded whole; scope summarises it", (t) => {
  const c = idpCrl([tlv(0xa0, tlv(0xa0, uri("http://crl.example/a"))), tlv(0x81, Uint8Array.of(0xff)), tlv(0x83, Uint8Array.of(0x07, 0x80)), tlv(0x84, Uint8Array.of(0xff))]);
  const idp = c.idp!;
  t.deepEqual(idp.fullName, [{ type: "uniformResourceIdentifier", value: "http://crl.example/a" }]);
  t.true(idp.onlyContainsUserCerts);
  t.false(idp.onlyContainsCACerts);
  t.is(idp.onlySomeReasons, 1, "ReasonFlags bit 0 (unused) alone");
  t.true(idp.indirectCRL);
  t.false(idp.onlyContainsAttributeCerts);
  t.deepEqual(idp.fullName, [{ type: "uniformResourceIdentifier", value: "http://crl.example/a" }]);
  t.is(c.idp, idp, "decoded once");
  const rel = idpCrl([tlv(0xa0, tlv(0xa1, seq(oid("2.5.4.3"), utf8("Part 1"))))]);
  t.is(rel.idp?.relativeName, "2.5.4.3=part 1");
  t.is(rel.idpName?.directoryKey, `${rel.issuer.key},2.5.4.3=part 1`, "resolved against the CRL issuer");
  t.is(crl().idp, undefined);
});

test("idp: malformed IssuingDistributionPoints are DecodeErrors", (t) => {
  const refuses = (content: Uint8Array[], why: RegExp) => t.throws(() => idpCrl(content).idp, { instanceOf: DecodeError, message: why });
  refuses([], /empty SEQUENCE/);
  refuses([tlv(0x81, Uint8Array.of(0))], /FALSE encoded/);
  refuses([tlv(0x84, Uint8Array.of(0xff)), tlv(0x81, Uint8Array.of(0xff))], /out of order/);
  refuses([tlv(0x81, Uint8Array.of(0xff)), tlv(0x82, Uint8Array.of(0xff))], /more than one/);
  refuses([tlv(0x86, Uint8Array.of(0xff))], /unknown IssuingDistributionPoint field/);
  refuses([tlv(0xa3, Uint8Array.of())], /constructed encoding/);
  refuses([tlv(0xa0, tlv(0xa2, uri("x")))], /DistributionPointName/);
});

test("delta CRLs: deltaCRLIndicator's BaseCRLNumber, freshestCRL", (t) => {
  const delta = crl({ crlNumber: 12, extra: [{ oid: "2.5.29.27", critical: true, value: integer(11) }] });
  t.true(delta.isDelta);
  t.is(delta.baseCrlNumber, 11n);
  t.is(delta.crlNumber, 12n);
  t.is(delta.unknownCriticalExtension(), undefined, "deltaCRLIndicator is known");
  const complete = crl({ extra: [{ oid: "2.5.29.46", value: seq(seq(tlv(0xa0, tlv(0xa0, uri("http://crl.example/delta"))))) }] });
  t.false(complete.isDelta);
  t.is(complete.baseCrlNumber, undefined);
  t.deepEqual(complete.freshestCrl[0].fullName, [{ type: "uniformResourceIdentifier", value: "http://crl.example/delta" }]);
  t.deepEqual(crl().freshestCrl, []);
  t.throws(() => crl({ extra: [{ oid: "2.5.29.27", critical: true, value: tlv(0x04, Uint8Array.of(1)) }] }).baseCrlNumber, { instanceOf: DecodeError });
});

test("certificateIssuer is a known entry extension; entries are indexed per issuer", (t) => {
  const other = name(["CN", "Other CA"]);
  const ci = (n: Uint8Array) => ({ oid: "2.5.29.29", critical: true, value: seq(tlv(0xa4, n)) });
  const c = crl({
    entries: [
      { serial: 1, date: 0 },
      { serial: 2, date: 0, extra: [ci(other)] },
      { serial: 3, date: 0 },
      { serial: 1, date: 0, extra: [ci(issuer)] },
    ],
  });
  t.is(c.unknownCriticalExtension(), undefined);
  t.is(c.size, 4);
  t.deepEqual([...c.entries()].map((e) => e.serial), ["01", "02", "03", "01"], "every entry, in CRL order");
  const otherKey = new Crl(buildCrl({ issuer: other, issuerKey: key, thisUpdate: 0, entries: [] })).issuer.key;
  t.is(c.lookup("02", otherKey)?.serial, "02");
  t.is(c.lookup("03", otherKey)?.serial, "03", "inherits the last certificateIssuer");
  t.is(c.lookup("01", otherKey), undefined);
  t.is(c.lookup("02"), undefined, "not the CRL issuer's");
  t.is(c.lookup("01", c.issuer.key)?.serial, "01");
  t.is(c.lookup("03", c.issuer.key), undefined);
  t.is(crl({ entries: [{ serial: 9, date: 0 }] }).lookup("09", otherKey), undefined, "a CRL without certificateIssuer entries has none for another issuer");
});
