/**
 * A driver's events, streamed live to a dashboard (`--dashboard URL`).
 *
 * The run comes first: `write` is synchronous and cheap (it queues the event's
 * JSON and returns), the network is touched only from the event loop, one
 * request at a time, and a dashboard that is down, slow or refusing never fails
 * or slows the run. It gets one warning line on stderr; events wait in a
 * bounded queue (the oldest dropped beyond it, counted) and are retried, so a
 * dashboard restarted mid-run still gets every event that was still queued.
 * The run log is the record; what the dashboard misses, the run log has.
 * A refusal that will not change (a wrong token, a run id the dashboard will
 * not take) stops publishing. An idle publisher sends an empty batch now and
 * then: the dashboard finishes a run whose publisher went silent.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Agent } from "undici";
import { SystemClock, UsageError, errorMessage, type AnyEvent, type Clock, type EventBus } from "../core/index.js";
import { LIMITS, PROTOCOL_VERSION, PUBLISHED_RUN_ID, parseDashboardUrl, runPageHash } from "./protocol.js";

/** undici, loaded at the first request: a command that only parses its --dashboard option does not pay for it. */
let undici: Promise<typeof import("undici")> | undefined;

export interface PublisherOptions {
  /** The dashboard's base URL, e.g. http://127.0.0.1:8450/ */
  url: string;
  token?: string;
  /** The run's kind ("scenario", "certify", ...): the first part of the run id. */
  kind: string;
  /** Absolute path of the run log the driver writes, sent as the run's origin. */
  runLog?: string;
  /** Wall clock for the run id (SystemClock by default). */
  clock?: Clock;
  /** Where the one warning goes (default: a line on process.stderr). */
  warn?: (line: string) => void;
  /** Events held while the dashboard does not take them (default 100,000); beyond, the oldest are dropped (a gap). */
  maxQueuedEvents?: number;
  /** Pause before trying a dashboard that was down again (default 1000 ms). */
  retryMs?: number;
  /** One request's whole life (default 5000 ms); then it counts as the dashboard being down. */
  requestTimeoutMs?: number;
  /** Nothing sent for this long: an empty batch says the run is alive (default 10,000 ms; the dashboard gives up on a run silent for 30 s). */
  keepAliveMs?: number;
}

export interface PublisherResult {
  /** Events the dashboard confirmed it holds. */
  sent: number;
  /** Events it will never get from this publisher: the run log has them. */
  dropped: number;
}

interface Queued {
  /** Position in the run log (the order events were written), what a batch's `from` counts. */
  pos: number;
  json: string;
  bytes: number;
}

/** A FIFO of queued events with O(1) push and shift; a batch that was not delivered goes back in front. */
class EventQueue {
  private items: (Queued | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(q: Queued): void {
    this.items.push(q);
  }

  peek(): Queued | undefined {
    return this.items[this.head];
  }

  shift(): Queued | undefined {
    if (this.head >= this.items.length) return undefined;
    const q = this.items[this.head];
    this.items[this.head++] = undefined;
    // Reclaim the consumed front now and then, so a long run does not keep it.
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return q;
  }

  /** O(queue) but only after a failed or partial delivery, at most once per request. */
  putBack(batch: readonly Queued[]): void {
    if (batch.length === 0) return;
    this.items = [...batch, ...this.items.slice(this.head)];
    this.head = 0;
  }

  clear(): number {
    const n = this.length;
    this.items = [];
    this.head = 0;
    return n;
  }
}

type Warning = "unreachable" | "refused" | "token" | "batch";

const DEFAULT_CLOSE_MS = 3_000;

export class DashboardPublisher {
  /** The run's id on the dashboard: `${kind}-${YYYYMMDD}T${HHMMSS}-${8 hex}`. */
  readonly id: string;
  /** The run's page on the dashboard. */
  readonly url: string;

  private readonly base: string;
  private readonly endpoint: string;
  private readonly token?: string;
  private readonly origin: { host: string; runLog?: string };
  private readonly warnLine: (line: string) => void;
  private readonly maxQueued: number;
  private readonly retryMs: number;
  private readonly requestMs: number;
  private readonly keepAliveMs: number;
  private agent?: Agent;

  private readonly queue = new EventQueue();
  private readonly warned = new Set<Warning>();
  /** Run-log position the next write gets. */
  private nextPos = 0;
  private sent = 0;
  private dropped = 0;
  /** The batch on the wire; its events are out of the queue until the answer says where they stand. */
  private inFlight?: Queued[];
  private scheduled = false;
  private retryTimer?: NodeJS.Timeout;
  /** Armed while idle (nothing queued, nothing on the wire); unref'd: it never keeps a finished driver alive. */
  private keepAliveTimer?: NodeJS.Timeout;
  /** The keep-alive fired: the next request goes even with nothing queued. */
  private keepAliveDue = false;
  /** The last request failed and none has succeeded since. */
  private down = false;
  /** ... and it failed by running out of time: another try would too. */
  private timedOut = false;
  /** A connection reset right after the dashboard answered was tried again at once (a kept-alive socket the server had closed). */
  private resetRetried = false;
  /** Refused for good (401, 409, ...), or close() is done: nothing more is sent. */
  private stopped = false;
  private closing = false;
  /** close() is done waiting: answers still on the way change nothing. */
  private abandoned = false;
  private finalDelivered = false;
  /** Wakes close() when there is nothing more to wait for. */
  private settled?: () => void;
  private closed?: Promise<PublisherResult>;

  constructor(opts: PublisherOptions) {
    // The dashboard's origin (what every message shows): never the URL given, which may hold a password.
    const parsed = parseDashboardUrl(opts.url, "the dashboard URL");
    if ("error" in parsed) throw new UsageError(parsed.error);
    this.base = parsed.url;
    this.id = runId(opts.kind, (opts.clock ?? new SystemClock()).now());
    this.url = `${this.base}${runPageHash(this.id)}`;
    this.endpoint = `${this.base}api/v1/runs/${this.id}/events`;
    this.token = opts.token || undefined;
    this.origin = { host: hostname(), ...(opts.runLog ? { runLog: opts.runLog } : {}) };
    this.warnLine = opts.warn ?? ((line) => process.stderr.write(`${line}\n`));
    this.maxQueued = Math.max(1, opts.maxQueuedEvents ?? 100_000);
    this.retryMs = Math.max(1, opts.retryMs ?? 1_000);
    this.requestMs = Math.max(1, opts.requestTimeoutMs ?? 5_000);
    this.keepAliveMs = Math.max(1, opts.keepAliveMs ?? 10_000);
  }

  /** Queues one event for the dashboard. Synchronous, never throws, never waits for the network. */
  write(event: AnyEvent): void {
    const pos = this.nextPos++;
    if (this.stopped || this.closing) {
      this.dropped++;
      return;
    }
    try {
      const json = JSON.stringify(event);
      this.queue.push({ pos, json, bytes: Buffer.byteLength(json) });
    } catch {
      // The run log's own writer would have failed on it first; here it is a gap.
      this.dropped++;
      return;
    }
    this.trim();
    this.schedule();
  }

  /** Publishes every event the bus emits from now on. */
  attach(bus: EventBus): this {
    bus.on((e) => this.write(e));
    return this;
  }

  /**
   * Sends what is queued, the last batch marked final, and waits for it at
   * most `timeoutMs`; not at all when the dashboard is known down or refused
   * the token. Never rejects. What was not delivered is counted as dropped.
   */
  close(timeoutMs = DEFAULT_CLOSE_MS): Promise<PublisherResult> {
    this.closed ??= this.closeOnce(timeoutMs);
    return this.closed;
  }

  private async closeOnce(timeoutMs: number): Promise<PublisherResult> {
    this.closing = true;
    this.stopKeepAlive();
    // A run that wrote nothing (it stopped on its input) leaves no empty run on the dashboard.
    if (this.nextPos === 0) this.finalDelivered = true;
    // Known down (no try on the way, or the last one timed out): no wait at all. A try on the
    // way after a quick failure (refused, 5xx) is waited for: a restarted dashboard answers it at once.
    if (!this.stopped && !(this.down && (!this.inFlight || this.timedOut))) {
      let timer: NodeJS.Timeout | undefined;
      const settled = new Promise<void>((resolve) => (this.settled = resolve));
      const expired = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, timeoutMs))));
      this.pump();
      await Promise.race([settled, expired]);
      clearTimeout(timer);
    }
    this.stopped = true;
    this.abandoned = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    // Not confirmed by the dashboard: it may have them, the run log surely does.
    this.dropped += this.queue.clear() + (this.inFlight?.length ?? 0);
    this.inFlight = undefined;
    this.agent?.destroy().catch(() => undefined);
    return { sent: this.sent, dropped: this.dropped };
  }

  /** Beyond the bound the oldest queued events go: the next batch's `from` jumps, and the dashboard counts the gap. */
  private trim(): void {
    while (this.queue.length > this.maxQueued) {
      this.queue.shift();
      this.dropped++;
    }
  }

  /** The next tick, so the writes of one synchronous stretch of the run go in one request. */
  private schedule(): void {
    if (this.scheduled || this.inFlight || this.retryTimer || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    }).unref();
  }

  private pump(): void {
    if (this.inFlight || this.retryTimer || this.stopped) return;
    if (this.queue.length === 0 && !this.keepAliveDue && !(this.closing && !this.finalDelivered)) {
      if (this.closing) this.settled?.();
      else this.idle();
      return;
    }
    this.keepAliveDue = false;
    this.stopKeepAlive();
    const batch = this.take();
    const from = batch.length > 0 ? batch[0].pos : this.nextPos;
    const final = this.closing && this.queue.length === 0;
    this.inFlight = batch;
    this.deliver(batch, from, final)
      .catch(() => undefined)
      .finally(() => {
        if (this.abandoned) return; // close() gave up on this request and counted it
        this.inFlight = undefined;
        if (this.stopped || (this.closing && (this.down || (this.finalDelivered && this.queue.length === 0)))) this.settled?.();
        else this.pump();
      });
  }

  /** Nothing to send: in keepAliveMs, unless something is sent before, an empty batch says the run goes on. */
  private idle(): void {
    if (this.keepAliveTimer || this.nextPos === 0) return;
    this.keepAliveTimer = setTimeout(() => {
      this.keepAliveTimer = undefined;
      if (this.inFlight || this.retryTimer || this.stopped || this.closing) return;
      this.keepAliveDue = true;
      this.pump();
    }, this.keepAliveMs).unref();
  }

  private stopKeepAlive(): void {
    clearTimeout(this.keepAliveTimer);
    this.keepAliveTimer = undefined;
  }

  /** Consecutive queued events from the front, within the batch's count and about half its byte limit. */
  private take(): Queued[] {
    const batch: Queued[] = [];
    let bytes = 0;
    for (let q = this.queue.peek(); q !== undefined; q = this.queue.peek()) {
      if (batch.length > 0) {
        if (batch.length >= LIMITS.publishBatchEvents) break;
        if (bytes + q.bytes + 1 > LIMITS.publishBodyBytes / 2) break;
        if (q.pos !== batch[batch.length - 1].pos + 1) break; // a gap: the next batch's `from` says so
      }
      batch.push(this.queue.shift()!);
      bytes += q.bytes + 1;
    }
    return batch;
  }

  private async deliver(batch: Queued[], from: number, final: boolean): Promise<void> {
    const body =
      `{"v":${PROTOCOL_VERSION},"from":${from},"events":[${batch.map((q) => q.json).join(",")}]` +
      `${final ? ',"final":true' : ""},"origin":${JSON.stringify(this.origin)}}`;
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let status: number;
    let text: string;
    try {
      const { Agent, request } = await (undici ??= import("undici"));
      if (this.abandoned) return;
      this.agent ??= new Agent({ keepAliveTimeout: 10_000, connect: { timeout: this.requestMs } });
      const res = await request(this.endpoint, {
        dispatcher: this.agent,
        method: "POST",
        headers,
        body,
        headersTimeout: this.requestMs,
        bodyTimeout: this.requestMs,
        signal: AbortSignal.timeout(this.requestMs),
      });
      status = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      if (this.abandoned) return;
      const why = describeFailure(err);
      if (!this.down && !this.resetRetried && (why === "ECONNRESET" || why === "connection reset" || why === "EPIPE")) {
        // The server may have closed an idle kept-alive socket as this request went out: no warning yet, one more try now.
        this.resetRetried = true;
        this.queue.putBack(batch);
        return;
      }
      this.timedOut = why === "timeout";
      this.unavailable(batch, "unreachable", `unreachable (${why})`);
      return;
    }
    if (this.abandoned) return;
    this.timedOut = false;
    this.resetRetried = false;
    if (status >= 200 && status < 300) this.delivered(batch, from, final, text);
    else if (status === 400 || status === 413) this.batchRefused(batch, status, text);
    else if (status >= 500 || status === 408 || status === 429) this.unavailable(batch, "unreachable", `unreachable (HTTP ${status})`);
    else if (status === 401) this.refusedForGood(batch, "token", "refused the publish token (401): give --dashboard-token or CARDLOOP_DASHBOARD_TOKEN");
    // 404, 405, 409 (a file run's id), 421, a redirect: asking again will not change the answer.
    else this.refusedForGood(batch, "refused", `refused the run (HTTP ${status}${reasonOf(text)}): publishing stopped`);
  }

  /** The answer's `next` is what the dashboard holds: below it, delivered (a resend's overlap included); from it on, sent again. */
  private delivered(batch: Queued[], from: number, final: boolean, text: string): void {
    this.down = false;
    let next = from + batch.length;
    try {
      const answer = JSON.parse(text) as { next?: unknown };
      if (typeof answer.next === "number" && Number.isInteger(answer.next)) next = answer.next;
    } catch {
      // no readable answer: a 2xx says the batch was taken
    }
    if (batch.length > 0 && next <= from) {
      // The dashboard did not move: sending the same batch again would loop.
      this.dropped += batch.length;
    } else {
      const rest = batch.filter((q) => q.pos >= next);
      this.sent += batch.length - rest.length;
      this.queue.putBack(rest);
      // Queued events the dashboard already holds (a resend overlap beyond this batch) are not sent again.
      for (let q = this.queue.peek(); q !== undefined && q.pos < next; q = this.queue.peek()) {
        this.queue.shift();
        this.sent++;
      }
    }
    if (final && this.queue.length === 0) this.finalDelivered = true;
  }

  /** Down, slow or refusing for now: the batch waits in front of the queue, and another try follows. */
  private unavailable(batch: Queued[], kind: Warning, what: string): void {
    this.queue.putBack(batch);
    this.trim();
    this.down = true;
    this.warnOnce(kind, `cardloop: dashboard ${this.base} ${what}: events are not shown there; the run log is complete`);
    if (this.closing) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.pump();
    }, this.retryMs).unref();
  }

  /** A wrong token, or a dashboard that will not take this run, does not change its mind during a run: stop publishing. */
  private refusedForGood(batch: Queued[], kind: Warning, what: string): void {
    this.stopped = true;
    this.stopKeepAlive();
    this.dropped += batch.length + this.queue.clear();
    this.warnOnce(kind, `cardloop: dashboard ${this.base} ${what}; events are not shown there; the run log is complete`);
  }

  /** This batch will never be taken (too big, or an event it cannot read): drop it and go on with the next. */
  private batchRefused(batch: Queued[], status: number, text: string): void {
    this.down = false;
    this.dropped += batch.length;
    this.warnOnce(
      "batch",
      `cardloop: dashboard ${this.base} refused ${batch.length} events (HTTP ${status}${reasonOf(text)}): they are not shown there; the run log is complete`,
    );
  }

  private warnOnce(kind: Warning, line: string): void {
    if (this.warned.has(kind)) return;
    this.warned.add(kind);
    // The token never reaches a message, whatever a server or an error echoed.
    const safe = this.token ? line.split(this.token).join("***") : line;
    try {
      this.warnLine(safe.replace(/[\r\n]+/g, " "));
    } catch {
      // a warning that cannot be written is not the run's problem
    }
  }
}

/** `${kind}-${YYYYMMDD}T${HHMMSS}-${8 hex}` in UTC: sorts by start, unique by its random part. */
export function runId(kind: string, at: Date): string {
  const safeKind = kind.replace(/[^A-Za-z0-9._-]/g, "-").replace(/^[^A-Za-z0-9]+/, "").slice(0, 64) || "run";
  const iso = at.toISOString();
  const id = `${safeKind}-${iso.slice(0, 10).replace(/-/g, "")}T${iso.slice(11, 19).replace(/:/g, "")}-${randomBytes(4).toString("hex")}`;
  if (!PUBLISHED_RUN_ID.test(id)) throw new UsageError(`not a usable run id: ${id}`);
  return id;
}

/** Why a request failed, in a word: the error code (ECONNREFUSED, ECONNRESET, ...) or "timeout". */
function describeFailure(err: unknown): string {
  const e = err as { code?: unknown; name?: unknown } | undefined;
  const code = typeof e?.code === "string" ? e.code : undefined;
  if (e?.name === "TimeoutError" || code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT" || code === "UND_ERR_CONNECT_TIMEOUT") return "timeout";
  if (code === "UND_ERR_SOCKET") return "connection reset";
  return code ?? (errorMessage(err).split("\n")[0].slice(0, 100) || "error");
}

/** The server's `{ "error": reason }`, short, for a warning. */
function reasonOf(text: string): string {
  try {
    const reason = (JSON.parse(text) as { error?: unknown }).error;
    return typeof reason === "string" && reason ? `: ${reason.slice(0, 120)}` : "";
  } catch {
    return "";
  }
}
