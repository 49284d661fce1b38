import test from "ava";
import fc from "fast-check";
import { SystemClock, VirtualClock } from "./clock.js";
import { addYears, parseDuration } from "./duration.js";

test("VirtualClock stands still until advanced, then moves exactly", (t) => {
  const c = new VirtualClock("2026-01-01T00:00:00Z");
  t.is(c.now().toISOString(), "2026-01-01T00:00:00.000Z");
  t.is(c.nowMs(), Date.UTC(2026, 0, 1));
  c.advance(parseDuration("90d"));
  t.is(c.now().toISOString(), "2026-04-01T00:00:00.000Z");
  c.set(new Date("2027-01-01T00:00:00Z"));
  t.is(c.nowMs(), Date.UTC(2027, 0, 1));
  t.is(new VirtualClock(0).nowMs(), 0);
});

test("clocks never move backward", (t) => {
  const c = new VirtualClock("2026-01-01T00:00:00Z");
  t.throws(() => c.advance(-1), { instanceOf: RangeError });
  t.throws(() => c.advance(Number.NaN), { instanceOf: RangeError });
  t.throws(() => c.set(new Date("2025-01-01T00:00:00Z")), { instanceOf: RangeError });
  t.throws(() => new VirtualClock("not a date"), { instanceOf: RangeError });
  const s = new SystemClock();
  t.throws(() => s.advance(-5), { instanceOf: RangeError });
});

test("VirtualClock: the sum of advances is the distance travelled", (t) => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 10 ** 10 }), { maxLength: 20 }), (steps) => {
      const c = new VirtualClock(1_000);
      for (const s of steps) c.advance(s);
      return c.nowMs() === 1_000 + steps.reduce((a, b) => a + b, 0);
    }),
  );
  t.is(new VirtualClock(5).now().getTime(), 5);
});

test("SystemClock follows real time plus its offset", (t) => {
  const s = new SystemClock();
  const before = Date.now();
  s.advance(parseDuration("1y"));
  const ahead = s.nowMs() - before;
  // one year ahead, give or take the few milliseconds this test takes
  t.true(ahead >= 365 * 86_400_000 && ahead < 365 * 86_400_000 + 60_000);
  t.true(s.now() instanceof Date);
});

test("parseDuration reads compound durations", (t) => {
  t.is(parseDuration("250ms"), 250);
  t.is(parseDuration("1h30m"), 5_400_000);
  t.is(parseDuration("2w"), 14 * 86_400_000);
  t.is(parseDuration(" 3y "), 3 * 365 * 86_400_000);
  t.is(parseDuration("1.5s"), 1500);
  for (const bad of ["", "5", "d", "5x", "1h 30m", "-1d", "1d!"]) {
    t.throws(() => parseDuration(bad), { instanceOf: RangeError }, bad);
  }
});

test("addYears is calendar arithmetic in UTC, clamping 29 February", (t) => {
  t.is(addYears(new Date("2024-02-29T12:00:00Z"), 1).toISOString(), "2025-02-28T12:00:00.000Z");
  t.is(addYears(new Date("2024-02-29T12:00:00Z"), 4).toISOString(), "2028-02-29T12:00:00.000Z");
  t.is(addYears(new Date("2026-11-25T00:00:00Z"), 3).toISOString(), "2029-11-25T00:00:00.000Z");
  t.is(addYears(new Date("2026-01-31T00:00:00Z"), -1).toISOString(), "2025-01-31T00:00:00.000Z");
});
