import test from "ava";
import { EventBus, VirtualClock, fromHex, toHex, type AnyEvent } from "../../core/index.js";
import { PivCard } from "../card/index.js";
import { MemoryReader, ReaderError, TracedReader, type Reader } from "./index.js";
import { volatileParts } from "./traced-volatile.js";

/** A reader that answers from a script: command hex -> response hex. */
function scripted(script: Record<string, string>): Reader {
  return {
    name: "scripted",
    connect: async () => new Uint8Array(0),
    reset: async () => new Uint8Array(0),
    disconnect: async () => undefined,
    onPresence: () => () => undefined,
    transmit: async (cmd) => {
      const answer = script[toHex(cmd).toUpperCase()];
      if (answer === undefined) throw new Error(`unscripted ${toHex(cmd)}`);
      return fromHex(answer);
    },
  };
}

function traced(script: Record<string, string>) {
  const bus = new EventBus(new VirtualClock(0));
  const events: AnyEvent[] = [];
  bus.on((e) => events.push(e));
  return { reader: new TracedReader(scripted(script), bus, { name: "r" }), events };
}

test("61xx continuations fold into the exchange they continue", async (t) => {
  const { reader, events } = traced({ "00CB3FFF00": "AABB6102", "00C0000002": "CCDD9000" });
  await reader.transmit(fromHex("00CB3FFF00"));
  await reader.transmit(fromHex("00C0000002"));
  t.is(events.length, 1);
  const e = events[0];
  if (e.type !== "apdu.exchange") return t.fail();
  t.is(e.data.command, "00CB3FFF00");
  t.is(e.data.response, "AABBCCDD9000");
  t.is(e.data.sw, "9000");
  t.deepEqual(e.volatile, ["micros", "response"], "an object it cannot name: its answer is not compared");
  t.is(reader.exchanges, 1);
  t.is(reader.transportExchanges, 2);
});

test("chained commands fold into one logical command", async (t) => {
  const { reader, events } = traced({ "10DB3FFF020102": "9000", "00DB3FFF020304": "9000" });
  await reader.transmit(fromHex("10DB3FFF020102"));
  t.is(events.length, 0);
  await reader.transmit(fromHex("00DB3FFF020304"));
  t.is(events.length, 1);
  const e = events[0];
  if (e.type !== "apdu.exchange") return t.fail();
  t.is(e.data.command, "00DB3FFF0401020304");
});

test("a chain part the card refused ends the chain: the refusal is one exchange, the next chain another", async (t) => {
  const { reader, events } = traced({ "10DB3FFF020102": "6982", "10DB3FFF020506": "9000", "00DB3FFF020304": "9000" });
  await reader.transmit(fromHex("10DB3FFF020102"));
  t.is(events.length, 1, "the refused part is emitted at once");
  await reader.transmit(fromHex("10DB3FFF020506"));
  await reader.transmit(fromHex("00DB3FFF020304"));
  t.is(events.length, 2);
  const [refused, chain] = events;
  if (refused.type !== "apdu.exchange" || chain.type !== "apdu.exchange") return t.fail();
  t.is(refused.data.sw, "6982");
  t.is(chain.data.command, "00DB3FFF0405060304", "the refused part's data is not joined to the next chain");
  t.is(reader.exchanges, 2);
});

test("PIN data is masked and non-key exchanges are stable apart from latency", async (t) => {
  const { reader, events } = traced({ "002000800831323334353637FF": "63C2" });
  await reader.transmit(fromHex("002000800831323334353637FF"));
  const e = events[0];
  if (e.type !== "apdu.exchange") return t.fail();
  t.is(e.data.command, "0020008008FFFFFFFFFFFFFFFF");
  t.is(e.data.sw, "63C2");
  t.deepEqual(e.volatile, ["micros"]);
});

const SIGN = "0087119A267C2482008120" + "00".repeat(32);

test("only exchanges that carry keys or signatures are volatile: a CHUID read is compared, a certificate read is not", async (t) => {
  const { reader, events } = traced({
    "00CB3FFF055C035FC10200": "533B3019D4E739DA739CED39CE739D836858210842108421C84210C3EB34101112131415161718191A1B1C1D1E1F2035083230333030363330", // CHUID (cut short)
    "00CB3FFF055C035FC10500": "5303700100" + "9000",
    "00CB3FFF055C035FC10A00": "6A82",
    "10DB3FFF055C035FC105": "9000",
    "00DB3FFF055303700100": "9000",
    "00DB3FFF0A5C035FFF005303810100": "9000",
    "0047009A05AC03800111": "7F4943864104" + "00".repeat(64) + "9000",
    [SIGN]: "7C0482020102" + "9000",
    "00F7008000": "0603030300" + "9000",
    "00F7009A00": "010111" + "9000",
  });
  const volatileOf = async (hex: string) => {
    events.length = 0;
    await reader.transmit(fromHex(hex));
    return events.length === 0 ? undefined : events[0].volatile;
  };
  t.deepEqual(await volatileOf("00CB3FFF055C035FC10200"), ["micros"], "CHUID: no key, no per-run signature");
  t.deepEqual(await volatileOf("00CB3FFF055C035FC10500"), ["micros", "response"], "9A certificate: a fresh public key");
  t.deepEqual(await volatileOf("00CB3FFF055C035FC10A00"), ["micros", "response"], "by object, whatever the answer");
  t.is(await volatileOf("10DB3FFF055C035FC105"), undefined, "first chained part");
  t.deepEqual(await volatileOf("00DB3FFF055303700100"), ["micros", "command"], "writing a certificate: the command carries it");
  t.deepEqual(await volatileOf("00DB3FFF0A5C035FFF005303810100"), ["micros"], "writing a non-certificate object");
  t.deepEqual(await volatileOf("0047009A05AC03800111"), ["micros", "response"], "GENERATE returns the new public key");
  t.deepEqual(
    await volatileOf(SIGN),
    ["micros", "command", "response"],
    "a signature and its digest",
  );
  t.deepEqual(await volatileOf("00F7008000"), ["micros"], "PIN metadata");
  t.deepEqual(await volatileOf("00F7009A00"), ["micros", "response"], "key metadata holds the public key");
});

test("volatileParts reads the object tag of extended-length GET DATA and PUT DATA too", (t) => {
  t.deepEqual(volatileParts(fromHex("00CB3FFF0000055C035FC1020000")), []);
  t.deepEqual(volatileParts(fromHex("00CB3FFF0000055C035FC1050000")), ["response"]);
  t.deepEqual(volatileParts(fromHex("00DB3FFF0000085C035FC10B530100")), ["command"]);
  t.deepEqual(volatileParts(fromHex("00CB3FFF035C017E00")), [], "Discovery object, one-byte tag");
  t.deepEqual(volatileParts(fromHex("00CB3FFF055C035FC12300")), ["response"], "SM certificate signer (5FC123) carries a certificate");
  t.deepEqual(volatileParts(fromHex("00CB3FFF055C035FC12200")), [], "biometric group template (5FC122) does not");
  t.deepEqual(volatileParts(fromHex("00A4040005A000000308")), []);
  t.deepEqual(volatileParts(fromHex("0020")), []);
});

const card = () => PivCard.create({ expires: new Date("2030-01-01T00:00:00Z") });

test("around a real card: the wrapper keeps the reader's name and presence, counts every exchange, and masks what it emits", async (t) => {
  const bus = new EventBus(new VirtualClock(0));
  const logical: AnyEvent[] = [];
  bus.on((e) => logical.push(e));
  const inner = new MemoryReader(card(), { name: "inner" });
  const traced = new TracedReader(inner, bus);
  t.is(traced.name, "inner");
  await traced.connect();
  await traced.transmit(fromHex("002000800831323334353637ff"));
  await traced.transmit(fromHex("002000800831323334353636ff"));
  await traced.transmit(fromHex("00cb3fff035c017e00"));
  t.is(traced.transportExchanges, 3);
  const first = logical[0];
  if (first.type !== "apdu.exchange") return t.fail();
  t.is(first.data.command, "0020008008FFFFFFFFFFFFFFFF");
  t.is(first.data.response, "63C2");
  const presence: boolean[] = [];
  const off = traced.onPresence((p) => presence.push(p));
  inner.remove();
  off();
  t.deepEqual(presence, [false]);
  await traced.disconnect();
  await t.throwsAsync(traced.reset(), { instanceOf: ReaderError });
});
