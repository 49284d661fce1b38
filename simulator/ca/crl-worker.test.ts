import test from "ava";
import type { Worker } from "node:worker_threads";
import { EventBus, SeededRandom, VirtualClock } from "../../core/index.js";
import { parseCrl } from "../../conformance/pkix.js";
import { CrlWorker, type CrlJob } from "./crl-worker.js";
import { EmbeddedCa } from "./embedded-ca.js";

/** The CRL worker's failures (review R1 P3): a stale worker fails only its own jobs; a wedged one times out and is replaced. */
function job(): CrlJob {
  const chunk = new SharedArrayBuffer(4);
  new Uint8Array(chunk).set([1, 2, 3, 4]);
  return {
    head: Uint8Array.from([0x30, 0x08]),
    entries: { chunks: [{ buffer: chunk, length: 4 }], held: Buffer.from([5, 6]), length: 6, count: 0 },
    tail: new Uint8Array(0),
    out: new SharedArrayBuffer(64),
    before: 8,
    after: 8,
  };
}

type Internals = { start(): Worker };

test("a worker that erred and then exits fails none of its replacement's jobs", async (t) => {
  const w = new CrlWorker();
  t.teardown(() => w.close());
  const old = (w as unknown as Internals).start();
  old.emit("error", new Error("lost")); // as a crash reports itself first
  const next = w.run(job()); // on a new worker
  old.emit("exit", 1); // the old one's exit comes after
  const r = await next;
  t.is(r.tbsEnd - r.tbsStart, 2 + 4 + 2, "the replacement's job completes");
  t.truthy(r.digest);
  await old.terminate();
});

test("a job that gets no answer fails after the job timeout, and the next job runs on a new worker", async (t) => {
  const w = new CrlWorker(50);
  t.teardown(() => w.close());
  const wedged = (w as unknown as Internals).start();
  wedged.postMessage = () => undefined; // the message never arrives: as a worker stuck in a loop
  await t.throwsAsync(w.run(job()), { message: /no answer in 50 ms/ });
  // The new worker's own start may take longer than 50 ms on a loaded machine: the timeout under test was the first job's.
  (w as unknown as { jobTimeoutMs: number }).jobTimeoutMs = 30_000;
  const r = await w.run(job());
  t.is(r.tbsEnd - r.tbsStart, 8);
});

test("a wedged CRL worker: the CRL request fails with ca.crl-failed instead of waiting for ever; the next one builds on a new worker", async (t) => {
  const clock = new VirtualClock("2026-03-01T10:00:00Z");
  const bus = new EventBus(clock);
  const failed: unknown[] = [];
  bus.on((e) => {
    if (e.type === "ca.crl-failed") failed.push(e.data);
  });
  const ca = await EmbeddedCa.open({ clock, random: new SeededRandom(4), kdfLog2N: 4, crlScheduleMs: 0, events: bus });
  t.teardown(() => ca.close());
  const worker = (ca as unknown as { s: { crls: { worker: CrlWorker } } }).s.crls.worker;
  (worker as unknown as { jobTimeoutMs: number }).jobTimeoutMs = 50;
  (worker as unknown as Internals).start().postMessage = () => undefined;
  await t.throwsAsync(ca.crl(), { message: /no answer/ });
  t.deepEqual(failed, [{ issuer: "issuing", reason: "internal" }]);
  (worker as unknown as { jobTimeoutMs: number }).jobTimeoutMs = 30_000; // the new worker's start is not what is tested
  t.is(parseCrl(await ca.crl()).entries.size, 0, "built on a new worker");
});
