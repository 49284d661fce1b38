import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import test, { type ExecutionContext } from "ava";
import fc from "fast-check";
import { parse as parseJUnit } from "test-results-parser";
import { EventBus, isSecretKey, LOAD_METRICS, RunLogWriter, VirtualClock, type AnyEvent, type LoadPercentiles, type LoadSummaryData } from "../core/index.js";
import { tempDir } from "../harness/processes.js";
import { buildLoadReport, loadHtml, loadJson, loadJunit, loadMarkdown, loadReportFromRunLog, loadReportJson, loadSummaryText, writeLoadReports } from "./index.js";
import type { LoadChartData } from "./load-html.js";

// Over 450 lines: every format's tests share one set of hand-made run logs (below), so they stay in one file.

// ---- run logs made by hand, as `load revoke` writes them ----

const pct = (p50: number, p99: number, max: number, count = 100): LoadPercentiles => ({ count, p50, p90: p50 + 1, p99, p999: max, max, mean: p50 + 0.5 });

function passingSummary(ca = "embedded"): LoadSummaryData {
  return {
    ca,
    plan: { prepare: 1000, count: 1000, batch: 100, loop: { kind: "open", ratePerSecond: 5000 } },
    prepare: { certificates: 1000, control: 50, ms: 2000, perSecond: 525, source: "issued", failed: 0 },
    revoke: {
      requests: 10,
      serialsSent: 1000,
      acknowledged: 1000,
      ms: 200,
      perSecond: 5000,
      bulk: true,
      loop: "open",
      latencyMs: pct(1.2, 4, 6, 10),
      histogram: [
        [1, 3],
        [2, 5],
        [6, 2],
      ],
      errors: {},
    },
    propagation: {
      ocsp: { ...pct(20, 90, 95, 4), watched: 4, notSeen: [], delaysMs: [10, 20, 90, 95] },
      crl: { ...pct(900, 1500, 1500, 3), watched: 4, notSeen: ["0abc"], delaysMs: [800, 900, 1500] },
    },
    completeness: { checked: 1000, lost: [], wrongReason: [], wronglyRevoked: [], controlChecked: 50, revokedDespiteError: 0, complete: true },
    gates: [{ gate: "min-rate", limit: "1000/s", actual: "5000/s", passed: true }],
    exitCode: 0,
  };
}

/**
 * run.started, the three phases, metric samples a second apart, then the
 * summary and run.finished; `summary` null is a run cut short during revoke.
 * `extra` emits more events before the summary.
 */
function loadLog(summary: LoadSummaryData | null, extra: (bus: EventBus) => void = () => {}): AnyEvent[] {
  const clock = new VirtualClock("2026-01-01T00:00:00Z");
  const bus = new EventBus(clock);
  const events: AnyEvent[] = [];
  bus.on((e) => events.push(e));
  bus.emit("run.started", { name: "load revoke", kind: "load", meta: { ca: summary?.ca ?? "embedded", plan: { count: 1000 } } });
  bus.emit("load.phase", { phase: "prepare", state: "started" });
  clock.advance(2000);
  bus.emit("load.phase", { phase: "prepare", state: "finished", detail: { certificates: 1000, control: 50 } });
  bus.emit("load.phase", { phase: "revoke", state: "started" });
  const m = (name: string, value: number, labels?: Record<string, string>) => bus.emit("metric.sample", { name, value, unit: "x", ...(labels ? { labels } : {}) });
  for (let i = 1; i <= 3; i++) {
    clock.advance(1000);
    m(LOAD_METRICS.throughput, 1000 * i, { phase: "revoke" });
    m(LOAD_METRICS.latencyP50, i);
    m(LOAD_METRICS.latencyP99, 3 * i);
  }
  m(LOAD_METRICS.propagationOcsp, 20);
  m(LOAD_METRICS.propagationCrl, 900);
  m(LOAD_METRICS.errors, 2, { class: "timeout" });
  m(LOAD_METRICS.errors, 3, { class: "timeout" });
  extra(bus);
  if (summary === null) return events;
  bus.emit("load.phase", { phase: "revoke", state: "finished", detail: { acknowledged: summary.revoke.acknowledged } });
  bus.emit("load.phase", { phase: "verify", state: "started" });
  clock.advance(500);
  bus.emit("load.phase", { phase: "verify", state: "finished" });
  bus.emit("load.summary", summary);
  bus.emit("run.finished", { outcome: summary.exitCode === 0 ? "pass" : "fail" });
  return events;
}

const serials = (n: number, from = 0) => Array.from({ length: n }, (_, i) => (from + i).toString(16).padStart(6, "0"));

function failingGateSummary(): LoadSummaryData {
  const s = passingSummary();
  s.gates.push({ gate: "max-p99", limit: "2ms", actual: "4.00ms", passed: false });
  s.exitCode = 1;
  return s;
}

function lostSummary(): LoadSummaryData {
  const s = passingSummary();
  s.completeness.lost = serials(150).map((serial) => ({ serial, crl: "missing", ocsp: "good" }));
  s.completeness.wronglyRevoked = serials(2, 0xf00);
  s.completeness.wrongReason = [{ serial: "0def", expected: "keyCompromise", crl: "cessationOfOperation", ocsp: "keyCompromise" }];
  s.revoke.errors = { timeout: 3, "5xx 503": 7 };
  s.exitCode = 1;
  return s;
}

/** Schema-checks with xmllint (as the other JUnit tests do) and reads back with a third-party consumer. */
function junitChecked(t: ExecutionContext, xml: string) {
  const file = join(tempDir(t, "load-junit"), "load-junit.xml");
  writeFileSync(file, xml);
  const lint = spawnSync("xmllint", ["--noout", "--schema", resolve(import.meta.dirname, "junit.xsd"), file], { encoding: "utf8", timeout: 30_000 });
  if (lint.error) t.fail(`xmllint is required (libxml2-utils): ${lint.error.message}`);
  t.is(lint.status, 0, lint.stderr);
  return parseJUnit({ type: "junit", files: [file] });
}

/** The data the HTML's charts draw, read back from the page. */
function chartDataOf(html: string): LoadChartData {
  const m = /\nconst DATA = (.*);\n/.exec(html);
  if (!m) throw new Error("no chart data in the page");
  return JSON.parse(m[1]) as LoadChartData;
}

// ---- the model ----

test("the model is the summary, the phases with their timings, the metric series and the run's meta", (t) => {
  const r = buildLoadReport(loadLog(passingSummary()));
  t.is(r.verdict, "pass");
  t.is(r.ca, "embedded");
  t.deepEqual(r.summary, passingSummary());
  t.deepEqual(r.meta, { ca: "embedded" }, "primitives only");
  t.deepEqual(
    r.phases.map((p) => [p.phase, p.ms, p.detail]),
    [
      ["prepare", 2000, { certificates: 1000, control: 50 }],
      ["revoke", 3000, { acknowledged: 1000 }],
      ["verify", 500, {}],
    ],
  );
  t.deepEqual(r.series.throughput, [{ phase: "revoke", points: [{ x: 3, y: 1000 }, { x: 4, y: 2000 }, { x: 5, y: 3000 }] }]);
  t.deepEqual(r.series.latencyP99.map((p) => p.y), [3, 6, 9]);
  t.deepEqual(r.series.errors, { timeout: 3 }, "the latest count per class");
  t.is(r.interruptedReason, undefined);
});

test("a run log without a summary gives an interrupted model that says where it stopped, and every writer still writes", (t) => {
  const dir = tempDir(t, "load-reports");
  const log = join(dir, "run.jsonl");
  const writer = new RunLogWriter(log);
  for (const e of loadLog(null)) writer.write(e);
  writer.close();
  const r = loadReportFromRunLog(log);
  t.is(r.verdict, "interrupted");
  t.is(r.summary, undefined);
  t.is(r.interruptedReason, "the run log has no load.summary: the run was cut short during the revoke phase");
  const out = writeLoadReports(log, join(dir, "out"));
  t.false("summary" in out);
  t.deepEqual(Object.keys(out.files).sort(), ["html", "json", "junit", "markdown"]);
  for (const f of Object.values(out.files)) t.true(existsSync(f), f);
  t.deepEqual(out.files, { json: join(dir, "out", "load.json"), junit: join(dir, "out", "load-junit.xml"), markdown: join(dir, "out", "load.md"), html: join(dir, "out", "load.html") });
  const json = JSON.parse(readFileSync(out.files.json, "utf8"));
  t.like(json, { kind: "load revoke", verdict: "interrupted", interruptedReason: r.interruptedReason });
  t.false("summary" in json);
  const junit = junitChecked(t, readFileSync(out.files.junit, "utf8"));
  t.is(junit.status, "FAIL");
  t.like(junit.suites[0], { name: "load revoke", total: 1, errors: 1 });
  t.regex(readFileSync(out.files.markdown, "utf8"), /^## cardloop load revoke: INTERRUPTED against embedded\n\nINTERRUPTED: the run log has no load\.summary: the run was cut short during the revoke phase\n/);
  // The charts draw what the run had sent before it stopped.
  const data = chartDataOf(readFileSync(out.files.html, "utf8"));
  t.deepEqual(data.throughput[0].points.map((p) => p.y), [1000, 2000, 3000]);
  t.deepEqual(data.cdf.map((c) => [c.label, c.points]), [["OCSP", [{ x: 20, y: 100 }]], ["CRL", [{ x: 900, y: 100 }]]]);
  t.deepEqual(data.histogram, { labels: [], counts: [] });
  const finished = loadLog(null);
  finished.push({ type: "run.finished", seq: 998, time: finished[finished.length - 1].time, data: { outcome: "error" } });
  t.is(buildLoadReport(finished).interruptedReason, "the run finished without a load.summary (no final figures)");
  t.like(buildLoadReport([]), { verdict: "interrupted", interruptedReason: "the run log has no load.summary: the run was cut short before any phase" });
});

test("a malformed summary is an interrupted run naming the part, never a crash", (t) => {
  const events = loadLog(passingSummary()).map((e) => (e.type === "load.summary" ? ({ ...e, data: { ...e.data, completeness: { checked: 1 } } } as AnyEvent) : e));
  const r = buildLoadReport(events);
  t.is(r.verdict, "interrupted");
  t.is(r.interruptedReason, `the run log's load.summary is unreadable: "completeness" is missing or malformed`);
  t.notThrows(() => [loadJunit(r), loadMarkdown(r), loadHtml(r), loadReportJson(r)]);
});

// ---- each writer ----

test("a passing run: JUnit valid and clean, one case per gate plus completeness and errors", (t) => {
  const r = buildLoadReport(loadLog(passingSummary()));
  const junit = junitChecked(t, loadJunit(r));
  t.is(junit.status, "PASS");
  t.deepEqual(junit.suites[0].cases.map((c) => [c.name, c.status]), [["gate min-rate", "PASS"], ["completeness", "PASS"], ["errors", "PASS"]]);
  const xml = loadJunit(r);
  t.regex(xml, /<property name="exit-code" value="0"\/>/);
  t.regex(xml, /<testcase name="errors" classname="cardloop-load-revoke" time="0.000">\n\s+<system-out>failed serials by class: none<\/system-out>/);
});

test("a failing gate is a JUnit failure saying the limit and the actual figure, and fails every format", (t) => {
  const r = buildLoadReport(loadLog(failingGateSummary()));
  t.is(r.verdict, "fail");
  const junit = junitChecked(t, loadJunit(r));
  t.is(junit.status, "FAIL");
  const gate = junit.suites[0].cases.find((c) => c.name === "gate max-p99");
  t.is(gate?.status, "FAIL");
  t.is(gate?.failure, "max-p99: limit 2ms, actual 4.00ms");
  const md = loadMarkdown(r);
  t.regex(md, /^## cardloop load revoke: FAIL against embedded\n\nFAIL \(exit status 1\): gate max-p99 failed\n/);
  t.regex(md, /\| ❌ FAIL \| max-p99 \| 2ms \| 4\.00ms \|/);
  t.regex(md, /\| ✅ PASS \| min-rate \| 1000\/s \| 5000\/s \|/);
  t.regex(loadSummaryText(r.summary!), /\ngate FAIL max-p99: limit 2ms, actual 4\.00ms\nFAIL \(exit status 1\): gate max-p99 failed\n$/);
  t.regex(loadHtml(r), /<tr class="fail"><td>FAIL<\/td><td>max-p99<\/td><td>2ms<\/td><td>4\.00ms<\/td><\/tr>/);
});

test("lost, wrongly revoked and wrong-reason serials: a completeness failure listing the first 100 and how many more", (t) => {
  const r = buildLoadReport(loadLog(lostSummary()));
  const junit = junitChecked(t, loadJunit(r));
  const c = junit.suites[0].cases.find((x) => x.name === "completeness");
  t.is(c?.status, "FAIL");
  t.is(c?.failure, "150 lost, 2 wrongly revoked, 1 wrong reason of 1000 checked");
  const xml = loadJunit(r);
  t.regex(xml, /lost \(acknowledged, not published\) \(150\):\n  000000: CRL missing, OCSP good\n/);
  t.regex(xml, /  000063: CRL missing, OCSP good\n  and 50 more \(load\.json lists them all\)\n/);
  t.notRegex(xml, /000064/, "the 101st serial is not listed");
  t.regex(xml, /wrongly revoked \(2\):\n  000f00\n  000f01\n/);
  t.regex(xml, /wrong reason \(1\):\n  0def: expected keyCompromise, CRL cessationOfOperation, OCSP keyCompromise/);
  // errors are an outcome of the CA: said, not failed
  t.is(junit.suites[0].cases.find((x) => x.name === "errors")?.status, "PASS");
  t.regex(xml, /failed serials by class: 5xx 503 7, timeout 3/);
  const md = loadMarkdown(r);
  t.regex(md, /### Lost: acknowledged, not published \(150\)\n\n- `000000`: CRL missing, OCSP good\n/);
  t.regex(md, /- `000063`: CRL missing, OCSP good\n- and 50 more \(load\.json lists them all\)\n/);
  t.regex(md, /### Wrongly revoked \(2\)\n\n- `000f00`\n- `000f01`\n/);
  t.regex(md, /\| class \| serials \|\n\| --- \| ---: \|\n\| 5xx 503 \| 7 \|\n\| timeout \| 3 \|/);
  const html = loadHtml(r);
  t.regex(html, /<section id="lost"><h2>Lost: acknowledged, not published \(150\)<\/h2>/);
  t.is((html.match(/CRL missing<\/code>/g) ?? []).length, 100);
  const text = loadSummaryText(r.summary!);
  t.regex(text, /\nlost         000000, 000001, .*, 000009 and 140 more \(load\.json lists them all\)\n/);
  t.regex(text, /\nFAIL \(exit status 1\): 150 lost; 2 wrongly revoked; 1 with the wrong reason\n$/);
  const json = JSON.parse(readFileSync(writeLoadReports(loadLog(lostSummary()), tempDir(t, "load-json")).files.json, "utf8"));
  t.is(json.summary.completeness.lost.length, 150, "load.json has every serial");
});

test("the Markdown has the figures as tables", (t) => {
  const md = loadMarkdown(buildLoadReport(loadLog(passingSummary())));
  t.regex(md, /\| phase \| count \| time \| rate \| detail \|\n\| --- \| ---: \| ---: \| ---: \| --- \|\n\| prepare \| 1000 \+ 50 control \| 2\.00 s \| 525\/s \| issued, 0 failed \|\n\| revoke \| 1000 acknowledged of 1000 \| 0\.20 s \| 5000\/s \| 10 requests, bulk, open loop \|/);
  t.regex(md, /\| n \| p50 \| p90 \| p99 \| p99\.9 \| max \| mean \|\n(\| ---: ){7}\|\n\| 10 \| 1\.20 ms \| 2\.20 ms \| 4\.00 ms \| 6\.00 ms \| 6\.00 ms \| 1\.70 ms \|/);
  t.regex(md, /\| OCSP \| 4 \| 4 \| 0 \| 20\.0 ms \| 21\.0 ms \| 90\.0 ms \| 95\.0 ms \| 95\.0 ms \| 20\.5 ms \|/);
  t.regex(md, /\| CRL \| 4 \| 3 \| 1 \| 900 ms \|/);
  t.regex(md, /### Not seen on CRL within the propagation timeout \(1\)\n\n- `0abc`/);
  t.regex(md, /\| prepare \| 2\.00 s \| certificates 1000, control 50 \|/);
});

test("the terminal summary: throughput, latency, propagation per channel, completeness, errors, gates, verdict", (t) => {
  const s = passingSummary();
  s.revoke.errors = { timeout: 2 };
  s.shard = { index: 2, of: 4 };
  t.is(
    loadSummaryText(s),
    [
      "load revoke against embedded (shard 2/4)",
      "prepare      1000 certificates + 50 control (issued) in 2.00 s, 525/s, 0 failed",
      "revoke       1000 acknowledged of 1000 sent in 10 requests (bulk, open loop): 5000/s over 0.20 s",
      "latency      p50 1.20 ms  p99 4.00 ms  p99.9 6.00 ms  max 6.00 ms  (n=10)",
      "propagation  OCSP p50 20.0 ms  p99 90.0 ms  max 95.0 ms  (4 seen of 4 watched, 0 not seen)",
      "propagation  CRL  p50 900 ms  p99 1500 ms  max 1500 ms  (3 seen of 4 watched, 1 not seen)",
      "completeness 1000 checked, 0 lost, 0 wrongly revoked, 0 wrong reason; 50 control certificates checked; 0 revoked despite an error",
      "errors       timeout 2",
      "gate PASS min-rate: limit 1000/s, actual 5000/s",
      "PASS (exit status 0): every gate passed, nothing lost or wrongly revoked",
      "",
    ].join("\n"),
  );
});

test("the terminal summary: failed requests' latencies apart, requests never sent counted, no samples as n/a", (t) => {
  const s = passingSummary();
  s.revoke.dueNotSent = 145;
  s.revoke.failedLatencyMs = { count: 3, p50: 0.5, p90: 0.6, p99: 0.7, p999: 0.7, max: 0.7, mean: 0.5 };
  s.propagation.crl = { ...s.propagation.crl, count: 0, p50: NaN, p90: NaN, p99: NaN, p999: NaN, max: NaN, mean: NaN, delaysMs: [] };
  const lines = loadSummaryText(s).split("\n");
  t.is(lines[3], "latency      p50 1.20 ms  p99 4.00 ms  p99.9 6.00 ms  max 6.00 ms  (n=10) (145 never sent: CA behind the schedule)");
  t.is(lines[4], "failed in    p50 0.50 ms  p99 0.70 ms  p99.9 0.70 ms  max 0.70 ms  (n=3) (failed requests, apart)");
  t.regex(lines.find((l) => l.startsWith("propagation  CRL")) ?? "", /p50 n\/a {2}p99 n\/a {2}max n\/a/);
  // NaN goes to JSON as null and the model still reads it
  const back = JSON.parse(JSON.stringify(s)) as typeof s;
  t.is(back.propagation.crl.p99, null as unknown as number);
  t.is(buildLoadReport(loadLog(back)).summary?.revoke.dueNotSent, 145);
});

test("the HTML carries the three charts' data: throughput over time, the latency histogram, the propagation CDF", (t) => {
  const html = loadHtml(buildLoadReport(loadLog(passingSummary())));
  for (const id of ["throughput", "latencyOverTime", "latencyHistogram", "propagationCdf"]) t.regex(html, new RegExp(`<canvas id="${id}">`));
  const data = chartDataOf(html);
  t.deepEqual(data.throughput, [{ label: "revoke", points: [{ x: 3, y: 1000 }, { x: 4, y: 2000 }, { x: 5, y: 3000 }] }]);
  t.deepEqual(data.histogram, { labels: ["<= 1.00 ms", "<= 2.00 ms", "<= 6.00 ms"], counts: [3, 5, 2] });
  t.deepEqual(data.cdf, [
    { label: "OCSP", points: [{ x: 10, y: 25 }, { x: 20, y: 50 }, { x: 90, y: 75 }, { x: 95, y: 100 }] },
    { label: "CRL", points: [{ x: 800, y: 100 / 3 }, { x: 900, y: 200 / 3 }, { x: 1500, y: 100 }] },
  ]);
  t.deepEqual(data.latency.map((l) => [l.label, l.points.map((p) => p.y)]), [["p50", [1, 2, 3]], ["p99", [3, 6, 9]]]);
  t.notRegex(html, /https?:\/\//, "needs no network");
  t.notRegex(html, /<script[^>]+src=/);
});

test("a hostile CA name and hostile strings are inert in every format", (t) => {
  const hostile = `<img src=x onerror=alert(1)></script><script>alert(2)</script> | *x* [l](j:a) \u0007`;
  const s = lostSummary();
  s.ca = hostile;
  s.completeness.lost[0].serial = "</script><b>x";
  s.revoke.errors = { [hostile]: 1 };
  s.gates[0].actual = hostile;
  s.notes = [hostile];
  s.propagation.crl.note = hostile;
  const r = buildLoadReport(loadLog(s));
  const html = loadHtml(r);
  t.false(html.includes("<img src=x"));
  t.false(html.includes("<script>alert"));
  t.false(html.includes("</script><b>"));
  t.true(html.includes("&lt;img src=x onerror=alert(1)&gt;&lt;/script&gt;"));
  // the script blocks are chart.js, the data, and nothing else
  t.is((html.match(/<script>/g) ?? []).length, 2);
  t.is(chartDataOf(html).throughput.length, 1, "the inlined data still parses");
  const md = loadMarkdown(r);
  t.false(md.includes("<img"));
  t.true(md.includes("&lt;img src=x onerror=alert(1)&gt;"));
  t.true(md.includes("\\*x\\* \\[l\\](j:a)"));
  t.false(loadSummaryText(r.summary!).includes("\u0007"), "no control character reaches the terminal");
  const junit = junitChecked(t, loadJunit(r));
  t.is(junit.status, "FAIL");
});

test("nothing but the summary, the load metrics, the phases and the run's meta reaches a report", (t) => {
  const canary = "CANARY-code-7f3a";
  const events = loadLog(passingSummary(), (bus) => {
    bus.emit("log.message", { level: "info", message: canary });
    bus.emit("metric.sample", { name: "load.other", value: 1, unit: canary, labels: { phase: canary } });
    bus.emit("metric.sample", { name: LOAD_METRICS.throughput, value: 1, unit: canary });
    bus.emit("run.finished", { outcome: "pass", summary: { note: canary } });
    bus.emit("step.finished", { scenario: canary, index: 0, action: canary, outcome: "pass", message: canary } as never);
  });
  // a canary the bus's redaction would not mask, where no reader looks
  events.push({ type: "holder.code", seq: 999, time: events[events.length - 1].time, data: { value: canary } } as unknown as AnyEvent);
  const dir = tempDir(t, "load-secret");
  const { files } = writeLoadReports(events, dir);
  for (const f of Object.values(files)) t.false(readFileSync(f, "utf8").includes(canary), f);
  t.false(loadSummaryText(buildLoadReport(events).summary!).includes(canary));
});

test("exit 2 (the CA could not be reached) is never a clean JUnit file", (t) => {
  const s = passingSummary();
  s.gates = [];
  s.exitCode = 2;
  const r = buildLoadReport(loadLog(s));
  t.is(r.verdict, "error");
  const junit = junitChecked(t, loadJunit(r));
  t.is(junit.status, "FAIL");
  t.is(junit.suites[0].cases.find((c) => c.name === "outcome")?.status, "FAIL");
  t.regex(loadMarkdown(r), /ERROR \(exit status 2\): the CA could not be reached or set up/);
  t.regex(loadMarkdown(r), /No gate was set\./);
});

test("verification cut short without a loss is a JUnit error, not a pass", (t) => {
  const s = passingSummary();
  s.completeness.complete = false;
  s.completeness.incompleteReason = "the CA stopped answering OCSP";
  s.exitCode = 1;
  const junit = junitChecked(t, loadJunit(buildLoadReport(loadLog(s))));
  const c = junit.suites[0].cases.find((x) => x.name === "completeness");
  t.is(c?.status, "FAIL");
  t.regex(loadSummaryText(s), /INCOMPLETE: the CA stopped answering OCSP/);
});

test("a run stopped by a signal is INTERRUPTED in every format, never PASS, and its notes are listed", (t) => {
  const s = passingSummary();
  s.interrupted = { signal: "SIGINT" };
  s.notes = ["3 acknowledged revocation(s) not yet published at the first check (CRL 0, OCSP 3): re-checked for 2.0 s, 3 published since"];
  s.propagation.ocsp.note = "2 OCSP requests failed (timeout: 2)";
  const r = buildLoadReport(loadLog(s));
  t.is(r.verdict, "interrupted");
  t.regex(r.interruptedReason ?? "", /^stopped by SIGINT/);
  const text = loadSummaryText(s);
  t.regex(text, /\nINTERRUPTED \(exit status 130\): stopped by SIGINT: the figures cover what was sent before it .*; in what was verified: every gate passed/);
  t.false(/PASS \(exit status/.test(text), "no PASS verdict for a stopped run");
  t.regex(text, /\nnote {9}3 acknowledged revocation\(s\) not yet published at the first check/);
  t.regex(text, /propagation {2}OCSP .*: 2 OCSP requests failed \(timeout: 2\)/);
  const md = loadMarkdown(r);
  t.regex(md, /^## cardloop load revoke: INTERRUPTED against embedded/);
  t.regex(md, /### Notes\n\n- 3 acknowledged revocation\(s\) not yet published.*\n- OCSP propagation: 2 OCSP requests failed/);
  const html = loadHtml(r);
  t.regex(html, /<p class="verdict warn"><strong>INTERRUPTED<\/strong>/);
  t.regex(html, /<section id="notes"><h2>Notes<\/h2><ul><li>3 acknowledged revocation\(s\) not yet published/);
  const junit = junitChecked(t, loadJunit(r));
  t.is(junit.status, "FAIL");
  t.is(junit.suites[0].cases.find((c) => c.name === "load revoke run")?.status, "FAIL");
  t.regex(loadJunit(r), /<property name="interrupted" value="SIGINT"\/>/);
  t.regex(loadJunit(r), /<property name="note-1" value="3 acknowledged revocation\(s\) not yet published/);
  // SIGTERM: 143
  s.interrupted = { signal: "SIGTERM" };
  t.regex(loadSummaryText(s), /INTERRUPTED \(exit status 143\): stopped by SIGTERM/);
});

test("a summary whose notes or interrupted are malformed is unreadable, naming the part", (t) => {
  const s = passingSummary() as unknown as Record<string, unknown>;
  s.notes = [1];
  t.is(buildLoadReport(loadLog(s as unknown as LoadSummaryData)).interruptedReason, `the run log's load.summary is unreadable: "notes" is missing or malformed`);
  s.notes = [];
  s.interrupted = "SIGINT";
  t.is(buildLoadReport(loadLog(s as unknown as LoadSummaryData)).interruptedReason, `the run log's load.summary is unreadable: "interrupted" is missing or malformed`);
});

// ---- random summaries through every writer ----

const finite = fc.double({ min: 0, max: 1e7, noNaN: true, noDefaultInfinity: true });
const text = fc.string({ maxLength: 12 });
// The bus masks a value under a secret's name and JSON drops "__proto__": keys the driver never writes.
const key = text.filter((k) => !isSecretKey(k) && k !== "__proto__");
const arbPct = fc.record({ count: fc.nat(1e6), p50: finite, p90: finite, p99: finite, p999: finite, max: finite, mean: finite });
const arbChannel = fc
  .record({ watched: fc.nat(1000), notSeen: fc.array(text, { maxLength: 5 }), delaysMs: fc.array(finite, { maxLength: 30 }), note: text }, { requiredKeys: ["watched", "notSeen", "delaysMs"] })
  .chain((c) => arbPct.map((p) => ({ ...p, ...c })));
const arbSummary: fc.Arbitrary<LoadSummaryData> = fc.record(
  {
    ca: text,
    plan: fc.dictionary(key, fc.oneof(text, fc.integer())),
    shard: fc.record({ index: fc.integer({ min: 1, max: 8 }), of: fc.integer({ min: 1, max: 8 }) }),
    prepare: fc.record({ certificates: fc.nat(), control: fc.nat(), ms: finite, perSecond: finite, source: fc.constantFrom("issued" as const, "file" as const), failed: fc.nat() }),
    revoke: fc.record({
      requests: fc.nat(),
      serialsSent: fc.nat(),
      acknowledged: fc.nat(),
      ms: finite,
      perSecond: finite,
      bulk: fc.boolean(),
      loop: fc.constantFrom("open" as const, "closed" as const),
      latencyMs: arbPct,
      histogram: fc.array(fc.tuple(finite, fc.nat(1000)), { maxLength: 20 }),
      errors: fc.dictionary(key, fc.nat(1000), { maxKeys: 4 }),
    }),
    propagation: fc.record({ ocsp: arbChannel, crl: arbChannel }),
    completeness: fc.record(
      {
        checked: fc.nat(),
        lost: fc.array(fc.record({ serial: text, crl: text, ocsp: text }), { maxLength: 120 }),
        wrongReason: fc.array(fc.record({ serial: text, expected: text, crl: text, ocsp: text }, { requiredKeys: ["serial", "expected"] }), { maxLength: 5 }),
        wronglyRevoked: fc.array(text, { maxLength: 5 }),
        controlChecked: fc.nat(),
        revokedDespiteError: fc.nat(),
        complete: fc.boolean(),
        incompleteReason: text,
      },
      { requiredKeys: ["checked", "lost", "wrongReason", "wronglyRevoked", "controlChecked", "revokedDespiteError", "complete"] },
    ),
    gates: fc.array(fc.record({ gate: text, limit: text, actual: text, passed: fc.boolean() }), { maxLength: 4 }),
    interrupted: fc.record({ signal: fc.constantFrom("SIGINT", "SIGTERM", "a stop signal") }),
    notes: fc.array(text, { maxLength: 3 }),
    exitCode: fc.constantFrom(0 as const, 1 as const, 2 as const),
  },
  { requiredKeys: ["ca", "plan", "prepare", "revoke", "propagation", "completeness", "gates", "exitCode"] },
);

test("property: any summary goes through every writer without throwing, its JSON round-trips, and its JUnit is valid", (t) => {
  const dir = tempDir(t, "load-prop");
  const junitFiles: string[] = [];
  fc.assert(
    fc.property(arbSummary, (s) => {
      t.deepEqual(JSON.parse(loadJson(s)), s);
      const r = buildLoadReport(loadLog(s));
      t.deepEqual(r.summary, s, "the summary survives the run log");
      const junit = loadJunit(r);
      const failing = /<(failure|error) /.test(junit);
      t.is(failing, s.interrupted !== undefined || s.exitCode !== 0 || s.gates.some((g) => !g.passed) || s.completeness.lost.length > 0 || !s.completeness.complete || s.completeness.wronglyRevoked.length + s.completeness.wrongReason.length > 0);
      if (junitFiles.length < 40) {
        const file = join(dir, `${junitFiles.length}.xml`);
        writeFileSync(file, junit);
        junitFiles.push(file);
      }
      for (const out of [loadMarkdown(r), loadHtml(r), loadSummaryText(s), loadReportJson(r)]) t.true(out.length > 0);
    }),
    { numRuns: 60 },
  );
  const lint = spawnSync("xmllint", ["--noout", "--schema", resolve(import.meta.dirname, "junit.xsd"), ...junitFiles], { encoding: "utf8", timeout: 60_000 });
  t.is(lint.status, 0, lint.stderr);
});
