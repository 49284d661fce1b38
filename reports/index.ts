import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadRunLog, makeDirs, type RunLogSource } from "../core/index.js";
import { toHtml } from "./html.js";
import { toJsonSummary } from "./json.js";
import { toJUnit } from "./junit.js";
import { toMarkdown } from "./markdown.js";
import { buildReport, type Report } from "./model.js";

export { buildReport, failureLine, apduPercentile, type Report, type RunReport, type StepReport } from "./model.js";
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
  const report = buildReport(loadRunLog(runLog));
  makeDirs(outDir);
  const files: ReportFiles = {
    junit: join(outDir, "junit.xml"),
    json: join(outDir, "report.json"),
    markdown: join(outDir, "report.md"),
    html: join(outDir, "report.html"),
  };
  writeFileSync(files.junit, toJUnit(report));
  writeFileSync(files.json, toJsonSummary(report));
  writeFileSync(files.markdown, toMarkdown(report));
  writeFileSync(files.html, toHtml(report));
  return { files, report };
}

// certify's reports: one row per check.* event pair, from the run log as well.
export { buildCertifyReport, type CertifyReport, type CheckRow } from "./certify-model.js";
export { writeCertifyReports, certifyJUnit, certifyMarkdown, certifyHtml } from "./certify-writers.js";

// qualify-reader's reports: criteria from check.* events, figures from qualify.* events.
export {
  buildQualificationReport,
  type QualificationReport,
  type CriterionResult,
  type AtrInfo,
  type Throughput,
  type QualifyStartedData,
  type QualifyCardData,
  type QualifySamplesData,
} from "./qualify-model.js";
export { writeQualificationReports, qualificationJson, qualificationJunit, qualificationHtml, type QualificationReportFiles } from "./qualify-writers.js";

// What the CLI prints at the end, from the same models.
export { scenarioSummaryText, certifySummaryText, qualificationSummaryText } from "./text.js";
