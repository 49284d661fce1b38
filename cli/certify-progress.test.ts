import test from "ava";
import { EventBus, VirtualClock, DEFAULT_VERDICT_RULES } from "../core/index.js";
import { certifyProgress } from "./certify-progress.js";

/** A stream that records what is written, TTY or not. */
function stream(isTTY: boolean): NodeJS.WriteStream & { text: () => string } {
  const chunks: string[] = [];
  return Object.assign({ isTTY, write: (s: string) => (chunks.push(s), true) }, { text: () => chunks.join("") }) as never;
}

function run(out: NodeJS.WriteStream, strict = false): void {
  const bus = new EventBus(new VirtualClock("2026-01-01T00:00:00Z"));
  const p = certifyProgress(bus, out, 3, { ...DEFAULT_VERDICT_RULES, strict });
  const head = (id: string, level: "MUST" | "SHOULD") => ({ id, title: id, level, source: "s" });
  bus.emit("check.started", head("A-1", "MUST"));
  bus.emit("check.finished", { ...head("A-1", "MUST"), outcome: "pass", durationMs: 4 });
  bus.emit("check.started", head("A-2", "SHOULD"));
  bus.emit("check.finished", { ...head("A-2", "SHOULD"), outcome: "fail", message: "no nonce", durationMs: 5 });
  bus.emit("check.started", head("A-3", "MUST"));
  bus.emit("check.finished", { ...head("A-3", "MUST"), outcome: "error", message: "no token", durationMs: 1 });
  p.close();
}

test("not a TTY: one plain line per check as it finishes, in the words of the summary", (t) => {
  const out = stream(false);
  run(out);
  t.is(out.text(), "[1/3] PASS       MUST   A-1 (4 ms)\n[2/3] WARN       SHOULD A-2 (5 ms): no nonce\n[3/3] NOT JUDGED MUST   A-3 (1 ms): no token\n");
  const strict = stream(false);
  run(strict, true);
  t.regex(strict.text(), /^\[2\/3\] FAIL {7}SHOULD A-2/m, "with --strict a SHOULD failure fails");
});

test("a TTY: the same lines, and a bar below them redrawn in place, cleared at the end", (t) => {
  const out = stream(true);
  run(out);
  const text = out.text();
  t.regex(text, /\r\x1b\[2K\[#{0}-{24}\] 0\/3 \d+s A-1/);
  t.regex(text, /\r\x1b\[2K\[#{8}-{16}\] 1\/3 \d+s/);
  t.regex(text, /\r\x1b\[2K\[2\/3\] WARN {7}SHOULD A-2 \(5 ms\): no nonce\n/);
  t.true(text.endsWith("\r\x1b[2K"), "the bar is cleared before the summary");
});
