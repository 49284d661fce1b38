import test from "ava";
import { mkdirSync, readFileSync, rmSync, utimesSync, appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../harness/processes.js";
import { VirtualClock } from "../core/index.js";
import type { RunSummary } from "./protocol.js";
import { RunStore } from "./store.js";

/** The store's runs as time passes: publishers that go quiet, run logs that stop growing, memory for long live runs, generations. */

const HOST = "test-host";

const T = "2026-03-01T10:00:00.000Z";
const started = (name = "s") => ({ type: "run.started", seq: 0, time: T, data: { name, kind: "scenario" } });
const step = (i: number, pad = "") => ({ type: "step.finished", seq: i, time: T, data: { scenario: "s", index: i, action: "select", outcome: "pass", pad } });
const finished = (seq: number) => ({ type: "run.finished", seq, time: T, data: { outcome: "pass", summary: { wallMs: 5 } } });
const batch = (from: number, events: unknown[], extra: Record<string, unknown> = {}) => ({ v: 1, from, events, ...extra });
const jsonl = (events: unknown[]) => events.map((e) => JSON.stringify(e)).join("\n") + "\n";

function place(dir: string, rel: string, text: string): string {
  mkdirSync(join(dir, rel), { recursive: true });
  const path = join(dir, rel, "run.jsonl");
  writeFileSync(path, text);
  return path;
}

test("a live published run whose publisher sent nothing for idleMs is finished by the periodic scan, as its events say; any later batch resumes it", async (t) => {
  const clock = new VirtualClock(T);
  const store = await RunStore.open({ runsDir: tempDir(t, "store-live"), clock, hostname: HOST, idleMs: 200 });
  const changes: RunSummary[] = [];
  store.onChange((s) => changes.push(s));
  const id = "scenario-20260301T100000-0000aaaa";
  store.publish(id, batch(0, [started(), step(1)]));
  clock.advance(150);
  t.deepEqual(store.publish(id, batch(2, [])), { accepted: 0, next: 2 }, "a keep-alive: an empty batch from where it is");
  clock.advance(150);
  await store.rescan();
  t.like(store.get(id), { verdict: "running" }, "the keep-alive counts as hearing from the publisher");
  clock.advance(50);
  changes.length = 0;
  await store.rescan();
  t.like(store.get(id), { verdict: "incomplete", events: 2 }, "no run.finished: incomplete");
  t.regex(store.get(id)!.headline, /^the publisher went away before saying the run was done; /);
  t.deepEqual(
    changes.map((c) => [c.id, c.verdict]),
    [[id, "incomplete"]],
    "the scan finishes it and says so, no file having changed",
  );

  t.deepEqual(store.publish(id, batch(2, [finished(2)])), { accepted: 1, next: 3 });
  t.like(store.get(id), { verdict: "running", events: 3 }, "resumed by its publisher's next batch");
  t.notRegex(store.get(id)!.headline, /went away/);
  clock.advance(200);
  await store.rescan();
  t.like(store.get(id), { verdict: "pass" }, "every run.started has its run.finished: the events' verdict");
  t.regex(store.get(id)!.headline, /went away/);
  store.publish(id, batch(3, []));
  t.like(store.get(id), { verdict: "running" }, "a keep-alive resumes a run its publisher never finished");
  store.publish(id, batch(3, [], { final: true }));
  t.like(store.get(id), { verdict: "pass" });
  t.notRegex(store.get(id)!.headline, /went away/);
  store.publish(id, batch(3, []));
  t.like(store.get(id), { verdict: "pass" }, "but not one its publisher said was done");
  await store.close();
});

test("a published run that went away can be evicted from memory like any finished run", async (t) => {
  const clock = new VirtualClock(T);
  const dir = tempDir(t, "store-live");
  const events = [started(), ...Array.from({ length: 40 }, (_, i) => step(i + 1, "x".repeat(60)))];
  const size = jsonl(events).length;
  const store = await RunStore.open({ runsDir: dir, clock, hostname: HOST, idleMs: 200, maxCachedBytes: Math.floor(size * 1.5) });
  const [a, b] = ["scenario-20260301T100000-0000000a", "scenario-20260301T100000-0000000b"];
  store.publish(a, batch(0, events));
  clock.advance(200);
  await store.rescan();
  t.like(store.get(a), { verdict: "incomplete" });
  store.publish(b, batch(0, events));
  // Deleting the files shows what is held in memory: b (live) is, a (gone) was let go for it.
  rmSync(join(dir, "published", a, "run.jsonl"));
  rmSync(join(dir, "published", b, "run.jsonl"));
  t.deepEqual(store.lines(b, 0, 100).length, events.length);
  t.deepEqual(store.lines(a, 0, 100), []);
  await store.close();
});

test("a run log that grew within idleMs with a run not finished is running; when it stops growing the scan makes it incomplete", async (t) => {
  // The store's clock on real time, file times set to it: written after the clock was read, a file on a busy machine
  // would otherwise be younger than the clock's start, and still fresh once the clock has moved on by idleMs.
  const clock = new VirtualClock(Date.now());
  const dir = tempDir(t, "store-live");
  const path = place(dir, "grow", jsonl([started(), step(1)]));
  utimesSync(path, clock.now(), clock.now());
  const done = place(dir, "done", jsonl([started(), step(1), finished(2)]));
  utimesSync(done, clock.now(), clock.now());
  const store = await RunStore.open({ runsDir: dir, clock, hostname: HOST, idleMs: 60_000 });
  t.like(store.get("grow"), { verdict: "running", events: 2 });
  t.like(store.get("done"), { verdict: "pass" }, "however fresh, a run log whose runs all finished is not running");
  clock.advance(60_000);
  const changes: RunSummary[] = [];
  store.onChange((s) => changes.push(s));
  await store.rescan();
  t.like(store.get("grow"), { verdict: "incomplete", events: 2 });
  t.deepEqual(
    changes.map((c) => [c.id, c.verdict]),
    [["grow", "incomplete"]],
  );
  // It grows again (its time is the store's now): running again, then done.
  appendFileSync(path, jsonl([step(2)]));
  utimesSync(path, clock.now(), clock.now());
  await store.rescan();
  t.like(store.get("grow"), { verdict: "running", events: 3 });
  appendFileSync(path, jsonl([finished(3)]));
  utimesSync(path, clock.now(), clock.now());
  await store.rescan();
  t.like(store.get("grow"), { verdict: "pass", events: 4 });
  await store.close();
});

test("a long live run stays within maxCachedBytes (its older lines let go, its tail kept) and lines() returns every range exactly as the file has it", async (t) => {
  const dir = tempDir(t, "store-live");
  const maxCachedBytes = 2_000_000;
  const store = await RunStore.open({ runsDir: dir, clock: new VirtualClock(T), hostname: HOST, maxCachedBytes });
  const id = "load-20260301T100000-0000cccc";
  const n = 30_000;
  const events = [started(), ...Array.from({ length: n - 1 }, (_, i) => step(i + 1, "p".repeat(20)))];
  let most = 0;
  for (let from = 0; from < n; from += 1000) {
    store.publish(id, batch(from, events.slice(from, from + 1000)));
    most = Math.max(most, store.cachedBytes);
  }
  const file = readFileSync(join(dir, "published", id, "run.jsonl"), "utf8").split("\n").slice(0, -1);
  t.true(file.join("\n").length > 1.5 * maxCachedBytes, "the run is larger than the bound");
  t.true(most <= maxCachedBytes, `at most ${most} characters held`);
  t.true(store.cachedBytes > 0, "the live tail is held");
  t.like(store.get(id), { verdict: "running", events: n });
  for (const [from, limit] of [
    [0, 2000],
    [1, 1],
    [12_345, 2000],
    [n - 8001, 2000],
    [n - 2000, 2000],
    [n - 5, 100],
    [n, 10],
  ]) {
    t.deepEqual(store.lines(id, from, limit), file.slice(from, from + limit), `lines(${from}, ${limit})`);
  }
  t.deepEqual(store.lines(id, 0, n).length, n);
  t.true(store.cachedBytes <= maxCachedBytes);
  await store.close();
});

test("every summary has a generation: a published run's is 'published' for good; a run log's changes when it is rewritten and when the dashboard starts", async (t) => {
  const dir = tempDir(t, "store-live");
  const path = place(dir, "latest", jsonl([started(), finished(1)]));
  const id = "scenario-20260301T100000-0000dddd";
  const first = await RunStore.open({ runsDir: dir, clock: new VirtualClock(T), hostname: HOST });
  first.publish(id, batch(0, [started()]));
  const g1 = first.get("latest")!.generation;
  t.is(first.get(id)!.generation, "published");
  await first.rescan();
  t.is(first.get("latest")!.generation, g1, "unchanged while the file is");
  writeFileSync(path, jsonl([started("again")]));
  await first.rescan();
  const g2 = first.get("latest")!.generation;
  t.not(g2, g1, "rewritten");
  await first.close();
  const second = await RunStore.open({ runsDir: dir, clock: new VirtualClock(T), hostname: HOST });
  t.false([g1, g2].includes(second.get("latest")!.generation), "restarted");
  t.is(second.get(id)!.generation, "published");
  await second.close();
});
