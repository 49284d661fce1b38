import test from "ava";
import fc from "fast-check";
import { FormatError } from "../../../core/index.js";
import { importPcscd, looksLikePcscd } from "./pcscd.js";
import { acceptsOnlyReadable, PIN_HEX, fixture } from "./fixtures.js";

const LOG = fixture("pcscd.log");

test("pcscd -a log: every APDU/SW pair imported in order with its status word, times and reader kept", (t) => {
  // Independent reading of the same lines: each APDU line and the next SW line (other threads log between them).
  const pairs: { command: string; sw: string; length: number }[] = [];
  let command: string | undefined;
  for (const line of LOG.split("\n")) {
    const apdu = / APDU: ([0-9A-F ]+)$/.exec(line);
    if (apdu) command = apdu[1].replace(/ /g, "");
    const sw = / SW: ([0-9A-F ]+)$/.exec(line);
    if (sw && command !== undefined) {
      const bytes = sw[1].trim().split(" ");
      pairs.push({ command, sw: bytes.slice(-2).join(""), length: bytes.length - 2 });
      command = undefined;
    }
  }
  const { trace, masked } = importPcscd(LOG, "/somewhere/pcscd.log");
  const apdus = trace.entries.flatMap((e) => (e.type === "apdu" ? [e] : []));
  t.is(apdus.length, pairs.length);
  t.true(apdus.length >= 40);
  apdus.forEach((e, i) => {
    t.is(e.sw, pairs[i].sw, `exchange ${i}`);
    t.is(e.response.length / 2, pairs[i].length);
    if (e.masked === undefined) t.is(e.command, pairs[i].command);
  });
  t.is(trace.header.source, "pcscd.log", "the file's name only");
  t.is(trace.header.reader, "Virtual PCD 00 00");
  t.deepEqual(trace.entries.map((e) => e.seq), trace.entries.map((_, i) => i));
  const times = trace.entries.map((e) => e.atMs ?? -1);
  t.true(times.every((x, i) => x >= 0 && (i === 0 || x >= times[i - 1])), "times since the first entry, in order");
  t.true(apdus.every((e) => e.micros !== undefined && e.micros > 0));
  t.like(trace.entries[0], { type: "event", event: "insert", atr: "3BF81300008131FE15636172646C6F6F70B8" });
  t.is(masked, 3);
  t.is(trace.header.masked, 3);
  t.deepEqual(apdus.filter((e) => e.masked).map((e) => e.masked), ["management-key", "management-key", "pin"]);
  t.false(JSON.stringify(trace).includes(PIN_HEX), "the PIN is in the log, not in the trace");
  t.true(LOG.includes(PIN_HEX.replace(/(..)(?!$)/g, "$1 ")));
});

test("pcscd: an APDU line whose SW never came is left out; lines of bad hex are refused with their line", (t) => {
  const log = "00000010 APDU: 00 A4 04 00\n00000010 APDU: 00 B0 00 00 02\n00000100 SW: AA BB 90 00\n";
  const { trace } = importPcscd(log, "x.log");
  t.deepEqual(trace.entries.map((e) => (e.type === "apdu" ? [e.command, e.response, e.sw, e.line] : [])), [["00B0000002", "AABB", "9000", 2]]);
  t.throws(() => importPcscd("00000010 APDU: 00 A4 0G 00\n00000010 SW: 90 00\n", "bad.log"), { instanceOf: FormatError, message: /bad\.log:1: APDU line is not hex/ });
  t.throws(() => importPcscd("00000010 APDU: 00\n00000010 SW: 90 00\n", "short.log"), { instanceOf: FormatError, message: /short\.log:1: command shorter/ });
  t.throws(() => importPcscd("hello\n", "empty.log"), { instanceOf: FormatError, message: /no APDU/ });
});

test("pcscd detection: the fixture yes, garbage and the other formats' fixtures no", (t) => {
  t.true(looksLikePcscd(LOG));
  for (const other of ["opensc-debug.log", "pcsc-spy.log", "scriptor.out", "cardloop-apdu.out"]) t.false(looksLikePcscd(fixture(other)), other);
  t.false(looksLikePcscd("APDU: 00 A4\nSW: 90 00"));
});

test("fuzz: the pcscd importer throws nothing but FormatError on any text, with any 8-digit deltas; what it accepts reads back", (t) => {
  const line = fc.oneof(
    fc.string(),
    fc.tuple(fc.stringMatching(/^\d{8}$/), fc.constantFrom("APDU: ", "SW: ", "Card ATR: ", "Card inserted into ", "Card Removed From ", "SCardConnect() power up complete", "SCardReconnect() Reset complete"), fc.stringMatching(/^[0-9A-F ]{0,30}$/)).map((p) => p.join("")),
  );
  fc.assert(
    fc.property(fc.array(line, { maxLength: 20 }), (lines) => acceptsOnlyReadable(() => importPcscd(lines.join("\n"), "fuzz"))),
    { numRuns: 1000 },
  );
  t.true(importPcscd(LOG, "pcscd.log").trace.entries.length > 0);
});

test("pcscd: scriptor's reset (SCardReconnect) is a reset event with its ATR; the card leaving vpcd is a removal", (t) => {
  const { trace } = importPcscd(fixture("pcscd-reset.log"), "pcscd-reset.log");
  const shown = trace.entries.map((e) => (e.type === "apdu" ? `${e.command} ${e.sw}` : `${e.event} ${e.atr ?? ""}`.trim()));
  t.deepEqual(shown, ["00A4040005A00000030800 9000", "reset 3BF81300008131FE15636172646C6F6F70B8", "00200080 63C3", "remove"]);
  t.is(trace.header.reader, "Virtual PCD 00 00");
});
