import test, { type ExecutionContext } from "ava";
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { WebSocket } from "ws";
import { Hub, type HubOptions, type HubStore } from "./hub.js";
import { LIMITS, STALLED_CLOSE_CODE, type RunSummary, type ServerMessage } from "./protocol.js";
import { startDashboard, type Dashboard } from "./server.js";
import { until } from "../test/support/dashboard.js";

/**
 * The hub's rules, driven through sockets whose buffer the test sets: what
 * is sent, in which order, and what is held back above the high-water mark;
 * then a real page that stops reading, over a real socket (server.test.ts
 * runs the other flows over real sockets).
 */

/** The part of a ws WebSocket the hub uses; `bufferedAmount` is what the test says the socket holds. */
class FakeSocket extends EventEmitter {
  readonly CLOSED = 3;
  readyState = 1;
  bufferedAmount = 0;
  sent: Buffer[] = [];
  closeCode?: number;
  terminated = false;
  private callbacks: Array<() => void> = [];

  /** While reading, what is sent is written out at once (its callback runs); otherwise it waits for drain(). */
  reading = true;

  send(data: Buffer, _opts: unknown, cb: () => void): void {
    this.sent.push(data);
    if (this.reading) cb();
    else this.callbacks.push(cb);
  }
  close(code: number): void {
    if (this.readyState === this.CLOSED) return;
    this.closeCode = code;
    this.readyState = this.CLOSED;
    this.emit("close");
  }
  terminate(): void {
    this.terminated = true;
    this.close(1006);
  }
  /** The page read everything: the socket's buffer empties and the hub's send callbacks run. */
  drain(): void {
    this.reading = true;
    this.bufferedAmount = 0;
    for (const cb of this.callbacks.splice(0)) cb();
  }
  messages(): ServerMessage[] {
    return this.sent.map((b) => JSON.parse(b.toString("utf8")) as ServerMessage);
  }
  say(msg: unknown): this {
    this.emit("message", Buffer.from(typeof msg === "string" ? msg : JSON.stringify(msg)), false);
    return this;
  }
}

/** Runs held in memory, with the store's change notifications. */
class MemoryStore implements HubStore {
  private runs = new Map<string, { summary: RunSummary; lines: string[] }>();
  private listeners = new Set<(run: RunSummary) => void>();
  private removeListeners = new Set<(id: string) => void>();

  add(id: string, n: number): void {
    let r = this.runs.get(id);
    if (!r) this.runs.set(id, (r = { summary: summary(id), lines: [] }));
    for (let i = 0; i < n; i++) r.lines.push(JSON.stringify({ type: "step.finished", seq: r.lines.length, time: "2026-01-01T00:00:00.000Z", data: { i: r.lines.length } }));
    r.summary = { ...r.summary, events: r.lines.length };
    for (const l of this.listeners) l(r.summary);
  }
  /** A run log rewritten from the start, as the RunStore reports it: removed, then indexed again under its id. */
  replace(id: string, n: number): void {
    this.runs.delete(id);
    for (const l of this.removeListeners) l(id);
    this.add(id, n);
  }
  /** A run that shrank without a word (the hub notices from the count). */
  shrink(id: string, n: number): void {
    this.runs.delete(id);
    this.add(id, n);
  }
  onRemove(listener: (id: string) => void): () => void {
    this.removeListeners.add(listener);
    return () => this.removeListeners.delete(listener);
  }
  list(): RunSummary[] {
    return [...this.runs.values()].map((r) => r.summary);
  }
  get(id: string): RunSummary | undefined {
    return this.runs.get(id)?.summary;
  }
  count(id: string): number {
    return this.runs.get(id)?.lines.length ?? 0;
  }
  lines(id: string, from: number, limit: number): string[] {
    return this.runs.get(id)?.lines.slice(from, from + limit) ?? [];
  }
  onChange(listener: (run: RunSummary) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  get listenerCount(): number {
    return this.listeners.size + this.removeListeners.size;
  }
}

const T0 = "2026-01-01T00:00:00.000Z";
const summary = (id: string): RunSummary => ({ id, kind: "scenario", name: id, startedAt: T0, updatedAt: T0, durationMs: 0, verdict: "running", headline: "", counts: {}, events: 0, dropped: 0, source: "published", generation: "published" });

function setup(opts: Partial<HubOptions> = {}) {
  const store = new MemoryStore();
  const hub = new Hub(store, { version: "9.9.9", eventsPerMessage: 10, upsertMs: 0, ...opts });
  const connect = () => {
    const s = new FakeSocket();
    hub.attach(s as unknown as WebSocket);
    return s;
  };
  return { store, hub, connect };
}

type EventsMessage = Extract<ServerMessage, { type: "events" }>;
const eventsOf = (s: FakeSocket) => s.messages().filter((m): m is EventsMessage => m.type === "events");
/** The sequence numbers the page got, in order (each event's data.i is its position). */
const seqs = (s: FakeSocket) => eventsOf(s).flatMap((m) => m.events.map((e, k) => ((e as { data: { i: number } }).data.i === m.from + k ? m.from + k : -1)));
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

test("a page is greeted with hello naming the version and the protocol", (t) => {
  const { connect } = setup();
  t.deepEqual(connect().messages(), [{ v: 1, type: "hello", version: "9.9.9", protocol: 1 }]);
});

test("run.subscribe from 0: the summary, then every event once, in chunks aligned to eventsPerMessage", (t) => {
  const { store, connect } = setup();
  store.add("r", 25);
  const s = connect();
  s.say({ v: 1, type: "run.subscribe", run: "r", from: 0 });
  const types = s.messages().map((m) => m.type);
  t.deepEqual(types, ["hello", "run", "events", "events", "events"]);
  t.deepEqual(eventsOf(s).map((m) => [m.from, m.events.length]), [[0, 10], [10, 10], [20, 5]]);
  t.deepEqual(seqs(s), range(0, 25));
});

test("run.subscribe from N resumes at N: no gap, no repeat, then live events as they come", (t) => {
  const { store, connect } = setup();
  store.add("r", 25);
  const s = connect();
  s.say({ v: 1, type: "run.subscribe", run: "r", from: 13 });
  t.deepEqual(eventsOf(s).map((m) => [m.from, m.events.length]), [[13, 7], [20, 5]]);
  store.add("r", 3);
  store.add("r", 1);
  t.deepEqual(seqs(s), range(13, 29));
});

test("pages at the same cursor are sent the very same Buffer", (t) => {
  const { store, connect } = setup();
  store.add("r", 12);
  const a = connect();
  const b = connect();
  a.say({ v: 1, type: "run.subscribe", run: "r", from: 0 });
  b.say({ v: 1, type: "run.subscribe", run: "r", from: 0 });
  store.add("r", 4);
  const bufs = (s: FakeSocket) => s.sent.filter((m) => m.includes('"type":"events"'));
  t.is(bufs(a).length, 3);
  for (let i = 0; i < 3; i++) t.is(bufs(a)[i], bufs(b)[i], `message ${i} is one Buffer`);
});

test("above the high-water mark a page is sent nothing; once it drains it gets resync from its cursor, then the rest", (t) => {
  const { store, hub, connect } = setup({ highWaterBytes: 1000, recheckMs: 60_000 });
  store.add("r", 5);
  const s = connect();
  s.say({ v: 1, type: "run.subscribe", run: "r", from: 0 });
  t.deepEqual(seqs(s), range(0, 5));
  s.reading = false; // the page stopped reading
  s.bufferedAmount = 5000;
  const before = s.sent.length;
  for (let i = 0; i < 50; i++) store.add("r", 10);
  s.say("not json"); // an answer it would not read either
  t.is(s.sent.length, before, "nothing more is queued for it");
  t.true(hub.stats()[0].held);
  t.deepEqual(hub.stats()[0].subscriptions, [{ run: "r", next: 5 }]);
  s.drain();
  store.add("r", 1); // any change (or the recheck timer) finds it drained
  const after = s.messages().slice(before);
  t.deepEqual(after[0], { v: 1, type: "resync", run: "r", from: 5, reason: "slow" });
  t.deepEqual(seqs(s), range(0, 506));
  t.false(hub.stats()[0].held);
});

test("the hub counts what it has in flight per page and pauses at the high-water mark until the socket writes it out", (t) => {
  const { store, hub, connect } = setup({ highWaterBytes: 300 });
  store.add("r", 30);
  const s = connect();
  s.reading = false; // writes are taken but not yet written out: their callbacks wait
  const before = s.sent.length;
  s.say({ v: 1, type: "run.subscribe", run: "r", from: 0 });
  const inFlight = s.sent.slice(before);
  const queued = inFlight.reduce((n, b) => n + b.length, 0);
  t.is(hub.stats()[0].queuedBytes, queued);
  t.is(inFlight.length, 2, "the summary, then one events message takes it over 300 bytes: it pauses");
  t.true(queued <= 300 + Math.max(...inFlight.map((b) => b.length)));
  t.false(hub.stats()[0].held, "a pause is not a hold: the page is reading");
  s.drain();
  t.is(hub.stats()[0].queuedBytes, 0);
  t.is(hub.stats()[0].peakQueuedBytes, queued);
  t.deepEqual(seqs(s), range(0, 30), "the callbacks resumed the pump");
  t.false(s.messages().some((m) => m.type === "resync"));
});

test("a page above the high-water mark for stalledMs is closed with 4008 and forgotten", async (t) => {
  const { store, hub, connect } = setup({ highWaterBytes: 10, stalledMs: 1, recheckMs: 1 });
  store.add("r", 3);
  const s = connect();
  s.reading = false;
  s.bufferedAmount = 100;
  s.say({ v: 1, type: "run.subscribe", run: "r", from: 0 });
  await until("the stalled page to be closed", () => (s.closeCode !== undefined ? true : undefined), 20_000, 1);
  t.is(s.closeCode, STALLED_CLOSE_CODE);
  t.is(hub.size, 0);
});

test("runs.subscribe: the list, then one upsert per run per upsertMs and always the last change", async (t) => {
  const { store, connect } = setup({ upsertMs: 100 });
  store.add("a", 1);
  const s = connect();
  s.say({ v: 1, type: "runs.subscribe" });
  const list = s.messages()[1];
  t.is(list.type, "runs");
  t.deepEqual(list.type === "runs" ? list.runs.map((r) => r.id) : [], ["a"]);
  for (let i = 0; i < 20; i++) store.add("b", 1);
  const upserts = () => s.messages().filter((m): m is Extract<ServerMessage, { type: "run" }> => m.type === "run" && m.run.id === "b");
  t.is(upserts().length, 1, "the first change is sent at once, the next 19 wait for the window");
  t.is(upserts()[0].run.events, 1);
  await until("the window's upsert", () => (upserts().length >= 2 ? true : undefined), 20_000, 20);
  t.is(upserts()[1].run.events, 20, "the window's end sends the latest summary");
});

test("bad messages are answered with error, and the page stays connected", (t) => {
  const { store, hub, connect } = setup();
  store.add("r", 1);
  const s = connect();
  s.say("{");
  s.say([1, 2]);
  s.say({ v: 2, type: "runs.subscribe" });
  s.say({ v: 1, type: "dance" });
  s.say({ v: 1, type: "run.subscribe", run: 5, from: 0 });
  s.say({ v: 1, type: "run.subscribe", run: "r", from: -1 });
  s.say({ v: 1, type: "run.subscribe", run: "r", from: 1.5 });
  s.say({ v: 1, type: "run.subscribe", run: "nope", from: 0 });
  s.emit("message", Buffer.from([1, 2, 3]), true);
  const errors = s.messages().filter((m) => m.type === "error");
  t.is(errors.length, 9);
  t.deepEqual(errors[7], { v: 1, type: "error", message: "unknown run", run: "nope" });
  t.is(errors[5].type === "error" ? errors[5].run : undefined, "r");
  t.is(hub.size, 1);
  t.is(s.closeCode, undefined);
});

test("run.unsubscribe stops the run's events and upserts", (t) => {
  const { store, connect } = setup();
  store.add("r", 2);
  const s = connect();
  s.say({ v: 1, type: "run.subscribe", run: "r", from: 0 });
  s.say({ v: 1, type: "run.unsubscribe", run: "r" });
  const n = s.sent.length;
  store.add("r", 5);
  t.is(s.sent.length, n);
});

test("a run that shrank is sent again from 0 after resync", (t) => {
  const { store, connect } = setup();
  store.add("r", 8);
  const s = connect();
  s.say({ v: 1, type: "run.subscribe", run: "r", from: 0 });
  const before = s.sent.length;
  store.shrink("r", 3);
  const after = s.messages().slice(before);
  t.deepEqual(after[0], { v: 1, type: "resync", run: "r", from: 0, reason: "replaced" });
  t.deepEqual(after.slice(1).map((m) => m.type), ["events", "run"]);
  const again = after[1] as EventsMessage;
  t.deepEqual([again.from, again.events.length], [0, 3]);
});

test("a subscribe from beyond the run's end restarts the page at 0 with resync", (t) => {
  const { store, connect } = setup();
  store.add("r", 4);
  const s = connect();
  s.say({ v: 1, type: "run.subscribe", run: "r", from: 9 });
  const m = s.messages();
  t.deepEqual(m[1], { v: 1, type: "resync", run: "r", from: 0, reason: "replaced" });
  t.deepEqual(seqs(s), range(0, 4));
});

test("a subscribe from N naming another generation than the run's: resync replaced from 0, then every event; its own generation, or none, resumes at N", (t) => {
  const { store, connect } = setup();
  store.add("r", 12);
  (store.get("r") as { generation: string }).generation = "gen-2"; // its log indexed anew (the dashboard restarted): same events, new copy
  const subscribe = (from: number, generation?: unknown) => connect().say({ v: 1, type: "run.subscribe", run: "r", from, generation });
  const away = subscribe(5, "gen-1");
  t.deepEqual(away.messages()[1], { v: 1, type: "resync", run: "r", from: 0, reason: "replaced" });
  t.deepEqual(seqs(away), range(0, 12));
  for (const [from, generation] of [[5, "gen-2"], [5, undefined], [0, "gen-1"]] as const) {
    const s = subscribe(from, generation);
    t.false(s.messages().some((m) => m.type === "resync"), `from ${from}, generation ${generation}`);
    t.deepEqual(seqs(s), range(from, 12));
  }
  t.deepEqual(subscribe(5, 7).messages().slice(1), [{ v: 1, type: "error", message: "run.subscribe's generation must be a string", run: "r" }]);
});

test("close() closes every page with 1001 and stops listening to the store", async (t) => {
  const { store, hub, connect } = setup();
  const a = connect();
  const b = connect();
  await hub.close();
  t.is(a.closeCode, 1001);
  t.is(b.closeCode, 1001);
  t.is(hub.size, 0);
  t.is(store.listenerCount, 0);
  const late = connect();
  t.is(late.closeCode, 1001, "a page arriving while closing is turned away");
});

test("a run the store removes and indexes again (its run log was rewritten): resync from 0, the new events, the list again", (t) => {
  const { store, connect } = setup();
  store.add("r", 8);
  const s = connect();
  s.say({ v: 1, type: "runs.subscribe" });
  s.say({ v: 1, type: "run.subscribe", run: "r", from: 0 });
  const before = s.sent.length;
  store.replace("r", 12);
  const after = s.messages().slice(before);
  t.deepEqual(after[0], { v: 1, type: "resync", run: "r", from: 0, reason: "replaced" });
  t.is(after[1].type, "runs", "list subscribers get the whole list again");
  const again = after.filter((m): m is EventsMessage => m.type === "events");
  t.deepEqual(again.map((m) => [m.from, m.events.length]), [[0, 10], [10, 2]]);
});

// ---- over real sockets: a page that completes the handshake and then does not read ----

async function startFlood(t: ExecutionContext, highWaterBytes: number): Promise<Dashboard> {
  const runsDir = mkdtempSync(join(tmpdir(), "cardloop-hub-"));
  const d = await startDashboard({ port: 0, runsDir, token: TOKEN, assets: new Map(), hub: { highWaterBytes, recheckMs: 10 } });
  t.teardown(async () => {
    await d.close();
    rmSync(runsDir, { recursive: true, force: true });
  });
  return d;
}

const TOKEN = "hub-test-token-" + "x".repeat(30);
const ev = (i: number, pad: number) => ({ type: "test.tick", seq: i, time: "2026-01-01T00:00:00.000Z", data: { i, pad: "p".repeat(pad) } });
const batch = (from: number, n: number, pad: number) => ({ v: 1, from, events: Array.from({ length: n }, (_, k) => ev(from + k, pad)) });
const publish = (d: Dashboard, id: string, body: unknown) =>
  fetch(`${d.url}api/v1/runs/${id}/events`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` }, body: JSON.stringify(body) });

/** A websocket client written by hand: it completes the handshake and then reads only when told to. */
async function rawClient(d: Dashboard) {
  const socket: Socket = netConnect(d.port, "127.0.0.1");
  socket.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${d.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  let buf = Buffer.alloc(0);
  await new Promise<void>((resolve, reject) => {
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      socket.off("data", onData);
      socket.pause();
      if (!buf.subarray(0, end).toString().startsWith("HTTP/1.1 101")) reject(new Error(buf.toString()));
      buf = buf.subarray(end + 4);
      resolve();
    };
    socket.on("data", onData);
    socket.once("error", reject);
  });
  const messages: ServerMessage[] = [];
  /** Unmasked server frames; the server sends each message as one frame. */
  const parse = () => {
    for (;;) {
      if (buf.length < 2) return;
      let len = buf[1] & 0x7f;
      let at = 2;
      if (len === 126) [len, at] = buf.length < 4 ? [-1, 0] : [buf.readUInt16BE(2), 4];
      else if (len === 127) [len, at] = buf.length < 10 ? [-1, 0] : [Number(buf.readBigUInt64BE(2)), 10];
      if (len < 0 || buf.length < at + len) return;
      if ((buf[0] & 0x0f) === 1) messages.push(JSON.parse(buf.toString("utf8", at, at + len)) as ServerMessage);
      buf = buf.subarray(at + len);
    }
  };
  const say = (msg: unknown) => {
    const payload = Buffer.from(JSON.stringify(msg));
    const mask = randomBytes(4);
    const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
    socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
  };
  const read = () => {
    socket.on("data", (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      parse();
    });
    socket.resume();
  };
  return { socket, messages, say, read };
}

test("a page that never reads holds at most the high-water mark plus one message; once it reads it gets resync and every event", async (t) => {
  const highWaterBytes = 256 * 1024;
  const d = await startFlood(t, highWaterBytes);
  await publish(d, "flood", batch(0, 1, 200));
  const slow = await rawClient(d);
  t.teardown(() => slow.socket.destroy());
  slow.say({ v: 1, type: "run.subscribe", run: "flood", from: 0 });
  await until("the page's subscription", () => (d.hub.stats()[0]?.subscriptions.length === 1 ? true : undefined), 20_000, 5);
  // Publish until the hub holds the page back (the OS's socket buffers take the first few MB).
  let next = 1;
  const cap = 400_000;
  while (!d.hub.stats()[0].held && next < cap) {
    t.is((await publish(d, "flood", batch(next, 5000, 200))).status, 200);
    next += 5000;
  }
  t.true(d.hub.stats()[0].held, "the page was held back");
  // However much more the run grows, the page's share of the server's memory does not.
  for (let k = 0; k < 10; k++, next += 5000) t.is((await publish(d, "flood", batch(next, 5000, 200))).status, 200);
  const stats = d.hub.stats()[0];
  t.true(stats.held, "the page is still held back");
  const line = Buffer.byteLength(JSON.stringify(ev(next, 200)));
  const message = LIMITS.eventsPerMessage * (line + 1) + 200;
  const bound = highWaterBytes + message + 4096; // plus the small messages (hello, run, resync)
  t.true(stats.peakQueuedBytes <= bound, `in flight ${stats.peakQueuedBytes} <= ${bound}`);
  t.true(next * line > 10 * bound, "the run is many times what the page has in flight");
  t.true(stats.subscriptions[0].next < next, "its cursor waits behind the run's end");
  slow.read();
  const seqs = () => slow.messages.flatMap((m) => (m.type === "events" ? m.events.map((e) => (e as { data: { i: number } }).data.i) : []));
  await until(`all ${next} events on the page`, () => (seqs().length >= next ? true : undefined), 60_000, 10);
  t.deepEqual(seqs(), range(0, next), "no gap, no repeat");
  const resyncs = slow.messages.filter((m) => m.type === "resync");
  t.true(resyncs.length >= 1);
  const first = resyncs[0];
  t.is(first.type === "resync" ? first.reason : undefined, "slow");
  const at = slow.messages.indexOf(first);
  const before = slow.messages.slice(0, at).filter((m) => m.type === "events");
  const sentBefore = before.reduce((n, m) => n + (m.type === "events" ? m.events.length : 0), 0);
  t.is(first.type === "resync" ? first.from : -1, sentBefore, "resync names the cursor the stream resumes from");
});
