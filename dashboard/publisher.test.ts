/*
 * DashboardPublisher against a stand-in dashboard (test/support/publish-recorder.ts:
 * a small real HTTP server that records what it gets), and the CLI's
 * --dashboard option. The drivers that publish (spawned `cardloop run` and
 * `demo`) and the real dashboard are in test/dashboard-drivers.test.ts.
 */
import test from "ava";
import assert from "node:assert/strict";
import { hostname } from "node:os";
import fc from "fast-check";
import { dashboardUrl, openPublisher } from "../cli/dashboard-option.js";
import { LIMITS, PUBLISHED_RUN_ID } from "./protocol.js";
import type { AnyEvent } from "../core/index.js";
import { retryOnPortInUse } from "../harness/processes.js";
import { SLACK, TOKEN, deadPort, event, publisher, startRecorder, tick, until, type Behaviour } from "../test/support/publish-recorder.js";

test("the run id and page URL: kind, UTC start time, random part; the id is a published run id", (t) => {
  const { pub } = publisher("http://127.0.0.1:8450");
  t.regex(pub.id, /^scenario-20300102T030405-[0-9a-f]{8}$/);
  t.regex(pub.id, PUBLISHED_RUN_ID);
  t.is(pub.url, `http://127.0.0.1:8450/#/run/${pub.id}`);
  t.not(publisher("http://127.0.0.1:8450/").pub.id, pub.id);
  t.throws(() => publisher("ftp://127.0.0.1/"), { message: /http:\/\/ or https:\/\// });
});

test("every event arrives once and in order, with the token, the origin and a final batch", async (t) => {
  const rec = await startRecorder({ token: TOKEN });
  t.teardown(() => rec.close());
  const { pub, warnings } = publisher(rec.url);
  const written: AnyEvent[] = [];
  for (let i = 0; i < 30_000; i++) {
    written.push(event(i));
    pub.write(written[i]);
    if (i % 997 === 0) await tick(); // the run goes on between sends
  }
  const result = await pub.close(SLACK);
  t.deepEqual(result, { sent: written.length, dropped: 0 });
  t.deepEqual(rec.held.events, written);
  t.is(rec.held.gap, 0);
  t.is(rec.held.finals, 1);
  t.true(rec.requests.at(-1)!.batch.final);
  t.deepEqual(warnings, []);
  for (const r of rec.requests) {
    t.is(r.path, `/api/v1/runs/${pub.id}/events`);
    t.is(r.auth, `Bearer ${TOKEN}`);
    t.is(r.batch.v, 1);
    t.deepEqual(r.batch.origin, { host: hostname(), runLog: "/tmp/run/run.jsonl" });
  }
});

test("many writes in one stretch go as few requests, each within the batch limits", async (t) => {
  const rec = await startRecorder();
  t.teardown(() => rec.close());
  const { pub } = publisher(rec.url);
  for (let i = 0; i < 5_000; i++) pub.write(event(i));
  await until(() => rec.held.events.length === 5_000);
  t.is(rec.requests.length, 1);
  for (let i = 5_000; i < 5_000 + 25_000; i++) pub.write(event(i));
  await pub.close(SLACK);
  t.is(rec.held.events.length, 30_000);
  t.true(rec.requests.every((r) => r.batch.events.length <= LIMITS.publishBatchEvents));
  t.true(rec.requests.length <= 5, `${rec.requests.length} requests`);
  // consecutive batches: each starts where the one before ended
  let next = 0;
  for (const r of rec.requests) {
    t.is(r.batch.from, next);
    next += r.batch.events.length;
  }
});

test("a dashboard down from the start: one warning, the run goes on, close() does not wait, every event counted dropped", async (t) => {
  const url = `http://127.0.0.1:${await deadPort()}/`;
  const { pub, warnings } = publisher(url);
  for (let i = 0; i < 100; i++) pub.write(event(i));
  await until(() => warnings.length > 0);
  for (let i = 100; i < 200; i++) pub.write(event(i)); // retries fail every 10 ms meanwhile
  await new Promise((resolve) => setTimeout(resolve, 100));
  // Known down: close() returns at once, far inside this bound.
  const result = await pub.close(10 * 60_000);
  t.deepEqual(result, { sent: 0, dropped: 200 });
  t.is(warnings.length, 1);
  t.is(warnings[0], `cardloop: dashboard ${url} unreachable (ECONNREFUSED): events are not shown there; the run log is complete`);
});

test("a dashboard answering 503: one warning however many retries, then everything queued arrives once it is back", async (t) => {
  const rec = await startRecorder();
  t.teardown(() => rec.close());
  let up = false;
  rec.behave = () => (up ? undefined : { status: 503, error: "starting" });
  const { pub, warnings } = publisher(rec.url);
  for (let i = 0; i < 50; i++) pub.write(event(i));
  await until(() => rec.requests.length >= 5);
  for (let i = 50; i < 100; i++) pub.write(event(i));
  t.deepEqual(warnings, [`cardloop: dashboard ${rec.url} unreachable (HTTP 503): events are not shown there; the run log is complete`]);
  up = true;
  await until(() => rec.held.events.length === 100);
  for (let i = 100; i < 150; i++) pub.write(event(i));
  t.deepEqual(await pub.close(SLACK), { sent: 150, dropped: 0 });
  t.deepEqual(rec.held.events, Array.from({ length: 150 }, (_, i) => event(i)));
  t.is(warnings.length, 1);
});

test("a dashboard restarted mid-run (same port, its store kept) gets every event still queued, none twice", async (t) => {
  const first = await startRecorder();
  const { pub, warnings } = publisher(first.url);
  for (let i = 0; i < 100; i++) pub.write(event(i));
  await until(() => first.held.events.length === 100);
  await first.close();
  for (let i = 100; i < 200; i++) pub.write(event(i));
  await until(() => warnings.length > 0);
  t.regex(warnings[0], /unreachable \((ECONNREFUSED|ECONNRESET|connection reset)\)/);
  for (let i = 200; i < 300; i++) pub.write(event(i));
  // On the port it had: another suite may have been given it meanwhile, so a port in use is tried again, a few times.
  const second = await retryOnPortInUse("the stand-in dashboard restarted on its port", () => startRecorder({ port: first.port, held: first.held }));
  t.teardown(() => second.close());
  await until(() => second.held.events.length === 300);
  t.deepEqual(await pub.close(SLACK), { sent: 300, dropped: 0 });
  t.deepEqual(second.held.events, Array.from({ length: 300 }, (_, i) => event(i)));
  t.is(second.held.gap, 0);
  t.is(warnings.length, 1);
});

test("the answer's next is honoured: a partial take is resent from there, a lost answer resent at once and its overlap skipped", async (t) => {
  const rec = await startRecorder();
  t.teardown(() => rec.close());
  rec.behave = (_batch, index) => (index === 0 ? { partial: 30 } : index === 1 ? "hold-then-destroy" : undefined);
  const { pub, warnings } = publisher(rec.url);
  for (let i = 0; i < 100; i++) pub.write(event(i));
  await until(() => rec.requests.length >= 3);
  t.is(rec.requests[0].batch.from, 0);
  t.is(rec.requests[1].batch.from, 30); // from the answer's next
  t.is(rec.requests[1].batch.events.length, 70);
  t.is(rec.requests[2].batch.from, 30); // the lost answer: the same batch again, which the dashboard skips
  for (let i = 100; i < 120; i++) pub.write(event(i));
  t.deepEqual(await pub.close(SLACK), { sent: 120, dropped: 0 });
  t.deepEqual(rec.held.events, Array.from({ length: 120 }, (_, i) => event(i)));
  // a connection lost right after an answer is tried again at once, without a warning (a kept-alive socket the server closed)
  t.deepEqual(warnings, []);
});

test("property: whatever the dashboard does for a while (down, partial takes, lost answers), once it answers it holds every event once, in order", async (t) => {
  const behaviour = fc.oneof(
    fc.constant<Behaviour>(undefined),
    fc.constant<Behaviour>({ status: 503 }),
    fc.constant<Behaviour>("hold-then-destroy"),
    fc.nat(20).map<Behaviour>((n) => ({ partial: n + 1 })),
  );
  await t.notThrowsAsync(
    fc.assert(
      fc.asyncProperty(fc.array(behaviour, { maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 60 }), { minLength: 1, maxLength: 6 }), async (script, chunks) => {
        const rec = await startRecorder();
        try {
          rec.behave = (_batch, index) => script[index];
          const { pub } = publisher(rec.url, { retryMs: 1 });
          let n = 0;
          for (const size of chunks) {
            for (let i = 0; i < size; i++) pub.write(event(n++));
            await tick();
          }
          // The dashboard answers again (a lost answer is no answer): from then on the publisher knows what it holds.
          await until(() => rec.held.expected === n && rec.lastOk);
          assert.deepEqual(await pub.close(SLACK), { sent: n, dropped: 0 });
          assert.deepEqual(rec.held.events, Array.from({ length: n }, (_, i) => event(i)));
          assert.equal(rec.held.gap, 0);
        } finally {
          await rec.close();
        }
      }),
      { numRuns: 30 },
    ),
  );
});

test("401: one warning naming the remedy and never the token, then publishing stops for the run", async (t) => {
  const rec = await startRecorder({ token: "the-right-token-ABCDEFGHIJKLMNOPQRSTUV" });
  t.teardown(() => rec.close());
  const { pub, warnings } = publisher(rec.url);
  for (let i = 0; i < 10; i++) pub.write(event(i));
  await until(() => warnings.length > 0);
  for (let i = 10; i < 20; i++) pub.write(event(i));
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.deepEqual(await pub.close(SLACK), { sent: 0, dropped: 20 });
  t.is(rec.requests.length, 1);
  t.deepEqual(warnings, [
    `cardloop: dashboard ${rec.url} refused the publish token (401): give --dashboard-token or CARDLOOP_DASHBOARD_TOKEN; events are not shown there; the run log is complete`,
  ]);
});

test("a refusal that will not change (404, 405, 409, 421, 403): one warning with the status and the reason, then publishing stops", async (t) => {
  for (const status of [404, 405, 409, 421, 403]) {
    const rec = await startRecorder();
    t.teardown(() => rec.close());
    rec.behave = () => ({ status, error: "a file run has this id" });
    const { pub, warnings } = publisher(rec.url);
    for (let i = 0; i < 10; i++) pub.write(event(i));
    await until(() => warnings.length > 0);
    for (let i = 10; i < 20; i++) pub.write(event(i));
    await new Promise((resolve) => setTimeout(resolve, 50)); // retries, if any, would come every 10 ms
    t.deepEqual(await pub.close(SLACK), { sent: 0, dropped: 20 }, `HTTP ${status}`);
    t.is(rec.requests.length, 1, `HTTP ${status}: asked once`);
    t.deepEqual(warnings, [
      `cardloop: dashboard ${rec.url} refused the run (HTTP ${status}: a file run has this id): publishing stopped; events are not shown there; the run log is complete`,
    ]);
  }
});

test("idle for keepAliveMs, the publisher sends an empty batch from where it is; never before its first event, never after close", async (t) => {
  const rec = await startRecorder();
  t.teardown(() => rec.close());
  const { pub } = publisher(rec.url, { keepAliveMs: 20 });
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.is(rec.requests.length, 0, "a run that wrote nothing yet is not announced");
  for (let i = 0; i < 5; i++) pub.write(event(i));
  const keepAlives = () => rec.requests.filter((r) => r.batch.events.length === 0).map((r) => [r.batch.from, r.batch.final ?? false]);
  await until(() => keepAlives().length >= 2);
  t.deepEqual(keepAlives().slice(0, 2), [[5, false], [5, false]]);
  for (let i = 5; i < 8; i++) pub.write(event(i));
  await until(() => keepAlives().some(([from]) => from === 8));
  t.deepEqual(await pub.close(SLACK), { sent: 8, dropped: 0 });
  t.deepEqual(rec.held.events, Array.from({ length: 8 }, (_, i) => event(i)));
  t.is(rec.held.gap, 0);
  const after = rec.requests.length;
  t.true(rec.requests[after - 1].batch.final, "close sent the final batch");
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.is(rec.requests.length, after, "no keep-alive after close");
});

test("a 413 or 400 batch is dropped (counted, one warning) and the next batch goes, its from a jump over the gap", async (t) => {
  for (const [status, error] of [[413, "body over 8388608 bytes"], [400, "events[3]: no type"]] as const) {
    const rec = await startRecorder();
    t.teardown(() => rec.close());
    rec.behave = (_batch, index) => (index === 0 ? { status, error } : undefined);
    const { pub, warnings } = publisher(rec.url);
    for (let i = 0; i < 40; i++) pub.write(event(i));
    await until(() => rec.requests.length === 1);
    await tick();
    for (let i = 40; i < 100; i++) pub.write(event(i));
    t.deepEqual(await pub.close(SLACK), { sent: 60, dropped: 40 });
    t.is(rec.requests[1].batch.from, 40);
    t.is(rec.held.gap, 40);
    t.deepEqual(rec.held.events, Array.from({ length: 60 }, (_, i) => event(40 + i)));
    t.deepEqual(warnings, [`cardloop: dashboard ${rec.url} refused 40 events (HTTP ${status}: ${error}): they are not shown there; the run log is complete`]);
  }
});

test("a server that echoes the token in its refusal: the warning masks it", async (t) => {
  const rec = await startRecorder();
  t.teardown(() => rec.close());
  rec.behave = (_batch, index) => (index === 0 ? { status: 400, error: `bad event 3 from Bearer ${TOKEN}` } : undefined);
  const { pub, warnings } = publisher(rec.url);
  pub.write(event(0));
  await pub.close(SLACK);
  t.is(warnings.length, 1);
  t.false(warnings[0].includes(TOKEN));
  t.true(warnings[0].includes("***"));
});

test("the queue is bounded: the oldest go, and the first batch after says so by its from", async (t) => {
  const rec = await startRecorder();
  t.teardown(() => rec.close());
  let up = false;
  rec.behave = () => (up ? undefined : { status: 502 });
  const { pub, warnings } = publisher(rec.url, { maxQueuedEvents: 10 });
  for (let i = 0; i < 5; i++) pub.write(event(i));
  await until(() => warnings.length > 0);
  for (let i = 5; i < 50; i++) pub.write(event(i));
  // Back up only once a try carries the bounded queue: a try still on its way with the first events is refused too.
  await until(() => rec.requests.some((r) => r.batch.from === 40));
  up = true;
  await until(() => rec.held.events.length === 10);
  t.deepEqual(await pub.close(SLACK), { sent: 10, dropped: 40 });
  // tries while down carried the first events; the one taken starts past the 40 dropped
  t.deepEqual(rec.requests.filter((r) => r.batch.events.length > 0).map((r) => r.batch.from).at(-1), 40);
  t.is(rec.held.gap, 40);
  t.deepEqual(rec.held.events, Array.from({ length: 10 }, (_, i) => event(40 + i)));
});

test("close() is bounded by its timeout against a dashboard that never answers", async (t) => {
  const rec = await startRecorder();
  t.teardown(() => rec.close());
  rec.behave = () => "hang";
  const { pub, warnings } = publisher(rec.url);
  for (let i = 0; i < 25; i++) pub.write(event(i));
  await until(() => rec.requests.length === 1);
  // The request would time out only after 5 s; close gives up at its own bound.
  t.deepEqual(await pub.close(50), { sent: 0, dropped: 25 });
  t.deepEqual(warnings, []);
});

test("a run that wrote nothing publishes nothing; writes after close are counted, not sent", async (t) => {
  const rec = await startRecorder();
  t.teardown(() => rec.close());
  const { pub } = publisher(rec.url);
  t.deepEqual(await pub.close(SLACK), { sent: 0, dropped: 0 });
  pub.write(event(0));
  t.deepEqual(await pub.close(SLACK), { sent: 0, dropped: 0 }); // the same answer: close happens once
  t.is(rec.requests.length, 0);
});

test("--dashboard and CARDLOOP_DASHBOARD: http(s) only, a usage error otherwise; no URL, no publisher", async (t) => {
  t.is(dashboardUrl({}, {}), undefined);
  t.is(await openPublisher({}, "scenario", undefined, {}), undefined);
  t.is(dashboardUrl({ dashboard: "http://127.0.0.1:8450" }, {}), "http://127.0.0.1:8450/");
  t.is(dashboardUrl({}, { CARDLOOP_DASHBOARD: "https://dash.example/" }), "https://dash.example/");
  t.is(dashboardUrl({ dashboard: "http://a:1/" }, { CARDLOOP_DASHBOARD: "http://b:2/" }), "http://a:1/");
  t.throws(() => dashboardUrl({ dashboard: "ws://127.0.0.1:8450/" }, {}), { message: /^--dashboard must be an http:\/\/ or https:\/\/ URL/ });
  t.throws(() => dashboardUrl({}, { CARDLOOP_DASHBOARD: "127.0.0.1:8450" }), { message: /^CARDLOOP_DASHBOARD must be/ });
  const secret = "ftp://user:pa55word@host/";
  t.false((t.throws(() => dashboardUrl({ dashboard: secret }, {}))?.message ?? "").includes("pa55word"));
});
