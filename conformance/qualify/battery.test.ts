import test from "ava";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EventBus, RunLogWriter, VirtualClock, readRunLog, type AnyEvent } from "../../core/index.js";
import { PivCard } from "../../simulator/card/index.js";
import type { Card } from "../../simulator/card/card.js";
import { MemoryReader } from "../../simulator/reader/index.js";
import type { Reader } from "../../simulator/reader/reader.js";
import { PivClient } from "../../simulator/terminal/index.js";
import { qualifyReader, type QualifyOptions } from "./battery.js";
import { buildQualificationReport, qualificationHtml, qualificationJson, qualificationJunit, writeQualificationReports } from "../../reports/index.js";

const MGM_KEY = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
const authenticate: QualifyOptions["authenticate"] = (r) => new PivClient(r).authenticate(MGM_KEY);

function setup<C extends Card>(card: C) {
  const reader = new MemoryReader(card, { name: "memory" });
  const actuator = { remove: async () => reader.remove(), insert: async () => reader.insert(card) };
  return { card, reader, actuator };
}

/** A bus and the events it carried: the run log, in memory. */
function recorder() {
  const bus = new EventBus(new VirtualClock("2026-01-01T00:00:00Z"));
  const events: AnyEvent[] = [];
  bus.on((e) => events.push(e));
  return { bus, events };
}

// A fake timer: every reading advances 1 ms, so latencies are deterministic.
function tickingTimer() {
  let t = 0;
  return () => (t += 1);
}

test("every criterion passes for the emulated card in a memory reader (protocol: not reported, skipped)", async (t) => {
  const { reader, actuator, card } = setup(PivCard.create({ expires: new Date("2031-01-01T00:00:00Z") }));
  const { bus, events } = recorder();
  const r = await qualifyReader(reader, { iterations: 60, actuator, authenticate, bus, timer: tickingTimer() });
  const outcomes = Object.fromEntries(r.criteria.map((c) => [c.id, c.outcome]));
  t.is(outcomes.protocol, "skip");
  for (const c of r.criteria.filter((c) => c.id !== "protocol")) t.is(c.outcome, "pass", `${c.id}: ${c.message}`);
  t.is(r.outcome, "pass");
  // the figures are in the run log only
  const report = buildQualificationReport(events);
  t.is(report.outcome, "pass");
  t.is(report.throughput?.apdus, 60);
  t.is(report.latency.case4.p50Ms, 1);
  // check events mirror the criteria; metrics carry latencies
  t.is(events.filter((e) => e.type === "check.finished").length, r.criteria.length);
  t.true(events.some((e) => e.type === "metric.sample" && e.data.name === "apdu.latency.p95"));
  t.false(card.state.objects.has(0x5fc10f), "test objects deleted afterwards");
});

test("a card that drops every 10th long-run answer fails the long run with the failing APDUs as evidence", async (t) => {
  const inner = PivCard.create({ expires: new Date("2031-01-01T00:00:00Z") });
  let armed = false;
  let n = 0;
  const flaky: Card = {
    powerOn: () => inner.powerOn(),
    powerOff: () => inner.powerOff(),
    transmit: (c) => (armed && ++n % 10 === 0 ? Uint8Array.of(0x6f, 0x00) : inner.transmit(c)),
  };
  const { reader } = setup(flaky);
  const r = await qualifyReader(reader, {
    iterations: 50,
    authenticate: async (rd) => {
      await authenticate(rd);
      armed = true; // only after the setup phase
    },
    timer: tickingTimer(),
  });
  const longRun = r.criteria.find((c) => c.id === "long-run")!;
  t.is(longRun.outcome, "fail");
  t.regex(longRun.message, /error\(s\) in 50 APDUs/);
  t.true(Array.isArray(longRun.evidence?.errors));
  t.is(r.criteria.find((c) => c.id === "throughput")!.outcome, "fail");
  t.is(r.outcome, "fail");
});

test("a wrong management key fails command chaining and the large reads, and says why", async (t) => {
  const { reader, actuator } = setup(PivCard.create({ expires: new Date("2031-01-01T00:00:00Z") }));
  const r = await qualifyReader(reader, {
    iterations: 10,
    actuator,
    authenticate: (rd) => new PivClient(rd).authenticate(new Uint8Array(24).fill(7)),
    timer: tickingTimer(),
  });
  const byId = Object.fromEntries(r.criteria.map((c) => [c.id, c]));
  t.is(byId["command-chaining"].outcome, "fail");
  t.is(byId["large-read-4k"].outcome, "fail");
  t.regex(byId["large-read-4k"].message, /could not be written/);
  t.is(byId["case-4"].outcome, "pass");
});

test("a reader that loses the ATR's TCK fails the ATR criterion", async (t) => {
  const inner = PivCard.create({ expires: new Date("2031-01-01T00:00:00Z") });
  const badAtr: Card = {
    powerOn: () => {
      const a = Uint8Array.from(inner.powerOn());
      a[a.length - 1] ^= 0xff;
      return a;
    },
    powerOff: () => inner.powerOff(),
    transmit: (c) => inner.transmit(c),
  };
  const { reader } = setup(badAtr);
  const r = await qualifyReader(reader as Reader, { iterations: 5, authenticate, timer: tickingTimer() });
  const atr = r.criteria.find((c) => c.id === "atr")!;
  t.is(atr.outcome, "fail");
  t.regex(atr.message, /TCK/);
});

test("reports: JSON without raw samples, JUnit with one testcase per criterion, HTML self-contained with the chart", async (t) => {
  const { reader, actuator } = setup(PivCard.create({ expires: new Date("2031-01-01T00:00:00Z") }));
  const { bus, events } = recorder();
  await qualifyReader(reader, { iterations: 30, actuator, authenticate, bus, thresholds: { maxP95Ms: 0.5 }, timer: tickingTimer() });
  const r = buildQualificationReport(events);
  const json = JSON.parse(qualificationJson(r));
  t.is(json.samples, undefined);
  t.is(json.criteria.length, r.criteria.length);
  const junit = qualificationJunit(r);
  t.is((junit.match(/<testcase /g) ?? []).length, r.criteria.length);
  t.is((junit.match(/<failure /g) ?? []).length, r.criteria.filter((c) => c.outcome === "fail").length);
  t.is((junit.match(/<skipped /g) ?? []).length, 1);
  t.regex(junit, /failures="1"/); // the latency threshold of 0.5 ms cannot be met with a 1 ms tick
  const html = qualificationHtml(r);
  t.true(html.startsWith("<!doctype html>"));
  t.true(html.includes("Chart.js v") && html.includes("new Chart("));
  t.false(/<script[^>]+src=/.test(html));
  t.true(html.includes("FAIL"));
});

test("an actuator that never reinserts the card fails the removal criterion within presenceTimeoutMs, and the battery goes on", async (t) => {
  const { reader, actuator } = setup(PivCard.create({ expires: new Date("2031-01-01T00:00:00Z") }));
  const stuck = { remove: actuator.remove, insert: () => new Promise<void>(() => undefined) };
  const r = await qualifyReader(reader, { iterations: 9, actuator: stuck, authenticate, thresholds: { presenceTimeoutMs: 50 }, timer: tickingTimer() });
  const removal = r.criteria.find((c) => c.id === "removal")!;
  t.is(removal.outcome, "fail");
  t.regex(removal.message, /insertion (did not complete|not reported) within 50 ms/);
  t.true(r.criteria.some((c) => c.id === "throughput"), "the criteria after it still ran");
  t.is(r.outcome, "fail");
});

test("the run log carries the whole qualification: the report rebuilt from its events alone is what the battery measured and judged", async (t) => {
  const { reader, actuator } = setup(PivCard.create({ expires: new Date("2031-01-01T00:00:00Z") }));
  const { bus, events } = recorder();
  const dir = mkdtempSync(join(tmpdir(), "cardloop-qualify-"));
  const log = new RunLogWriter(join(dir, "run.jsonl")).attach(bus);
  const r = await qualifyReader(reader, { iterations: 40, actuator, authenticate, bus, thresholds: { maxP95Ms: 0.5 }, timer: tickingTimer() });
  log.close();
  const fromMemory = buildQualificationReport(events);
  // the criteria and the verdict as the battery judged them
  t.deepEqual(fromMemory.criteria, JSON.parse(JSON.stringify(r.criteria)));
  t.is(fromMemory.outcome, r.outcome);
  // the figures as the battery measured them: its latency and throughput criteria's evidence
  const evidence = (id: string) => r.criteria.find((c) => c.id === id)!.evidence!;
  const latency = evidence("latency") as Record<string, { p50: number; p95: number; p99: number; n: number }>;
  t.deepEqual(Object.keys(fromMemory.latency), Object.keys(latency));
  for (const [cls, l] of Object.entries(fromMemory.latency)) t.deepEqual(latency[cls], { p50: l.p50Ms, p95: l.p95Ms, p99: l.p99Ms, n: l.count }, cls);
  t.deepEqual(fromMemory.throughput, evidence("throughput"));
  t.like(fromMemory, { reader: "memory", iterations: 40, thresholds: { maxP95Ms: 0.5 } });
  // in memory and through the file: the same report, down to the key order of its JSON
  const { files, report } = writeQualificationReports(join(dir, "run.jsonl"), join(dir, "out"));
  t.is(qualificationJson(report), qualificationJson(fromMemory));
  t.deepEqual(report, JSON.parse(JSON.stringify(fromMemory)));
  t.deepEqual(buildQualificationReport(readRunLog(join(dir, "run.jsonl"))).samples, fromMemory.samples, "every sample, for the histogram");
  t.is(readFileSync(files.json, "utf8"), qualificationJson(fromMemory));
  t.is(readFileSync(files.junit, "utf8"), qualificationJunit(fromMemory));
  t.is(readFileSync(files.html, "utf8"), qualificationHtml(fromMemory));
  t.is(report.outcome, "fail", "the 0.5 ms latency threshold cannot be met with a 1 ms tick");
});

test("a qualification cut short (a criterion started, never finished) reports a failure, never a pass", async (t) => {
  const { reader, actuator } = setup(PivCard.create({ expires: new Date("2031-01-01T00:00:00Z") }));
  const { bus, events } = recorder();
  await qualifyReader(reader, { iterations: 5, actuator, authenticate, bus, timer: tickingTimer() });
  const cut = events.slice(0, events.findIndex((e) => e.type === "check.finished" && e.data.id === "case-3"));
  const report = buildQualificationReport(cut);
  t.is(report.outcome, "fail");
  t.deepEqual(report.criteria.at(-1), { id: "case-3", title: report.criteria.at(-1)!.title, outcome: "error", message: "started but never finished", durationMs: 0 });
  t.regex(qualificationJunit(report), /<failure message="started but never finished" type="error"\/>/);
});
