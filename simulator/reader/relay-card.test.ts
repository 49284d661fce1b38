import test from "ava";
import { fromHex, toHex } from "../../core/index.js";
import { ATR, PivCard, TearingCard } from "../card/index.js";
import { CardWithdrawn } from "./vpcd.js";
import { FaultyCard, type InjectedCardFault } from "./faulty-card.js";
import { MemoryReader } from "./memory.js";
import { RelayCard } from "./relay-card.js";

const SELECT_PIV = fromHex("00A4040009A0000003080000100000");
const GET_SERIAL = fromHex("00F8000000");
const newCard = () => PivCard.create({ expires: new Date("2031-01-01T00:00:00Z"), serial: "0A0B0C0D" });

test("RelayCard: the real card's ATR and answers; a reset is the reader's; power off disconnects", async (t) => {
  const reader = new MemoryReader(newCard());
  const relay = new RelayCard(reader);
  t.deepEqual(await relay.powerOn(), ATR);
  t.is(toHex(await relay.transmit(SELECT_PIV)).slice(-4), "9000");
  t.is(toHex(await relay.transmit(GET_SERIAL)), "0a0b0c0d9000");
  t.deepEqual(await relay.reset(), ATR);
  await relay.powerOff();
  // pcscd powers a card before it sends; a relay that was powered off connects again itself
  t.is(toHex(await relay.transmit(GET_SERIAL)).slice(-4), "9000");
});

test("RelayCard: a real card that is gone makes the relayed card leave vpcd (CardWithdrawn), power-on included", async (t) => {
  const reader = new MemoryReader(newCard());
  const relay = new RelayCard(reader, { absentPauseMs: 250 });
  await relay.powerOn();
  reader.remove();
  const err = await t.throwsAsync(() => relay.transmit(GET_SERIAL), { instanceOf: CardWithdrawn, message: /relay: transmit on "cardloop memory reader" failed/ });
  t.is(err!.pauseMs, 250);
  await t.throwsAsync(() => relay.powerOn(), { instanceOf: CardWithdrawn, message: /power on/ });
  reader.insert(newCard());
  t.deepEqual(await relay.powerOn(), ATR, "back once the card is");
});

test("FaultyCard: sw, delay, drop, lose-answer, remove and tearing at their exchanges; no fault, the card's own synchronous answer", async (t) => {
  const tearing = new TearingCard(newCard().state);
  const seen: InjectedCardFault[] = [];
  const card = new FaultyCard(
    tearing,
    [
      { fault: { kind: "sw", sw: 0x6f00 }, at: [1] },
      { fault: { kind: "delay", ms: 20 }, at: [2] },
      { fault: { kind: "drop" }, at: [3] },
      { fault: { kind: "lose-answer" }, at: [4] },
      { fault: { kind: "remove" }, at: [5] },
      { fault: { kind: "tearing" }, ins: [0x20], at: [0] },
    ],
    undefined,
    { tear: tearing, removePauseMs: 700, onFault: (f) => seen.push(f) },
  );
  card.powerOn();
  const first = card.transmit(SELECT_PIV);
  t.true(first instanceof Uint8Array, "no fault: answered synchronously");
  t.is(toHex(await card.transmit(GET_SERIAL)), "6f00");
  t.is(toHex(await card.transmit(GET_SERIAL)), "0a0b0c0d9000");
  const drop = await t.throwsAsync(async () => card.transmit(GET_SERIAL), { instanceOf: CardWithdrawn, message: /"drop" at exchange 3 \(GET SERIAL\)/ });
  t.is(drop!.pauseMs, 600);
  await t.throwsAsync(async () => card.transmit(GET_SERIAL), { instanceOf: CardWithdrawn, message: /"lose-answer"/ });
  const removed = await t.throwsAsync(async () => card.transmit(GET_SERIAL), { instanceOf: CardWithdrawn, message: /"remove"/ });
  t.is(removed!.pauseMs, 700);
  // a wrong PIN torn at its first write (the try counter): the memory keeps the old state, no try is lost
  card.powerOn();
  await card.transmit(SELECT_PIV);
  await t.throwsAsync(async () => card.transmit(fromHex("002000800831313131313131FF")), { instanceOf: CardWithdrawn, message: /"tearing"/ });
  t.deepEqual(seen.map((f) => f.fault.kind), ["sw", "delay", "drop", "lose-answer", "remove", "tearing"]);
  t.is(seen[5].tear?.persisted, "old");
  t.regex(seen[5].detail, /exchange 7 \(VERIFY\): the card lost power during the command; its memory kept the old state/);
  tearing.powerOn();
  t.is(tearing.memory.pinLeft, 3);
});

test("FaultyCard: a plan that tears needs an emulated card", (t) => {
  const relay = new RelayCard(new MemoryReader(newCard()));
  t.throws(() => new FaultyCard(relay, [{ fault: { kind: "tearing" }, at: [0] }]), { message: /tearing needs an emulated card/ });
});

test("FaultyCard: a power-off ends a pending delay at once (CardWithdrawn), so `card serve` is not held after SIGTERM", async (t) => {
  t.timeout(2000); // the delay is 5 s: the transmit must settle long before it
  const card = new FaultyCard(newCard(), [{ fault: { kind: "delay", ms: 5000 }, at: [1] }]);
  card.powerOn();
  await card.transmit(SELECT_PIV);
  const pending = card.transmit(GET_SERIAL);
  await new Promise((r) => setImmediate(r)); // the delay has started
  await card.powerOff();
  await t.throwsAsync(async () => pending, { instanceOf: CardWithdrawn, message: /powered off during an injected delay/ });
});

test("FaultyCard: with the profile's timeout, a longer delay is a card that left vpcd after the timeout, not an answer", async (t) => {
  t.timeout(2000); // the delay is 5 s, the timeout 30 ms
  const seen: InjectedCardFault[] = [];
  const card = new FaultyCard(newCard(), [{ fault: { kind: "delay", ms: 5000 }, at: [1] }, { fault: { kind: "delay", ms: 10 }, at: [2] }], undefined, {
    timeoutMs: 30,
    onFault: (f) => seen.push(f),
  });
  card.powerOn();
  await card.transmit(SELECT_PIV);
  await t.throwsAsync(async () => card.transmit(GET_SERIAL), { instanceOf: CardWithdrawn, message: /"delay" at exchange 1 \(GET SERIAL\): no answer within 30 ms/ });
  t.regex(seen[0].detail, /longer than the profile's timeout of 30 ms/);
  t.is(toHex(await card.transmit(GET_SERIAL)), "0a0b0c0d9000", "a delay within the timeout is answered");
});
