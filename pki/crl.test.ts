import test from "ava";
import { Crl } from "./crl.js";
import { DecodeError } from "./errors.js";
import { buildCrl, integer, name, newKey, tlv } from "./testing/builder.js";

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
