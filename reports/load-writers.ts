import { loadRunLog, type LoadSummaryData, type RunLogSource } from "../core/index.js";
import { showable } from "./escape.js";
import { junitXml, type JUnitCase, type JUnitResult } from "./junit-xml.js";
import {
  bounded,
  channels,
  completenessText,
  count,
  errorsText,
  gateText,
  modeText,
  moreText,
  ms,
  notesOf,
  percentilesText,
  rate,
  seconds,
  verdictText,
  VERDICT_LABEL,
} from "./load-format.js";
import { loadHtml } from "./load-html.js";
import { loadMarkdown } from "./load-markdown.js";
import { buildLoadReport, interruptedText, summaryVerdict, type LoadReport } from "./load-model.js";
import { writeReportSet } from "./report-set.js";

export { loadHtml } from "./load-html.js";
export { loadMarkdown } from "./load-markdown.js";

/** A load run's model from its run log: the file, or the events kept in memory. */
export function loadReportFromRunLog(runLog: RunLogSource): LoadReport {
  return buildLoadReport(loadRunLog(runLog));
}

/** The final figures as `--json` prints them: the load.summary event's data, whole. */
export function loadJson(summary: LoadSummaryData): string {
  return JSON.stringify(summary, null, 2) + "\n";
}

/**
 * load.json: the run (name, CA, verdict, phases) around the same summary
 * `--json` prints; an interrupted run has no summary and says why. The
 * metric samples are left out: they are for the charts.
 */
export function loadReportJson(r: LoadReport): string {
  const { series: _series, summary, ...run } = r;
  return JSON.stringify({ tool: "cardloop", kind: "load revoke", ...run, ...(summary ? { summary } : {}) }, null, 2) + "\n";
}

const CLASSNAME = "cardloop-load-revoke";

/**
 * JUnit: one suite "load revoke"; a case per gate (a failure saying limit and
 * actual), one for completeness (a failure listing what was lost, wrongly
 * revoked or published with the wrong reason; an error when verification
 * could not run to the end), one for errors (an outcome of the CA, reported
 * in its system-out; only a gate makes it a failure). A run without final
 * figures is one error. CI agrees with the exit status: a <failure> or
 * <error> exactly when it is not 0.
 */
export function loadJunit(r: LoadReport): string {
  const s = r.summary;
  const cases: JUnitCase[] = s ? summaryCases(s) : [interruptedCase(r)];
  if (s?.interrupted) {
    // Stopped by a signal: the process exits 130/143, so CI must not read the file as clean.
    cases.push({ name: "load revoke run", classname: CLASSNAME, ms: 0, result: { kind: "error", type: "interrupted", message: interruptedText(s.interrupted.signal) } });
  }
  if (s && s.exitCode !== 0 && !cases.some((c) => c.result?.kind === "failure" || c.result?.kind === "error")) {
    // Exit 2 (the CA could not be reached or set up), or a cause none of the cases names: still never a clean file.
    cases.push({ name: "outcome", classname: CLASSNAME, ms: 0, result: { kind: "error", type: `exit-${s.exitCode}`, message: verdictText(r) } });
  }
  const properties: Array<[string, string]> = [
    ["ca", r.ca],
    ["verdict", VERDICT_LABEL[r.verdict]],
    ["exit-code", s ? String(s.exitCode) : ""],
    ["started", r.started ?? ""],
    ["finished", r.finished ?? ""],
  ];
  if (s) {
    properties.push(["mode", modeText(s)], ["plan", JSON.stringify(s.plan)]);
    if (s.shard) properties.push(["shard", `${s.shard.index}/${s.shard.of}`]);
    if (s.interrupted) properties.push(["interrupted", s.interrupted.signal]);
    notesOf(s).forEach((note, i) => properties.push([`note-${i + 1}`, note]));
  }
  const runMs = r.started && r.finished ? Date.parse(r.finished) - Date.parse(r.started) : NaN;
  const suiteMs = Number.isFinite(runMs) && runMs >= 0 ? runMs : r.phases.reduce((n, p) => n + (p.ms ?? 0), 0);
  return junitXml({
    name: "cardloop load revoke",
    suites: [
      {
        name: "load revoke",
        ms: suiteMs,
        ...(r.started ? { timestamp: r.started } : {}),
        id: 0,
        package: CLASSNAME,
        properties,
        cases,
        systemOut: s ? loadSummaryText(s) : phasesText(r),
      },
    ],
  });
}

function summaryCases(s: LoadSummaryData): JUnitCase[] {
  const gates = s.gates.map(
    (g): JUnitCase => ({
      name: `gate ${g.gate}`,
      classname: CLASSNAME,
      ms: 0,
      ...(g.passed ? { systemOut: gateText(g) } : { result: { kind: "failure", type: "gate", message: `${g.gate}: limit ${g.limit}, actual ${g.actual}` } }),
    }),
  );
  return [
    ...gates,
    { name: "completeness", classname: CLASSNAME, ms: 0, systemOut: completenessText(s.completeness), ...completenessResult(s.completeness) },
    { name: "errors", classname: CLASSNAME, ms: 0, systemOut: `failed serials by class: ${errorsText(s.revoke.errors)}` },
  ];
}

function completenessResult(c: LoadSummaryData["completeness"]): { result?: JUnitResult } {
  const found = [
    c.lost.length ? `${c.lost.length} lost` : "",
    c.wronglyRevoked.length ? `${c.wronglyRevoked.length} wrongly revoked` : "",
    c.wrongReason.length ? `${c.wrongReason.length} wrong reason` : "",
  ].filter(Boolean);
  if (found.length) {
    const detail = [
      ...listing("lost (acknowledged, not published)", c.lost, (l) => `${l.serial}: CRL ${l.crl}, OCSP ${l.ocsp}`),
      ...listing("wrongly revoked", c.wronglyRevoked, (serial) => serial),
      ...listing("wrong reason", c.wrongReason, (w) => `${w.serial}: expected ${w.expected}, CRL ${w.crl ?? "-"}, OCSP ${w.ocsp ?? "-"}`),
      ...(c.complete ? [] : [`verification incomplete: ${c.incompleteReason ?? "it could not run to the end"}`]),
    ].join("\n");
    return { result: { kind: "failure", type: "completeness", message: `${found.join(", ")} of ${count(c.checked)} checked`, detail } };
  }
  if (!c.complete) return { result: { kind: "error", type: "incomplete", message: `verification incomplete: ${c.incompleteReason ?? "it could not run to the end"}` } };
  return {};
}

/** A titled list of at most LIST_LIMIT lines, then how many more. */
function listing<T>(title: string, items: readonly T[], line: (item: T) => string): string[] {
  if (items.length === 0) return [];
  const { shown, more } = bounded(items);
  return [`${title} (${items.length}):`, ...shown.map((x) => `  ${line(x)}`), ...(more ? [`  ${moreText(more)}`] : []), ""];
}

function interruptedCase(r: LoadReport): JUnitCase {
  return {
    name: "load revoke run",
    classname: CLASSNAME,
    ms: 0,
    result: { kind: "error", type: "interrupted", message: r.interruptedReason ?? "no final figures" },
    systemOut: phasesText(r),
  };
}

function phasesText(r: LoadReport): string {
  if (r.phases.length === 0) return "no phase started";
  return r.phases.map((p) => `${p.phase}: ${p.finished === undefined ? "started, never finished" : `finished in ${seconds(p.ms)}`}`).join("\n");
}

/** How many lost serials the terminal lists (the files list more). */
const TERMINAL_LIST = 10;

/**
 * The lines `load revoke` prints at the end, from the summary alone: what
 * the files say, in a few lines. Text from the CA (its name, error classes,
 * serials) is shown with control characters as "?", so it cannot drive the
 * terminal.
 */
export function loadSummaryText(s: LoadSummaryData): string {
  const t = showable;
  const shard = s.shard ? ` (shard ${s.shard.index}/${s.shard.of})` : "";
  const p = s.prepare;
  const v = s.revoke;
  const lines = [
    `load revoke against ${t(s.ca)}${shard}`,
    `prepare      ${count(p.certificates)} certificates + ${count(p.control)} control (${t(p.source)}) in ${seconds(p.ms)}, ${rate(p.perSecond)}, ${count(p.failed)} failed`,
    `revoke       ${count(v.acknowledged)} acknowledged of ${count(v.serialsSent)} sent in ${count(v.requests)} requests (${modeText(s)}): ${rate(v.perSecond)} over ${seconds(v.ms)}`,
    `latency      ${percentilesText(v.latencyMs)}${v.dueNotSent ? ` (${count(v.dueNotSent)} never sent: CA behind the schedule)` : ""}`,
    ...(v.failedLatencyMs && v.failedLatencyMs.count > 0 ? [`failed in    ${percentilesText(v.failedLatencyMs)} (failed requests, apart)`] : []),
    ...channels(s).map(
      ([name, c]) =>
        `propagation  ${name.padEnd(4)} p50 ${ms(c.p50)}  p99 ${ms(c.p99)}  max ${ms(c.max)}  (${c.delaysMs.length} seen of ${count(c.watched)} watched, ${c.notSeen.length} not seen)` +
        (typeof c.note === "string" ? `: ${t(c.note)}` : ""),
    ),
    `completeness ${completenessText(s.completeness)}`,
    `errors       ${t(errorsText(v.errors))}`,
  ];
  const lost = s.completeness.lost;
  if (lost.length) {
    const { shown, more } = bounded(lost, TERMINAL_LIST);
    lines.push(`lost         ${shown.map((l) => t(l.serial)).join(", ")}${more ? ` ${moreText(more)}` : ""}`);
  }
  if (s.completeness.wronglyRevoked.length) {
    const { shown, more } = bounded(s.completeness.wronglyRevoked, TERMINAL_LIST);
    lines.push(`wrongly revoked ${shown.map(t).join(", ")}${more ? ` ${moreText(more)}` : ""}`);
  }
  for (const note of s.notes ?? []) lines.push(`note         ${t(note)}`);
  for (const g of s.gates) lines.push(`gate ${t(gateText(g))}`);
  lines.push(t(verdictText({ verdict: summaryVerdict(s), summary: s })));
  return lines.join("\n") + "\n";
}

export interface LoadReportFiles {
  json: string;
  junit: string;
  markdown: string;
  html: string;
}

/** load.json, load-junit.xml, load.md and load.html from the run log (the only input a report ever has). */
export function writeLoadReports(runLog: RunLogSource, outDir: string): { files: LoadReportFiles; summary?: LoadSummaryData; report: LoadReport } {
  const { files, report } = writeReportSet(runLog, outDir, buildLoadReport, {
    json: { file: "load.json", render: loadReportJson },
    junit: { file: "load-junit.xml", render: loadJunit },
    markdown: { file: "load.md", render: loadMarkdown },
    html: { file: "load.html", render: loadHtml },
  });
  return { files, report, ...(report.summary ? { summary: report.summary } : {}) };
}
