import { percentile } from "../../core/index.js";
import { normSerial, singleFor } from "../pkix.js";
import type { Observation, Propagation, Sample } from "./fixtures.js";
import { fail, pass, Precondition, type Check, type CheckContext, type Verdict } from "./types.js";

/**
 * A revocation's delay to the CRL or OCSP is a distribution, not a number:
 * one sample took 8 ms in one run and 288 ms in the next against the same CA.
 * Each check judges the `percentile` (nearest rank, over every sample) of
 * `samples` revocations against the threshold; a revocation that never shows
 * within the horizon fails the check by itself, whatever the percentile.
 * Both checks read the same revocations (`Fixtures.propagation`).
 */

interface Where {
  /** For messages: "the CRL", "OCSP". */
  name: string;
  observation: (s: Sample) => Observation<unknown>;
  /** What the last look said, for a sample that never showed. */
  lastSaid: (s: Sample, issuerPem: string) => string;
}

/** A figure for the evidence: a never-shown sample's delay (Infinity) is null. */
const figure = (ms: number): number | null => (Number.isFinite(ms) ? ms : null);

function judge(ctx: CheckContext, where: Where, prop: Propagation, issuerPem: string): Verdict {
  const { samples } = prop;
  const threshold = ctx.options.propagationThresholdMs;
  const p = ctx.options.percentile;
  const judged = `p${p}`;
  const delays = samples.map((s) => where.observation(s).delayMs ?? Infinity);
  const never = samples.filter((s) => where.observation(s).delayMs === undefined);
  const at = percentile(delays, p);
  const p50 = percentile(delays, 50);
  const max = Math.max(...delays);
  const resolutions = samples.map((s) => where.observation(s).resolutionMs ?? 0);
  const ev = {
    samples: samples.length,
    percentile: p,
    judged,
    // the judged figure under the name the runner sends as a metric
    delayMs: figure(at),
    p50Ms: figure(p50),
    [`${judged}Ms`]: figure(at),
    maxMs: figure(max),
    delaysMs: delays.map(figure),
    serials: samples.map((s) => normSerial(s.cert.issued.serial)),
    neverShown: never.length,
    neverShownSamples: never.map((s) => ({ serial: normSerial(s.cert.issued.serial), acknowledgedRevokedAt: s.revocation.revokedAt, polls: where.observation(s).polls, last: where.lastSaid(s, issuerPem) })),
    thresholdMs: threshold,
    horizonMs: prop.horizonMs,
    pollIntervalMs: prop.pollIntervalMs,
    // each delay is known to within the time since the look before it: at least the poll interval
    worstResolutionMs: Math.max(prop.pollIntervalMs, ...resolutions),
    revocationSpacingMs: prop.spacingMs,
  };
  const figures = `p50 ${p50} ms, max ${Number.isFinite(max) ? `${max} ms` : "never"}; polled every ${prop.pollIntervalMs} ms`;
  if (never.length) {
    return fail(
      `${never.length} of ${samples.length} revocations never showed in ${where.name} within the ${prop.horizonMs} ms horizon: relying parties keep accepting those certificates`,
      ev,
    );
  }
  return at <= threshold
    ? pass(`${judged} ${at} ms over ${samples.length} revocations, within the ${threshold} ms threshold (${figures})`, ev)
    : fail(`${judged} ${at} ms over ${samples.length} revocations, over the ${threshold} ms threshold (${figures}): relying parties accept revoked certificates that long`, ev);
}

/** None of the samples' fetches gave anything to judge: the root cause is another check's. */
function nothingAnswered(samples: Sample[], obs: (s: Sample) => Observation<unknown>): string | undefined {
  if (samples.some((s) => obs(s).answered > 0)) return undefined;
  return samples.map((s) => obs(s).lastError).find((e) => e !== undefined) ?? "no answer";
}

const crlWhere: Where = {
  name: "the CRL",
  observation: (s) => s.crl,
  lastSaid: (s) => {
    const c = s.crl.last;
    return c ? `not listed on the CRL of thisUpdate ${c.thisUpdate.toISOString()}${c.number !== undefined ? `, number ${c.number}` : ""}` : (s.crl.lastError ?? "no answer");
  },
};

const ocspWhere: Where = {
  name: "OCSP",
  observation: (s) => s.ocsp,
  lastSaid: (s, issuerPem) => {
    const r = s.ocsp.last;
    const single = r ? singleFor(r, issuerPem, s.cert.issued.serial) : undefined;
    return single ? `the responder said ${single.status}` : (s.ocsp.lastError ?? "no answer");
  },
};

export const propagationChecks: Check[] = [
  {
    id: "PROP-CRL",
    title: "A revocation reaches the CRL within the threshold",
    source: "lifecycle policy: revoke (relying parties see revocations promptly)",
    level: "MUST",
    needs: ["crl"],
    credentials: ["raToken"],
    judges: ["crl", "revocation"],
    async run(ctx) {
      const prop = await ctx.fx.propagation();
      const missing = nothingAnswered(prop.samples, (s) => s.crl);
      if (missing) throw new Precondition(`no CRL signed by the issuing CA came back (${missing}): see CRL-SIGNATURE`);
      return judge(ctx, crlWhere, prop, await ctx.fx.issuerPem());
    },
  },
  {
    id: "PROP-OCSP",
    title: "A revocation reaches OCSP within the threshold",
    source: "lifecycle policy: revoke (relying parties see revocations promptly)",
    level: "MUST",
    needs: ["ocsp"],
    credentials: ["raToken"],
    judges: ["ocsp", "revocation"],
    async run(ctx) {
      const prop = await ctx.fx.propagation();
      const missing = nothingAnswered(prop.samples, (s) => s.ocsp);
      if (missing) throw new Precondition(`the responder never answered for these certificates (${missing}): see OCSP-POST and OCSP-GOOD`);
      return judge(ctx, ocspWhere, prop, await ctx.fx.issuerPem());
    },
  },
];
