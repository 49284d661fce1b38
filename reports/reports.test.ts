import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import test from "ava";
import { parse as parseJUnit, type ITestResult } from "test-results-parser";
import { EventBus, VirtualClock, type AnyEvent } from "../core/index.js";
import { buildCertifyReport, buildReport, certifySummaryText, scenarioSummaryText, toHtml, toJUnit, toJsonSummary, toMarkdown } from "./index.js";

/** A small run log made through the real EventBus, with a failing step full of characters XML dislikes. */
function runLog(opts: { finish: boolean }): AnyEvent[] {
  const clock = new VirtualClock("2025-01-01T00:00:00Z");
  const bus = new EventBus(clock);
  const events: AnyEvent[] = [];
  bus.on((e) => events.push(e));
  bus.emit("run.started", { name: 'R&D <"card"> run', seed: 3, kind: "scenario", meta: { file: "x.yaml" } });
  bus.emit("step.started", { scenario: "r", index: 0, action: "issue", line: 7 });
  bus.emit("apdu.exchange", { reader: "m", command: "00A40400", response: "9000", sw: "9000", micros: 12 });
  bus.emit("step.finished", { scenario: "r", index: 0, action: "issue", outcome: "pass", actual: { result: "ok" }, durationMs: 2 });
  clock.advance(86_400_000);
  bus.emit("step.started", { scenario: "r", index: 1, action: "authenticate", label: "a <b> & \u0001", line: 9 });
  bus.emit("step.finished", {
    scenario: "r",
    index: 1,
    action: "authenticate",
    label: "a <b> & \u0001",
    outcome: "fail",
    expected: { result: "ok" },
    actual: { result: "refused", reason: "revoked" },
    message: 'result: expected "ok", got "refused" ]]>',
    evidence: { serial: "01" },
    durationMs: 1,
  });
  if (opts.finish) bus.emit("run.finished", { outcome: "fail", summary: { wallMs: 5 } });
  return events;
}

test("the report model reads runs, steps, APDUs and failures from events alone", (t) => {
  const r = buildReport(runLog({ finish: true }));
  t.is(r.runs.length, 1);
  t.is(r.runs[0].outcome, "fail");
  t.deepEqual(
    r.runs[0].steps.map((s) => [s.action, s.line, s.apdus, s.outcome]),
    [
      ["issue", 7, 1, "pass"],
      ["authenticate", 9, 0, "fail"],
    ],
  );
  t.deepEqual(r.totals, { runs: 1, passed: 0, failed: 1, steps: 2, stepsFailed: 1, apdus: 1 });
  t.is(r.runs[0].apdu.byIns.A4, 1);
});

test("a run log cut short (no run.finished) is an error, never a pass", (t) => {
  const events = runLog({ finish: false }).filter((e) => e.type !== "step.finished" || e.data.outcome === "pass");
  t.is(buildReport(events).runs[0].outcome, "error");
});

test("JUnit with hostile text still validates against the schema (xmllint) and names the failing step", (t) => {
  const xml = toJUnit(buildReport(runLog({ finish: true })));
  const dir = mkdtempSync(join(tmpdir(), "cardloop-junit-"));
  writeFileSync(join(dir, "junit.xml"), xml);
  const lint = spawnSync("xmllint", ["--noout", "--schema", resolve(import.meta.dirname, "junit.xsd"), join(dir, "junit.xml")], { encoding: "utf8" });
  if (lint.error) return t.fail(`xmllint is required (libxml2-utils): ${lint.error.message}`);
  t.is(lint.status, 0, lint.stderr);
  t.regex(xml, /<testcase name="02 authenticate: a &lt;b&gt; &amp; \?"/);
  t.regex(xml, /<failure message="step 2 authenticate &quot;a &lt;b&gt; &amp; \?&quot; \(line 9\): result: expected &quot;ok&quot;/);
  t.regex(xml, /timestamp="2025-01-01T00:00:00"/);
});

/** Our JUnit read back by a third-party consumer (test-results-parser, the parser testbeats reports from). */
function consume(xml: string): ITestResult {
  const file = join(mkdtempSync(join(tmpdir(), "cardloop-junit-")), "junit.xml");
  writeFileSync(file, xml);
  return parseJUnit({ type: "junit", files: [file] });
}

/** It believes the count attributes; a CI that counts <testcase>s must get the same numbers. */
function attributesMatchCases(t: import("ava").ExecutionContext, r: ITestResult): void {
  let cases = 0;
  for (const s of r.suites) {
    cases += s.cases.length;
    t.is(s.total + s.skipped, s.cases.length, `${s.name}: tests attribute`);
    t.is(s.failed + s.errors, s.cases.filter((c) => c.status === "FAIL").length, `${s.name}: failures + errors`);
  }
  t.is(r.total, cases, "root tests attribute");
}

test("a third-party JUnit consumer reads our counts and the failing step's name", (t) => {
  const r = consume(toJUnit(buildReport(runLog({ finish: true }))));
  t.like(r, { total: 2, passed: 1, failed: 1, errors: 0, status: "FAIL" });
  t.is(r.suites.length, 1);
  t.is(r.suites[0].name, 'R&D <"card"> run');
  const failing = r.suites[0].cases.filter((c) => c.status === "FAIL");
  t.deepEqual(failing.map((c) => c.name), ["02 authenticate: a <b> & ?"]);
  t.regex(failing[0].failure, /^step 2 authenticate "a <b> & \?" \(line 9\): result: expected "ok", got "refused"/);
  attributesMatchCases(t, r);
});

test("a run that broke outside its steps is counted as an error by the consumer too", (t) => {
  const events = runLog({ finish: false }).filter((e) => e.type !== "step.started" || e.data.index === 0);
  const cut = events.filter((e) => e.type !== "step.finished" || e.data.index === 0);
  const report = buildReport(cut);
  t.is(report.runs[0].outcome, "error");
  const r = consume(toJUnit(report));
  t.true(r.errors + r.failed > 0, "not a pass");
  t.not(r.status, "PASS");
  attributesMatchCases(t, r);
});

test("JSON, Markdown and HTML agree on the totals", (t) => {
  const report = buildReport(runLog({ finish: true }));
  const json = JSON.parse(toJsonSummary(report));
  t.is(json.outcome, "fail");
  t.is(json.runs[0].failures[0].line, 9);
  const md = toMarkdown(report);
  t.regex(md, /## cardloop: 0\/1 scenarios passed/);
  t.regex(md, /### Failures/);
  const html = toHtml(report);
  t.regex(html, /<strong>0\/1<\/strong> scenarios passed/);
  t.false(html.includes('R&D <"card">'), "names are escaped");
  t.notRegex(html, /https?:\/\//);
});

test("the CLI's summary lines come from the report model: each run, its failing steps with file and line, why a run stopped, the total", (t) => {
  const events = runLog({ finish: true });
  const clock = new VirtualClock("2025-01-02T00:00:00Z");
  const bus = new EventBus(clock);
  bus.on((e) => events.push(e));
  bus.emit("run.started", { name: "broken", kind: "scenario", meta: { file: "/w/s/broken.yaml" } });
  bus.emit("run.finished", { outcome: "error", summary: { wallMs: 1.4, error: "CA did not open" } });
  t.is(
    scenarioSummaryText(buildReport(events), 2345, process.cwd()),
    [
      'FAIL  R&D <"card"> run (2 steps, 5 ms)',
      '      x.yaml:9: step 2 authenticate "a <b> & \u0001": result: expected "ok", got "refused" ]]>',
      "ERROR broken (0 steps, 1 ms)",
      "      run stopped: CA did not open",
      "0/2 scenarios passed in 2.35 s",
      "",
    ].join("\n"),
  );
});

test("certify's summary lines come from its report model", (t) => {
  const bus = new EventBus(new VirtualClock("2026-01-01T00:00:00Z"));
  const events: AnyEvent[] = [];
  bus.on((e) => events.push(e));
  const head = { id: "A-1", title: "t", level: "MUST" as const, source: "s" };
  bus.emit("run.started", { name: "certify x", kind: "certify", meta: { ca: "x" } });
  bus.emit("check.started", head);
  bus.emit("check.finished", { ...head, outcome: "fail", message: "no" });
  bus.emit("run.finished", { outcome: "fail" });
  t.is(certifySummaryText(buildCertifyReport(events)), "x: FAIL (exit status 1)\n1 check: 1 defect, 0 warnings, 0 not judged, 0 pass, 0 skipped\nFAIL       MUST   A-1                        no\n");
});
