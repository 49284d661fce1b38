import test from "ava";
import fc from "fast-check";
import { percentile } from "../../core/stats.js";
import { HdrLatencyRecorder, latencyRecorder } from "./histogram.js";

/** HdrHistogram with 3 significant digits reports the top of a sample's bucket: within 0.1% above it, plus the microsecond rounding. */
function within(t: { true(v: boolean, m?: string): void }, actual: number, expected: number, what: string): void {
  const slack = expected * 0.001 + 0.0005;
  t.true(actual >= expected - 0.0005 && actual <= expected + slack, `${what}: ${actual} vs nearest rank ${expected}`);
}

test("percentiles match core/stats.ts's nearest rank over the same samples, within HdrHistogram's precision", (t) => {
  fc.assert(
    fc.property(fc.array(fc.double({ min: 0.001, max: 3_000_000, noNaN: true }), { minLength: 1, maxLength: 300 }), (samples) => {
      const rec = latencyRecorder();
      for (const s of samples) rec.record(s);
      t.is(rec.count, samples.length);
      for (const p of [0.1, 1, 25, 50, 90, 99, 99.9]) within(t, rec.percentile(p), percentile(samples, p), `p${p}`);
      within(t, rec.percentile(100), percentile(samples, 100), "p100");
      within(t, rec.maxMs, Math.max(...samples), "max");
    }),
    { numRuns: 100 },
  );
});

test("mean is exact to the microsecond; no samples give NaN, not 0", (t) => {
  const rec = latencyRecorder();
  t.true(Number.isNaN(rec.percentile(50)));
  t.true(Number.isNaN(rec.meanMs));
  t.true(Number.isNaN(rec.maxMs));
  for (const ms of [1, 2, 3, 10]) rec.record(ms);
  t.is(rec.meanMs, 4);
  t.throws(() => rec.percentile(101), { instanceOf: RangeError });
});

test("a sample beyond an hour counts as an hour; nonsense counts as 0", (t) => {
  const rec = latencyRecorder();
  rec.record(5 * 3_600_000);
  rec.record(-3);
  rec.record(Number.NaN);
  t.is(rec.count, 3);
  t.is(rec.maxMs, 3_600_000);
  t.is(rec.percentile(50), 0);
});

test("takeInterval returns the samples since the last call and starts a new interval; the whole keeps everything", (t) => {
  const rec = latencyRecorder();
  for (let i = 1; i <= 100; i++) rec.record(i);
  const first = rec.takeInterval();
  for (let i = 0; i < 10; i++) rec.record(1000);
  const second = rec.takeInterval();
  const third = rec.takeInterval();
  t.is(first.count, 100);
  within(t, first.percentile(50), 50, "first p50");
  t.is(first.maxMs, 100);
  t.is(second.count, 10);
  within(t, second.percentile(50), 1000, "second p50");
  t.is(third.count, 0);
  t.is(rec.count, 110);
  within(t, rec.percentile(99), 1000, "whole p99");
  within(t, rec.percentile(50), 55, "whole p50");
});

test("merging recorders gives the percentiles of all samples together (shards)", (t) => {
  const a = new HdrLatencyRecorder();
  const b = new HdrLatencyRecorder();
  const all: number[] = [];
  for (let i = 0; i < 500; i++) {
    const x = 0.5 + ((i * 7919) % 1000) / 10;
    (i % 3 ? a : b).record(x);
    all.push(x);
  }
  a.add(b);
  t.is(a.count, 500);
  for (const p of [50, 90, 99]) within(t, a.percentile(p), percentile(all, p), `p${p}`);
  within(t, a.meanMs, all.reduce((s, x) => s + x, 0) / all.length, "mean");
  t.throws(() => a.add({} as never), { instanceOf: TypeError });
});

test("buckets are ascending, count every sample, and are coarse enough for a report", (t) => {
  const rec = latencyRecorder();
  for (let i = 0; i < 10_000; i++) rec.record(0.05 + (i % 997) * 0.731);
  const buckets = rec.buckets();
  t.is(buckets.reduce((s, [, n]) => s + n, 0), 10_000);
  for (let i = 1; i < buckets.length; i++) t.true(buckets[i][0] > buckets[i - 1][0], `ascending at ${i}`);
  t.true(buckets.every(([, n]) => n > 0));
  t.true(buckets.length <= 300, `${buckets.length} buckets`);
  // every sample lies at or under its bucket's bound: the top bucket covers the max
  t.true(buckets[buckets.length - 1][0] >= rec.maxMs);
});
