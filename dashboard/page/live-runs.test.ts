import test from "ava";
import fc from "fast-check";
import type { ClientMessage, RunSummary, ServerMessage } from "../protocol.js";
import { LiveRuns, type Change } from "./live-runs.js";
import { concerns, parseRoute } from "./router.js";
import { RunEvents } from "./run-events.js";

// The page's side of "no gap, no duplicate, ever": DOM-free, driven by messages alone.

const ev = (i: number) => ({ type: "log.message", seq: i, time: "2026-01-01T00:00:00.000Z", data: { level: "info", message: `m${i}` } });
const source = (n: number) => Array.from({ length: n }, (_, i) => ev(i));
const messages = (r: RunEvents) => r.events.map((e) => (e.data as { message: string }).message);

function summary(id: string, over: Partial<RunSummary> = {}): RunSummary {
  return { id, kind: "certify", name: id, startedAt: "2026-01-01T00:00:00.000Z", updatedAt: "2026-01-01T00:00:00.000Z", durationMs: 0, verdict: "running", headline: "", counts: {}, events: 0, dropped: 0, source: "published", generation: "published", ...over };
}

function harness() {
  const sent: ClientMessage[] = [];
  const changes: Change[] = [];
  const live = new LiveRuns((m) => sent.push(m), (c) => changes.push(c));
  const recv = (m: Omit<Extract<ServerMessage, { type: "events" }>, "v" | "type">) => live.receive({ v: 1, type: "events", ...m });
  return { live, sent, changes, recv };
}

test("an events message overlapping what is held has its overlap skipped; one past it is a gap", (t) => {
  const r = new RunEvents();
  t.deepEqual(r.apply(0, source(3)), { kind: "appended", count: 3 });
  t.deepEqual(r.apply(1, source(5).slice(1)), { kind: "appended", count: 2 });
  t.deepEqual(messages(r), ["m0", "m1", "m2", "m3", "m4"]);
  t.deepEqual(r.apply(2, source(4).slice(2)), { kind: "duplicate" });
  t.deepEqual(r.apply(7, [ev(7)]), { kind: "gap", held: 5 });
  t.is(r.held, 5);
});

test("a line that is not an event keeps its position, as an event no model reads", (t) => {
  const r = new RunEvents();
  r.apply(0, ["not json", null, ev(2)]);
  t.deepEqual(r.events.map((e) => e.type), ["invalid", "invalid", "log.message"]);
  t.deepEqual(r.events[0].data, { value: "not json" });
});

test("property: whatever the server sends (events, resyncs), the page holds a prefix of the run, and catches up once the server sends from its cursor", (t) => {
  type Send = { kind: "events"; from: number; len: number } | { kind: "resync"; from: number; reason: "slow" | "replaced" };
  const send: fc.Arbitrary<Send> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant("events" as const), from: fc.nat(70), len: fc.nat(20) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("resync" as const), from: fc.nat(70), reason: fc.constantFrom("slow" as const, "replaced" as const) }) },
  );
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.array(send, { maxLength: 40 }), (n, sends) => {
        const all = source(n);
        const { live, sent, recv } = harness();
        live.watch(["r"], true);
        const held = live.run("r")!.events;
        const isPrefix = () => messages(held).join() === all.slice(0, held.held).map((e) => e.data.message).join();
        // where the server's cursor is: the page's last run.subscribe, or the last resync the server sent
        let cursor = 0;
        let seen = sent.length;
        const followSubscriptions = () => {
          for (const m of sent.slice(seen)) if (m.type === "run.subscribe") cursor = m.from;
          seen = sent.length;
        };
        for (const s of sends) {
          if (s.from >= n) continue;
          if (s.kind === "events") recv({ run: "r", from: s.from, events: all.slice(s.from, s.from + s.len) });
          else {
            const before = held.held;
            live.receive({ v: 1, type: "resync", run: "r", from: s.from, reason: s.reason });
            cursor = s.from;
            if (held.held !== Math.min(before, s.from)) throw new Error(`resync from ${s.from} with ${before} held left ${held.held}`);
          }
          followSubscriptions();
          if (!isPrefix()) throw new Error("not a prefix");
        }
        // the server sends the rest from its cursor; a gap is asked again from what is held, and answered
        for (let round = 0; round < 3 && held.held < n; round++) {
          recv({ run: "r", from: cursor, events: all.slice(cursor) });
          followSubscriptions();
          if (!isPrefix()) throw new Error("not a prefix");
        }
        if (held.held !== n) throw new Error(`holds ${held.held} of ${n}`);
      }),
    ),
  );
});

test("a gap re-subscribes from what is held, once, however many messages of the old cursor follow", (t) => {
  const { live, sent, recv } = harness();
  live.watch(["r"], true);
  t.deepEqual(sent.splice(0), [{ v: 1, type: "run.subscribe", run: "r", from: 0 }]);
  recv({ run: "r", from: 0, events: source(3) });
  recv({ run: "r", from: 5, events: [ev(5)] });
  recv({ run: "r", from: 6, events: [ev(6)] });
  t.deepEqual(sent.splice(0), [{ v: 1, type: "run.subscribe", run: "r", from: 3 }]);
  recv({ run: "r", from: 3, events: source(7).slice(3) });
  t.is(live.run("r")!.events.held, 7);
  recv({ run: "r", from: 9, events: [ev(9)] });
  t.deepEqual(sent.splice(0), [{ v: 1, type: "run.subscribe", run: "r", from: 7 }], "a new gap after catching up asks again");
});

test("on (re)connect the page subscribes to the list and to each run on screen from what it holds", (t) => {
  const { live, sent, recv } = harness();
  live.watch(["a", "b"], false);
  t.deepEqual(sent, [], "nothing is sent while closed");
  live.connected();
  recv({ run: "a", from: 0, events: source(4) });
  sent.splice(0);
  live.connected();
  t.deepEqual(sent, [
    { v: 1, type: "runs.subscribe" },
    { v: 1, type: "run.subscribe", run: "a", from: 4 },
    { v: 1, type: "run.subscribe", run: "b", from: 0 },
  ]);
});

test("leaving a run unsubscribes it and ignores its messages still in flight", (t) => {
  const { live, sent, changes, recv } = harness();
  live.watch(["a"], true);
  live.watch([], true);
  t.deepEqual(sent.at(-1), { v: 1, type: "run.unsubscribe", run: "a" });
  recv({ run: "a", from: 0, events: source(2) });
  t.is(live.run("a"), undefined);
  t.deepEqual(changes, []);
});

test("resync says so on the page; summaries and errors reach the run on screen", (t) => {
  const { live, changes } = harness();
  live.watch(["a"], true);
  live.receive({ v: 1, type: "resync", run: "a", from: 12, reason: "slow" });
  t.deepEqual(changes.find((c) => c.what === "notice"), { what: "notice", kind: "warning", key: "resync:a", text: "this page fell behind; the dashboard resent events from #12" });
  live.receive({ v: 1, type: "runs", runs: [summary("a"), summary("b", { startedAt: "2026-02-01T00:00:00.000Z" })] });
  t.deepEqual(live.sortedRuns().map((r) => r.id), ["b", "a"], "newest first");
  live.receive({ v: 1, type: "run", run: summary("a", { verdict: "pass", headline: "done" }) });
  t.is(live.run("a")!.summary?.headline, "done");
  t.is(live.runs.get("a")?.verdict, "pass");
  live.receive({ v: 1, type: "error", run: "a", message: "unknown run" });
  t.is(live.run("a")!.error, "unknown run");
  live.receive({ v: 1, type: "hello", version: "9.9.9", protocol: 2 });
  t.regex((changes.at(-1) as { text: string }).text, /protocol 2, this page 1: reload/);
});

test("resync: what is held from `from` on goes, the view starts over, and the next events load; 'fell behind' only when slow", (t) => {
  // replaced: a run log rewritten under a page that held the old one
  const { live, sent, changes, recv } = harness();
  live.watch(["latest"], true);
  const w = live.run("latest")!;
  recv({ run: "latest", from: 0, events: source(3) });
  t.is(w.restarts, 0);
  live.receive({ v: 1, type: "resync", run: "latest", from: 0, reason: "replaced" });
  t.is(w.events.held, 0);
  t.is(w.restarts, 1, "a view built on the old events starts over");
  t.deepEqual(changes.filter((c) => c.what === "notice"), [{ what: "notice", kind: "info", key: "replaced:latest", text: "the run log was rewritten; reloading it" }]);
  t.deepEqual(changes.at(-1), { what: "run", id: "latest" });
  const fresh = source(4).map((e) => ({ ...e, data: { ...e.data, message: `new${e.seq}` } }));
  recv({ run: "latest", from: 0, events: fresh.slice(0, 2) });
  recv({ run: "latest", from: 2, events: fresh.slice(2) });
  t.deepEqual(messages(w.events), ["new0", "new1", "new2", "new3"]);

  // slow: a pending re-subscription is forgotten (the server's cursor moved), so a later gap asks again
  recv({ run: "latest", from: 9, events: [ev(9)] });
  t.deepEqual(sent.at(-1), { v: 1, type: "run.subscribe", run: "latest", from: 4 });
  const subscriptions = () => sent.filter((m) => m.type === "run.subscribe").length;
  const before = subscriptions();
  live.receive({ v: 1, type: "resync", run: "latest", from: 2, reason: "slow" });
  t.is(w.events.held, 2);
  t.is(w.restarts, 2);
  t.is(w.resubscribedFrom, undefined);
  t.deepEqual(changes.filter((c) => c.what === "notice").at(-1), { what: "notice", kind: "warning", key: "resync:latest", text: "this page fell behind; the dashboard resent events from #2" });
  recv({ run: "latest", from: 5, events: [ev(5)] });
  t.is(subscriptions(), before + 1);
  t.deepEqual(sent.at(-1), { v: 1, type: "run.subscribe", run: "latest", from: 2 });
  // a resync from beyond what is held lets nothing go; the server's cursor is there now, so its next message is a gap asked again at once
  live.receive({ v: 1, type: "resync", run: "latest", from: 7, reason: "slow" });
  t.is(w.events.held, 2);
  t.is(w.restarts, 2);
  recv({ run: "latest", from: 7, events: [ev(7)] });
  t.is(subscriptions(), before + 2, "the re-subscription from 2 sent before the resync does not hold this one back");
  t.deepEqual(sent.at(-1), { v: 1, type: "run.subscribe", run: "latest", from: 2 });
});

test("generation: the page sends the generation it holds, and a summary of another drops its events and loads the run from 0", (t) => {
  const { live, sent, changes, recv } = harness();
  live.receive({ v: 1, type: "runs", runs: [summary("ci/job-3", { source: "file", generation: "a1.1" })] });
  live.watch(["ci/job-3"], true);
  t.deepEqual(sent.splice(0), [{ v: 1, type: "run.subscribe", run: "ci/job-3", from: 0 }], "from 0: no generation to check");
  recv({ run: "ci/job-3", from: 0, events: source(3) });
  live.connected();
  t.deepEqual(sent.splice(0), [
    { v: 1, type: "runs.subscribe" },
    { v: 1, type: "run.subscribe", run: "ci/job-3", from: 3, generation: "a1.1" },
  ]);
  const w = live.run("ci/job-3")!;
  // the same generation: nothing goes
  live.receive({ v: 1, type: "run", run: summary("ci/job-3", { source: "file", generation: "a1.1", events: 5 }) });
  t.is(w.events.held, 3);
  t.deepEqual(sent, []);
  // the dashboard restarted (or the log was indexed anew): another generation
  live.receive({ v: 1, type: "runs", runs: [summary("ci/job-3", { source: "file", generation: "b7.1", events: 2 })] });
  t.is(w.events.held, 0);
  t.is(w.restarts, 1);
  t.is(w.generation, "b7.1");
  t.deepEqual(sent.splice(0), [{ v: 1, type: "run.subscribe", run: "ci/job-3", from: 0 }]);
  t.true(changes.some((c) => c.what === "notice" && c.text === "the run log was rewritten; reloading it"));
  recv({ run: "ci/job-3", from: 0, events: source(2) });
  t.is(w.events.held, 2);
  live.connected();
  t.deepEqual(sent.at(-1), { v: 1, type: "run.subscribe", run: "ci/job-3", from: 2, generation: "b7.1" });
  // after a resync "replaced" the events to come are the next summary's generation, whichever it is
  live.receive({ v: 1, type: "resync", run: "ci/job-3", from: 0, reason: "replaced" });
  recv({ run: "ci/job-3", from: 0, events: source(1) });
  sent.splice(0);
  live.receive({ v: 1, type: "run", run: summary("ci/job-3", { source: "file", generation: "b7.2", events: 1 }) });
  t.is(w.events.held, 1, "the events that came after the resync are the new generation's");
  t.is(w.generation, "b7.2");
  t.deepEqual(sent, []);
});

test("a run opened before its first event loads once it appears, from its summary or the list", (t) => {
  const { live, sent, recv } = harness();
  const id = "scenario-20260101T000000-0a1b2c3d";
  live.watch([id], true);
  sent.splice(0);
  live.receive({ v: 1, type: "error", run: id, message: "unknown run" });
  t.is(live.run(id)!.error, "unknown run");
  t.true(live.run(id)!.refused);
  // another run's summary: nothing to do
  live.receive({ v: 1, type: "run", run: summary("other") });
  t.deepEqual(sent, []);
  live.receive({ v: 1, type: "run", run: summary(id) });
  t.deepEqual(sent.splice(0), [{ v: 1, type: "run.subscribe", run: id, from: 0 }]);
  t.is(live.run(id)!.error, undefined);
  // the next summaries do not subscribe again
  live.receive({ v: 1, type: "run", run: summary(id, { events: 4 }) });
  t.deepEqual(sent, []);
  recv({ run: id, from: 0, events: source(4) });
  t.is(live.run(id)!.events.held, 4);

  // the same through the list, after a reconnect that found it gone
  live.connected();
  live.receive({ v: 1, type: "error", run: id, message: "unknown run" });
  sent.splice(0);
  live.receive({ v: 1, type: "runs", runs: [summary("other")] });
  t.deepEqual(sent, [], "not in the list yet");
  live.receive({ v: 1, type: "runs", runs: [summary("other"), summary(id, { events: 6 })] });
  t.deepEqual(sent.splice(0), [{ v: 1, type: "run.subscribe", run: id, from: 4, generation: "published" }]);
});

test("a change re-renders only the view it concerns: the list for the runs view, a run for the views showing it", (t) => {
  const runs = parseRoute("#/");
  const run = parseRoute("#/run/a");
  const compare = parseRoute("#/compare/a/b");
  const cases: Array<[Change, boolean, boolean, boolean]> = [
    [{ what: "runs" }, true, false, false],
    [{ what: "run", id: "a" }, false, true, true],
    [{ what: "run", id: "b" }, false, false, true],
    [{ what: "run", id: "c" }, false, false, false],
    [{ what: "notice", kind: "info", text: "x" }, false, false, false],
  ];
  t.deepEqual(
    cases.map(([c]) => [concerns(runs, c), concerns(run, c), concerns(compare, c)]),
    cases.map(([, ...expected]) => expected),
  );
  // what LiveRuns says changed: a summary of a run on screen, in a `run` message or in the list, is that run's change too
  const { live, changes } = harness();
  live.watch(["a"], true);
  live.receive({ v: 1, type: "run", run: summary("c") });
  t.deepEqual(changes.splice(0), [{ what: "runs" }]);
  live.receive({ v: 1, type: "runs", runs: [summary("a"), summary("c")] });
  t.deepEqual(changes.splice(0), [{ what: "runs" }, { what: "run", id: "a" }]);
  live.receive({ v: 1, type: "run", run: summary("a", { verdict: "pass" }) });
  t.deepEqual(changes.splice(0), [{ what: "runs" }, { what: "run", id: "a" }]);
});
