import test from "ava";
import fc from "fast-check";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { encodeCommand, encodeTlv, SeededRandom } from "../../core/index.js";
import { tempDir } from "../../harness/processes.js";
import { loadCard, PivCard, saveCard, TearingCard, type CardStore, type PivCardJson, type TearingModel } from "./index.js";
import { stateFromJson, stateToJson } from "./state-json.js";
import { apdu, mgmAuth, MGM, pinBlock, tx } from "./testing.js";

/**
 * Tearing: for every write the card makes, what its memory holds when the
 * power goes at that write. Atomic: the state before or after the write,
 * never between; non-atomic: the damage a card without transactions takes.
 */

const CERTS = join(import.meta.dirname, "../../pki/testdata/pkits/certs");
const OLD_CERT = new Uint8Array(readFileSync(join(CERTS, "GoodCACert.crt")));
const NEW_CERT = new Uint8Array(readFileSync(join(CERTS, "ValidCertificatePathTest1EE.crt")));
const AUTH_CERT_TAG = Uint8Array.of(0x5f, 0xc1, 0x05);
const P256 = 0x11;

function certObject(der: Uint8Array): Uint8Array {
  return encodeTlv(0x53, [encodeTlv(0x70, der), encodeTlv(0x71, Uint8Array.of(0)), encodeTlv(0xfe, new Uint8Array(0))]);
}
function putData(tag: Uint8Array, object: Uint8Array): Uint8Array {
  return encodeCommand({ cla: 0, ins: 0xdb, p1: 0x3f, p2: 0xff, data: Uint8Array.from([...encodeTlv(0x5c, tag), ...object]), extended: true });
}
const getData = (tag: Uint8Array) => encodeCommand({ cla: 0, ins: 0xcb, p1: 0x3f, p2: 0xff, data: encodeTlv(0x5c, tag), le: 65536 });
const generate = (slot: number) => apdu(0, 0x47, 0, slot, encodeTlv(0xac, encodeTlv(0x80, Uint8Array.of(P256))), 0);
const verify = (pin: string) => apdu(0, 0x20, 0, 0x80, pinBlock(pin));
const changePin = (old: string, next: string, ref = 0x80) => apdu(0, 0x24, 0, ref, Uint8Array.from([...pinBlock(old), ...pinBlock(next)]));
const unblock = (puk: string, pin: string) => apdu(0, 0x2c, 0, 0x80, Uint8Array.from([...pinBlock(puk), ...pinBlock(pin)]));
const setMgmKey = (alg: number, key: Uint8Array) => apdu(0, 0xff, 0xff, 0xff, Uint8Array.from([alg, 0x9b, key.length, ...key]));
const sign9a = apdu(0, 0x87, P256, 0x9a, encodeTlv(0x7c, [encodeTlv(0x82, new Uint8Array(0)), encodeTlv(0x81, new Uint8Array(32).fill(7))]), 0);
const NEW_3DES = Uint8Array.from({ length: 24 }, (_, i) => i + 0x40);
const NEW_AES = Uint8Array.from({ length: 16 }, (_, i) => i + 0x60);

/** The card every case starts from: PIN 123456, PUK 12345678, a certificate in 5FC105, a P-256 key in 9A. */
const BASE: PivCardJson = (() => {
  const card = PivCard.create({ expires: new Date("2031-01-01T00:00:00Z"), serial: "00c0ffee", random: new SeededRandom(1) });
  card.powerOn();
  mgmAuth(card);
  tx(card, generate(0x9a));
  tx(card, putData(AUTH_CERT_TAG, certObject(OLD_CERT)));
  return card.toJSON();
})();

interface Case {
  name: string;
  /** Puts the card in the state the command needs (session and memory). */
  prep: (card: TearingCard) => void;
  command: Uint8Array;
  /** How many writes the command makes, untorn. */
  writes: number;
}

const auth = (c: TearingCard) => mgmAuth(c);
const blockBoth = (c: TearingCard) => {
  for (let i = 0; i < 3; i++) tx(c, verify("000000"));
  for (let i = 0; i < 3; i++) tx(c, unblock("00000000", "654321"));
};

/** Every write the card makes (piv-applet.ts, yubikey-extension.ts), and commands that write nothing. */
const CASES: Case[] = [
  { name: "PUT DATA (replace a certificate)", prep: auth, command: putData(AUTH_CERT_TAG, certObject(NEW_CERT)), writes: 1 },
  { name: "PUT DATA (a new object)", prep: auth, command: putData(Uint8Array.of(0x5f, 0xc1, 0x0a), certObject(NEW_CERT)), writes: 1 },
  { name: "PUT DATA (delete an object)", prep: auth, command: putData(AUTH_CERT_TAG, encodeTlv(0x53, new Uint8Array(0))), writes: 1 },
  { name: "GENERATE ASYMMETRIC KEY PAIR (replace 9A)", prep: auth, command: generate(0x9a), writes: 1 },
  { name: "GENERATE ASYMMETRIC KEY PAIR (new 9C)", prep: auth, command: generate(0x9c), writes: 1 },
  { name: "VERIFY, wrong PIN (a try counted)", prep: () => undefined, command: verify("000000"), writes: 1 },
  { name: "VERIFY, right PIN after a wrong one (counted, then reset)", prep: (c) => tx(c, verify("000000")), command: verify("123456"), writes: 2 },
  { name: "CHANGE REFERENCE DATA, PIN", prep: () => undefined, command: changePin("123456", "87654321"), writes: 2 },
  { name: "CHANGE REFERENCE DATA, wrong old PIN", prep: () => undefined, command: changePin("000000", "87654321"), writes: 1 },
  { name: "CHANGE REFERENCE DATA, PUK", prep: () => undefined, command: changePin("12345678", "87654321", 0x81), writes: 2 },
  { name: "RESET RETRY COUNTER", prep: (c) => tx(c, verify("000000")), command: unblock("12345678", "24681357"), writes: 2 },
  { name: "RESET RETRY COUNTER, wrong PUK", prep: () => undefined, command: unblock("00000000", "24681357"), writes: 1 },
  { name: "SET MANAGEMENT KEY (3DES)", prep: auth, command: setMgmKey(0x03, NEW_3DES), writes: 1 },
  { name: "SET MANAGEMENT KEY (to AES-128)", prep: auth, command: setMgmKey(0x08, NEW_AES), writes: 1 },
  { name: "YubiKey RESET (PIN and PUK blocked)", prep: blockBoth, command: apdu(0, 0xfb, 0, 0), writes: 1 },
  // The YubiKey's IMPORT KEY (FE) and SET PIN RETRIES (FA) are not on this card: 6D00, nothing written.
  { name: "IMPORT KEY (not on this card)", prep: auth, command: apdu(0, 0xfe, 0x11, 0x9a, Uint8Array.of(0x06, 0x20, ...new Uint8Array(32).fill(1))), writes: 0 },
  { name: "SET PIN RETRIES (not on this card)", prep: (c) => (auth(c), tx(c, verify("123456"))), command: apdu(0, 0xfa, 5, 5), writes: 0 },
  { name: "GET DATA (reads only)", prep: () => undefined, command: getData(AUTH_CERT_TAG), writes: 0 },
  { name: "GENERAL AUTHENTICATE, 9A signature (reads only)", prep: (c) => tx(c, verify("123456")), command: sign9a, writes: 0 },
];

/** The memory, comparable: key material by algorithm only (a generated key is fresh in every run), objects in tag order. */
function canon(j: PivCardJson): string {
  const keys = Object.fromEntries(Object.entries(j.keys).sort().map(([s, k]) => [s, k.alg]));
  const objects = Object.fromEntries(Object.entries(j.objects).sort());
  return JSON.stringify({ ...j, keys, objects });
}

function cardFor(c: Case, model: TearingModel, store?: CardStore): TearingCard {
  const card = TearingCard.fromJSON(BASE, { model, store, random: new SeededRandom(2) });
  card.powerOn();
  c.prep(card);
  return card;
}

/** The memory after each write of the command, untorn: [before, after write 0, after write 1, ...]. */
function committedStates(c: Case): string[] {
  const states: string[] = [];
  const card = cardFor(c, "atomic", { save: (s) => states.push(canon(stateToJson(s))) });
  states.length = 0;
  const before = canon(card.memory);
  tx(card, c.command);
  return [before, ...states];
}

test("every case makes the writes it says (the card's writes, counted through its store)", (t) => {
  for (const c of CASES) t.is(committedStates(c).length - 1, c.writes, c.name);
});

test("atomic: for every write the card makes, a tear before its commit leaves the memory before it, after its commit the memory after it", (t) => {
  for (const c of CASES) {
    const states = committedStates(c);
    for (let write = 0; write <= c.writes; write++) {
      for (const afterCommit of [false, true]) {
        const card = cardFor(c, "atomic");
        const out = card.tearDuring(c.command, { write, afterCommit });
        const expected = write < c.writes ? states[write + (afterCommit ? 1 : 0)] : states[states.length - 1];
        t.is(canon(card.memory), expected, `${c.name}, write ${write}${afterCommit ? " after commit" : ""}`);
        t.is(out.wrote, c.writes > 0, c.name);
        t.is(out.persisted, write < c.writes ? (afterCommit ? "new" : "old") : c.writes > 0 ? "new" : "old", c.name);
      }
    }
  }
});

test("atomic, a property over commands and tear points: the memory after a tear is one the card committed untorn, next to the tear", (t) => {
  let runs = 0;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: CASES.length - 1 }), fc.integer({ min: 0, max: 3 }), fc.boolean(), (i, write, afterCommit) => {
      runs++;
      const c = CASES[i];
      const states = committedStates(c);
      const card = cardFor(c, "atomic");
      card.tearDuring(c.command, { write, afterCommit });
      const k = Math.min(write + (afterCommit ? 1 : 0), states.length - 1);
      return canon(card.memory) === states[k] && (write >= c.writes || states.includes(canon(card.memory)));
    }),
    { numRuns: 150, seed: 15 },
  );
  t.is(runs, 150);
});

/** Random commands of the writing instructions (shaped as each wants, else nothing would reach a write) and noise, and the session they meet. */
const pins = fc.constantFrom("123456", "12345678", "000000", "87654321");
const noise = fc.uint8Array({ maxLength: 24 });
const pair = fc.tuple(pins, pins).map(([x, y]) => Uint8Array.from([...pinBlock(x), ...pinBlock(y)]));
// each instruction with its header and data shaped as it wants them (else nothing would reach a write), or noise
const shaped: Array<fc.Arbitrary<Uint8Array>> = [
  pins.map((pin) => verify(pin)),
  fc.tuple(fc.constantFrom(0x80, 0x81), pair).map(([ref, d]) => apdu(0, 0x24, 0, ref, d)),
  pair.map((d) => apdu(0, 0x2c, 0, 0x80, d)),
  fc.tuple(fc.constantFrom(0x9a, 0x9c), fc.constantFrom(0x11, 0x14)).map(([slot, alg]) => apdu(0, 0x47, 0, slot, encodeTlv(0xac, encodeTlv(0x80, Uint8Array.of(alg))), 0)),
  fc.uint8Array({ maxLength: 40 }).map((v) => putData(AUTH_CERT_TAG, encodeTlv(0x53, v))),
  // the same algorithm, another of the same length (0A: AES-192, 24 bytes as 3DES), another length (0C: AES-256)
  fc.constantFrom(setMgmKey(0x03, NEW_3DES), setMgmKey(0x08, NEW_AES), setMgmKey(0x03, MGM), setMgmKey(0x0a, NEW_3DES), setMgmKey(0x0c, Uint8Array.from({ length: 32 }, (_, i) => i))),
  fc.constant(apdu(0, 0xfb, 0, 0)),
  fc.tuple(fc.constantFrom(0x20, 0x24, 0x2c, 0x47, 0xdb, 0xff, 0xfb, 0xfe, 0xfa), fc.constantFrom(0x00, 0x3f, 0xff), fc.constantFrom(0x80, 0x81, 0x9a, 0xff), noise).map(([ins, p1, p2, d]) => apdu(0, ins, p1, p2, d)),
];
const command = fc.oneof(...shaped);
// the session the command meets: nothing, the management key, or both it and the PIN
const prep = fc.constantFrom<Case["prep"]>(() => undefined, auth, (c) => (auth(c), tx(c, verify("123456"))));

test("atomic, a property over random commands of the writing instructions and tear points: never a memory between two the card committed", (t) => {
  let runs = 0;
  let writing = 0;
  fc.assert(
    fc.property(command, prep, fc.integer({ min: 0, max: 2 }), fc.boolean(), (cmd, before, write, afterCommit) => {
      runs++;
      const c: Case = { name: "random", prep: before, command: cmd, writes: -1 };
      const states = committedStates(c);
      if (states.length > 1) writing++;
      const card = cardFor(c, "atomic");
      const out = card.tearDuring(cmd, { write, afterCommit });
      const k = Math.min(write + (afterCommit ? 1 : 0), states.length - 1);
      return canon(card.memory) === states[k] && out.wrote === states.length > 1;
    }),
    { numRuns: 300, seed: 1515 },
  );
  t.is(runs, 300);
  // not vacuous: many of the random commands write (a try counted at least)
  t.true(writing > 60, `${writing} of 300 commands wrote`);
});

/** Which fields differ between two memories, as TearOutcome.fields names them (a key by its PKCS#8 and algorithm). */
function changed(a: PivCardJson, b: PivCardJson): string[] {
  const out: string[] = [];
  for (const k of ["serial", "expires", "pin", "puk", "pinRetries", "pukRetries", "pinLeft", "pukLeft", "managementAlg", "managementKey"] as const) if (a[k] !== b[k]) out.push(k);
  for (const tag of new Set([...Object.keys(a.objects), ...Object.keys(b.objects)])) if (a.objects[tag] !== b.objects[tag]) out.push(`objects.${tag}`);
  for (const slot of new Set([...Object.keys(a.keys), ...Object.keys(b.keys)])) if (a.keys[slot]?.pkcs8 !== b.keys[slot]?.pkcs8 || a.keys[slot]?.alg !== b.keys[slot]?.alg) out.push(`keys.${slot}`);
  return out;
}

test("non-atomic, a property over random commands, tear points and fractions: the torn memory always reads back as a card, changed only where the command writes", (t) => {
  let runs = 0;
  let partial = 0;
  fc.assert(
    // most commands write once: the first write is torn more often than a later one
    fc.property(command, prep, fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 })), fc.oneof(fc.constantFrom(0, 1), fc.integer({ min: 1, max: 99 }).map((n) => n / 100)), (cmd, before, write, fraction) => {
      runs++;
      const card = TearingCard.fromJSON(BASE, { model: "non-atomic", fraction, random: new SeededRandom(2) });
      card.powerOn();
      before(card);
      const start = card.memory;
      // every memory the command commits untorn: a torn write may leave a field an earlier write changed (a try counted)
      const committed: PivCardJson[] = [];
      const untorn = cardFor({ name: "random", prep: before, command: cmd, writes: -1 }, "atomic", { save: (st) => committed.push(stateToJson(st)) });
      committed.length = 0;
      tx(untorn, cmd);
      const out = card.tearDuring(cmd, { write });
      if (out.persisted === "partial") partial++;
      // what a power-on reads back: a card (never the unreadable memory's 6581), answering a GET DATA
      const readable = (() => {
        try {
          stateFromJson(card.memory);
          return true;
        } catch {
          return false;
        }
      })();
      card.powerOn();
      const answer = tx(card, getData(AUTH_CERT_TAG)).sw;
      const allowed = new Set(committed.flatMap((m) => changed(start, m)));
      return readable && card.card !== undefined && answer !== "6581" && changed(start, card.memory).every((f) => allowed.has(f)) && (out.fields ?? []).every((f) => allowed.has(f));
    }),
    { numRuns: 300, seed: 1516 },
  );
  t.is(runs, 300);
  // not vacuous: some tears cut a write in its middle (9 of 300 with this seed: most random commands write one
  // counter, a single unit, and a fraction of 0 or 1 leaves the old or the new memory)
  t.true(partial >= 5, `${partial} of 300 tears left a partial memory`);
});

test("a tear never gives a free PIN try: a wrong try's tear that leaves the counter alone leaves the same memory as the right PIN's (nothing learnt)", (t) => {
  const tries = [
    { name: "VERIFY", wrong: verify("000000"), right: verify("123456"), counter: "pinLeft" as const },
    { name: "CHANGE REFERENCE DATA", wrong: changePin("000000", "87654321"), right: changePin("123456", "87654321"), counter: "pinLeft" as const },
    { name: "RESET RETRY COUNTER", wrong: unblock("00000000", "24681357"), right: unblock("12345678", "24681357"), counter: "pukLeft" as const },
  ];
  let uncounted = 0;
  for (const model of ["atomic", "non-atomic"] as const) {
    for (const x of tries) {
      for (let write = 0; write <= 2; write++) {
        for (const afterCommit of [false, true]) {
          const wrong = TearingCard.fromJSON(BASE, { model });
          wrong.powerOn();
          wrong.tearDuring(x.wrong, { write, afterCommit });
          const right = TearingCard.fromJSON(BASE, { model });
          right.powerOn();
          right.tearDuring(x.right, { write, afterCommit });
          const where = `${model} ${x.name} write ${write}${afterCommit ? " after commit" : ""}`;
          if (wrong.memory[x.counter] === BASE[x.counter]) {
            uncounted++;
            t.deepEqual(wrong.memory, BASE, where);
            t.deepEqual(right.memory, BASE, `${where}: the right secret's tear looks the same`);
          } else {
            t.is(wrong.memory[x.counter], BASE[x.counter] - 1, where);
          }
          // The card counts what it persisted: a power-on shows the same number of tries left.
          wrong.powerOn();
          const left = tx(wrong, apdu(0, 0x20, 0, 0x80)).sw;
          if (x.counter === "pinLeft") t.is(left, `63C${wrong.memory.pinLeft.toString(16).toUpperCase()}`, where);
        }
      }
    }
  }
  // Only the tear at the counting write itself leaves the counter: before its commit on an atomic card (3 instructions),
  // and on a non-atomic one (no commit point: `afterCommit` is the atomic model's) half of a one-byte write is none of it (3 x 2).
  t.is(uncounted, 9);
});

test("after a tear the card is unpowered: its session is gone, its RAM reloaded from memory at the next power-on", (t) => {
  const card = TearingCard.fromJSON(BASE, { model: "atomic" });
  card.powerOn();
  t.is(mgmAuth(card).sw, "9000");
  const out = card.tearDuring(putData(AUTH_CERT_TAG, certObject(NEW_CERT)));
  t.deepEqual(out, { wrote: true, persisted: "old" });
  card.powerOn();
  // management key authentication lost with the power: PUT DATA is refused
  t.is(tx(card, putData(AUTH_CERT_TAG, certObject(NEW_CERT))).sw, "6982");
  t.is(tx(card, getData(AUTH_CERT_TAG)).data, Buffer.from(certObject(OLD_CERT)).toString("hex").toUpperCase());
  // a command that writes nothing: only the answer is lost
  t.deepEqual(card.tearDuring(getData(AUTH_CERT_TAG)), { wrote: false, persisted: "old" });
  card.powerOn();
  t.is(tx(card, getData(AUTH_CERT_TAG)).sw, "9000");
});

test("the outcome names the changed fields, never their values", (t) => {
  const card = TearingCard.fromJSON(BASE, { model: "atomic" });
  card.powerOn();
  const out = card.tearDuring(changePin("123456", "87654321"), { write: 1, afterCommit: true });
  t.deepEqual(out, { wrote: true, persisted: "new", fields: ["pin"] });
  const text = JSON.stringify(out);
  t.false(text.includes(Buffer.from("87654321").toString("hex")));
});

test("non-atomic: a torn PUT DATA leaves a corrupt certificate object, neither the old nor the new", (t) => {
  const card = TearingCard.fromJSON(BASE, { model: "non-atomic" });
  card.powerOn();
  mgmAuth(card);
  const out = card.tearDuring(putData(AUTH_CERT_TAG, certObject(NEW_CERT)));
  t.is(out.persisted, "partial");
  t.deepEqual(out.fields, ["objects.5fc105"]);
  card.powerOn();
  const r = tx(card, getData(AUTH_CERT_TAG));
  t.is(r.sw, "9000");
  const got = Buffer.from(r.bytes);
  t.false(got.equals(Buffer.from(certObject(OLD_CERT))));
  t.false(got.equals(Buffer.from(certObject(NEW_CERT))));
  t.is(got.length, certObject(NEW_CERT).length);
  // the certificate in it does not parse: half of the new DER, half of the old
  const der = got.subarray(8, 8 + NEW_CERT.length);
  t.throws(() => new X509Certificate(der));
});

test("non-atomic: a torn CHANGE REFERENCE DATA leaves neither PIN working", (t) => {
  const card = TearingCard.fromJSON(BASE, { model: "non-atomic" });
  card.powerOn();
  const out = card.tearDuring(changePin("123456", "87654321"), { write: 1 });
  t.is(out.persisted, "partial");
  t.deepEqual(out.fields, ["pin", "pinLeft"]);
  card.powerOn();
  t.is(tx(card, verify("123456")).sw, "63C1");
  t.is(tx(card, verify("87654321")).sw, "63C0");
});

test("non-atomic: a torn GENERATE leaves the key slot empty (erased before the new key is in it)", (t) => {
  const card = TearingCard.fromJSON(BASE, { model: "non-atomic" });
  card.powerOn();
  mgmAuth(card);
  t.deepEqual(card.tearDuring(generate(0x9a)), { wrote: true, persisted: "partial", fields: ["keys.9a"] });
  card.powerOn();
  tx(card, verify("123456"));
  t.is(tx(card, sign9a).sw, "6A88");
  t.false("9a" in card.memory.keys);
});

test("non-atomic: a torn SET MANAGEMENT KEY leaves a key that is neither the old nor the new one", (t) => {
  const card = TearingCard.fromJSON(BASE, { model: "non-atomic" });
  card.powerOn();
  mgmAuth(card);
  t.is(card.tearDuring(setMgmKey(0x03, NEW_3DES)).persisted, "partial");
  card.powerOn();
  t.not(mgmAuth(card, MGM).sw, "9000");
  card.powerOn();
  t.not(mgmAuth(card, NEW_3DES).sw, "9000");
  // the key is the new one's first half and the old one's second half
  const mixed = Uint8Array.from([...NEW_3DES.subarray(0, 12), ...MGM.subarray(12)]);
  card.powerOn();
  t.is(mgmAuth(card, mixed).sw, "9000");
});

test("the card file behind a TearingCard gets every write, a torn one as the card's memory kept it", (t) => {
  const dir = tempDir(t, "tearing");
  const path = join(dir, "card.json");
  const file: CardStore = { save: (s) => saveCard(new PivCard(s), path) };
  const card = TearingCard.fromJSON(BASE, { model: "non-atomic", store: file });
  card.powerOn();
  tx(card, verify("000000"));
  t.is(loadCard(path).state.pinLeft, 2);
  card.tearDuring(changePin("123456", "87654321"), { write: 1 });
  t.deepEqual(loadCard(path).toJSON(), card.memory);
  t.notDeepEqual(loadCard(path).state.pin, pinBlock("123456"));
});

test("a chained PUT DATA: a tear in a part before the last writes nothing; a tear in the last part tears the object's write", (t) => {
  const data = Uint8Array.from([...encodeTlv(0x5c, AUTH_CERT_TAG), ...certObject(NEW_CERT)]);
  // short APDUs of 200 bytes of data: CLA 10 for every part but the last
  const starts = Array.from({ length: Math.ceil(data.length / 200) }, (_, i) => i * 200);
  const parts = starts.map((from, i) => apdu(i === starts.length - 1 ? 0 : 0x10, 0xdb, 0x3f, 0xff, data.subarray(from, from + 200)));
  t.true(parts.length >= 3);
  const card = TearingCard.fromJSON(BASE, { model: "atomic" });
  card.powerOn();
  mgmAuth(card);
  t.is(tx(card, parts[0]).sw, "9000");
  t.deepEqual(card.tearDuring(parts[1]), { wrote: false, persisted: "old" });
  t.deepEqual(card.memory, BASE);
  // the last part completes the command: its write is the one torn (non-atomic: half the new object)
  const torn = TearingCard.fromJSON(BASE, { model: "non-atomic" });
  torn.powerOn();
  mgmAuth(torn);
  for (const part of parts.slice(0, -1)) t.is(tx(torn, part).sw, "9000");
  t.deepEqual(torn.tearDuring(parts[parts.length - 1]), { wrote: true, persisted: "partial", fields: ["objects.5fc105"] });
  t.not(torn.memory.objects["5fc105"], BASE.objects["5fc105"]);
});
