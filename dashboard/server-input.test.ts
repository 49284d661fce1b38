import test, { type ExecutionContext } from "ava";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DashboardPublisher } from "./publisher.js";
import { LIMITS } from "./protocol.js";
import { startDashboard, type Dashboard } from "./server.js";

/** What a publish body may hold, over real sockets: nesting the parser could not survive, and a batch the store fails on. */

const TOKEN = "server-input-test-token-" + "x".repeat(30);

async function start(t: ExecutionContext): Promise<Dashboard> {
  const runsDir = mkdtempSync(join(tmpdir(), "cardloop-dash-input-"));
  const d = await startDashboard({ port: 0, runsDir, token: TOKEN, assets: new Map() });
  t.teardown(async () => {
    await d.close();
    rmSync(runsDir, { recursive: true, force: true });
  });
  return d;
}

/** A batch of one event whose data is `data` (JSON text). */
const batchWith = (data: string) => `{"v":1,"from":0,"events":[{"type":"log.message","seq":0,"time":"2030-01-01T00:00:00.000Z","data":${data}}]}`;

/** Data nesting `depth` levels (itself the first): the batch around it adds three (the body, `events`, the event). */
const nested = (depth: number) => `{"x":${"[".repeat(depth - 1)}${"]".repeat(depth - 1)}}`;

/** Polls until `cond` holds (the bound only names a stuck wait: nothing here asserts a duration). */
async function until(cond: () => boolean): Promise<void> {
  const giveUp = Date.now() + 60_000;
  while (!cond()) {
    if (Date.now() > giveUp) throw new Error(`still waiting for ${cond.toString()}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function post(d: Dashboard, id: string, body: string): Promise<{ status: number; body: { error?: string; accepted?: number } }> {
  const r = await fetch(`${d.url}api/v1/runs/${id}/events`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body });
  return { status: r.status, body: (await r.json()) as { error?: string; accepted?: number } };
}

test("a publish body nesting deeper than the bound is refused with 400 before it is parsed, a million levels as well as one too many", async (t) => {
  const d = await start(t);
  const reason = `the body nests deeper than ${LIMITS.publishJsonDepth} levels`;
  t.deepEqual(await post(d, "deep-1", batchWith(nested(1_000_000))), { status: 400, body: { error: reason } });
  t.deepEqual(await post(d, "deep-2", batchWith(nested(LIMITS.publishJsonDepth - 2))), { status: 400, body: { error: reason } });
  t.deepEqual(await post(d, "deep-3", `${"[".repeat(200_000)}${"]".repeat(200_000)}`), { status: 400, body: { error: reason } }, "not even a batch");
  t.is(d.store.get("deep-1"), undefined);
  // At the bound, and brackets inside strings (escaped quotes included), are a batch like any other.
  t.like(await post(d, "deep-4", batchWith(nested(LIMITS.publishJsonDepth - 3))), { status: 200, body: { accepted: 1 } });
  t.like(await post(d, "deep-5", batchWith(JSON.stringify({ text: `\\"${"[{".repeat(5_000)}` }))), { status: 200, body: { accepted: 1 } });
  t.is(d.store.get("deep-4")?.events, 1);
});

test("a batch the store fails on (not the disk) is a 400 the publisher drops, never a 500 it would retry for ever", async (t) => {
  const d = await start(t);
  const publish = d.store.publish.bind(d.store);
  let failure: Error | undefined = new TypeError("Cannot read properties of undefined (reading 'x')");
  d.store.publish = (id, body) => {
    if (failure) throw failure;
    return publish(id, body);
  };
  t.deepEqual(await post(d, "fails-1", batchWith("{}")), { status: 400, body: { error: "the dashboard cannot take this batch" } });
  failure = new RangeError("Maximum call stack size exceeded");
  t.is((await post(d, "fails-1", batchWith("{}"))).status, 400);
  // The disk's trouble may pass: the publisher is told to try again.
  failure = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC", errno: -28, syscall: "write" });
  t.deepEqual(await post(d, "fails-1", batchWith("{}")), { status: 500, body: { error: "internal error" } });
  failure = undefined;
  t.like(await post(d, "fails-1", batchWith("{}")), { status: 200, body: { accepted: 1 } });
});

test("a publisher whose event nests too deep: the dashboard refuses that batch, the publisher drops it and goes on with the next", async (t) => {
  const d = await start(t);
  const warnings: string[] = [];
  const pub = new DashboardPublisher({ url: d.url, token: TOKEN, kind: "scenario", warn: (line) => warnings.push(line), retryMs: 1 });
  let deep: unknown = {};
  for (let i = 0; i < 1_000; i++) deep = { deep };
  pub.write({ type: "log.message", seq: 0, time: "2030-01-01T00:00:00.000Z", data: deep } as never);
  // The deep event goes in a batch of its own (the publisher sends at the next tick); the next one once it was answered.
  await until(() => warnings.length > 0 || d.store.get(pub.id) !== undefined);
  pub.write({ type: "log.message", seq: 1, time: "2030-01-01T00:00:00.001Z", data: { level: "info", message: "after" } });
  t.deepEqual(await pub.close(60_000), { sent: 1, dropped: 1 });
  t.deepEqual(warnings, [
    `cardloop: dashboard ${d.url} refused 1 events (HTTP 400: the body nests deeper than ${LIMITS.publishJsonDepth} levels): they are not shown there; the run log is complete`,
  ]);
  t.like(d.store.get(pub.id), { events: 1, dropped: 1 });
});
