import test from "ava";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { VirtualClock } from "./clock.js";
import { EventBus, type AnyEvent } from "./events.js";
import { RunLogWriter, loadRunLog } from "./runlog.js";

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
