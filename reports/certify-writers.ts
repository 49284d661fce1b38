import type { RunLogSource } from "../core/index.js";
import { buildCertifyReport, type CertifyReport } from "./certify-model.js";
import { certifyHtml } from "./certify-html.js";
import { certifyJUnit } from "./certify-junit.js";
import { certifyMarkdown } from "./certify-markdown.js";
import { writeReportSet } from "./report-set.js";

export { certifyHtml } from "./certify-html.js";
export { certifyJUnit } from "./certify-junit.js";
export { certifyMarkdown } from "./certify-markdown.js";

/** The whole model, for tools: the same object `certify --json` prints. */
export function certifyJson(r: CertifyReport): string {
  return JSON.stringify(r, null, 2) + "\n";
}

export interface CertifyReportFiles {
  junit: string;
  json: string;
  markdown: string;
  html: string;
}

/** All four reports, from the run log (the only input a report ever has). */
export function writeCertifyReports(runLog: RunLogSource, outDir: string): { files: CertifyReportFiles; report: CertifyReport } {
  return writeReportSet(runLog, outDir, buildCertifyReport, {
    junit: { file: "junit.xml", render: certifyJUnit },
    json: { file: "certify.json", render: certifyJson },
    markdown: { file: "certify.md", render: certifyMarkdown },
    html: { file: "certify.html", render: certifyHtml },
  });
}
