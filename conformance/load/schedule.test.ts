import test from "ava";
import fc from "fast-check";
import { Breather, OpenLoopSchedule, every } from "./schedule.js";

test("intended starts are t0 + k/R; dueBy counts the requests whose start is at or before now", (t) => {
  const s = new OpenLoopSchedule(1000, 500); // 500 serials/s, one per request: every 2 ms
  t.is(s.intervalMs, 2);
  t.is(s.intendedStart(0), 1000);
  t.is(s.intendedStart(10), 1020);
  t.is(s.dueBy(999.9), 0);
  t.is(s.dueBy(1000), 1);
  t.is(s.dueBy(1001.9), 1);
  t.is(s.dueBy(1002), 2);
  t.is(s.dueBy(2000), 501);
});

test("with batches, the rate is in serials: a batch of B starts every B/R seconds", (t) => {
  const s = new OpenLoopSchedule(0, 100_000, 1000);
  t.is(s.intervalMs, 10);
  t.is(s.dueBy(1000), 101);
});

test("dueBy and intendedStart agree: request k is due exactly from its intended start", (t) => {
  fc.assert(
    fc.property(fc.double({ min: 0, max: 1e6, noNaN: true }), fc.double({ min: 0.1, max: 1e6, noNaN: true }), fc.integer({ min: 0, max: 1e6 }), (t0, rate, k) => {
      const s = new OpenLoopSchedule(t0, rate);
      const at = s.intendedStart(k);
      t.true(s.dueBy(at) >= k + 1, `request ${k} due at its start`);
      t.true(s.dueBy(at - s.intervalMs / 2) <= k, `request ${k} not due half an interval early`);
    }),
    { numRuns: 300 },
  );
});

test("a rate or batch that makes no schedule is refused", (t) => {
  t.throws(() => new OpenLoopSchedule(0, 0), { instanceOf: RangeError });
  t.throws(() => new OpenLoopSchedule(0, Number.POSITIVE_INFINITY), { instanceOf: RangeError });
  t.throws(() => new OpenLoopSchedule(0, 10, 0), { instanceOf: RangeError });
  t.throws(() => new OpenLoopSchedule(0, 10, 1.5), { instanceOf: RangeError });
});

test("the breather lets timers run during a loop of microtasks only", async (t) => {
  const breather = new Breather(5);
  let ticks = 0;
  const timer = every(1, () => ticks++);
  const started = performance.now();
  let loops = 0;
  try {
    // a loop that would otherwise never yield to the timers: only awaits of resolved promises
    while (ticks < 3 && loops < 50_000_000) {
      loops++;
      const pause = breather.due();
      await (pause ?? Promise.resolve());
      if (performance.now() - started > 20_000) break;
    }
  } finally {
    timer.stop();
  }
  t.true(ticks >= 3, `${ticks} timer ticks in ${loops} loops`);
  // between pauses, due() returns nothing to await (no allocation on the hot path)
  t.is(new Breather(60_000).due(), undefined);
});
