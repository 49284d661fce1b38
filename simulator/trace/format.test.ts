import test from "ava";
import fc from "fast-check";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FormatError } from "../../core/index.js";
import { formatTrace, parseTrace, readTrace, writeTrace } from "./format.js";
import type { Trace } from "./types.js";

const TRACE: Trace = {
  header: { cardloopTrace: 1, format: "pcscd", source: "pcscd.log", masked: 1, reader: "Virtual PCD 00 00" },
  entries: [
    { type: "event", seq: 0, event: "insert", atr: "3B8880", atMs: 0, line: 3 },
    { type: "apdu", seq: 1, command: "00A4040005A000000308", response: "", sw: "9000", micros: 120, atMs: 1.5, line: 5 },
    { type: "apdu", seq: 2, command: "0020008008FFFFFFFFFFFFFFFF", response: "", sw: "9000", masked: "pin", line: 7 },
    { type: "event", seq: 3, event: "remove", reader: "Virtual PCD 00 01" },
  ],
};

test("format then parse gives the same trace; header first, one line per entry", (t) => {
  const text = formatTrace(TRACE);
  t.is(text.split("\n").length, TRACE.entries.length + 2);
  t.true(text.startsWith('{"cardloopTrace":1,'));
  t.deepEqual(parseTrace(text), TRACE);
});

test("writeTrace writes mode 0600 through a rename; readTrace reads it back", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "trace-format-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "sub", "t.jsonl");
  writeTrace(path, TRACE);
  t.is(statSync(path).mode & 0o777, 0o600);
  t.deepEqual(readTrace(path), TRACE);
  t.is(readFileSync(path, "utf8"), formatTrace(TRACE));
});

test("writeTrace that fails (the path is a directory in use) leaves no temp file behind", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "trace-format-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "busy");
  mkdirSync(path);
  writeFileSync(join(path, "inside"), "x");
  t.throws(() => writeTrace(path, TRACE));
  t.deepEqual(readdirSync(dir), ["busy"], "the .busy.<pid>.tmp file is removed");
});

test("a bad line is refused naming the source and the line", (t) => {
  const lines = formatTrace(TRACE).split("\n");
  lines[2] = lines[2].replace('"sw":"9000"', '"sw":"90"');
  const e = t.throws(() => parseTrace(lines.join("\n"), "x.jsonl"), { instanceOf: FormatError });
  t.regex(e.message, /^trace: x\.jsonl:3: sw must be/);
  t.throws(() => parseTrace("", "e.jsonl"), { instanceOf: FormatError, message: /e\.jsonl: empty/ });
  t.throws(() => parseTrace('{"cardloopTrace":2,"format":"pcscd","masked":0}'), { instanceOf: FormatError, message: /trace:1: not a cardloop trace/ });
  t.throws(() => parseTrace(formatTrace(TRACE).replace('"command":"00A4', '"command":"00a4')), { instanceOf: FormatError, message: /:3: command/ });
  t.throws(() => readTrace("/nonexistent/t.jsonl"), { instanceOf: FormatError, message: /cannot read/ });
});

test("fuzz: parseTrace throws nothing but FormatError on any text", (t) => {
  const line = fc.oneof(
    fc.string(),
    fc.json(),
    fc.constant(formatTrace(TRACE).split("\n")[1]),
    fc.record({ type: fc.constantFrom("apdu", "event", "x"), seq: fc.integer(), command: fc.string(), sw: fc.string(), event: fc.string() }).map((r) => JSON.stringify(r)),
  );
  fc.assert(
    fc.property(fc.array(line, { maxLength: 8 }), fc.boolean(), (lines, withHeader) => {
      const text = (withHeader ? [formatTrace(TRACE).split("\n")[0], ...lines] : lines).join("\n");
      try {
        parseTrace(text);
      } catch (err) {
        if (!(err instanceof FormatError)) throw err;
      }
    }),
    { numRuns: 1000 },
  );
  t.is(parseTrace(formatTrace(TRACE)).entries.length, 4);
});
