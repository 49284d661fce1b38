import type { Command } from "commander";
import { SystemClock, UsageError } from "../core/index.js";
import { ResultCodes, Validator } from "../pki/index.js";
import { ExitCode, action, usage } from "./exit.js";
import { runBatch } from "./validate-batch.js";
import { BATCH_FIELDS, type Checks, EKU_NAMES, FIELD_OF_OPTION, Files, OPTION_OF_FIELD, buildChecks, checkRevocation, checkUsage, describe, parseTime, runCase, toJson } from "./validate-case.js";
import { reasonsHelp } from "./validate-reasons.js";

/**
 * cardloop validate: RFC 5280 path validation of one certificate, or of many in
 * one process (--batch JSONL, validate-batch.ts). Exit 0 valid, 1 invalid, 2
 * unreadable input/usage. What a case is and how it prints: validate-case.ts.
 */

export { parseBatchLine } from "./validate-batch.js";
export { parseIsoTime } from "./validate-case.js";

interface Options {
  intermediate: string[];
  anchor: string[];
  crl: string[];
  ocspResponse: string[];
  at?: string;
  usage?: string;
  revocation?: string;
  json?: boolean;
  batch?: string;
  policy: string[];
  explicitPolicy?: boolean;
  inhibitPolicyMapping?: boolean;
  inhibitAnyPolicy?: boolean;
  eku: string[];
  anchorConstraints: boolean;
  profile?: string;
  deltaCrls: boolean;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

const BATCH_HELP =
  `one case per line: {${[...BATCH_FIELDS].join(", ")}}, ` +
  "paths relative to the file's directory (to the current directory when FILE is a pipe, e.g. /dev/stdin fed by one); one JSON result per line: {id, valid, code, detail, ...}; every other option is refused with it (each line is a whole case)";

export function register(program: Command): void {
  program
    .command("validate")
    .description("validate a certificate path (RFC 5280) with CRL/OCSP revocation; --batch FILE.jsonl for many")
    .argument("[leaf]", "the certificate to validate (PEM or DER; one certificate: the others go with --intermediate)")
    .option("--intermediate <file>", "intermediate certificate(s), PEM or DER (repeatable)", collect, [])
    .option("--anchor <file>", "trust anchor certificate(s) (repeatable)", collect, [])
    .option("--crl <file>", "CRL(s), PEM or DER (repeatable)", collect, [])
    .option("--ocsp-response <file>", "OCSP response(s), DER or PEM (repeatable)", collect, [])
    .option("--at <iso-time>", "validate at this time: YYYY-MM-DD (UTC) or an ISO date-time with its zone (default: now)")
    .option("--usage <usage>", "leaf key usage required: authentication|signature|any", "any")
    .option("--revocation <policy>", "require|if-present|off (default if-present: check when CRLs/OCSP are given)")
    .option("--policy <oid>", "an acceptable certificate policy, dotted OID or anyPolicy (repeatable; RFC 5280 user-initial-policy-set, default anyPolicy)", collect, [])
    .option("--explicit-policy", "require a valid policy for the path (initial-explicit-policy)")
    .option("--inhibit-policy-mapping", "refuse policy mappings (initial-policy-mapping-inhibit)")
    .option("--inhibit-any-policy", "anyPolicy in a certificate matches nothing (initial-any-policy-inhibit)")
    .option("--eku <oid>", `an extended key usage the leaf must allow, dotted OID or a name: ${Object.keys(EKU_NAMES).join(", ")} (repeatable)`, collect, [])
    .option("--no-anchor-constraints", "take the trust anchor as a bare name and key: ignore its validity, constraints and extensions (RFC 5280 6.1.1 (d))")
    .option("--profile <profile>", "strict (default: the RFC 5280 section 4 MUSTs a relying party can hold every certificate and CRL to), pedantic (also the four PKITS expects tolerated: see pki/README.md) or lenient (only what 6.1 and 6.3 need)")
    .option("--no-delta-crls", "do not use delta CRLs (RFC 5280 6.3.3 (c) use-deltas)")
    .option("--json", "print the result as JSON")
    .option("--batch <file.jsonl>", BATCH_HELP)
    .addHelpText(
      "after",
      "\nA valid result names the path and, when it is not just anyPolicy, the user-constrained policy set (--json: userConstrainedPolicySet, OIDs sorted)." +
        "\nExit status: 0 valid (every case), 1 invalid (the reason code is printed), 2 unreadable input or usage error.\n\n" +
        reasonsHelp(ResultCodes),
    )
    .action(action(async (leaf: string | undefined, opts: Options, cmd: Command) => (opts.batch !== undefined ? runBatchOnly(opts.batch, leaf, cmd) : runSingle(leaf, opts))));
}

/**
 * The options' values under their --batch field names (CASE_FIELDS), for buildChecks: an
 * option left alone is undefined there, so the validator keeps its default.
 */
function checksOf(opts: Options): Checks {
  const values: Record<string, unknown> = {
    initialPolicySet: opts.policy.length ? opts.policy : undefined,
    initialExplicitPolicy: opts.explicitPolicy,
    initialPolicyMappingInhibit: opts.inhibitPolicyMapping,
    initialInhibitAnyPolicy: opts.inhibitAnyPolicy,
    eku: opts.eku.length ? opts.eku : undefined,
    anchorConstraints: opts.anchorConstraints ? undefined : false,
    profile: opts.profile,
    useDeltaCrls: opts.deltaCrls ? undefined : false,
  };
  return buildChecks(values, (field) => OPTION_OF_FIELD.get(field) ?? field);
}

/**
 * With --batch every line is a whole case: an option given on the command line (any
 * but --batch itself; options with defaults count only when typed, getOptionValueSource)
 * is refused rather than silently ignored, or silently mixed with the lines' fields.
 */
function runBatchOnly(file: string, leaf: string | undefined, cmd: Command): Promise<number> {
  for (const o of cmd.options) {
    const key = o.attributeName();
    if (key === "batch" || cmd.getOptionValueSource(key) !== "cli") continue;
    const field = o.long === undefined ? undefined : FIELD_OF_OPTION.get(o.long);
    const instead = key === "json" ? "its output is one JSON result per line already" : field ? `give "${field}" on each line` : "every line is a whole case";
    throw new UsageError(`validate: ${o.long ?? o.flags} does not apply to --batch: ${instead}`);
  }
  return runBatch(file, leaf);
}

function runSingle(leaf: string | undefined, opts: Options): number {
  if (!leaf) usage("validate: a LEAF certificate file (or --batch FILE) is required");
  if (opts.anchor.length === 0) usage("validate: at least one --anchor is required");
  const v = new Validator();
  const r = runCase(v, new Files(), {
    leaf,
    intermediates: opts.intermediate,
    anchors: opts.anchor,
    crls: opts.crl,
    ocspResponses: opts.ocspResponse,
    time: parseTime(opts.at, new SystemClock()),
    usage: checkUsage(opts.usage),
    revocation: checkRevocation(opts.revocation),
    checks: checksOf(opts),
  });
  process.stdout.write(opts.json ? JSON.stringify(toJson(r)) + "\n" : describe(r));
  return r.valid ? ExitCode.Ok : ExitCode.Failed;
}
