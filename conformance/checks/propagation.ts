import { fail, pass, Precondition, type Check, type CheckContext } from "./types.js";
import type { Observation } from "./fixtures.js";

function judge(ctx: CheckContext, what: string, obs: Observation<unknown>, serial: string) {
  const threshold = ctx.options.propagationThresholdMs;
  const ev = { serial, delayMs: obs.delayMs ?? null, thresholdMs: threshold, polls: obs.polls, lastError: obs.lastError ?? null };
  if (obs.delayMs === undefined) return fail(`not shown on the ${what} within ${ctx.options.propagationHorizonMs ?? threshold * 2} ms`, ev);
  return obs.delayMs <= threshold ? pass(`${obs.delayMs} ms (threshold ${threshold} ms)`, ev) : fail(`${obs.delayMs} ms, over the ${threshold} ms threshold`, ev);
}

export const propagationChecks: Check[] = [
  {
    id: "PROP-CRL",
    title: "A revocation reaches the CRL within the threshold",
    source: "lifecycle policy: revoke (relying parties see revocations promptly)",
    level: "MUST",
    needs: ["crl"],
    async run(ctx) {
      const w = await ctx.fx.watch();
      return judge(ctx, "CRL", w.crl, w.cert.issued.serial);
    },
  },
  {
    id: "PROP-OCSP",
    title: "A revocation reaches OCSP within the threshold",
    source: "lifecycle policy: revoke (relying parties see revocations promptly)",
    level: "MUST",
    needs: ["ocsp"],
    async run(ctx) {
      const w = await ctx.fx.watch();
      if (w.ocsp.answered === 0) throw new Precondition(`the responder never answered (${w.ocsp.lastError ?? "no answer"}): see OCSP-POST`);
      return judge(ctx, "OCSP responder", w.ocsp, w.cert.issued.serial);
    },
  },
];
