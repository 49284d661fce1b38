import test from "ava";
import fc from "fast-check";
import { createHash, createPublicKey, verify } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FormatError, SeededRandom, SystemClock, decodeTlvs, findTlv, fromHex, readTlv, toHex } from "../../core/index.js";
import { Certificate, publicKeyOf } from "../../pki/index.js";
import { EmbeddedCa } from "../ca/index.js";
import { ATR, DEFAULT_PIN, PivCard, loadCard, saveCard } from "../card/index.js";
import { MemoryReader } from "../reader/index.js";
import { IssuanceStation } from "../terminal/index.js";
import { cardFromTrace, UnusableTrace } from "./card-from-trace.js";
import { certificateInObject } from "./piv-objects.js";
import { foldExchanges } from "./fold.js";
import { readTrace } from "./format.js";
import { TraceWriter } from "./recorder.js";
import type { Trace, TraceEntry } from "./types.js";

const PIN = "24681357";
const SELECT_PIV = "00A4040009A0000003080000100000";
const getData = (tag: string) => `00CB3FFF${(tag.length / 2 + 2).toString(16).padStart(2, "0")}5C${(tag.length / 2).toString(16).padStart(2, "0")}${tag}00`;
const pinBlock = (pin: string) => toHex(Uint8Array.from([...Buffer.from(pin, "ascii"), ...new Uint8Array(8 - pin.length).fill(0xff)]));
const READS = ["5FC102", "5FC107", "7E", "5FC10C", "5FC105", "5FC10A", "5FC10B", "5FC101", "5FC109"];

/** A host session: every command answered in full, each transport exchange (61xx + GET RESPONSE) recorded. */
function session(reader: MemoryReader, writer: TraceWriter) {
  return async (hex: string): Promise<{ data: Uint8Array; sw: number }> => {
    let command = fromHex(hex);
    const chunks: Uint8Array[] = [];
    for (;;) {
      const r = await reader.transmit(command);
      writer.apdu(command, r, 12);
      chunks.push(r.subarray(0, r.length - 2));
      const sw = (r[r.length - 2] << 8) | r[r.length - 1];
      if (sw >> 8 !== 0x61) return { data: Uint8Array.from(Buffer.concat(chunks)), sw };
      command = Uint8Array.of(0x00, 0xc0, 0x00, 0x00, sw & 0xff);
    }
  };
}

interface Field {
  field: PivCard;
  trace: Trace;
  dir: string;
}

let made: Promise<Field> | undefined;

/** The "field card": issued by the issuance station and the embedded CA, then read by a host while its trace is recorded. */
function fieldCard(): Promise<Field> {
  made ??= (async () => {
    const field = PivCard.create({ expires: new Date("2032-12-31T00:00:00Z"), serial: "00C0FFEE" });
    const ca = await EmbeddedCa.open({ kdfLog2N: 10 });
    try {
      const station = new IssuanceStation({ ca, clock: new SystemClock() });
      await station.personalise(new MemoryReader(field), { holder: { id: "ft-1", name: "Fiona Field", email: "fiona@example.test" }, pin: PIN });
    } finally {
      await ca.close();
    }
    const dir = mkdtempSync(join(tmpdir(), "cardloop-from-trace-"));
    const path = join(dir, "field.jsonl");
    const writer = new TraceWriter(path, { format: "cardloop", reader: "field reader" });
    const reader = new MemoryReader(field);
    writer.event("insert", await reader.connect());
    const send = session(reader, writer);
    await send(SELECT_PIV);
    for (const tag of READS) await send(getData(tag));
    await send("00F8000000"); // GET SERIAL
    await send("00FD000000"); // GET VERSION
    await send("00F7009A00"); // GET METADATA 9A
    await send(`0020008008${pinBlock(PIN)}`);
    await send(getData("5FC109")); // printed info, now with the PIN: 6A82 on this card
    writer.close();
    return { field, trace: readTrace(path), dir };
  })();
  return made;
}

test.after.always(async () => {
  if (made) rmSync((await made).dir, { recursive: true, force: true });
});

test("the rebuilt card answers every GET DATA of the trace byte for byte, with the field card's serial, ATR and expiry; the PIN was masked in the trace", async (t) => {
  const { field, trace } = await fieldCard();
  t.false(JSON.stringify(trace).includes(pinBlock(PIN)), "the trace does not hold the PIN");
  t.true(trace.entries.some((e) => e.type === "apdu" && e.masked === "pin"));
  const { card, report } = cardFromTrace(trace, { pin: "11223344" });
  t.is(card.serial, "00c0ffee");
  t.is(card.expires.toISOString(), "2032-12-31T00:00:00.000Z");
  t.deepEqual(card.powerOn(), ATR, "the field card's ATR, here cardloop's own");

  const reader = new MemoryReader(card);
  await reader.connect();
  const scratch = new TraceWriter(join((await fieldCard()).dir, "scratch.jsonl"), { format: "cardloop" });
  const send = session(reader, scratch);
  t.is((await send(SELECT_PIV)).sw, 0x9000);
  let compared = 0;
  let pinVerified = false;
  for (const x of foldExchanges(trace.entries)) {
    if (x.command[1] === 0x20) {
      // the trace's VERIFY is masked: the user gives the new card's PIN
      t.is((await send(`0020008008${pinBlock("11223344")}`)).sw, 0x9000);
      pinVerified = true;
      continue;
    }
    if (x.command[1] !== 0xcb && x.command[1] !== 0xf8 && x.command[1] !== 0xfd) continue;
    const got = await send(toHex(x.command));
    t.is(got.sw, x.sw, `${toHex(x.command)} (verified ${pinVerified}): status word`);
    t.is(toHex(got.data), toHex(x.response), `${toHex(x.command)}: answer`);
    compared++;
  }
  scratch.close();
  t.is(compared, READS.length + 3, "every GET DATA, GET SERIAL and GET VERSION of the trace");
  // and the objects are the field card's, byte for byte
  for (const [tag, value] of field.state.objects) {
    t.deepEqual(card.state.objects.get(tag), value, `object ${tag.toString(16)}`);
  }
  t.true(report.taken.some((l) => /^object 5FC105 .* as the field card answered/.test(l)));
  t.true(report.taken.some((l) => /^object 5FC10B .*absent/.test(l)));
  t.true(report.taken.some((l) => /^serial 00C0FFEE/.test(l)));
  t.true(report.fresh.some((l) => /^PIN: the one given/.test(l)));
  t.false(JSON.stringify(report).includes("11223344"), "no PIN in the report");
});

test("key references and algorithms match the field card's; fresh keys, which the certificates do not certify, and the new card's own public key verifies its signatures", async (t) => {
  const { field, trace } = await fieldCard();
  const { card, report } = cardFromTrace(trace);
  const algs = (c: PivCard) => new Map([...c.state.keys].map(([slot, k]) => [slot, k.alg]));
  t.deepEqual(algs(card), algs(field));
  t.true(algs(card).size >= 2, "9A and 9C");
  t.true(report.fresh.some((l) => /^key 9A: a new P-256 key pair .*cannot be known.*do not verify/.test(l)), report.fresh.join("\n"));

  // what a user can check: sign with 9A, verify with the key GET METADATA returns, not with the certificate's
  const reader = new MemoryReader(card);
  await reader.connect();
  const send = session(reader, new TraceWriter(join((await fieldCard()).dir, "sign.jsonl"), { format: "cardloop" }));
  await send(SELECT_PIV);
  t.is((await send(`0020008008${pinBlock("123456")}`)).sw, 0x9000, "the default PIN when none was given");
  const digest = createHash("sha256").update("challenge").digest();
  const ga = Uint8Array.from([0x7c, 0x24, 0x82, 0x00, 0x81, 0x20, ...digest]);
  const signed = await send(`0087119A${toHex(Uint8Array.of(ga.length))}${toHex(ga)}00`);
  t.is(signed.sw, 0x9000);
  const signature = findTlv(decodeTlvs(readTlv(signed.data, 0).value), 0x82)!.value;
  const meta = await send("00F7009A00");
  const point = findTlv(decodeTlvs(findTlv(decodeTlvs(meta.data), 0x04)!.value), 0x86)!.value;
  const own = createPublicKey({ key: { kty: "EC", crv: "P-256", x: Buffer.from(point.subarray(1, 33)).toString("base64url"), y: Buffer.from(point.subarray(33)).toString("base64url") }, format: "jwk" });
  t.true(verify("sha256", Buffer.from("challenge"), own, signature), "the new card's own key verifies");
  const certKey = publicKeyOf(new Certificate(certificateInObject(card.state.objects.get(0x5fc105)!)!).spki).key!;
  t.false(verify("sha256", Buffer.from("challenge"), certKey, signature), "the field card's certificate does not");
});

test("the same trace and seed give the same card file (keys included); another seed other keys; the default PIN's digits are never in the report", async (t) => {
  const { trace } = await fieldCard();
  const made = (seed: string) => cardFromTrace(trace, { random: new SeededRandom(seed) });
  const a = made("seed-1");
  const b = made("seed-1");
  t.true(a.card.state.keys.size > 0, "the trace gave keys to make");
  t.deepEqual(JSON.stringify(a.card.toJSON()), JSON.stringify(b.card.toJSON()), "byte for byte the same card file");
  const c = made("seed-2");
  const publicKeys = (card: PivCard) => [...card.state.keys.values()].map((k) => k.publicKey.export({ format: "der", type: "spki" }).toString("hex")).join();
  t.is(publicKeys(a.card), publicKeys(b.card));
  t.not(publicKeys(a.card), publicKeys(c.card), "another seed, other keys");
  const lines = [...a.report.taken, ...a.report.fresh, ...a.report.skipped];
  t.true(lines.some((l) => /^PIN: the well-known default PIN/.test(l)));
  t.false(lines.some((l) => l.includes(DEFAULT_PIN)), "the default PIN's digits are not printed");
});

test("firmware version and ATR are kept through the card file; an old card file without them still loads", async (t) => {
  const { trace } = await fieldCard();
  const entries: TraceEntry[] = trace.entries.map((e) => (e.type === "event" ? { ...e, atr: "3BFC180000813180459067464A00641606F2727E00E0" } : e));
  // the field card said firmware 4.3.5
  const withVersion = entries.map((e) => (e.type === "apdu" && e.command === "00FD000000" ? { ...e, response: "040305" } : e));
  const { card } = cardFromTrace({ header: trace.header, entries: withVersion });
  const file = join((await fieldCard()).dir, "rebuilt.json");
  saveCard(card, file);
  const again = loadCard(file);
  t.is(toHex(again.powerOn()).toUpperCase(), "3BFC180000813180459067464A00641606F2727E00E0");
  const reader = new MemoryReader(again);
  await reader.connect();
  await reader.transmit(fromHex(SELECT_PIV));
  t.is(toHex(await reader.transmit(fromHex("00FD000000"))), "0403059000");
  const plain = PivCard.fromJSON(JSON.parse(JSON.stringify(PivCard.create({ expires: new Date("2030-01-01") }).toJSON())));
  t.deepEqual(plain.powerOn(), ATR);
});

test("an unusable trace: no PIV SELECT, or nothing read under it, is an UnusableTrace", (t) => {
  const header = { cardloopTrace: 1 as const, format: "cardloop" as const, masked: 0 };
  const apdu = (seq: number, command: string, response: string, sw: string): TraceEntry => ({ type: "apdu", seq, command, response, sw });
  t.throws(() => cardFromTrace({ header, entries: [apdu(0, getData("5FC102"), "5300", "9000")] }), { instanceOf: UnusableTrace, message: /no successful SELECT of the PIV application/ });
  t.throws(() => cardFromTrace({ header, entries: [apdu(0, SELECT_PIV, "", "6A82"), apdu(1, getData("5FC102"), "5300", "9000")] }), { instanceOf: UnusableTrace });
  t.throws(() => cardFromTrace({ header, entries: [apdu(0, SELECT_PIV, "61", "9000"), apdu(1, "00200080", "", "63C3")] }), { message: /nothing was read/ });
  // an object read under another application is not the PIV card's
  t.throws(() => cardFromTrace({ header, entries: [apdu(0, SELECT_PIV, "", "9000"), apdu(1, "00A4040008A000000527200101", "", "9000"), apdu(2, getData("5FC102"), "5300", "9000")] }), { message: /nothing was read/ });
});

test("fuzz: any entries give a card or an UnusableTrace, never another error", (t) => {
  const hexOf = (max: number) => fc.uint8Array({ maxLength: max }).map((b) => toHex(b).toUpperCase());
  const command = fc.oneof(
    hexOf(40),
    fc.constantFrom(SELECT_PIV, getData("5FC102"), getData("5FC105"), getData("7E"), "00F8000000", "00FD000000", "00F7009A00", "0047009A05AC03800111", "0087119A00", "00DB3FFF0A5C035FC1055303700100"),
  );
  const entry = fc.oneof(
    fc.record({ type: fc.constant("apdu" as const), seq: fc.nat(1000), command, response: hexOf(300), sw: fc.constantFrom("9000", "6A82", "6982", "6104", "63C2", "0000") }),
    fc.record({ type: fc.constant("event" as const), seq: fc.nat(1000), event: fc.constantFrom("insert" as const, "reset" as const, "power-on" as const), atr: hexOf(40) }),
  );
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 30 }), (entries) => {
        try {
          const { card } = cardFromTrace({ header: { cardloopTrace: 1, format: "cardloop", masked: 0 }, entries }, { expires: new Date("2031-01-01") });
          return card.powerOn().length >= 2;
        } catch (err) {
          return err instanceof UnusableTrace && err instanceof FormatError;
        }
      }),
      { numRuns: 300 },
    ),
  );
});

test("fuzz: a card file's atr and firmware fields load or are a FormatError", (t) => {
  const base = PivCard.create({ expires: new Date("2030-01-01") }).toJSON();
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.option(fc.oneof(fc.string(), fc.uint8Array({ maxLength: 40 }).map((b) => toHex(b)))), fc.option(fc.oneof(fc.string(), fc.uint8Array({ maxLength: 5 }).map((b) => toHex(b)))), (atr, firmware) => {
        const json = { ...base, ...(atr !== null ? { atr } : {}), ...(firmware !== null ? { firmware } : {}) };
        try {
          const card = PivCard.fromJSON(json);
          return atr === null || toHex(card.powerOn()) === atr.toLowerCase();
        } catch (err) {
          return err instanceof FormatError;
        }
      }),
      { numRuns: 300 },
    ),
  );
});
