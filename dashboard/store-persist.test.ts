import test from "ava";
import { appendFileSync, readFileSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../harness/processes.js";
import { VirtualClock } from "../core/index.js";
import type { WriteSync } from "./run-file.js";
import { RunStore } from "./store.js";

/** What a published run keeps on disk: a batch that cannot be written changes nothing; the publisher's position survives a restart. */

const HOST = "test-host";

const T = "2026-03-01T10:00:00.000Z";
const ev = (i: number) => (i === 0 ? { type: "run.started", seq: 0, time: T, data: { name: "s", kind: "scenario" } } : { type: "step.finished", seq: i, time: T, data: { i } });
const evs = (a: number, b: number) => Array.from({ length: b - a }, (_, k) => ev(a + k));
const lines = (a: number, b: number) => evs(a, b).map((e) => JSON.stringify(e));
const batch = (from: number, events: unknown[], extra: Record<string, unknown> = {}) => ({ v: 1, from, events, ...extra });
const open = (dir: string, writeSync?: WriteSync) => RunStore.open({ runsDir: dir, clock: new VirtualClock(T), hostname: HOST, ...(writeSync ? { writeSync } : {}) });

test("a batch whose write fails (ENOSPC half-way) is cut back from the file and changes nothing: the publisher's retry is taken whole", async (t) => {
  const dir = tempDir(t, "store-persist");
  let fail = false;
  const diskFull: WriteSync = (fd, buf, offset) => {
    if (!fail) return writeSync(fd, buf, offset);
    fail = false;
    writeSync(fd, buf, offset, Math.floor((buf.length - offset) / 2));
    throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
  };
  const store = await open(dir, diskFull);
  const id = "scenario-20260301T100000-0000eeee";
  const file = join(dir, "published", id, "run.jsonl");
  store.publish(id, batch(0, evs(0, 5)));
  const before = { summary: store.get(id), size: statSync(file).size };
  fail = true;
  // A batch after a gap (5 and 6 never came): its gap is not counted either.
  t.throws(() => store.publish(id, batch(7, evs(7, 12))), { message: /ENOSPC/ });
  t.deepEqual(store.get(id), before.summary, "events, dropped and verdict as before");
  t.is(statSync(file).size, before.size, "the half-written lines are cut back");
  t.deepEqual(store.publish(id, batch(7, evs(7, 12))), { accepted: 5, next: 12 });
  t.like(store.get(id), { events: 10, dropped: 2 });
  t.is(readFileSync(file, "utf8"), [...lines(0, 5), ...lines(7, 12)].join("\n") + "\n");
  t.deepEqual(store.lines(id, 0, 100), [...lines(0, 5), ...lines(7, 12)]);
  await store.close();
  const again = await open(dir);
  t.like(again.get(id), { events: 10, dropped: 2 });
  t.deepEqual(again.lines(id, 0, 100), [...lines(0, 5), ...lines(7, 12)]);
  await again.close();
});

test("after a restart the publisher's position and its drops are the same: a resent batch is not held twice, the gap still counts, final still holds", async (t) => {
  const dir = tempDir(t, "store-persist");
  const id = "scenario-20260301T100000-0000ffff";
  const first = await open(dir);
  first.publish(id, batch(0, evs(0, 10)));
  t.deepEqual(first.publish(id, batch(20, evs(20, 30))), { accepted: 10, next: 30 }, "10..19 dropped by the publisher");
  await first.close();
  const second = await open(dir);
  t.like(second.get(id), { events: 20, dropped: 10 });
  // The answer to the last batch was lost with the dashboard: the publisher sends it again.
  t.deepEqual(second.publish(id, batch(20, evs(20, 30))), { accepted: 0, next: 30 });
  t.deepEqual(second.lines(id, 0, 100), [...lines(0, 10), ...lines(20, 30)]);
  t.like(second.get(id), { events: 20, dropped: 10 });
  second.publish(id, batch(30, evs(30, 32), { final: true }));
  await second.close();
  const third = await open(dir);
  t.like(third.get(id), { events: 22, dropped: 10 });
  t.not(third.get(id)!.verdict, "running");
  third.publish(id, batch(32, []));
  t.not(third.get(id)!.verdict, "running", "a publisher that said it is done is not taken as resuming by an empty batch");
  await third.close();
});

test("lines past the position saved with the last answered batch (written, never answered) are cut at a restart: the publisher's resend lands once", async (t) => {
  const dir = tempDir(t, "store-persist");
  const id = "scenario-20260301T100000-00001111";
  const file = join(dir, "published", id, "run.jsonl");
  const first = await open(dir);
  first.publish(id, batch(0, evs(0, 10)));
  await first.close();
  // The dashboard died after writing the next batch's lines (two whole, one torn) and before saving its position.
  appendFileSync(file, [...lines(10, 12), lines(12, 13)[0].slice(0, 20)].join("\n"));
  const second = await open(dir);
  t.is(second.count(id), 10);
  t.deepEqual(second.publish(id, batch(10, evs(10, 15))), { accepted: 5, next: 15 });
  t.is(readFileSync(file, "utf8"), lines(0, 15).join("\n") + "\n");
  t.deepEqual(second.lines(id, 0, 100), lines(0, 15));
  await second.close();
});
