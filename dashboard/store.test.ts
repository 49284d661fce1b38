import test from "ava";
import fc from "fast-check";
import { appendFileSync, existsSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { tempDir } from "../harness/processes.js";
import { VirtualClock, parseRunLog } from "../core/index.js";
import { libraryFiles, runFiles } from "../scenarios/index.js";
import type { RunSummary } from "./protocol.js";
import { PublishError, RunStore } from "./store.js";

const HOST = "test-host";

/** Fixtures made once for the file live until its last test has ended. */
const file = { teardown: (fn: () => Promise<void> | void) => test.after.always(fn) };

/** A real run log of two library scenarios, made once for the file: its path, text and lines. */
const demo = (async () => {
  const path = join(tempDir(file, "store"), "run.jsonl");
  await runFiles(libraryFiles().slice(0, 2), { runLog: path });
  const text = readFileSync(path, "utf8");
  return { path, text, lines: text.split("\n").filter((l) => l !== "") };
})();

function place(dir: string, rel: string, text: string): string {
  const path = join(dir, rel, "run.jsonl");
  mkdirSync(join(dir, rel), { recursive: true });
  writeFileSync(path, text);
  return path;
}

function open(dir: string, extra: { maxCachedBytes?: number; clock?: VirtualClock } = {}) {
  return RunStore.open({ runsDir: dir, clock: new VirtualClock("2026-03-01T10:00:00Z"), hostname: HOST, ...extra });
}

const parsed = (lines: string[]) => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
const batch = (from: number, events: unknown[], extra: Record<string, unknown> = {}) => ({ v: 1, from, events, ...extra });

function publishError(t: import("ava").ExecutionContext, fn: () => unknown): PublishError {
  const err = t.throws(fn, { instanceOf: PublishError });
  return err as PublishError;
}

test("open indexes every run.jsonl under the runs directory: ids latest, ci/job-3, and the runs directory's own name for the one at the top", async (t) => {
  const { text, lines } = await demo;
  const dir = tempDir(t, "store");
  place(dir, "latest", text);
  place(dir, "ci/job-3", text);
  place(dir, ".", text);
  writeFileSync(join(dir, "notes.txt"), "not a run log\n");
  const store = await open(dir);
  const top = basename(dir);
  t.deepEqual(store.list().map((r) => r.id).sort(), [top, "ci/job-3", "latest"].sort());
  for (const id of [top, "ci/job-3", "latest"]) {
    const s = store.get(id)!;
    t.like(s, { source: "file", kind: "scenario", verdict: "pass", name: "2 scenarios", events: lines.length, dropped: 0 });
    t.is(store.count(id), lines.length);
    t.deepEqual(store.lines(id, 0, 10_000), lines);
  }
  t.deepEqual(store.lines("latest", 5, 3), lines.slice(5, 8));
  t.deepEqual(store.lines("latest", lines.length - 1, 10), lines.slice(-1), "fewer at the end");
  t.deepEqual(store.lines("latest", lines.length, 10), [], "none past it");
  t.deepEqual(store.lines("nope", 0, 10), []);
  t.is(store.count("nope"), 0);
  t.is(store.get("nope"), undefined);
  await store.close();
});

test("publish appends; a resend's overlap is skipped, a gap is counted in dropped, final ends the run; onChange sees each change", async (t) => {
  const { lines } = await demo;
  const events = parsed(lines);
  const store = await open(tempDir(t, "store"));
  const changes: RunSummary[] = [];
  store.onChange((s) => changes.push(s));
  const id = "run-20260301T100000-0a1b2c3d";
  t.deepEqual(store.publish(id, batch(0, events.slice(0, 10))), { accepted: 10, next: 10 });
  t.like(store.get(id), { source: "published", verdict: "running", events: 10, dropped: 0 });
  t.deepEqual(store.publish(id, batch(5, events.slice(5, 15))), { accepted: 5, next: 15 }, "the overlap 5..9 is skipped");
  t.deepEqual(store.publish(id, batch(0, events.slice(0, 15))), { accepted: 0, next: 15 }, "a whole resend adds nothing");
  t.deepEqual(store.lines(id, 0, 100), lines.slice(0, 15));
  // Events 15..19 never arrive: the publisher's next batch starts at 20.
  t.deepEqual(store.publish(id, batch(20, events.slice(20))), { accepted: events.length - 20, next: events.length });
  t.like(store.get(id), { dropped: 5, events: events.length - 5, verdict: "running" });
  t.deepEqual(store.lines(id, 14, 2), [lines[14], lines[20]], "held events are numbered 0, 1, 2, ... without the gap");
  t.deepEqual(store.publish(id, batch(events.length, [], { final: true })), { accepted: 0, next: events.length });
  // Every run.started still has its run.finished, but what was lost in the gap could have failed the run: not a pass.
  t.like(store.get(id), { verdict: "incomplete", events: events.length - 5 });
  t.regex(store.get(id)!.headline, /^5 events dropped by the publisher \(the run log has them\); 2\/2 scenarios passed/);
  t.deepEqual(
    changes.map((c) => [c.events, c.dropped, c.verdict]),
    [
      [10, 0, "running"],
      [15, 0, "running"],
      [events.length - 5, 5, "running"],
      [events.length - 5, 5, "incomplete"],
    ],
    "one change per batch that changed something; the whole resend changed nothing",
  );
  await store.close();
  t.is(publishError(t, () => store.publish(id, batch(0, []))).status, 503);
});

test("published runs persist: after close and open the same summaries and lines; a resumed publisher continues at the held count", async (t) => {
  const { lines } = await demo;
  const events = parsed(lines);
  const dir = tempDir(t, "store");
  const clock = new VirtualClock("2026-03-01T10:00:00Z");
  const first = await open(dir, { clock });
  const a = "demo-20260301T100000-00000001";
  const b = "demo-20260301T100500-00000002";
  first.publish(a, batch(0, events, { final: true, origin: { host: "elsewhere", runLog: "/ci/out/run.jsonl" } }));
  clock.advance(1000);
  first.publish(b, batch(0, events.slice(0, 40)));
  const before = first.list();
  t.deepEqual(before.map((s) => [s.id, s.startedAt]), [[b, "2026-03-01T10:00:01.000Z"], [a, "2026-03-01T10:00:00.000Z"]], "newest first, by the store's clock");
  await first.close();
  t.deepEqual(JSON.parse(readFileSync(join(dir, "published", a, "origin.json"), "utf8")), { host: "elsewhere", runLog: "/ci/out/run.jsonl" });
  t.is(readFileSync(join(dir, "published", a, "run.jsonl"), "utf8"), lines.join("\n") + "\n", "the published file is the run log, line for line");

  const second = await open(dir);
  const after = second.list();
  const stable = (s: RunSummary) => ({ ...s, startedAt: undefined, updatedAt: undefined });
  t.deepEqual(second.get(a) && stable(second.get(a)!), stable(before.find((s) => s.id === a)!));
  t.deepEqual(after.map((s) => s.id).sort(), [a, b]);
  t.deepEqual(second.lines(a, 0, 1000), lines);
  t.deepEqual(second.lines(b, 0, 1000), lines.slice(0, 40));
  // b's publisher never said final and the dashboard restarted: it reads as a file would (cut short), until its publisher resumes.
  t.like(second.get(b), { source: "published", verdict: "incomplete", events: 40 });
  t.deepEqual(second.publish(b, batch(30, events.slice(30, 50))), { accepted: 10, next: 50 });
  t.like(second.get(b), { verdict: "running", events: 50, dropped: 0 });
  t.deepEqual(second.lines(b, 0, 1000), lines.slice(0, 50));
  await second.close();
});

test("a reloaded published run without state.json (kept by a dashboard from before it) whose file ends mid-batch: a torn line is cut, a whole line without its newline is kept", async (t) => {
  const { lines } = await demo;
  const events = parsed(lines);
  const dir = tempDir(t, "store");
  const torn = "run-20260301T100000-0000000a";
  const whole = "run-20260301T100000-0000000b";
  const first = await open(dir);
  first.publish(torn, batch(0, events.slice(0, 10)));
  first.publish(whole, batch(0, events.slice(0, 10)));
  await first.close();
  for (const id of [torn, whole]) rmSync(join(dir, "published", id, "state.json"));
  // The dashboard died during a write: half a line in one file, a whole line but not its "\n" in the other.
  appendFileSync(join(dir, "published", torn, "run.jsonl"), lines[10].slice(0, 25));
  appendFileSync(join(dir, "published", whole, "run.jsonl"), lines[10]);
  const second = await open(dir);
  t.is(second.count(torn), 10);
  t.is(second.count(whole), 11);
  t.deepEqual(second.publish(torn, batch(10, events.slice(10, 20))), { accepted: 10, next: 20 });
  t.deepEqual(second.publish(whole, batch(10, events.slice(10, 20))), { accepted: 9, next: 20 });
  for (const id of [torn, whole]) {
    t.is(readFileSync(join(dir, "published", id, "run.jsonl"), "utf8"), lines.slice(0, 20).join("\n") + "\n", id);
    t.deepEqual(second.lines(id, 0, 100), lines.slice(0, 20), id);
  }
  await second.close();
  const third = await open(dir);
  t.deepEqual([third.count(torn), third.count(whole)], [20, 20]);
  await third.close();
});

test("a bad batch is refused with 400 naming what is wrong (the event's index), and nothing is stored", async (t) => {
  const { lines } = await demo;
  const good = parsed(lines).slice(0, 3);
  const dir = tempDir(t, "store");
  const store = await open(dir);
  const id = "run-20260301T100000-deadbeef";
  const cases: Array<[unknown, RegExp]> = [
    [null, /not a JSON object/],
    [[], /not a JSON object/],
    [{ ...batch(0, good), v: 2 }, /^v: expected 1$/],
    [batch(-1, good), /^from:/],
    [batch(1.5, good), /^from:/],
    [{ v: 1, from: 0 }, /^events: expected an array$/],
    [batch(0, good, { final: "yes" }), /^final:/],
    [batch(0, good, { origin: { host: 7 } }), /^origin:/],
    [batch(0, Array.from({ length: 10_001 }, () => good[0])), /^events: more than 10000/],
    // The reasons a run log's line is refused with (core/runlog.ts's parseRunLogLine): one definition of an event.
    [batch(0, [...good, "x"]), /^events\[3\]: not an event: not a JSON object$/],
    [batch(0, [good[0], { ...good[1], type: 1 }]), /^events\[1\]: not an event: "type" is not a string$/],
    [batch(0, [{ ...good[0], seq: "0" }]), /^events\[0\]: not an event: "seq" is not a number$/],
    [batch(0, [good[0], good[1], { ...good[2], time: undefined }]), /^events\[2\]: not an event: "time" is not a string$/],
    [batch(0, [{ ...good[0], data: [] }]), /^events\[0\]: not an event: "data" is not an object$/],
  ];
  for (const [body, reason] of cases) {
    const err = publishError(t, () => store.publish(id, body));
    t.is(err.status, 400);
    t.regex(err.message, reason);
  }
  t.is(publishError(t, () => store.publish("../etc", batch(0, good))).status, 400);
  t.is(store.get(id), undefined);
  t.false(existsSync(join(dir, "published", id)));
  await store.close();
});

test("a secret in a published event (a pin) is masked in the summary's run, its file and its lines", async (t) => {
  const dir = tempDir(t, "store");
  const store = await open(dir);
  const id = "run-20260301T100000-0000cafe";
  const secret = "482913";
  const events = [
    { type: "run.started", seq: 0, time: "2026-03-01T10:00:00Z", data: { name: "s", kind: "scenario" } },
    { type: "step.finished", seq: 1, time: "2026-03-01T10:00:00Z", data: { scenario: "s", index: 0, action: "change-pin", outcome: "pass", evidence: { pin: secret, newPin: secret } } },
  ];
  t.is(store.publish(id, batch(0, events)).accepted, 2);
  const line = store.lines(id, 1, 1)[0];
  t.false(line.includes(secret));
  t.deepEqual((JSON.parse(line) as { data: { evidence: unknown } }).data.evidence, { pin: "***", newPin: "***" });
  t.false(readFileSync(join(dir, "published", id, "run.jsonl"), "utf8").includes(secret));
  await store.close();
});

test("a malformed line: the run is indexed up to it, incomplete, saying which line; the other runs are indexed as ever", async (t) => {
  const { text, lines } = await demo;
  const dir = tempDir(t, "store");
  place(dir, "good", text);
  place(dir, "bad", [lines[0], lines[1], "", lines[2], '{"type":"step.started","seq":', lines[3], ""].join("\n"));
  place(dir, "notevent", [lines[0], "[1,2]", ""].join("\n"));
  // A line with a string "type" but no "data" is not a line of a run log either (reports would fail on it): the same rule as parseRunLog's.
  const { data: _, ...noData } = parsed(lines)[1];
  place(dir, "nodata", [lines[0], JSON.stringify(noData), lines[2], ""].join("\n"));
  const store = await open(dir);
  t.like(store.get("good"), { verdict: "pass", events: lines.length });
  const bad = store.get("bad")!;
  t.is(bad.events, 3);
  t.is(bad.verdict, "incomplete");
  t.regex(bad.headline, /^run log unreadable at line 5 \(not JSON\); /);
  t.deepEqual(store.lines("bad", 0, 10), lines.slice(0, 3));
  t.regex(store.get("notevent")!.headline, /^run log unreadable at line 2 \(not an event/);
  t.like(store.get("nodata"), { events: 1, verdict: "incomplete" });
  t.regex(store.get("nodata")!.headline, /^run log unreadable at line 2 \(not an event: "data" is not an object\); /);
  t.throws(() => parseRunLog(readFileSync(join(dir, "nodata", "run.jsonl"), "utf8")), { message: /line 2: not an event: "data" is not an object$/ });
  await store.close();
});

test("rescan reads what a run log grew by (complete lines only), finds a new run log, and takes back one rewritten from the start", async (t) => {
  const { text, lines } = await demo;
  const dir = tempDir(t, "store");
  // A driver mid-write: 20 lines and half of the 21st.
  const path = place(dir, "grow", lines.slice(0, 20).join("\n") + "\n" + lines[20].slice(0, 30));
  const store = await open(dir);
  const changes: RunSummary[] = [];
  const removed: string[] = [];
  store.onChange((s) => changes.push(s));
  store.onRemove((id) => removed.push(id));
  t.is(store.count("grow"), 20);
  await store.rescan();
  t.deepEqual(changes, [], "nothing grew");
  appendFileSync(path, lines[20].slice(30) + "\n" + lines.slice(21, 50).join("\n") + "\n");
  await store.rescan();
  t.is(store.count("grow"), 50);
  t.deepEqual(store.lines("grow", 0, 100), lines.slice(0, 50));
  t.deepEqual(changes.map((c) => [c.id, c.events]), [["grow", 50]]);
  // The last line without its "\n" yet, but whole: taken; its "\n" later does not count as a line.
  appendFileSync(path, lines.slice(50, 60).join("\n"));
  await store.rescan();
  t.is(store.count("grow"), 60);
  appendFileSync(path, "\n" + lines.slice(60).join("\n") + "\n");
  await store.rescan();
  t.like(store.get("grow"), { events: lines.length, verdict: "pass" });
  t.deepEqual(store.lines("grow", 0, 1000), lines);

  place(dir, "ci/new", text);
  await store.rescan();
  t.like(store.get("ci/new"), { events: lines.length, verdict: "pass", source: "file" });

  // The driver runs again into the same directory: the file starts over.
  writeFileSync(path, lines.slice(0, 5).join("\n") + "\n");
  changes.length = 0;
  await store.rescan();
  t.deepEqual(removed, ["grow"]);
  t.deepEqual(changes.map((c) => [c.id, c.events, c.verdict]), [["grow", 5, "incomplete"]]);
  t.deepEqual(store.lines("grow", 0, 100), lines.slice(0, 5));
  // Rewritten again, longer this time: where the last line read was, another line stands.
  writeFileSync(path, lines.slice(10, 40).join("\n") + "\n");
  removed.length = 0;
  await store.rescan();
  t.deepEqual(removed, ["grow"]);
  t.deepEqual(store.lines("grow", 0, 100), lines.slice(10, 40));
  await store.close();
});

test("lines evicted past maxCachedBytes are read back from disk, the same; a live published run's lines stay in memory", async (t) => {
  const { text, lines } = await demo;
  const dir = tempDir(t, "store");
  for (const id of ["a", "b", "c"]) place(dir, id, text);
  // Room for about one run's lines: indexing three evicts the least recently used.
  const store = await open(dir, { maxCachedBytes: text.length + 100 });
  for (const id of ["a", "b", "c"]) {
    t.deepEqual(store.lines(id, 0, 10_000), lines, id);
    t.deepEqual(store.lines(id, 17, 9), lines.slice(17, 26), id);
  }
  const live = "run-20260301T100000-11111111";
  store.publish(live, batch(0, parsed(lines)));
  // Reading the others now cannot push the live run out; deleting the files shows what is held in memory.
  for (const id of ["a", "b", "c"]) store.lines(id, 0, 10_000);
  rmSync(join(dir, "published", live, "run.jsonl"));
  t.deepEqual(store.lines(live, 0, 10_000), lines, "the live run is served from memory");
  const evicted = ["a", "b", "c"].filter((id) => {
    rmSync(join(dir, id, "run.jsonl"), { force: true });
    return store.lines(id, 0, 10).length === 0;
  });
  t.true(evicted.length >= 2, `runs evicted: ${evicted.join(", ")}`);
  t.like(store.get("a"), { events: lines.length, verdict: "pass" }, "the summary stays when the lines go");
  await store.close();
});

test("a published run's origin.runLog on this host keeps that file out of the index (and takes it out if it was in) while it is the published run's copy (a live run's, longer than it)", async (t) => {
  const { text, lines } = await demo;
  const dir = tempDir(t, "store");
  const local = place(dir, "latest", text);
  place(dir, "other", text);
  const store = await open(dir);
  const removed: string[] = [];
  store.onRemove((id) => removed.push(id));
  t.truthy(store.get("latest"));
  const id = "demo-20260301T100000-22222222";
  store.publish(id, batch(0, parsed(lines).slice(0, 5), { origin: { host: HOST, runLog: realpathSync(local) } }));
  t.deepEqual(removed, ["latest"]);
  t.deepEqual(store.list().map((r) => r.id).sort(), [id, "other"]);
  await store.rescan();
  t.is(store.get("latest"), undefined, "not indexed again by a rescan");
  // The publisher sends the rest and says it is done: the file is the whole published run's copy.
  store.publish(id, batch(5, parsed(lines).slice(5), { final: true }));
  await store.rescan();
  t.is(store.get("latest"), undefined, "the whole run's copy");
  // Another host's path says nothing about this machine's files.
  store.publish("demo-20260301T100000-33333333", batch(0, [], { origin: { host: "ci-runner", runLog: join(dir, "other", "run.jsonl") } }));
  t.truthy(store.get("other"));
  await store.close();
  const reopened = await open(dir);
  t.deepEqual(reopened.list().map((r) => r.id).sort(), [id, "demo-20260301T100000-33333333", "other"]);
  t.deepEqual(reopened.get(id)!.origin, { host: HOST, runLog: realpathSync(local) });
  // A later run without --dashboard rewrites the file: another run.started, no longer the published run's copy. It comes back.
  const later = [JSON.stringify({ ...parsed(lines)[0], time: "2026-03-02T09:00:00.000Z" }), ...lines.slice(1)];
  writeFileSync(local, later.join("\n") + "\n");
  await reopened.rescan();
  t.like(reopened.get("latest"), { source: "file", events: lines.length, verdict: "pass" });
  t.deepEqual(reopened.lines("latest", 0, 1), [later[0]]);
  await reopened.close();
  const third = await open(dir);
  t.deepEqual(third.list().map((r) => r.id).sort(), [id, "demo-20260301T100000-33333333", "latest", "other"], "and after a restart");
  await third.close();
});

test("a published run and a run log with the same name: neither hides the other, the run log is listed as file:<name>, in either order and after a restart", async (t) => {
  const { text, lines } = await demo;
  const events = parsed(lines);
  // The run log first: a publisher then takes its name.
  const dir = tempDir(t, "store");
  place(dir, "latest", text);
  const store = await open(dir);
  const removed: string[] = [];
  store.onRemove((id) => removed.push(id));
  t.deepEqual(store.publish("latest", batch(0, events.slice(0, 7))), { accepted: 7, next: 7 });
  t.deepEqual(removed, ["latest"], "the run log leaves its name...");
  t.like(store.get("file:latest"), { source: "file", events: lines.length, verdict: "pass" });
  t.like(store.get("latest"), { source: "published", events: 7 });
  t.is(store.count("file:latest"), lines.length);
  t.deepEqual(store.lines("file:latest", 0, 10_000), lines, "...and is listed under file:<name>, whole");
  await store.rescan();
  t.deepEqual(store.list().map((r) => r.id).sort(), ["file:latest", "latest"]);
  await store.close();
  const reopened = await open(dir);
  t.deepEqual(reopened.list().map((r) => [r.id, r.source, r.events]).sort(), [["file:latest", "file", lines.length], ["latest", "published", 7]]);
  await reopened.close();

  // The published run first: a run log of that name appears later.
  const other = tempDir(t, "store");
  const second = await open(other);
  second.publish("ci", batch(0, events.slice(0, 3), { final: true }));
  place(other, "ci", text);
  await second.rescan();
  t.deepEqual(second.list().map((r) => [r.id, r.source, r.events]).sort(), [["ci", "published", 3], ["file:ci", "file", lines.length]]);
  await second.close();
});

test("any split of a run log into publish batches, with resends and overlaps, holds exactly the run log's events in order", async (t) => {
  const { text, lines } = await demo;
  const events = parsed(lines);
  const dir = tempDir(t, "store");
  const store = await open(dir);
  let n = 0;
  const plan = fc.array(fc.record({ back: fc.nat({ max: 30 }), len: fc.nat({ max: 60 }) }), { maxLength: 25 });
  t.notThrows(() =>
    fc.assert(
      fc.property(plan, (steps) => {
        const id = `prop-${n++}`;
        let next = 0;
        for (const { back, len } of steps) {
          const from = Math.max(0, next - back);
          const end = Math.min(events.length, from + len);
          const answer = store.publish(id, batch(from, events.slice(from, end)));
          if (answer.next !== Math.max(next, end)) throw new Error(`next ${answer.next}, expected ${Math.max(next, end)}`);
          next = answer.next;
        }
        store.publish(id, batch(next, events.slice(next), { final: true }));
        const s = store.get(id)!;
        if (s.events !== events.length || s.dropped !== 0 || s.verdict !== "pass") throw new Error(JSON.stringify(s));
        const held = store.lines(id, 0, events.length + 10);
        if (held.join("\n") !== lines.join("\n")) throw new Error("the lines held differ from the run log");
        if (readFileSync(join(dir, "published", id, "run.jsonl"), "utf8") !== text) throw new Error("the file differs from the run log");
      }),
      { numRuns: 60 },
    ),
  );
  await store.close();
});

test("one 10,000-event batch is taken whole (throughput logged, not asserted)", async (t) => {
  const store = await open(tempDir(t, "store"));
  const events = Array.from({ length: 10_000 }, (_, i) => ({
    type: "apdu.exchange",
    seq: i,
    time: "2026-03-01T10:00:00.000Z",
    data: { reader: "memory:alice-card", command: "00CB3FFF055C035FC10200", response: "533B3019D4E739DA739CEDC2061915A1685915AE7840C32284E739C39000", sw: "9000", micros: 68 },
    volatile: ["micros"],
  }));
  const t0 = performance.now();
  const answer = store.publish("load-20260301T100000-44444444", batch(0, events));
  const ms = performance.now() - t0;
  t.deepEqual(answer, { accepted: 10_000, next: 10_000 });
  t.is(store.lines("load-20260301T100000-44444444", 9_999, 1).length, 1);
  t.log(`publish of 10,000 events: ${ms.toFixed(1)} ms (${Math.round(10_000 / (ms / 1000))} events/s)`);
  await store.close();
});
