import test from "ava";
import { createECDH, createHash, createPublicKey, diffieHellman, generateKeyPairSync, verify } from "node:crypto";
import { concatBytes, decodeTlvs, encodeTlv, findTlv, fromHex, readTlv, toHex } from "../../core/index.js";
import { ATR, PIV_AID, PivCard, encodeFascn } from "./index.js";
import { apdu, dyn, ecbDecrypt, ecbEncrypt, mgmAuth, MGM, newCard, pinBlock, tx } from "./testing.js";

const E = new Uint8Array(0);
const getData = (tag: string, le: number | undefined = 0) => apdu(0, 0xcb, 0x3f, 0xff, fromHex(`5c${(tag.length / 2).toString(16).padStart(2, "0")}${tag}`), le);
const verifyPin = (pin: string) => apdu(0, 0x20, 0, 0x80, pinBlock(pin));
const emptyVerify = apdu(0, 0x20, 0, 0x80);
const generate = (slot: number, alg: number) => apdu(0, 0x47, 0, slot, encodeTlv(0xac, encodeTlv(0x80, Uint8Array.of(alg))), 0);
const sign = (alg: number, slot: number, input: Uint8Array) =>
  apdu(0, 0x87, alg, slot, encodeTlv(0x7c, [encodeTlv(0x82, E), encodeTlv(0x81, input)]), 0);
const putData = (tag: string, content: Uint8Array) =>
  concatBytes(fromHex(`5c03${tag}`), encodeTlv(0x53, content));

/** A full PUT DATA command, extended length (for objects over 255 bytes). */
function putDataExtended(tag: string, content: Uint8Array): Uint8Array {
  const body = putData(tag, content);
  return concatBytes(fromHex("00db3fff00"), Uint8Array.of(body.length >> 8, body.length & 0xff), body);
}

test("power on answers the ATR: contact T=1, historical bytes 'cardloop', valid TCK", (t) => {
  const card = PivCard.create({ expires: new Date("2030-01-01T00:00:00Z") });
  const atr = card.powerOn();
  t.is(toHex(atr), "3bf81300008131fe15" + Buffer.from("cardloop").toString("hex") + toHex(atr.subarray(-1)));
  t.false(atr[2] === 0x80 && atr[3] === 0x01 && (atr[1] & 0xf0) === 0x80, "not the contactless pattern OpenSC checks for");
  t.is(atr.subarray(1).reduce((a, b) => a ^ b, 0), 0, "XOR from T0 through TCK is zero");
  t.is(toHex(ATR), toHex(atr));
});

test("SELECT by full and truncated AID answers the application property template", (t) => {
  const card = newCard();
  for (const aid of [PIV_AID, PIV_AID.subarray(0, 5), PIV_AID.subarray(0, 9)]) {
    const r = tx(card, apdu(0, 0xa4, 4, 0, aid, 0));
    t.is(r.sw, "9000");
    const apt = readTlv(r.bytes);
    t.is(apt.tag, 0x61);
    const items = decodeTlvs(apt.value);
    t.is(toHex(findTlv(items, 0x4f)!.value), "000010000100");
    const authority = decodeTlvs(findTlv(items, 0x79)!.value);
    t.is(toHex(findTlv(authority, 0x4f)!.value), "a000000308");
    t.true(findTlv(items, 0x50)!.value.length > 0);
    const algs = decodeTlvs(findTlv(items, 0xac)!.value).filter((x) => x.tag === 0x80).map((x) => x.value[0]);
    t.deepEqual(algs.sort((a, b) => a - b), [0x03, 0x07, 0x08, 0x0a, 0x0c, 0x11, 0x14]);
  }
  t.is(tx(card, apdu(0, 0xa4, 4, 0x0c, PIV_AID)).sw, "9000");
  t.is(tx(card, apdu(0, 0xa4, 4, 0x0c, PIV_AID)).data, "");
  t.is(tx(card, apdu(0, 0xa4, 4, 0, fromHex("a000000308ff"), 0)).sw, "6A82");
  t.is(tx(card, apdu(0, 0xa4, 4, 0, fromHex("a0000003"), 0)).sw, "6A82");
  t.is(tx(card, apdu(0, 0xa4, 4, 0, fromHex("a0000000030000"), 0)).sw, "6A82");
  t.is(tx(card, apdu(0, 0xa4, 4, 0, concatBytes(PIV_AID, Uint8Array.of(0)), 0)).sw, "6A82");
  t.is(tx(card, apdu(0, 0xa4, 0, 0, fromHex("3f00"))).sw, "6A82");
  t.is(tx(card, apdu(0, 0xa4, 4, 1, PIV_AID)).sw, "6A86");
  t.is(tx(card, apdu(0, 0xa4, 2, 0, PIV_AID)).sw, "6A86");
});

test("CHUID carries FASC-N, GUID, the card's expiry as YYYYMMDD, signature and EDC", (t) => {
  const card = newCard({ expires: new Date("2031-02-03T10:00:00Z") });
  const r = tx(card, getData("5fc102"));
  t.is(r.sw, "9000");
  const c = readTlv(r.bytes);
  t.is(c.tag, 0x53);
  const items = decodeTlvs(c.value);
  t.deepEqual(items.map((i) => i.tag), [0x30, 0x34, 0x35, 0x3e, 0xfe]);
  t.is(findTlv(items, 0x30)!.value.length, 25);
  t.is(findTlv(items, 0x34)!.value.length, 16);
  t.is(Buffer.from(findTlv(items, 0x35)!.value).toString(), "20310203");
  t.is(card.expires.toISOString(), "2031-02-03T10:00:00.000Z");
});

test("FASC-N encodes SP 800-73 5-bit BCD with parity and LRC", (t) => {
  // The well-known test FASC-N: agency 9999, system 9999, credential 999999, series 9, issue 9,
  // person 9999999999, org category 1, org 9999, association 1.
  const f = encodeFascn({
    agency: "9999",
    system: "9999",
    credential: "999999",
    series: "9",
    issue: "9",
    person: "9999999999",
    orgCategory: "1",
    org: "9999",
    association: "1",
  });
  t.is(f.length, 25);
  t.is(f[0], 0xd4, "SS (11010) then the first 9 (10011)");
  // every 5-bit character has odd parity
  const bits = [...f].flatMap((b) => [7, 6, 5, 4, 3, 2, 1, 0].map((i) => (b >> i) & 1));
  for (let i = 0; i < 200; i += 5) t.is(bits.slice(i, i + 5).reduce((a, b) => a + b, 0) % 2, 1, `char ${i / 5}`);
  t.throws(() => encodeFascn({ agency: "12", system: "9999", credential: "999999", series: "9", issue: "9", person: "9999999999", orgCategory: "1", org: "9999", association: "1" }), { instanceOf: RangeError });
});

test("CCC, Discovery object and key history are present and well formed", (t) => {
  const card = newCard();
  const ccc = readTlv(tx(card, getData("5fc107")).bytes);
  t.is(ccc.tag, 0x53);
  const cccItems = decodeTlvs(ccc.value);
  t.is(findTlv(cccItems, 0xf0)!.value.length, 21);
  t.truthy(findTlv(cccItems, 0xfe));
  const disc = tx(card, getData("7e"));
  t.is(disc.sw, "9000");
  t.is(disc.data, "7E124F0BA0000003080000100001005F2F024000");
  const kh = decodeTlvs(readTlv(tx(card, getData("5fc10c")).bytes).value);
  t.is(toHex(findTlv(kh, 0xc1)!.value), "00");
  t.is(toHex(findTlv(kh, 0xc2)!.value), "00");
});

test("GET DATA errors: absent object 6A82, bad P1/P2 6A86, malformed tag list 6A80", (t) => {
  const card = newCard();
  for (const tag of ["5fc105", "5fc10a", "5fc10b", "5fc101", "5fc106", "5fc1ff"]) t.is(tx(card, getData(tag)).sw, "6A82", tag);
  t.is(tx(card, apdu(0, 0xcb, 0x3f, 0xfe, fromHex("5c035fc102"), 0)).sw, "6A86");
  t.is(tx(card, apdu(0, 0xcb, 0, 0, fromHex("5c035fc102"), 0)).sw, "6A86");
  t.is(tx(card, apdu(0, 0xcb, 0x3f, 0xff, fromHex("4c035fc102"), 0)).sw, "6A80");
  t.is(tx(card, apdu(0, 0xcb, 0x3f, 0xff, fromHex("5c045fc102"), 0)).sw, "6A80");
  t.is(tx(card, apdu(0, 0xcb, 0x3f, 0xff, fromHex("5c045fc10201"), 0)).sw, "6A80");
  t.is(tx(card, apdu(0, 0xcb, 0x3f, 0xff, E, 0)).sw, "6A80");
  t.is(tx(card, apdu(0, 0xcb, 0x3f, 0xff, fromHex("5c00"), 0)).sw, "6A80");
});

test("PIN-protected objects (printed information) need VERIFY to be read", (t) => {
  const card = newCard();
  // Without the PIN, an absent protected object is not revealed as absent: 6982 either way.
  t.is(tx(card, getData("5fc108")).sw, "6982");
  t.is(mgmAuth(card).sw, "9000");
  t.is(tx(card, apdu(0, 0xdb, 0x3f, 0xff, putData("5fc109", encodeTlv(0x01, fromHex("41"))))).sw, "9000");
  t.is(tx(card, getData("5fc109")).sw, "6982");
  t.is(tx(card, verifyPin("123456")).sw, "9000");
  t.is(tx(card, getData("5fc109")).data, "5303010141");
  t.is(tx(card, getData("5fc108")).sw, "6A82", "with the PIN, absence shows");
});

test("PUT DATA: needs the management key, validates its input, empty container deletes", (t) => {
  const card = newCard();
  const cert = encodeTlv(0x70, fromHex("3082"));
  t.is(tx(card, apdu(0, 0xdb, 0x3f, 0xff, putData("5fc105", cert))).sw, "6982");
  t.is(mgmAuth(card).sw, "9000");
  t.is(tx(card, apdu(0, 0xdb, 0x3f, 0xfe, putData("5fc105", cert))).sw, "6A86");
  t.is(tx(card, apdu(0, 0xdb, 0x3f, 0xff, fromHex("5c035fc105"))).sw, "6A80", "no 53");
  t.is(tx(card, apdu(0, 0xdb, 0x3f, 0xff, fromHex("53020000"))).sw, "6A80", "no 5C");
  t.is(tx(card, apdu(0, 0xdb, 0x3f, 0xff, fromHex("5c035fc1055305"))).sw, "6A80", "truncated");
  t.is(tx(card, apdu(0, 0xdb, 0x3f, 0xff, concatBytes(putData("5fc105", cert), fromHex("00")))).sw, "6A80", "trailing");
  t.is(tx(card, apdu(0, 0xdb, 0x3f, 0xff, fromHex("5c017e530100"))).sw, "6A80", "discovery is not writable");
  t.is(tx(card, apdu(0, 0xdb, 0x3f, 0xff, putData("5fc1ff", cert))).sw, "6A80", "unknown tag");
  t.is(tx(card, putDataExtended("5fc105", new Uint8Array(9000))).sw, "6A84");
  t.is(tx(card, apdu(0, 0xdb, 0x3f, 0xff, putData("5fc105", cert))).sw, "9000");
  t.is(tx(card, getData("5fc105")).data, toHex(encodeTlv(0x53, cert)).toUpperCase());
  t.is(tx(card, apdu(0, 0xdb, 0x3f, 0xff, putData("5fc105", E))).sw, "9000");
  t.is(tx(card, getData("5fc105")).sw, "6A82");
});

test("long responses: 61xx then GET RESPONSE, honouring Le; extended Le takes all", (t) => {
  const card = newCard();
  mgmAuth(card);
  const content = encodeTlv(0x70, new Uint8Array(1000).map((_, i) => i & 0xff));
  t.is(tx(card, putDataExtended("5fc105", content)).sw, "9000");
  const whole = encodeTlv(0x53, content);
  // short Le 00 = 256 bytes per piece
  let r = tx(card, getData("5fc105", 0));
  const parts = [r.bytes];
  t.is(r.bytes.length, 256);
  t.is(r.sw, "6100", "more than 255 bytes remain");
  let rounds = 0;
  while (r.sw.startsWith("61")) {
    const le = parseInt(r.sw.slice(2), 16);
    r = tx(card, apdu(0, 0xc0, 0, 0, E, le));
    parts.push(r.bytes);
    rounds++;
  }
  t.is(r.sw, "9000");
  t.is(rounds, 3);
  t.is(toHex(concatBytes(...parts)), toHex(whole));
  // a small Le gets that many bytes
  r = tx(card, getData("5fc105", 0x10));
  t.is(r.bytes.length, 16);
  t.is(r.sw, "6100");
  // another command drops what was pending
  tx(card, emptyVerify);
  t.is(tx(card, apdu(0, 0xc0, 0, 0, E, 0)).sw, "6985");
  // GET RESPONSE with nothing pending, or with bad P1/P2
  t.is(tx(card, apdu(0, 0xc0, 0, 0, E, 0)).sw, "6985");
  tx(card, getData("5fc105", 0));
  t.is(tx(card, apdu(0, 0xc0, 1, 0, E, 0)).sw, "6A86");
  // extended Le: everything at once
  const ext = concatBytes(fromHex("00cb3fff000005"), fromHex("5c035fc105"), fromHex("0000"));
  r = tx(card, ext);
  t.is(r.sw, "9000");
  t.is(toHex(r.bytes), toHex(whole));
  // no Le at all: up to 256 bytes, rest behind 61xx
  r = tx(card, apdu(0, 0xcb, 0x3f, 0xff, fromHex("5c035fc105")));
  t.is(r.bytes.length, 256);
  t.is(r.sw, "6100");
  // last piece smaller than 256 says its exact size
  r = tx(card, apdu(0, 0xc0, 0, 0, E, 0));
  r = tx(card, apdu(0, 0xc0, 0, 0, E, 0));
  r = tx(card, apdu(0, 0xc0, 0, 0, E, 0));
  t.is(r.sw, "9000");
  t.is(r.bytes.length, whole.length - 3 * 256);
});

test("command chaining: PUT DATA in pieces; chaining refused elsewhere; an interruption drops the chain", (t) => {
  const card = newCard();
  mgmAuth(card);
  const body = putData("5fc10a", encodeTlv(0x70, new Uint8Array(600).fill(0x42)));
  const pieces = [body.subarray(0, 255), body.subarray(255, 510), body.subarray(510)];
  t.is(tx(card, apdu(0x10, 0xdb, 0x3f, 0xff, pieces[0])).sw, "9000");
  t.is(tx(card, apdu(0x10, 0xdb, 0x3f, 0xff, pieces[1])).sw, "9000");
  t.is(tx(card, apdu(0x00, 0xdb, 0x3f, 0xff, pieces[2])).sw, "9000");
  const back = tx(card, concatBytes(fromHex("00cb3fff000005"), fromHex("5c035fc10a"), fromHex("0000")));
  t.is(toHex(back.bytes), toHex(body.subarray(5)));
  t.is(tx(card, apdu(0x10, 0xcb, 0x3f, 0xff, fromHex("5c017e"))).sw, "6884");
  // interrupted: the final piece alone is not a valid object
  t.is(tx(card, apdu(0x10, 0xdb, 0x3f, 0xff, pieces[0])).sw, "9000");
  t.is(tx(card, emptyVerify).sw, "63C3");
  t.is(tx(card, apdu(0x00, 0xdb, 0x3f, 0xff, pieces[1])).sw, "6A80");
  // a chain that grows beyond any object is refused
  const sws = new Set<string>();
  for (let i = 0; i < 40; i++) sws.add(tx(card, apdu(0x10, 0xdb, 0x3f, 0xff, new Uint8Array(255))).sw);
  t.true(sws.has("6A84"));
});

test("class and length errors: 6E00, 6700; unknown instruction 6D00", (t) => {
  const card = newCard();
  t.is(tx(card, fromHex("80a4040000")).sw, "6E00");
  t.is(tx(card, fromHex("0ccb3fff00")).sw, "6E00");
  t.is(tx(card, fromHex("ffa4040000")).sw, "6E00");
  t.is(tx(card, fromHex("00a404")).sw, "6700");
  t.is(tx(card, fromHex("")).sw, "6700");
  t.is(tx(card, fromHex("00a40400050102")).sw, "6700");
  t.is(tx(card, fromHex("00a4040000000501")).sw, "6700");
  t.is(tx(card, fromHex("00b0000000")).sw, "6D00");
  t.is(tx(card, fromHex("0084000008")).sw, "6D00");
});

test("VERIFY: retry counter 63Cx, blocked 6983, success resets the counter, FF resets status", (t) => {
  const card = newCard();
  t.is(tx(card, emptyVerify).sw, "63C3");
  t.is(tx(card, verifyPin("000000")).sw, "63C2");
  t.is(tx(card, verifyPin("123456")).sw, "9000");
  t.is(tx(card, emptyVerify).sw, "9000", "verified");
  t.is(tx(card, apdu(0, 0x20, 0xff, 0x80)).sw, "9000");
  t.is(tx(card, emptyVerify).sw, "63C3", "status reset, counter back to 3");
  t.is(tx(card, apdu(0, 0x20, 0, 0x80, fromHex("313233343536"))).sw, "6A80", "not padded to 8");
  t.is(tx(card, apdu(0, 0x20, 0, 0x81, pinBlock("12345678"))).sw, "6A88");
  t.is(tx(card, apdu(0, 0x20, 0, 0x00, pinBlock("123456"))).sw, "6A88");
  t.is(tx(card, apdu(0, 0x20, 1, 0x80, pinBlock("123456"))).sw, "6A86");
  t.is(tx(card, apdu(0, 0x20, 0xff, 0x80, pinBlock("123456"))).sw, "6A80");
  t.is(tx(card, verifyPin("111111")).sw, "63C2");
  t.is(tx(card, verifyPin("111111")).sw, "63C1");
  t.is(tx(card, verifyPin("111111")).sw, "63C0");
  t.is(tx(card, verifyPin("123456")).sw, "6983");
  t.is(tx(card, emptyVerify).sw, "6983");
  t.is(card.state.pinLeft, 0);
});

test("PIN retries are configurable", (t) => {
  const card = newCard({ pinRetries: 5, pin: "87654321" });
  t.is(tx(card, emptyVerify).sw, "63C5");
  t.is(tx(card, verifyPin("87654321")).sw, "9000");
  t.throws(() => newCard({ pinRetries: 0 }), { instanceOf: RangeError });
  t.throws(() => newCard({ pin: "123" }), { instanceOf: RangeError });
  t.throws(() => newCard({ managementKey: fromHex("0102") }), { instanceOf: RangeError });
  t.throws(() => PivCard.create({ expires: new Date("nope") }), { instanceOf: RangeError });
});

test("CHANGE REFERENCE DATA for PIN and PUK", (t) => {
  const card = newCard();
  const change = (ref: number, oldV: string, newV: string) =>
    tx(card, apdu(0, 0x24, 0, ref, concatBytes(pinBlock(oldV), pinBlock(newV))));
  t.is(change(0x80, "123456", "24680135").sw, "9000");
  t.is(tx(card, verifyPin("123456")).sw, "63C2");
  t.is(tx(card, verifyPin("24680135")).sw, "9000");
  t.is(change(0x80, "000000", "111111").sw, "63C2", "wrong old PIN costs a try");
  t.is(change(0x80, "24680135", "12345").sw, "6A80", "new PIN too short");
  t.is(tx(card, apdu(0, 0x24, 0, 0x80, concatBytes(pinBlock("24680135"), fromHex("31323334353637ff00")))).sw, "6A80");
  t.is(tx(card, apdu(0, 0x24, 0, 0x80, pinBlock("24680135"))).sw, "6A80", "Lc 8");
  t.is(change(0x9b, "24680135", "111111").sw, "6A88");
  t.is(tx(card, apdu(0, 0x24, 1, 0x80, concatBytes(pinBlock("24680135"), pinBlock("111111")))).sw, "6A86");
  t.is(change(0x81, "12345678", "87654321").sw, "9000");
  t.is(change(0x81, "12345678", "11111111").sw, "63C2");
  t.is(change(0x81, "12345678", "11111111").sw, "63C1");
  t.is(change(0x81, "12345678", "11111111").sw, "63C0");
  t.is(change(0x81, "87654321", "11111111").sw, "6983", "PUK blocked");
  t.is(change(0x80, "24680135", "13572468").sw, "9000", "success resets the PIN counter too");
  t.is(card.state.pinLeft, 3);
});

test("RESET RETRY COUNTER unblocks the PIN with the PUK and sets a new PIN", (t) => {
  const card = newCard();
  for (let i = 0; i < 3; i++) tx(card, verifyPin("000000"));
  t.is(tx(card, emptyVerify).sw, "6983");
  const reset = (puk: string, pin: string) => tx(card, apdu(0, 0x2c, 0, 0x80, concatBytes(pinBlock(puk), pinBlock(pin))));
  t.is(reset("00000000", "654321").sw, "63C2");
  t.is(tx(card, apdu(0, 0x2c, 0, 0x81, concatBytes(pinBlock("12345678"), pinBlock("654321")))).sw, "6A88");
  t.is(tx(card, apdu(0, 0x2c, 1, 0x80, concatBytes(pinBlock("12345678"), pinBlock("654321")))).sw, "6A86");
  t.is(reset("12345678", "65").sw, "6A80");
  t.is(reset("12345678", "654321").sw, "9000");
  t.is(tx(card, emptyVerify).sw, "63C3");
  t.is(tx(card, verifyPin("654321")).sw, "9000");
  t.is(card.state.pukLeft, 3);
  reset("00000000", "111111");
  reset("00000000", "111111");
  t.is(reset("00000000", "111111").sw, "63C0");
  t.is(reset("12345678", "111111").sw, "6983");
});

test("management key mutual authentication (3DES) and its failures", (t) => {
  const card = newCard();
  const r = mgmAuth(card);
  t.is(r.sw, "9000");
  t.is(toHex(dyn(r, 0x82)), toHex(ecbEncrypt(0x03, MGM, new Uint8Array(8).fill(0x5a))), "card proves the key");
  t.is(mgmAuth(card, fromHex("0102030405060708010203040506070801020304050607ff")).sw, "6982");
  // a witness answer without asking for a witness
  const fresh = newCard();
  t.is(
    tx(fresh, apdu(0, 0x87, 3, 0x9b, encodeTlv(0x7c, [encodeTlv(0x80, new Uint8Array(8)), encodeTlv(0x81, new Uint8Array(8))]), 0)).sw,
    "6985",
  );
  t.is(tx(fresh, apdu(0, 0x87, 0x08, 0x9b, encodeTlv(0x7c, encodeTlv(0x80, E)), 0)).sw, "6A86", "wrong algorithm");
  t.is(tx(fresh, apdu(0, 0x87, 0x03, 0x9b, fromHex("7c0380"), 0)).sw, "6A80", "malformed");
  t.is(tx(fresh, apdu(0, 0x87, 0x03, 0x9b, fromHex("7d028000"), 0)).sw, "6A80", "not 7C");
  t.is(tx(fresh, apdu(0, 0x87, 0x03, 0x9b, encodeTlv(0x7c, encodeTlv(0x83, E)), 0)).sw, "6A80", "nothing asked");
  // witness with a challenge of the wrong size
  tx(fresh, apdu(0, 0x87, 3, 0x9b, encodeTlv(0x7c, encodeTlv(0x80, E)), 0));
  t.is(
    tx(fresh, apdu(0, 0x87, 3, 0x9b, encodeTlv(0x7c, [encodeTlv(0x80, new Uint8Array(8)), encodeTlv(0x81, new Uint8Array(3))]), 0)).sw,
    "6A80",
  );
});

test("management key external authentication (challenge 81, response 82) and internal", (t) => {
  const card = newCard();
  const r1 = tx(card, apdu(0, 0x87, 3, 0x9b, encodeTlv(0x7c, encodeTlv(0x81, E)), 0));
  t.is(r1.sw, "9000");
  const challenge = dyn(r1, 0x81);
  t.is(challenge.length, 8);
  const bad = tx(card, apdu(0, 0x87, 3, 0x9b, encodeTlv(0x7c, encodeTlv(0x82, new Uint8Array(8)))));
  t.is(bad.sw, "6982");
  t.is(tx(card, apdu(0, 0x87, 3, 0x9b, encodeTlv(0x7c, encodeTlv(0x82, new Uint8Array(8))))).sw, "6985", "challenge used up");
  const c2 = dyn(tx(card, apdu(0, 0x87, 3, 0x9b, encodeTlv(0x7c, encodeTlv(0x81, E)), 0)), 0x81);
  t.is(tx(card, apdu(0, 0x87, 3, 0x9b, encodeTlv(0x7c, encodeTlv(0x82, ecbEncrypt(3, MGM, c2))))).sw, "9000");
  t.is(tx(card, generate(0x9a, 0x11)).sw, "9000", "authenticated");
  // internal: the card encrypts the host's challenge, which authenticates nobody
  const fresh = newCard();
  const host = fromHex("0011223344556677");
  const r = tx(fresh, apdu(0, 0x87, 3, 0x9b, encodeTlv(0x7c, [encodeTlv(0x81, host), encodeTlv(0x82, E)]), 0));
  t.is(toHex(dyn(r, 0x82)), toHex(ecbEncrypt(3, MGM, host)));
  t.is(tx(fresh, generate(0x9a, 0x11)).sw, "6982");
});

test("AES-128/192/256 management keys", (t) => {
  for (const [name, alg, len] of [["aes128", 0x08, 16], ["aes192", 0x0a, 24], ["aes256", 0x0c, 32]] as const) {
    const key = new Uint8Array(len).map((_, i) => i * 7 + 1);
    const card = newCard({ managementAlg: name, managementKey: key });
    t.is(mgmAuth(card, MGM, 0x03).sw, "6A86", `${name}: 3DES refused`);
    const r = mgmAuth(card, key, alg);
    t.is(r.sw, "9000", name);
    t.is(dyn(r, 0x82).length, 16);
    t.is(mgmAuth(card, key.map((b) => b ^ 1), alg).sw, "6982");
  }
});

test("GENERATE: needs the management key; P-256, P-384 and RSA-2048 public key templates", (t) => {
  const card = newCard();
  t.is(tx(card, generate(0x9a, 0x11)).sw, "6982");
  mgmAuth(card);
  t.is(tx(card, generate(0x9b, 0x11)).sw, "6A86");
  t.is(tx(card, apdu(0, 0x47, 1, 0x9a, encodeTlv(0xac, encodeTlv(0x80, Uint8Array.of(0x11))), 0)).sw, "6A86");
  t.is(tx(card, generate(0x9a, 0x06)).sw, "6A80");
  t.is(tx(card, generate(0x9a, 0x03)).sw, "6A80");
  t.is(tx(card, apdu(0, 0x47, 0, 0x9a, fromHex("ac038001"), 0)).sw, "6A80");
  t.is(tx(card, apdu(0, 0x47, 0, 0x9a, fromHex("ad03800111"), 0)).sw, "6A80");
  t.is(tx(card, apdu(0, 0x47, 0, 0x9a, fromHex("ac00"), 0)).sw, "6A80");
  for (const [alg, size] of [[0x11, 65], [0x14, 97]]) {
    const r = tx(card, generate(0x9e, alg));
    t.is(r.sw, "9000");
    const tpl = readTlv(r.bytes);
    t.is(tpl.tag, 0x7f49);
    const point = findTlv(decodeTlvs(tpl.value), 0x86)!.value;
    t.is(point.length, size);
    t.is(point[0], 4);
  }
  // RSA: over 256 bytes, so it comes in two pieces
  const r = tx(card, generate(0x9d, 0x07));
  t.is(r.sw.slice(0, 2), "61");
  const rest = tx(card, apdu(0, 0xc0, 0, 0, E, parseInt(r.sw.slice(2), 16)));
  t.is(rest.sw, "9000");
  const tpl = readTlv(concatBytes(r.bytes, rest.bytes));
  const items = decodeTlvs(tpl.value);
  t.is(findTlv(items, 0x81)!.value.length, 256);
  t.is(toHex(findTlv(items, 0x82)!.value), "010001");
});

test("signatures: key, algorithm and input checks; 9E needs no PIN; 9A needs the PIN once", (t) => {
  const card = newCard();
  const digest = createHash("sha256").update("message").digest();
  t.is(tx(card, sign(0x11, 0x9a, digest)).sw, "6A88", "no key yet");
  mgmAuth(card);
  const pub = readTlv(tx(card, generate(0x9a, 0x11)).bytes);
  tx(card, generate(0x9e, 0x11));
  t.is(tx(card, sign(0x14, 0x9a, digest)).sw, "6A86", "key is P-256, not P-384");
  t.is(tx(card, sign(0x03, 0x9a, digest)).sw, "6A86");
  t.is(tx(card, sign(0x11, 0x9f, digest)).sw, "6A86", "no such key reference");
  t.is(tx(card, sign(0x11, 0x9a, digest)).sw, "6982", "9A needs the PIN");
  const r9e = tx(card, sign(0x11, 0x9e, digest));
  t.is(r9e.sw, "9000", "card authentication key needs no PIN");
  tx(card, verifyPin("123456"));
  const r = tx(card, sign(0x11, 0x9a, digest));
  t.is(r.sw, "9000");
  const point = findTlv(decodeTlvs(pub.value), 0x86)!.value;
  const key = createPublicKey({
    key: { kty: "EC", crv: "P-256", x: Buffer.from(point.subarray(1, 33)).toString("base64url"), y: Buffer.from(point.subarray(33)).toString("base64url") },
    format: "jwk",
  });
  t.true(verify("sha256", Buffer.from("message"), key, dyn(r, 0x82)));
  t.is(tx(card, sign(0x11, 0x9a, digest)).sw, "9000", "PIN once: still verified");
  // malformed dynamic authentication templates
  t.is(tx(card, apdu(0, 0x87, 0x11, 0x9a, encodeTlv(0x7c, encodeTlv(0x81, digest)), 0)).sw, "6A80", "no 82");
  t.is(tx(card, apdu(0, 0x87, 0x11, 0x9a, encodeTlv(0x7c, encodeTlv(0x82, E)), 0)).sw, "6A80", "no 81 nor 85");
  t.is(tx(card, apdu(0, 0x87, 0x11, 0x9a, encodeTlv(0x7c, [encodeTlv(0x82, Uint8Array.of(1)), encodeTlv(0x81, digest)]), 0)).sw, "6A80");
  t.is(tx(card, apdu(0, 0x87, 0x11, 0x9a, fromHex("7c05820081"), 0)).sw, "6A80");
});

test("9C needs a fresh VERIFY before each signature (PIN always)", (t) => {
  const card = newCard();
  mgmAuth(card);
  tx(card, generate(0x9c, 0x14));
  const digest = createHash("sha384").update("doc").digest();
  t.is(tx(card, sign(0x14, 0x9c, digest)).sw, "6982");
  t.is(tx(card, verifyPin("123456")).sw, "9000");
  t.is(tx(card, sign(0x14, 0x9c, digest)).sw, "9000");
  t.is(tx(card, sign(0x14, 0x9c, digest)).sw, "6982", "the verification was used up");
  t.is(tx(card, verifyPin("123456")).sw, "9000");
  t.is(tx(card, sign(0x14, 0x9c, digest)).sw, "9000");
  card.powerOn();
  t.is(tx(card, emptyVerify).sw, "63C3", "a reset loses the security status");
});

test("PIN always means immediately before: any other command between VERIFY and the 9C signature ends the grant", (t) => {
  const card = newCard();
  mgmAuth(card);
  tx(card, generate(0x9c, 0x11));
  tx(card, generate(0x9a, 0x11));
  const digest = createHash("sha256").update("doc").digest();
  const between: [string, Uint8Array][] = [
    ["GET DATA (CHUID)", getData("5fc102")],
    ["a 9A signature", sign(0x11, 0x9a, digest)],
    ["an empty VERIFY (status query)", emptyVerify],
    ["SELECT", apdu(0, 0xa4, 4, 0, PIV_AID, 0)],
    ["a GET RESPONSE with nothing pending", apdu(0, 0xc0, 0, 0, E, 0)],
    ["a malformed APDU", fromHex("0087")],
  ];
  for (const [what, command] of between) {
    t.is(tx(card, verifyPin("123456")).sw, "9000");
    tx(card, command);
    t.is(tx(card, sign(0x11, 0x9c, digest)).sw, "6982", `VERIFY, ${what}, 9C sign`);
  }
  // the intervening commands did not spend the session PIN: 9A still signs
  t.is(tx(card, sign(0x11, 0x9a, digest)).sw, "9000");
  t.is(tx(card, verifyPin("123456")).sw, "9000");
  t.is(tx(card, sign(0x11, 0x9c, digest)).sw, "9000", "VERIFY directly before");
  // a refused 9C attempt uses the grant up too: the next attempt is not right after the VERIFY
  t.is(tx(card, verifyPin("123456")).sw, "9000");
  t.is(tx(card, apdu(0, 0x87, 0x11, 0x9c, encodeTlv(0x7c, encodeTlv(0x81, digest)), 0)).sw, "6A80");
  t.is(tx(card, sign(0x11, 0x9c, digest)).sw, "6982");
});

test("PIN always: a chained 9C signature (RSA-2048) and its GET RESPONSE are one operation", (t) => {
  const card = newCard();
  mgmAuth(card);
  let r = tx(card, generate(0x9c, 0x07));
  const tpl = readTlv(concatBytes(r.bytes, tx(card, apdu(0, 0xc0, 0, 0, E, parseInt(r.sw.slice(2), 16))).bytes));
  const items = decodeTlvs(tpl.value);
  const b64 = (tag: number) => Buffer.from(findTlv(items, tag)!.value).toString("base64url");
  const pub = createPublicKey({ key: { kty: "RSA", n: b64(0x81), e: b64(0x82) }, format: "jwk" });
  // EMSA-PKCS1-v1_5 block for SHA-256 of "contract"
  const digestInfo = concatBytes(fromHex("3031300d060960864801650304020105000420"), createHash("sha256").update("contract").digest());
  const block = new Uint8Array(256).fill(0xff);
  block[0] = 0;
  block[1] = 1;
  block[255 - digestInfo.length] = 0;
  block.set(digestInfo, 256 - digestInfo.length);
  const body = encodeTlv(0x7c, [encodeTlv(0x82, E), encodeTlv(0x81, block)]);
  const parts = [body.subarray(0, 100), body.subarray(100, 200), body.subarray(200)];
  const signChained = (interrupt?: Uint8Array) => {
    t.is(tx(card, verifyPin("123456")).sw, "9000");
    t.is(tx(card, apdu(0x10, 0x87, 0x07, 0x9c, parts[0])).sw, "9000");
    if (interrupt) {
      tx(card, interrupt);
      t.is(tx(card, apdu(0x10, 0x87, 0x07, 0x9c, parts[0])).sw, "9000", "the chain starts again");
    }
    t.is(tx(card, apdu(0x10, 0x87, 0x07, 0x9c, parts[1])).sw, "9000");
    return tx(card, apdu(0x00, 0x87, 0x07, 0x9c, parts[2], 0));
  };
  r = signChained();
  t.is(r.sw.slice(0, 2), "61", "the signature does not fit one response");
  const rest = tx(card, apdu(0, 0xc0, 0, 0, E, parseInt(r.sw.slice(2), 16)));
  t.is(rest.sw, "9000");
  const sig = findTlv(decodeTlvs(readTlv(concatBytes(r.bytes, rest.bytes)).value), 0x82)!.value;
  t.true(verify("sha256", Buffer.from("contract"), pub, sig), "VERIFY, chained 9C parts, GET RESPONSE: one signature");
  t.is(signChained(getData("5fc102")).sw, "6982", "a GET DATA inside the chain ends the grant");
});

test("PIN always: a whole 9C signature that cuts off a chain of another header is not right after the VERIFY", (t) => {
  const card = newCard();
  mgmAuth(card);
  tx(card, generate(0x9c, 0x11));
  const digest = createHash("sha256").update("doc").digest();
  t.is(tx(card, verifyPin("123456")).sw, "9000");
  t.is(tx(card, apdu(0x10, 0x87, 0x14, 0x9c, fromHex("7c"))).sw, "9000", "a chained part for another algorithm");
  t.is(tx(card, sign(0x11, 0x9c, digest)).sw, "6982", "the chain was left unfinished for another operation");
  t.is(tx(card, verifyPin("123456")).sw, "9000");
  t.is(tx(card, sign(0x11, 0x9c, digest)).sw, "9000");
});

test("RSA signature input must be a full 256-byte block below the modulus", (t) => {
  const card = newCard();
  mgmAuth(card);
  let r = tx(card, generate(0x9d, 0x07));
  tx(card, apdu(0, 0xc0, 0, 0, E, parseInt(r.sw.slice(2), 16)));
  tx(card, verifyPin("123456"));
  const chained = (input: Uint8Array) => {
    const body = encodeTlv(0x7c, [encodeTlv(0x82, E), encodeTlv(0x81, input)]);
    tx(card, apdu(0x10, 0x87, 0x07, 0x9d, body.subarray(0, 200)));
    return tx(card, apdu(0x00, 0x87, 0x07, 0x9d, body.subarray(200), 0));
  };
  t.is(chained(new Uint8Array(255).fill(1)).sw, "6A80");
  t.is(chained(new Uint8Array(256).fill(0xff)).sw, "6A80", "above the modulus");
  r = chained(new Uint8Array(256).fill(1));
  t.is(r.sw.slice(0, 2), "61");
});

test("ECDH key agreement with 85 on an EC key", (t) => {
  const card = newCard();
  mgmAuth(card);
  const tpl = readTlv(tx(card, generate(0x9d, 0x11)).bytes);
  const cardPoint = findTlv(decodeTlvs(tpl.value), 0x86)!.value;
  const peer = createECDH("prime256v1");
  peer.generateKeys();
  tx(card, verifyPin("123456"));
  const r = tx(card, apdu(0, 0x87, 0x11, 0x9d, encodeTlv(0x7c, [encodeTlv(0x82, E), encodeTlv(0x85, peer.getPublicKey())]), 0));
  t.is(r.sw, "9000");
  t.is(toHex(dyn(r, 0x82)), peer.computeSecret(Buffer.from(cardPoint)).toString("hex"));
  const bad = tx(card, apdu(0, 0x87, 0x11, 0x9d, encodeTlv(0x7c, [encodeTlv(0x82, E), encodeTlv(0x85, new Uint8Array(65).fill(4))]), 0));
  t.is(bad.sw, "6A80", "not a point on the curve");
  t.is(tx(card, apdu(0, 0x87, 0x11, 0x9d, encodeTlv(0x7c, [encodeTlv(0x82, E), encodeTlv(0x85, Uint8Array.of(4, 1))]), 0)).sw, "6A80");
  t.truthy(diffieHellman);
  t.truthy(generateKeyPairSync);
});

test("YubiKey extensions: version, serial, metadata, set management key, reset", (t) => {
  const card = newCard({ serial: "0102c0ffee" });
  t.is(tx(card, "00fd000000").data, "050207");
  t.is(tx(card, "00fd010000").sw, "6A86");
  t.is(tx(card, "00f8000000").data, "02C0FFEE");
  t.is(tx(newCard({ serial: "2a" }), "00f8000000").data, "0000002A");
  t.is(tx(card, "00f8000100").sw, "6A86");
  t.is(tx(card, "00f7008000").data, "0101FF0202000005010106020303");
  tx(card, verifyPin("000000"));
  t.is(tx(card, "00f7008000").data.slice(-4), "0302");
  t.is(tx(card, "00f7009b00").data, "01010302020001050101");
  t.is(tx(card, "00f7009a00").sw, "6A88");
  t.is(tx(card, "00f7009900").sw, "6A86");
  t.is(tx(card, "00f7019a00").sw, "6A86");
  // set an AES-128 management key, then authenticate with it
  const newKey = fromHex("00112233445566778899aabbccddeeff");
  const setKey = apdu(0, 0xff, 0xff, 0xff, concatBytes(Uint8Array.of(0x08, 0x9b, 16), newKey));
  t.is(tx(card, setKey).sw, "6982");
  mgmAuth(card);
  t.is(tx(card, apdu(0, 0xff, 0xff, 0xff, concatBytes(Uint8Array.of(0x08, 0x9b, 15), newKey.subarray(1)))).sw, "6A80");
  t.is(tx(card, apdu(0, 0xff, 0xff, 0xff, fromHex("089b"))).sw, "6A80");
  t.is(tx(card, apdu(0, 0xff, 0xfe, 0xff, concatBytes(Uint8Array.of(0x08, 0x9b, 16), newKey))).sw, "6A86");
  t.is(tx(card, setKey).sw, "9000");
  t.is(mgmAuth(card, newKey, 0x08).sw, "9000");
  t.is(tx(card, "00f7009b00").data.slice(0, 6), "010108");
  tx(card, generate(0x9a, 0x11));
  t.is(tx(card, "00f7009a00").data.slice(0, 14), "01011102020201");
  // reset only once PIN and PUK are both blocked
  t.is(tx(card, "00fb0000").sw, "6985");
  for (let i = 0; i < 3; i++) tx(card, verifyPin("000000"));
  for (let i = 0; i < 3; i++) tx(card, apdu(0, 0x2c, 0, 0x80, concatBytes(pinBlock("00000000"), pinBlock("111111"))));
  t.is(tx(card, "00fb0100").sw, "6A86");
  t.is(tx(card, "00fb0000").sw, "9000");
  t.is(tx(card, verifyPin("123456")).sw, "9000");
  t.is(mgmAuth(card).sw, "9000", "default 3DES key is back");
  t.is(tx(card, sign(0x11, 0x9a, new Uint8Array(32))).sw, "6A88", "keys are gone");
  t.is(tx(card, getData("5fc102")).sw, "9000", "the card keeps its identity");
});

test("decrypt the witness with the wrong algorithm gives 6982, not a crash", (t) => {
  const card = newCard();
  const r1 = tx(card, apdu(0, 0x87, 3, 0x9b, encodeTlv(0x7c, encodeTlv(0x80, E)), 0));
  const wrong = ecbDecrypt(3, fromHex("ff".repeat(24)), dyn(r1, 0x80));
  const r2 = tx(card, apdu(0, 0x87, 3, 0x9b, encodeTlv(0x7c, [encodeTlv(0x80, wrong), encodeTlv(0x81, new Uint8Array(8))]), 0));
  t.is(r2.sw, "6982");
  t.is(tx(card, generate(0x9a, 0x11)).sw, "6982");
});
