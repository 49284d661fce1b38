import { readFileSync } from "node:fs";
import { Command } from "commander";
import { UsageError, errorMessage, fromHex } from "../core/index.js";
import { CardFile } from "../simulator/card/index.js";
import { applyFaults, loadFaultProfile, openReader, type OpenedReader, type Reader } from "../simulator/reader/index.js";
import { checkReplayable, importTrace, replayTrace, type ReplayedExchange, type Trace } from "../simulator/trace/index.js";
import { ExitCode, action } from "./exit.js";
import { secretsFromEnvironment } from "./secret-options.js";

/**
 * `cardloop replay TRACE (--card FILE | --reader pcsc:NAME) [--pin ..]
 * [--puk ..] [--management-key HEX] [--trace-reader NAME] [--keep-going]
 * [--json] [--faults PROFILE]`: sends a trace's logical commands to a card in
 * order and compares each answer with the recorded one (simulator/trace/replay.ts).
 * A reader or card failing mid-exchange (an injected fault, a card pulled) is
 * a divergence like any other answer that differs.
 * Exits: 0 every answer as recorded (or equivalent), 1 a divergence, 2 unusable
 * input (bad file, masked PIN without a PIN, a multi-reader trace without
 * --trace-reader, card file busy), with one line on stderr.
 */

interface ReplayCliOptions {
  card?: string;
  reader?: string;
  pin?: string;
  puk?: string;
  managementKey?: string;
  traceReader?: string;
  keepGoing?: boolean;
  json?: boolean;
  faults?: string;
  timeout: string;
}

export function register(program: Command): void {
  if (program.commands.some((c) => c.name() === "replay")) return;
  program
    .command("replay")
    .description("send a trace's commands to a card in order and compare each answer with the recorded one")
    .argument("<trace>", "a cardloop trace (JSON Lines, from `cardloop trace import` or a recording); a raw log `trace import` reads (pcscd -a, pcsc-spy, OpenSC, scriptor, run log) is imported on the fly")
    .option("--card <file>", "replay against this card file, in this process (held by this session alone, changes kept)")
    .option("--reader <name>", 'replay against the card in a PC/SC reader: pcsc:NAME (e.g. "pcsc:Virtual PCD 00 00")')
    .option("--pin <pin>", "the PIN to send where the trace masked one (VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER); default: $CARDLOOP_PIN")
    .option("--puk <puk>", "the PUK to send where the trace masked one; default: $CARDLOOP_PUK")
    .option("--management-key <hex>", "the card management key (9B) for the authentications in the trace; default: $CARDLOOP_MANAGEMENT_KEY, else the well-known 010203..08 3DES")
    .option("--trace-reader <name>", "for a trace naming several readers: replay only this reader's exchanges (required then)")
    .option("--keep-going", "go on after a divergence (default: stop at the first)")
    .option("--json", "one JSON object per exchange, then a summary object")
    .option("--faults <profile>", "inject the faults of a profile (YAML: drop, lose-answer, sw, delay, remove; tearing with --card) between this replay and the card")
    .option("--timeout <ms>", "pcsc: how long to wait for the reader and for a card in it", "10000")
    .addHelpText(
      "after",
      [
        "",
        "Signatures, management-key proofs, generated keys and GET CHALLENGE answers differ on every run: they are",
        "compared by structure and length, and a signature is verified with the certificate the trace read for its key.",
        "A masked PIN changed by CHANGE REFERENCE DATA is set to the same PIN again (the trace's new PIN is unknown).",
        "The PIN and PUK given are never printed: exchanges are shown as recorded (masked). Give them in the environment",
        "(CARDLOOP_PIN, CARDLOOP_PUK, CARDLOOP_MANAGEMENT_KEY) to keep them off the command line, which other users see in ps.",
        "A reader or card failing mid-exchange (--faults drop, lose-answer, remove; a card pulled) is a divergence:",
        "\"transmission failed: ...\"; with --keep-going the replay connects again and goes on.",
        "Exit status: 0 every answer as recorded, 1 a divergence, 2 unusable input (bad file, masked PIN without --pin,",
        "a trace naming several readers without --trace-reader, card file busy).",
      ].join("\n"),
    )
    .action(action((file: string, opts: ReplayCliOptions) => runReplay(file, opts)));
}

async function runReplay(file: string, opts: ReplayCliOptions): Promise<number> {
  if ((opts.card === undefined) === (opts.reader === undefined)) throw new UsageError("give one of --card FILE or --reader pcsc:NAME");
  if (opts.reader !== undefined && !opts.reader.startsWith("pcsc:")) throw new UsageError(`unknown reader "${opts.reader}": use pcsc:NAME (or --card FILE)`);
  const timeoutMs = Number(opts.timeout);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new UsageError(`--timeout must be a positive integer (ms), not "${opts.timeout}"`);
  const secrets = secretsFromEnvironment(opts);
  const managementKey = secrets.managementKey === undefined ? undefined : parseKey(secrets.managementKey);
  const faults = opts.faults === undefined ? undefined : loadFaultProfile(opts.faults);
  const trace = readInput(file);
  // Everything the trace needs from the user is checked before the card is touched.
  checkReplayable(trace, { pin: secrets.pin, puk: secrets.puk, managementKey, traceReader: opts.traceReader });

  const cardFile = opts.card !== undefined ? CardFile.open(opts.card) : undefined;
  let opened: OpenedReader | undefined;
  const out = (line: string) => process.stdout.write(line + "\n");
  try {
    // With faults, the card file's card is the tearing card model (its memory the file), so a profile may tear its writes.
    const tear = cardFile && faults ? cardFile.tearing(faults.tearing) : undefined;
    opened = await openReader(opts.reader ?? "memory", { card: tear ?? cardFile?.card, name: "cardloop replay", pcsc: { timeoutMs } });
    await opened.waitForCard(timeoutMs);
    // A PC/SC reader's card cannot be torn by software: applyFaults refuses a tearing profile without the card model.
    const reader: Reader = faults === undefined ? opened.reader : applyFaults(opened.reader, faults, { tear });
    const report = await replayTrace(trace, reader, {
      pin: secrets.pin,
      puk: secrets.puk,
      managementKey,
      traceReader: opts.traceReader,
      keepGoing: opts.keepGoing,
      onExchange: (r) => (opts.json ? out(JSON.stringify(r)) : printExchange(r, out)),
    });
    const { divergences: _, ...summary } = report;
    if (opts.json) out(JSON.stringify({ summary }));
    else {
      const why = report.cardUnreachable ? "the card cannot be connected again" : "--keep-going goes on";
      const stopped = report.replayed < report.steps ? `, stopped after ${report.replayed} of ${report.steps} (${why})` : "";
      out(
        `# ${report.outcome === "same" ? "no divergence" : `${report.diverged} divergence${report.diverged === 1 ? "" : "s"}`}: ` +
          `${report.same} same, ${report.equivalent} equivalent, ${report.diverged} diverged${stopped}`,
      );
    }
    return report.outcome === "same" ? ExitCode.Ok : ExitCode.Failed;
  } finally {
    await opened?.close();
    cardFile?.close();
  }
}

/** A cardloop trace, or any log `trace import` detects, imported here (secrets masked the same way). */
function readInput(file: string): Trace {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
  }
  return importTrace(text, { source: file }).trace;
}

function parseKey(hex: string): Uint8Array {
  let key: Uint8Array;
  try {
    key = fromHex(hex.replace(/[\s:]/g, ""));
  } catch {
    throw new UsageError("--management-key must be hex");
  }
  if (![16, 24, 32].includes(key.length)) throw new UsageError(`--management-key must be 16, 24 or 32 bytes, not ${key.length}`);
  return key;
}

const SHOWN_BYTES = 48;

/** Hex shortened for a terminal: the first bytes and the length. */
function short(hex: string): string {
  if (hex.length <= SHOWN_BYTES * 2) return hex;
  return `${hex.slice(0, SHOWN_BYTES * 2)}... (${hex.length / 2} bytes)`;
}

/** One line per exchange; a divergence gets the exchange, both answers and what differs. */
export function printExchange(r: ReplayedExchange, out: (line: string) => void): void {
  const where = r.line !== undefined ? ` [line ${r.line}]` : "";
  const sw = r.kind === "apdu" ? ` -> ${r.replayed.sw}` : "";
  const mark = r.verdict === "same" ? " " : r.verdict === "equivalent" ? "~" : "!";
  out(`${mark} ${String(r.index).padStart(4)} ${r.description}${sw}${r.verdict === "equivalent" && r.reason ? ` (${r.reason})` : ""}`);
  if (r.verdict !== "diverged") return;
  out(`  diverged${where}: ${r.reason ?? "the answer differs"}`);
  if (r.kind === "apdu") out(`  command   ${short(r.command)}${r.masked ? ` (${r.masked} masked)` : ""}`);
  out(`  recorded  ${short(r.recorded.response)}${r.recorded.response ? " " : ""}${r.recordedSw}`);
  out(`  replayed  ${short(r.replayed.response)}${r.replayed.response ? " " : ""}${r.replayedSw}`);
  if (r.difference) out(`  differs   ${r.difference.text}`);
}
