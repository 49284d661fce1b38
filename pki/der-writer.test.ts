import test from "ava";
import fc from "fast-check";
import * as asn1js from "asn1js";
import { DerWriter, encodeOidContent } from "./der-writer.js";
import { DerReader, decodeOid, readOne, readTlv, type Tlv } from "./der.js";

/** The elements inside a constructed one, read with pki's own DER reader. */
function children(der: Uint8Array, parent: Tlv): Tlv[] {
  const r = DerReader.of(der, parent);
  const out: Tlv[] = [];
  while (!r.atEnd()) out.push(r.read());
  return out;
}

/** An OCTET STRING's DER header worked out by hand (X.690 8.1.3): short form below 128, else 0x80 | count and the length big-endian. */
function octetStringHeader(n: number): number[] {
  if (n < 0x80) return [0x04, n];
  const len: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) len.unshift(v & 0xff);
  return [0x04, 0x80 | len.length, ...len];
}

/** The streaming DER writer against asn1js (an independent decoder) and our reader. */
test("lengths at every long-form boundary, including a nested move of a large value", (t) => {
  for (const n of [0, 1, 127, 128, 255, 256, 65_535, 65_536, 1 << 24]) {
    const body = Buffer.alloc(n, 0xab);
    const der = new DerWriter(8).begin(0x30).begin(0x30).octetString(body).end().end().finish();
    const outer = readOne(der, 0x30, "outer");
    const [inner] = children(der, outer);
    const [os] = children(der, inner);
    t.is(os.end - os.valueStart, n, `length ${n}`);
    t.deepEqual([...der.subarray(os.start, os.valueStart)], octetStringHeader(n), `header of length ${n}`);
  }
});

test("integers, OIDs, booleans, times and bit strings decode with asn1js", (t) => {
  const w = new DerWriter().begin(0x30);
  w.integer(0).integer(127).integer(128).integer(2n ** 64n).integer(Uint8Array.of(0, 0, 0x80, 1)).enumerated(6);
  w.oid("1.2.840.10045.4.3.2").oid("2.999.1").boolean(true).null();
  w.time(Date.UTC(2049, 11, 31, 23, 59, 59)).time(Date.UTC(2050, 0, 1)).generalizedTime(Date.UTC(2026, 1, 3, 4, 5, 6));
  w.namedBits([0, 1]).namedBits([5, 6, 8]).utf8String("Zoë").end();
  const der = w.finish();
  const parsed = asn1js.fromBER(new Uint8Array(der).buffer);
  t.is(parsed.offset, der.length);
  const v = (parsed.result as asn1js.Sequence).valueBlock.value;
  const ints = v.slice(0, 5).map((x) => (x as asn1js.Integer).toBigInt());
  t.deepEqual(ints, [0n, 127n, 128n, 2n ** 64n, 0x8001n]);
  t.is((v[5] as asn1js.Enumerated).valueBlock.valueDec, 6);
  t.is((v[6] as asn1js.ObjectIdentifier).valueBlock.toString(), "1.2.840.10045.4.3.2");
  t.is((v[7] as asn1js.ObjectIdentifier).valueBlock.toString(), "2.999.1");
  t.true((v[8] as asn1js.Boolean).valueBlock.value);
  t.true(v[10] instanceof asn1js.UTCTime);
  t.is((v[10] as asn1js.UTCTime).toDate().getTime(), Date.UTC(2049, 11, 31, 23, 59, 59));
  t.true(v[11] instanceof asn1js.GeneralizedTime, "RFC 5280: GeneralizedTime from 2050");
  t.is((v[12] as asn1js.GeneralizedTime).toDate().getTime(), Date.UTC(2026, 1, 3, 4, 5, 6));
  const ku = (v[13] as asn1js.BitString).valueBlock;
  t.is(ku.unusedBits, 6);
  t.deepEqual([...new Uint8Array(ku.valueHexView)], [0xc0]);
  t.is((v[15] as asn1js.Utf8String).valueBlock.value, "Zoë");
  const oid = Uint8Array.of(0x06, 9, ...encodeOidContent("1.3.6.1.5.5.7.48.1.2"));
  t.is(decodeOid(oid, readTlv(oid, 0, oid.length)), "1.3.6.1.5.5.7.48.1.2");
});

test("property: random nested structures round-trip through asn1js", (t) => {
  type Node = { kind: "leaf"; bytes: Uint8Array } | { kind: "seq"; items: Node[] };
  const { node } = fc.letrec<{ node: Node }>((tie) => ({
    node: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ kind: "leaf" as const, bytes })),
      fc.array(tie("node"), { maxLength: 5 }).map((items) => ({ kind: "seq" as const, items })),
    ),
  }));
  const write = (w: DerWriter, n: Node): void => {
    if (n.kind === "leaf") w.octetString(n.bytes);
    else {
      w.begin(0x30);
      n.items.forEach((i) => write(w, i));
      w.end();
    }
  };
  const same = (a: asn1js.AsnType, n: Node): boolean =>
    n.kind === "leaf"
      ? a instanceof asn1js.OctetString && Buffer.from(a.valueBlock.valueHexView).equals(Buffer.from(n.bytes))
      : a instanceof asn1js.Sequence && a.valueBlock.value.length === n.items.length && n.items.every((c, i) => same(a.valueBlock.value[i], c));
  fc.assert(
    fc.property(node, (n) => {
      const w = new DerWriter(4);
      write(w, n);
      const der = w.finish();
      const p = asn1js.fromBER(new Uint8Array(der).buffer);
      return p.offset === der.length && same(p.result, n) && Buffer.from(p.result.toBER()).equals(der);
    }),
    { numRuns: 200 },
  );
  t.throws(() => new DerWriter().begin(0x30).finish());
});
