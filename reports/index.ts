import type { RunLogSource } from "../core/index.js";
import { toHtml } from "./html.js";
import { toJsonSummary } from "./json.js";
import { toJUnit } from "./junit.js";
import { toMarkdown } from "./markdown.js";
import { buildReport, type Report } from "./model.js";
import { writeReportSet } from "./report-set.js";

// The models and the certify wording (also the page's, through browser.ts).
export * from "./browser.js";
export { toJUnit } from "./junit.js";
export { toJsonSummary } from "./json.js";
export { toMarkdown } from "./markdown.js";
export { toHtml } from "./html.js";

export interface ReportFiles {
  junit: string;
  json: string;
  markdown: string;
  html: string;
}

/** Every report from one run log (the only input reports ever have). */
export function writeReports(runLog: RunLogSource, outDir: string): { files: ReportFiles; report: Report } {
  return writeReportSet(runLog, outDir, buildReport, {
    junit: { file: "junit.xml", render: toJUnit },
    json: { file: "report.json", render: toJsonSummary },
    markdown: { file: "report.md", render: toMarkdown },
    html: { file: "report.html", render: toHtml },
  });
}

// certify's reports: one row per check.* event pair, from the run log as well.
export { writeCertifyReports, certifyJUnit, certifyJson, certifyMarkdown, certifyHtml } from "./certify-writers.js";

// qualify-reader's reports: criteria from check.* events, figures from qualify.* events.
export { writeQualificationReports, qualificationJson, qualificationJunit, qualificationHtml } from "./qualify-writers.js";

// What the CLI prints at the end, from the same models.
export { scenarioSummaryText, certifySummaryText, qualificationSummaryText } from "./text.js";

// load revoke's reports: the load.summary event's figures, the metric samples for the charts.
export { buildLoadReport, summaryProblem, type LoadReport, type LoadVerdict, type LoadSeries, type LoadPoint, type LoadPhaseTiming } from "./load-model.js";
export { writeLoadReports, loadReportFromRunLog, loadJson, loadReportJson, loadJunit, loadMarkdown, loadHtml, loadSummaryText, type LoadReportFiles } from "./load-writers.js";
