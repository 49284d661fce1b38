import { randomBytes, randomInt } from "node:crypto";
import { existsSync } from "node:fs";
import { Command, Option } from "commander";
import { SystemClock, UsageError, addYears, bytesEqual, fromHex, toHex } from "../core/index.js";
import { DEFAULT_MANAGEMENT_KEY, DEFAULT_PUK, PivCard, lockCardFile, saveCard, type ManagementAlg } from "../simulator/card/index.js";
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
    .option("--puk <puk>", "initial PUK, 6-8 characters (default: 12345678, the well-known test PUK; with --issue a random 8-digit PUK, printed once)")
    .option("--serial <hex>", "card serial number in hex (default: random 4 bytes)")
    .option("--management-key <hex>", "management key in hex: 24 bytes for 3des, 16/24/32 for aes128/192/256 (default: the well-known 0102...08 3DES test key; with --issue a random key of --management-alg, printed once)")
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
      [
        "",
        "Without --issue the card is a blank test card: unless given, PIN 123456, PUK 12345678 and the management key",
        "0102...08 are the well-known defaults every PIV test card and new YubiKey has. Anyone holding such a card can",
        "reset its PIN and write to it.",
        "",
        "With --issue the card gets a random PUK (8 digits) and a random management key unless --puk / --management-key",
        "give them (the well-known defaults are refused). The certificate serials, the cancellation codes and the",
        "generated PUK and management key are printed on stdout, once: the CA keeps only a hash of each code, and",
        "the PUK and key are nowhere else but on the card. Nothing goes to stderr or a log; the PIN is never printed.",
      ].join("\n"),
    )
    .action(
      action(async (opts: NewCardOptions, cmd: Command) => {
        // Issue-only options given without --issue would be silently ignored: say so instead.
        const given = ISSUE_ONLY.filter((o) => cmd.getOptionValueSource(o) === "cli");
        checkIssueOptions(opts, given);
        const expires = opts.expires !== undefined ? parseDay(opts.expires) : addYears(startOfDay(new SystemClock().now()), 5);
        const secrets = cardSecrets(opts);
        let created: PivCard;
        try {
          created = PivCard.create({
            expires,
            pin: opts.pin,
            puk: secrets.puk,
            serial: opts.serial,
            managementAlg: opts.managementAlg,
            managementKey: secrets.managementKey,
          });
        } catch (err) {
          if (err instanceof RangeError) throw new UsageError(err.message);
          throw err;
        }
        // The file is ours from here to the end: a served or open card file is not overwritten under its session,
        // and whether it exists is asked under the lock, where no other session can create it in between.
        const lock = lockCardFile(opts.out);
        try {
          if (existsSync(opts.out) && !opts.force) throw new UsageError(`${opts.out} exists (use --force to overwrite it)`);
          await writeNewCard(created, opts, secrets, expires);
        } finally {
          lock.release();
        }
      }),
    );
}

/** Issues (with --issue) and writes the new card, then says what the holder and issuer take away. */
async function writeNewCard(created: PivCard, opts: NewCardOptions, secrets: CardSecrets, expires: Date): Promise<void> {
  // The card file is written only once the card is what was asked for: blank, or fully personalised.
  // Certificates issued for a card that then cannot be saved would be orphans at the CA: the lock,
  // taken in the file's directory before issuing, has shown that the directory is writable.
  const issued = opts.issue ? await issueCard(created, opts, secrets.managementKey) : undefined;
  try {
    saveCard(created, opts.out);
  } catch (err) {
    throw new UsageError(`cannot write ${opts.out}: ${(err as Error).message}`);
  }
  process.stdout.write(`card ${created.serial} expires ${expires.toISOString().slice(0, 10)} written to ${opts.out}\n`);
  if (issued) {
    printIssued(issued, opts);
    printGeneratedSecrets(secrets, opts.managementAlg);
  }
}

interface CardSecrets {
  puk?: string;
  managementKey?: Uint8Array;
  /** Which of them this command made up (and so must print, once). */
  generated: { puk: boolean; managementKey: boolean };
}

const KEY_LENGTH: Record<ManagementAlg, number> = { "3des": 24, aes128: 16, aes192: 24, aes256: 32 };

/**
 * PUK and management key. A blank card keeps the well-known test values unless
 * given; an issued card never does: anyone holding it could reset its PIN or
 * rewrite it. What is generated is printed once, like the cancellation codes.
 */
function cardSecrets(opts: NewCardOptions): CardSecrets {
  const givenKey = opts.managementKey !== undefined ? keyFromHex(opts.managementKey) : undefined;
  if (!opts.issue) return { puk: opts.puk, managementKey: givenKey, generated: { puk: false, managementKey: false } };
  if (opts.puk === DEFAULT_PUK) throw new UsageError("--puk: an issued card must not keep the well-known test PUK (leave --puk out for a random one)");
  if (givenKey !== undefined && bytesEqual(givenKey, DEFAULT_MANAGEMENT_KEY)) {
    throw new UsageError("--management-key: an issued card must not keep the well-known test key (leave it out for a random one)");
  }
  return {
    puk: opts.puk ?? String(randomInt(0, 100_000_000)).padStart(8, "0"),
    managementKey: givenKey ?? new Uint8Array(randomBytes(KEY_LENGTH[opts.managementAlg])),
    generated: { puk: opts.puk === undefined, managementKey: givenKey === undefined },
  };
}

/** On stdout only, once: nothing else knows them (the card file holds them as the card's secure memory). */
function printGeneratedSecrets(secrets: CardSecrets, alg: ManagementAlg): void {
  const lines: string[] = [];
  if (secrets.generated.puk) lines.push(`PUK (holder): ${secrets.puk}`);
  if (secrets.generated.managementKey) lines.push(`management key (issuer, ${alg}): ${toHex(secrets.managementKey!)}`);
  if (lines.length === 0) return;
  lines.push("hand the PUK to the holder (it unblocks the PIN) and keep the management key at the issuer (it writes to the card): neither is shown again");
  process.stdout.write(lines.join("\n") + "\n");
}

interface NewCardOptions extends IssueCliOptions {
  out: string;
  expires?: string;
  pin: string;
  puk?: string;
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
