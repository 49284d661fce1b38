import { failureLine, type Report, type RunReport, type StepReport } from "./model.js";

/**
 * JUnit XML in the Jenkins/Ant shape CI systems read: a <testsuite> per
 * scenario, a <testcase> per checked step, a <failure> carrying the evidence
 * (expected, actual, message) when an expectation did not hold.
 */
export function toJUnit(report: Report): string {
  const time = seconds(report.runs.reduce((s, r) => s + runMs(r), 0));
  const counts = report.runs.map(countsOf);
  const sum = (k: "tests" | "failures" | "errors") => counts.reduce((n, c) => n + c[k], 0);
  const out = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites name="cardloop" tests="${sum("tests")}" failures="${sum("failures")}" errors="${sum("errors")}" time="${time}">`,
  ];
  report.runs.forEach((run, id) => out.push(suite(run, id, counts[id])));
  out.push(`</testsuites>`, "");
  return out.join("\n");
}

interface Counts {
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
  /** The run broke outside a step: one extra <testcase name="run"> with an <error>. */
  brokeOutsideSteps: boolean;
}

/**
 * The counts written as attributes. Consumers differ in what they believe:
 * Jenkins counts the <testcase>s, others (test-results-parser) take the
 * attributes, so the two must agree, the synthetic "run" case included.
 */
function countsOf(run: RunReport): Counts {
  const n = (outcome: string) => run.steps.filter((s) => s.outcome === outcome).length;
  const errors = n("error");
  const broke = run.outcome === "error" && errors === 0;
  return { tests: run.steps.length + (broke ? 1 : 0), failures: n("fail"), errors: errors + (broke ? 1 : 0), skipped: n("skip"), brokeOutsideSteps: broke };
}

function suite(run: RunReport, id: number, counts: Counts): string {
  const { tests, failures, errors, skipped } = counts;
  const lines = [
    `  <testsuite name="${attr(run.name)}" tests="${tests}" failures="${failures}" errors="${errors}" skipped="${skipped}"` +
      ` time="${seconds(runMs(run))}" timestamp="${timestamp(run.startTime)}" hostname="localhost" id="${id}" package="cardloop.scenarios">`,
    `    <properties>`,
    ...Object.entries({ file: run.file, seed: run.seed, ...flat(run.meta) })
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `      <property name="${attr(k)}" value="${attr(String(v))}"/>`),
    `    </properties>`,
  ];
  for (const step of run.steps) lines.push(testcase(run, step));
  if (counts.brokeOutsideSteps) {
    // The run broke outside a step (e.g. the CA could not start): still visible as an error.
    lines.push(`    <testcase name="run" classname="${attr(className(run))}" time="0">`, `      <error message="the run did not complete" type="error"/>`, `    </testcase>`);
  }
  lines.push(`    <system-out>${text(`virtual time ${run.startTime} .. ${run.endTime}; ${run.apdu.count} APDU exchanges`)}</system-out>`);
  lines.push(`    <system-err></system-err>`, `  </testsuite>`);
  return lines.join("\n");
}

function testcase(run: RunReport, step: StepReport): string {
  const name = `${String(step.index + 1).padStart(2, "0")} ${step.action}${step.label ? `: ${step.label}` : ""}`;
  const open = `    <testcase name="${attr(name)}" classname="${attr(className(run))}" time="${seconds(step.durationMs ?? 0)}">`;
  const evidence = () =>
    text(
      [
        failureLine(step),
        `expected: ${JSON.stringify(step.expected)}`,
        `actual:   ${JSON.stringify(step.actual)}`,
        step.evidence ? `evidence: ${JSON.stringify(step.evidence)}` : "",
        `virtual time: ${step.time}`,
      ]
        .filter(Boolean)
        .join("\n"),
    );
  switch (step.outcome) {
    case "fail":
      return `${open}\n      <failure message="${attr(failureLine(step))}" type="expectation">${evidence()}</failure>\n    </testcase>`;
    case "error":
      return `${open}\n      <error message="${attr(failureLine(step))}" type="error">${evidence()}</error>\n    </testcase>`;
    case "skip":
      return `${open}\n      <skipped/>\n    </testcase>`;
    default:
      return `${open}</testcase>`;
  }
}

function className(run: RunReport): string {
  return `cardloop.scenarios.${run.name.replace(/[^A-Za-z0-9]+/g, "_")}`;
}

function runMs(run: RunReport): number {
  return run.wallMs ?? run.steps.reduce((s, st) => s + (st.durationMs ?? 0), 0);
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}

/** The Ant schema's timestamp is an xs:dateTime without zone (it is UTC). */
function timestamp(iso: string): string {
  return iso.replace(/\.\d+Z$|Z$/, "");
}

function flat(meta: Record<string, unknown>): Record<string, string | number | undefined> {
  const out: Record<string, string | number | undefined> = {};
  for (const [k, v] of Object.entries(meta)) if (k !== "file" && v !== undefined) out[k] = typeof v === "object" ? JSON.stringify(v) : String(v);
  return out;
}

// XML 1.0 cannot carry most C0 controls at all, even escaped.
const INVALID_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;

function text(s: string): string {
  return s.replace(INVALID_XML, "?").replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function attr(s: string): string {
  return text(s).replace(/"/g, "&quot;").replace(/\n/g, "&#10;");
}
