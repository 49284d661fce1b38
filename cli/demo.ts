import { performance } from "node:perf_hooks";
import { join, relative, resolve } from "node:path";
import type { Command } from "commander";
import { scenarioSummaryText, writeReports } from "../reports/index.js";
import { libraryFiles, runFiles } from "../scenarios/index.js";
import { addDashboardOptions, driverOutputs, openPublisher, type DashboardCliOptions } from "./dashboard-option.js";
import { ExitCode, action, usage } from "./exit.js";

export const DEFAULT_DEMO_OUT = join("reports", "out", "latest");

export function register(program: Command): void {
  const cmd = program
    .command("demo")
    .description("the whole scenario library on the embedded defaults (in-memory card and reader, embedded CA), with reports")
    .option("--out <dir>", "where junit.xml, report.json, report.md and report.html go", DEFAULT_DEMO_OUT)
    .option("--seed <n>", "one seed for every scenario instead of each file's own (the same seed gives the same run log, durations apart)");
  addDashboardOptions(cmd).action(
    action(async (opts: { out: string; seed?: string } & DashboardCliOptions) => demoCommand(opts.out, opts, parseSeed(opts.seed))),
  );
}

/** --seed: a non-negative integer (as `run --seed`); absent: each scenario file's own seed. */
function parseSeed(seed: string | undefined): number | undefined {
  if (seed === undefined) return undefined;
  return /^\d+$/.test(seed) && Number.isSafeInteger(Number(seed)) ? Number(seed) : usage(`--seed must be a non-negative integer, got "${seed}"`);
}

export async function demoCommand(outDir: string, dashboard: DashboardCliOptions = {}, seed?: number): Promise<number> {
  const runLog = join(outDir, "run.jsonl");
  const publisher = await openPublisher(dashboard, "scenario", resolve(runLog));
  // The run log is written through `out`, not by runFiles, so that SIGINT and SIGTERM can close it.
  const out = driverOutputs(runLog, publisher);
  return out.guard(async () => {
    const t0 = performance.now();
    await out.settle(runFiles(libraryFiles(), { sink: out.sink, ...(seed === undefined ? {} : { seed }) }));
    const { files, report } = writeReports(runLog, outDir);
    const wallMs = performance.now() - t0;
    process.stdout.write(scenarioSummaryText(report, wallMs, process.cwd()));
    const rel = (p: string) => relative(process.cwd(), resolve(p)) || p;
    process.stdout.write(`JUnit: ${rel(files.junit)}  JSON: ${rel(files.json)}  Markdown: ${rel(files.markdown)}\n`);
    process.stdout.write(`HTML report: ${rel(files.html)}\n`);
    return report.totals.failed === 0 ? ExitCode.Ok : ExitCode.Failed;
  });
}
