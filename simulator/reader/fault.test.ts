import test from "ava";
import { SeededRandom } from "../../core/index.js";
import { PivCard } from "../card/index.js";
import { FaultyReader, parseFaults } from "./fault.js";
import { MemoryReader, ReaderError } from "./memory.js";

const VERIFY_STATUS = Uint8Array.of(0x00, 0x20, 0x00, 0x80);

function reader() {
  return new MemoryReader(PivCard.create({ expires: new Date("2030-01-01T00:00:00Z") }));
}

test("faults fire at the given exchanges, and only there", async (t) => {
  const r = new FaultyReader(reader(), parseFaults("drop@1; sw=6F00@2; lose-answer@3"));
  await r.connect();
  t.deepEqual([...(await r.transmit(VERIFY_STATUS))], [0x63, 0xc3]);
  await t.throwsAsync(() => r.transmit(VERIFY_STATUS), { instanceOf: ReaderError, message: /exchange 1/ });
  t.deepEqual([...(await r.transmit(VERIFY_STATUS))], [0x6f, 0x00]);
  await t.throwsAsync(() => r.transmit(VERIFY_STATUS), { message: /answer lost/ });
  t.deepEqual([...(await r.transmit(VERIFY_STATUS))], [0x63, 0xc3]);
  t.deepEqual(r.injected.map((i) => [i.exchange, i.fault.kind]), [[1, "drop"], [2, "sw"], [3, "lose-answer"]]);
});

test("a remove fault pulls the card: presence false, exchanges fail until reinserted", async (t) => {
  const r = new FaultyReader(reader(), parseFaults("remove@0"));
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
    const r = new FaultyReader(reader(), parseFaults("drop@rate:0.2"), new SeededRandom(seed));
    await r.connect();
    for (let i = 0; i < 200; i++) await r.transmit(VERIFY_STATUS).catch(() => undefined);
    return r.injected.map((x) => x.exchange);
  };
  const a = await once(42);
  t.deepEqual(await once(42), a);
  t.notDeepEqual(await once(43), a);
  t.true(a.length > 10 && a.length < 80, `${a.length} faults at rate 0.2 in 200`);
});

test("fault specs: bad input is a usage error", (t) => {
  t.deepEqual(parseFaults("delay=5@0,4"), [{ fault: { kind: "delay", ms: 5 }, at: [0, 4] }]);
  for (const bad of ["explode@1", "sw=6F@1", "drop=1@1", "drop@rate:2", "drop@-1", "delay@1"]) {
    t.throws(() => parseFaults(bad), { message: /fault/ }, bad);
  }
});
