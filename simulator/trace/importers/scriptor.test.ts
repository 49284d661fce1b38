import test from "ava";
import fc from "fast-check";
import { FormatError } from "../../../core/index.js";
import { importScriptor, looksLikeScript, looksLikeScriptorOutput } from "./scriptor.js";
import { acceptsOnlyReadable, PIN_HEX, fixture } from "./fixtures.js";

test("scriptor output: wrapped answers joined up to their ' : meaning', echoed script lines skipped, reset kept, PIN masked", (t) => {
  const { trace, masked } = importScriptor(fixture("scriptor.out"), "scriptor.out");
  const shown = trace.entries.map((e) => (e.type === "apdu" ? `${e.command} ${e.response.length / 2} ${e.sw}` : `${e.event} ${e.atr}`));
  t.deepEqual(shown, [
    "00A4040005A00000030800 58 9000",
    "00CB3FFF055C035FC10200 61 9000",
    "0020008008" + "FF".repeat(8) + " 0 9000",
    "reset 3BF81300008131FE15636172646C6F6F70B8",
    "00200080 0 63C3",
    "00CB3FFF055C035FC10700 53 9000",
  ]);
  t.is(masked, 1);
  t.false(JSON.stringify(trace).includes(PIN_HEX));
  t.deepEqual(trace.entries.map((e) => e.line), [4, 10, 16, 19, 22, 25]);
});

test("cardloop apdu output: the ATR, each exchange, the reset; PIN and management-key witness masked", (t) => {
  const text = fixture("cardloop-apdu.out");
  const { trace, masked } = importScriptor(text, "cardloop-apdu.out");
  const shown = trace.entries.map((e) => (e.type === "apdu" ? `${e.command} ${e.sw} ${e.masked ?? "-"}` : e.event));
  t.deepEqual(shown, [
    "power-on",
    "00A4040005A00000030800 9000 -",
    "00CB3FFF055C035FC10200 9000 -",
    "0020008008" + "FF".repeat(8) + " 9000 pin",
    "0087039B047C028000 9000 management-key",
    "reset",
    "00200080 63C3 -",
    "00CB3FFF055C035FC10700 9000 -",
  ]);
  t.is(masked, 2);
  const witness = /^< 7C0A8008([0-9A-F]{16}) 9000$/m.exec(text)![1];
  t.false(JSON.stringify(trace).includes(witness), "cardloop apdu printed the witness; the trace does not");
  t.like(trace.entries[4], { response: "7C0A8008" + "FF".repeat(8) });
});

test("cardloop apdu --json output: each object an exchange or a reset; PIN and witness masked", (t) => {
  const text = fixture("cardloop-apdu.json");
  t.true(looksLikeScriptorOutput(text));
  const { trace, masked } = importScriptor(text, "cardloop-apdu.json");
  const shown = trace.entries.map((e) => (e.type === "apdu" ? `${e.command} ${e.response.length / 2} ${e.sw} ${e.masked ?? "-"}` : e.event));
  t.deepEqual(shown, [
    "00A4040005A00000030800 58 9000 -",
    "00CB3FFF055C035FC10200 61 9000 -",
    "0020008008" + "FF".repeat(8) + " 0 9000 pin",
    "0087039B047C028000 12 9000 management-key",
    "reset",
    "00200080 0 63C3 -",
    "00CB3FFF055C035FC10700 53 9000 -",
  ]);
  t.is(masked, 2);
  t.throws(() => importScriptor('{"command":"00A40400","response":"","sw":"90"}', "j"), { instanceOf: FormatError, message: /j:1: an exchange needs/ });
  t.throws(() => importScriptor('{"reset":true}\n', "k"), { instanceOf: FormatError, message: /k:1: a reset without a hex atr/ });
});

test("a bare APDU script (no answers) is refused with a clear message; so is an answer without a command", (t) => {
  const script = fixture("session.apdu");
  t.true(looksLikeScript(script));
  t.false(looksLikeScriptorOutput(script));
  t.throws(() => importScriptor(script, "session.apdu"), { instanceOf: FormatError, message: /session\.apdu: an APDU script without answers/ });
  t.throws(() => importScriptor("< 90 00 : Normal processing.\n> 00A40400\n< 9000\n", "x"), { instanceOf: FormatError, message: /x:1: an answer \(<\) without a command/ });
  t.throws(() => importScriptor("> 00A40400\n< 90\n", "y"), { instanceOf: FormatError, message: /y:2: the answer has no status word/ });
});

test("scriptor detection: both outputs yes, the other fixtures no", (t) => {
  t.true(looksLikeScriptorOutput(fixture("scriptor.out")));
  t.true(looksLikeScriptorOutput(fixture("cardloop-apdu.out")));
  for (const other of ["pcscd.log", "opensc-debug.log", "pcsc-spy.log"]) t.false(looksLikeScriptorOutput(fixture(other)), other);
});

test("fuzz: the scriptor importer throws nothing but FormatError on any text; what it accepts reads back", (t) => {
  const line = fc.oneof(
    fc.string(),
    fc.constantFrom("> RESET", "< OK: 3B 00", "reset", "# ATR 3B00", "Using T=1 protocol", '{"reset":true,"atr":"3B"}', '{"command":"00A40400","response":"","sw":"9000"}', '{"command":1}'),
    fc.tuple(fc.constantFrom("> ", "< ", ""), fc.stringMatching(/^([0-9A-F]{2} ?){0,12}( : [a-z]{0,5})?$/)).map((p) => p.join("")),
  );
  fc.assert(
    fc.property(fc.array(line, { maxLength: 20 }), (lines) => acceptsOnlyReadable(() => importScriptor(lines.join("\n"), "fuzz"))),
    { numRuns: 1000 },
  );
  t.true(importScriptor(fixture("scriptor.out"), "x").trace.entries.length > 0);
});
