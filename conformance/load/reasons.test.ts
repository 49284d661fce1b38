import test from "ava";
import fc from "fast-check";
import { REVOCATION_REASONS, type RevocationReason } from "../../core/index.js";
import { reasonPicker } from "./reasons.js";

function countPicks(pick: () => RevocationReason, n: number): Map<RevocationReason, number> {
  const counts = new Map<RevocationReason, number>();
  for (let i = 0; i < n; i++) {
    const r = pick();
    counts.set(r, (counts.get(r) ?? 0) + 1);
  }
  return counts;
}

/** 1 to 6 distinct reasons with whole-number weights. */
const integerMix = fc
  .uniqueArray(fc.constantFrom(...REVOCATION_REASONS), { minLength: 1, maxLength: 6 })
  .chain((reasons) => fc.tuple(fc.constant(reasons), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: reasons.length, maxLength: reasons.length })))
  .map(([reasons, weights]) => reasons.map((reason, i) => ({ reason, weight: weights[i] })));

test("with whole-number weights, whole periods of picks hold exactly each weight's count", (t) => {
  fc.assert(
    fc.property(integerMix, fc.integer({ min: 1, max: 20 }), (mix, periods) => {
      const total = mix.reduce((s, m) => s + m.weight, 0);
      const counts = countPicks(reasonPicker(mix), total * periods);
      for (const m of mix) t.is(counts.get(m.reason), m.weight * periods, `${m.reason} of ${JSON.stringify(mix)}`);
    }),
    { numRuns: 200 },
  );
});

test("with any weights, every prefix of the picks stays within its bound of the exact share", (t) => {
  const mix = fc
    .uniqueArray(fc.constantFrom(...REVOCATION_REASONS), { minLength: 1, maxLength: 6 })
    .chain((reasons) => fc.tuple(fc.constant(reasons), fc.array(fc.double({ min: 0.001, max: 1000, noNaN: true }), { minLength: reasons.length, maxLength: reasons.length })));
  fc.assert(
    fc.property(mix, ([reasons, weights]) => {
      const total = weights.reduce((s, w) => s + w, 0);
      const pick = reasonPicker(reasons.map((reason, i) => ({ reason, weight: weights[i] })));
      const counts = new Map<RevocationReason, number>();
      let worst = 0;
      for (let k = 1; k <= 2000; k++) {
        const r = pick();
        counts.set(r, (counts.get(r) ?? 0) + 1);
        for (let i = 0; i < reasons.length; i++) {
          const d = (counts.get(reasons[i]) ?? 0) - (k * weights[i]) / total;
          if (d >= 1 || d <= -Math.max(1, reasons.length - 1)) worst = d;
        }
      }
      t.is(worst, 0, `deviation ${worst} for ${JSON.stringify(weights)}`);
    }),
    { numRuns: 60 },
  );
});

test("the issue's mix keyCompromise=0.1,cessationOfOperation=0.9: exactly 1 in 10, spread out, the same order every time", (t) => {
  const mix = [
    { reason: "keyCompromise" as const, weight: 0.1 },
    { reason: "cessationOfOperation" as const, weight: 0.9 },
  ];
  const a = reasonPicker(mix);
  const b = reasonPicker(mix);
  const seqA = Array.from({ length: 100_000 }, a);
  const seqB = Array.from({ length: 100_000 }, b);
  t.deepEqual(seqA, seqB);
  t.is(seqA.filter((r) => r === "keyCompromise").length, 10_000);
  // spread: every window of 10 consecutive picks has exactly one keyCompromise
  for (let i = 0; i + 10 <= 1000; i += 10) t.is(seqA.slice(i, i + 10).filter((r) => r === "keyCompromise").length, 1);
});

test("zero weights are never picked; a single reason is always picked; bad mixes are refused", (t) => {
  const counts = countPicks(reasonPicker([{ reason: "superseded", weight: 0 }, { reason: "affiliationChanged", weight: 3 }]), 50);
  t.deepEqual([...counts], [["affiliationChanged", 50]]);
  t.deepEqual([...countPicks(reasonPicker([{ reason: "unspecified", weight: 1 }]), 5)], [["unspecified", 5]]);
  t.throws(() => reasonPicker([]), { instanceOf: RangeError });
  t.throws(() => reasonPicker([{ reason: "superseded", weight: 0 }]), { instanceOf: RangeError });
  t.throws(() => reasonPicker([{ reason: "superseded", weight: -1 }]), { instanceOf: RangeError });
  t.throws(() => reasonPicker([{ reason: "superseded", weight: Number.NaN }]), { instanceOf: RangeError });
  t.throws(() => reasonPicker([{ reason: "notAReason" as RevocationReason, weight: 1 }]), { instanceOf: RangeError });
});
