import test from "ava";
import { EventBus, SeededRandom, UsageError, VirtualClock, type AnyEvent } from "../../core/index.js";
import { PivCard, TearingCard } from "../card/index.js";
import { FaultPlan, FaultyReader, type FaultRule } from "./fault.js";
import { MemoryReader, ReaderError } from "./memory.js";

const VERIFY_STATUS = Uint8Array.of(0x00, 0x20, 0x00, 0x80);

function reader() {
  return new MemoryReader(PivCard.create({ expires: new Date("2030-01-01T00:00:00Z") }));
}

test("faults fire at the given exchanges, and only there", async (t) => {
  const r = new FaultyReader(reader(), [
    { fault: { kind: "drop" }, at: [1] },
    { fault: { kind: "sw", sw: 0x6f00 }, at: [2] },
    { fault: { kind: "lose-answer" }, at: [3] },
  ] satisfies FaultRule[]);
  await r.connect();
  t.deepEqual([...(await r.transmit(VERIFY_STATUS))], [0x63, 0xc3]);
  await t.throwsAsync(() => r.transmit(VERIFY_STATUS), { instanceOf: ReaderError, message: /exchange 1/ });
  t.deepEqual([...(await r.transmit(VERIFY_STATUS))], [0x6f, 0x00]);
  await t.throwsAsync(() => r.transmit(VERIFY_STATUS), { message: /answer lost/ });
  t.deepEqual([...(await r.transmit(VERIFY_STATUS))], [0x63, 0xc3]);
  t.deepEqual(r.injected.map((i) => [i.exchange, i.fault.kind]), [[1, "drop"], [2, "sw"], [3, "lose-answer"]]);
});

test("a remove fault pulls the card: presence false, exchanges fail until reinserted", async (t) => {
  const r = new FaultyReader(reader(), [{ fault: { kind: "remove" }, at: [0] }]);
  const seen: boolean[] = [];
  r.onPresence((p) => seen.push(p));
  await r.connect();
  await t.throwsAsync(() => r.transmit(VERIFY_STATUS), { message: /card removed/ });
  await t.throwsAsync(() => r.connect(), { message: /no card present/ });
  r.reinsert();
  await r.connect();
  t.is((await r.transmit(VERIFY_STATUS)).length, 2);
  t.deepEqual(seen, [false, true]);
});

test("rate faults are reproducible: the same seed injects at the same exchanges", async (t) => {
  const once = async (seed: number) => {
    const r = new FaultyReader(reader(), [{ fault: { kind: "drop" }, rate: 0.2 }], new SeededRandom(seed));
    await r.connect();
    for (let i = 0; i < 200; i++) await r.transmit(VERIFY_STATUS).catch(() => undefined);
    return r.injected.map((x) => x.exchange);
  };
  const a = await once(42);
  t.deepEqual(await once(42), a);
  t.notDeepEqual(await once(43), a);
  t.true(a.length > 10 && a.length < 80, `${a.length} faults at rate 0.2 in 200`);
});

const GET_CHUID = Uint8Array.of(0x00, 0xcb, 0x3f, 0xff, 0x05, 0x5c, 0x03, 0x5f, 0xc1, 0x02, 0x00);

test("a rule limited to instructions counts only their exchanges: at [1] is the second VERIFY", async (t) => {
  const r = new FaultyReader(reader(), [{ fault: { kind: "sw", sw: 0x6f00 }, at: [1], ins: [0x20] }]);
  await r.connect();
  const sws: string[] = [];
  for (const cmd of [GET_CHUID, VERIFY_STATUS, GET_CHUID, GET_CHUID, VERIFY_STATUS, VERIFY_STATUS]) {
    const res = await r.transmit(cmd);
    sws.push(Buffer.from(res.subarray(-2)).toString("hex"));
  }
  t.deepEqual(sws, ["9000", "63c3", "9000", "9000", "6f00", "63c3"]);
  t.deepEqual(r.injected, [{ exchange: 4, fault: { kind: "sw", sw: 0x6f00 }, ins: 0x20 }]);
});

test("FaultPlan alone decides the same exchanges as the reader, and checks its rules", (t) => {
  const plan = new FaultPlan([{ fault: { kind: "drop" }, at: [0], ins: [0xcb] }, { fault: { kind: "remove" }, at: [2] }]);
  const got = [VERIFY_STATUS, GET_CHUID, VERIFY_STATUS, GET_CHUID].map((c) => plan.next(c)?.fault.kind ?? "-");
  t.deepEqual(got, ["-", "drop", "remove", "-"]);
  t.is(plan.exchanges, 4);
  t.throws(() => new FaultPlan([{ fault: { kind: "drop" }, ins: [256], at: [0] }]), { instanceOf: RangeError });
  t.throws(() => new FaultPlan([{ fault: { kind: "drop" }, rate: 2 }]), { instanceOf: RangeError });
});

test("tearing: the card loses power in the command, the exchange fails naming it, the card answers again after a connect", async (t) => {
  const card = new TearingCard(PivCard.create({ expires: new Date("2030-01-01T00:00:00Z") }).state, { model: "atomic" });
  const bus = new EventBus(new VirtualClock(new Date("2029-01-01T00:00:00Z")));
  const events: AnyEvent[] = [];
  bus.on((e) => events.push(e));
  const r = new FaultyReader(new MemoryReader(card, { name: "m" }), [{ fault: { kind: "tearing" }, at: [0], ins: [0x20] }], undefined, { bus, tear: card });
  await r.connect();
  const wrongPin = Uint8Array.of(0x00, 0x20, 0x00, 0x80, 0x08, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0xff, 0xff);
  await t.throwsAsync(() => r.transmit(wrongPin), { instanceOf: ReaderError, message: /card lost power during VERIFY \(injected fault "tearing" at exchange 0; memory kept the old state\)/ });
  await t.throwsAsync(() => r.transmit(VERIFY_STATUS), { message: /unpowered/ });
  await r.connect();
  // the tear came before the try was counted, and before the comparison: 3 tries left
  t.deepEqual([...(await r.transmit(VERIFY_STATUS))], [0x63, 0xc3]);
  t.deepEqual([...(await r.transmit(wrongPin))], [0x63, 0xc2]);
  t.deepEqual(
    events.filter((e) => e.type === "apdu.fault").map((e) => e.data),
    [{ reader: "m", exchange: 0, kind: "tearing", ins: "20", detail: "VERIFY: card lost power during the command; memory kept the old state" }],
  );
  t.deepEqual(r.injected[0].tear, { wrote: true, persisted: "old" });
  t.false(JSON.stringify(events).includes("303030303030"));
});

test("tearing without an emulated card is a usage error", (t) => {
  t.throws(() => new FaultyReader(reader(), [{ fault: { kind: "tearing" }, at: [0] }]), { instanceOf: UsageError, message: /tearing needs an emulated card/ });
});

test("tearing a chained command: its parts before the last are not counted, the tear strikes the part that completes it", async (t) => {
  const card = new TearingCard(PivCard.create({ expires: new Date("2030-01-01T00:00:00Z") }).state, { model: "non-atomic" });
  const r = new FaultyReader(new MemoryReader(card, { name: "m" }), [{ fault: { kind: "tearing" }, at: [0], ins: [0xdb] }], undefined, { tear: card });
  await r.connect();
  // a PUT DATA of the printed information (5FC109) in two parts: CLA 10, then CLA 00
  const first = Uint8Array.of(0x10, 0xdb, 0x3f, 0xff, 0x05, 0x5c, 0x03, 0x5f, 0xc1, 0x09);
  const last = Uint8Array.of(0x00, 0xdb, 0x3f, 0xff, 0x04, 0x53, 0x02, 0x01, 0x02);
  t.deepEqual([...(await r.transmit(first))], [0x90, 0x00]);
  // without the management key the card refuses it before writing: the tear loses the answer only
  await t.throwsAsync(() => r.transmit(last), { instanceOf: ReaderError, message: /card lost power during PUT DATA \(injected fault "tearing" at exchange 1; it wrote nothing\)/ });
  t.deepEqual(r.injected.map((i) => [i.exchange, i.fault.kind, i.tear]), [[1, "tearing", { wrote: false, persisted: "old" }]]);
});
