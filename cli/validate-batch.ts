import { accessSync, constants as fsConstants, createReadStream, realpathSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { createInterface } from "node:readline";
import { SystemClock, UsageError, errorMessage } from "../core/index.js";
import { Validator } from "../pki/index.js";
import { ExitCode, usage } from "./exit.js";
import { BATCH_FIELDS, type Case, Files, buildChecks, checkRevocation, checkUsage, isDecodeError, parseTime, runCase, toJson } from "./validate-case.js";

/**
 * `cardloop validate --batch FILE.jsonl`: many cases in one process (the validator's
 * caches shared), one JSON result per line, in order.
 */

const strings = (x: unknown, field: string): string[] => {
  if (x === undefined) return [];
  if (typeof x === "string") return [x];
  if (Array.isArray(x) && x.every((s) => typeof s === "string")) return x;
  throw new UsageError(`${field} must be a path or a list of paths`);
};

/**
 * One line of a --batch file as a case (paths resolved against `base`). A line that is
 * not a usable case throws UsageError; `id` is then still known when the line got that far.
 * Unknown fields are refused: a misspelt "intermediate" would otherwise turn into a
 * confident "unknown-issuer" verdict; so are fields of the wrong type (a "true" string
 * for a boolean would otherwise be taken as set, or dropped).
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
  const check = <T>(f: () => T): T => {
    try {
      return f();
    } catch (err) {
      return fail((err as Error).message);
    }
  };
  const rel = (p: string) => resolve(base, p);
  const list = (k: string) => check(() => strings(obj[k], k).map(rel));
  const [at, usageText, policyText] = [str("at"), str("usage"), str("revocation")];
  const c: Case = {
    leaf: rel(leaf!),
    intermediates: list("intermediates"),
    anchors: list("anchors"),
    crls: list("crls"),
    ocspResponses: list("ocspResponses"),
    time: check(() => parseTime(at, clock, "at")),
    usage: check(() => checkUsage(usageText, "usage")),
    revocation: check(() => checkRevocation(policyText, "revocation")),
    checks: check(() => buildChecks(obj, (k) => `"${k}"`)),
  };
  return { id, case: c };
}

/**
 * Where a batch file's relative paths start: the file's directory. A pipe or another non-file
 * (`--batch /dev/stdin` fed by a pipe, `<(...)`) has none that means anything: the current
 * directory. A regular file reached through a descriptor's name (`--batch /dev/stdin < cases.jsonl`,
 * /dev/fd/N) would otherwise resolve against /dev: its real directory (realpath follows the link).
 */
export function batchBase(file: string, regular: boolean, cwd = process.cwd()): string {
  if (!regular) return cwd;
  const abs = resolve(cwd, file);
  if (!/^\/(?:dev|proc)\//.test(abs)) return dirname(abs);
  try {
    return dirname(realpathSync.native(abs));
  } catch {
    return cwd;
  }
}

export type LineOutcome = "valid" | "invalid" | "input-error";

/**
 * One non-blank line's JSON result and what it counts as. Anything the input causes (a line that
 * is no case, a file that cannot be read or decoded, a DecodeError while validating or printing)
 * is that line's input-error: it never ends the run, and the lines after it still get theirs.
 */
export function runLine(v: Validator, files: Files, line: string, lineNo: number, base: string, clock: SystemClock): { json: string; outcome: LineOutcome } {
  let id: unknown = lineNo;
  try {
    const parsed = parseBatchLine(line, lineNo, base, clock);
    id = parsed.id;
    const r = runCase(v, files, parsed.case);
    return { json: JSON.stringify(toJson(r, id)) + "\n", outcome: r.valid ? "valid" : "invalid" };
  } catch (err) {
    if (!(err instanceof UsageError) && !isDecodeError(err)) throw err;
    const known = (err as { caseId?: string | number }).caseId;
    if (known !== undefined) id = known;
    return { json: JSON.stringify({ id, valid: false, code: "input-error", detail: errorMessage(err) }) + "\n", outcome: "input-error" };
  }
}

/**
 * One JSON result per input line, in order. A bad line (bad JSON, unreadable or
 * undecodable file, a field of the wrong type) yields {id, valid:false, code:"input-error"}
 * and exit 2 at the end; otherwise exit 1 if any case is invalid, else 0.
 */
export async function runBatch(file: string, stray: string | undefined): Promise<number> {
  if (stray) usage("validate: --batch takes no LEAF argument");
  if (file === "") usage("validate: --batch needs a file name (an empty one was given)");
  let stream;
  let base: string;
  try {
    // A directory opens; only its first read fails (EISDIR), after the start. A pipe (/dev/stdin) is fine.
    const st = statSync(file);
    if (st.isDirectory()) throw new UsageError(`cannot read ${file}: not a file (a directory)`);
    accessSync(file, fsConstants.R_OK);
    base = batchBase(file, st.isFile());
    stream = createReadStream(file, "utf8");
  } catch (err) {
    throw err instanceof UsageError ? err : new UsageError(`cannot read ${file}: ${errorMessage(err)}`);
  }
  // A read that fails later (an I/O error, a file gone) is the input's fault too: a usage error, not an internal one.
  let readError: unknown;
  stream.once("error", (err) => (readError = err));
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
    // A reader that went away (EPIPE) is handled in main.ts: the process ends there.
    if (!process.stdout.write(chunk)) await new Promise<void>((r) => process.stdout.once("drain", () => r()));
  };
  let lineNo = 0;
  try {
    for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
      lineNo++;
      if (line.trim() === "") continue;
      const { json, outcome } = runLine(v, files, line, lineNo, base, clock);
      if (outcome === "invalid") anyInvalid = true;
      else if (outcome === "input-error") anyInputError = true;
      out.push(json);
      if (out.length >= 256) await flush();
    }
  } catch (err) {
    if (readError !== undefined && err === readError) throw new UsageError(`cannot read ${file}: ${errorMessage(err)}`);
    throw err;
  } finally {
    await flush();
  }
  return anyInputError ? ExitCode.Usage : anyInvalid ? ExitCode.Failed : ExitCode.Ok;
}
