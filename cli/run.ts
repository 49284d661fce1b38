import { performance } from "node:perf_hooks";
import { join, relative, resolve } from "node:path";
import type { Command } from "commander";
import { writeReports, toJsonSummary, buildReport, scenarioSummaryText } from "../reports/index.js";
import { UsageError, errorMessage } from "../core/index.js";
import { readerKinds, registerCaTarget, registerReader, runFiles, type OpenedCa } from "../scenarios/index.js";
import { VPCD_READERS, makeVpcdSlotFactory, parseVpcdEndpoint } from "../simulator/reader/index.js";
import { addDashboardOptions, driverOutputs, openPublisher, type DashboardCliOptions } from "./dashboard-option.js";
import { ExitCode, action, usage } from "./exit.js";

/**
 * A served embedded CA (`cardloop ca serve --virtual-clock`) through the HTTP
 * CaAdapter, for `--ca http://...` or a scenario file's `ca: http://...`.
 * Scenarios move time, so the served CA must let its clock be moved; the run
 * starts at the CA's time and moves it along. Called by runCommand, once per
 * process as the command runs once (the scenarios know only the embedded CA
 * themselves). `--ca-config` (the served CA's raToken, to issue, and
 * operatorToken, for operator steps) is read and checked here, once: a bad
 * file is one line and exit 2 before any scenario starts. Only URL targets get
 * it: the embedded CA of a scenario has its own tokens.
 */
async function registerHttpCaTarget(caConfig: string | undefined): Promise<void> {
  const config = caConfig === undefined ? {} : (await import("../conformance/index.js")).readHttpCaConfig(caConfig);
  registerCaTarget(
    (target) => /^https?:\/\//.test(target),
    async (url): Promise<OpenedCa> => {
      const { HttpCa } = await import("../conformance/index.js");
      const base = url.replace(/\/$/, "");
      let ca;
      try {
        ca = await HttpCa.connect({ ...config, url: base });
      } catch (err) {
        if (err instanceof UsageError) throw err;
        throw new UsageError(`CA target ${base}: ${errorMessage(err)}`);
      }
      const clock = (await (await fetch(`${base}/api/v1/clock`)).json()) as { now?: string; virtual?: boolean };
      if (!clock.virtual || !clock.now) {
        await ca.close();
        throw new UsageError(`CA target ${base} keeps real time, and scenarios move time: serve it with \`cardloop ca serve --virtual-clock\``);
      }
      return {
        ca,
        now: new Date(clock.now),
        shared: true,
        advanceTo: async (time) => {
          // Moving the CA's time is the operator's: the token from --ca-config.
          const headers: Record<string, string> = { "content-type": "application/json" };
          const operatorToken = ca.credentials?.().operatorToken;
          if (operatorToken) headers.authorization = `Bearer ${operatorToken}`;
          const res = await fetch(`${base}/api/v1/clock`, { method: "POST", headers, body: JSON.stringify({ to: time.toISOString() }) });
          if (!res.ok) throw new Error(`CA at ${base} refused to move its clock to ${time.toISOString()}: HTTP ${res.status} ${await res.text()}`);
        },
      };
    },
  );
}

interface RunCliOptions extends DashboardCliOptions {
  ca?: string;
  caConfig?: string;
  reader?: string;
  vpcd?: string;
  seed?: string;
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
    .option("--out <dir>", "write run.jsonl, junit.xml, report.json, report.md and report.html here")
    .option("--json", "print the JSON summary on stdout instead of text");
  addDashboardOptions(cmd).action(action(async (files: string[], opts: RunCliOptions) => runCommand(files, opts)));
}

export async function runCommand(files: string[], opts: RunCliOptions): Promise<number> {
  const seed = opts.seed === undefined ? undefined : /^\d+$/.test(opts.seed) ? Number(opts.seed) : usage(`--seed must be a non-negative integer, got "${opts.seed}"`);
  registerPcscReader(opts);
  await registerHttpCaTarget(opts.caConfig);
  const runLog = opts.out ? join(opts.out, "run.jsonl") : undefined;
  const publisher = await openPublisher(opts, "scenario", runLog && resolve(runLog));
  // The run log is written through `out`, not by runFiles, so that SIGINT and SIGTERM can close it.
  const out = driverOutputs(runLog, publisher);
  return out.guard(async () => {
    const t0 = performance.now();
    const run = await out.settle(runFiles(files, { ca: opts.ca, reader: opts.reader, seed, sink: out.sink }));
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
