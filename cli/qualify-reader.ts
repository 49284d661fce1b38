import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Command, Option } from "commander";
import { EventBus, RunLogWriter, SystemClock, UsageError, addYears, errorMessage, fromHex, withDeadline, type AnyEvent } from "../core/index.js";
import { DEFAULT_THRESHOLDS, qualifyReader, type CardActuator, type Thresholds } from "../conformance/index.js";
import { buildQualificationReport, qualificationJson, qualificationSummaryText, writeQualificationReports } from "../reports/index.js";
import { CardFile, PivCard } from "../simulator/card/index.js";
import { PcscReader, VpcdBridge, parseVpcdEndpoint, type Reader } from "../simulator/reader/index.js";
import { PivClient } from "../simulator/terminal/index.js";
import { addDashboardOptions, dashboardUrl, openPublisher, type DashboardCliOptions } from "./dashboard-option.js";
import { ExitCode, action } from "./exit.js";

interface QualifyCliOptions extends DashboardCliOptions {
  reader: string;
  iterations: string;
  json?: boolean;
  out?: string;
  emulatedCard?: boolean;
  card?: string;
  vpcd?: string;
  interactive?: boolean;
  managementKey?: string;
  managementAlg: "3des" | "aes128" | "aes192" | "aes256";
  thresholds?: string;
  maxP95Ms?: string;
  maxP99Ms?: string;
  minApdusPerSec?: string;
  timeout: string;
}

/**
 * `cardloop qualify-reader --reader NAME`: qualifies a PC/SC reader with a PIV
 * reference card. With `--emulated-card` the reference card is cardloop's own,
 * attached through vpcd (so `--reader "Virtual PCD 00 00"` qualifies the whole
 * virtual stack, removal included); otherwise a real card sits in the reader
 * and `--interactive` asks the operator to remove and reinsert it.
 */
export function register(program: Command): void {
  const cmd = program
    .command("qualify-reader")
    .description("qualify a PC/SC card reader with a PIV reference card: pass/fail per criterion, latency, reports")
    .requiredOption("--reader <name>", 'PC/SC reader name (or "pcsc:NAME"), e.g. "Virtual PCD 00 00"')
    .option("--iterations <n>", "APDUs in the long run", "1000")
    .option("--json", "print the report as JSON on stdout")
    .option("--out <dir>", "write qualification.json, junit.xml, report.html and run.jsonl there")
    .option("--emulated-card", "use cardloop's emulated PIV card through vpcd as the reference card")
    .option("--card <file>", "card file for --emulated-card (default: a fresh card; the file is saved back)")
    .option("--vpcd <host:port|unix:path>", "vpcd endpoint for --emulated-card (default 127.0.0.1:35963)")
    .option("--interactive", "ask the operator to remove and reinsert a real card")
    .option("--management-key <hex>", "the reference card's management key (default: the 0102..08 test key)")
    .addOption(new Option("--management-alg <alg>", "management key algorithm").choices(["3des", "aes128", "aes192", "aes256"]).default("3des"))
    .option("--thresholds <file>", "JSON file with threshold overrides (maxP95Ms, maxP99Ms, minApdusPerSecond, maxLongRunErrors, presenceTimeoutMs)")
    .option("--max-p95-ms <ms>", `p95 round trip limit per APDU class (default ${DEFAULT_THRESHOLDS.maxP95Ms})`)
    .option("--max-p99-ms <ms>", `p99 round trip limit per APDU class (default ${DEFAULT_THRESHOLDS.maxP99Ms})`)
    .option("--min-apdus-per-sec <n>", `long-run throughput floor (default ${DEFAULT_THRESHOLDS.minApdusPerSecond})`)
    .option("--timeout <ms>", "how long to wait for the reader and the card", "10000");
  addDashboardOptions(cmd).action(action(qualifyCommand));
}

async function qualifyCommand(opts: QualifyCliOptions): Promise<number> {
  const name = opts.reader.startsWith("pcsc:") ? opts.reader.slice(5) : opts.reader;
  if (!name) throw new UsageError("--reader needs a reader name");
  const iterations = positiveInt(opts.iterations, "--iterations");
  const timeoutMs = positiveInt(opts.timeout, "--timeout");
  const thresholds = readThresholds(opts);
  const managementKey = opts.managementKey !== undefined ? hexKey(opts.managementKey) : undefined;
  if (opts.card && !opts.emulatedCard) throw new UsageError("--card only goes with --emulated-card");
  if (opts.emulatedCard && opts.interactive) throw new UsageError("--interactive is for real cards, not --emulated-card");
  dashboardUrl(opts); // a bad URL is a usage error now, before the run log is created

  const clock = new SystemClock();
  const bus = new EventBus(clock);
  // The report is built from the run log: the file with --out, else the same events kept in memory
  // (only then: a long run's samples are not held twice).
  const runLogPath = opts.out ? join(opts.out, "run.jsonl") : undefined;
  const runLog = runLogPath ? new RunLogWriter(runLogPath).attach(bus) : undefined;
  const events: AnyEvent[] | undefined = runLog ? undefined : [];
  if (events) bus.on((e) => events.push(e));
  const publisher = (await openPublisher(opts, "qualify-reader", runLogPath && resolve(runLogPath)))?.attach(bus);
  bus.emit("run.started", { name: `qualify-reader ${name}`, kind: "qualify-reader" });

  let bridge: VpcdBridge | undefined;
  // A card file is locked for the run and keeps every change before the card answers it.
  let file: CardFile | undefined;
  let reader: PcscReader | undefined;
  try {
    if (opts.emulatedCard) {
      if (opts.card && !existsSync(opts.card)) throw new UsageError(`no card file ${opts.card}`);
      file = opts.card ? CardFile.open(opts.card) : undefined;
      const card = file?.card ?? PivCard.create({ expires: addYears(clock.now(), 5) });
      bridge = new VpcdBridge(card, parseVpcdEndpoint(opts.vpcd));
    }
    reader = await PcscReader.open(name, { timeoutMs });
    if (bridge) await withDeadline(bridge.insert(), timeoutMs, () => new UsageError(`vpcd at ${bridge!.endpoint} did not accept the card within ${timeoutMs} ms`));
    if (!reader.present) process.stderr.write(`waiting for a card in "${name}"...\n`);
    await reader.waitForCard(timeoutMs);
    const actuator: CardActuator | undefined = bridge
      ? { remove: () => bridge!.remove(), insert: () => bridge!.insert() }
      : opts.interactive
        ? operatorActuator(name)
        : undefined;
    const qualification = await qualifyReader(reader, {
      iterations,
      thresholds,
      actuator,
      bus,
      authenticate: (r: Reader) => new PivClient(r).authenticate(managementKey ?? fromHex("010203040506070801020304050607080102030405060708"), opts.managementAlg),
      progress: opts.json ? undefined : (m) => process.stderr.write(`  ${m}\n`),
    });
    bus.emit("run.finished", { outcome: qualification.outcome, summary: { reader: name, criteria: qualification.criteria.length } });
    runLog?.close();
    // What is printed and the exit code come from the report rebuilt from the run log, as the files do.
    const written = runLogPath ? writeQualificationReports(runLogPath, opts.out!) : undefined;
    const report = written?.report ?? buildQualificationReport(events!);
    if (written && !opts.json) process.stdout.write(`reports: ${written.files.json} ${written.files.junit} ${written.files.html}\n`);
    process.stdout.write(opts.json ? qualificationJson(report) : qualificationSummaryText(report));
    return report.outcome === "pass" ? ExitCode.Ok : ExitCode.Failed;
  } finally {
    runLog?.close();
    // After the run log is closed; the dashboard's last batch goes while the reader and the card are put away.
    const published = publisher?.close();
    try {
      await reader?.close();
      if (bridge) await bridge.close();
      file?.close();
    } finally {
      await published;
    }
  }
}

/** A person moves the card; no answer is read: the reader's presence event is the answer. */
function operatorActuator(reader: string): CardActuator {
  const ask = async (what: string) => {
    process.stderr.write(`>> ${what} "${reader}" (the check waits for the reader to report it)\n`);
  };
  return { remove: () => ask("Remove the card from"), insert: () => ask("Insert the card into") };
}

function readThresholds(opts: QualifyCliOptions): Partial<Thresholds> {
  let t: Partial<Thresholds> = {};
  if (opts.thresholds) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(opts.thresholds, "utf8"));
    } catch (err) {
      throw new UsageError(`cannot read thresholds ${opts.thresholds}: ${errorMessage(err)}`);
    }
    if (typeof parsed !== "object" || parsed === null) throw new UsageError(`${opts.thresholds}: expected a JSON object`);
    for (const [k, v] of Object.entries(parsed)) {
      if (!(k in DEFAULT_THRESHOLDS)) throw new UsageError(`${opts.thresholds}: unknown threshold "${k}"`);
      if (typeof v !== "number" || !(v >= 0)) throw new UsageError(`${opts.thresholds}: "${k}" must be a non-negative number`);
    }
    t = parsed as Partial<Thresholds>;
  }
  if (opts.maxP95Ms !== undefined) t.maxP95Ms = positiveNumber(opts.maxP95Ms, "--max-p95-ms");
  if (opts.maxP99Ms !== undefined) t.maxP99Ms = positiveNumber(opts.maxP99Ms, "--max-p99-ms");
  if (opts.minApdusPerSec !== undefined) t.minApdusPerSecond = positiveNumber(opts.minApdusPerSec, "--min-apdus-per-sec");
  return t;
}

function positiveInt(s: string, flag: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer, not "${s}"`);
  return n;
}

function positiveNumber(s: string, flag: string): number {
  const n = Number(s);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a positive number, not "${s}"`);
  return n;
}

function hexKey(s: string): Uint8Array {
  if (!/^([0-9a-fA-F]{2})+$/.test(s)) throw new UsageError("--management-key must be hex");
  return fromHex(s);
}
