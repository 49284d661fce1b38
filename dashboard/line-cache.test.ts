import test from "ava";
import fc from "fast-check";
import { LineCache, RunLines } from "./line-cache.js";

test("RunLines: a window [from, end) whose front can be let go", (t) => {
  const w = new RunLines(10);
  for (let i = 0; i < 3000; i++) w.push(`line ${10 + i}`);
  t.deepEqual(w.slice(10, 12), ["line 10", "line 11"]);
  const freed = w.dropBefore(2500);
  t.is(freed, Array.from({ length: 2490 }, (_, i) => `line ${10 + i}`.length).reduce((a, b) => a + b, 0));
  t.is(w.from, 2500);
  t.is(w.end, 3010);
  t.deepEqual(w.slice(2500, 2502), ["line 2500", "line 2501"]);
  t.deepEqual(w.slice(3009, 3010), ["line 3009"]);
});

test("LineCache: never above its bound; a live run's lines before its tail go first, then finished runs, the live tail last", (t) => {
  const live = new Set(["L"]);
  const fill = (tail: number) => {
    const cache = new LineCache<string>(1000, tail, (k) => live.has(k));
    cache.start("F", 0);
    cache.start("L", 0);
    for (let i = 0; i < 40; i++) cache.push("F", "f".repeat(10));
    for (let i = 0; i < 200; i++) cache.push("L", "l".repeat(10));
    t.true(cache.bytes <= 1000);
    t.is(cache.peek("L")!.end, 200);
    return cache;
  };
  const short = fill(10);
  t.is(short.peek("F")!.length, 40, "a short live tail: dropping the live run's older lines was enough");
  t.true(short.peek("L")!.from > 0);
  t.true(short.peek("L")!.length >= 10);
  const long = fill(60);
  t.is(long.peek("F"), undefined, "a long live tail: the finished run went");
  t.true(long.peek("L")!.length >= 60, "the live tail stays");
  const cache = new LineCache<string>(100, 50, (k) => live.has(k));
  cache.start("L", 0);
  for (let i = 0; i < 30; i++) cache.push("L", "l".repeat(10));
  t.true(cache.bytes <= 100, "a bound smaller than any tail still holds");
});

test("LineCache: any sequence of pushes over any runs stays within the bound, and each window ends at its run's count", (t) => {
  const op = fc.record({ run: fc.constantFrom("a", "b", "c"), len: fc.integer({ min: 1, max: 120 }), live: fc.boolean() });
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const live = new Map<string, boolean>();
        const counts = new Map<string, number>();
        const cache = new LineCache<string>(500, 3, (k) => live.get(k) ?? false);
        for (const { run, len, live: l } of ops) {
          live.set(run, l);
          if (!cache.peek(run)) cache.start(run, counts.get(run) ?? 0);
          cache.push(run, "x".repeat(len));
          counts.set(run, (counts.get(run) ?? 0) + 1);
          if (cache.bytes > 500) throw new Error(`${cache.bytes} held`);
          for (const [k, n] of counts) {
            const w = cache.peek(k);
            if (w && w.end !== n) throw new Error(`${k}: window ends at ${w.end}, run has ${n}`);
          }
        }
      }),
      { numRuns: 200 },
    ),
  );
});
