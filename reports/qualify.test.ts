import test from "ava";
import { EventBus, VirtualClock, type AnyEvent } from "../core/index.js";
import { buildQualificationReport, qualificationJson, qualificationJunit, qualificationSummaryText } from "./index.js";

/** A qualification's run log as the battery writes it, made by hand: two criteria, one failing, and the figures. */
function qualificationLog(): AnyEvent[] {
  const bus = new EventBus(new VirtualClock("2026-01-01T00:00:00Z"));
  const events: AnyEvent[] = [];
  bus.on((e) => events.push(e));
  const head = (id: string) => ({ id, title: `title ${id}`, level: "MUST" as const, source: "qualify-reader" });
  bus.emit("run.started", { name: "qualify-reader R", kind: "qualify-reader" });
  bus.emit("qualify.started", { reader: "R <1>", iterations: 4, thresholds: { maxP95Ms: 2 } });
  bus.emit("check.started", head("atr"));
  bus.emit("check.finished", { ...head("atr"), outcome: "pass", message: "T=1", durationMs: 1.5 });
  bus.emit("qualify.card", { atr: "3B00", protocol: "T1" });
  bus.emit("qualify.throughput", { apdus: 4, seconds: 0.5, apdusPerSecond: 8 });
  bus.emit("qualify.samples", { samplesMs: { case4: [3, 1, 2, 4], case1: [1] } });
  bus.emit("check.started", head("latency"));
  bus.emit("check.finished", { ...head("latency"), outcome: "fail", message: "over threshold: case4 p95 4.00", evidence: { case4: { p95: 4 } }, durationMs: 0.5 });
  bus.emit("check.started", head("removal"));
  bus.emit("check.finished", { ...head("removal"), outcome: "skip", message: "no actuator", durationMs: 0 });
  bus.emit("run.finished", { outcome: "fail" });
  return events;
}

test("the qualification report is rebuilt from check.* and qualify.* events alone, latency by nearest rank", (t) => {
  const r = buildQualificationReport(qualificationLog());
  t.like(r, { reader: "R <1>", atr: "3B00", protocol: "T1", iterations: 4, thresholds: { maxP95Ms: 2 }, outcome: "fail", throughput: { apdusPerSecond: 8 } });
  t.deepEqual(r.criteria.map((c) => [c.id, c.outcome]), [["atr", "pass"], ["latency", "fail"], ["removal", "skip"]]);
  t.deepEqual(r.latency.case4, { count: 4, minMs: 1, meanMs: 2.5, p50Ms: 2, p95Ms: 4, p99Ms: 4, maxMs: 4 });
  t.deepEqual(Object.keys(r.latency), ["case4", "case1"], "classes in the order they were measured");
  const json = JSON.parse(qualificationJson(r));
  t.is(json.samples, undefined, "raw samples are for the chart only");
  t.is(json.latency.case1.p99Ms, 1);
});

test("without a failing criterion the qualification passes; a criterion cut short or an empty log is no pass", (t) => {
  const events = qualificationLog().filter((e) => !(e.type === "check.finished" && e.data.id === "latency"));
  const r = buildQualificationReport(events);
  t.is(r.criteria.find((c) => c.id === "latency")?.outcome, "error", "started, never finished");
  t.is(r.outcome, "fail");
  const passing = qualificationLog().filter((e) => !(e.type.startsWith("check.") && "id" in e.data && e.data.id === "latency"));
  t.is(buildQualificationReport(passing).outcome, "pass");
  t.like(buildQualificationReport([]), { criteria: [], outcome: "fail" });
});

test("the CLI's qualification summary comes from the model", (t) => {
  const text = qualificationSummaryText(buildQualificationReport(qualificationLog()));
  t.is(
    text,
    [
      "reader R <1>: ATR 3B00, T1",
      "PASS atr                  T=1",
      "FAIL latency              over threshold: case4 p95 4.00",
      "SKIP removal              no actuator",
      "latency case4          n=4     p50 2.000 ms  p95 4.000 ms  p99 4.000 ms",
      "latency case1          n=1     p50 1.000 ms  p95 1.000 ms  p99 1.000 ms",
      "throughput 8 APDUs/s",
      "qualification FAIL",
      "",
    ].join("\n"),
  );
  const junit = qualificationJunit(buildQualificationReport(qualificationLog()));
  t.regex(junit, /<testcase name="atr: title atr" classname="qualify-reader.R &lt;1&gt;" time="0.002">\n\s+<system-out>T=1<\/system-out>/);
  t.regex(junit, /<property name="atr" value="3B00"\/>/);
});
