import test from "ava";
import { EventBus, VirtualClock, fromHex, toHex, type AnyEvent } from "../../core/index.js";
import { ATR, PivCard } from "../card/index.js";
import { MemoryReader, ReaderError } from "./index.js";

const card = () => PivCard.create({ expires: new Date("2030-01-01T00:00:00Z") });

test("memory reader: no card, no power, then a normal session", async (t) => {
  const reader = new MemoryReader(undefined, { name: "slot 0" });
  t.is(reader.name, "slot 0");
  t.false(reader.present);
  await t.throwsAsync(reader.connect(), { instanceOf: ReaderError, message: /no card present/ });
  const c = card();
  reader.insert(c);
  await t.throwsAsync(reader.transmit(fromHex("00fd0000")), { instanceOf: ReaderError, message: /not connected/ });
  t.is(toHex(await reader.connect()), toHex(ATR));
  t.is(toHex(await reader.transmit(fromHex("00fd000000"))), "0502079000");
  t.is(toHex(await reader.reset()), toHex(ATR));
  await reader.disconnect();
  await t.throwsAsync(reader.transmit(fromHex("00fd0000")), { instanceOf: ReaderError });
});

test("memory reader: insertion and removal are announced; removal drops the session", async (t) => {
  const reader = new MemoryReader();
  const seen: boolean[] = [];
  const off = reader.onPresence((p) => seen.push(p));
  const c = card();
  reader.insert(c);
  await reader.connect();
  await reader.transmit(fromHex("002000800831323334353637ff")); // wrong PIN: 63C2
  reader.remove();
  reader.remove(); // removing an empty reader is a no-op
  await t.throwsAsync(reader.transmit(fromHex("00fd0000")), { instanceOf: ReaderError });
  reader.insert(c);
  reader.insert(card()); // swapping cards: remove then insert
  off();
  reader.remove();
  t.deepEqual(seen, [true, false, true, false, true]);
  t.is(c.state.pinLeft, 2, "the card keeps its memory when it leaves the reader");
});

test("memory reader: an apdu.exchange per transport exchange, only while someone listens, PIN masked", async (t) => {
  const bus = new EventBus(new VirtualClock(0));
  const reader = new MemoryReader(card(), { name: "inner", bus });
  await reader.connect();
  await reader.transmit(fromHex("002000800831323334353637ff")); // nobody listens yet
  const events: AnyEvent[] = [];
  bus.on((e) => events.push(e));
  await reader.transmit(fromHex("002000800831323334353636ff"));
  await reader.transmit(fromHex("00cb3fff035c017e00"));
  t.is(events.length, 2);
  t.deepEqual(
    events.map((e) => [(e.data as { command: string }).command, (e.data as { sw: string }).sw]),
    [
      ["0020008008FFFFFFFFFFFFFFFF", "63C1"],
      ["00CB3FFF035C017E00", "9000"],
    ],
  );
  t.is((events[1].data as { response: string }).response, "7E124F0BA0000003080000100001005F2F024000");
});
