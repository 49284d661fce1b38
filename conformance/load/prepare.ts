import type { IssueRequest } from "../../simulator/ca/index.js";
import { LOAD_METRICS } from "../../core/index.js";
import { makeCsr, normSerial } from "../pkix.js";
import { classifyError } from "./errors.js";
import { oneLine } from "./text.js";
import { Breather, every } from "./schedule.js";
import type { ErrorClass, LoadTarget, PhaseContext } from "./types.js";

/*
 * The prepare phase of `cardloop load revoke` (issue 13): issues the
 * certificates the run will revoke, plus a control set it never revokes,
 * through the CA adapter with many requests in flight. A handful of key
 * pairs serve every request (a load run measures revocation, not key
 * generation, and the keys never leave this process); a failed issuance is
 * counted by class and the target is simply left out.
 */

export interface PrepareOptions {
  /** Certificates to issue for revocation, plus `control` more that the run never revokes. */
  count: number;
  control: number;
  /** Issuance requests in flight. */
  concurrency: number;
  /** Unique per run (and shard): holder ids are `load-<runId>-<i>`, emails `<i>.<runId>@load.invalid`. */
  runId: string;
  raToken?: string;
  /** Cards' expiry for the requests (the CA caps validity there); default: 2 years after the CA clock's now, given by the caller. */
  cardExpiry: Date;
  signal?: AbortSignal;
  /** Called at most every ~250 ms and at the end. */
  onProgress?(done: number, failed: number): void;
}

export interface Prepared {
  targets: LoadTarget[];
  control: LoadTarget[];
  /** Issuance failures by class. */
  failed: Map<ErrorClass, number>;
  ms: number;
  /** The issuing CA certificate (PEM), from the first IssuedCertificate's chainPem[0]: OCSP requests need it. */
  issuerPem?: string;
  /** The first failure of class "other" (not a CA answer nor a transport error), first line: a setup failure quotes it, redacted by the caller. */
  firstOther?: string;
}

/** Key pairs (CSRs) cycled over the requests. */
const KEYS = 8;

/** `metricsEveryMs`: how often the throughput sample goes out (tests shorten it). */
export async function prepareTargets(ctx: PhaseContext, o: PrepareOptions, tuning: { metricsEveryMs?: number } = {}): Promise<Prepared> {
  check(o);
  const started = performance.now();
  const csrs: string[] = [];
  for (let i = 0; i < KEYS; i++) csrs.push((await makeCsr(`Load Holder key ${i}`)).pem);
  const total = o.count + o.control;
  /** By index: the first `count` are targets, the rest control; undefined where issuance failed. */
  const issued = new Array<LoadTarget | undefined>(total);
  const failed = new Map<ErrorClass, number>();
  let issuerPem: string | undefined;
  let next = 0;
  let done = 0;
  let failures = 0;
  let doneThisSecond = 0;
  let lastSecond = started;
  let lastProgress = started;
  const breather = new Breather();
  let firstOther: string | undefined;

  /** The issuance rate since the last sample: every second, and once at the end for the last part. */
  const sample = () => {
    const now = performance.now();
    if (now <= lastSecond) return;
    const rate = doneThisSecond / ((now - lastSecond) / 1000);
    doneThisSecond = 0;
    lastSecond = now;
    ctx.bus.emit("metric.sample", { name: LOAD_METRICS.throughput, value: rate, unit: "1/s", labels: { phase: "prepare" } }, ["value"]);
  };
  const throughput = every(tuning.metricsEveryMs ?? 1000, sample);

  const request = (i: number): IssueRequest => ({
    csrPem: csrs[i % KEYS],
    profile: "authentication",
    holder: { id: `load-${o.runId}-${i}`, name: `Load Holder ${i}`, email: `${i}.${o.runId}@load.invalid` },
    cardExpiry: o.cardExpiry,
    ...(o.raToken !== undefined ? { raToken: o.raToken } : {}),
  });

  const worker = async () => {
    for (;;) {
      const pause = breather.due();
      if (pause) await pause;
      if (next >= total || o.signal?.aborted || ctx.signal?.aborted) return;
      const i = next++;
      const req = request(i);
      try {
        const cert = await ctx.ca.issue(req);
        issued[i] = { serial: canonicalSerial(cert.serial), holder: { ...req.holder, ...(cert.cancellationCodes?.holder ? { code: cert.cancellationCodes.holder } : {}) } };
        issuerPem ??= cert.chainPem[0];
        done++;
        doneThisSecond++;
      } catch (err) {
        const cls = classifyError(err);
        if (cls === "other") firstOther ??= oneLine(err);
        failed.set(cls, (failed.get(cls) ?? 0) + 1);
        failures++;
      }
      if (o.onProgress) {
        const now = performance.now();
        if (now - lastProgress >= 250) {
          lastProgress = now;
          o.onProgress(done, failures);
        }
      }
    }
  };

  try {
    const workers: Promise<void>[] = [];
    for (let w = 0; w < Math.min(o.concurrency, Math.max(total, 1)); w++) workers.push(worker());
    await Promise.all(workers);
  } finally {
    throughput.stop();
  }
  sample();
  o.onProgress?.(done, failures);
  const targets: LoadTarget[] = [];
  const control: LoadTarget[] = [];
  for (let i = 0; i < total; i++) {
    const t = issued[i];
    if (t) (i < o.count ? targets : control).push(t);
  }
  return { targets, control, failed, ms: performance.now() - started, ...(issuerPem ? { issuerPem } : {}), ...(firstOther !== undefined ? { firstOther } : {}) };
}

/** normSerial's spelling: lower-case hex without a leading zero (or "0"). */
const CANONICAL = /^(?:0|[1-9a-f][0-9a-f]*)$/;

/**
 * The serial in normSerial's spelling. A CA's own string is kept when it is
 * already canonical (the usual case): the revoke phase hands that very string
 * back, and a CA keying its certificates by it finds it without hashing a
 * fresh copy; BigInt normalisation only for other spellings.
 */
export function canonicalSerial(serial: string): string {
  return CANONICAL.test(serial) ? serial : normSerial(serial);
}

function check(o: PrepareOptions): void {
  const whole = (v: number, min: number) => Number.isSafeInteger(v) && v >= min;
  if (!whole(o.count, 0)) throw new RangeError(`count must be an integer >= 0, got ${o.count}`);
  if (!whole(o.control, 0)) throw new RangeError(`control must be an integer >= 0, got ${o.control}`);
  if (!whole(o.concurrency, 1)) throw new RangeError(`concurrency must be an integer >= 1, got ${o.concurrency}`);
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(o.runId)) throw new RangeError("runId must be 1-64 letters, digits, '.', '_' or '-'");
  if (!(o.cardExpiry instanceof Date) || Number.isNaN(o.cardExpiry.getTime())) throw new RangeError("cardExpiry must be a valid date");
}
