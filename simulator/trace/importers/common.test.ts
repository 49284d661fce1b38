import test from "ava";
import { fromHex } from "../../../core/index.js";
import { formatTrace, parseTrace } from "../format.js";
import { TraceBuilder } from "./common.js";

test("TraceBuilder: a time earlier than the first entry's is left out, never written negative", (t) => {
  const b = new TraceBuilder("opensc", "/home/someone/clock.log");
  b.apdu(fromHex("00A40400"), fromHex("9000"), { line: 1, atMs: 5000 });
  b.apdu(fromHex("00A40400"), fromHex("9000"), { line: 2, atMs: 1000 });
  b.apdu(fromHex("00A40400"), fromHex("9000"), { line: 3, atMs: 5020, micros: Infinity });
  const { trace } = b.build();
  t.deepEqual(
    trace.entries.map((e) => e.atMs),
    [0, undefined, 20],
  );
  t.false("micros" in trace.entries[2], "an overflowed duration is left out");
  t.is(trace.header.source, "clock.log");
  t.deepEqual(parseTrace(formatTrace(trace)).entries, trace.entries);
});

test("TraceBuilder: masking follows each reader; an event on one reader leaves another's continuation pending", (t) => {
  const b = new TraceBuilder("pcscd", "two.log");
  b.apdu(fromHex("0087039B047C028000"), fromHex("7C0A80086108"), { line: 1, reader: "A" });
  b.event("reset", { line: 2, reader: "B" });
  b.apdu(fromHex("00CB3FFF055C035FC10200"), fromHex("53009000"), { line: 3, reader: "B" });
  b.apdu(fromHex("00C0000008"), fromHex("11223344556677889000"), { line: 4, reader: "A" });
  const { trace, masked } = b.build();
  t.like(trace.entries[3], { type: "apdu", response: "FF".repeat(8), masked: "management-key", reader: "A" });
  t.is(masked, 2);
});
