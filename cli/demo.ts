import { performance } from "node:perf_hooks";
import { join, relative, resolve } from "node:path";
import type { Command } from "commander";
import { scenarioSummaryText, writeReports } from "../reports/index.js";
import { libraryFiles, runFiles } from "../scenarios/index.js";
import { ExitCode, action } from "./exit.js";

export const DEFAULT_DEMO_OUT = join("reports", "out", "latest");

export function register(program: Command): void {
  program
    .command("demo")
    .description("the whole scenario library on the embedded defaults (in-memory card and reader, embedded CA), with reports")
    .option("--out <dir>", "where junit.xml, report.json, report.md and report.html go", DEFAULT_DEMO_OUT)
    .action(action(async (opts: { out: string }) => demoCommand(opts.out)));
}

export async function demoCommand(outDir: string): Promise<number> {
  const t0 = performance.now();
  const runLog = join(outDir, "run.jsonl");
  await runFiles(libraryFiles(), { runLog });
  const { files, report } = writeReports(runLog, outDir);
  const wallMs = performance.now() - t0;
  process.stdout.write(scenarioSummaryText(report, wallMs, process.cwd()));
  const rel = (p: string) => relative(process.cwd(), resolve(p)) || p;
  process.stdout.write(`JUnit: ${rel(files.junit)}  JSON: ${rel(files.json)}  Markdown: ${rel(files.markdown)}\n`);
  process.stdout.write(`HTML report: ${rel(files.html)}\n`);
  return report.totals.failed === 0 ? ExitCode.Ok : ExitCode.Failed;
}
