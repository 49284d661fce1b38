import { CaError, type IssuedCertificate, type IssueRequest } from "../../simulator/ca/index.js";
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
 * counted by class and the target is simply left out. Where the adapter has
 * bulk issuance (`issueMany`: the embedded CA's `POST /api/v1/certificates/batch`)
 * the requests go in batches, a few in flight; single requests otherwise.
 * Which of the two served is said in `note`.
 */

export interface PrepareOptions {
  /** Certificates to issue for revocation, plus `control` more that the run never revokes. */
  count: number;
  control: number;
  /** Issuance requests in flight (single issuance). */
  concurrency: number;
  /** Requests per `issueMany` call where the adapter has it (default 500); 1: single issuance even then. */
  batch?: number;
  /** `issueMany` calls in flight (default 4). */
  batchesInFlight?: number;
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
  /** How the certificates were asked for (batches through issueMany, or single requests, and why): for the run's notes. */
  note?: string;
}

/** Requests per issueMany call by default: ~330 KB of JSON each way, well inside the embedded CA's limits (1000 items, 4 MiB). */
const PREPARE_BATCH = 500;
const BATCHES_IN_FLIGHT = 4;

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

  /** Progress, at most every 250 ms (and once at the end). */
  const progress = () => {
    if (!o.onProgress) return;
    const now = performance.now();
    if (now - lastProgress >= 250) {
      lastProgress = now;
      o.onProgress(done, failures);
    }
  };
  const record = (i: number, cert: IssuedCertificate, req: IssueRequest) => {
    issued[i] = { serial: canonicalSerial(cert.serial), holder: { ...req.holder, ...(cert.cancellationCodes?.holder ? { code: cert.cancellationCodes.holder } : {}) } };
    issuerPem ??= cert.chainPem[0];
    done++;
    doneThisSecond++;
  };
  const fail = (err: unknown, n = 1) => {
    const cls = classifyError(err);
    if (cls === "other") firstOther ??= oneLine(err);
    failed.set(cls, (failed.get(cls) ?? 0) + n);
    failures += n;
  };
  const stopped = () => next >= total || !!o.signal?.aborted || !!ctx.signal?.aborted;

  const worker = async () => {
    for (;;) {
      const pause = breather.due();
      if (pause) await pause;
      if (stopped()) return;
      const i = next++;
      const req = request(i);
      try {
        record(i, await ctx.ca.issue(req), req);
      } catch (err) {
        fail(err);
      }
      progress();
    }
  };

  const batchSize = o.batch ?? PREPARE_BATCH;
  const issueMany = batchSize > 1 && ctx.ca.issueMany ? ctx.ca.issueMany.bind(ctx.ca) : undefined;
  /** One batch from `next` on; false when the CA has no bulk issuance after all (404/405: nothing was issued, nothing counted). */
  const sendBatch = async (many: NonNullable<typeof issueMany>, first: boolean): Promise<boolean> => {
    const from = next;
    const to = Math.min(total, from + batchSize);
    next = to;
    const reqs: IssueRequest[] = [];
    for (let i = from; i < to; i++) reqs.push(request(i));
    let results: Array<IssuedCertificate | CaError>;
    try {
      results = await many(reqs);
    } catch (err) {
      if (first && err instanceof CaError && (err.status === 404 || err.status === 405)) {
        next = from;
        return false;
      }
      fail(err, reqs.length);
      return true;
    }
    for (let k = 0; k < reqs.length; k++) {
      const r = results[k];
      if (isIssued(r)) record(from + k, r, reqs[k]);
      else fail(r ?? new Error(`the CA answered ${results.length} results for ${reqs.length} requests`));
    }
    return true;
  };
  const batchWorker = async (many: NonNullable<typeof issueMany>) => {
    for (;;) {
      const pause = breather.due();
      if (pause) await pause;
      if (stopped()) return;
      await sendBatch(many, false);
      progress();
    }
  };

  let note: string;
  try {
    const workers: Promise<void>[] = [];
    // The first batch alone: a CA whose adapter offers issueMany but whose server lacks the endpoint is found before any other is sent.
    const bulk = issueMany !== undefined && !stopped() && (await sendBatch(issueMany, true));
    if (bulk) {
      progress();
      const inFlight = o.batchesInFlight ?? BATCHES_IN_FLIGHT;
      note = `prepare: bulk issuance (issueMany), ${batchSize} requests per batch, ${inFlight} in flight`;
      for (let w = 0; w < inFlight; w++) workers.push(batchWorker(issueMany));
    } else {
      note = issueMany
        ? `prepare: the CA has no bulk issuance endpoint, single requests (${o.concurrency} in flight)`
        : `prepare: single issuance requests (${o.concurrency} in flight)${batchSize > 1 ? ", the adapter has no bulk issuance" : ""}`;
      for (let w = 0; w < Math.min(o.concurrency, Math.max(total, 1)); w++) workers.push(worker());
    }
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
  return { targets, control, failed, ms: performance.now() - started, ...(issuerPem ? { issuerPem } : {}), ...(firstOther !== undefined ? { firstOther } : {}), note };
}

/** An issued certificate among issueMany's results (anything else there is that request's refusal). */
function isIssued(r: unknown): r is IssuedCertificate {
  return typeof r === "object" && r !== null && !(r instanceof Error) && typeof (r as IssuedCertificate).serial === "string";
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
  if (o.batch !== undefined && !whole(o.batch, 1)) throw new RangeError(`batch must be an integer >= 1, got ${o.batch}`);
  if (o.batchesInFlight !== undefined && !whole(o.batchesInFlight, 1)) throw new RangeError(`batchesInFlight must be an integer >= 1, got ${o.batchesInFlight}`);
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(o.runId)) throw new RangeError("runId must be 1-64 letters, digits, '.', '_' or '-'");
  if (!(o.cardExpiry instanceof Date) || Number.isNaN(o.cardExpiry.getTime())) throw new RangeError("cardExpiry must be a valid date");
}
