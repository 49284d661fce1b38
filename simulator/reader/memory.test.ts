import test from "ava";
import { fromHex, toHex } from "../../core/index.js";
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
