import test from "ava";
import { EventBus, VirtualClock, fromHex, toHex, type AnyEvent } from "../../core/index.js";
import type { Reader } from "../reader/reader.js";
import { TracedReader } from "./traced-reader.js";

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
  return { reader: new TracedReader(scripted(script), bus, "r"), events };
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
  t.deepEqual(e.volatile, ["micros", "command", "response"]);
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

test("PIN data is masked and non-key exchanges are stable apart from latency", async (t) => {
  const { reader, events } = traced({ "002000800831323334353637FF": "63C2" });
  await reader.transmit(fromHex("002000800831323334353637FF"));
  const e = events[0];
  if (e.type !== "apdu.exchange") return t.fail();
  t.is(e.data.command, "0020008008FFFFFFFFFFFFFFFF");
  t.is(e.data.sw, "63C2");
  t.deepEqual(e.volatile, ["micros"]);
});
