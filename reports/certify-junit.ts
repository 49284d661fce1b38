import type { CertifyReport, CheckRow } from "./certify-model.js";
import { evidenceParts } from "./certify-evidence.js";
import { adapterPassText, artefactFacts, capabilityFacts, isAdapterMadePass, notJudgedText, producedByText, provenanceFacts, warningText } from "./certify-wording.js";
import { junitXml, type JUnitCase, type JUnitResult } from "./junit-xml.js";

/**
 * certify as JUnit, so that a CI viewer agrees with the exit status: exit 0
 * exactly when there is no <failure> and no <error>. Defects are failures,
 * checks not judged (unless allowed) are errors, and everything that does not
 * fail the run (warnings, allowed not-judged checks, skips) is <skipped> with
 * a message saying which it is. The mapping is documented in README.md.
 */
export function certifyJUnit(r: CertifyReport): string {
  const cases = r.checks.map((c): JUnitCase => {
    // The name stays "ID: title" whatever the result, so CI keeps one history per check.
    const testcase: JUnitCase = { name: `${c.id}: ${c.title}`, classname: classnameOf(c.id), ms: c.durationMs ?? 0 };
    const result = resultOf(c);
    // A pass on what the adapter made is still a pass for CI, but says so in the case's own output.
    const said = isAdapterMadePass(c) ? { systemOut: adapterPassDetail(c) } : {};
    return result ? { ...testcase, result, ...said } : { ...testcase, ...said };
  });
  const ms = r.provenance.durationMs || r.checks.reduce((n, c) => n + (c.durationMs ?? 0), 0);
  const facts = provenanceFacts(r);
  // `incomplete` beside the exit code: a run allowIncomplete let pass still says how many checks it did not judge.
  const afterExit = facts.findIndex((f) => f.key === "exit-code") + 1;
  facts.splice(afterExit, 0, { key: "incomplete", label: "checks not judged", value: String(r.totals.error) });
  const properties = [...facts, ...capabilityFacts(r), ...artefactFacts(r)].map((f) => [f.key, f.value] as const);
  return junitXml({
    name: "cardloop certify",
    suites: [{ name: `certify ${r.ca}`, ms, timestamp: r.startTime, id: 0, package: "cardloop-certify", properties, cases, systemOut: "" }],
  });
}

/**
 * A stable classname without dots (viewers split classnames on dots into
 * packages): the check ID's first segment, e.g. cardloop-certify-ISS.
 */
function classnameOf(id: string): string {
  return `cardloop-certify-${id.split("-")[0]}`;
}

function resultOf(c: CheckRow): JUnitResult | undefined {
  switch (c.class) {
    case "pass":
      return undefined;
    case "defect":
      // type SHOULD only where strict made a SHOULD failure a defect.
      return { kind: "failure", type: c.level, message: c.message, detail: defectDetail(c) };
    case "warning":
      return { kind: "skipped", message: `warning: ${warningText(c)}` };
    case "not-judged":
      return { kind: "error", type: "not-judged", message: notJudgedText(c), detail: notJudgedDetail(c) };
    case "not-judged-allowed":
      return { kind: "skipped", message: notJudgedText(c) };
    case "skip":
      return { kind: "skipped", message: c.message };
  }
}

function defectDetail(c: CheckRow): string {
  return [
    `source: ${c.source}`,
    c.message,
    ...(c.fix ? [`fix: ${c.fix}`] : []),
    ...madeBy(c),
    ...(c.reproduce ? [`reproduce: ${c.reproduce}`] : []),
    ...evidenceLines(c),
  ].join("\n");
}

function notJudgedDetail(c: CheckRow): string {
  return [`cause: ${c.cause ?? "unknown"}`, c.message, ...(c.fix ? [`fix: ${c.fix}`] : []), ...(c.reproduce ? [`reproduce: ${c.reproduce}`] : []), ...evidenceLines(c)].join("\n");
}

function adapterPassDetail(c: CheckRow): string {
  return [`PASS (adapter-made): ${adapterPassText(c)}`, ...madeBy(c)].join("\n");
}

function madeBy(c: CheckRow): string[] {
  return (c.producedBy ?? []).map((p) => `${producedByText(p)}${p.note ? ` (${p.note})` : ""}`);
}

/** Evidence as in the other formats: PEM blocks whole, one per paragraph, so they paste into openssl. */
function evidenceLines(c: CheckRow): string[] {
  const parts = evidenceParts(c.evidence);
  if (parts.length === 0) return [];
  return ["evidence:", ...parts.map((p) => (p.kind === "pem" ? `${p.key}:\n${p.text.trimEnd()}` : `${p.key}: ${p.text}`))];
}
