import { performance } from "node:perf_hooks";
import { join, relative, resolve } from "node:path";
import type { Command } from "commander";
import type { AnyEvent } from "../core/index.js";
import { writeReports, toJsonSummary, buildReport, scenarioSummaryText } from "../reports/index.js";
import { readerKinds, registerReader, runFiles } from "../scenarios/index.js";
import { VPCD_READERS, loadFaultProfile, makeVpcdSlotFactory, parseVpcdEndpoint } from "../simulator/reader/index.js";
import { addDashboardOptions, driverOutputs, openPublisher, type DashboardCliOptions } from "./dashboard-option.js";
import { ExitCode, action, usage } from "./exit.js";
import { registerScenarioTargets } from "./scenario-targets.js";

interface RunCliOptions extends DashboardCliOptions {
  ca?: string;
  caConfig?: string;
  reader?: string;
  vpcd?: string;
  seed?: string;
  faults?: string;
  out?: string;
  json?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command("run")
    .description("run scenario files: exit 0 when every expectation holds, 1 when one fails, 2 on unusable input")
    .argument("<scenario...>", "scenario YAML files")
    .option("--ca <target>", "CA to run against: embedded, or the URL of a served CA (`cardloop ca serve --virtual-clock`); overrides the files")
    .option("--ca-config <file>", "YAML for a served CA (--ca or the files' `ca: http://...`): raToken (the issuing station's) and operatorToken, as `cardloop ca serve` wrote them")
    .option(
      "--reader <kind>",
      'reader kind (overrides the files): memory, or pcsc / "pcsc:Virtual PCD 00 0x": each scenario card is put into vpcd and driven through pcscd',
    )
    .option("--vpcd <host:port|unix:path>", "where pcscd's vpcd takes cards, for pcsc readers (default $CARDLOOP_VPCD, then 127.0.0.1:35963)")
    .option("--seed <n>", "seed for every scenario (overrides the files)")
    .option("--faults <file>", "fault profile (YAML: drop, lose-answer, sw, delay, remove, tearing) for every card's reader; replaces the files' own `faults:`")
    .option("--out <dir>", "write run.jsonl, junit.xml, report.json, report.md and report.html here")
    .option("--json", "print the JSON summary on stdout instead of text");
  addDashboardOptions(cmd).action(action(async (files: string[], opts: RunCliOptions) => runCommand(files, opts)));
}

export async function runCommand(files: string[], opts: RunCliOptions): Promise<number> {
  const seed = opts.seed === undefined ? undefined : /^\d+$/.test(opts.seed) ? Number(opts.seed) : usage(`--seed must be a non-negative integer, got "${opts.seed}"`);
  // A bad profile is one line and exit 2 before anything runs.
  const faults = opts.faults === undefined ? undefined : loadFaultProfile(opts.faults);
  registerPcscReader(opts);
  await registerScenarioTargets({ caConfig: opts.caConfig });
  const runLog = opts.out ? join(opts.out, "run.jsonl") : undefined;
  const publisher = await openPublisher(opts, "scenario", runLog && resolve(runLog));
  // The run log is written through `out`, not by runFiles, so that SIGINT and SIGTERM can close it.
  const out = driverOutputs(runLog, publisher);
  return out.guard(async () => {
    const t0 = performance.now();
    // A warning (a --faults profile's card missing from a file, a seeded CA that cannot be reproducible) is in the
    // run log, and said on stderr too: a run that passes should not hide why it proved less than it seems.
    const sink = (e: AnyEvent) => {
      if (e.type === "log.message" && e.data.level === "warn") process.stderr.write(`cardloop: warning: ${e.data.message}\n`);
      out.sink(e);
    };
    const run = await out.settle(runFiles(files, { ca: opts.ca, reader: opts.reader, seed, faults, sink }));
    const wallMs = performance.now() - t0;
    // Reports are built from the run log (or the same events in memory), never from the engine's results.
    const written = opts.out ? writeReports(join(opts.out, "run.jsonl"), opts.out) : undefined;
    const report = written?.report ?? buildReport(run.events);
    if (opts.json) process.stdout.write(toJsonSummary(report));
    else {
      process.stdout.write(scenarioSummaryText(report, wallMs, process.cwd()));
      if (written) process.stdout.write(`reports: ${relative(process.cwd(), opts.out!) || "."}/ (junit.xml, report.json, report.md, report.html)\n`);
    }
    return report.totals.failed === 0 ? ExitCode.Ok : ExitCode.Failed;
  });
}

/**
 * The "pcsc" reader kind. A scenario makes its own emulated cards, so on a
 * PC/SC reader each card goes in through vpcd (this process is the card side,
 * pcscd and pcsclite the host side); nothing else may sit in that reader.
 * Checked here, before any scenario starts, so a bad choice is one line and exit 2.
 */
function registerPcscReader(opts: RunCliOptions): void {
  const spec = opts.reader;
  if (spec !== undefined) {
    const kind = spec.split(":")[0];
    if (!readerKinds().includes(kind) && kind !== "pcsc") usage(`unknown reader "${spec}": use memory, pcsc or pcsc:NAME`);
    if (kind === "pcsc" && spec.length > "pcsc:".length) {
      const name = spec.slice("pcsc:".length);
      if (!(VPCD_READERS as readonly string[]).includes(name)) {
        usage(`scenario cards are emulated: they go into a vpcd reader (${VPCD_READERS.join(", ")}), not "${name}"`);
      }
    }
    if (kind !== "pcsc" && opts.vpcd !== undefined) usage("--vpcd only goes with a pcsc reader (--reader pcsc or pcsc:NAME)");
  }
  if (opts.vpcd !== undefined) parseVpcdEndpoint(opts.vpcd); // a bad endpoint is a usage error now, not a failed scenario later
  registerReader("pcsc", makeVpcdSlotFactory({ vpcd: opts.vpcd ?? process.env.CARDLOOP_VPCD }));
}
