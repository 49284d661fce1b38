import test from "ava";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { VirtualClock } from "./clock.js";
import { FormatError } from "./errors.js";
import { EventBus, stripVolatile, type AnyEvent } from "./events.js";
import { MASK, isSecretKey, redactSecrets } from "./redact.js";
import { RunLogWriter, parseRunLog, readRunLog } from "./runlog.js";

test("redactSecrets masks secret-named fields at any depth and leaves the rest", (t) => {
  const input = {
    holder: "Ada",
    pin: "123456",
    nested: { puk: "12345678", list: [{ managementKey: "0102", keep: 1 }], cancellationCode: "X" },
    bytes: Uint8Array.of(1, 2),
    when: new Date(0),
    absent: { pin: undefined },
  };
  const out = redactSecrets(input);
  t.is(out.pin, MASK);
  t.is(out.nested.puk, MASK);
  t.is(out.nested.list[0].managementKey, MASK);
  t.is(out.nested.list[0].keep, 1);
  t.is(out.nested.cancellationCode, MASK);
  t.is(out.holder, "Ada");
  t.is(out.bytes, input.bytes);
  t.is(out.when, input.when);
  t.is(out.absent.pin, undefined);
  t.is(input.pin, "123456", "the input object is not modified");
  t.true(isSecretKey("PIN") && isSecretKey("privateKey") && !isSecretKey("pinRetries"));
  t.is(redactSecrets("plain"), "plain");
  t.is(redactSecrets(null), null);
});

test("EventBus: typed events in order, stamped with the run clock, secrets masked", (t) => {
  const clock = new VirtualClock("2030-01-01T00:00:00Z");
  const bus = new EventBus(clock);
  t.false(bus.hasListeners);
  bus.emit("log.message", { level: "info", message: "before anyone listens" });
  const seen: AnyEvent[] = [];
  const off = bus.on((e) => seen.push(e));
  t.true(bus.hasListeners);
  bus.emit("run.started", { name: "r", seed: 7, meta: { pin: "123456" } });
  clock.advance(1000);
  bus.emit("apdu.exchange", { reader: "m", command: "00", response: "", sw: "9000", micros: 12 }, ["micros"]);
  off();
  bus.emit("run.finished", { outcome: "pass" });
  t.is(seen.length, 2);
  t.is(seen[0].seq, 1, "sequence numbers count events nobody heard");
  t.is(seen[1].seq, 2);
  t.is(seen[0].time, "2030-01-01T00:00:00.000Z");
  t.is(seen[1].time, "2030-01-01T00:00:01.000Z");
  t.is((seen[0].data as unknown as { meta: { pin: string } }).meta.pin, MASK);
  t.deepEqual(seen[1].volatile, ["micros"]);
  t.false("volatile" in seen[0]);
});

test("stripVolatile removes the fields that differ between seeded runs", (t) => {
  const e = {
    type: "step.finished",
    seq: 3,
    time: "2030-01-01T00:00:00.000Z",
    data: { scenario: "s", index: 0, action: "sign", outcome: "pass", evidence: { signature: "ab", keep: 1 }, durationMs: 5 },
    volatile: ["evidence.signature", "durationMs", "missing.path"],
  } as AnyEvent;
  const s = stripVolatile(e);
  t.false("volatile" in s);
  t.deepEqual(s.data, { scenario: "s", index: 0, action: "sign", outcome: "pass", evidence: { keep: 1 } });
  t.is((e.data as { durationMs: number }).durationMs, 5, "the original event is not modified");
  const plain = { type: "run.finished", seq: 0, time: "x", data: { outcome: "pass" } } as AnyEvent;
  t.is(stripVolatile(plain), plain);
});

test("run log: what the bus emits is what the reader gets back", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "cardloop-runlog-"));
  const path = join(dir, "sub", "run.jsonl");
  const bus = new EventBus(new VirtualClock(0));
  const log = new RunLogWriter(path).attach(bus);
  const seen: AnyEvent[] = [];
  bus.on((e) => seen.push(e));
  for (let i = 0; i < 2000; i++) bus.emit("metric.sample", { name: "n", value: i, unit: "1" });
  bus.emit("step.started", { scenario: "s", index: 1, action: "verify", label: "pin: 123456? no" });
  log.close();
  bus.emit("log.message", { level: "info", message: "after close: not in the log" });
  const back = readRunLog(path);
  t.is(back.length, 2001);
  t.deepEqual(back, seen.slice(0, 2001));
  t.false(readFileSync(path, "utf8").includes("after close"));
});

test("run log reader names the bad line", (t) => {
  t.deepEqual(parseRunLog("\n\n"), []);
  const err = t.throws(() => parseRunLog('{"type":"a","seq":0,"time":"t","data":{}}\nnot json\n', "x.jsonl"), {
    instanceOf: FormatError,
  });
  t.regex(err!.message, /x\.jsonl line 2/);
  t.throws(() => parseRunLog('{"no":"type"}'), { instanceOf: FormatError, message: /line 1: not an event/ });
  const dir = mkdtempSync(join(tmpdir(), "cardloop-runlog-"));
  writeFileSync(join(dir, "bad.jsonl"), "[1]\n");
  t.throws(() => readRunLog(join(dir, "bad.jsonl")), { instanceOf: FormatError });
});

test("redactSecrets leaves booleans under secret names: a capability or a fact, never a secret", (t) => {
  const out = redactSecrets({ capabilities: { cancellationCodes: true }, credentialsHeld: { raToken: false, operatorToken: true }, evidence: { code: "K7Q2" }, pin: 1234 });
  t.is(out.capabilities.cancellationCodes, true);
  t.deepEqual(out.credentialsHeld, { raToken: false, operatorToken: true });
  t.is(out.evidence.code, MASK);
  t.is(out.pin as unknown, MASK, "a number under a secret name is masked");
});
