import { existsSync } from "node:fs";
import { Command, Option } from "commander";
import { SystemClock, UsageError, addYears, fromHex } from "../core/index.js";
import { PivCard, saveCard, type ManagementAlg } from "../simulator/card/index.js";
import { action } from "./exit.js";

/**
 * `cardloop card ...`: card files. Other files add subcommands to the same
 * `card` command: call `cardCommand(program)` (or find it by name), which
 * creates it once and returns it afterwards.
 */
export function cardCommand(program: Command): Command {
  const existing = program.commands.find((c) => c.name() === "card");
  if (existing) return existing;
  return program.command("card").description("emulated PIV cards stored in card files");
}

export function register(program: Command): void {
  const card = cardCommand(program);
  if (card.commands.some((c) => c.name() === "new")) return;
  card
    .command("new")
    .description("create a fresh emulated PIV card and write it to a card file (which holds its secrets)")
    .requiredOption("--out <file>", "card file to write")
    .option("--expires <YYYY-MM-DD>", "the card's expiry date (default: 5 years from today)")
    .option("--pin <pin>", "initial PIN, 6-8 characters", "123456")
    .option("--puk <puk>", "initial PUK, 6-8 characters", "12345678")
    .option("--serial <hex>", "card serial number in hex (default: random 4 bytes)")
    .option("--management-key <hex>", "management key in hex: 24 bytes for 3des, 16/24/32 for aes128/192/256 (default: the well-known 0102...08 3DES test key)")
    .addOption(
      new Option("--management-alg <alg>", "management key algorithm")
        .choices(["3des", "aes128", "aes192", "aes256"])
        .default("3des"),
    )
    .option("--force", "overwrite an existing card file")
    .action(
      action((opts: NewCardOptions) => {
        const expires = opts.expires !== undefined ? parseDay(opts.expires) : addYears(startOfDay(new SystemClock().now()), 5);
        if (existsSync(opts.out) && !opts.force) throw new UsageError(`${opts.out} exists (use --force to overwrite it)`);
        let created: PivCard;
        try {
          created = PivCard.create({
            expires,
            pin: opts.pin,
            puk: opts.puk,
            serial: opts.serial,
            managementAlg: opts.managementAlg,
            managementKey: opts.managementKey !== undefined ? keyFromHex(opts.managementKey) : undefined,
          });
        } catch (err) {
          if (err instanceof RangeError) throw new UsageError(err.message);
          throw err;
        }
        try {
          saveCard(created, opts.out);
        } catch (err) {
          throw new UsageError(`cannot write ${opts.out}: ${(err as Error).message}`);
        }
        process.stdout.write(
          `card ${created.serial} expires ${expires.toISOString().slice(0, 10)} written to ${opts.out}\n`,
        );
      }),
    );
}

interface NewCardOptions {
  out: string;
  expires?: string;
  pin: string;
  puk: string;
  serial?: string;
  managementKey?: string;
  managementAlg: ManagementAlg;
  force?: boolean;
}

/** The management key from its hex; the message names the option but never echoes the key. */
function keyFromHex(text: string): Uint8Array {
  try {
    return fromHex(text);
  } catch (err) {
    throw new UsageError(`--management-key: ${(err as Error).message}`);
  }
}

function parseDay(text: string): Date {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  const d = m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : undefined;
  if (!m || !d || d.getUTCMonth() !== Number(m[2]) - 1 || d.getUTCDate() !== Number(m[3])) {
    throw new UsageError(`--expires must be a date YYYY-MM-DD (got "${text}")`);
  }
  return d;
}

function startOfDay(d: Date): Date {
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
}
