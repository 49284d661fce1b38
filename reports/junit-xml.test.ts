import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import test, { type ExecutionContext } from "ava";
import fc from "fast-check";
import { parse as parseJUnit } from "test-results-parser";
import { EventBus, VirtualClock, type AnyEvent, type Outcome } from "../core/index.js";
import { buildCertifyReport, buildQualificationReport, certifyJUnit, qualificationJunit } from "./index.js";
import { junitXml, type JUnitCase } from "./junit-xml.js";

/** Schema-checks with xmllint and reads back with a third-party consumer: what CI tools will see. */
function check(t: ExecutionContext, xml: string) {
  const file = join(mkdtempSync(join(tmpdir(), "cardloop-junit-")), "junit.xml");
  writeFileSync(file, xml);
  const lint = spawnSync("xmllint", ["--noout", "--schema", resolve(import.meta.dirname, "junit.xsd"), file], { encoding: "utf8" });
  if (lint.error) t.fail(`xmllint is required (libxml2-utils): ${lint.error.message}`);
  t.is(lint.status, 0, lint.stderr);
  return parseJUnit({ type: "junit", files: [file] });
}

/** Checks of every outcome, with text XML dislikes. */
function checkLog(kind: "certify" | "qualify"): AnyEvent[] {
  const bus = new EventBus(new VirtualClock("2026-01-01T00:00:00Z"));
  const events: AnyEvent[] = [];
  bus.on((e) => events.push(e));
  bus.emit("run.started", { name: "x", kind, meta: { ca: "ca <&>" } });
  if (kind === "qualify") bus.emit("qualify.started", { reader: 'reader "0" \u0001', iterations: 1, thresholds: {} });
  const outcomes: Outcome[] = ["pass", "fail", "error", "skip", "fail"];
  outcomes.forEach((outcome, i) => {
    const head = { id: `C-${i}`, title: `check <${i}> & 'quoted'`, level: i % 2 ? ("SHOULD" as const) : ("MUST" as const), source: "RFC 5280" };
    bus.emit("check.started", head);
    bus.emit("check.finished", { ...head, outcome, message: `said "${outcome}" ]]> \u0002`, evidence: { n: i }, durationMs: i });
  });
  bus.emit("run.finished", { outcome: "fail" });
  return events;
}

test("certify's and qualify-reader's JUnit are valid against the schema, and a consumer counts them as we do", (t) => {
  // It takes a suite's total net of its skipped cases (the root has no skipped attribute in the schema).
  const certify = check(t, certifyJUnit(buildCertifyReport(checkLog("certify"))));
  t.is(certify.status, "FAIL");
  // the failed SHOULD (C-1) is a warning, <skipped>; failures come first: C-4 (MUST defect), C-2 (not judged), C-1, C-0, C-3
  t.like(certify.suites[0], { total: 3, passed: 1, failed: 1, errors: 1, skipped: 2 });
  t.deepEqual(certify.suites[0].cases.map((c) => c.status), ["FAIL", "FAIL", "SKIP", "PASS", "SKIP"]);
  const qualify = check(t, qualificationJunit(buildQualificationReport(checkLog("qualify"))));
  // a criterion that could not be judged is a failure of the reader's qualification
  t.is(qualify.status, "FAIL");
  t.like(qualify.suites[0], { name: 'reader "0" ?', total: 4, passed: 1, failed: 3, errors: 0, skipped: 1 });
});

test("property: the count attributes always match the cases, whatever the outcomes and names", (t) => {
  const kase = fc.record({
    name: fc.string({ minLength: 1 }),
    kind: fc.constantFrom("pass", "failure", "error", "skipped"),
    ms: fc.nat(100_000),
  });
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(fc.array(kase, { maxLength: 8 }), { minLength: 1, maxLength: 4 }), (suites) => {
        const xml = junitXml({
          name: "p",
          suites: suites.map((cases, id) => ({
            name: `s${id}`,
            ms: 1,
            id,
            package: "p",
            properties: [],
            systemOut: "",
            cases: cases.map(
              (c): JUnitCase => ({
                name: c.name,
                classname: "k",
                ms: c.ms,
                ...(c.kind === "pass" ? {} : { result: c.kind === "skipped" ? { kind: "skipped" } : { kind: c.kind, message: c.name, type: "t" } }),
              }),
            ),
          })),
        });
        const all = suites.flat();
        const n = (k: string) => all.filter((c) => c.kind === k).length;
        const root = /<testsuites [^>]*tests="(\d+)" failures="(\d+)" errors="(\d+)"/.exec(xml)!;
        return (
          Number(root[1]) === all.length &&
          Number(root[2]) === n("failure") &&
          Number(root[3]) === n("error") &&
          (xml.match(/<testcase /g) ?? []).length === all.length &&
          !/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/.test(xml)
        );
      }),
    ),
  );
});
