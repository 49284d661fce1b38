/**
 * A stand-in dashboard for the publisher's tests: a small real HTTP server
 * that records what it gets and answers as dashboard/protocol.ts says, and
 * the helpers the publisher's unit tests (dashboard/publisher.test.ts) and
 * its drivers' tests (test/dashboard-drivers.test.ts) share.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { VirtualClock, type AnyEvent } from "../../core/index.js";
import type { PublishAnswer, PublishBatch } from "../../dashboard/protocol.js";
import { DashboardPublisher, type PublisherOptions } from "../../dashboard/publisher.js";

export const TOKEN = "s3cret-publish-token-0123456789abcdef";
/**
 * Bounds for requests and close() where the test is not about them: the
 * machine may be busy with other suites, and a 5 s request timeout or a 3 s
 * close would then turn a slow delivery into "down" (the bound is a ceiling, not a duration asserted).
 */
export const SLACK = 60_000;

/** What a test's stand-in dashboard does with one request; undefined: what the real one does. */
export type Behaviour =
  | { status: number; error?: string }
  /** Takes only the first `count` events of the batch (a dashboard that says it holds less). */
  | { partial: number }
  /** Holds the batch, then drops the connection: the answer is lost. */
  | "hold-then-destroy"
  /** Reads the request and never answers. */
  | "hang"
  | undefined;

/** The run as the stand-in dashboard holds it, kept across a restart as the real store keeps it on disk. */
export interface Held {
  events: AnyEvent[];
  /** The position it expects next (what `next` answers). */
  expected: number;
  /** Events the publisher skipped past (gaps in `from`). */
  gap: number;
  finals: number;
}

export interface Recorder {
  url: string;
  port: number;
  held: Held;
  requests: Array<{ auth?: string; batch: PublishBatch; path: string }>;
  /** The last request was answered 200. */
  lastOk: boolean;
  behave: (batch: PublishBatch, index: number) => Behaviour;
  close(): Promise<void>;
}

/**
 * A small real HTTP server that records what it gets and answers as
 * protocol.ts says (resend overlap skipped, gaps counted). On a given `port`
 * that is taken it rejects with EADDRINUSE (retryOnPortInUse, harness/processes.ts).
 */
export async function startRecorder(opts: { port?: number; held?: Held; token?: string } = {}): Promise<Recorder> {
  const rec: Recorder = {
    url: "",
    port: 0,
    held: opts.held ?? { events: [], expected: 0, gap: 0, finals: 0 },
    requests: [],
    lastOk: false,
    behave: () => undefined,
    close: async () => undefined,
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const batch = JSON.parse(Buffer.concat(chunks).toString("utf8")) as PublishBatch;
      rec.requests.push({ auth: req.headers.authorization, batch, path: req.url ?? "" });
      rec.lastOk = false;
      const answer = (status: number, body: unknown) => {
        rec.lastOk = status === 200;
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      if (opts.token !== undefined && req.headers.authorization !== `Bearer ${opts.token}`) return answer(401, { error: "publish token required" });
      const how = rec.behave(batch, rec.requests.length - 1);
      if (how === "hang") return;
      if (how !== undefined && typeof how === "object" && "status" in how) return answer(how.status, { error: how.error ?? "no" });
      const events = how !== undefined && typeof how === "object" ? batch.events.slice(0, how.partial) : batch.events;
      const h = rec.held;
      if (batch.from > h.expected) {
        h.gap += batch.from - h.expected;
        h.expected = batch.from;
      }
      const fresh = events.slice(h.expected - batch.from) as AnyEvent[];
      h.events.push(...fresh);
      h.expected += fresh.length;
      if (batch.final) h.finals++;
      if (how === "hold-then-destroy") return void res.socket?.destroy();
      answer(200, { accepted: fresh.length, next: h.expected } satisfies PublishAnswer);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  rec.port = (server.address() as AddressInfo).port;
  rec.url = `http://127.0.0.1:${rec.port}/`;
  rec.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return rec;
}

/**
 * A loopback port nothing listens on: bound and closed immediately before
 * use, and refused a moment later (or another one is tried). Nothing keeps
 * another suite from being given it between this and the test's use: that
 * rare case fails loudly, the test's assertions naming the port and what
 * answered instead of ECONNREFUSED.
 */
export async function deadPort(): Promise<number> {
  for (let tries = 1; ; tries++) {
    const s = createServer();
    await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
    const port = (s.address() as AddressInfo).port;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    if (await refused(port)) return port;
    if (tries === 10) throw new Error(`10 ports closed a moment ago were each listened on again at once`);
  }
}

/** A connection to 127.0.0.1:port is refused. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", (err: NodeJS.ErrnoException) => resolve(err.code === "ECONNREFUSED"));
  });
}

export function event(i: number): AnyEvent {
  return { type: "log.message", seq: i, time: new Date(Date.UTC(2030, 0, 1) + i).toISOString(), data: { level: "info", message: `event ${i}` } };
}

export function publisher(url: string, extra: Partial<PublisherOptions> = {}): { pub: DashboardPublisher; warnings: string[] } {
  const warnings: string[] = [];
  const pub = new DashboardPublisher({
    url,
    token: TOKEN,
    kind: "scenario",
    runLog: "/tmp/run/run.jsonl",
    clock: new VirtualClock("2030-01-02T03:04:05Z"),
    warn: (line) => warnings.push(line),
    retryMs: 10,
    requestTimeoutMs: SLACK,
    ...extra,
  });
  return { pub, warnings };
}

/** Polls until `cond` holds: waiting for the network, never asserting a duration (the bound only names a stuck wait). */
export async function until(cond: () => boolean): Promise<void> {
  const giveUp = Date.now() + 60_000;
  while (!cond()) {
    if (Date.now() > giveUp) throw new Error(`still waiting for ${cond.toString()}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export const tick = () => new Promise((resolve) => setImmediate(resolve));
