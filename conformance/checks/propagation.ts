import { percentile } from "../../core/index.js";
import { normSerial, singleFor } from "../pkix.js";
import type { Observation, Propagation, Sample } from "./fixtures.js";
import { showing } from "./observe.js";
import { fail, NotJudged, pass, Precondition, type Check, type CheckContext, type Verdict } from "./types.js";

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

/**
 * The percentiles the evidence always carries (README: p50, p95 and max),
 * and the judged one under its own name when it is another.
 */
function figures(delays: number[], p: number): Record<string, number | null> {
  const out: Record<string, number | null> = { p50Ms: figure(percentile(delays, 50)), p95Ms: figure(percentile(delays, 95)), maxMs: figure(Math.max(...delays)) };
  out[`p${p}Ms`] = figure(percentile(delays, p));
  return out;
}

/**
 * Each sample's delay is known to lie between a lower and an upper bound:
 * equal for a sample every look of which told something; apart for one
 * where some looks told nothing (throttled, unreachable): seen late after
 * them, or not seen when the last look told nothing. The check is judged
 * only when both bounds give the same verdict; otherwise it is not judged,
 * never failed for what certify could not see.
 */
function judge(ctx: CheckContext, where: Where, prop: Propagation, issuerPem: string): Verdict {
  const { samples } = prop;
  const threshold = ctx.options.propagationThresholdMs;
  const p = ctx.options.percentile;
  const judged = `p${p}`;
  const showings = samples.map((s) => showing(where.observation(s)));
  const upper = showings.map((x) => (x.kind === "seen" ? x.delayMs : Infinity));
  const lower = showings.map((x) => (x.kind === "seen" ? x.lowerMs : x.kind === "unknown" ? x.lowerMs : Infinity));
  const never = samples.filter((_, i) => showings[i].kind === "never");
  // a sample whose bounds straddle the threshold: certify cannot tell whether it was on time
  const unsure = samples.filter((_, i) => lower[i] <= threshold && upper[i] > threshold && where.observation(samples[i]).unjudged);
  const unjudgedPolls = samples.reduce((n, s) => n + (where.observation(s).unjudged?.polls ?? 0), 0);
  const polls = samples.reduce((n, s) => n + where.observation(s).polls, 0);
  const at = percentile(upper, p);
  const atLeast = percentile(lower, p);
  const resolutions = samples.map((s) => where.observation(s).resolutionMs ?? 0);
  const ev = {
    samples: samples.length,
    percentile: p,
    judged,
    // the judged figure under the name the runner sends as a metric
    delayMs: figure(at),
    ...figures(upper, p),
    delaysMs: upper.map(figure),
    serials: samples.map((s) => normSerial(s.cert.issued.serial)),
    neverShown: never.length,
    neverShownSamples: never.map((s) => ({ serial: normSerial(s.cert.issued.serial), acknowledgedRevokedAt: s.revocation.revokedAt, polls: where.observation(s).polls, last: where.lastSaid(s, issuerPem) })),
    // looks that told nothing (a 401, a 429, tryLater, an unreachable endpoint): not the CA's answer
    notJudgedPolls: unjudgedPolls,
    polls,
    notJudged: unsure.length,
    notJudgedSamples: unsure.map((s) => {
      const o = where.observation(s);
      return { serial: normSerial(s.cert.issued.serial), polls: o.polls, notJudgedPolls: o.unjudged!.polls, cause: o.unjudged!.why, last: o.unjudged!.message, seenAfterMs: o.delayMs ?? null };
    }),
    thresholdMs: threshold,
    horizonMs: prop.horizonMs,
    pollIntervalMs: prop.pollIntervalMs,
    // each delay is known to within the time since the look before it: at least the poll interval
    worstResolutionMs: Math.max(prop.pollIntervalMs, ...resolutions),
    revocationSpacingMs: prop.spacingMs,
  };
  const p50 = percentile(upper, 50);
  const max = Math.max(...upper);
  const said = `p50 ${Number.isFinite(p50) ? `${p50} ms` : "never"}, max ${Number.isFinite(max) ? `${max} ms` : "never"}; polled every ${prop.pollIntervalMs} ms`;
  if (never.length) {
    return fail(
      `${never.length} of ${samples.length} revocations never showed in ${where.name} within the ${prop.horizonMs} ms horizon: relying parties keep accepting those certificates`,
      ev,
    );
  }
  if (at <= threshold) return pass(`${judged} ${at} ms over ${samples.length} revocations, within the ${threshold} ms threshold (${said})`, ev);
  if (atLeast > threshold) {
    const shownAs = atLeast === at ? `${at}` : `at least ${atLeast}`;
    return fail(`${judged} ${shownAs} ms over ${samples.length} revocations, over the ${threshold} ms threshold (${said}): relying parties accept revoked certificates that long`, ev);
  }
  const cause = samples.map((s) => where.observation(s).unjudged).find((u) => u !== undefined)!;
  throw new NotJudged(
    cause.why,
    `${unsure.length} of ${samples.length} revocations could not be timed in ${where.name}: some looks told nothing (${cause.message}), so whether ${judged} is within the ${threshold} ms threshold is unknown`,
    cause.fix,
    // no judged figure: nothing for the delay metric
    { ...ev, delayMs: null },
  );
}

/**
 * When no look at any sample got an answer to judge: the CA answered only
 * with defects another check fails on (skip: see it), or certify could not
 * look at all (not judged, with the fix).
 */
function nothingAnswered(samples: Sample[], obs: (s: Sample) => Observation<unknown>, name: string): void {
  if (samples.some((s) => obs(s).answered > 0)) return;
  const faulty = samples.map(obs).find((o) => o.faultSee);
  const last = samples.map((s) => obs(s).lastError).find((e) => e !== undefined) ?? "no answer";
  if (faulty) throw new Precondition(`no answer from ${name} to judge (${faulty.lastError ?? last}): see ${faulty.faultSee}`);
  const unjudged = samples.map((s) => obs(s).unjudged).find((u) => u !== undefined);
  const polls = samples.reduce((n, s) => n + obs(s).polls, 0);
  if (unjudged) throw new NotJudged(unjudged.why, `none of ${polls} looks at ${name} told anything (${unjudged.message}): certify could not see the revocations reach it`, unjudged.fix, { polls, samples: samples.length });
  throw new NotJudged("harness", `certify never looked at ${name} (${last})`, "a bug in cardloop: report it with the run log (run.jsonl)", { polls, samples: samples.length });
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
    // when a revocation shows is the publication's doing (an adapter's CRL job for OpenSSL and CFSSL)
    judges: ["crl-publication", "crl"],
    async run(ctx) {
      const prop = await ctx.fx.propagation();
      nothingAnswered(prop.samples, (s) => s.crl, crlWhere.name);
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
    judges: ["ocsp-publication", "ocsp"],
    async run(ctx) {
      const prop = await ctx.fx.propagation();
      nothingAnswered(prop.samples, (s) => s.ocsp, ocspWhere.name);
      return judge(ctx, ocspWhere, prop, await ctx.fx.issuerPem());
    },
  },
];
