import test from "ava";
import fc from "fast-check";
import { encodeTlv, fromHex } from "../../core/index.js";
import { dataObjectTag, describeCommand, describeSw, diffAnswers, insName } from "./decode.js";

test("commands are named with what P1/P2 select and the data object", (t) => {
  t.is(describeCommand(fromHex("00CB3FFF055C035FC10200")), "GET DATA (CLA 00 INS CB P1 3F P2 FF): 5FC102 CHUID");
  t.is(describeCommand(fromHex("00CB3FFF055C035FC10500")), "GET DATA (CLA 00 INS CB P1 3F P2 FF): 5FC105 X.509 Certificate for PIV Authentication (9A)");
  t.is(describeCommand(fromHex("0020008008FFFFFFFFFFFFFFFF")), "VERIFY (CLA 00 INS 20 P1 00 P2 80): PIV PIN");
  t.is(describeCommand(fromHex("0087119C00")), "GENERAL AUTHENTICATE (CLA 00 INS 87 P1 11 P2 9C): key 9C (Digital Signature), ECC P-256");
  t.is(describeCommand(fromHex("0087039B047C02800000")), "GENERAL AUTHENTICATE (CLA 00 INS 87 P1 03 P2 9B): key 9B (card management), 3DES");
  t.is(describeCommand(fromHex("0047009A05AC03800111")), "GENERATE ASYMMETRIC KEY PAIR (CLA 00 INS 47 P1 00 P2 9A): key 9A (PIV Authentication)");
  t.is(describeCommand(fromHex("002C008010FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF")), "RESET RETRY COUNTER (CLA 00 INS 2C P1 00 P2 80): PIV PIN");
  t.is(describeCommand(fromHex("00A4040009A00000030800001000")), "SELECT (CLA 00 INS A4 P1 04 P2 00): by AID A00000030800001000 (PIV)");
  t.is(describeCommand(fromHex("10DB3FFF02AABB")), "PUT DATA (CLA 10 INS DB P1 3F P2 FF, chained)");
  t.is(insName(0xfd), "GET VERSION (YubiKey)");
  t.is(insName(0xf8), "GET SERIAL (YubiKey)");
  t.is(insName(0xc0), "GET RESPONSE");
  t.is(insName(0x24), "CHANGE REFERENCE DATA");
  t.is(dataObjectTag(fromHex("00CB3FFF035C017E00")), 0x7e);
  t.is(describeCommand(fromHex("00CB3FFF035C017E00")), "GET DATA (CLA 00 INS CB P1 3F P2 FF): 7E Discovery Object");
});

test("status words are decoded with core's table", (t) => {
  t.is(describeSw(0x63c2), "63C2 (verification failed, 2 tries left)");
  t.is(describeSw(0x6a82), "6A82 (data object or application not found)");
  t.is(describeSw(0x6983), "6983 (authentication method blocked)");
  t.is(describeSw(0x6110), "6110 (success, 16 more bytes to GET RESPONSE)");
});

test("two answers' difference is named as a TLV path: the certificate in a certificate object, the GUID in a CHUID", (t) => {
  const cert = (fill: number, n: number) => new Uint8Array(n).fill(fill);
  const a = encodeTlv(0x53, [encodeTlv(0x70, cert(1, 742)), encodeTlv(0x71, Uint8Array.of(0)), encodeTlv(0xfe, new Uint8Array(0))]);
  const bCert = cert(1, 742);
  bCert[412] = 9;
  const b = encodeTlv(0x53, [encodeTlv(0x70, bCert), encodeTlv(0x71, Uint8Array.of(0)), encodeTlv(0xfe, new Uint8Array(0))]);
  t.deepEqual(diffAnswers(a, b), { path: ["53", "70"], text: "53/70 certificate differs at byte 412 of 742" });

  const chuid = (guid: number) => encodeTlv(0x53, [encodeTlv(0x30, new Uint8Array(25)), encodeTlv(0x34, new Uint8Array(16).fill(guid)), encodeTlv(0x35, fromHex("3230333030363330"))]);
  t.deepEqual(diffAnswers(chuid(1), chuid(2))!.path, ["53", "34"]);
  t.regex(diffAnswers(chuid(1), chuid(2))!.text, /^53\/34 GUID differs at byte 0 of 16$/);

  const shorter = encodeTlv(0x53, [encodeTlv(0x70, cert(1, 700))]);
  t.regex(diffAnswers(a, shorter)!.text, /^53\/70 certificate differs in length: recorded 742 bytes, replayed 700$/);
  t.is(diffAnswers(a, a), undefined);
  t.deepEqual(diffAnswers(fromHex("0102"), fromHex("0103")), { path: [], text: "answer differs at byte 1 of 2" });
  // a host that read only the first 8 bytes of two certificate objects of other lengths
  t.deepEqual(diffAnswers(fromHex("5382024C70820243"), fromHex("5382014C70820143")), {
    path: ["53", "70"],
    text: "53/70 certificate is 579 bytes in the recorded answer, 323 in the replayed one (from the first bytes read)",
  });
  t.regex(diffAnswers(encodeTlv(0x53, encodeTlv(0x70, cert(1, 3))), encodeTlv(0x53, [encodeTlv(0x70, cert(1, 3)), encodeTlv(0x71, Uint8Array.of(1))]))!.text, /^53\/71 certificate info only in the replayed answer$/);
});

test("fuzz: describeCommand, dataObjectTag and diffAnswers never throw, and diffAnswers is undefined exactly when the bytes are equal", (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }), (a, b) => {
        describeCommand(a);
        dataObjectTag(a);
        const d = diffAnswers(a, b);
        const equal = a.length === b.length && a.every((x, i) => x === b[i]);
        return equal ? d === undefined : d !== undefined && typeof d.text === "string" && d.text.length > 0;
      }),
      { numRuns: 2000 },
    ),
  );
});

test("fuzz: TLV-shaped answers that differ in one byte are located at a path of their tags", (t) => {
  const tlvTree = fc.array(fc.tuple(fc.constantFrom(0x70, 0x71, 0x34, 0x99), fc.uint8Array({ minLength: 1, maxLength: 40 })), { minLength: 1, maxLength: 4 });
  t.notThrows(() =>
    fc.assert(
      fc.property(tlvTree, fc.nat(), (items, pick) => {
        const object = encodeTlv(0x53, items.map(([tag, v]) => encodeTlv(tag, v)));
        const changed = items.map(([tag, v]) => [tag, Uint8Array.from(v)] as const);
        const which = pick % changed.length;
        const [tag, value] = changed[which];
        value[pick % value.length] ^= 0xff;
        const other = encodeTlv(0x53, changed.map(([tg, v]) => encodeTlv(tg, v)));
        const d = diffAnswers(object, other)!;
        return d.path[0] === "53" && d.path[1] === tag.toString(16).toUpperCase() && d.path.length === 2;
      }),
      { numRuns: 500 },
    ),
  );
});
