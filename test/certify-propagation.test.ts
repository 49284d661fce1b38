import test from "ava";
import { EventBus, SystemClock } from "../core/index.js";
import { createEmbeddedAdapter } from "../conformance/adapters/embedded.js";
import { runCatalog, type CheckResult } from "../conformance/runner.js";
import type { CertifyOptions } from "../conformance/checks/index.js";
import { Fixtures, DEFAULT_OPTIONS } from "../conformance/checks/index.js";
import { RefusingCa } from "../conformance/adapters/refusing.js";
import { OcspTransportError } from "../conformance/adapters/loopback-http.js";
import { buildOcspRequest, normSerial, ocspRequestSerials } from "../conformance/pkix.js";
import { buildCrl, buildOcspResponse, Crl, encodePem, errorResponse, OcspStatus, parseOcspRequest } from "../pki/index.js";
import { DEFAULT_POLICY } from "../core/index.js";
import type { EmbeddedCa } from "../simulator/ca/index.js";
import { CaError, type CaAdapter, type RevocationResult, type RevokeRequest } from "../simulator/ca/api.js";

/**
 * PROP-CRL and PROP-OCSP judge a distribution of revocation delays, not one
 * sample: `samples` revocations, the `percentile` (nearest rank) against the
 * threshold, any revocation never shown within the horizon a failure by
 * itself. No assertion here is on the CA's speed: the injected delays and
 * losses are far from the thresholds, and the verdicts and the evidence's
 * structure are what is asserted.
 */
const clock = new SystemClock();

async function run(ca: CaAdapter, only: string[], options: Partial<CertifyOptions>): Promise<Record<string, CheckResult>> {
  const r = await runCatalog(ca, { bus: new EventBus(clock), clock, only, options });
  return Object.fromEntries(r.results.map((x) => [x.id, x]));
}

/** `inner` with some methods replaced (the rest are the inner CA's own). */
function wrap(inner: EmbeddedCa, over: Partial<CaAdapter>): CaAdapter {
  return new Proxy(inner, {
    get(target, prop) {
      if (prop in over) return (over as Record<string | symbol, unknown>)[prop];
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as unknown as CaAdapter;
}

/**
 * A CA whose CRL lists the n-th revocation (the watch's is the first) only
 * from `dueIn(n)` ms after its acknowledgement on (Infinity: never; undefined:
 * at once): its CRL is the embedded CA's, re-signed by the same issuing key
 * without the entries not yet due. OCSP is untouched.
 */
function publishingLate(inner: EmbeddedCa, dueIn: (n: number) => number | undefined): CaAdapter & { lost: string[] } {
  const dueAt = new Map<string, number>();
  const lost: string[] = [];
  let n = 0;
  const ca = wrap(inner, {
    async revoke(req: RevokeRequest): Promise<RevocationResult> {
      const r = await inner.revoke(req);
      const wait = dueIn(++n);
      if (wait !== undefined) dueAt.set(normSerial(r.serial), clock.nowMs() + wait);
      if (wait === Infinity) lost.push(normSerial(r.serial));
      return r;
    },
    async crl() {
      const crl = new Crl(await inner.crl());
      const now = clock.nowMs();
      const issuing = inner.hierarchy.issuing;
      const entries: Array<[string, number, number | null]> = [];
      for (const e of crl.entries()) {
        const due = dueAt.get(normSerial(e.serial));
        if (due === undefined || now >= due) entries.push([e.serial, e.revocationDate, e.reasonCode ?? null]);
      }
      return buildCrl({ issuerName: issuing.name, issuerKeyId: issuing.keyId, signer: issuing.signer, crlNumber: crl.crlNumber!, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate!, entries });
    },
  });
  return Object.assign(ca, { lost });
}

/** Every third revocation reaches the CRL 2 s late: twice the threshold the tests judge by. */
const everyThirdLate = (n: number) => (n % 3 === 0 ? 2_000 : undefined);
const LATE_OPTIONS: Partial<CertifyOptions> = { propagationThresholdMs: 1_000, propagationHorizonMs: 6_000 };

/** Logs the CA's revocations and CRL fetches, in order. */
function logging(inner: EmbeddedCa, log: string[]): CaAdapter {
  return wrap(inner, {
    async revoke(req: RevokeRequest): Promise<RevocationResult> {
      const r = await inner.revoke(req);
      log.push("revoke");
      return r;
    },
    async crl() {
      log.push("crl");
      return inner.crl();
    },
  });
}

interface Distribution {
  samples: number;
  percentile: number;
  judged: string;
  delayMs: number | null;
  p50Ms: number | null;
  maxMs: number | null;
  delaysMs: Array<number | null>;
  serials: string[];
  neverShown: number;
  neverShownSamples: Array<{ serial: string; polls: number; last: string }>;
  thresholdMs: number;
  horizonMs: number;
  pollIntervalMs: number;
  worstResolutionMs: number;
  revocationSpacingMs: number;
  [k: string]: unknown;
}

const dist = (r: CheckResult) => r.evidence as Distribution;

test("against the embedded CA: a distribution of samples, both checks on the same revocations, revoked apart", async (t) => {
  const inner = await createEmbeddedAdapter();
  t.teardown(() => inner.close());
  const log: string[] = [];
  const ca = logging(inner, log);
  const r = await run(ca, ["PROP-CRL", "PROP-OCSP"], { samples: 10, propagationThresholdMs: 5_000 });
  for (const id of ["PROP-CRL", "PROP-OCSP"]) {
    const x = r[id];
    t.is(x.outcome, "pass", `${id}: ${x.message}`);
    const d = dist(x);
    t.is(d.samples, 10);
    t.is(d.percentile, 95);
    t.is(d.judged, "p95");
    t.is(d.delaysMs.length, 10);
    t.true(d.delaysMs.every((ms) => typeof ms === "number" && ms >= 0), id);
    t.is(d.neverShown, 0);
    t.deepEqual(d.neverShownSamples, []);
    const [p50, p95, max] = [d.p50Ms!, d.p95Ms as number, d.maxMs!];
    t.true(p50 <= p95 && p95 <= max, `${p50} <= ${p95} <= ${max}`);
    t.is(d.delayMs, p95); // the judged figure, which the runner sends as a metric
    t.is(max, Math.max(...(d.delaysMs as number[])));
    t.is(d.thresholdMs, 5_000);
    t.is(d.pollIntervalMs, 100);
    t.true(d.worstResolutionMs >= d.pollIntervalMs);
    t.is(new Set(d.serials).size, 10);
    t.regex(x.message, /^p95 \d+ ms over 10 revocations, within the 5000 ms threshold \(p50 \d+ ms, max \d+ ms; polled every 100 ms\)$/);
  }
  t.deepEqual(dist(r["PROP-OCSP"]).serials, dist(r["PROP-CRL"]).serials); // one set of revocations for both
  // revoked one at a time, a CRL fetch between any two: one publication cannot cover them all
  t.is(log.filter((e) => e === "revoke").length, 10);
  const revocations = log.flatMap((e, i) => (e === "revoke" ? [i] : []));
  for (let i = 1; i < revocations.length; i++) t.true(log.slice(revocations[i - 1], revocations[i]).includes("crl"), `a CRL fetch between revocations ${i} and ${i + 1}`);
});

test("every third revocation reaching the CRL 2 s late fails PROP-CRL on its p95 (none lost); OCSP, on time, passes", async (t) => {
  const inner = await createEmbeddedAdapter();
  t.teardown(() => inner.close());
  const r = await run(publishingLate(inner, everyThirdLate), ["PROP-CRL", "PROP-OCSP"], { ...LATE_OPTIONS, samples: 10 });
  const crl = r["PROP-CRL"];
  t.is(crl.outcome, "fail", crl.message);
  const d = dist(crl);
  t.is(d.neverShown, 0); // late, not lost: the percentile fails it
  t.is(d.samples, 10);
  for (const i of [2, 5, 8]) t.true((d.delaysMs[i] ?? 0) >= 2_000, `sample ${i + 1} is one of the late ones: ${d.delaysMs[i]}`);
  t.true((d.p95Ms as number) >= 2_000);
  t.regex(crl.message, /^p95 \d+ ms over 10 revocations, over the 1000 ms threshold/);
  // OCSP was never late: the same revocations pass there
  t.is(r["PROP-OCSP"].outcome, "pass", r["PROP-OCSP"].message);
  t.deepEqual(dist(r["PROP-OCSP"]).serials, d.serials);
});

test("the late CRL judged on one sample or at p50: the lucky samples pass", async (t) => {
  const inner = await createEmbeddedAdapter();
  t.teardown(() => inner.close());
  const one = await run(publishingLate(inner, everyThirdLate), ["PROP-CRL"], { ...LATE_OPTIONS, samples: 1 });
  t.is(one["PROP-CRL"].outcome, "pass", one["PROP-CRL"].message);
  t.is(dist(one["PROP-CRL"]).samples, 1);

  const inner2 = await createEmbeddedAdapter();
  t.teardown(() => inner2.close());
  const median = await run(publishingLate(inner2, everyThirdLate), ["PROP-CRL"], { ...LATE_OPTIONS, samples: 10, percentile: 50 });
  const m = median["PROP-CRL"];
  t.is(m.outcome, "pass", m.message);
  t.is(dist(m).judged, "p50");
  t.is(dist(m).delayMs, dist(m).p50Ms);
  t.true((dist(m).maxMs ?? 0) >= 2_000); // the late ones are in the evidence all the same
});

test("a CRL that never lists one of 5 revocations fails PROP-CRL with that count, whatever the percentile", async (t) => {
  const inner = await createEmbeddedAdapter();
  t.teardown(() => inner.close());
  const ca = publishingLate(inner, (n) => (n === 4 ? Infinity : undefined));
  const r = await run(ca, ["PROP-CRL"], { propagationThresholdMs: 1_000, propagationHorizonMs: 1_500, samples: 5, percentile: 50 });
  const x = r["PROP-CRL"];
  t.is(x.outcome, "fail", x.message);
  const d = dist(x);
  t.is(d.neverShown, 1);
  t.is(d.samples, 5);
  t.is(d.neverShownSamples.length, 1);
  t.deepEqual(ca.lost, [d.neverShownSamples[0].serial]);
  t.true(d.neverShownSamples[0].polls > 0);
  t.regex(d.neverShownSamples[0].last, /^not listed on the CRL of thisUpdate/);
  t.is(d.delaysMs[3], null);
  t.is(d.maxMs, null); // never is no figure
  t.is(d.horizonMs, 1_500);
  t.is(x.message, "1 of 5 revocations never showed in the CRL within the 1500 ms horizon: relying parties keep accepting those certificates");
});

test("samples: 1 still works: one revocation, its delay is every figure", async (t) => {
  const inner = await createEmbeddedAdapter();
  t.teardown(() => inner.close());
  const r = await run(inner, ["PROP-CRL", "PROP-OCSP"], { samples: 1 });
  for (const id of ["PROP-CRL", "PROP-OCSP"]) {
    const d = dist(r[id]);
    t.is(r[id].outcome, "pass", r[id].message);
    t.is(d.samples, 1);
    t.is(d.delaysMs.length, 1);
    t.is(d.p50Ms, d.delaysMs[0]);
    t.is(d.p95Ms, d.delaysMs[0]);
    t.is(d.maxMs, d.delaysMs[0]);
  }
});

// ------------------------------------------------- polls that tell nothing

/**
 * `inner`, recording the serials revoked in order, whose OCSP answers as
 * `answer` says for the n-th revoked serial's polls (n from 1; undefined:
 * the CA's own answer).
 */
function ocspFor(inner: EmbeddedCa, answer: (n: number, poll: number) => (() => Promise<Uint8Array>) | undefined): CaAdapter & { revoked: string[] } {
  const revoked: string[] = [];
  const polls = new Map<number, number>();
  const ca = wrap(inner, {
    async revoke(req: RevokeRequest): Promise<RevocationResult> {
      const r = await inner.revoke(req);
      revoked.push(normSerial(r.serial));
      return r;
    },
    async ocsp(request: Uint8Array, method?: "POST" | "GET") {
      const [serial] = ocspRequestSerials(request);
      const n = revoked.indexOf(serial) + 1;
      if (n > 0) {
        polls.set(n, (polls.get(n) ?? 0) + 1);
        const instead = answer(n, polls.get(n)!);
        if (instead) return instead();
      }
      return (inner as CaAdapter).ocsp(request, method);
    },
  });
  return Object.assign(ca, { revoked });
}

const tooMany = () => Promise.reject(new CaError(429, "throttled", "too many requests"));
const tryLater = () => Promise.resolve(errorResponse(OcspStatus.tryLater));
const SHORT: Partial<CertifyOptions> = { samples: 3, propagationThresholdMs: 1_000, propagationHorizonMs: 1_500 };

test("OCSP answering 429 to every poll of one revocation: PROP-OCSP is not judged (throttled), with the counts, not failed for it", async (t) => {
  const inner = await createEmbeddedAdapter();
  t.teardown(() => inner.close());
  const ca = ocspFor(inner, (n) => (n === 2 ? tooMany : undefined));
  const r = await run(ca, ["PROP-CRL", "PROP-OCSP"], SHORT);
  const x = r["PROP-OCSP"];
  t.is(x.outcome, "error", x.message);
  t.is(x.cause, "throttled");
  t.regex(x.message, /^1 of 3 revocations could not be timed in OCSP: .*too many requests|^1 of 3 revocations could not be timed in OCSP: .*throttled/);
  const d = dist(x);
  t.is(d.neverShown, 0);
  t.is(d.notJudged, 1);
  t.true((d.notJudgedPolls as number) > 0);
  const [unsure] = d.notJudgedSamples as Array<{ serial: string; cause: string; notJudgedPolls: number; polls: number }>;
  t.is(unsure.serial, ca.revoked[1]);
  t.is(unsure.cause, "throttled");
  t.is(unsure.notJudgedPolls, unsure.polls);
  t.is(d.delayMs, null); // no figure for the metric
  // the CRL saw every one: judged
  t.is(r["PROP-CRL"].outcome, "pass", r["PROP-CRL"].message);
});

test("OCSP answering tryLater to every poll of one revocation is not judged either; nor is OCSP throttled for every poll", async (t) => {
  const inner = await createEmbeddedAdapter();
  t.teardown(() => inner.close());
  const later = (await run(ocspFor(inner, (n) => (n === 3 ? tryLater : undefined)), ["PROP-OCSP"], SHORT))["PROP-OCSP"];
  t.is(later.outcome, "error", later.message);
  t.is(later.cause, "throttled");
  t.regex(later.message, /tryLater/);
  const inner2 = await createEmbeddedAdapter();
  t.teardown(() => inner2.close());
  const all = (await run(ocspFor(inner2, () => tooMany), ["PROP-OCSP"], SHORT))["PROP-OCSP"];
  t.is(all.outcome, "error", all.message); // was a skip pointing at checks that pass
  t.is(all.cause, "throttled");
  t.regex(all.message, /^none of \d+ looks at OCSP told anything/);
});

test("OCSP answering 503 or 502 to every poll of one revocation: not judged (the CA cannot serve, a gateway), not a fault that fails it as never shown", async (t) => {
  for (const [status, cause] of [[503, "throttled"], [502, "unreachable"]] as const) {
    const inner = await createEmbeddedAdapter();
    t.teardown(() => inner.close());
    const unavailable = () => Promise.reject(new CaError(status, "ocsp-http", `OCSP POST answered HTTP ${status}`));
    const x = (await run(ocspFor(inner, (n) => (n === 2 ? unavailable : undefined)), ["PROP-OCSP"], SHORT))["PROP-OCSP"];
    t.is(x.outcome, "error", `${status}: ${x.message}`);
    t.is(x.cause, cause, String(status));
    const d = dist(x);
    t.is(d.neverShown, 0, String(status));
    t.is(d.notJudged, 1, String(status));
  }
});

test("a 429 on the first poll of each revocation: seen within the threshold on the next, still a pass", async (t) => {
  const inner = await createEmbeddedAdapter();
  t.teardown(() => inner.close());
  const r = await run(ocspFor(inner, (_n, poll) => (poll === 1 ? tooMany : undefined)), ["PROP-OCSP"], { samples: 3, propagationThresholdMs: 5_000 });
  const x = r["PROP-OCSP"];
  t.is(x.outcome, "pass", x.message);
  const d = dist(x);
  t.is(d.notJudgedPolls, 3); // one per revocation, each spanned by the next figure's resolution
  t.is(d.notJudged, 0);
});

test("a revocation OCSP never shows while polls are answered still fails, next to a throttled one", async (t) => {
  const inner = await createEmbeddedAdapter();
  t.teardown(() => inner.close());
  const issuingPem = encodePem(inner.hierarchy.issuing.certificate, "CERTIFICATE");
  // the third revocation lost by the responder: "good" for that very CertID, signed as the CA's answers are
  const lost = async () => {
    const [certId] = parseOcspRequest(buildOcspRequest(issuingPem, [ca.revoked[2]])).certIds;
    const thisUpdate = Math.floor(clock.nowMs() / 1000) * 1000;
    return buildOcspResponse(inner.hierarchy.responder, clock.nowMs(), [{ certId: certId.der, status: { kind: "good" }, thisUpdate, nextUpdate: thisUpdate + 3_600_000 }]);
  };
  const ca = ocspFor(inner, (n) => (n === 2 ? tooMany : n === 3 ? lost : undefined));
  const x = (await run(ca, ["PROP-OCSP"], SHORT))["PROP-OCSP"];
  t.is(x.outcome, "fail", x.message);
  const d = dist(x);
  t.is(d.neverShown, 1);
  t.is(d.neverShownSamples[0].serial, ca.revoked[2]);
  t.regex(d.neverShownSamples[0].last, /the responder said good/);
  t.is(d.notJudged, 1); // the throttled one is counted, and does not hide the failure
  t.regex(x.message, /^1 of 3 revocations never showed in OCSP/);
});

test("a CRL fetch that always ends in ECONNRESET, an OCSP exchange that always gets no answer: not judged (unreachable), not skipped", async (t) => {
  const inner = await createEmbeddedAdapter();
  t.teardown(() => inner.close());
  const reset = () => Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
  const noCrl = wrap(inner, {
    crl: async () => {
      throw reset();
    },
  });
  const r = await run(noCrl, ["PROP-CRL", "PROP-OCSP"], SHORT);
  t.is(r["PROP-CRL"].outcome, "error", r["PROP-CRL"].message);
  t.is(r["PROP-CRL"].cause, "unreachable");
  t.regex(r["PROP-CRL"].message, /ECONNRESET/);
  t.truthy(r["PROP-CRL"].fix);
  t.is(r["PROP-OCSP"].outcome, "pass", r["PROP-OCSP"].message);
  // the adapter's error for no HTTP answer, even without a code of its own
  const inner2 = await createEmbeddedAdapter();
  t.teardown(() => inner2.close());
  const noOcsp = wrap(inner2, {
    ocsp: async () => {
      throw new OcspTransportError("OCSP POST http://127.0.0.1:9/ocsp", new Error("other side closed"));
    },
  });
  const o = (await run(noOcsp, ["PROP-OCSP"], SHORT))["PROP-OCSP"];
  t.is(o.outcome, "error", o.message);
  t.is(o.cause, "unreachable");
});

test("the evidence always carries p50, p95 and max, and the judged percentile when it is another", async (t) => {
  const inner = await createEmbeddedAdapter();
  t.teardown(() => inner.close());
  const r = await run(inner, ["PROP-CRL"], { samples: 3, percentile: 90, propagationThresholdMs: 5_000 });
  const d = dist(r["PROP-CRL"]);
  t.is(r["PROP-CRL"].outcome, "pass", r["PROP-CRL"].message);
  t.is(d.judged, "p90");
  for (const k of ["p50Ms", "p95Ms", "p90Ms", "maxMs"]) t.is(typeof d[k], "number", k);
  t.is(d.delayMs, d.p90Ms as number);
  t.is(d.maxMs, Math.max(...(d.delaysMs as number[])));
});

test("fx.batch(): each refused request's error object", async (t) => {
  const inner = await createEmbeddedAdapter();
  t.teardown(() => inner.close());
  let n = 0;
  const ca = new RefusingCa(inner, [{ op: "issue", when: () => ++n % 2 === 0, status: 400, reason: "too-busy", message: "refused for the test" }]);
  const fx = new Fixtures(ca, clock, { ...DEFAULT_OPTIONS, concurrency: 4 }, DEFAULT_POLICY);
  const b = await fx.batch();
  t.is(b.issued.length, 2);
  t.is(b.rejections.length, 2);
  t.is(b.issued.length + b.rejections.length, 4);
  for (const e of b.rejections) {
    t.true(e instanceof CaError);
    t.like(e as CaError, { status: 400, reason: "too-busy" });
    t.regex((e as Error).message, /refused for the test/);
  }
});
