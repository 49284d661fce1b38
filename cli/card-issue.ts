import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { SystemClock, UsageError, errorMessage } from "../core/index.js";
import type { PivCard, ManagementAlg } from "../simulator/card/index.js";
import type { Holder } from "../simulator/ca/index.js";
import type { KeyAlgorithm, PersonaliseResult } from "../simulator/terminal/index.js";

/**
 * `cardloop card new --issue`: the issuance station on a fresh card in an
 * in-process reader, against the embedded CA in a data directory. The CA and
 * the terminal are loaded only when asked for: a blank `card new` stays quick.
 */

export interface IssueCliOptions {
  issue?: boolean;
  caData: string;
  holderName?: string;
  holderEmail?: string;
  holderId?: string;
  organisation?: string;
  keyAlg: KeyAlgorithm;
  pin: string;
  managementAlg: ManagementAlg;
}

/** Options that mean something only with --issue (commander attribute names). */
export const ISSUE_ONLY = ["caData", "holderName", "holderEmail", "holderId", "organisation", "keyAlg"] as const;

const flag = (attr: string) => "--" + attr.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());

/** Bad combinations, before anything is created. `given`: issue-only options typed on the command line. */
export function checkIssueOptions(opts: IssueCliOptions, given: readonly string[]): void {
  if (!opts.issue) {
    if (given.length > 0) throw new UsageError(`${flag(given[0])} only goes with --issue`);
    return;
  }
  if (!opts.holderName?.trim()) throw new UsageError("--issue needs --holder-name (the certificates' subject)");
  if (!opts.holderEmail || !/^[^\s@]+@[^\s@]+$/.test(opts.holderEmail)) throw new UsageError("--issue needs --holder-email with an email address");
  if (opts.holderId !== undefined && !opts.holderId.trim()) throw new UsageError("--holder-id must not be empty");
  if (existsSync(opts.caData) && !statSync(opts.caData).isDirectory()) throw new UsageError(`--ca-data ${opts.caData}: not a directory`);
}

/** Keys on the card, both certificates from the CA onto it; the card's PIN stays the one it was created with. */
export async function issueCard(card: PivCard, opts: IssueCliOptions, managementKey?: Uint8Array): Promise<PersonaliseResult> {
  const [{ EmbeddedCa, CaError }, { IssuanceStation, TerminalRefusal }, { MemoryReader }] = await Promise.all([
    import("../simulator/ca/index.js"),
    import("../simulator/terminal/index.js"),
    import("../simulator/reader/index.js"),
  ]);
  // CLI wiring may read the wall clock: certificates start now.
  const clock = new SystemClock();
  let ca;
  try {
    ca = await EmbeddedCa.open({ dataDir: opts.caData, clock });
  } catch (err) {
    throw new UsageError(`cannot open the CA in ${opts.caData}: ${errorMessage(err)}`);
  }
  const holder: Holder = {
    // The CA knows one card per holder id: the card's serial keeps two cards of one person apart.
    id: opts.holderId ?? `card-${card.serial}`,
    name: opts.holderName!.trim(),
    email: opts.holderEmail!,
    ...(opts.organisation ? { organisation: opts.organisation } : {}),
  };
  try {
    // A CA made by this process knows its station's token (the station takes it from the CA); one reopened from its
    // directory keeps only the hash, and the token is in the file it wrote once.
    const station = new IssuanceStation({ ca, clock, raToken: ca.raToken ? undefined : stationToken(opts.caData) });
    const reader = new MemoryReader(card, { name: "cardloop card new" });
    // The holder's PIN is the one the card was made with: personalisation "changes" it to itself.
    return await station.personalise(reader, {
      holder,
      pin: opts.pin,
      transportPin: opts.pin,
      managementKey,
      managementAlg: opts.managementAlg,
      alg: opts.keyAlg,
    });
  } catch (err) {
    // A CA refusal (bad holder, policy) or a card refusal is the user's input, not a bug.
    if (err instanceof CaError || err instanceof TerminalRefusal || err instanceof UsageError) throw new UsageError(`issuance failed: ${errorMessage(err)}`);
    throw err;
  } finally {
    await ca.close();
  }
}

/**
 * The issuing station's credential for a CA created earlier: the CA keeps only
 * its hash, and wrote the token once to ra.token for its administrator.
 */
function stationToken(caData: string): string {
  const file = join(caData, "ra.token");
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    throw new UsageError(`the CA in ${caData} issues only to its issuing station, and ${file} (its token) is gone: make a new one with \`cardloop ca token --data ${caData} --role ra\` and keep it in that file`);
  }
}

/**
 * What the holder leaves the issuance desk with. The cancellation codes are
 * printed here, on stdout only: the CA keeps nothing but a hash of each, and
 * without its code a holder cannot revoke a lost card. Nothing is logged.
 */
export function printIssued(issued: PersonaliseResult, opts: IssueCliOptions): void {
  const day = (d: Date) => d.toISOString().slice(0, 19) + "Z";
  const lines = [
    `authentication certificate (slot 9A): serial ${issued.authentication.serial}, valid ${day(issued.authentication.notBefore)} to ${day(issued.authentication.notAfter)}`,
    `signature certificate (slot 9C): serial ${issued.signature.serial}, valid ${day(issued.signature.notBefore)} to ${day(issued.signature.notAfter)}`,
    `issued by the embedded CA in ${opts.caData}`,
  ];
  const codes = issued.cancellationCodes;
  if (codes) {
    lines.push(`cancellation code (holder): ${codes.holder}`);
    if (codes.legalRepresentative) lines.push(`cancellation code (legal representative): ${codes.legalRepresentative}`);
    if (codes.authorisedRepresentative) lines.push(`cancellation code (authorised representative): ${codes.authorisedRepresentative}`);
    lines.push("hand each cancellation code to its owner now: the CA keeps only a hash and cannot show it again");
  } else {
    lines.push(`no cancellation code: the CA already knew holder id "${opts.holderId}" and handed its codes out at its first issuance`);
  }
  process.stdout.write(lines.join("\n") + "\n");
}
