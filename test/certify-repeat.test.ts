import test from "ava";
import { EventBus, SystemClock } from "../core/index.js";
import { EmbeddedCa, startCaServer } from "../simulator/ca/index.js";
import { HttpCa } from "../conformance/adapters/http.js";
import { runCatalog } from "../conformance/runner.js";
import { CATALOG } from "../conformance/checks/index.js";

/**
 * A verdict worth signing is the same every time: twenty runs of a fast
 * subset against one served CA give the same outcome for every check. The
 * subset leaves out what a repeat legitimately changes: the checks that send
 * wrong credentials (the CA's per-address budget of failed attempts, spent by
 * earlier runs, throttles later ones: certify-throttling.test.ts covers that)
 * and the lifecycle scenario (slow).
 */
const RUNS = 20;
const LEFT_OUT = new Set(["REV-AUTH-WRONG-CODE", "REV-AUTH-LOCKOUT", "REV-AUTH-ROLE", "REV-LOCKOUT-HOLDER", "REN-AUTHORISED", "REN-CHALLENGE-FLOOD", "ISS-AUTH-REQUIRED", "REV-OPERATOR-AUTH", "LIFECYCLE-SCENARIO"]);
const SUBSET = CATALOG.map((c) => c.id).filter((id) => !LEFT_OUT.has(id));

test(`${RUNS} runs of the same checks against the same CA give the same verdicts`, async (t) => {
  t.timeout(300_000);
  const clock = new SystemClock();
  const inner = await EmbeddedCa.open({ kdfLog2N: 10 });
  const server = await startCaServer(inner, { host: "127.0.0.1", port: 0 });
  const ca = await HttpCa.connect({ url: server.url, operatorToken: inner.operatorToken, raToken: inner.raToken });
  t.teardown(async () => {
    await ca.close();
    await server.close();
    await inner.close();
  });
  const verdicts: Array<Record<string, string>> = [];
  for (let i = 0; i < RUNS; i++) {
    const run = await runCatalog(ca, { bus: new EventBus(clock), clock, only: SUBSET, options: { samples: 3, concurrency: 4, propagationThresholdMs: 5_000 } });
    verdicts.push(Object.fromEntries(run.results.map((r) => [r.id, r.outcome])));
  }
  t.is(Object.keys(verdicts[0]).length, SUBSET.length);
  t.true(Object.values(verdicts[0]).every((o) => o === "pass" || o === "skip"), JSON.stringify(verdicts[0]));
  for (let i = 1; i < RUNS; i++) t.deepEqual(verdicts[i], verdicts[0], `run ${i + 1} differs from run 1`);
});
