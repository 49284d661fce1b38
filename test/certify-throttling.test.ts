import test from "ava";
import { EventBus, SystemClock, VirtualClock, type Clock } from "../core/index.js";
import { EmbeddedCa, startCaServer } from "../simulator/ca/index.js";
import { HttpCa } from "../conformance/adapters/http.js";
import { runCatalog, type CatalogRun } from "../conformance/runner.js";

/**
 * certify against a served CA that throttles. Run twice against one CA: the
 * embedded CA bounds failed credential checks per address across
 * certificates (30, then one per 5 s at its clock), taken before the check, so
 * the first run's deliberate wrong codes spend most of it, and in the second
 * even a right code can get 429. That is the CA throttling certify's address,
 * not what a check judges: the checks wait it out once on a CA that keeps real
 * time, and skip otherwise; none fails. And concurrent issuance past the
 * server's limit of requests at once per client is sent again, not failed.
 */
const clock = new SystemClock();

/** The checks that send wrong credentials (and a right one after them). */
const WRONG_CODES = ["REV-UNKNOWN-SERIAL", "REV-AUTH-WRONG-CODE", "REV-AUTH-LOCKOUT", "REV-AUTH-ROLE", "REV-OPERATOR-AUTH", "REV-LOCKOUT-HOLDER"];
/** Checks that need a right code to work: a holder's revocations; the whole lifecycle (on a CA that keeps real time). */
const RIGHT_CODES = ["REV-REASONS", "LIFECYCLE-SCENARIO"];

async function servedTwice(caClock: Clock, virtualClock: boolean): Promise<[CatalogRun, CatalogRun]> {
  const only = [...WRONG_CODES, ...RIGHT_CODES.filter((id) => !virtualClock || id !== "LIFECYCLE-SCENARIO")];
  const inner = await EmbeddedCa.open({ kdfLog2N: 10, clock: caClock });
  const server = await startCaServer(inner, { host: "127.0.0.1", port: 0, virtualClock });
  const ca = await HttpCa.connect({ url: server.url, operatorToken: inner.operatorToken, raToken: inner.raToken });
  try {
    const once = () => runCatalog(ca, { bus: new EventBus(clock), clock, only, options: { propagationThresholdMs: 3_000, propagationHorizonMs: 3_000 } });
    const first = await once();
    const second = await once();
    return [first, second];
  } finally {
    await ca.close();
    await server.close();
    await inner.close();
  }
}

const outcomes = (r: CatalogRun) => Object.fromEntries(r.results.map((x) => [x.id, x.outcome]));
const notPassed = (r: CatalogRun) => r.results.filter((x) => x.outcome !== "pass").map((x) => `${x.id} ${x.outcome}: ${x.message}`);
const THROTTLED = "this address is throttled by the CA (429)";
/** Throttling is not judged (outcome error, cause throttled): never a CA defect, never a pass. */
const notJudgedAsThrottled = (r: CatalogRun) => r.results.filter((x) => x.outcome === "error");

test("a CA on real time: the second run waits the throttling out or is not judged, and fails nothing", async (t) => {
  const [first, second] = await servedTwice(new SystemClock(), false);
  t.log(second.results.map((x) => `${x.id} ${x.outcome}: ${x.message}${typeof x.evidence.throttledWaitMs === "number" ? ` (waited ${x.evidence.throttledWaitMs} ms)` : ""}`).join("\n"));
  t.deepEqual(notPassed(first), []);
  t.deepEqual(second.mustFailures.map((x) => `${x.id}: ${x.message}`), []);
  t.deepEqual(second.results.filter((x) => x.outcome === "fail").map((x) => x.id), []);
  // it did meet the throttling: a check waited (its evidence says how long) or was not judged for it
  const met = second.results.filter((x) => typeof x.evidence.throttledWaitMs === "number" || x.message === THROTTLED);
  t.true(met.length > 0, JSON.stringify(outcomes(second)));
  for (const x of notJudgedAsThrottled(second)) t.like(x, { message: THROTTLED, cause: "throttled", fix: "run again later, or from another address" }, x.id);
  t.deepEqual(second.results.filter((x) => x.outcome === "skip").map((x) => x.id), [], "throttling is not a skip: the checks did not cease to apply");
  t.not(second.verdict, "fail");
});

test("a CA on a virtual clock (nothing refills while certify waits): what is throttled is not judged (exit 3), and nothing fails", async (t) => {
  const [first, second] = await servedTwice(new VirtualClock(Date.now()), true);
  t.log(second.results.map((x) => `${x.id} ${x.outcome}: ${x.message}`).join("\n"));
  t.deepEqual(notPassed(first), []);
  t.deepEqual(second.results.filter((x) => x.outcome === "fail").map((x) => `${x.id}: ${x.message}`), []);
  const throttled = notJudgedAsThrottled(second);
  t.true(throttled.length > 0, JSON.stringify(outcomes(second)));
  for (const x of throttled) t.like(x, { message: THROTTLED, cause: "throttled" }, x.id);
  t.is(second.verdict, "incomplete");
  // never waited: the CA's clock does not move by itself
  t.false(second.results.some((x) => typeof x.evidence.throttledWaitMs === "number"));
});

test("concurrent issuance past the server's per-client limit: the requests refused for too many at once are sent again, not failed", async (t) => {
  const inner = await EmbeddedCa.open({ kdfLog2N: 10 });
  // The served CA takes 16 requests at once per client address (a request is over in milliseconds, so certify's
  // 17th rarely meets it); 2 here, so that 20 at once surely do, and are answered 429 with Retry-After: 1.
  const server = await startCaServer(inner, { host: "127.0.0.1", port: 0, limits: { requestsPerClient: 2 } });
  const ca = await HttpCa.connect({ url: server.url, operatorToken: inner.operatorToken, raToken: inner.raToken });
  t.teardown(async () => {
    await ca.close();
    await server.close();
    await inner.close();
  });
  const r = await runCatalog(ca, { bus: new EventBus(clock), clock, only: ["ISS-CONCURRENT-SERIALS"], options: { concurrency: 20 } });
  const check = r.results[0];
  t.is(check.outcome, "pass", check.message);
  t.is(check.message, "20 concurrent issuances, all serials distinct");
  t.deepEqual(check.evidence.errors, []);
  t.true((check.evidence.retriedAfter429 as number) > 0, "some were refused for too many at once, and sent again");
});
