import { accessSync, constants, existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { Command, Option } from "commander";
import { SystemClock, UsageError, addYears, fromHex } from "../core/index.js";
import { PivCard, saveCard, type ManagementAlg } from "../simulator/card/index.js";
import { ISSUE_ONLY, checkIssueOptions, issueCard, printIssued, type IssueCliOptions } from "./card-issue.js";
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
    .option("--issue", "personalise the card: keys generated on it, authentication (9A) and signature (9C) certificates from the embedded CA written to it")
    .option("--ca-data <dir>", "with --issue: the embedded CA's data directory (created on first use; `cardloop ca serve --data DIR` serves the same CA)", "./ca-data")
    .option("--holder-name <name>", "with --issue: the holder's name (certificate subject CN)")
    .option("--holder-email <email>", "with --issue: the holder's email (in the certificate; asked when the holder revokes)")
    .option("--holder-id <id>", "with --issue: the holder's id at the CA (default: card-SERIAL)")
    .option("--organisation <name>", "with --issue: a professional card: the organisation's representatives get cancellation codes too")
    .addOption(new Option("--key-alg <alg>", "with --issue: key algorithm generated on the card").choices(["p256", "p384", "rsa2048"]).default("p256"))
    .addHelpText(
      "after",
      "\nWith --issue the certificate serials and the cancellation codes are printed on stdout (the CA keeps only a hash\nof each code: it is shown this once, for the holder). PIN, PUK and keys are never printed.",
    )
    .action(
      action(async (opts: NewCardOptions, cmd: Command) => {
        // Issue-only options given without --issue would be silently ignored: say so instead.
        const given = ISSUE_ONLY.filter((o) => cmd.getOptionValueSource(o) === "cli");
        checkIssueOptions(opts, given);
        const expires = opts.expires !== undefined ? parseDay(opts.expires) : addYears(startOfDay(new SystemClock().now()), 5);
        if (existsSync(opts.out) && !opts.force) throw new UsageError(`${opts.out} exists (use --force to overwrite it)`);
        const managementKey = opts.managementKey !== undefined ? keyFromHex(opts.managementKey) : undefined;
        let created: PivCard;
        try {
          created = PivCard.create({
            expires,
            pin: opts.pin,
            puk: opts.puk,
            serial: opts.serial,
            managementAlg: opts.managementAlg,
            managementKey,
          });
        } catch (err) {
          if (err instanceof RangeError) throw new UsageError(err.message);
          throw err;
        }
        // The card file is written only once the card is what was asked for: blank, or fully personalised.
        // Certificates issued for a card that then cannot be saved would be orphans at the CA: check first.
        if (opts.issue) {
          try {
            accessSync(dirname(resolve(opts.out)), constants.W_OK);
          } catch (err) {
            throw new UsageError(`cannot write ${opts.out}: ${(err as Error).message}`);
          }
        }
        const issued = opts.issue ? await issueCard(created, opts, managementKey) : undefined;
        try {
          saveCard(created, opts.out);
        } catch (err) {
          throw new UsageError(`cannot write ${opts.out}: ${(err as Error).message}`);
        }
        process.stdout.write(
          `card ${created.serial} expires ${expires.toISOString().slice(0, 10)} written to ${opts.out}\n`,
        );
        if (issued) printIssued(issued, opts);
      }),
    );
}

interface NewCardOptions extends IssueCliOptions {
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
