import test from "ava";
import fc from "fast-check";
import { percentile, summarise } from "./stats.js";

const samples = fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 200 });
/** Whole percentages, so the property's own arithmetic is exact. */
const rank = fc.integer({ min: 0, max: 100 });

test("nearest rank: the examples the two old definitions disagreed on, and the qualification ones", (t) => {
  t.is(percentile([1, 2], 50), 1);
  t.is(percentile([2, 1], 50), 1, "input order does not matter");
  t.is(percentile([1, 2, 3, 4], 25), 1);
  t.is(percentile([1, 2, 3, 4], 26), 2);
  t.is(percentile(Array.from({ length: 100 }, (_, i) => i + 1), 7), 7, "no floating-point rank drift");
  t.is(percentile([7], 0), 7);
  t.is(percentile([3, 1, 2], 0), 1, "p0 is the minimum");
  const s = [5, 1, 4, 2, 3, 6, 7, 8, 9, 10];
  const sum = summarise(s);
  t.is(sum.p50Ms, 5);
  t.is(sum.p95Ms, 10);
  t.is(sum.minMs, 1);
  t.is(sum.maxMs, 10);
  t.is(sum.meanMs, 5.5);
  t.is(sum.count, 10);
});

test("an empty series has no percentile; a rank outside 0..100 is a caller's bug", (t) => {
  t.true(Number.isNaN(percentile([], 50)));
  t.true(Number.isNaN(summarise([]).p99Ms));
  t.is(summarise([]).count, 0);
  t.throws(() => percentile([1], 101), { instanceOf: RangeError });
  t.throws(() => percentile([1], -1), { instanceOf: RangeError });
  t.throws(() => percentile([1], NaN), { instanceOf: RangeError });
});

test("property: the result is a sample with at least p% of the samples at or below it, and fewer than p% below it", (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(samples, rank, (xs, p) => {
        const v = percentile(xs, p);
        const atOrBelow = xs.filter((x) => x <= v).length;
        const below = xs.filter((x) => x < v).length;
        return xs.includes(v) && atOrBelow * 100 >= p * xs.length && (p === 0 || below * 100 < p * xs.length);
      }),
    ),
  );
});

test("property: monotone in p, p0 is the minimum and p100 the maximum, the input is left alone", (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(samples, rank, rank, (xs, p, q) => {
        const copy = [...xs];
        const [lo, hi] = p <= q ? [p, q] : [q, p];
        const ok = percentile(xs, lo) <= percentile(xs, hi) && percentile(xs, 0) === Math.min(...xs) && percentile(xs, 100) === Math.max(...xs);
        return ok && xs.every((x, i) => Object.is(x, copy[i]));
      }),
    ),
  );
});

test("property: a summary is ordered min <= p50 <= p95 <= p99 <= max, with the mean between min and max", (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(samples, (xs) => {
        const s = summarise(xs);
        return (
          s.count === xs.length &&
          s.minMs <= s.p50Ms &&
          s.p50Ms <= s.p95Ms &&
          s.p95Ms <= s.p99Ms &&
          s.p99Ms <= s.maxMs &&
          s.meanMs >= s.minMs - 1e-6 &&
          s.meanMs <= s.maxMs + 1e-6 &&
          s.p95Ms === percentile(xs, 95)
        );
      }),
    ),
  );
});
