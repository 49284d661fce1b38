import { showable } from "./escape.js";

/**
 * The one JUnit XML writer, in the Jenkins/Ant shape CI systems read and
 * reports/junit.xsd describes. Scenario runs, certify and qualify-reader map
 * their models onto these few types; this module alone knows the XML.
 */
export type JUnitResult =
  | { kind: "failure" | "error"; message: string; type: string; detail?: string }
  | { kind: "skipped"; message?: string };

export interface JUnitCase {
  name: string;
  classname: string;
  ms: number;
  /** None: the case passed. */
  result?: JUnitResult;
  systemOut?: string;
}

export interface JUnitSuite {
  name: string;
  /** The suite's own time; a run can take longer than its cases. */
  ms: number;
  /** ISO 8601; written without its zone (it is UTC), as the schema wants. */
  timestamp?: string;
  id: number;
  package: string;
  properties: ReadonlyArray<readonly [string, string]>;
  cases: JUnitCase[];
  systemOut: string;
}

export interface JUnitDocument {
  name: string;
  suites: JUnitSuite[];
}

interface Counts {
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
}

/**
 * Counts are derived from the cases, never passed in: consumers differ in what
 * they believe (Jenkins counts <testcase>s, test-results-parser takes the
 * attributes), so the two must agree.
 */
function countsOf(cases: readonly JUnitCase[]): Counts {
  const n = (kind: JUnitResult["kind"]) => cases.filter((c) => c.result?.kind === kind).length;
  return { tests: cases.length, failures: n("failure"), errors: n("error"), skipped: n("skipped") };
}

export function junitXml(doc: JUnitDocument): string {
  const counts = doc.suites.map((s) => countsOf(s.cases));
  const sum = (k: keyof Counts) => counts.reduce((n, c) => n + c[k], 0);
  const time = seconds(doc.suites.reduce((ms, s) => ms + s.ms, 0));
  const out = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites name="${attr(doc.name)}" tests="${sum("tests")}" failures="${sum("failures")}" errors="${sum("errors")}" time="${time}">`,
  ];
  doc.suites.forEach((s, i) => out.push(suite(s, counts[i])));
  out.push(`</testsuites>`, "");
  return out.join("\n");
}

function suite(s: JUnitSuite, c: Counts): string {
  const lines = [
    `  <testsuite name="${attr(s.name)}" tests="${c.tests}" failures="${c.failures}" errors="${c.errors}" skipped="${c.skipped}"` +
      ` time="${seconds(s.ms)}"${s.timestamp ? ` timestamp="${timestamp(s.timestamp)}"` : ""} hostname="localhost" id="${s.id}" package="${attr(s.package)}">`,
    `    <properties>`,
    ...s.properties.map(([k, v]) => `      <property name="${attr(k)}" value="${attr(v)}"/>`),
    `    </properties>`,
    ...s.cases.map(testcase),
    `    <system-out>${text(s.systemOut)}</system-out>`,
    `    <system-err></system-err>`,
    `  </testsuite>`,
  ];
  return lines.join("\n");
}

function testcase(c: JUnitCase): string {
  const open = `    <testcase name="${attr(c.name)}" classname="${attr(c.classname)}" time="${seconds(c.ms)}">`;
  const body: string[] = [];
  const r = c.result;
  if (r?.kind === "skipped") body.push(r.message === undefined ? `<skipped/>` : `<skipped message="${attr(r.message)}"/>`);
  else if (r) {
    const head = `<${r.kind} message="${attr(r.message)}" type="${attr(r.type)}"`;
    body.push(r.detail ? `${head}>${text(r.detail)}</${r.kind}>` : `${head}/>`);
  }
  if (c.systemOut !== undefined) body.push(`<system-out>${text(c.systemOut)}</system-out>`);
  if (body.length === 0) return `${open}</testcase>`;
  return [open, ...body.map((b) => `      ${b}`), `    </testcase>`].join("\n");
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}

function timestamp(iso: string): string {
  return iso.replace(/\.\d+Z$|Z$/, "");
}

// XML 1.0 cannot carry most C0 controls at all, even escaped: shown as "?" (escape.ts), as in the HTML reports.
function text(s: string): string {
  return showable(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function attr(s: string): string {
  return text(s).replace(/"/g, "&quot;").replace(/\n/g, "&#10;");
}
