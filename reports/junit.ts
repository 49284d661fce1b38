import { failureLine, type Report, type RunReport, type StepReport } from "./model.js";

/**
 * JUnit XML in the Jenkins/Ant shape CI systems read: a <testsuite> per
 * scenario, a <testcase> per checked step, a <failure> carrying the evidence
 * (expected, actual, message) when an expectation did not hold.
 */
export function toJUnit(report: Report): string {
  const t = report.totals;
  const time = seconds(report.runs.reduce((s, r) => s + runMs(r), 0));
  const out = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites name="cardloop" tests="${t.steps}" failures="${count(report.runs, "fail")}" errors="${count(report.runs, "error")}" time="${time}">`,
  ];
  report.runs.forEach((run, id) => out.push(suite(run, id)));
  out.push(`</testsuites>`, "");
  return out.join("\n");
}

function suite(run: RunReport, id: number): string {
  const failures = run.steps.filter((s) => s.outcome === "fail").length;
  const errors = run.steps.filter((s) => s.outcome === "error").length;
  const skipped = run.steps.filter((s) => s.outcome === "skip").length;
  const lines = [
    `  <testsuite name="${attr(run.name)}" tests="${run.steps.length}" failures="${failures}" errors="${errors}" skipped="${skipped}"` +
      ` time="${seconds(runMs(run))}" timestamp="${timestamp(run.startTime)}" hostname="localhost" id="${id}" package="cardloop.scenarios">`,
    `    <properties>`,
    ...Object.entries({ file: run.file, seed: run.seed, ...flat(run.meta) })
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `      <property name="${attr(k)}" value="${attr(String(v))}"/>`),
    `    </properties>`,
  ];
  for (const step of run.steps) lines.push(testcase(run, step));
  if (run.outcome === "error" && errors === 0) {
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

function count(runs: RunReport[], outcome: string): number {
  return runs.reduce((n, r) => n + r.steps.filter((s) => s.outcome === outcome).length, 0);
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
