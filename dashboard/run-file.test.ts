import test from "ava";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppendFile, LineIndex, Offsets, readPublishedState, readRange, scanLines, writePublishedState } from "./run-file.js";

const dir = mkdtempSync(join(tmpdir(), "cardloop-run-file-"));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = (text: string) => {
  const path = join(dir, `f${n++}.jsonl`);
  writeFileSync(path, text);
  return path;
};

test("scanLines gives each line with its byte offset, the last one unterminated, and stops at a byte limit", (t) => {
  const path = file('{"a":1}\n{"b":"é"}\n{"c"');
  const seen: Array<[string, number, boolean]> = [];
  const end = scanLines(path, 0, (text, offset, terminated) => (seen.push([text, offset, terminated]), true));
  t.deepEqual(seen, [
    ['{"a":1}', 0, true],
    ['{"b":"é"}', 8, true],
    ['{"c"', 19, false],
  ]);
  t.is(end, statSync(path).size);
  const limited: string[] = [];
  t.is(
    scanLines(path, 0, (text) => (limited.push(text), true), 19),
    19,
  );
  t.deepEqual(limited, ['{"a":1}', '{"b":"é"}'], "nothing past the limit");
  t.deepEqual(readRange(path, 8, 19), ['{"b":"é"}']);
});

test("LineIndex: whole lines only (the first whole line, or nothing while it has no newline), read on as the file grows, from the start when rewritten", (t) => {
  const index = (path: string) => {
    const x = new LineIndex(path);
    t.true(x.update());
    return x;
  };
  t.is(index(file('\n  {"x":1}  \n{"y":2}\n')).line(0), '{"x":1}');
  const growing = index(file('{"x":'));
  t.is(growing.line(0), undefined);
  t.is(growing.count, 0);
  const missing = new LineIndex(join(dir, "missing"));
  t.false(missing.update());
  t.is(missing.line(0), undefined);
  appendFileSync(growing.path, '1}\n\n{"y":2}\n{"z"');
  t.true(growing.update());
  t.deepEqual([growing.count, growing.line(0), growing.line(1), growing.line(2)], [2, '{"x":1}', '{"y":2}', undefined]);
  // Rewritten in place to the same length: the last line read is no longer where it was, the file is read again.
  writeFileSync(growing.path, '{"x":1}\n\n{"Y":3}\n{"z"');
  utimesSync(growing.path, new Date(), new Date(Date.now() + 5_000));
  t.true(growing.update());
  t.deepEqual([growing.count, growing.line(1)], [2, '{"Y":3}']);
  writeFileSync(growing.path, '{"a":0}\n');
  t.true(growing.update());
  t.deepEqual([growing.count, growing.line(0), growing.line(1)], [1, '{"a":0}', undefined]);
});

test("Offsets grow past their first size and keep every value, beyond 32 bits too", (t) => {
  const o = new Offsets();
  for (let i = 0; i < 10_000; i++) o.push(i * 5_000_000);
  t.is(o.length, 10_000);
  t.is(o.at(0), 0);
  t.is(o.at(9_999), 9_999 * 5_000_000);
});

test("AppendFile cuts a torn end before its first write, and cuts a failed write back", (t) => {
  const path = file("one\ntw");
  let fail = false;
  const f = new AppendFile(path, false, (fd, buf, offset) => {
    if (!fail) return writeSync(fd, buf, offset);
    writeSync(fd, buf, offset, 2);
    throw new Error("ENOSPC");
  });
  f.append("two\n", 4);
  t.is(readFileSync(path, "utf8"), "one\ntwo\n");
  fail = true;
  t.throws(() => f.append("three\n", 8), { message: "ENOSPC" });
  t.is(readFileSync(path, "utf8"), "one\ntwo\n");
  fail = false;
  f.append("three\n", 8);
  f.close();
  t.is(readFileSync(path, "utf8"), "one\ntwo\nthree\n");
});

test("a published run's state round-trips; a missing or malformed one reads as none", (t) => {
  const state = { next: 12, dropped: 2, final: true, events: 10, bytes: 456 };
  writePublishedState(dir, state);
  t.deepEqual(readPublishedState(dir), state);
  writeFileSync(join(dir, "state.json"), '{"next":-1}');
  t.is(readPublishedState(dir), undefined);
  t.is(readPublishedState(join(dir, "nowhere")), undefined);
});
