import test from "ava";
import fc from "fast-check";
import { FormatError } from "../../core/index.js";
import { detectFormat, importTrace } from "./import.js";
import { formatTrace, parseTrace } from "./format.js";
import { acceptsOnlyReadable, fixture } from "./importers/fixtures.js";
import { TRACE_FORMATS, type TraceFormat } from "./types.js";

const FIXTURES: [string, TraceFormat][] = [
  ["pcscd.log", "pcscd"],
  ["opensc-debug.log", "opensc"],
  ["pcsc-spy.log", "pcsc-spy"],
  ["scriptor.out", "scriptor"],
  ["cardloop-apdu.out", "scriptor"],
  ["cardloop-apdu.json", "scriptor"],
  ["cardloop-apdu.runlog.jsonl", "runlog"],
];

test("detection picks each real fixture's format, and importing it gives a trace that survives the round trip", (t) => {
  for (const [name, format] of FIXTURES) {
    const text = fixture(name);
    t.is(detectFormat(text), format, name);
    const r = importTrace(text, { source: `/home/someone/${name}` });
    t.is(r.format, format);
    t.is(r.trace.header.source, name);
    t.true(r.masked >= 1, `${name}: its PIN masked and counted`);
    t.is(r.trace.header.masked, r.masked);
    const again = parseTrace(formatTrace(r.trace));
    t.deepEqual(again, r.trace, `${name}: format then parse`);
    t.is(detectFormat(formatTrace(r.trace)), "cardloop");
  }
});

test("garbage, an empty file and a bare script are refused with a FormatError naming the input", (t) => {
  for (const text of ["", "hello world\n", "\x00\x01binary", '{"a":1}', "> \n<"]) {
    t.is(detectFormat(text), undefined, JSON.stringify(text));
    t.throws(() => importTrace(text, { source: "junk.txt" }), { instanceOf: FormatError, message: /junk\.txt:1: not a log cardloop can import/ });
  }
  t.throws(() => importTrace(fixture("session.apdu"), { source: "session.apdu" }), { instanceOf: FormatError, message: /an APDU script without answers/ });
});

test("--format forces an importer: the wrong one fails with a FormatError, never a crash", (t) => {
  const pcscd = fixture("pcscd.log");
  for (const format of TRACE_FORMATS.filter((f) => f !== "pcscd")) {
    t.throws(() => importTrace(pcscd, { format, source: "pcscd.log" }), { instanceOf: FormatError }, format);
  }
  t.is(importTrace(pcscd, { format: "pcscd" }).format, "pcscd");
});

test("a cardloop trace imported again is masked again: a hand-written trace with a PIN in clear loses it", (t) => {
  const text = [
    '{"cardloopTrace":1,"format":"cardloop","masked":0}',
    '{"type":"apdu","seq":0,"command":"00200080083132333435363738","response":"","sw":"9000"}',
    '{"type":"apdu","seq":1,"command":"00A4040000","response":"","sw":"9000"}',
  ].join("\n");
  const r = importTrace(text, { source: "hand.jsonl" });
  t.is(r.format, "cardloop");
  t.is(r.masked, 1);
  t.like(r.trace.entries[0], { command: "0020008008" + "FF".repeat(8), masked: "pin" });
  t.false("masked" in r.trace.entries[1]);
});

test("fuzz: importTrace throws nothing but FormatError on any text, with any format or none; what it accepts is a valid trace", (t) => {
  const pieces = FIXTURES.map(([name]) => fixture(name).split("\n").slice(0, 400));
  const text = fc.oneof(
    fc.string({ maxLength: 300 }),
    // Real lines, shuffled and cut: the parsers' edges.
    fc.tuple(fc.integer({ min: 0, max: pieces.length - 1 }), fc.nat(), fc.integer({ min: 1, max: 40 })).map(([k, start, len]) => {
      const lines = pieces[k];
      const from = start % lines.length;
      return lines.slice(from, from + len).join("\n");
    }),
  );
  fc.assert(
    // Whatever an importer accepts is a valid trace (the round trip is outside the importer's try).
    fc.property(text, fc.option(fc.constantFrom(...TRACE_FORMATS), { nil: undefined }), (input, format) =>
      acceptsOnlyReadable(() => importTrace(input, { format, source: "fuzz" })),
    ),
    { numRuns: 2000 },
  );
  t.is(detectFormat(fixture("pcscd.log")), "pcscd");
});

test("a cardloop trace is detected by its header's content, whatever the key order and spacing", (t) => {
  const entry = '{"type":"apdu","seq":0,"command":"00A4040000","response":"","sw":"9000"}';
  for (const header of ['{"format":"cardloop","cardloopTrace":1,"masked":0}', '{ "cardloopTrace": 1, "format": "cardloop", "masked": 0 }', '\n  {"masked":0,"cardloopTrace":1,"format":"pcscd"}']) {
    const text = `${header}\n${entry}\n`;
    t.is(detectFormat(text), "cardloop", header);
    t.is(importTrace(text, { source: "edited.jsonl" }).trace.entries.length, 1);
  }
  t.is(detectFormat('{"cardloop":1}\n'), undefined, "a JSON line without cardloopTrace is not one");
});

test("a cardloop trace without an exchange (header only, or events only) is refused", (t) => {
  const header = '{"cardloopTrace":1,"format":"cardloop","masked":0}';
  t.throws(() => importTrace(header + "\n", { source: "empty.jsonl" }), { instanceOf: FormatError, message: /empty\.jsonl: no exchange in this trace/ });
  t.throws(() => importTrace(`${header}\n{"type":"event","seq":0,"event":"insert"}\n`, { source: "e.jsonl" }), {
    instanceOf: FormatError,
    message: /no exchange/,
  });
});

test("a cardloop trace imported again keeps its source without directories", (t) => {
  const text = ['{"cardloopTrace":1,"format":"pcscd","source":"/home/alice/acme-corp/pcscd.log","masked":0}', '{"type":"apdu","seq":0,"command":"00A4040000","response":"","sw":"9000"}'].join("\n");
  t.is(importTrace(text, { source: "t.jsonl" }).trace.header.source, "pcscd.log");
});

test("a cardloop trace imported again masks a management-key answer split by 61xx even with another reader's exchange in between", (t) => {
  const text = [
    '{"cardloopTrace":1,"format":"pcscd","masked":0}',
    '{"type":"apdu","seq":0,"command":"0087039B047C028000","response":"7C0A8008","sw":"6108","reader":"A"}',
    '{"type":"apdu","seq":1,"command":"00CB3FFF055C035FC10200","response":"5300","sw":"9000","reader":"B"}',
    '{"type":"apdu","seq":2,"command":"00C0000008","response":"1122334455667788","sw":"9000","reader":"A"}',
  ].join("\n");
  const r = importTrace(text, { source: "two.jsonl" });
  t.like(r.trace.entries[2], { response: "FF".repeat(8), masked: "management-key" });
  t.like(r.trace.entries[1], { response: "5300" });
  t.false(formatTrace(r.trace).includes("1122334455667788"));
});
