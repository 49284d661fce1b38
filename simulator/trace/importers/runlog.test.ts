import test from "ava";
import fc from "fast-check";
import { EventBus, FormatError, VirtualClock, fromHex, type AnyEvent } from "../../../core/index.js";
import { PivCard } from "../../card/index.js";
import { MemoryReader, TracedReader } from "../../reader/index.js";
import { importRunLog, looksLikeRunLog } from "./runlog.js";
import { acceptsOnlyReadable, fixture } from "./fixtures.js";

test("run log of `cardloop apdu --log` (transport exchanges, response without SW): every exchange, masked kinds set", (t) => {
  const text = fixture("cardloop-apdu.runlog.jsonl");
  const events = text.trim().split("\n").map((l) => JSON.parse(l) as { data: { command: string; response: string; sw: string } });
  const { trace, masked } = importRunLog(text, "run.jsonl");
  const apdus = trace.entries.flatMap((e) => (e.type === "apdu" ? [e] : []));
  t.deepEqual(
    apdus.map((e) => [e.command, e.response, e.sw]),
    events.map((e) => [e.data.command, e.data.command.startsWith("0087039B") ? "7C0A8008" + "FF".repeat(8) : e.data.response, e.data.sw]),
  );
  t.deepEqual(apdus.map((e) => e.masked ?? "-"), ["-", "-", "pin", "management-key", "-", "-"]);
  t.is(masked, 2);
  t.is(trace.header.reader, "cardloop apdu");
  t.true(apdus.every((e) => e.micros !== undefined && e.atMs !== undefined));
});

test("run log of a TracedReader (logical exchanges, response with SW) over the emulated card", async (t) => {
  const bus = new EventBus(new VirtualClock(0));
  const events: AnyEvent[] = [];
  bus.on((e) => events.push(e));
  const card = PivCard.create({ expires: new Date("2031-01-01T00:00:00Z"), pin: "24681357" });
  const reader = new TracedReader(new MemoryReader(card), bus, { name: "traced" });
  await reader.connect();
  await reader.transmit(fromHex("00A4040005A00000030800"));
  await reader.transmit(fromHex("00200080083234363831333537"));
  await reader.transmit(fromHex("0087039B047C028000"));
  const exchanges = events.flatMap((e) => (e.type === "apdu.exchange" ? [e.data] : []));
  t.regex(exchanges[2].response, /^7C0A8008F{16}9000$/, "TracedReader's run log hides the management-key witness");
  t.is(exchanges[1].command, "0020008008" + "FF".repeat(8));
  const text = events.map((e) => JSON.stringify(e)).join("\n");
  const { trace, masked } = importRunLog(text, "traced.jsonl");
  const apdus = trace.entries.flatMap((e) => (e.type === "apdu" ? [e] : []));
  t.deepEqual(apdus.map((e) => e.sw), ["9000", "9000", "9000"]);
  t.true(apdus[0].response.startsWith("61"), "the SW is split off the response, not kept twice");
  t.is(apdus[1].command, "0020008008" + "FF".repeat(8));
  t.is(apdus[2].response, "7C0A8008" + "FF".repeat(8), "and the trace too");
  t.is(masked, 2);
});

test("run log: a line that is not an event is refused with its line; one without exchanges too", (t) => {
  t.throws(() => importRunLog('{"type":"run.started","seq":0,"time":"x","data":{}}\nnot json\n', "r.jsonl"), { instanceOf: FormatError, message: /r\.jsonl:2: not JSON/ });
  t.throws(() => importRunLog('{"type":"run.started","seq":0,"time":"x","data":{}}\n', "r.jsonl"), { instanceOf: FormatError, message: /no apdu\.exchange/ });
  t.throws(() => importRunLog('{"type":"apdu.exchange","seq":0,"time":"x","data":{"command":"zz","response":"","sw":"9000"}}', "q"), { instanceOf: FormatError, message: /q:1: apdu.exchange without hex/ });
  t.true(looksLikeRunLog(fixture("cardloop-apdu.runlog.jsonl")));
  t.false(looksLikeRunLog(fixture("pcscd.log")));
});

test("fuzz: the run-log importer throws nothing but FormatError on any text, with any times and durations; what it accepts reads back", (t) => {
  const event = fc
    .record({
      type: fc.constantFrom("apdu.exchange", "run.started"),
      seq: fc.nat(),
      time: fc.oneof(fc.constantFrom("2026-01-01T00:00:00Z", "x"), fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), fc.string()),
      data: fc.record({ reader: fc.constantFrom("A", "B"), command: fc.stringMatching(/^[0-9A-F]{0,12}$/), response: fc.stringMatching(/^[0-9A-F]{0,8}$/), sw: fc.constantFrom("9000", "", "6A82", "zz"), micros: fc.oneof(fc.nat(), fc.constant(-1), fc.double(), fc.constant(Number.MAX_VALUE)) }),
    })
    .map((e) => JSON.stringify(e));
  fc.assert(
    fc.property(fc.array(fc.oneof(event, fc.string()), { maxLength: 10 }), (lines) => acceptsOnlyReadable(() => importRunLog(lines.join("\n"), "fuzz"))),
    { numRuns: 1000 },
  );
  t.true(importRunLog(fixture("cardloop-apdu.runlog.jsonl"), "x").trace.entries.length > 0);
});
