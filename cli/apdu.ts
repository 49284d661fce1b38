import { readFileSync } from "node:fs";
import { Command } from "commander";
import {
  EventBus,
  RunLogWriter,
  SystemClock,
  UsageError,
  decodeCommand,
  errorMessage,
  fromHex,
  maskCommand,
  maskExchange,
  swHex,
  toHex,
} from "../core/index.js";
import { CardFile } from "../simulator/card/index.js";
import { ReaderError, TracedReader, applyFaults, loadFaultProfile, openReader, type OpenedReader, type Reader } from "../simulator/reader/index.js";
import { ExitCode, action } from "./exit.js";

/** One step of an APDU session: a command (with an optional expected SW) or a card reset. */
export type ScriptStep =
  | { kind: "apdu"; command: Uint8Array; text: string; expect?: string; line: number }
  | { kind: "reset"; line: number };

/**
 * Script lines, in the spirit of pcsc-tools' scriptor: one APDU per line in
 * hex (spaces allowed), `#` starts a comment, `reset` powers the card again.
 * An expected status word may follow the APDU as a last 4-digit token, with
 * `x` as a wildcard digit (`9000`, `63Cx`, `61xx`); it is taken as one only
 * when the bytes before it form a well-formed command.
 */
export function parseScript(text: string, source = "script"): ScriptStep[] {
  const steps: ScriptStep[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/#.*/, "").trim();
    if (line === "") continue;
    if (/^reset$/i.test(line)) {
      steps.push({ kind: "reset", line: i + 1 });
      continue;
    }
    steps.push({ ...parseApduText(line, `${source}:${i + 1}`), kind: "apdu", line: i + 1 });
  }
  return steps;
}

export function parseApduText(text: string, where: string): { command: Uint8Array; text: string; expect?: string } {
  const tokens = text.trim().split(/\s+/);
  const last = tokens[tokens.length - 1];
  if (tokens.length > 1 && /^[0-9a-fA-F]{2}[0-9a-fA-FxX]{2}$/.test(last)) {
    const head = tokens.slice(0, -1).join("");
    const bytes = tryHex(head);
    if (bytes && wellFormed(bytes)) return { command: bytes, text: head.toUpperCase(), expect: last.toUpperCase() };
  }
  const all = tokens.join("");
  const bytes = tryHex(all);
  // The message points at the fault but never quotes the line: it may hold a PIN or a key.
  if (!bytes) {
    const bad = text.search(/[^0-9a-fA-F\s]/);
    throw new UsageError(
      bad >= 0 ? `${where}: not hex (character ${bad + 1} of the APDU)` : `${where}: not hex (an odd number of digits)`,
    );
  }
  if (bytes.length === 0) throw new UsageError(`${where}: empty APDU`);
  return { command: bytes, text: all.toUpperCase() };
}

function tryHex(s: string): Uint8Array | undefined {
  try {
    return fromHex(s);
  } catch {
    return undefined;
  }
}

function wellFormed(bytes: Uint8Array): boolean {
  try {
    decodeCommand(bytes);
    return true;
  } catch {
    return false;
  }
}

/** Does a status word match an expectation like 9000, 63Cx or 61XX? */
export function swMatches(sw: number, expect: string): boolean {
  const actual = swHex(sw);
  for (let i = 0; i < 4; i++) {
    const e = expect[i].toUpperCase();
    if (e !== "X" && e !== actual[i]) return false;
  }
  return true;
}

interface ApduOptions {
  reader: string;
  card?: string;
  script?: string;
  json?: boolean;
  log?: string;
  faults?: string;
  timeout: string;
}

export function register(program: Command): void {
  if (program.commands.some((c) => c.name() === "apdu")) return;
  program
    .command("apdu")
    .description("send APDUs to a card (an emulated card file, or the card in a PC/SC reader) and print each exchange")
    .option("--reader <kind>", 'memory (the --card file\'s card, in this process) or pcsc:NAME (the card in PC/SC reader NAME, e.g. "pcsc:Virtual PCD 00 00")', "memory")
    .option("--card <file>", "card file for the memory reader: held by this session alone (a second one is refused), every change saved before the card answers")
    .option("--script <file>", "script: one APDU per line, # comments, `reset` powers the card again, optional expected SW after the APDU (9000, 63Cx; - for stdin)")
    .option("--json", "print one JSON object per exchange: {command, response, sw}, plus {expected, ok} when an SW is expected; a reset prints {reset, atr}")
    .option("--log <file>", "write a run log (JSON Lines) of the exchanges, secrets masked")
    .option("--faults <file>", "fault profile (YAML): inject drops, lost answers, status words, delays, a removal or tearing (memory reader only); a failed exchange prints `!` and the run exits 1")
    .option("--timeout <ms>", "pcsc: how long to wait for the reader and for a card in it", "10000")
    .argument("[apdu...]", "APDUs in hex (each may end with an expected SW as a separate word when quoted)")
    .addHelpText(
      "after",
      "\nPIN, PUK and key bytes are masked (FF) in what is printed and logged.\nExit status: 0 when every expected SW matched, 1 when one did not, 2 on bad input.",
    )
    .action(action((apdus: string[], opts: ApduOptions) => runApdu(apdus, opts)));
}

/** The reader the options name, checked before anything is read or sent. */
function checkReaderOptions(opts: ApduOptions): { timeoutMs: number } {
  const memory = opts.reader === "memory";
  if (memory && opts.card === undefined) throw new UsageError("the memory reader needs --card FILE (or choose --reader pcsc:NAME)");
  if (!memory && !opts.reader.startsWith("pcsc:")) throw new UsageError(`unknown reader "${opts.reader}": use memory or pcsc:NAME`);
  if (!memory && opts.card !== undefined) {
    throw new UsageError(`--card is for the memory reader; with ${opts.reader} the card is the one in that reader (\`cardloop card serve\` puts a card file there)`);
  }
  const timeoutMs = Number(opts.timeout);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new UsageError(`--timeout must be a positive integer (ms), not "${opts.timeout}"`);
  return { timeoutMs };
}

const READER_NAME = "cardloop apdu";

async function runApdu(apdus: string[], opts: ApduOptions): Promise<number> {
  const { timeoutMs } = checkReaderOptions(opts);
  const steps: ScriptStep[] = [];
  if (opts.script !== undefined) {
    let text: string;
    try {
      text = readFileSync(opts.script === "-" ? 0 : opts.script, "utf8");
    } catch (err) {
      throw new UsageError(`cannot read script ${opts.script}: ${errorMessage(err)}`);
    }
    steps.push(...parseScript(text, opts.script));
  }
  apdus.forEach((a, i) => steps.push({ ...parseApduText(a, `argument ${i + 1}`), kind: "apdu", line: 0 }));
  if (steps.length === 0) throw new UsageError("no APDU to send (give hex APDUs or --script FILE)");
  const faults = opts.faults === undefined ? undefined : loadFaultProfile(opts.faults);
  if (faults?.rules.some((r) => r.fault.kind === "tearing") && opts.reader !== "memory") {
    throw new UsageError(`tearing needs an emulated card (--reader memory --card FILE), not ${opts.reader}`);
  }

  // Only the memory reader holds the card here; a PC/SC card keeps its state wherever it lives.
  // The card file is locked for the session and keeps every change before the card answers it.
  const file = opts.card !== undefined ? CardFile.open(opts.card) : undefined;
  // With faults, the card file's card is the tearing card model (its memory the file), so a profile may tear its writes.
  const tear = file && faults ? file.tearing(faults.tearing) : undefined;
  const card = tear ?? file?.card;
  const bus = new EventBus(new SystemClock());
  const log = opts.log !== undefined ? new RunLogWriter(opts.log).attach(bus) : undefined;
  let opened: OpenedReader | undefined;
  const out = (line: string) => process.stdout.write(line + "\n");
  let failed = 0;
  try {
    // With faults the log must say what the host got (a replaced status word, not the card's), as `run` does: the
    // reader logs nothing itself and a TracedReader over the faulty one logs; a torn or dropped exchange is its
    // `apdu.fault` event (it never completed, so it has no answer to log).
    opened = await openReader(opts.reader, { card, name: READER_NAME, bus: faults ? undefined : bus, pcsc: { timeoutMs } });
    await opened.waitForCard(timeoutMs);
    const reader: Reader = faults
      ? new TracedReader(applyFaults(opened.reader, faults, { bus, tear }), bus, { name: READER_NAME })
      : opened.reader;
    const atr = await reader.connect();
    if (!opts.json) out(`# ATR ${toHex(atr).toUpperCase()}`);
    for (const step of steps) {
      if (step.kind === "reset") {
        const again = await injected(() => reader.reset());
        if (again instanceof ReaderError) {
          failed++;
          if (opts.json) out(JSON.stringify({ reset: true, error: again.message }));
          else out(`> RESET\n! ${again.message}`);
          continue;
        }
        if (opts.json) out(JSON.stringify({ reset: true, atr: toHex(again).toUpperCase() }));
        else out(`> RESET\n< ${toHex(again).toUpperCase()}`);
        continue;
      }
      const res = await injected(() => reader.transmit(step.command));
      if (res instanceof ReaderError) {
        // An injected fault failed the exchange: shown, counted, and the script goes on (a `reset` line powers the card again).
        failed++;
        const shown = toHex(maskCommand(step.command)).toUpperCase();
        if (opts.json) out(JSON.stringify({ command: shown, error: res.message }));
        else out(`> ${shown}\n! ${res.message}`);
        continue;
      }
      const sw = (res[res.length - 2] << 8) | res[res.length - 1];
      // Stdout is a log too (terminals scroll back, CI keeps it): PIN, PUK and key bytes, and the
      // management key's witness and response, are masked as in --log.
      const masked = maskExchange(step.command, res, true);
      const data = toHex(masked.response.subarray(0, masked.response.length - 2)).toUpperCase();
      const ok = step.expect === undefined || swMatches(sw, step.expect);
      if (!ok) failed++;
      const shown = toHex(masked.command).toUpperCase();
      if (opts.json) {
        out(
          JSON.stringify({
            command: shown,
            response: data,
            sw: swHex(sw),
            ...(step.expect !== undefined ? { expected: step.expect, ok } : {}),
          }),
        );
      } else {
        out(`> ${shown}`);
        out(`< ${data === "" ? "" : data + " "}${swHex(sw)}`);
        if (!ok) out(`! expected ${step.expect}, got ${swHex(sw)}${step.line ? ` (line ${step.line})` : ""}`);
      }
    }
  } finally {
    log?.close();
    await opened?.close();
    file?.close();
  }
  return failed > 0 ? ExitCode.Failed : ExitCode.Ok;

  /** With a fault profile, a failed exchange is an outcome to show; without one, it ends the session (exit 2). */
  async function injected<T>(exchange: () => Promise<T>): Promise<T | ReaderError> {
    try {
      return await exchange();
    } catch (err) {
      if (faults !== undefined && err instanceof ReaderError) return err;
      throw err;
    }
  }
}

