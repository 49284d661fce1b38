import test from "ava";
import { EventBus, LOAD_METRICS, SystemClock } from "../core/index.js";
import { loadProgress } from "./load-progress.js";

/** A stream that keeps what was written; time moved by hand. */
function setup(tty: boolean) {
  const written: string[] = [];
  const out = { write: (s: string) => (written.push(s), true), isTTY: tty } as unknown as NodeJS.WritableStream;
  let now = 0;
  const bus = new EventBus(new SystemClock());
  const p = loadProgress(bus, out, { tty, now: () => now, redrawMs: 60_000, plainEveryMs: 5000 });
  return { written, bus, p, advance: (ms: number) => (now += ms) };
}

test("not a terminal: a plain line at each phase start and end, with done/total, rate, percentiles, errors and ETA", (t) => {
  const { written, bus, p, advance } = setup(false);
  t.teardown(() => p.close());
  p.phase("revoke", 1000);
  t.is(written.length, 1);
  t.regex(written[0], /^revoke {2}0\/1000 .*errors 0/);
  for (let i = 0; i < 250; i++) p.tick();
  advance(1000);
  bus.emit("metric.sample", { name: LOAD_METRICS.throughput, value: 250, unit: "1/s", labels: { phase: "revoke" } });
  bus.emit("metric.sample", { name: LOAD_METRICS.latencyP50, value: 3.2, unit: "ms" });
  bus.emit("metric.sample", { name: LOAD_METRICS.latencyP99, value: 41, unit: "ms" });
  bus.emit("metric.sample", { name: LOAD_METRICS.errors, value: 2, unit: "1", labels: { class: "timeout" } });
  bus.emit("metric.sample", { name: LOAD_METRICS.errors, value: 3, unit: "1", labels: { class: "reset" } });
  bus.emit("load.phase", { phase: "revoke", state: "finished" });
  const last = written[written.length - 1];
  t.regex(last, /^revoke {2}250\/1000 {2}250\/s {2}p50 3\.20ms p99 41ms {2}errors 5 {2}1s {2}ETA 3s\n$/);
  // No escape sequences for a log file.
  t.false(written.join("").includes("\x1b"));
  // the verify phase does not show the revoke phase's p50/p99
  p.phase("verify", 0);
  t.notRegex(written[written.length - 1], /p50|p99/);
});

test("a terminal: the line is rewritten in place and cleared at the end; a phase without a count shows its time only", (t) => {
  const { written, bus, p, advance } = setup(true);
  p.phase("verify", 0);
  advance(2000);
  bus.emit("load.phase", { phase: "verify", state: "finished" });
  p.close();
  t.deepEqual(written, ["\r\x1b[2Kverify   errors 0  2s\n", "\r\x1b[2K"]);
});
