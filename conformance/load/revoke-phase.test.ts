import test from "ava";
import { createServer } from "node:http";
import { EventBus, SystemClock, type AnyEvent } from "../../core/index.js";
import type { BulkRevocationResult, CaAdapter, RevocationReason, RevocationResult, RevokeRequest } from "../../simulator/ca/index.js";
import { HttpCa } from "../adapters/http.js";
import { InstantCa } from "../adapters/instant.js";
import { withLoadFaults } from "../adapters/load-faults.js";
import { prepareTargets } from "./prepare.js";
import { runRevokePhase } from "./revoke-phase.js";
import { OpenLoopSchedule } from "./schedule.js";
import type { LoadTarget, RevokePlan } from "./types.js";

const REASONS = [{ reason: "keyCompromise" as const, weight: 1 }];
const TOKEN = "operator-token-not-for-events";

/**
 * A CA answering from a Set, with knobs: `delay` (ms, or a function of the
 * request number) before answering, `fail` deciding a request's error, and
 * counters of what it saw (requests in flight, their arrival times).
 */
class FakeCa {
  readonly name = "fake";
  bulkRevoke = true;
  revoked = new Set<string>();
  singles: RevokeRequest[] = [];
  batches: Array<{ serials: string[]; reason: RevocationReason }> = [];
  arrivals: number[] = [];
  inFlight = 0;
  peak = 0;
  delay: (n: number) => number = () => 0;
  fail: (n: number) => unknown = () => undefined;

  capabilities() {
    return { bulkRevoke: this.bulkRevoke } as ReturnType<CaAdapter["capabilities"]>;
  }

  private async answer<T>(make: () => T): Promise<T> {
    const n = this.arrivals.length;
    this.arrivals.push(performance.now());
    this.inFlight++;
    this.peak = Math.max(this.peak, this.inFlight);
    try {
      const ms = this.delay(n);
      await new Promise((r) => (ms > 0 ? setTimeout(r, ms).unref() : setImmediate(r)));
      const err = this.fail(n);
      if (err) throw err;
      return make();
    } finally {
      this.inFlight--;
    }
  }

  revoke(req: RevokeRequest): Promise<RevocationResult> {
    this.singles.push(req);
    return this.answer(() => {
      this.revoked.add(req.serial);
      return { serial: req.serial, status: "revoked", reason: req.reason, revokedAt: new Date(0) };
    });
  }

  revokeMany(serials: string[], reason: RevocationReason): Promise<BulkRevocationResult> {
    this.batches.push({ serials, reason });
    return this.answer(() => {
      for (const s of serials) this.revoked.add(s);
      return { revoked: serials.length, revokedAt: new Date(0), unknown: [], alreadyRevoked: [] };
    });
  }
}

function targets(n: number): LoadTarget[] {
  return Array.from({ length: n }, (_, i) => ({ serial: (0x100 + i).toString(16), holder: { id: `h${i}`, name: `Holder ${i}`, email: `${i}@x.invalid`, code: `code-${i}` } }));
}

function plan(p: Partial<RevokePlan> = {}): RevokePlan {
  return { loop: { kind: "closed", concurrency: 4 }, batch: 1, role: "operator", reasons: REASONS, timeoutMs: 2000, operatorToken: TOKEN, ...p };
}

function ctx(ca: unknown, signal?: AbortSignal) {
  const bus = new EventBus(new SystemClock());
  const events: AnyEvent[] = [];
  bus.on((e) => events.push(e));
  return { ctx: { ca: ca as CaAdapter, bus, ...(signal ? { signal } : {}) }, events };
}

const failedCount = (m: Map<string, string[]>) => [...m.values()].reduce((s, l) => s + l.length, 0);

test("closed loop keeps exactly C requests in flight and acknowledges every target", async (t) => {
  const ca = new FakeCa();
  ca.delay = () => 2;
  const { ctx: c } = ctx(ca);
  const out = await runRevokePhase(c, targets(200), plan({ loop: { kind: "closed", concurrency: 7 } }));
  t.is(ca.peak, 7);
  t.is(out.acked.length, 200);
  t.is(out.requests, 200);
  t.is(out.serialsSent, 200);
  t.is(out.latency.count, 200);
  t.false(out.bulk);
  t.deepEqual(new Set(out.acked.map((a) => a.serial)), ca.revoked);
});

test("count stops after that many serials, a partial last batch included; the targets running out stops too", async (t) => {
  const ca = new FakeCa();
  const single = await runRevokePhase(ctx(ca).ctx, targets(100), plan({ count: 37 }));
  t.is(single.serialsSent, 37);
  t.is(single.acked.length, 37);
  const batched = await runRevokePhase(ctx(ca).ctx, targets(100).slice(50), plan({ count: 25, batch: 10 }));
  t.true(batched.bulk);
  t.is(batched.requests, 3);
  t.is(batched.serialsSent, 25);
  t.deepEqual(ca.batches.map((b) => b.serials.length), [10, 10, 5]);
  const exhausted = await runRevokePhase(ctx(new FakeCa()).ctx, targets(12), plan({ count: 1000 }));
  t.is(exhausted.serialsSent, 12);
});

test("the duration stops sending; what was sent is acknowledged or failed, nothing lost", async (t) => {
  const ca = new FakeCa();
  ca.delay = () => 5;
  const out = await runRevokePhase(ctx(ca).ctx, targets(100_000), plan({ durationMs: 100 }));
  t.true(out.serialsSent > 0 && out.serialsSent < 100_000, `${out.serialsSent} sent`);
  t.is(out.acked.length, out.serialsSent);
  t.is(ca.arrivals.length, out.requests);
});

test("an abort stops sending and waits for requests in flight up to the timeout (then they are timeouts)", async (t) => {
  const ca = new FakeCa();
  const abort = new AbortController();
  ca.delay = (n) => (n < 20 ? 0 : 60_000); // from the 21st request on, the CA never answers
  const out = await runRevokePhase(ctx(ca, abort.signal).ctx, targets(1000), plan({ timeoutMs: 150, loop: { kind: "closed", concurrency: 5 } }), {
    onAck: (a) => {
      if (a.serial === (0x100 + 19).toString(16)) abort.abort();
    },
  });
  t.true(out.serialsSent < 1000);
  t.is(out.acked.length + failedCount(out.failed), out.serialsSent);
  t.true(out.acked.length >= 20);
  t.deepEqual([...out.failed.keys()], out.failed.size ? ["timeout"] : []);
});

test("batches go to the bulk endpoint with one reason per batch; a CA without bulk gets single requests", async (t) => {
  const bulk = new FakeCa();
  const mix = [
    { reason: "keyCompromise" as const, weight: 1 },
    { reason: "superseded" as const, weight: 1 },
  ];
  const a = await runRevokePhase(ctx(bulk).ctx, targets(40), plan({ batch: 10, reasons: mix }));
  t.true(a.bulk);
  t.is(a.requests, 4);
  t.deepEqual(bulk.batches.map((b) => b.reason), ["keyCompromise", "superseded", "keyCompromise", "superseded"]);
  t.is(bulk.singles.length, 0);
  for (const ack of a.acked) t.is(ack.reason, bulk.batches.find((b) => b.serials.includes(ack.serial))!.reason);

  const none = new FakeCa();
  none.bulkRevoke = false;
  const b = await runRevokePhase(ctx(none).ctx, targets(40), plan({ batch: 10 }));
  t.false(b.bulk);
  t.is(b.requests, 40);
  t.is(none.batches.length, 0);
  t.is(b.acked.length, 40);
});

test("single requests carry the role's credentials: the holder's code, or the operator token and the holder id", async (t) => {
  const ca = new FakeCa();
  await runRevokePhase(ctx(ca).ctx, targets(2), plan({ role: "holder", operatorToken: undefined }));
  t.deepEqual(ca.singles[0], { serial: "100", reason: "keyCompromise", role: "holder", code: "code-0", email: "0@x.invalid", name: "Holder 0" });
  const op = new FakeCa();
  await runRevokePhase(ctx(op).ctx, targets(2), plan({ role: "operator" }));
  t.deepEqual(op.singles[1], { serial: "101", reason: "keyCompromise", role: "operator", operatorToken: TOKEN, answers: { holderId: "h1" } });
});

test("bulk answers: unknown and already-revoked serials are failures, the rest acknowledged", async (t) => {
  const ca = new FakeCa();
  ca.revokeMany = async (serials: string[]) => ({ revoked: serials.length - 2, revokedAt: new Date(0), unknown: [serials[0]], alreadyRevoked: ["0" + serials[1]] });
  const out = await runRevokePhase(ctx(ca).ctx, targets(20), plan({ batch: 10 }));
  t.deepEqual(out.failed.get("4xx 404 not-found"), ["100", "10a"]);
  t.deepEqual(out.failed.get("4xx 409 already-revoked"), ["101", "10b"]);
  t.is(out.acked.length, 16);
  t.false(out.acked.some((a) => ["100", "101", "10a", "10b"].includes(a.serial)));
  // a malformed bulk answer does not throw out of the phase; without a count it acknowledges nothing (completeness judges what was really revoked)
  const odd = new FakeCa();
  odd.revokeMany = async () => ({ unknown: "100", alreadyRevoked: [7, null] }) as never;
  const oddOut = await runRevokePhase(ctx(odd).ctx, targets(20), plan({ batch: 10 }));
  t.is(oddOut.acked.length, 0);
  t.is(oddOut.failed.get("bulk-count-mismatch")?.length, 20);
  const nothing = new FakeCa();
  nothing.revokeMany = async () => undefined as never;
  const nothingOut = await runRevokePhase(ctx(nothing).ctx, targets(20), plan({ batch: 10 }));
  t.is(nothingOut.failed.get("other")?.length, 20);
});

test("a CA that throws for every 10th request: counted as its class, the rest acknowledged (InstantCa, drop every 10th)", async (t) => {
  const instant = await InstantCa.create();
  try {
    const { raToken, operatorToken } = instant.credentials();
    const prepared = await prepareTargets({ ca: instant, bus: new EventBus(new SystemClock()) }, { count: 100, control: 0, concurrency: 8, runId: "t10", raToken, cardExpiry: new Date(Date.now() + 86_400_000 * 365) });
    t.is(prepared.targets.length, 100);
    const ca = withLoadFaults(instant, { dropEvery: 10 });
    const out = await runRevokePhase(ctx(ca).ctx, prepared.targets, plan({ role: "holder", operatorToken }));
    t.deepEqual([...out.failed.keys()], ["reset"]);
    t.is(out.failed.get("reset")!.length, 10);
    t.is(out.acked.length, 90);
    for (const a of out.acked) t.is((await instant.status(a.serial)).status, "revoked");
    for (const s of out.failed.get("reset")!) t.is((await instant.status(s)).status, "good");
  } finally {
    await instant.close();
  }
});

test("refusals, server errors and synchronous throws are counted by class and never acknowledged", async (t) => {
  const ca = new FakeCa();
  const { CaError } = await import("../../simulator/ca/index.js");
  ca.fail = (n) => (n % 4 === 1 ? new CaError(403, "forbidden", "no") : n % 4 === 2 ? new CaError(503, "busy", "later") : undefined);
  const sync = ca.revoke.bind(ca);
  let calls = 0;
  ca.revoke = (req) => {
    if (++calls % 4 === 0) throw new Error("adapter bug");
    return sync(req);
  };
  const out = await runRevokePhase(ctx(ca).ctx, targets(40), plan({ loop: { kind: "closed", concurrency: 1 } }));
  t.is(out.acked.length + failedCount(out.failed), 40);
  t.is(out.failed.get("other")!.length, 10);
  t.true(out.failed.get("4xx 403 forbidden")!.length > 0);
  t.true(out.failed.get("5xx 503")!.length > 0);
  const failedSerials = new Set([...out.failed.values()].flat());
  t.false(out.acked.some((a) => failedSerials.has(a.serial)));
  // acknowledged and failed requests' latencies are kept apart
  t.is(out.latency.count, out.acked.length);
  t.is(out.failedLatency.count, 40 - out.acked.length);
});

test("a CA failing half its requests at once does not lower the latency of the acknowledged ones", async (t) => {
  const ca = new FakeCa();
  const { CaError } = await import("../../simulator/ca/index.js");
  // even requests: refused at once; odd ones: answered after 40 ms
  ca.delay = (n) => (n % 2 === 1 ? 40 : 0);
  ca.fail = (n) => (n % 2 === 0 ? new CaError(429, "rate-limited", "slow down") : undefined);
  const out = await runRevokePhase(ctx(ca).ctx, targets(20), plan({ loop: { kind: "closed", concurrency: 1 } }));
  t.is(out.acked.length, 10);
  t.is(out.latency.count, 10);
  t.is(out.failedLatency.count, 10);
  // a lower bound only (a timer never fires early by 10 ms): the fast refusals are not in p50/p99
  t.true(out.latency.percentile(50) >= 30, `p50 ${out.latency.percentile(50)}`);
  t.true(out.latency.percentile(99) >= 30);
});

test("a bulk answer counting fewer than the batch: the difference fails as bulk-count-mismatch; a single answer must say revoked for the serial sent", async (t) => {
  const ca = new FakeCa();
  ca.revokeMany = async (serials: string[]) => ({ revoked: serials.length - 3, revokedAt: new Date(0), unknown: [], alreadyRevoked: [] });
  const out = await runRevokePhase(ctx(ca).ctx, targets(20), plan({ batch: 10 }));
  t.is(out.acked.length, 14);
  t.is(out.failed.get("bulk-count-mismatch")?.length, 6);
  t.deepEqual(out.bulkShort, { answers: 2, serials: 6 });
  const singles = new FakeCa();
  let n = 0;
  singles.revoke = async (req: RevokeRequest) => {
    const k = n++ % 3;
    if (k === 0) return { serial: req.serial, status: "on-hold", reason: req.reason, revokedAt: new Date(0) };
    if (k === 1) return { serial: "ffff", status: "revoked", reason: req.reason, revokedAt: new Date(0) };
    return { serial: req.serial.toUpperCase(), status: "revoked", reason: req.reason, revokedAt: new Date(0) };
  };
  const one = await runRevokePhase(ctx(singles).ctx, targets(9), plan({ loop: { kind: "closed", concurrency: 1 } }));
  t.is(one.acked.length, 3);
  t.is(one.failed.get("wrong-answer")?.length, 6);
});

test("a request past timeoutMs is a timeout and its serials are not acknowledged, even if the CA answers later", async (t) => {
  const ca = new FakeCa();
  ca.delay = (n) => (n === 3 ? 300 : 0);
  const out = await runRevokePhase(ctx(ca).ctx, targets(10), plan({ timeoutMs: 100, loop: { kind: "closed", concurrency: 2 } }));
  t.deepEqual(out.failed.get("timeout"), ["103"]);
  t.is(out.acked.length, 9);
});

test.serial("open loop: requests start on the schedule (never ahead of it), one per 1/R", async (t) => {
  const ca = new FakeCa();
  const out = await runRevokePhase(ctx(ca).ctx, targets(100), plan({ loop: { kind: "open", ratePerSecond: 2000 } }));
  t.is(out.requests, 100);
  const schedule = new OpenLoopSchedule(out.startedAt, 2000);
  t.is(schedule.intendedStart(10) - schedule.intendedStart(9), 0.5);
  // arrivals are recorded in arrival order, which is send order here (the fake answers after a setImmediate)
  ca.arrivals.forEach((at, k) => t.true(at >= schedule.intendedStart(k), `request ${k} sent ${schedule.intendedStart(k) - at} ms early`));
  t.is(out.acked.length, 100);
});

test.serial("open loop: a CA that stalls 200 ms once shows in the latency of every request scheduled during the stall", async (t) => {
  const ca = new FakeCa();
  // the CA processes in order: from request 100 on, nothing is answered until 200 ms after request 100 arrived
  let stallUntil = 0;
  ca.delay = (n) => {
    const now = performance.now();
    if (n === 100) stallUntil = now + 200;
    return n >= 100 && now < stallUntil ? stallUntil - now : 0;
  };
  const out = await runRevokePhase(ctx(ca).ctx, targets(600), plan({ loop: { kind: "open", ratePerSecond: 1000 } }));
  t.is(out.acked.length, 600);
  // requests 100..199 were due within the first 100 ms of the stall: each waited >= 100 ms from its intended start
  t.true(out.latency.percentile((500 / 600) * 100 + 0.01) >= 100, `100th largest latency ${out.latency.percentile((500 / 600) * 100 + 0.01)} ms`);
  t.true(out.latency.maxMs >= 200 - 1);
});

test.serial("open loop with the outstanding cap full: due requests that could not be sent still count, from their intended start", async (t) => {
  const ca = new FakeCa();
  ca.delay = () => 400;
  const out = await runRevokePhase(ctx(ca).ctx, targets(10_000), plan({ loop: { kind: "open", ratePerSecond: 1000 }, durationMs: 150 }), {}, { maxOutstanding: 5 });
  // never more than the cap sent (5 when the generator is not starved of CPU)
  t.true(out.requests >= 1 && out.requests <= 5, `${out.requests} requests`);
  t.is(out.acked.length, out.requests);
  // ~150 due by the end of the duration: up to 5 sent, the rest recorded as waiting until then
  t.true(out.latency.count >= 140 && out.latency.count <= 152, `${out.latency.count} samples`);
  t.true(out.latency.maxMs >= 400);
  // the ones never sent are counted as such (the summary says "N never sent: CA behind the schedule")
  t.is(out.dueNotSent, out.latency.count - out.requests);
  t.true(out.dueNotSent > 0);
});

test("metrics every interval: throughput, p50/p99, errors by class; no credential in any event", async (t) => {
  const ca = new FakeCa();
  ca.delay = () => 3;
  const { CaError } = await import("../../simulator/ca/index.js");
  ca.fail = (n) => (n % 5 === 0 ? new CaError(403, "forbidden", "no") : undefined);
  const { ctx: c, events } = ctx(ca);
  await runRevokePhase(c, targets(60), plan({ role: "holder", loop: { kind: "closed", concurrency: 2 } }), {}, { metricsEveryMs: 20 });
  const samples = events.filter((e) => e.type === "metric.sample").map((e) => e.data as { name: string; value: number; unit: string; labels?: Record<string, string> });
  const names = new Set(samples.map((s) => s.name));
  for (const n of ["load.throughput", "load.latency.p50", "load.latency.p99", "load.errors"]) t.true(names.has(n), n);
  t.true(samples.filter((s) => s.name === "load.throughput").every((s) => s.labels?.phase === "revoke" && s.unit === "1/s"));
  const lastErrors = samples.filter((s) => s.name === "load.errors").at(-1)!;
  t.deepEqual([lastErrors.labels, lastErrors.value], [{ class: "4xx 403 forbidden" }, 12]);
  const text = JSON.stringify(events);
  t.false(text.includes("code-"));
  t.false(text.includes(TOKEN));
});

test("a bad plan throws before anything is sent", async (t) => {
  const ca = new FakeCa();
  const c = ctx(ca).ctx;
  await t.throwsAsync(runRevokePhase(c, targets(3), plan({ batch: 0 })), { instanceOf: RangeError });
  await t.throwsAsync(runRevokePhase(c, targets(3), plan({ timeoutMs: 0 })), { instanceOf: RangeError });
  await t.throwsAsync(runRevokePhase(c, targets(3), plan({ loop: { kind: "closed", concurrency: 0 } })), { instanceOf: RangeError });
  await t.throwsAsync(runRevokePhase(c, targets(3), plan({ loop: { kind: "open", ratePerSecond: 0 } })), { instanceOf: RangeError });
  await t.throwsAsync(runRevokePhase(c, targets(3), plan({ operatorToken: undefined })), { message: /operator token/ });
  await t.throwsAsync(runRevokePhase(c, targets(3), plan({ batch: 5, operatorToken: undefined })), { message: /operator token/ });
  await t.throwsAsync(runRevokePhase(c, [{ serial: "1" }], plan({ role: "holder" })), { message: /1 target/ });
  await t.throwsAsync(runRevokePhase(c, targets(3), plan({ reasons: [] })), { instanceOf: RangeError });
  t.is(ca.arrivals.length, 0);
});

test("a hook that throws stops the phase and is rethrown once requests in flight settled", async (t) => {
  const ca = new FakeCa();
  const err = await t.throwsAsync(
    runRevokePhase(ctx(ca).ctx, targets(100), plan(), {
      onAck: () => {
        throw new Error("hook bug");
      },
    }),
  );
  t.is(err?.message, "hook bug");
  t.true(ca.arrivals.length < 100);
  t.is(ca.inFlight, 0);
});

test("a CA that dies mid-run (HttpCa, server closed): the rest are refused or reset, the phase ends normally", async (t) => {
  let answered = 0;
  const server = createServer((req, res) => {
    if (req.url === "/ca") return void res.end("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n");
    if (req.url === "/api/v1/clock") return void res.end("{}");
    req.resume();
    req.on("end", () => {
      const serial = decodeURIComponent(req.url!.split("/")[4]);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ serial, status: "revoked", reason: "keyCompromise", revokedAt: new Date(0).toISOString() }));
      if (++answered === 30) {
        server.close();
        server.closeAllConnections();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const ca = await HttpCa.connect({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, timeoutMs: 2000, connections: 4 });
  try {
    const out = await runRevokePhase(ctx(ca).ctx, targets(200), plan({ loop: { kind: "closed", concurrency: 4 }, timeoutMs: 2000 }));
    t.is(out.serialsSent, 200);
    t.true(out.acked.length >= 26 && out.acked.length <= 30, `${out.acked.length} acknowledged`);
    t.is(out.acked.length + failedCount(out.failed), 200);
    for (const cls of out.failed.keys()) t.true(cls === "refused" || cls === "reset", cls);
    t.true((out.failed.get("refused")?.length ?? 0) > 100);
  } finally {
    await ca.close();
    server.close();
  }
});
