import type { RevocationReason, RevokeRequest } from "../../simulator/ca/index.js";
import { LOAD_METRICS } from "../../core/index.js";
import { normSerial } from "../pkix.js";
import { classifyError, Deadlines } from "./errors.js";
import { HdrLatencyRecorder } from "./histogram.js";
import { reasonPicker } from "./reasons.js";
import { Breather, every, OpenLoopSchedule } from "./schedule.js";
import type { Ack, ErrorClass, LatencyRecorder, LoadTarget, PhaseContext, RevokeOutcome, RevokePlan } from "./types.js";

/*
 * The revoke phase of `cardloop load revoke` (issue 13): sends revocation
 * requests for the targets in order, closed loop (C in flight) or open loop
 * (a fixed schedule, latency from each request's intended start), single
 * requests or batches to the CA's bulk endpoint. Whatever the CA does
 * (refuses, times out, dies) is counted by class and the phase goes on; it
 * throws only for a bad plan or a programming error (a hook that throws).
 * The hot path allocates what a request needs and little else: the
 * generator must not be what limits a fast CA.
 */

export interface RevokeHooks {
  /** Every acknowledged serial, as it is acknowledged (the propagation watcher samples from these). */
  onAck?(ack: Ack): void;
}

/** Knobs for tests and benchmarks; the defaults are what a run uses. */
export interface RevokeTuning {
  /** Open loop: requests outstanding at most; requests due beyond it wait, their latency running from their intended start. */
  maxOutstanding?: number;
  /** Open loop: how often the scheduler sends what is due (ms). */
  tickMs?: number;
  /** How often metric.sample events go out (ms). */
  metricsEveryMs?: number;
}

const FAILED_UNKNOWN: ErrorClass = "4xx 404 not-found";
const FAILED_ALREADY: ErrorClass = "4xx 409 already-revoked";
/** A bulk answer counted fewer revocations than the batch minus its unknown and already-revoked serials. */
export const FAILED_BULK_COUNT: ErrorClass = "bulk-count-mismatch";
/** A single answer that did not say "revoked" for the serial sent (on-hold, or another serial). */
export const FAILED_WRONG_ANSWER: ErrorClass = "wrong-answer";

/** What the phase measured beyond the contract's RevokeOutcome: `latency` holds acknowledged requests only. */
export interface RevokePhaseOutcome extends RevokeOutcome {
  /** Latencies of the requests that failed (a refusal comes back fast: it must not make the CA look faster). */
  failedLatency: LatencyRecorder;
  /** Open loop: requests due before the end but never sent (the outstanding cap held them back: the CA was behind the schedule). */
  dueNotSent: number;
  /** Bulk answers whose count was short, and the serials they left out. */
  bulkShort: { answers: number; serials: number };
}

/** Never throws for anything the CA does (errors are classified and counted); throws only for a programming error or bad plan. */
export async function runRevokePhase(ctx: PhaseContext, targets: LoadTarget[], plan: RevokePlan, hooks: RevokeHooks = {}, tuning: RevokeTuning = {}): Promise<RevokePhaseOutcome> {
  const run = new RevokeRun(ctx, targets, plan, hooks, tuning);
  return run.run();
}

class RevokeRun {
  private readonly pick: () => RevocationReason;
  private readonly bulk: boolean;
  /** Serials per request. */
  private readonly size: number;
  /** Serials this run may send: the count, capped by the targets. */
  private readonly limit: number;
  private readonly latency = new HdrLatencyRecorder();
  private readonly failedLatency = new HdrLatencyRecorder();
  private dueNotSent = 0;
  private readonly bulkShort = { answers: 0, serials: 0 };
  private readonly acked: Ack[] = [];
  private readonly failed = new Map<ErrorClass, string[]>();
  private readonly breather = new Breather();
  /** The plan's per-request timeout: one timer for every request in flight (errors.ts). */
  private readonly deadlines: Deadlines;
  private next = 0;
  private requests = 0;
  private inFlight = 0;
  private startedAt = 0;
  private deadline = Infinity;
  private stopped = false;
  private hookError: unknown;
  private ackedThisInterval = 0;
  private lastMetricsAt = 0;
  /** Resolves when the open loop has stopped sending and nothing is in flight. */
  private drained: (() => void) | undefined;

  constructor(
    private readonly ctx: PhaseContext,
    private readonly targets: LoadTarget[],
    private readonly plan: RevokePlan,
    private readonly hooks: RevokeHooks,
    private readonly tuning: RevokeTuning,
  ) {
    validate(plan);
    this.deadlines = new Deadlines(plan.timeoutMs);
    this.pick = reasonPicker(plan.reasons);
    const ca = ctx.ca;
    this.bulk = plan.batch > 1 && ca.capabilities().bulkRevoke && typeof ca.revokeMany === "function";
    this.size = this.bulk ? plan.batch : 1;
    this.limit = Math.min(plan.count ?? Infinity, targets.length);
    if (this.bulk && !plan.operatorToken) throw new RangeError("batches go to the bulk endpoint, which needs the operator token");
    if (!this.bulk) this.checkCredentials();
  }

  private checkCredentials(): void {
    if (this.plan.role === "operator") {
      if (!this.plan.operatorToken) throw new RangeError("operator revocations need the operator token");
      return;
    }
    let missing = 0;
    for (let i = 0; i < this.limit; i++) {
      const h = this.targets[i].holder;
      if (!h || !h.code || !h.email || !h.name) missing++;
    }
    if (missing) throw new RangeError(`${missing} target(s) lack the holder's code, email or name that a holder revocation needs`);
  }

  async run(): Promise<RevokePhaseOutcome> {
    this.startedAt = performance.now();
    this.lastMetricsAt = this.startedAt;
    if (this.plan.durationMs !== undefined) this.deadline = this.startedAt + this.plan.durationMs;
    const metrics = every(this.tuning.metricsEveryMs ?? 1000, () => this.emitMetrics());
    try {
      if (this.plan.loop.kind === "closed") await this.closedLoop(this.plan.loop.concurrency);
      else await this.openLoop(new OpenLoopSchedule(this.startedAt, this.plan.loop.ratePerSecond, this.size));
    } finally {
      metrics.stop();
      // nothing is in flight any more (both loops wait for every request to settle)
      this.deadlines.close();
    }
    const endedAt = performance.now();
    this.emitMetrics(endedAt);
    if (this.hookError !== undefined) throw this.hookError;
    return {
      acked: this.acked,
      failed: this.failed,
      requests: this.requests,
      serialsSent: this.next,
      startedAt: this.startedAt,
      endedAt,
      bulk: this.bulk,
      latency: this.latency,
      failedLatency: this.failedLatency,
      dueNotSent: this.dueNotSent,
      bulkShort: this.bulkShort,
    };
  }

  /** Whether another request may go: not stopped, not aborted, not past the duration, serials left. */
  private mayContinue(now: number): boolean {
    if (this.stopped) return false;
    if (this.next >= this.limit || now >= this.deadline || this.ctx.signal?.aborted || this.hookError !== undefined) {
      this.stopped = true;
      return false;
    }
    return true;
  }

  private async closedLoop(concurrency: number): Promise<void> {
    const worker = async () => {
      for (;;) {
        const pause = this.breather.due();
        if (pause) await pause;
        const now = performance.now();
        if (!this.mayContinue(now)) return;
        await this.send(now);
      }
    };
    const workers: Promise<void>[] = [];
    for (let i = 0; i < concurrency; i++) workers.push(worker());
    await Promise.all(workers);
  }

  private openLoop(schedule: OpenLoopSchedule): Promise<void> {
    const maxOutstanding = this.tuning.maxOutstanding ?? 10_000;
    const tickMs = this.tuning.tickMs ?? 1;
    let k = 0; // requests started
    return new Promise<void>((resolve) => {
      this.drained = resolve;
      const tick = () => {
        const now = performance.now();
        const due = schedule.dueBy(now);
        while (k < due && this.inFlight < maxOutstanding && this.mayContinue(now)) void this.send(schedule.intendedStart(k++));
        if (!this.stopped) this.mayContinue(now); // the duration or an abort ends the phase even while the cap holds requests back
        if (this.stopped) {
          // Requests that were due before the end but never sent (the cap held them back, or the generator
          // itself fell behind) still count, with their wait until the end: the CA was at least that late.
          const end = Math.min(now, this.deadline);
          const possible = Math.ceil((this.limit - this.next) / this.size);
          const backlog = Math.min(schedule.dueBy(end) - k, possible);
          for (let j = 0; j < backlog; j++) this.latency.record(end - schedule.intendedStart(k + j));
          this.dueNotSent += Math.max(0, backlog);
          this.maybeDrained();
          return;
        }
        setTimeout(tick, tickMs);
      };
      tick();
    });
  }

  private maybeDrained(): void {
    if (this.stopped && this.inFlight === 0 && this.drained) {
      const done = this.drained;
      this.drained = undefined;
      done();
    }
  }

  /** One request for the next serials; its latency runs from `from` (its send, or its intended start). */
  private async send(from: number): Promise<void> {
    const start = this.next;
    const end = Math.min(start + this.size, this.limit);
    this.next = end;
    this.requests++;
    this.inFlight++;
    const reason = this.pick();
    try {
      if (this.bulk) await this.sendBatch(start, end, reason, from);
      else await this.sendSingle(start, reason, from);
    } catch (err) {
      // only a hook can get here: stop sending and throw once everything in flight has settled
      if (this.hookError === undefined) this.hookError = err;
      this.stopped = true;
    } finally {
      this.inFlight--;
      if (this.drained) this.maybeDrained();
    }
  }

  private async sendSingle(index: number, reason: RevocationReason, from: number): Promise<void> {
    const target = this.targets[index];
    let cls: ErrorClass | undefined;
    try {
      const answer = await this.deadlines.race(this.ctx.ca.revoke(this.request(target, reason)));
      // Only "revoked" for the serial sent is an acknowledgement: on-hold, or an answer about another serial, is not.
      if (answer?.status !== "revoked" || !sameSerial(answer.serial, target.serial)) cls = FAILED_WRONG_ANSWER;
    } catch (err) {
      cls = classifyError(err);
    }
    const now = performance.now();
    if (cls === undefined) {
      this.latency.record(now - from);
      this.ack(target.serial, reason, now);
    } else {
      this.failedLatency.record(now - from);
      this.fail(cls, target.serial);
    }
  }

  private request(target: LoadTarget, reason: RevocationReason): RevokeRequest {
    const h = target.holder;
    if (this.plan.role === "holder") return { serial: target.serial, reason, role: "holder", code: h?.code, email: h?.email, name: h?.name };
    return { serial: target.serial, reason, role: "operator", operatorToken: this.plan.operatorToken, answers: h ? { holderId: h.id } : {} };
  }

  private async sendBatch(start: number, end: number, reason: RevocationReason, from: number): Promise<void> {
    const serials = new Array<string>(end - start);
    for (let i = start; i < end; i++) serials[i - start] = this.targets[i].serial;
    let result;
    let error: unknown;
    try {
      result = await this.deadlines.race(this.ctx.ca.revokeMany!(serials, reason, this.plan.operatorToken!));
    } catch (err) {
      error = err;
    }
    const now = performance.now();
    if (!result) {
      this.failedLatency.record(now - from);
      const cls = classifyError(error);
      for (const s of serials) this.fail(cls, s);
      return;
    }
    this.latency.record(now - from);
    const unknown = serialSet(result.unknown);
    const already = serialSet(result.alreadyRevoked);
    const listed = (unknown?.size ?? 0) + (already?.size ?? 0);
    const counted = typeof result.revoked === "number" && Number.isFinite(result.revoked) ? result.revoked : 0;
    // The CA counted fewer than it should have: which serials it skipped is not said, so the last `short` of the
    // batch go to their own class (completeness still checks them: revoked anyway counts as revokedDespiteError).
    const short = Math.max(0, serials.length - listed - counted);
    if (short > 0) {
      this.bulkShort.answers++;
      this.bulkShort.serials += short;
    }
    if (unknown || already || short > 0) {
      let toAck = serials.length - listed - short;
      for (const s of serials) {
        if (unknown?.has(s)) this.fail(FAILED_UNKNOWN, s);
        else if (already?.has(s)) this.fail(FAILED_ALREADY, s);
        else if (toAck-- > 0) this.ack(s, reason, now);
        else this.fail(FAILED_BULK_COUNT, s);
      }
      return;
    }
    // The usual answer (every serial revoked): one Ack per serial and nothing else per serial.
    const acked = this.acked;
    const hooks = this.hooks;
    for (let i = 0; i < serials.length; i++) {
      const ack: Ack = { serial: serials[i], reason, ackedAt: now };
      acked.push(ack);
      this.ackedThisInterval++;
      hooks.onAck?.(ack);
    }
  }

  private ack(serial: string, reason: RevocationReason, ackedAt: number): void {
    const ack: Ack = { serial, reason, ackedAt };
    this.acked.push(ack);
    this.ackedThisInterval++;
    this.hooks.onAck?.(ack);
  }

  private fail(cls: ErrorClass, serial: string): void {
    const list = this.failed.get(cls);
    if (list) list.push(serial);
    else this.failed.set(cls, [serial]);
  }

  /** Throughput over the interval since the last call, latency percentiles and error counts so far. */
  private emitMetrics(now = performance.now()): void {
    const bus = this.ctx.bus;
    const seconds = (now - this.lastMetricsAt) / 1000;
    this.lastMetricsAt = now;
    const vol = ["value"];
    if (seconds > 0) bus.emit("metric.sample", { name: LOAD_METRICS.throughput, value: this.ackedThisInterval / seconds, unit: "1/s", labels: { phase: "revoke" } }, vol);
    this.ackedThisInterval = 0;
    if (this.latency.count > 0) {
      bus.emit("metric.sample", { name: LOAD_METRICS.latencyP50, value: this.latency.percentile(50), unit: "ms", labels: { phase: "revoke" } }, vol);
      bus.emit("metric.sample", { name: LOAD_METRICS.latencyP99, value: this.latency.percentile(99), unit: "ms", labels: { phase: "revoke" } }, vol);
    }
    for (const [cls, serials] of this.failed) bus.emit("metric.sample", { name: LOAD_METRICS.errors, value: serials.length, unit: "count", labels: { class: cls } }, vol);
  }
}

/** Whether the CA's answer names the serial sent; the same spelling is the usual case and needs no normalising. */
function sameSerial(answered: unknown, sent: string): boolean {
  if (typeof answered !== "string") return false;
  return answered === sent || normSerial(answered) === normSerial(sent);
}

/** The serials a bulk answer lists, as the targets spell them; undefined for none (the usual case: no allocation). Whatever the CA sent, no throw. */
function serialSet(list: unknown): Set<string> | undefined {
  if (!Array.isArray(list) || list.length === 0) return undefined;
  const set = new Set<string>();
  for (const s of list) if (typeof s === "string") set.add(normSerial(s));
  return set;
}

function validate(plan: RevokePlan): void {
  if (!(Number.isInteger(plan.batch) && plan.batch >= 1)) throw new RangeError(`batch must be an integer >= 1, got ${plan.batch}`);
  if (!(Number.isFinite(plan.timeoutMs) && plan.timeoutMs > 0)) throw new RangeError(`timeoutMs must be > 0, got ${plan.timeoutMs}`);
  if (plan.count !== undefined && !(Number.isInteger(plan.count) && plan.count >= 0)) throw new RangeError(`count must be an integer >= 0, got ${plan.count}`);
  if (plan.durationMs !== undefined && !(plan.durationMs > 0)) throw new RangeError(`durationMs must be > 0, got ${plan.durationMs}`);
  if (plan.role !== "holder" && plan.role !== "operator") throw new RangeError(`role must be holder or operator, got ${String(plan.role)}`);
  const loop = plan.loop;
  if (loop.kind === "closed") {
    if (!(Number.isInteger(loop.concurrency) && loop.concurrency >= 1)) throw new RangeError(`concurrency must be an integer >= 1, got ${loop.concurrency}`);
  } else if (loop.kind === "open") {
    if (!(Number.isFinite(loop.ratePerSecond) && loop.ratePerSecond > 0)) throw new RangeError(`rate must be > 0 per second, got ${loop.ratePerSecond}`);
  } else throw new RangeError("loop must be open or closed");
}
