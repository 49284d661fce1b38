import { isRevocationReason, type RevocationReason } from "../../core/index.js";
import type { ReasonMix } from "./types.js";

/**
 * The reason for each revocation request of a load run, deterministically in
 * the mix's proportions (smooth weighted round robin, as nginx balances
 * upstreams): each pick adds every weight to its reason's credit, takes the
 * reason with the most credit (the first on a tie) and debits it the total.
 * After k picks no reason is a whole pick ahead of its share (k times its
 * weight's fraction), nor more than (reasons - 1) behind it (about one in
 * practice); with whole-number weights, every period of sum(weights) picks
 * holds exactly each weight's count. A short run is as mixed as a long one,
 * and two runs with one plan send the same reasons in the same order
 * (random draws would give neither).
 */
export function reasonPicker(mix: ReasonMix): () => RevocationReason {
  if (mix.length === 0) throw new RangeError("the reason mix is empty");
  const reasons: RevocationReason[] = [];
  const weights: number[] = [];
  for (const { reason, weight } of mix) {
    if (!isRevocationReason(reason)) throw new RangeError(`not a revocation reason: ${String(reason).slice(0, 40)}`);
    if (!(Number.isFinite(weight) && weight >= 0)) throw new RangeError(`the weight of ${reason} must be a finite number >= 0, got ${weight}`);
    if (weight === 0) continue;
    reasons.push(reason);
    weights.push(weight);
  }
  if (reasons.length === 0) throw new RangeError("every weight of the reason mix is 0");
  if (reasons.length === 1) {
    const only = reasons[0];
    return () => only;
  }
  const total = weights.reduce((a, b) => a + b, 0);
  const credit = new Float64Array(reasons.length);
  return () => {
    let best = 0;
    for (let i = 0; i < credit.length; i++) {
      credit[i] += weights[i];
      if (credit[i] > credit[best]) best = i;
    }
    credit[best] -= total;
    return reasons[best];
  };
}
