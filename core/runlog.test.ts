import test from "ava";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { VirtualClock } from "./clock.js";
import { EventBus, type AnyEvent } from "./events.js";
import { FormatError } from "./errors.js";
import { RunLogWriter, eventProblem, loadRunLog, parseRunLog, parseRunLogLine } from "./runlog.js";

test("a run log closed early to be read back may be closed again; loadRunLog reads a file or passes events through", (t) => {
  const bus = new EventBus(new VirtualClock("2026-01-01T00:00:00Z"));
  const seen: AnyEvent[] = [];
  bus.on((e) => seen.push(e));
  const path = join(mkdtempSync(join(tmpdir(), "cardloop-runlog-")), "run.jsonl");
  const log = new RunLogWriter(path).attach(bus);
  bus.emit("run.started", { name: "r" });
  log.close();
  t.notThrows(() => log.close());
  bus.emit("run.finished", { outcome: "pass" }); // after close: not written, and no error
  t.deepEqual(loadRunLog(path), seen.slice(0, 1));
  t.is(loadRunLog(seen), seen);
});

test("parseRunLogLine: one definition of a line of a run log (type, seq, time, data), with the reason a line is not one; parseRunLog refuses the same lines", (t) => {
  const good = { type: "run.started", seq: 0, time: "2026-01-01T00:00:00.000Z", data: { name: "r" } };
  t.deepEqual(parseRunLogLine(JSON.stringify(good)), { event: good as AnyEvent });
  const cases: Array<[string, string]> = [
    ["{not json", "not JSON"],
    ["[1,2]", "not an event: not a JSON object"],
    ["null", "not an event: not a JSON object"],
    [JSON.stringify({ ...good, type: 7 }), 'not an event: "type" is not a string'],
    [JSON.stringify({ ...good, seq: "0" }), 'not an event: "seq" is not a number'],
    [JSON.stringify({ ...good, time: undefined }), 'not an event: "time" is not a string'],
    [JSON.stringify({ ...good, data: [] }), 'not an event: "data" is not an object'],
    [JSON.stringify({ ...good, data: undefined }), 'not an event: "data" is not an object'],
  ];
  for (const [line, reason] of cases) {
    t.deepEqual(parseRunLogLine(line), { reason }, line);
    t.is(eventProblem(line === "{not json" ? undefined : JSON.parse(line)), line === "{not json" ? "not an event: not a JSON object" : reason);
    const err = t.throws(() => parseRunLog(`${JSON.stringify(good)}\n\n${line}\n`, "x.jsonl"), { instanceOf: FormatError });
    t.is(err!.message, `run log: x.jsonl line 3: ${reason}`);
  }
});
