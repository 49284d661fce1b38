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
  swHex,
  toHex,
} from "../core/index.js";
import { loadCard, saveCard } from "../simulator/card/index.js";
import { MemoryReader } from "../simulator/reader/index.js";
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
  card: string;
  script?: string;
  json?: boolean;
  log?: string;
}

export function register(program: Command): void {
  if (program.commands.some((c) => c.name() === "apdu")) return;
  program
    .command("apdu")
    .description("send APDUs to an emulated card (from arguments or a script) and print each exchange")
    .requiredOption("--card <file>", "card file (its state is saved back after the session)")
    .option("--script <file>", "script: one APDU per line, # comments, `reset` powers the card again, optional expected SW after the APDU (9000, 63Cx; - for stdin)")
    .option("--json", "print one JSON object per exchange: {command, response, sw}, plus {expected, ok} when an SW is expected; a reset prints {reset, atr}")
    .option("--log <file>", "write a run log (JSON Lines) of the exchanges, secrets masked")
    .argument("[apdu...]", "APDUs in hex (each may end with an expected SW as a separate word when quoted)")
    .addHelpText("after", "\nExit status: 0 when every expected SW matched, 1 when one did not, 2 on bad input.")
    .action(action((apdus: string[], opts: ApduOptions) => runApdu(apdus, opts)));
}

async function runApdu(apdus: string[], opts: ApduOptions): Promise<number> {
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

  const card = loadCard(opts.card);
  const bus = new EventBus(new SystemClock());
  const log = opts.log !== undefined ? new RunLogWriter(opts.log).attach(bus) : undefined;
  const reader = new MemoryReader(card, { name: "cardloop apdu", bus });
  const out = (line: string) => process.stdout.write(line + "\n");
  let failed = 0;
  try {
    const atr = await reader.connect();
    if (!opts.json) out(`# ATR ${toHex(atr).toUpperCase()}`);
    for (const step of steps) {
      if (step.kind === "reset") {
        const again = await reader.reset();
        if (opts.json) out(JSON.stringify({ reset: true, atr: toHex(again).toUpperCase() }));
        else out(`> RESET\n< ${toHex(again).toUpperCase()}`);
        continue;
      }
      const res = await reader.transmit(step.command);
      const sw = (res[res.length - 2] << 8) | res[res.length - 1];
      const data = toHex(res.subarray(0, res.length - 2)).toUpperCase();
      const ok = step.expect === undefined || swMatches(sw, step.expect);
      if (!ok) failed++;
      if (opts.json) {
        out(
          JSON.stringify({
            command: step.text,
            response: data,
            sw: swHex(sw),
            ...(step.expect !== undefined ? { expected: step.expect, ok } : {}),
          }),
        );
      } else {
        out(`> ${step.text}`);
        out(`< ${data === "" ? "" : data + " "}${swHex(sw)}`);
        if (!ok) out(`! expected ${step.expect}, got ${swHex(sw)}${step.line ? ` (line ${step.line})` : ""}`);
      }
    }
    await reader.disconnect();
  } finally {
    log?.close();
    saveCard(card, opts.card);
  }
  return failed > 0 ? ExitCode.Failed : ExitCode.Ok;
}
