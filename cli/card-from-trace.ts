import { existsSync } from "node:fs";
import { Command } from "commander";
import { SystemClock, UsageError, addYears, errorMessage, fromHex } from "../core/index.js";
import { lockCardFile, saveCard } from "../simulator/card/index.js";
import { cardFromTrace, readTrace, type Trace } from "../simulator/trace/index.js";
import { cardCommand } from "./card.js";
import { action } from "./exit.js";
import { secretsFromEnvironment } from "./secret-options.js";

/**
 * `cardloop card from-trace TRACE.jsonl --out card.json`: an emulated card
 * that answers the trace's reads as the field card did (simulator/trace/
 * card-from-trace.ts). Prints, one line each, what it took from the trace and
 * what it made fresh; never a secret.
 */
export function register(program: Command): void {
  const card = cardCommand(program);
  if (card.commands.some((c) => c.name() === "from-trace")) return;
  card
    .command("from-trace")
    .description("make an emulated card that answers a trace's reads as the field card did (same objects, key references and algorithms; fresh keys)")
    .argument("<trace>", "a cardloop trace (`cardloop trace import`, or `cardloop card serve --record`)")
    .requiredOption("--out <file>", "card file to write (mode 0600: it holds the new card's secrets)")
    .option("--pin <pin>", "the new card's PIN, 6-8 characters (default: $CARDLOOP_PIN, else the well-known default PIN of `card new`: a trace's PIN is masked)")
    .option("--puk <puk>", "the new card's PUK (default: $CARDLOOP_PUK, else the well-known test PUK)")
    .option("--management-key <hex>", "the new card's 3DES management key, 24 bytes of hex (default: $CARDLOOP_MANAGEMENT_KEY, else the well-known 0102...08)")
    .option("--expires <YYYY-MM-DD>", "the card's expiry when the trace's CHUID has none (default: 5 years from today)")
    .option("--force", "overwrite an existing card file")
    .addHelpText(
      "after",
      [
        "",
        "The PIN, PUK and management key may come from the environment (CARDLOOP_PIN, CARDLOOP_PUK, CARDLOOP_MANAGEMENT_KEY)",
        "instead of the command line, which other users see in ps. None of them is ever printed.",
      ].join("\n"),
    )
    .action(action(fromTrace));
}

interface FromTraceOptions {
  out: string;
  pin?: string;
  puk?: string;
  managementKey?: string;
  expires?: string;
  force?: boolean;
}

async function fromTrace(path: string, opts: FromTraceOptions): Promise<void> {
  if (!existsSync(path)) throw new UsageError(`no trace ${path}`);
  const trace: Trace = readTrace(path);
  const secrets = secretsFromEnvironment(opts);
  const expires = opts.expires !== undefined ? parseDay(opts.expires) : defaultExpiry();
  let managementKey: Uint8Array | undefined;
  if (secrets.managementKey !== undefined) {
    try {
      managementKey = fromHex(secrets.managementKey);
    } catch (err) {
      throw new UsageError(`--management-key: ${errorMessage(err)}`);
    }
    if (managementKey.length !== 24) throw new UsageError("--management-key must be 24 bytes (3DES)");
  }
  let made: ReturnType<typeof cardFromTrace>;
  try {
    made = cardFromTrace(trace, { pin: secrets.pin, puk: secrets.puk, managementKey, expires });
  } catch (err) {
    // newPivState's RangeErrors are about the options given (PIN or PUK length).
    if (err instanceof RangeError) throw new UsageError(err.message);
    throw err;
  }
  const { card, report } = made;
  const lock = lockCardFile(opts.out);
  try {
    if (existsSync(opts.out) && !opts.force) throw new UsageError(`${opts.out} exists (use --force to overwrite it)`);
    try {
      saveCard(card, opts.out);
    } catch (err) {
      throw new UsageError(`cannot write ${opts.out}: ${errorMessage(err)}`);
    }
  } finally {
    lock.release();
  }
  const lines = [
    ...report.taken.map((l) => `taken: ${l}`),
    ...report.fresh.map((l) => `fresh: ${l}`),
    ...report.skipped.map((l) => `not taken: ${l}`),
    `card ${card.serial} written to ${opts.out}`,
  ];
  process.stdout.write(lines.join("\n") + "\n");
}

function parseDay(text: string): Date {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  const d = m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : undefined;
  if (!m || !d || d.getUTCMonth() !== Number(m[2]) - 1 || d.getUTCDate() !== Number(m[3])) {
    throw new UsageError(`--expires must be a date YYYY-MM-DD (got "${text}")`);
  }
  return d;
}

/** As `card new`: five years from today (CLI wiring may read the wall clock). */
function defaultExpiry(): Date {
  const now = new SystemClock().now();
  return addYears(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate())), 5);
}
