import { percentile, type LoadPercentiles, type LoadSummaryData } from "../../core/index.js";
import { checkCompleteness, type CompletenessResult } from "./completeness.js";
import { evaluateGates } from "./gates.js";
import { defaultControl, publicPlan, shareSize, shardOf, type LoadPlan } from "./plan.js";
import { prepareTargets, type Prepared } from "./prepare.js";
import { PropagationWatcher } from "./propagation.js";
import { runRevokePhase, type RevokePhaseOutcome } from "./revoke-phase.js";
import { classifyError } from "./errors.js";
import { latencyRecorder } from "./histogram.js";
import { oneLine, round } from "./text.js";
import type { Ack, Completeness, LatencyRecorder, LoadTarget, PhaseContext, PropagationFigures } from "./types.js";

/*
 * `cardloop load revoke`, start to end: prepare (issue, or a file's share) ->
 * revoke (the PropagationWatcher fed by every acknowledgement) -> verify
 * (propagation figures, then completeness) -> gates -> one load.summary.
 * A CA that fails or dies mid-run is an outcome: what it acknowledged before
 * is still verified. No secret reaches an event: serials and counts only.
 */

export interface LoadRunInput {
  plan: LoadPlan;
  /** The target as the run log shows it (no password in a URL). */
  shown: string;
  /** The file's certificates (all shards: this run takes its share), when the plan reads --serials. */
  fileTargets?: LoadTarget[];
  /** The issuing CA certificate (PEM) for OCSP, from --issuer; a prepared run learns it from the issuance. */
  issuerPem?: string;
  /** The role the revocations use (the plan's, or operator for a file without codes). */
  role: LoadPlan["role"];
  /** Needed for batches and the operator role. Never logged. */
  operatorToken?: string;
  raToken?: string;
  /** Unique per run; holder ids carry it (and the shard). */
  runId: string;
  /** The cards' expiry for issuance requests. */
  cardExpiry: Date;
  prepareConcurrency: number;
}

/** What the live progress hears that the bus does not say: counts as they move. */
export interface LoadRunHooks {
  onPhase?(phase: "prepare" | "revoke" | "verify", total: number): void;
  onPrepared?(done: number, failed: number): void;
  onAck?(): void;
  /** The prepared targets (the CLI writes them with --save-serials). */
  onTargets?(targets: LoadTarget[]): void;
}

export async function runLoad(ctx: PhaseContext, input: LoadRunInput, hooks: LoadRunHooks = {}): Promise<LoadSummaryData> {
  const { plan } = input;
  const { bus } = ctx;
  const shard = plan.shard ? { index: plan.shard.index, of: plan.shard.of } : undefined;
  const planShown = { ...publicPlan(plan), role: input.role };
  bus.emit("run.started", { name: "load revoke", kind: "load", meta: { ca: input.shown, plan: planShown, ...(shard ? { shard } : {}) } });

  // ---- prepare ----
  const prep = await preparePhase(ctx, input, hooks);
  hooks.onTargets?.(prep.targets);
  // Verification runs even after a stop signal: what was acknowledged is still checked.
  const verifyCtx: PhaseContext = { ca: ctx.ca, bus: ctx.bus };
  const summaryBase = {
    ca: input.shown,
    plan: planShown,
    ...(shard ? { shard } : {}),
    prepare: {
      certificates: prep.targets.length,
      control: prep.control.length,
      ms: round(prep.ms),
      perSecond: perSecond(prep.targets.length + prep.control.length, prep.ms),
      source: input.plan.source.kind === "prepare" ? ("issued" as const) : ("file" as const),
      failed: prep.failedCount,
    },
  };
  if (prep.setupFailed) {
    const interrupted = interruptedBy(ctx.signal);
    // Not one certificate could be issued: the CA could not be set up for the run (exit 2), nothing to verify.
    const summary: LoadSummaryData = {
      ...summaryBase,
      revoke: emptyRevoke(plan, latencyRecorder()),
      propagation: { ocsp: emptyChannel(), crl: emptyChannel() },
      completeness: { ...emptyCompleteness(), complete: false, incompleteReason: `no certificate could be issued (${describeFailures(prep.failed)}${prep.firstOther ? `; first other: ${redact(prep.firstOther, input)}` : ""})` },
      gates: [],
      ...(interrupted ? { interrupted } : {}),
      exitCode: 2,
    };
    return finish(ctx, summary);
  }

  // ---- revoke ----
  const toRevoke = plan.count === undefined ? prep.targets.length : Math.min(prep.targets.length, shareSize(plan.count, plan.shard));
  hooks.onPhase?.("revoke", toRevoke);
  bus.emit("load.phase", { phase: "revoke", state: "started", detail: { targets: toRevoke, loop: plan.loop.kind, batch: plan.batch, role: input.role } });
  const watcher = new PropagationWatcher(verifyCtx, {
    sample: plan.sample,
    ...expectedAcks(plan, toRevoke),
    issuerPem: prep.issuerPem,
    timeoutMs: plan.propagationTimeoutMs,
  });
  // The watcher's OCSP connections open while the CA is idle: a CA busy with batches accepts one new connection per
  // turn of its event loop, which would be counted as propagation delay (propagation.ts ready()).
  if (toRevoke > 0) await watcher.ready();
  let outcome: RevokePhaseOutcome;
  if (toRevoke === 0) {
    const now = performance.now();
    outcome = {
      acked: [],
      failed: new Map(),
      requests: 0,
      serialsSent: 0,
      startedAt: now,
      endedAt: now,
      bulk: false,
      latency: latencyRecorder(),
      failedLatency: latencyRecorder(),
      dueNotSent: 0,
      bulkShort: { answers: 0, serials: 0 },
    };
  } else {
    outcome = await runRevokePhase(
      ctx,
      prep.targets,
      {
        count: toRevoke,
        durationMs: plan.durationMs,
        loop: plan.loop,
        batch: plan.batch,
        role: input.role,
        reasons: plan.reasons,
        timeoutMs: plan.timeoutMs,
        operatorToken: input.operatorToken,
      },
      {
        onAck: (ack: Ack) => {
          watcher.onAck(ack);
          hooks.onAck?.();
        },
      },
    );
  }
  const errors = errorCounts(outcome.failed);
  const revokeMs = outcome.endedAt - outcome.startedAt;
  bus.emit("load.phase", {
    phase: "revoke",
    state: "finished",
    detail: { requests: outcome.requests, serialsSent: outcome.serialsSent, acknowledged: outcome.acked.length, ms: round(revokeMs), bulk: outcome.bulk, errors },
  });

  // ---- verify ----
  hooks.onPhase?.("verify", outcome.acked.length + prep.control.length);
  bus.emit("load.phase", { phase: "verify", state: "started", detail: { acknowledged: outcome.acked.length, control: prep.control.length, sampled: Math.min(plan.sample, outcome.acked.length) } });
  /** Why verification is incomplete (the verdict fails); `info`: what the summary's notes say besides. */
  const notes: string[] = [];
  const info: string[] = prep.note ? [prep.note] : [];
  let propagation: { ocsp: PropagationFigures; crl: PropagationFigures; ocspNote?: string; crlNote?: string };
  try {
    propagation = await watcher.finish();
  } catch (err) {
    notes.push(`propagation could not be measured: ${oneLine(err)}`);
    propagation = { ocsp: { watched: 0, delaysMs: [], notSeen: [] }, crl: { watched: 0, delaysMs: [], notSeen: [] } };
  }
  const failedSerials = [...outcome.failed.values()].flat();
  let completeness: CompletenessResult;
  try {
    // A CA publishing on a cycle gets until --propagation-timeout after the last acknowledgement before a serial is lost.
    const lastAck = outcome.acked.reduce((m, a) => Math.max(m, a.ackedAt), -Infinity);
    const settleUntil = (Number.isFinite(lastAck) ? lastAck : performance.now()) + plan.propagationTimeoutMs;
    completeness = await checkCompleteness(verifyCtx, {
      acked: outcome.acked,
      control: prep.control,
      unsent: prep.targets.slice(outcome.serialsSent),
      failedSerials,
      issuerPem: prep.issuerPem,
      settleUntil,
    });
    if (completeness.note) notes.push(completeness.note);
    info.push(...(completeness.info ?? []));
    if (!completeness.ocspChecked && ctx.ca.capabilities().ocsp) notes.push("OCSP answers were not checked (no issuing CA certificate: give --issuer)");
    if (completeness.controlChecked === 0) info.push("wrongly revoked: not checked (no control)");
  } catch (err) {
    notes.push(`completeness could not be checked: ${oneLine(err)}`);
    completeness = { ...emptyCompleteness(), ocspChecked: false };
  }
  bus.emit("load.phase", {
    phase: "verify",
    state: "finished",
    detail: { checked: completeness.checked, lost: completeness.lost.length, wronglyRevoked: completeness.wronglyRevoked.length, wrongReason: completeness.wrongReason.length },
  });

  // ---- gates and the verdict ----
  const acked = outcome.acked.length;
  const rate = perSecond(acked, revokeMs);
  if (outcome.bulkShort.answers > 0)
    info.push(`${outcome.bulkShort.answers} bulk answer(s) counted ${outcome.bulkShort.serials} revocation(s) fewer than the batch: those serials count as failed (bulk-count-mismatch)`);
  if (plan.batch > 1 && !outcome.bulk && outcome.requests > 0) info.push(`--batch ${plan.batch}: the CA has no bulk endpoint, single requests were sent`);
  if (outcome.dueNotSent > 0) info.push(`${outcome.dueNotSent} request(s) were due but never sent: the CA was behind the schedule (their waits are in the latency)`);
  const gates = evaluateGates(plan.gates, {
    perSecond: rate,
    p99Ms: outcome.latency.count ? outcome.latency.percentile(99) : NaN,
    propagation: {
      ocsp: propagation.ocsp.delaysMs,
      crl: propagation.crl.delaysMs,
      notSeen: { ocsp: propagation.ocsp.notSeen.length, crl: propagation.crl.notSeen.length },
    },
    revocations: { sent: outcome.serialsSent, acknowledged: acked, errors },
  });
  // A stop signal ended the revocations early, or came during verification (which runs to the end): the CLI exits 130/143 either way.
  const interrupted = interruptedBy(ctx.signal);
  const complete = notes.length === 0;
  const failedVerdict =
    gates.some((g) => !g.passed) || completeness.lost.length > 0 || completeness.wronglyRevoked.length > 0 || completeness.wrongReason.length > 0 || !complete;
  const summary: LoadSummaryData = {
    ...summaryBase,
    revoke: {
      requests: outcome.requests,
      serialsSent: outcome.serialsSent,
      acknowledged: acked,
      ms: round(revokeMs),
      perSecond: rate,
      bulk: outcome.bulk,
      loop: plan.loop.kind,
      latencyMs: recorderPercentiles(outcome.latency),
      ...(outcome.failedLatency.count > 0 ? { failedLatencyMs: recorderPercentiles(outcome.failedLatency) } : {}),
      ...(outcome.dueNotSent > 0 ? { dueNotSent: outcome.dueNotSent } : {}),
      histogram: outcome.latency.buckets(),
      errors,
    },
    propagation: {
      ocsp: channel(propagation.ocsp, propagation.ocspNote),
      crl: channel(propagation.crl, propagation.crlNote),
    },
    completeness: {
      checked: completeness.checked,
      lost: completeness.lost.map((l) => ({ serial: l.serial, crl: l.crl, ocsp: l.ocsp })),
      wrongReason: completeness.wrongReason.map((w) => ({ serial: w.serial, expected: w.expected, ...(w.crl ? { crl: w.crl } : {}), ...(w.ocsp ? { ocsp: w.ocsp } : {}) })),
      wronglyRevoked: completeness.wronglyRevoked,
      controlChecked: completeness.controlChecked,
      revokedDespiteError: completeness.revokedDespiteError,
      complete,
      ...(complete ? {} : { incompleteReason: notes.join("; ") }),
    },
    gates: gates.map((g) => ({ gate: g.gate, limit: g.limit, actual: g.actual, passed: g.passed })),
    ...(interrupted ? { interrupted } : {}),
    ...(info.length ? { notes: info } : {}),
    exitCode: failedVerdict ? 1 : 0,
  };
  return finish(ctx, summary);
}

interface PreparedShare {
  targets: LoadTarget[];
  control: LoadTarget[];
  failed: Map<string, number>;
  failedCount: number;
  ms: number;
  issuerPem?: string;
  /** Issuance was asked for and not one certificate came back. */
  setupFailed: boolean;
  firstOther?: string;
  /** How the certificates were asked for (prepare.ts): one of the summary's notes. */
  note?: string;
}

async function preparePhase(ctx: PhaseContext, input: LoadRunInput, hooks: LoadRunHooks): Promise<PreparedShare> {
  const { plan } = input;
  const bus = ctx.bus;
  if (plan.source.kind === "file") {
    // A file's share: the last `control` serials of it are never revoked.
    const t0 = performance.now();
    const share = shardOf(input.fileTargets ?? [], plan.shard);
    const k = Math.min(plan.control ?? 0, share.length);
    hooks.onPhase?.("prepare", share.length);
    bus.emit("load.phase", { phase: "prepare", state: "started", detail: { source: "file", serials: share.length } });
    const prepared = { targets: share.slice(0, share.length - k), control: share.slice(share.length - k), failed: new Map(), failedCount: 0, ms: performance.now() - t0, issuerPem: input.issuerPem, setupFailed: false };
    bus.emit("load.phase", { phase: "prepare", state: "finished", detail: { certificates: prepared.targets.length, control: k, failed: 0 } });
    return prepared;
  }
  const count = shareSize(plan.source.total, plan.shard);
  const control = plan.control ?? defaultControl(count);
  hooks.onPhase?.("prepare", count + control);
  bus.emit("load.phase", { phase: "prepare", state: "started", detail: { source: "issued", certificates: count, control } });
  const runId = plan.shard ? `${input.runId}-s${plan.shard.index}of${plan.shard.of}` : input.runId;
  let prepared: Prepared;
  try {
    prepared = await prepareTargets(ctx, {
      count,
      control,
      concurrency: input.prepareConcurrency,
      runId,
      raToken: input.raToken,
      cardExpiry: input.cardExpiry,
      signal: ctx.signal,
      onProgress: (done, failed) => hooks.onPrepared?.(done, failed),
    });
  } catch (err) {
    // Only the CA or the transport failing is a CA that could not be set up; anything else is the tool's own fault: it propagates.
    const cls = classifyError(err);
    if (cls === "other") throw err;
    prepared = { targets: [], control: [], failed: new Map([[cls, count + control]]), ms: 0 };
  }
  const failedCount = [...prepared.failed.values()].reduce((s, n) => s + n, 0);
  bus.emit("load.phase", {
    phase: "prepare",
    state: "finished",
    detail: { certificates: prepared.targets.length, control: prepared.control.length, failed: failedCount, failures: Object.fromEntries(prepared.failed), ms: round(prepared.ms) },
  });
  return {
    targets: prepared.targets,
    control: prepared.control,
    failed: prepared.failed,
    failedCount,
    ms: prepared.ms,
    issuerPem: prepared.issuerPem,
    firstOther: prepared.firstOther,
    note: prepared.note,
    setupFailed: count + control > 0 && prepared.targets.length + prepared.control.length === 0,
  };
}

function finish(ctx: PhaseContext, summary: LoadSummaryData): LoadSummaryData {
  ctx.bus.emit("load.summary", summary);
  ctx.bus.emit("run.finished", { outcome: summary.exitCode === 0 ? "pass" : summary.exitCode === 1 ? "fail" : "error", summary: { exitCode: summary.exitCode } });
  return summary;
}

/**
 * The acknowledgements the propagation sample spreads over: every target for a count; for --duration, rate x duration
 * (open loop), or time slices of the duration (closed loop: its rate is not known before the run).
 */
export function expectedAcks(plan: Pick<LoadPlan, "durationMs" | "loop">, toRevoke: number): { expected: number; spreadMs?: number } {
  if (plan.durationMs === undefined) return { expected: toRevoke };
  if (plan.loop.kind === "open") return { expected: Math.min(toRevoke, Math.ceil((plan.loop.ratePerSecond * plan.durationMs) / 1000)) };
  return { expected: toRevoke, spreadMs: plan.durationMs };
}

/** No samples: NaN (JSON null, "n/a" in the reports), never 0 ms. */
const NO_PERCENTILES: LoadPercentiles = { count: 0, p50: NaN, p90: NaN, p99: NaN, p999: NaN, max: NaN, mean: NaN };

function recorderPercentiles(r: LatencyRecorder): LoadPercentiles {
  if (r.count === 0) return { ...NO_PERCENTILES };
  return { count: r.count, p50: r.percentile(50), p90: r.percentile(90), p99: r.percentile(99), p999: r.percentile(99.9), max: r.maxMs, mean: round(r.meanMs) };
}

/** Nearest-rank percentiles over every delay seen (a sample: at most --sample of them). */
function channel(f: PropagationFigures, note?: string): LoadSummaryData["propagation"]["ocsp"] {
  const d = f.delaysMs;
  const base = { watched: f.watched, notSeen: f.notSeen, delaysMs: d.map(round), ...(note ? { note } : {}) };
  if (d.length === 0) return { ...NO_PERCENTILES, ...base };
  const p = (q: number) => round(percentile(d, q));
  return { count: d.length, p50: p(50), p90: p(90), p99: p(99), p999: p(99.9), max: round(Math.max(...d)), mean: round(d.reduce((s, x) => s + x, 0) / d.length), ...base };
}

/** The signal that stopped the run (the CLI aborts with its name as the reason), or undefined when none did. */
function interruptedBy(signal: AbortSignal | undefined): { signal: string } | undefined {
  if (!signal?.aborted) return undefined;
  const reason: unknown = signal.reason;
  return { signal: typeof reason === "string" && /^SIG[A-Z]+$/.test(reason) ? reason : "a stop signal" };
}

function emptyChannel(): LoadSummaryData["propagation"]["ocsp"] {
  return channel({ watched: 0, delaysMs: [], notSeen: [] });
}

function emptyRevoke(plan: LoadPlan, latency: LatencyRecorder): LoadSummaryData["revoke"] {
  return { requests: 0, serialsSent: 0, acknowledged: 0, ms: 0, perSecond: 0, bulk: false, loop: plan.loop.kind, latencyMs: recorderPercentiles(latency), histogram: [], errors: {} };
}

function emptyCompleteness(): Completeness {
  return { checked: 0, lost: [], wrongReason: [], wronglyRevoked: [], controlChecked: 0, revokedDespiteError: 0 };
}

function errorCounts(failed: Map<string, string[]>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [cls, serials] of failed) if (serials.length) out[cls] = serials.length;
  return out;
}

/** An adapter's message with the run's credentials cut out (a message may quote a request). */
function redact(text: string, input: Pick<LoadRunInput, "raToken" | "operatorToken">): string {
  let out = text;
  for (const secret of [input.raToken, input.operatorToken]) if (secret && secret.length >= 4) out = out.split(secret).join("[redacted]");
  return out;
}

function describeFailures(failed: Map<string, number>): string {
  const parts = [...failed].map(([cls, n]) => `${n} ${cls}`);
  return parts.length ? parts.join(", ") : "none issued";
}

const perSecond = (n: number, ms: number) => (ms > 0 ? round((n * 1000) / ms) : 0);
