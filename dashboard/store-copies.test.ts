import test from "ava";
import { mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../harness/processes.js";
import { VirtualClock } from "../core/index.js";
import { libraryFiles, runFiles } from "../scenarios/index.js";
import { RunStore } from "./store.js";

const HOST = "test-host";
/** Fixtures made once for the file live until its last test has ended. */
const file = { teardown: (fn: () => Promise<void> | void) => test.after.always(fn) };

/** Two real run logs of the same two library scenarios, one after the other: the same seed, the same first line. */
const demos = (async () => {
  const dir = tempDir(file, "store-copies");
  const read = async (name: string) => {
    const path = join(dir, `${name}.jsonl`);
    await runFiles(libraryFiles().slice(0, 2), { runLog: path });
    return readFileSync(path, "utf8").split("\n").filter((l) => l !== "");
  };
  return { a: await read("a"), b: await read("b") };
})();

const open = (dir: string) => RunStore.open({ runsDir: dir, clock: new VirtualClock("2026-03-01T10:00:00Z"), hostname: HOST });
const text = (lines: string[]) => lines.join("\n") + "\n";
const ids = (store: RunStore) => store.list().map((r) => `${r.id} ${r.source}`).sort();

test("a run log is a published run's copy while its lines are a prefix of the run's or equal: a later run with the same first line rewriting it is listed again, also after a restart", async (t) => {
  const { a, b } = await demos;
  t.is(a[0], b[0], "a seeded scenario run's first line is the same every time");
  t.not(a.at(-1), b.at(-1));
  const diff = a.findIndex((l, i) => l !== b[i]);
  t.true(diff > 0);

  const dir = tempDir(t, "store-copies");
  mkdirSync(join(dir, "latest"));
  const log = join(dir, "latest", "run.jsonl");
  writeFileSync(log, text(a));
  const store = await open(dir);
  const id = "scenario-20260301T100000-aaaaaaaa";
  store.publish(id, { v: 1, from: 0, events: a.map((l) => JSON.parse(l) as unknown), final: true, origin: { host: HOST, runLog: log } });
  await store.rescan();
  t.deepEqual(ids(store), [`${id} published`], "the whole run's copy");
  writeFileSync(log, text(a.slice(0, diff + 3)));
  await store.rescan();
  t.deepEqual(ids(store), [`${id} published`], "a prefix (the driver's file behind what it published)");

  // The next run of the same scenarios, without a dashboard, rewrites the file in place: not a copy as soon as a compared line differs.
  writeFileSync(log, text(b.slice(0, diff + 3)));
  await store.rescan();
  t.deepEqual(ids(store), ["latest file", `${id} published`], "its last line differs from the published run's there");
  writeFileSync(log, text(b));
  await store.rescan();
  t.deepEqual(ids(store), ["latest file", `${id} published`]);
  t.like(store.get("latest"), { events: b.length, verdict: "pass" });
  t.deepEqual(store.lines("latest", b.length - 1, 1), [b.at(-1)]);
  await store.close();
  const again = await open(dir);
  t.deepEqual(ids(again), ["latest file", `${id} published`], "after a restart");

  // Longer than the finished published run: it holds what the run never did.
  writeFileSync(log, text([...a, ...b.slice(1)]));
  await again.rescan();
  t.like(again.get("latest"), { events: a.length + b.length - 1 });
  // The published run's own lines again: its copy.
  writeFileSync(log, text(a));
  await again.rescan();
  t.deepEqual(ids(again), [`${id} published`]);
  await again.close();
});

test("a published run with events dropped: its run log holds them, and is listed beside it", async (t) => {
  const { a } = await demos;
  const dir = tempDir(t, "store-copies");
  mkdirSync(join(dir, "latest"));
  const log = join(dir, "latest", "run.jsonl");
  writeFileSync(log, text(a));
  const store = await open(dir);
  const id = "scenario-20260301T100000-bbbbbbbb";
  const events = a.map((l) => JSON.parse(l) as unknown);
  store.publish(id, { v: 1, from: 0, events: events.slice(0, 3), origin: { host: HOST, runLog: log } });
  t.deepEqual(ids(store), [`${id} published`]);
  store.publish(id, { v: 1, from: 5, events: events.slice(5), final: true });
  await store.rescan();
  t.deepEqual(ids(store), ["latest file", `${id} published`]);
  t.like(store.get(id), { dropped: 2 });
  await store.close();
});

test("a file run starts at its mtime less the run's duration; before a duration is known, a run rewriting the file in place does not take the first run's start", async (t) => {
  const { a, b } = await demos;
  const dir = tempDir(t, "store-copies");
  mkdirSync(join(dir, "latest"));
  const log = join(dir, "latest", "run.jsonl");
  writeFileSync(log, text(a));
  const born = statSync(log).birthtimeMs;
  const at = (ms: number) => new Date(Date.now() + ms);
  utimesSync(log, at(60_000), at(60_000));
  const store = await open(dir);
  const first = store.get("latest")!;
  t.true(first.durationMs > 0);
  t.is(Date.parse(first.startedAt), Date.parse(first.updatedAt) - first.durationMs, "mtime less the wall time the scenarios measured");
  if (born > 0) t.not(Date.parse(first.startedAt), Math.trunc(born), "not the file's birthtime");

  // The next run, in the same file (same inode, same birthtime), not finished yet: no duration to count back.
  const open1 = b.findIndex((l) => l.includes('"run.finished"'));
  writeFileSync(log, text(b.slice(0, open1)));
  utimesSync(log, at(120_000), at(120_000));
  await store.rescan();
  const second = store.get("latest")!;
  t.not(second.generation, first.generation);
  t.is(second.durationMs, 0);
  t.true(second.startedAt > first.startedAt, `${second.startedAt} after ${first.startedAt}`);
  t.is(second.startedAt, second.updatedAt, "the new run's first write the store saw");
  // Its first scenario finishes: counted back from the mtime.
  writeFileSync(log, text(b.slice(0, open1 + 1)), { flag: "w" });
  utimesSync(log, at(130_000), at(130_000));
  await store.rescan();
  const third = store.get("latest")!;
  t.true(third.durationMs > 0);
  t.is(Date.parse(third.startedAt), Date.parse(third.updatedAt) - third.durationMs);
  t.true(third.startedAt > first.startedAt);
  await store.close();
  const reopened = await open(dir);
  t.is(reopened.get("latest")!.startedAt, third.startedAt, "after a restart, from the file alone");
  await reopened.close();
});
