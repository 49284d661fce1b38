import { accessSync, constants as fsConstants, createReadStream, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { createInterface } from "node:readline";
import type { Command } from "commander";
import { SystemClock, UsageError, errorMessage } from "../core/index.js";
import { type RevocationPolicy, type Usage, type ValidationResult, Validator, readPemOrDer } from "../pki/index.js";
import { ExitCode, action, usage } from "./exit.js";

/**
 * cardloop validate: RFC 5280 path validation of one certificate, or of many in
 * one process (--batch JSONL). Exit 0 valid, 1 invalid, 2 unreadable input/usage.
 */

const USAGES: readonly Usage[] = ["authentication", "signature", "any"];
const POLICIES: readonly RevocationPolicy[] = ["require", "if-present", "off"];

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
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

export function register(program: Command): void {
  program
    .command("validate")
    .description("validate a certificate path (RFC 5280) with CRL/OCSP revocation; --batch FILE.jsonl for many")
    .argument("[leaf]", "the certificate to validate (PEM or DER)")
    .option("--intermediate <file>", "intermediate certificate(s), PEM or DER (repeatable)", collect, [])
    .option("--anchor <file>", "trust anchor certificate(s) (repeatable)", collect, [])
    .option("--crl <file>", "CRL(s), PEM or DER (repeatable)", collect, [])
    .option("--ocsp-response <file>", "OCSP response(s), DER or PEM (repeatable)", collect, [])
    .option("--at <iso-time>", "validate at this time: YYYY-MM-DD (UTC) or an ISO date-time with its zone (default: now)")
    .option("--usage <usage>", "leaf key usage required: authentication|signature|any", "any")
    .option("--revocation <policy>", "require|if-present|off (default if-present: check when CRLs/OCSP are given)")
    .option("--json", "print the result as JSON")
    .option(
      "--batch <file.jsonl>",
      "one case per line: {id, leaf, intermediates, anchors, crls, ocspResponses, at, usage, revocation}, paths relative to the file; one JSON result per line: {id, valid, code, detail}",
    )
    .addHelpText("after", "\nExit status: 0 valid (every case), 1 invalid (the reason code is printed), 2 unreadable input or usage error.")
    .action(action(async (leaf: string | undefined, opts: Options) => (opts.batch ? runBatch(opts.batch, leaf) : runSingle(leaf, opts))));
}

/**
 * An ISO 8601 date (UTC midnight) or date-time with its zone (Z or +hh:mm). A date-time
 * without a zone would be read in the machine's local zone, so the same case would give
 * different verdicts on different machines: it is refused. Impossible dates (02-30) too.
 */
export function parseIsoTime(at: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?([Zz]|[+-]\d{2}:\d{2}))?$/.exec(at);
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const day = new Date(Date.UTC(y, mo - 1, d));
  if (day.getUTCFullYear() !== y || day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d) return undefined;
  if (m[4] !== undefined && (Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6] ?? 0) > 59)) return undefined;
  const t = Date.parse(m[4] === undefined ? `${m[1]}-${m[2]}-${m[3]}T00:00:00Z` : at.replace(" ", "T"));
  return Number.isFinite(t) ? t : undefined;
}

function parseTime(at: string | undefined, clock: SystemClock, what = "--at"): number {
  if (at === undefined) return clock.nowMs();
  const t = parseIsoTime(at);
  if (t === undefined) throw new UsageError(`${what}: not an ISO time with a zone (e.g. 2031-06-01 or 2031-06-01T12:00:00Z): ${at.slice(0, 40)}`);
  return t;
}

function checkUsage(u: string | undefined, what = "--usage"): Usage {
  const v = (u ?? "any") as Usage;
  if (!USAGES.includes(v)) throw new UsageError(`${what} must be one of ${USAGES.join(", ")}`);
  return v;
}

function checkPolicy(p: string | undefined, what = "--revocation"): RevocationPolicy | undefined {
  if (p === undefined) return undefined;
  if (!POLICIES.includes(p as RevocationPolicy)) throw new UsageError(`${what} must be one of ${POLICIES.join(", ")}`);
  return p as RevocationPolicy;
}

/** Reads a file into its PEM/DER objects; a cache keeps the same arrays so the validator's parse caches hit. */
class Files {
  private readonly cache = new Map<string, Uint8Array[]>();
  read(path: string, label: string): Uint8Array[] {
    const key = `${label}\0${path}`;
    let v = this.cache.get(key);
    if (!v) {
      let bytes: Uint8Array;
      try {
        bytes = new Uint8Array(readFileSync(path));
      } catch (err) {
        throw new UsageError(`cannot read ${path}: ${errorMessage(err)}`);
      }
      try {
        v = readPemOrDer(bytes, label);
      } catch (err) {
        throw new UsageError(`${path}: ${errorMessage(err)}`);
      }
      this.cache.set(key, v);
    }
    return v;
  }
  many(paths: readonly string[], label: string): Uint8Array[] {
    return paths.flatMap((p) => this.read(p, label));
  }
}

export interface Case {
  leaf: string;
  intermediates: string[];
  anchors: string[];
  crls: string[];
  ocspResponses: string[];
  time: number;
  usage: Usage;
  revocation?: RevocationPolicy;
}

/** Validates one case; input problems (unreadable, undecodable) throw UsageError. */
function runCase(v: Validator, files: Files, c: Case): ValidationResult {
  const leafs = files.read(c.leaf, "CERTIFICATE");
  try {
    // Parse up front so that undecodable input is a usage error (exit 2), not a verdict.
    const leaf = v.certificate(leafs[0]);
    const anchors = files.many(c.anchors, "CERTIFICATE").map((b) => v.certificate(b));
    const intermediates = files.many(c.intermediates, "CERTIFICATE").map((b) => v.certificate(b));
    const crls = files.many(c.crls, "X509 CRL").map((b) => v.crl(b));
    const ocspResponses = files.many(c.ocspResponses, "OCSP RESPONSE").map((b) => v.ocspResponse(b));
    if (anchors.length === 0) throw new UsageError("at least one trust anchor is needed");
    return v.validate(leaf, { anchors, intermediates, crls, ocspResponses, time: c.time, usage: c.usage, revocation: c.revocation });
  } catch (err) {
    if (err instanceof UsageError) throw err;
    if (err instanceof Error && (err as { code?: string }).code === "decode") throw new UsageError(errorMessage(err));
    throw err;
  }
}

function describe(r: ValidationResult): string {
  if (r.valid) {
    const chain = r.path.map((c) => c.subject.display).join("\n  <- ");
    return `valid\n  ${chain}\n`;
  }
  return `invalid: ${r.code} at position ${r.position}: ${r.detail}\n`;
}

function toJson(r: ValidationResult, id?: unknown): Record<string, unknown> {
  const base: Record<string, unknown> = id === undefined ? {} : { id };
  if (r.valid) {
    return { ...base, valid: true, code: null, detail: null, path: r.path.map((c) => c.subject.display), ...(r.revocations.length ? { laterRevocations: r.revocations } : {}) };
  }
  return { ...base, valid: false, code: r.code, detail: r.detail, position: r.position, ...(r.revocation ? { revocation: { ...r.revocation, time: new Date(r.revocation.time).toISOString() } } : {}) };
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
    revocation: checkPolicy(opts.revocation),
  });
  process.stdout.write(opts.json ? JSON.stringify(toJson(r)) + "\n" : describe(r));
  return r.valid ? ExitCode.Ok : ExitCode.Failed;
}

const strings = (x: unknown, field: string): string[] => {
  if (x === undefined) return [];
  if (typeof x === "string") return [x];
  if (Array.isArray(x) && x.every((s) => typeof s === "string")) return x;
  throw new UsageError(`${field} must be a path or a list of paths`);
};

const BATCH_FIELDS = new Set(["id", "leaf", "intermediates", "anchors", "crls", "ocspResponses", "at", "usage", "revocation"]);

/**
 * One line of a --batch file as a case (paths resolved against `base`). A line that is
 * not a usable case throws UsageError; `id` is then still known when the line got that far.
 * Unknown fields are refused: a misspelt "intermediate" would otherwise turn into a
 * confident "unknown-issuer" verdict.
 */
export function parseBatchLine(line: string, lineNo: number, base: string, clock: SystemClock): { id: string | number; case: Case } {
  let obj: Record<string, unknown>;
  try {
    // a byte-order mark (editors on some systems write one) is not part of the JSON
    obj = JSON.parse(lineNo === 1 ? line.replace(/^\uFEFF/, "") : line);
  } catch {
    throw new UsageError(`line ${lineNo}: not JSON`);
  }
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) throw new UsageError(`line ${lineNo}: not a JSON object`);
  const id = obj.id ?? lineNo;
  if (typeof id !== "string" && typeof id !== "number") throw new UsageError(`line ${lineNo}: "id" must be a string or a number`);
  const fail = (msg: string): never => {
    throw Object.assign(new UsageError(`line ${lineNo}: ${msg}`), { caseId: id });
  };
  for (const k of Object.keys(obj)) if (!BATCH_FIELDS.has(k)) fail(`unknown field "${k.slice(0, 40)}"`);
  const str = (k: string): string | undefined => {
    const x = obj[k];
    if (x !== undefined && typeof x !== "string") fail(`"${k}" must be a string`);
    return x as string | undefined;
  };
  const leaf = str("leaf");
  if (leaf === undefined) fail(`"leaf" (a path) is required`);
  const rel = (p: string) => resolve(base, p);
  const list = (k: string) => {
    try {
      return strings(obj[k], k).map(rel);
    } catch (err) {
      return fail((err as Error).message);
    }
  };
  const check = <T>(f: () => T): T => {
    try {
      return f();
    } catch (err) {
      return fail((err as Error).message);
    }
  };
  const [at, usageText, policyText] = [str("at"), str("usage"), str("revocation")];
  const c: Case = {
    leaf: rel(leaf!),
    intermediates: list("intermediates"),
    anchors: list("anchors"),
    crls: list("crls"),
    ocspResponses: list("ocspResponses"),
    time: check(() => parseTime(at, clock, "at")),
    usage: check(() => checkUsage(usageText, "usage")),
    revocation: check(() => checkPolicy(policyText, "revocation")),
  };
  return { id, case: c };
}

/**
 * One JSON result per input line, in order. A bad line (bad JSON, unreadable or
 * undecodable file) yields {id, valid:false, code:"input-error"} and exit 2 at the end;
 * otherwise exit 1 if any case is invalid, else 0.
 */
async function runBatch(file: string, stray: string | undefined): Promise<number> {
  if (stray) usage("validate: --batch takes no LEAF argument");
  const base = dirname(resolve(file));
  let stream;
  try {
    accessSync(file, fsConstants.R_OK);
    stream = createReadStream(file, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${errorMessage(err)}`);
  }
  const v = new Validator();
  const files = new Files();
  const clock = new SystemClock();
  let anyInvalid = false;
  let anyInputError = false;
  let out: string[] = [];
  const flush = async (): Promise<void> => {
    if (out.length === 0) return;
    const chunk = out.join("");
    out = [];
    if (!process.stdout.write(chunk)) await new Promise<void>((r) => process.stdout.once("drain", () => r()));
  };
  let lineNo = 0;
  for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
    lineNo++;
    if (line.trim() === "") continue;
    let id: unknown = lineNo;
    try {
      const parsed = parseBatchLine(line, lineNo, base, clock);
      id = parsed.id;
      const r = runCase(v, files, parsed.case);
      if (!r.valid) anyInvalid = true;
      out.push(JSON.stringify(toJson(r, id)) + "\n");
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      const known = (err as { caseId?: string | number }).caseId;
      if (known !== undefined) id = known;
      anyInputError = true;
      out.push(JSON.stringify({ id, valid: false, code: "input-error", detail: err.message }) + "\n");
    }
    if (out.length >= 256) await flush();
  }
  await flush();
  return anyInputError ? ExitCode.Usage : anyInvalid ? ExitCode.Failed : ExitCode.Ok;
}
