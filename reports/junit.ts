import { junitXml, type JUnitCase, type JUnitSuite } from "./junit-xml.js";
import { failureLine, type Report, type RunReport, type StepReport } from "./model.js";

/**
 * Scenario runs as JUnit: a <testsuite> per scenario, a <testcase> per checked
 * step, a <failure> carrying the evidence (expected, actual, message) when an
 * expectation did not hold.
 */
export function toJUnit(report: Report): string {
  return junitXml({ name: "cardloop", suites: report.runs.map(suite) });
}

function suite(run: RunReport, id: number): JUnitSuite {
  const cases = run.steps.map((s) => testcase(run, s));
  // The run broke outside a step (e.g. the CA could not start): still visible as an error.
  if (run.outcome === "error" && !run.steps.some((s) => s.outcome === "error")) {
    cases.push({ name: "run", classname: className(run), ms: 0, result: { kind: "error", message: "the run did not complete", type: "error" } });
  }
  return {
    name: run.name,
    ms: runMs(run),
    timestamp: run.startTime,
    id,
    package: "cardloop.scenarios",
    properties: Object.entries({ file: run.file, seed: run.seed, ...flat(run.meta) })
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, String(v)] as const),
    cases,
    systemOut: `virtual time ${run.startTime} .. ${run.endTime}; ${run.apdu.count} APDU exchanges`,
  };
}

function testcase(run: RunReport, step: StepReport): JUnitCase {
  const c: JUnitCase = {
    name: `${String(step.index + 1).padStart(2, "0")} ${step.action}${step.label ? `: ${step.label}` : ""}`,
    classname: className(run),
    ms: step.durationMs ?? 0,
  };
  const evidence = () =>
    [
      failureLine(step),
      `expected: ${JSON.stringify(step.expected)}`,
      `actual:   ${JSON.stringify(step.actual)}`,
      step.evidence ? `evidence: ${JSON.stringify(step.evidence)}` : "",
      `virtual time: ${step.time}`,
    ]
      .filter(Boolean)
      .join("\n");
  if (step.outcome === "fail") c.result = { kind: "failure", message: failureLine(step), type: "expectation", detail: evidence() };
  else if (step.outcome === "error") c.result = { kind: "error", message: failureLine(step), type: "error", detail: evidence() };
  else if (step.outcome === "skip") c.result = { kind: "skipped" };
  return c;
}

function className(run: RunReport): string {
  return `cardloop.scenarios.${run.name.replace(/[^A-Za-z0-9]+/g, "_")}`;
}

function runMs(run: RunReport): number {
  return run.wallMs ?? run.steps.reduce((s, st) => s + (st.durationMs ?? 0), 0);
}

function flat(meta: Record<string, unknown>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(meta)) if (k !== "file" && v !== undefined) out[k] = typeof v === "object" ? JSON.stringify(v) : String(v);
  return out;
}
