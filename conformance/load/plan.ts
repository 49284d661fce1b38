import { randomBytes } from "node:crypto";
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { UsageError, isRevocationReason, parseDuration, type RevocationReason } from "../../core/index.js";
import { parseMaxErrors, parseMaxPropagation, type Gates } from "./gates.js";
import type { LoadRole, LoadTarget, Loop, ReasonMix, Shard } from "./types.js";

/*
 * `cardloop load revoke`'s options, checked into one plan before any CA
 * starts: anything wrong is a UsageError naming the option (the CLI makes it
 * one line and exit 2); and the serials file agents share.
 */

/** The options as commander hands them over: strings, booleans, undefined when not given. */
export interface RawLoadOptions {
  ca?: string;
  caConfig?: string;
  prepare?: string;
  serials?: string;
  issuer?: string;
  saveSerials?: string;
  control?: string;
  count?: string;
  duration?: string;
  rate?: string;
  concurrency?: string;
  batch?: string;
  role?: string;
  reasons?: string;
  sample?: string;
  shard?: string;
  timeout?: string;
  propagationTimeout?: string;
  minRate?: string;
  maxP99?: string;
  maxPropagation?: string;
  maxErrors?: string;
}

/** Where the certificates to revoke come from. */
export type LoadSource = { kind: "prepare"; total: number } | { kind: "file"; path: string; issuerPath?: string };

export interface LoadPlan {
  target: string;
  caConfig?: string;
  source: LoadSource;
  /** `--save-serials`: where a prepared run writes its targets (codes included: mode 0600). */
  saveSerials?: string;
  /** Control certificates never revoked; undefined: the default (min(100, N/10) prepared; none from a file). */
  control?: number;
  /** Serials to revoke over all shards (each agent takes its share); undefined: every target. 0: prepare and verify only. */
  count?: number;
  durationMs?: number;
  loop: Loop;
  batch: number;
  role: LoadRole;
  /** Whether --role was given (a file without codes then cannot fall back to the operator). */
  roleGiven: boolean;
  reasons: ReasonMix;
  sample: number;
  shard?: Shard;
  timeoutMs: number;
  propagationTimeoutMs: number;
  gates: Gates;
}

export const LOAD_DEFAULTS = {
  concurrency: 64,
  /**
   * Batches in flight by default: a CA writes one batch at a time, so more in flight only queue (64 batches of 1000
   * measured 1 s latency at the same throughput), and the OCSP answers a propagation sample waits for queue behind them.
   */
  batchConcurrency: 4,
  batch: 1,
  reasons: "cessationOfOperation=1",
  sample: 100,
  timeout: "30s",
  propagationTimeout: "60s",
  /** Issuance requests in flight while preparing: a served CA uses its concurrency (group commit). */
  prepareConcurrency: 128,
} as const;

/** Reasons a load test may not give: both belong to holds, which are undone, not revocations. */
const REFUSED_REASONS = new Set<string>(["certificateHold", "removeFromCRL"]);

/** The whole plan from the options, or a UsageError naming the first wrong one. */
export function parseLoadOptions(o: RawLoadOptions): LoadPlan {
  if (!o.ca) throw new UsageError("--ca is required (embedded | openssl | cfssl | http(s)://URL | module:PATH)");
  if ((o.prepare === undefined) === (o.serials === undefined)) throw new UsageError("give either --prepare N or --serials FILE");
  if (o.issuer !== undefined && o.serials === undefined) throw new UsageError("--issuer goes with --serials (a prepared run knows its issuer)");
  if (o.saveSerials !== undefined && o.prepare === undefined) throw new UsageError("--save-serials goes with --prepare");
  if (o.count !== undefined && o.duration !== undefined) throw new UsageError("give --count or --duration, not both");
  if (o.rate !== undefined && o.concurrency !== undefined) throw new UsageError("give --rate (open loop) or --concurrency (closed loop), not both");

  const source: LoadSource =
    o.prepare !== undefined
      ? { kind: "prepare", total: wholeNumber("--prepare", o.prepare, 1, 10_000_000) }
      : { kind: "file", path: nonEmpty("--serials", o.serials!), issuerPath: o.issuer === undefined ? undefined : nonEmpty("--issuer", o.issuer) };
  const batch = o.batch === undefined ? LOAD_DEFAULTS.batch : wholeNumber("--batch", o.batch, 1, 100_000);
  const roleGiven = o.role !== undefined;
  const role = roleGiven ? parseRole(o.role!) : batch > 1 ? "operator" : "holder";
  if (batch > 1 && role === "holder") throw new UsageError("--batch above 1 is the operator's (bulk revocation needs the operator token): drop --role holder");
  const loop: Loop =
    o.rate !== undefined
      ? { kind: "open", ratePerSecond: positiveRate("--rate", o.rate) }
      : { kind: "closed", concurrency: o.concurrency === undefined ? (batch > 1 ? LOAD_DEFAULTS.batchConcurrency : LOAD_DEFAULTS.concurrency) : wholeNumber("--concurrency", o.concurrency, 1, 100_000) };
  const gates: Gates = {};
  if (o.minRate !== undefined) gates.minRate = positiveRate("--min-rate", o.minRate);
  if (o.maxP99 !== undefined) gates.maxP99Ms = duration("--max-p99", o.maxP99);
  if (o.maxPropagation !== undefined) gates.maxPropagation = parseMaxPropagation(o.maxPropagation);
  if (o.maxErrors !== undefined) gates.maxErrors = parseMaxErrors(o.maxErrors);
  return {
    target: o.ca,
    caConfig: o.caConfig,
    source,
    saveSerials: o.saveSerials === undefined ? undefined : nonEmpty("--save-serials", o.saveSerials),
    control: o.control === undefined ? undefined : wholeNumber("--control", o.control, 0, 1_000_000),
    count: o.count === undefined ? undefined : wholeNumber("--count", o.count, 0, 100_000_000),
    durationMs: o.duration === undefined ? undefined : duration("--duration", o.duration),
    loop,
    batch,
    role,
    roleGiven,
    reasons: parseReasons(o.reasons ?? LOAD_DEFAULTS.reasons),
    sample: o.sample === undefined ? LOAD_DEFAULTS.sample : wholeNumber("--sample", o.sample, 0, 100_000),
    shard: o.shard === undefined ? undefined : parseShard(o.shard),
    timeoutMs: duration("--timeout", o.timeout ?? LOAD_DEFAULTS.timeout),
    propagationTimeoutMs: duration("--propagation-timeout", o.propagationTimeout ?? LOAD_DEFAULTS.propagationTimeout),
    gates,
  };
}

/** `keyCompromise=0.1,cessationOfOperation=0.9`: RFC 5280 names, weights > 0 (normalised later); a name at most once. */
export function parseReasons(text: string): ReasonMix {
  const mix: Array<{ reason: RevocationReason; weight: number }> = [];
  const parts = text.split(",").map((s) => s.trim());
  if (parts.length === 0 || parts.every((p) => p === "")) throw new UsageError("--reasons is empty (e.g. keyCompromise=0.1,cessationOfOperation=0.9)");
  for (const part of parts) {
    const m = /^([A-Za-z]+)=(\d+(?:\.\d+)?)$/.exec(part);
    if (!m) throw new UsageError(`--reasons: each entry is name=weight, e.g. keyCompromise=0.1 (got ${shown(part)})`);
    const [, name, w] = m;
    if (REFUSED_REASONS.has(name)) throw new UsageError(`--reasons: ${name} is not a revocation a load test makes (holds are undone)`);
    if (!isRevocationReason(name)) throw new UsageError(`--reasons: unknown reason ${shown(name)} (RFC 5280 names, e.g. keyCompromise, cessationOfOperation)`);
    const weight = Number(w);
    if (!(weight > 0) || !Number.isFinite(weight)) throw new UsageError(`--reasons: the weight of ${name} must be above 0`);
    if (mix.some((e) => e.reason === name)) throw new UsageError(`--reasons: ${name} is given twice`);
    mix.push({ reason: name, weight });
  }
  const sum = mix.reduce((s, e) => s + e.weight, 0);
  return mix.map((e) => ({ reason: e.reason, weight: e.weight / sum }));
}

/** `I/N`: shard I (1-based) of N agents. */
export function parseShard(text: string): Shard {
  const m = /^(\d{1,6})\/(\d{1,6})$/.exec(text.trim());
  if (!m) throw new UsageError(`--shard is I/N, e.g. 2/4 (got ${shown(text)})`);
  const index = Number(m[1]);
  const of = Number(m[2]);
  if (of < 1 || index < 1 || index > of) throw new UsageError(`--shard ${index}/${of}: I must be 1..N`);
  return { index, of };
}

/** This shard's items: every N-th from position I-1, so that the N shards neither overlap nor leave a gap. */
export function shardOf<T>(items: readonly T[], shard: Shard | undefined): T[] {
  if (!shard || shard.of === 1) return [...items];
  const out: T[] = [];
  for (let i = shard.index - 1; i < items.length; i += shard.of) out.push(items[i]);
  return out;
}

/** How many of `total` items shard I of N takes (what shardOf would return for `total` items). */
export function shareSize(total: number, shard: Shard | undefined): number {
  if (!shard) return total;
  return total >= shard.index ? Math.floor((total - shard.index) / shard.of) + 1 : 0;
}

/** The default control set of a prepared run: a tenth of its share, at most 100. */
export function defaultControl(prepared: number): number {
  return Math.min(100, Math.floor(prepared / 10));
}

/** The plan as the run log and the reports show it: no credential, no path to one. */
export function publicPlan(plan: LoadPlan): Record<string, unknown> {
  return {
    source: plan.source.kind === "prepare" ? { kind: "prepare", total: plan.source.total } : { kind: "file" },
    control: plan.control,
    count: plan.count,
    durationMs: plan.durationMs,
    loop: plan.loop,
    batch: plan.batch,
    role: plan.role,
    reasons: plan.reasons.map((r) => `${r.reason}=${round(r.weight)}`).join(","),
    sample: plan.sample,
    shard: plan.shard ? `${plan.shard.index}/${plan.shard.of}` : undefined,
    timeoutMs: plan.timeoutMs,
    propagationTimeoutMs: plan.propagationTimeoutMs,
    gates: {
      minRate: plan.gates.minRate,
      maxP99Ms: plan.gates.maxP99Ms,
      maxPropagation: plan.gates.maxPropagation?.text,
      maxErrors: plan.gates.maxErrors?.text ?? "0",
    },
  };
}

const round = (n: number) => Math.round(n * 1e6) / 1e6;

function parseRole(text: string): LoadRole {
  if (text === "holder" || text === "operator") return text;
  throw new UsageError(`--role must be holder or operator (got ${shown(text)})`);
}

/** Whole digits only: Number("") is 0 and Number("1e3") is 1000, neither what the user typed. */
function wholeNumber(name: string, text: string, min: number, max: number): number {
  const n = /^\d{1,12}$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`${name} must be a whole number ${min}..${max} (got ${shown(text)})`);
  return n;
}

/** A rate per second, "5000" or "5000/s"; fractions allowed, above 0. */
function positiveRate(name: string, text: string): number {
  const m = /^(\d{1,12}(?:\.\d{1,9})?)(?:\/s)?$/.exec(text.trim());
  const n = m ? Number(m[1]) : NaN;
  if (!(n > 0)) throw new UsageError(`${name} must be a rate above 0 per second, e.g. 5000 or 5000/s (got ${shown(text)})`);
  return n;
}

function duration(name: string, text: string): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch {
    throw new UsageError(`${name} must be a duration, e.g. 30s, 500ms, 2m (got ${shown(text)})`);
  }
  if (!(ms > 0) || !Number.isFinite(ms)) throw new UsageError(`${name} must be above 0 (got ${shown(text)})`);
  return ms;
}

function nonEmpty(name: string, text: string): string {
  if (text.trim() === "") throw new UsageError(`${name} needs a file`);
  return text;
}

/** What the user typed, bounded and on one line, for an error message. */
function shown(text: string): string {
  const one = JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}...` : text);
  return one;
}

// ---- the serials file ----

const SERIALS_HEADER = "# cardloop load revoke serials: serial, or serial<TAB>code<TAB>email<TAB>name<TAB>holderId (holds codes: keep it private)";

/**
 * `--serials FILE`: one serial (hex) per line, or five TAB-separated fields
 * (serial, cancellation code, email, name, holder id) for revocations by the
 * holder; `#` comments and blank lines skipped. A bad line is one error
 * naming file:line, never the line itself (it may hold a code).
 */
export function readSerialsFile(path: string): LoadTarget[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read --serials ${path}: ${(err as NodeJS.ErrnoException).code ?? "unreadable"}`);
  }
  const targets: LoadTarget[] = [];
  const seen = new Set<string>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, "");
    if (line.trim() === "" || line.trimStart().startsWith("#")) continue;
    const at = `${path}:${i + 1}`;
    const fields = line.split("\t");
    if (fields.length !== 1 && fields.length !== 5) throw new UsageError(`${at}: expected a serial, or serial<TAB>code<TAB>email<TAB>name<TAB>holderId (got ${fields.length} fields)`);
    const hex = fields[0].trim();
    if (!/^(0x)?[0-9a-fA-F]{1,64}$/.test(hex)) throw new UsageError(`${at}: the serial must be hex (1 to 64 digits)`);
    const serial = BigInt(hex.startsWith("0x") ? hex : `0x${hex}`).toString(16);
    if (seen.has(serial)) throw new UsageError(`${at}: the serial is listed twice`);
    seen.add(serial);
    if (fields.length === 1) {
      targets.push({ serial });
      continue;
    }
    const [, code, email, name, id] = fields;
    for (const [what, v] of [["code", code], ["email", email], ["name", name], ["holderId", id]] as const) {
      if (v.trim() === "") throw new UsageError(`${at}: the ${what} field is empty`);
    }
    targets.push({ serial, holder: { id, name, email, code } });
  }
  return targets;
}

/** `--save-serials FILE`: the prepared targets in the format readSerialsFile reads, mode 0600 (it holds codes). */
export function writeSerialsFile(path: string, targets: readonly LoadTarget[]): void {
  const lines = [SERIALS_HEADER];
  for (const t of targets) {
    const h = t.holder;
    if (!h || h.code === undefined) {
      lines.push(t.serial);
      continue;
    }
    const fields = [t.serial, h.code, h.email, h.name, h.id];
    // A field with a TAB or a line break would not read back as it was written.
    if (fields.some((f) => /[\t\r\n]/.test(f) || f === "")) throw new UsageError(`--save-serials: the holder of ${t.serial} has a field that cannot be written (empty, or a tab or line break)`);
    lines.push(fields.join("\t"));
  }
  // A new file (O_EXCL, mode 0600 from its creation) in the same directory, renamed over the target: the codes are
  // never readable by others, not even for a moment through an existing file's looser mode.
  const tmp = join(dirname(resolve(path)), `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    writeFileSync(tmp, lines.join("\n") + "\n", { mode: 0o600, flag: "wx" });
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new UsageError(`cannot write --save-serials ${path}: ${(err as NodeJS.ErrnoException).code ?? "unwritable"}`);
  }
}
