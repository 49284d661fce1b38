import test from "ava";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromHex } from "../../core/index.js";
import { parseTrace } from "./format.js";
import { TraceWriter } from "./recorder.js";

function dir(t: { teardown(f: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), "trace-rec-"));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

test("TraceWriter: entries appended as they come, secrets masked, header count rewritten on close", (t) => {
  const path = join(dir(t), "rec.jsonl");
  const w = new TraceWriter(path, { format: "cardloop", reader: "relay" });
  w.event("insert", fromHex("3B8880"));
  w.apdu(fromHex("00A4040005A000000308"), fromHex("9000"), 90.4);
  w.apdu(fromHex("002000800831323334353637FF"), fromHex("9000"));
  const midway = parseTrace(readFileSync(path, "utf8"));
  t.is(midway.entries.length, 3, "a killed recorder leaves every entry so far readable");
  t.is(midway.header.masked, 0, "the header's count is stale until close");
  t.is(statSync(path).mode & 0o777, 0o600);
  t.deepEqual(w.close(), { masked: 1, entries: 3 });
  t.deepEqual(w.close(), { masked: 1, entries: 3 }, "close is idempotent");
  const trace = parseTrace(readFileSync(path, "utf8"));
  t.is(trace.header.masked, 1);
  t.is(trace.header.reader, "relay");
  const [ins, select, verify] = trace.entries;
  t.like(ins, { type: "event", event: "insert", atr: "3B8880", seq: 0 });
  t.like(select, { type: "apdu", seq: 1, command: "00A4040005A000000308", response: "", sw: "9000", micros: 90 });
  t.like(verify, { type: "apdu", command: "0020008008FFFFFFFFFFFFFFFF", masked: "pin" });
  t.false(readFileSync(path, "utf8").includes("31323334"));
});

test("TraceWriter: a management-key witness split by 61xx is masked in its GET RESPONSE too; a reset ends the secret answer", (t) => {
  const path = join(dir(t), "split.jsonl");
  const w = new TraceWriter(path, { format: "cardloop" });
  w.apdu(fromHex("0087039B047C028000"), fromHex("7C0A80086108"));
  w.apdu(fromHex("00C0000008"), fromHex("11223344556677889000"));
  w.event("reset", fromHex("3B00"));
  w.apdu(fromHex("00CB3FFF055C035FC10200"), fromHex("AABB6102"));
  w.apdu(fromHex("00C0000002"), fromHex("CCDD9000"));
  t.deepEqual(w.close(), { masked: 2, entries: 5 });
  const e = parseTrace(readFileSync(path, "utf8")).entries;
  t.like(e[0], { response: "FFFFFFFF", sw: "6108", masked: "management-key" });
  t.like(e[1], { response: "FF".repeat(8), sw: "9000", masked: "management-key" });
  t.like(e[4], { response: "CCDD", sw: "9000" });
  t.false("masked" in e[4]);
});

test("TraceWriter over an existing world-readable file (--force) makes it 0600 from the start, not only on close", (t) => {
  const path = join(dir(t), "old.jsonl");
  writeFileSync(path, "an older trace\n");
  chmodSync(path, 0o644);
  const w = new TraceWriter(path, { format: "cardloop" });
  t.teardown(() => w.close());
  w.apdu(fromHex("00A4040005A000000308"), fromHex("9000"));
  t.is(statSync(path).mode & 0o777, 0o600, "during recording");
  w.close();
  t.is(statSync(path).mode & 0o777, 0o600, "after close");
});
