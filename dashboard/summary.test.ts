import test from "ava";
import fc from "fast-check";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AnyEvent, Outcome } from "../core/index.js";
import { buildCertifyReport, buildQualificationReport, buildReport, certifySummaryText, qualificationSummaryText, scenarioSummaryText } from "../reports/index.js";
import { libraryFiles, runFiles } from "../scenarios/index.js";
import { SummaryBuilder } from "./summary.js";

const T0 = "2026-03-01T10:00:00.000Z";

function summarise(events: readonly AnyEvent[], opts: { live?: boolean } = {}) {
  const b = new SummaryBuilder("r", "file", T0);
  if (opts.live) b.resume();
  for (const e of events) b.add(e);
  return b.summary();
}

let seq = 0;
function ev(type: string, data: Record<string, unknown>, time = T0): AnyEvent {
  return { type, seq: seq++, time, data } as unknown as AnyEvent;
}

/** A real run log of two library scenarios, made once for the file. */
const demo = (async () => {
  const dir = mkdtempSync(join(tmpdir(), "cardloop-summary-"));
  test.after.always(() => rmSync(dir, { recursive: true, force: true }));
  return (await runFiles(libraryFiles().slice(0, 2), { runLog: join(dir, "run.jsonl") })).events;
})();

test("a real two-scenario run log passes, in the reports' words and with their totals", async (t) => {
  const events = await demo;
  const s = summarise(events);
  const report = buildReport(events);
  t.is(s.kind, "scenario");
  t.is(s.verdict, "pass");
  t.is(s.name, "2 scenarios");
  t.is(s.target, "embedded, reader memory");
  t.regex(s.headline, /^2\/2 scenarios passed in \d+\.\d\d s$/);
  t.is(s.events, events.length);
  t.deepEqual(
    { total: s.counts.total, passed: s.counts.passed, steps: s.counts.steps, stepsFailed: s.counts.stepsFailed },
    { total: report.totals.runs, passed: report.totals.passed, steps: report.totals.steps, stepsFailed: report.totals.stepsFailed },
  );
  t.true(s.durationMs > 0, "scenario runs report the wall time they measured");
});

test("one failing step fails its scenario and the run, as the reports say, even when run.finished said pass", async (t) => {
  const events = (await demo).map((e) => structuredClone(e));
  const lastStep = events.findLast((e) => e.type === "step.finished")!;
  (lastStep.data as { outcome: Outcome }).outcome = "fail";
  const s = summarise(events);
  t.is(s.verdict, "fail");
  t.regex(s.headline, /^1\/2 scenarios passed/);
  t.is(buildReport(events).totals.passed, 1);
  t.is(s.counts.failed, 1);
});

test("a scenario run cut before its last run.finished is incomplete; while a publisher sends it, it is running", async (t) => {
  const events = await demo;
  const cut = events.slice(0, events.findLastIndex((e) => e.type === "run.finished"));
  const s = summarise(cut);
  t.is(s.verdict, "incomplete");
  t.regex(s.headline, /^1\/2 scenarios passed .*; 1 did not finish$/);
  t.is(s.counts.unfinished, 1);
  const live = summarise(cut, { live: true });
  t.is(live.verdict, "running");
  t.regex(live.headline, /^1\/1 scenarios passed .* so far$/, "the scenario under way is not counted yet");
  // Every run.finished present, but the publisher has not said it is done: still running.
  t.is(summarise(events, { live: true }).verdict, "running");
  const b = new SummaryBuilder("r", "published", T0);
  b.resume();
  for (const e of events) b.add(e);
  b.finish();
  t.is(b.summary().verdict, "pass");
});

test("scenario: any sequence of runs, steps and outcomes counts and passes as the scenario report does", (t) => {
  const item = fc.oneof(
    fc.constant({ type: "run.started" }),
    fc.record({ type: fc.constant("step.finished"), outcome: fc.constantFrom<Outcome>("pass", "fail", "error", "skip") }),
    fc.record({ type: fc.constant("run.finished"), outcome: fc.constantFrom<Outcome>("pass", "fail", "error", "skip") }),
  );
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(item, { maxLength: 20 }), (items) => {
        const events = items.map((i) =>
          i.type === "run.started"
            ? ev("run.started", { name: "s", kind: "scenario" })
            : ev(i.type, { scenario: "s", index: 0, action: "issue", outcome: (i as { outcome: Outcome }).outcome }),
        );
        const s = summarise(events);
        const totals = buildReport(events).totals;
        const reportPass = totals.runs > 0 && totals.passed === totals.runs;
        if ((s.counts.total ?? 0) !== totals.runs || (s.counts.passed ?? 0) !== totals.passed || (s.verdict === "pass") !== reportPass) {
          throw new Error(`summary ${JSON.stringify(s)} vs report totals ${JSON.stringify(totals)}`);
        }
      }),
      { numRuns: 300 },
    ),
  );
});

function check(id: string, level: "MUST" | "SHOULD", outcome: Outcome, extra: Record<string, unknown> = {}): AnyEvent[] {
  const head = { id, title: id, level, source: "RFC 5280" };
  return [ev("check.started", head), ev("check.finished", { ...head, outcome, message: "m", ...extra })];
}

function certifyRun(rules: Record<string, unknown> | undefined, checks: AnyEvent[][], finished = true): AnyEvent[] {
  return [
    ev("run.started", { name: "certify acme", kind: "certify", meta: { ca: "acme", ...(rules ? { rules } : {}) } }),
    ...checks.flat(),
    ...(finished ? [ev("run.finished", { outcome: "pass" })] : []),
  ];
}

test("certify: the reports' verdict and words for a pass, a defect and a run without run.finished", (t) => {
  const pass = certifyRun(undefined, [check("A", "MUST", "pass"), check("B", "SHOULD", "skip")]);
  const s = summarise(pass);
  t.is(s.kind, "certify");
  t.is(s.target, "acme");
  t.is(s.verdict, "pass");
  t.is(s.headline, "acme: PASS (exit status 0); 2 checks: 0 defects, 0 warnings, 0 not judged, 1 pass, 1 skipped");
  t.deepEqual(s.counts, { checks: 2, defect: 0, "not-judged": 0, warning: 0, "not-judged-allowed": 0, pass: 1, skip: 1 });

  const fail = certifyRun(undefined, [check("A", "MUST", "fail"), check("B", "SHOULD", "fail"), check("C", "MUST", "fail", { madeBy: "adapter" })]);
  const f = summarise(fail);
  t.is(f.verdict, "fail");
  t.is(f.headline, "acme: FAIL (exit status 1); 3 checks: 1 defect, 2 warnings, 0 not judged, 0 pass, 0 skipped");

  const cut = certifyRun(undefined, [check("A", "MUST", "pass"), check("B", "MUST", "pass").slice(0, 1)], false);
  const c = summarise(cut);
  t.is(c.verdict, "incomplete");
  t.is(buildCertifyReport(cut).verdict, "incomplete");
  // B never finished and the run never did: two rows not judged, as the reports count them (B and RUN-INCOMPLETE).
  t.is(c.counts["not-judged"], 2);
  t.is(c.headline, "acme: INCOMPLETE (exit status 3); 3 checks: 0 defects, 0 warnings, 2 not judged, 1 pass, 0 skipped");
  const live = summarise(cut, { live: true });
  t.is(live.verdict, "running");
  t.is(live.headline, "acme: running; 1 check: 0 defects, 0 warnings, 0 not judged, 1 pass, 0 skipped");
});

test("headlines in the reports' own words, from the figures alone: certify's first two lines, the scenario total line, and 'runs' for another kind", async (t) => {
  const allowed = certifyRun({ allowIncomplete: true }, [check("A", "MUST", "pass"), check("C", "MUST", "error", { cause: "credential" })]);
  const c = summarise(allowed);
  t.is(c.headline, certifySummaryText(buildCertifyReport(allowed)).split("\n").slice(0, 2).join("; "));
  t.regex(c.headline, /^acme: PASS \(exit status 0\), incomplete: 1 check not judged \(allowed by --allow-incomplete\); .*1 not judged but allowed/);
  const events = await demo;
  const s = summarise(events);
  t.is(s.headline, scenarioSummaryText(buildReport(events), s.durationMs, "").trim().split("\n").at(-1)!);
  const soak = summarise([ev("run.started", { name: "soak", kind: "soak" }), ev("run.finished", { outcome: "pass", summary: { wallMs: 1500 } })]);
  t.is(soak.headline, "1/1 runs passed in 1.50 s");
  t.is(soak.headline, scenarioSummaryText({ runs: [], totals: { runs: 1, passed: 1 } }, 1500, "", "runs").trim());
});

test("certify: the rules in run.started meta decide, as they do for the reports", (t) => {
  const checks = [check("A", "MUST", "pass"), check("B", "SHOULD", "fail"), check("C", "MUST", "error", { cause: "credential" })];
  for (const rules of [undefined, { strict: true }, { allowIncomplete: true }, { strict: false, allowIncomplete: true }]) {
    const events = certifyRun(rules, checks);
    t.is(summarise(events).verdict, buildCertifyReport(events).verdict, JSON.stringify(rules));
  }
  t.is(summarise(certifyRun({ allowIncomplete: true }, checks)).verdict, "pass");
  t.is(summarise(certifyRun({ strict: true, allowIncomplete: true }, checks)).verdict, "fail");
  t.is(summarise(certifyRun(undefined, checks)).verdict, "incomplete");
});

test("certify: any run log gets the verdict and totals the certify report computes", (t) => {
  const row = fc.record({
    id: fc.constantFrom("A", "B", "C", "D", "E"),
    level: fc.constantFrom("MUST" as const, "SHOULD" as const),
    outcome: fc.constantFrom<Outcome>("pass", "fail", "error", "skip"),
    madeBy: fc.constantFrom(undefined, "ca", "adapter"),
    finished: fc.boolean(),
  });
  const arb = fc.record({ rows: fc.array(row, { maxLength: 12 }), strict: fc.boolean(), allow: fc.boolean(), runFinished: fc.boolean() });
  t.notThrows(() =>
    fc.assert(
      fc.property(arb, ({ rows, strict, allow, runFinished }) => {
        const checks = rows.map((r) => {
          const pair = check(r.id, r.level, r.outcome, r.madeBy ? { madeBy: r.madeBy } : {});
          return r.finished ? pair : pair.slice(0, 1);
        });
        const events = certifyRun({ strict, allowIncomplete: allow }, checks, runFinished);
        const s = summarise(events);
        const report = buildCertifyReport(events);
        const totals = report.totals;
        const same =
          s.verdict === report.verdict &&
          s.counts.checks === totals.checks &&
          s.counts.defect === totals.defects &&
          s.counts.warning === totals.warnings &&
          s.counts["not-judged"] === totals.notJudged &&
          s.counts["not-judged-allowed"] === totals.notJudgedAllowed &&
          s.counts.pass === totals.pass;
        if (!same) throw new Error(`summary ${JSON.stringify(s)} vs report ${JSON.stringify({ verdict: report.verdict, totals })}`);
      }),
      { numRuns: 300 },
    ),
  );
});

test("qualify-reader: the reader as target, its pass and fail in the report's words; no run.finished is incomplete", (t) => {
  const start = [ev("run.started", { name: "qualify-reader ACS ACR39U", kind: "qualify-reader" }), ev("qualify.started", { reader: "ACS ACR39U", iterations: 10, thresholds: {} })];
  const criteria = [...check("ATR", "MUST", "pass"), ...check("LATENCY", "MUST", "pass"), ...check("T1", "MUST", "skip")];
  const pass = summarise([...start, ...criteria, ev("run.finished", { outcome: "pass" })]);
  t.is(pass.kind, "qualify-reader");
  t.is(pass.target, "ACS ACR39U");
  t.is(pass.verdict, "pass");
  t.is(pass.headline, "reader ACS ACR39U: qualification PASS; 3 criteria: 2 pass, 0 fail, 0 error, 1 skipped");
  t.is(pass.name, "qualify-reader ACS ACR39U");
  const fail = summarise([...start, ...check("ATR", "MUST", "fail"), ev("run.finished", { outcome: "fail" })]);
  t.is(fail.verdict, "fail");
  t.regex(fail.headline, /qualification FAIL/);
  const cut = summarise([...start, ...criteria]);
  t.is(cut.verdict, "incomplete");
  t.regex(cut.headline, /the run log ends before the qualification finished/);
});

test("qualify-reader: the report's rule, not run.finished's outcome: a criterion started and never finished is an error, nothing judged is no pass", (t) => {
  const start = [ev("run.started", { name: "qualify-reader R", kind: "qualify-reader" }), ev("qualify.started", { reader: "R", iterations: 1, thresholds: {} })];
  // The battery died inside ATR, yet run.finished says pass (a hand-edited log, or a driver's finally).
  const died = [...start, ev("check.started", { id: "ATR", title: "ATR" }), ev("run.finished", { outcome: "pass" })];
  const s = summarise(died);
  t.is(s.verdict, "fail");
  t.is(buildQualificationReport(died).outcome, "fail");
  t.is(s.headline, "reader R: qualification FAIL; 1 criteria: 0 pass, 0 fail, 1 error, 0 skipped");
  t.is(s.counts.error, 1);
  t.true(qualificationSummaryText(buildQualificationReport(died)).includes("qualification FAIL"), "the report's own word");
  t.is(summarise([...start, ev("run.finished", { outcome: "pass" })]).verdict, "fail", "no criterion judged");
  const live = summarise(died.slice(0, -1), { live: true });
  t.is(live.verdict, "running");
  t.is(live.counts.error, 0, "while it runs, a criterion under way is not an error");
});

test("qualify-reader: any log with run.finished gets the verdict the qualification report computes", (t) => {
  const item = fc.record({ id: fc.constantFrom("A", "B", "C", "D"), outcome: fc.constantFrom<Outcome>("pass", "fail", "error", "skip"), finished: fc.boolean() });
  const arb = fc.record({ items: fc.array(item, { maxLength: 8 }), said: fc.constantFrom<Outcome>("pass", "fail", "error", "skip") });
  t.notThrows(() =>
    fc.assert(
      fc.property(arb, ({ items, said }) => {
        const events = [
          ev("run.started", { name: "q", kind: "qualify-reader" }),
          ...items.flatMap((i) => [ev("check.started", { id: i.id, title: i.id }), ...(i.finished ? [ev("check.finished", { id: i.id, title: i.id, outcome: i.outcome, message: "" })] : [])]),
          ev("run.finished", { outcome: said }),
        ];
        const s = summarise(events);
        const report = buildQualificationReport(events);
        if (s.verdict !== report.outcome) throw new Error(`summary ${JSON.stringify(s)} vs report ${report.outcome}`);
      }),
      { numRuns: 300 },
    ),
  );
});

test("events the publisher dropped: a pass is incomplete, the headline says how many first; a fail stays a fail", async (t) => {
  const events = await demo;
  const b = new SummaryBuilder("p", "published", T0);
  for (const e of events) b.add(e);
  t.is(b.summary().verdict, "pass");
  b.dropped = 1;
  t.is(b.summary().verdict, "incomplete");
  t.regex(b.summary().headline, /^1 event dropped by the publisher \(the run log has them\); 2\/2 scenarios passed/);
  b.dropped = 12;
  t.regex(b.summary().headline, /^12 events dropped by the publisher \(the run log has them\); /);
  const failing = new SummaryBuilder("f", "published", T0);
  for (const e of certifyRun(undefined, [check("A", "MUST", "fail")])) failing.add(e);
  failing.dropped = 3;
  t.is(failing.summary().verdict, "fail");
});

test("a publisher that went away: the verdict its events give, the headline saying so; resumed, it is running again. Generations and open runs", async (t) => {
  const events = await demo;
  const cut = events.slice(0, events.findLastIndex((e) => e.type === "run.finished"));
  const b = new SummaryBuilder("p", "published", T0);
  b.resume();
  for (const e of cut) b.add(e);
  t.true(b.hasOpenRun);
  b.publisherWentAway();
  t.is(b.summary().verdict, "incomplete");
  t.regex(b.summary().headline, /^the publisher went away before saying the run was done; 1\/2 scenarios passed/);
  b.resume();
  t.is(b.summary().verdict, "running");
  t.notRegex(b.summary().headline, /went away/);
  b.add(events.at(-1)!);
  t.false(b.hasOpenRun);
  t.is(b.summary().generation, "published");
  t.is(new SummaryBuilder("f", "file", T0, "abc.7").summary().generation, "abc.7");
});

test("load: run.finished outcome, meta.ca as target, the last throughput in the headline; wall-clock duration", (t) => {
  const events = [
    ev("run.started", { name: "load revoke", kind: "load", meta: { ca: "embedded" } }, "2026-03-01T10:00:00.000Z"),
    ev("metric.sample", { name: "load.throughput", value: 950, unit: "revocations/s" }, "2026-03-01T10:00:01.000Z"),
    ev("metric.sample", { name: "load.throughput", value: 1200.3360024179601, unit: "revocations/s" }, "2026-03-01T10:00:02.000Z"),
    ev("run.finished", { outcome: "pass" }, "2026-03-01T10:00:02.500Z"),
  ];
  const s = summarise(events);
  t.is(s.kind, "load");
  t.is(s.target, "embedded");
  t.is(s.verdict, "pass");
  t.is(s.headline, "load embedded: load PASS; last throughput 1,200 revocations/s");
  t.is(s.durationMs, 2500);
  t.is(s.counts.samples, 2);
});

test("a run log unreadable at a line is incomplete and says where; bad event data is ignored, never thrown", (t) => {
  const b = new SummaryBuilder("x", "file", T0);
  b.add(ev("run.started", { name: "s", kind: "scenario" }));
  b.add({ type: "run.finished", seq: 1, time: T0, data: null } as unknown as AnyEvent);
  b.add({ type: "check.finished", seq: 2, time: 7, data: [] } as unknown as AnyEvent);
  t.is(b.summary().verdict, "fail", "a run.finished without an outcome is an error");
  b.markUnreadable(4, "not JSON");
  const s = b.summary();
  t.is(s.verdict, "incomplete");
  t.regex(s.headline, /^run log unreadable at line 4 \(not JSON\); /);
  const empty = new SummaryBuilder("e", "file", T0).summary();
  t.is(empty.verdict, "incomplete");
  t.is(empty.kind, "unknown");
  t.is(empty.name, "e");
});
