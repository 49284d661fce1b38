import test from "ava";
import fc from "fast-check";
import { isoTime, utcParts } from "./time.js";

test("isoTime agrees with Date.prototype.toISOString over 1900-2200", (t) => {
  const lo = Date.UTC(1900, 0, 1);
  const hi = Date.UTC(2200, 0, 1);
  fc.assert(fc.property(fc.integer({ min: lo, max: hi }), (ms) => isoTime(ms) === new Date(ms).toISOString()));
  t.is(isoTime(Date.UTC(2000, 1, 29, 23, 59, 59, 999)), "2000-02-29T23:59:59.999Z");
  t.deepEqual(utcParts(0), { year: 1970, month: 1, day: 1, hour: 0, minute: 0, second: 0, ms: 0 });
});
