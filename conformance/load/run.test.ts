import test from "ava";
import { EventBus, SystemClock, addYears, type AnyEvent } from "../../core/index.js";
import type { CaAdapter } from "../../simulator/ca/index.js";
import { InstantCa } from "../adapters/instant.js";
import { withLoadFaults } from "../adapters/load-faults.js";
import { parseLoadOptions, type RawLoadOptions } from "./plan.js";
import { expectedAcks, runLoad, type LoadRunInput } from "./run.js";
import type { LoadTarget } from "./types.js";

/** `inner` with some methods replaced; every other one is the inner CA's own, bound to it. */
function wrapped(inner: CaAdapter, over: Partial<CaAdapter>): CaAdapter {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (Object.hasOwn(over, prop)) return over[prop as keyof CaAdapter];
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** One in-process load run against `ca`; the events it emitted, and the targets it prepared. */
async function run(ca: CaAdapter, raw: RawLoadOptions, extra: Partial<LoadRunInput> = {}, signal?: AbortSignal, onAck?: () => void) {
  const clock = new SystemClock();
  const bus = new EventBus(clock);
  const events: AnyEvent[] = [];
  bus.on((e) => events.push(e));
  const plan = parseLoadOptions({ ca: "instant", timeout: "5s", propagationTimeout: "5s", ...raw });
  const creds = ca.credentials?.() ?? {};
  let targets: LoadTarget[] = [];
  const summary = await runLoad(
    { ca, bus, signal },
    {
      plan,
      shown: "instant",
      role: plan.role,
      operatorToken: creds.operatorToken,
      raToken: creds.raToken,
      runId: "t",
      cardExpiry: addYears(clock.now(), 2),
      prepareConcurrency: 32,
      ...extra,
    },
    { onTargets: (t) => (targets = t), onAck },
  );
  return { summary, events, targets };
}

test("prepare, revoke and verify against a CA that answers at once: all acknowledged, none lost, events in order, no code in them", async (t) => {
  const ca = await InstantCa.create();
  t.teardown(() => ca.close());
  const { summary, events, targets } = await run(ca, { prepare: "200", concurrency: "8", sample: "20" });
  t.is(summary.exitCode, 0, JSON.stringify(summary.completeness));
  // --control comes on top of --prepare: 200 to revoke, 20 never revoked.
  t.is(summary.prepare.certificates, 200);
  t.is(summary.prepare.control, 20);
  t.is(summary.revoke.acknowledged, 200);
  t.is(summary.revoke.latencyMs.count, 200);
  t.is(summary.completeness.checked, 200);
  t.is(summary.completeness.controlChecked, 20);
  t.deepEqual(summary.completeness.lost, []);
  t.true(summary.completeness.complete);
  t.is(summary.propagation.ocsp.watched, 20);
  t.is(summary.propagation.ocsp.count, 20);
  t.is(summary.propagation.crl.count, 20);
  const kinds = events.filter((e) => e.type !== "metric.sample").map((e) => (e.type === "load.phase" ? `${e.data.phase}.${e.data.state}` : e.type));
  t.deepEqual(kinds, ["run.started", "prepare.started", "prepare.finished", "revoke.started", "revoke.finished", "verify.started", "verify.finished", "load.summary", "run.finished"]);
  const started = events[0];
  t.is(started.type === "run.started" ? started.data.kind : undefined, "load");
  const log = JSON.stringify(events);
  const codes = targets.map((x) => x.holder?.code).filter((c): c is string => typeof c === "string");
  t.is(codes.length, 200);
  t.false(codes.some((c) => log.includes(c)));
  t.false(log.includes(ca.credentials!().operatorToken!));
});

test("batches by the operator, and a CA that acknowledges without publishing: the lost serials are listed, exit 1", async (t) => {
  const inner = await InstantCa.create();
  t.teardown(() => inner.close());
  const ca = withLoadFaults(inner, { ackWithoutPublishingEvery: 25 });
  const { summary } = await run(ca, { prepare: "100", control: "10", batch: "10", sample: "5", propagationTimeout: "1s" });
  t.true(summary.revoke.bulk);
  t.is(summary.revoke.acknowledged, 100);
  t.is(summary.completeness.lost.length, 4);
  t.is(summary.exitCode, 1);
});

test("a gate that fails makes exit 1 and says which", async (t) => {
  const ca = await InstantCa.create();
  t.teardown(() => ca.close());
  const { summary } = await run(ca, { prepare: "30", control: "0", minRate: "100000000", maxP99: "1h" });
  t.is(summary.exitCode, 1);
  t.deepEqual(
    summary.gates.map((g) => [g.gate, g.passed]),
    [
      ["min-rate", false],
      ["max-p99", true],
    ],
  );
});

test("a file's share: each shard revokes its own serials, the last --control of the share are left alone", async (t) => {
  const ca = await InstantCa.create();
  t.teardown(() => ca.close());
  const { targets } = await run(ca, { prepare: "12", control: "0", count: "0" });
  t.is(targets.length, 12);
  const issuerPem = undefined;
  const revoked = new Set<string>();
  for (const shard of ["1/3", "2/3", "3/3"]) {
    const { summary, events } = await run(ca, { serials: "unused", shard, control: "1", role: "operator", sample: "2" }, { fileTargets: targets, issuerPem, role: "operator" });
    t.is(summary.prepare.certificates, 3);
    t.is(summary.prepare.control, 1);
    t.is(summary.revoke.acknowledged, 3, JSON.stringify(summary.revoke.errors));
    const last = events.find((e) => e.type === "load.summary");
    t.is(last?.type === "load.summary" ? last.data.revoke.acknowledged : undefined, 3);
    for (const x of targets.filter((_, i) => i % 3 === Number(shard[0]) - 1).slice(0, 3)) {
      t.is((await ca.status(x.serial)).status, "revoked");
      t.false(revoked.has(x.serial));
      revoked.add(x.serial);
    }
  }
  t.is(revoked.size, 9);
});

test("a CA that cannot issue a single certificate is a CA that could not be set up: exit 2", async (t) => {
  const inner = await InstantCa.create();
  t.teardown(() => inner.close());
  const ca = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === "issue") return () => Promise.reject(Object.assign(new Error("refused"), { code: "ECONNREFUSED" }));
      const v = Reflect.get(target, prop, receiver);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  const { summary } = await run(ca, { prepare: "5", control: "0" });
  t.is(summary.exitCode, 2);
  t.is(summary.prepare.failed, 5);
  t.false(summary.completeness.complete);
});

test("--prepare N --shard I/N: the agent prepares and revokes its own share, holder ids carry the shard", async (t) => {
  const ca = await InstantCa.create();
  t.teardown(() => ca.close());
  const { summary, targets } = await run(ca, { prepare: "10", shard: "2/3", sample: "2" });
  t.is(summary.prepare.certificates, 3);
  t.is(summary.prepare.control, 0);
  t.is(summary.revoke.acknowledged, 3);
  t.deepEqual(summary.shard, { index: 2, of: 3 });
  // no control certificate and nothing left unsent: "0 wrongly revoked" would mean "not checked", and the notes say so
  t.is(summary.completeness.controlChecked, 0);
  t.true((summary.notes ?? []).includes("wrongly revoked: not checked (no control)"), JSON.stringify(summary.notes));
  t.true(targets.every((x) => x.holder?.id.includes("s2of3")), JSON.stringify(targets.map((x) => x.holder?.id)));
});

test("a stop signal mid-revoke: the summary says which one stopped the run, and what was acknowledged is still verified", async (t) => {
  const ca = await InstantCa.create();
  t.teardown(() => ca.close());
  const stop = new AbortController();
  let acks = 0;
  const { summary } = await run(ca, { prepare: "200", control: "5", concurrency: "1", sample: "5" }, {}, stop.signal, () => {
    if (++acks === 20) stop.abort("SIGTERM");
  });
  t.deepEqual(summary.interrupted, { signal: "SIGTERM" });
  t.true(summary.revoke.acknowledged >= 20 && summary.revoke.acknowledged < 200, String(summary.revoke.acknowledged));
  t.is(summary.completeness.checked, summary.revoke.acknowledged);
  t.deepEqual(summary.completeness.lost, []);
  t.true(summary.completeness.complete, summary.completeness.incompleteReason);
});

test("a run not stopped has no `interrupted`; a channel the watcher could not watch carries its note", async (t) => {
  const inner = await InstantCa.create();
  t.teardown(() => inner.close());
  const ca = wrapped(inner, { capabilities: () => ({ ...inner.capabilities(), crl: false }) });
  const { summary } = await run(ca, { prepare: "20", control: "2", sample: "5" });
  t.is(summary.interrupted, undefined);
  t.is(summary.propagation.crl.note, "CRL not watched: the CA offers no CRL");
  t.is(summary.propagation.ocsp.note, undefined);
  t.is(summary.propagation.ocsp.count, 5);
});

test("a CA that publishes a while after acknowledging: completeness waits for it (within --propagation-timeout), none lost, the note says it settled", async (t) => {
  const inner = await InstantCa.create();
  t.teardown(() => inner.close());
  const pending = new Set<Promise<unknown>>();
  // Acknowledged at once, carried out (published) 3 s later: a CA publishing on a cycle.
  const ca = wrapped(inner, {
    revoke: async (req) => {
      const later = new Promise((done) => setTimeout(done, 3_000)).then(() => inner.revoke(req));
      pending.add(later);
      return { serial: req.serial, status: "revoked", reason: req.reason, revokedAt: new Date() };
    },
  });
  t.teardown(() => Promise.allSettled([...pending]));
  // --sample 0: nothing watched, so completeness is what meets the unpublished serials first.
  const { summary } = await run(ca, { prepare: "20", control: "2", sample: "0", concurrency: "4", propagationTimeout: "30s" });
  t.is(summary.exitCode, 0, JSON.stringify(summary.completeness));
  t.deepEqual(summary.completeness.lost, []);
  t.is(summary.completeness.checked, 20);
  t.regex((summary.notes ?? []).join("\n"), /^20 acknowledged revocation\(s\) not yet published at the first check \(CRL 20, OCSP 20\): re-checked for \d+\.\d s, 20 published since$/m);
});

test("a CA whose CRL and OCSP the adapter makes (provenance): reasons they leave out are not the CA's fault, said in the notes; exit 0", async (t) => {
  const inner = await InstantCa.create();
  t.teardown(() => inner.close());
  // The artefacts say every serial is unspecified, as a CRL built from a serial list would.
  const ca = wrapped(inner, {
    revoke: (req) => inner.revoke({ ...req, reason: "unspecified" }),
    provenance: () => ({ crl: { by: "adapter", how: "gencrl from the database", note: "the entries carry no reason" }, ocsp: { by: "adapter", how: "ocspsign" } }),
  });
  const { summary } = await run(ca, { prepare: "20", control: "2", sample: "5", reasons: "keyCompromise=1" });
  t.deepEqual(summary.completeness.wrongReason, []);
  t.is(summary.exitCode, 0, JSON.stringify(summary.completeness));
  t.deepEqual(
    (summary.notes ?? []).map((n) => n.split(":")[0]),
    ["prepare", "the CRL is made by the adapter, not the CA (the entries carry no reason)", "the OCSP is made by the adapter, not the CA"],
  );
  t.regex(summary.notes![0], /^prepare: single issuance requests \(\d+ in flight\), the adapter has no bulk issuance/, "how the certificates were asked for");
});

test("every revocation failing is no pass: exit 1 naming the classes, --max-errors 100% still fails when none was acknowledged; latencies of failures apart", async (t) => {
  const inner = await InstantCa.create();
  t.teardown(() => inner.close());
  const ca = withLoadFaults(inner, { dropEvery: 1 });
  const { summary } = await run(ca, { prepare: "30", control: "2", concurrency: "4", sample: "2" });
  t.is(summary.exitCode, 1);
  t.is(summary.revoke.acknowledged, 0);
  t.deepEqual(summary.revoke.errors, { reset: 30 });
  t.deepEqual(
    summary.gates.map((g) => [g.gate, g.passed, g.actual]),
    [
      ["max-errors", false, "30 of 30 serials failed (30 reset)"],
      ["acknowledged", false, "0 of 30 serials sent acknowledged"],
    ],
  );
  // no acknowledged request: no latency figures (null in JSON), the failures' latencies apart
  t.is(summary.revoke.latencyMs.count, 0);
  t.true(Number.isNaN(summary.revoke.latencyMs.p99));
  t.is(summary.revoke.failedLatencyMs?.count, 30);
  t.true(Number.isNaN(summary.propagation.ocsp.p99));
  const allowed = await run(ca, { prepare: "10", control: "2", concurrency: "4", sample: "2", maxErrors: "100%" });
  t.is(allowed.summary.exitCode, 1);
  t.deepEqual(allowed.summary.gates.filter((g) => !g.passed).map((g) => g.gate), ["acknowledged"]);
});

test("--max-errors allows failed revocations up to its limit: a CA dropping every 5th passes with 20%, fails without", async (t) => {
  const inner = await InstantCa.create();
  t.teardown(() => inner.close());
  const ca = withLoadFaults(inner, { dropEvery: 5 });
  const strict = await run(ca, { prepare: "50", control: "2", concurrency: "1", sample: "2" });
  t.is(strict.summary.exitCode, 1);
  t.deepEqual(strict.summary.revoke.errors, { reset: 10 });
  t.is(strict.summary.revoke.latencyMs.count, 40);
  const lenient = await run(ca, { prepare: "50", control: "2", concurrency: "1", sample: "2", maxErrors: "20%" });
  t.is(lenient.summary.exitCode, 0, JSON.stringify(lenient.summary.gates));
  t.is(lenient.summary.revoke.acknowledged, 40);
});

test("a thrown tool error while preparing is not a CA that could not be set up: it propagates with its message", async (t) => {
  const inner = await InstantCa.create();
  t.teardown(() => inner.close());
  // prepareTargets checks its options first: a run id it refuses is the tool's own fault
  await t.throwsAsync(() => run(inner, { prepare: "5", control: "0" }, { runId: "not a valid id!" }), { instanceOf: RangeError, message: /runId/ });
});

test("--duration spreads the propagation sample over the expected acknowledgements: open loop rate x duration, closed loop by time", async (t) => {
  t.deepEqual(expectedAcks({ loop: { kind: "open", ratePerSecond: 500 }, durationMs: 1000 }, 5000), { expected: 500 });
  t.deepEqual(expectedAcks({ loop: { kind: "open", ratePerSecond: 500 }, durationMs: 60_000 }, 5000), { expected: 5000 });
  t.deepEqual(expectedAcks({ loop: { kind: "closed", concurrency: 4 }, durationMs: 2000 }, 5000), { expected: 5000, spreadMs: 2000 });
  t.deepEqual(expectedAcks({ loop: { kind: "closed", concurrency: 4 } }, 300), { expected: 300 });
  const ca = await InstantCa.create();
  t.teardown(() => ca.close());
  // 2000 prepared, 400/s for 500 ms: about 200 acknowledged; the sample of 20 is all watched (before: stride 100, 2 watched)
  const { summary } = await run(ca, { prepare: "2000", control: "2", rate: "400", duration: "500ms", sample: "20" });
  t.true(summary.revoke.acknowledged >= 150, String(summary.revoke.acknowledged));
  t.is(summary.propagation.ocsp.watched, 20);
});

test("a CA whose every issuance fails with a message of its own: exit 2, and the reason quotes the first one, credentials cut out", async (t) => {
  const inner = await InstantCa.create();
  t.teardown(() => inner.close());
  const raToken = inner.credentials().raToken!;
  const ca = wrapped(inner, { issue: () => Promise.reject(new TypeError(`cannot read properties of undefined (request with ${raToken})\nsecond line`)) });
  const { summary } = await run(ca, { prepare: "4", control: "0" });
  t.is(summary.exitCode, 2);
  t.is(summary.completeness.incompleteReason, "no certificate could be issued (4 other; first other: cannot read properties of undefined (request with [redacted]))");
  t.false(JSON.stringify(summary).includes(raToken));
});
