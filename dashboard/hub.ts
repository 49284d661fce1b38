import type { RawData, WebSocket } from "ws";
import { isRecord } from "../core/index.js";
import { LIMITS, PROTOCOL_VERSION, STALLED_CLOSE_CODE, type RunSummary } from "./protocol.js";

/**
 * The websocket side of the dashboard: who is connected, what each page
 * subscribed to, and a cursor per (page, run) that the pump moves forward
 * from the store's lines. Nothing is queued per page beyond what the socket
 * buffers: a page above the high-water mark is sent nothing (its cursors stay
 * where they are) until it drains, then gets `resync` and continues from its
 * cursors; one that stays above it for `stalledMs` is closed (STALLED_CLOSE_CODE).
 * So a page that never reads costs at most the high-water mark plus one message.
 *
 * Every `events` message is built once per (run, from, to) and the same
 * Buffer is handed to every page at that cursor (chunks are aligned to
 * multiples of eventsPerMessage, so pages catching up share them too).
 */

/** What the hub reads of the RunStore. */
export interface HubStore {
  list(): RunSummary[];
  get(id: string): RunSummary | undefined;
  count(id: string): number;
  lines(id: string, from: number, limit: number): string[];
  onChange(listener: (run: RunSummary) => void): () => void;
  /** A run left the index (a run log rewritten from the start comes back at once under the same id). */
  onRemove?(listener: (id: string) => void): () => void;
}

export interface HubOptions {
  /** The cardloop version `hello` names. */
  version: string;
  /** LIMITS' by default; tests and the bench make them small. */
  highWaterBytes?: number;
  stalledMs?: number;
  eventsPerMessage?: number;
  /** Least time between two `run` upserts of one run (default 250; the last change is always sent). */
  upsertMs?: number;
  /** How often a page above the high-water mark is looked at again (default 20). */
  recheckMs?: number;
}

/** Bytes of built `events` messages kept for pages reaching the same cursor a little later. */
const MESSAGE_CACHE_BYTES = 16 * 1024 * 1024;

/**
 * The hub's own accounting of one page, for tests and the bench: bytes handed
 * to its socket and not yet written out to the OS (and the most that ever
 * was), whether it is held (above the high-water mark), its cursors.
 */
export interface ClientStats {
  id: number;
  queuedBytes: number;
  peakQueuedBytes: number;
  held: boolean;
  subscriptions: Array<{ run: string; next: number }>;
}

/** Close code for a page that stayed above the high-water mark for stalledMs (protocol.ts: the page reads it too). */

interface Subscription {
  run: string;
  /** The next sequence number this page gets. */
  next: number;
  /** Events were held back ("slow") or the run was replaced: say `resync` with this reason before the next `events`. */
  resync?: "slow" | "replaced";
}

interface Client {
  id: number;
  ws: WebSocket;
  subs: Map<string, Subscription>;
  listsRuns: boolean;
  owesRunsList: boolean;
  /** Runs whose summary this page is owed (a subscribe or a throttled upsert). */
  pendingRuns: Set<string>;
  queuedBytes: number;
  peakQueuedBytes: number;
  /** When the page was first seen above the high-water mark, while it stays there. */
  overSince?: number;
  /** Paused until the socket has written out what this page was sent (see pump). */
  awaitingWrites: boolean;
  closed: boolean;
}

export class Hub {
  private readonly clients = new Map<WebSocket, Client>();
  private readonly subscribers = new Map<string, Set<Client>>();
  private readonly held = new Set<Client>();
  private readonly upserts = new Map<string, { lastSentMs: number; timer?: NodeJS.Timeout }>();
  private readonly runBuffers = new Map<string, Buffer>();
  private runsBuffer?: Buffer;
  private readonly messages = new MessageCache(MESSAGE_CACHE_BYTES);
  private readonly highWater: number;
  private readonly perMessage: number;
  private readonly hello: Buffer;
  private readonly unlisten: Array<() => void>;
  private recheck?: NodeJS.Timeout;
  private nextId = 1;
  private closing = false;

  constructor(
    private readonly store: HubStore,
    private readonly opts: HubOptions,
  ) {
    this.highWater = opts.highWaterBytes ?? LIMITS.highWaterBytes;
    this.perMessage = opts.eventsPerMessage ?? LIMITS.eventsPerMessage;
    this.hello = json({ v: PROTOCOL_VERSION, type: "hello", version: opts.version, protocol: PROTOCOL_VERSION });
    this.unlisten = [store.onChange((run) => this.changed(run.id)), store.onRemove?.((id) => this.removed(id)) ?? (() => undefined)];
  }

  /** Takes a freshly upgraded socket: greets it and serves its messages until it closes. */
  attach(ws: WebSocket): void {
    if (this.closing) return ws.close(1001, "server shutting down");
    const c: Client = { id: this.nextId++, ws, subs: new Map(), listsRuns: false, owesRunsList: false, pendingRuns: new Set(), queuedBytes: 0, peakQueuedBytes: 0, awaitingWrites: false, closed: false };
    this.clients.set(ws, c);
    // A protocol error (an oversized or malformed frame) is answered by ws closing the socket; it must not crash the server.
    ws.on("error", () => undefined);
    ws.on("close", () => this.detach(c));
    ws.on("message", (data, isBinary) => this.received(c, data, isBinary));
    this.send(c, this.hello);
  }

  /** Pages connected. */
  get size(): number {
    return this.clients.size;
  }

  stats(): ClientStats[] {
    return [...this.clients.values()].map((c) => {
      const subscriptions = [...c.subs.values()].map((s) => ({ run: s.run, next: s.next }));
      return { id: c.id, queuedBytes: c.queuedBytes, peakQueuedBytes: c.peakQueuedBytes, held: c.overSince !== undefined, subscriptions };
    });
  }

  /** Closes every page with `code` (1001: going away); those that do not answer within graceMs are cut off. */
  async close(code = 1001, graceMs = 1000): Promise<void> {
    this.closing = true;
    for (const stop of this.unlisten) stop();
    this.stopRecheck();
    for (const u of this.upserts.values()) clearTimeout(u.timer);
    this.upserts.clear();
    const sockets = [...this.clients.keys()];
    const closed = sockets.map((ws) => new Promise<void>((resolve) => (ws.readyState === ws.CLOSED ? resolve() : ws.once("close", () => resolve()))));
    for (const ws of sockets) ws.close(code, "server shutting down");
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(closed), new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    for (const ws of sockets) if (ws.readyState !== ws.CLOSED) ws.terminate();
    await Promise.all(closed);
  }

  private received(c: Client, data: RawData, isBinary: boolean): void {
    if (isBinary) return this.error(c, "messages are JSON text");
    let msg: unknown;
    try {
      msg = JSON.parse((data as Buffer).toString("utf8")); // a Buffer: ws's default binaryType, fragments joined
    } catch {
      return this.error(c, "a message must be JSON");
    }
    if (!isRecord(msg)) return this.error(c, "a message must be a JSON object");
    if (msg.v !== PROTOCOL_VERSION) return this.error(c, `unsupported protocol version (this server speaks ${PROTOCOL_VERSION})`);
    switch (msg.type) {
      case "runs.subscribe":
        c.listsRuns = true;
        c.owesRunsList = true;
        return this.pump(c);
      case "run.subscribe": {
        const { run, from, generation } = msg;
        if (typeof run !== "string") return this.error(c, "run.subscribe needs a run id (string)");
        if (typeof from !== "number" || !Number.isSafeInteger(from) || from < 0) return this.error(c, "run.subscribe needs from: a whole number from 0", run);
        if (generation !== undefined && typeof generation !== "string") return this.error(c, "run.subscribe's generation must be a string", run);
        const summary = this.store.get(run);
        if (!summary) return this.error(c, "unknown run", run);
        // The page holds events of another copy of the run (its log was rewritten while the page was away), or more than the run has: it starts again from 0.
        const replaced = from > 0 && ((generation !== undefined && generation !== summary.generation) || from > this.store.count(run));
        return this.subscribe(c, run, replaced ? undefined : from);
      }
      case "run.unsubscribe":
        if (typeof msg.run !== "string") return this.error(c, "run.unsubscribe needs a run id (string)");
        return this.unsubscribe(c, msg.run);
      default:
        return this.error(c, `unknown message type ${JSON.stringify(String(msg.type)).slice(0, 80)}`);
    }
  }

  /** `from` undefined: what the page holds is not this run's; it is told so (resync "replaced") and starts from 0. */
  private subscribe(c: Client, run: string, from: number | undefined): void {
    c.subs.set(run, { run, next: from ?? 0, resync: from === undefined ? "replaced" : undefined });
    let set = this.subscribers.get(run);
    if (!set) this.subscribers.set(run, (set = new Set()));
    set.add(c);
    c.pendingRuns.add(run);
    this.pump(c);
  }

  private unsubscribe(c: Client, run: string): void {
    c.subs.delete(run);
    c.pendingRuns.delete(run);
    const set = this.subscribers.get(run);
    set?.delete(c);
    if (set?.size === 0) this.subscribers.delete(run);
  }

  /** An answer to a bad message; dropped for a page above the high-water mark (it must not grow the queue). */
  private error(c: Client, message: string, run?: string): void {
    if (this.isOver(c)) return this.hold(c);
    this.send(c, json({ v: PROTOCOL_VERSION, type: "error", message, ...(run === undefined ? {} : { run }) }));
  }

  private detach(c: Client): void {
    c.closed = true;
    this.clients.delete(c.ws);
    this.held.delete(c);
    for (const run of c.subs.keys()) this.unsubscribe(c, run);
    if (this.held.size === 0) this.stopRecheck();
  }

  private changed(run: string): void {
    this.runBuffers.delete(run);
    this.runsBuffer = undefined;
    const set = this.subscribers.get(run);
    if (set) for (const c of set) this.pump(c);
    this.scheduleUpsert(run);
  }

  /**
   * The run's events are no longer what pages were sent: its subscribers start
   * it again from 0 (after resync) when it comes back, and run lists are sent
   * whole again (the protocol has no "removed" message; the list is the truth).
   */
  private removed(run: string): void {
    this.messages.forget(run);
    this.runBuffers.delete(run);
    this.runsBuffer = undefined;
    for (const c of this.subscribers.get(run) ?? []) {
      const sub = c.subs.get(run)!;
      sub.next = 0;
      sub.resync = "replaced";
    }
    for (const c of this.clients.values()) {
      c.owesRunsList ||= c.listsRuns;
      if (c.listsRuns) this.pump(c);
    }
  }

  /** At most one `run` upsert per run per upsertMs; a change inside the window is sent when it ends. */
  private scheduleUpsert(run: string): void {
    let u = this.upserts.get(run);
    if (!u) this.upserts.set(run, (u = { lastSentMs: -Infinity }));
    if (u.timer) return;
    const wait = u.lastSentMs + (this.opts.upsertMs ?? 250) - Date.now();
    if (wait <= 0) return this.upsert(run, u);
    const state = u;
    u.timer = setTimeout(() => {
      state.timer = undefined;
      this.upsert(run, state);
    }, wait);
    u.timer.unref();
  }

  private upsert(run: string, u: { lastSentMs: number }): void {
    u.lastSentMs = Date.now();
    for (const c of this.clients.values()) {
      if (!c.listsRuns && !c.subs.has(run)) continue;
      c.pendingRuns.add(run);
      this.pump(c);
    }
  }

  /**
   * Sends a page what it is owed, in order, until it is caught up or above the
   * high-water mark. Two marks: the socket's bufferedAmount (the page is not
   * reading: hold it, resync later) and the hub's own count of bytes sent and
   * not yet written out (flow control within one tick, where the OS takes
   * writes at once but their callbacks come later: pause until they do). So
   * what a page has in flight is at most the high-water mark plus one message.
   */
  private pump(c: Client): void {
    if (c.closed || this.closing || this.blocked(c)) return;
    if (c.overSince !== undefined) {
      c.overSince = undefined;
      this.held.delete(c);
      if (this.held.size === 0) this.stopRecheck();
    }
    // First, the runs whose events were held back: the page learns it fell behind and where the stream resumes.
    for (const sub of c.subs.values()) {
      const reason = sub.resync;
      if (!reason) continue;
      sub.resync = undefined;
      this.send(c, json({ v: PROTOCOL_VERSION, type: "resync", run: sub.run, from: sub.next, reason }));
    }
    if (c.owesRunsList) {
      c.owesRunsList = false;
      this.send(c, this.runsMessage());
    }
    for (const run of c.pendingRuns) {
      if (this.blocked(c)) return;
      c.pendingRuns.delete(run);
      const msg = this.runMessage(run);
      if (msg) this.send(c, msg);
    }
    for (const sub of c.subs.values()) {
      const count = this.store.count(sub.run);
      if (count < sub.next) {
        // The run shrank (its file was replaced): the page starts it again.
        this.messages.forget(sub.run);
        sub.next = 0;
        sub.resync = "replaced";
        return this.pump(c);
      }
      while (sub.next < count) {
        if (this.blocked(c)) return;
        const msg = this.eventsMessage(sub.run, sub.next, count);
        if (!msg) break;
        this.send(c, msg.buffer);
        sub.next = msg.to;
      }
    }
  }

  private isOver(c: Client): boolean {
    return c.ws.bufferedAmount > this.highWater;
  }

  /**
   * Whether nothing more may be sent to the page now: it is above the
   * high-water mark (held), or it has a high-water mark's worth in flight
   * (its pump resumes from the send callbacks).
   */
  private blocked(c: Client): boolean {
    if (this.isOver(c)) {
      this.hold(c);
      return true;
    }
    c.awaitingWrites = c.queuedBytes > this.highWater;
    return c.awaitingWrites;
  }

  /** The page is above the high-water mark: note since when, what it is missing, and look again on a timer. */
  private hold(c: Client): void {
    const now = Date.now();
    c.overSince ??= now;
    for (const sub of c.subs.values()) if (sub.next < this.store.count(sub.run)) sub.resync ??= "slow";
    if (now - c.overSince >= (this.opts.stalledMs ?? LIMITS.stalledMs)) return this.stalled(c);
    this.held.add(c);
    if (!this.recheck) {
      this.recheck = setInterval(() => {
        for (const h of [...this.held]) this.pump(h);
      }, this.opts.recheckMs ?? 20);
      this.recheck.unref();
    }
  }

  private stalled(c: Client): void {
    this.detach(c);
    c.ws.close(STALLED_CLOSE_CODE, "stalled: not reading");
    // Its close frame waits behind what it does not read: cut it off soon rather than after ws's 30 s.
    setTimeout(() => c.ws.terminate(), 1000).unref();
  }

  private stopRecheck(): void {
    clearInterval(this.recheck);
    this.recheck = undefined;
  }

  private send(c: Client, buf: Buffer): void {
    const n = buf.length;
    c.queuedBytes += n;
    if (c.queuedBytes > c.peakQueuedBytes) c.peakQueuedBytes = c.queuedBytes;
    c.ws.send(buf, { binary: false }, () => {
      c.queuedBytes -= n;
      if (c.awaitingWrites && c.queuedBytes <= this.highWater) {
        c.awaitingWrites = false;
        this.pump(c);
      }
    });
  }

  private runsMessage(): Buffer {
    return (this.runsBuffer ??= json({ v: PROTOCOL_VERSION, type: "runs", runs: this.store.list() }));
  }

  private runMessage(id: string): Buffer | undefined {
    const cached = this.runBuffers.get(id);
    const run = cached ? undefined : this.store.get(id);
    if (run) this.runBuffers.set(id, json({ v: PROTOCOL_VERSION, type: "run", run }));
    return cached ?? this.runBuffers.get(id);
  }

  /** Events [from, to) where `to` is the next multiple of perMessage (or count): the same chunks for every page. */
  private eventsMessage(run: string, from: number, count: number): { buffer: Buffer; to: number } | undefined {
    const to = Math.min(count, (Math.floor(from / this.perMessage) + 1) * this.perMessage);
    const key = `${from}:${to}`;
    const cached = this.messages.get(run, key);
    if (cached) return { buffer: cached, to };
    const lines = this.store.lines(run, from, to - from);
    if (lines.length === 0) return undefined;
    // The store's lines are JSON already: spliced in, not parsed and stringified again.
    const buffer = Buffer.from(`{"v":${PROTOCOL_VERSION},"type":"events","run":${JSON.stringify(run)},"from":${from},"events":[${lines.join(",")}]}`);
    const end = from + lines.length;
    if (end === to) this.messages.set(run, key, buffer);
    return { buffer, to: end };
  }
}

/** Built messages by run and range ("run\0from:to"), least recently used dropped beyond a byte budget. */
class MessageCache {
  private readonly entries = new Map<string, Buffer>();
  private bytes = 0;
  constructor(private readonly maxBytes: number) {}

  get(run: string, range: string): Buffer | undefined {
    const key = `${run}\0${range}`;
    const buffer = this.entries.get(key);
    if (!buffer) return undefined;
    this.entries.delete(key); // most recently used last
    this.entries.set(key, buffer);
    return buffer;
  }

  set(run: string, range: string, buffer: Buffer): void {
    const key = `${run}\0${range}`;
    if (this.entries.has(key) || buffer.length > this.maxBytes) return;
    this.entries.set(key, buffer);
    this.bytes += buffer.length;
    for (const [old, b] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.drop(old, b);
    }
  }

  forget(run: string): void {
    for (const [key, b] of this.entries) if (key.startsWith(`${run}\0`)) this.drop(key, b);
  }

  private drop(key: string, buffer: Buffer): void {
    this.entries.delete(key);
    this.bytes -= buffer.length;
  }
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}
