import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import express, { type NextFunction, type Request, type Response } from "express";
import { WebSocketServer } from "ws";
import { CARDLOOP_VERSION, SystemClock, nestsDeeperThan, sameSecret, type Clock } from "../core/index.js";
import { Hub, type HubOptions } from "./hub.js";
import { LIMITS, PROTOCOL_VERSION, PUBLISHED_RUN_ID } from "./protocol.js";
import { bearerToken, checkPublicUrl, hostAllowed, originAllowed, resolveToken, SECURITY_HEADERS } from "./security.js";
import { PublishError, RunStore } from "./store.js";

/**
 * The dashboard's server: one http.Server carrying the express app (page,
 * read-only JSON API, the token-guarded publish endpoint) and the websocket
 * upgrade at /ws (hub.ts). Every response, errors and 404s included, carries
 * the security headers; every limit is checked before the work it protects
 * (the token and the declared size before a byte of a publish body is read).
 */

export type PageAssets = Map<string, { body: Buffer; type: string }>;

export interface DashboardOptions {
  /** Default 8450; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  runsDir: string;
  /**
   * The environment's publish token (the CLI passes CARDLOOP_DASHBOARD_TOKEN as it is), resolved
   * by resolveToken: given and not empty, it is checked and used; else the one kept in
   * `<runsDir>/.dashboard-token`; else a new one kept there.
   */
  token?: string;
  /**
   * Where browsers reach the dashboard through a proxy (`https://cardloop.example/`): its origin
   * passes the websocket's Origin check, its host the Host check, and it is the `url` printed.
   */
  publicUrl?: string;
  clock?: Clock;
  /** The page's files by URL path; default: pageAssets() (assets.ts). */
  assets?: PageAssets;
  /** How often the runs directory is scanned for new or grown run logs (ms, default 1000). */
  rescanMs?: number;
  /** Overrides for tests and the bench: the hub's limits and timings. */
  hub?: Omit<HubOptions, "version">;
  /** Overrides for tests: a shorter publish request time limit. */
  publishRequestMs?: number;
}

export interface Dashboard {
  /** `http://127.0.0.1:8450/` (with a trailing slash), or the publicUrl. */
  url: string;
  token: string;
  port: number;
  store: RunStore;
  hub: Hub;
  close(): Promise<void>;
}

const JSON_TYPE = "application/json; charset=utf-8";

export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const host = opts.host ?? "127.0.0.1";
  const publicUrl = opts.publicUrl === undefined ? undefined : checkPublicUrl(opts.publicUrl);
  const token = resolveToken(opts.runsDir, opts.token);
  // Loaded only when needed: bundling the page takes esbuild, which a caller with its own assets does not pay for.
  const assets = opts.assets ?? (await (await import("./assets.js")).pageAssets());
  const store = await RunStore.open({ runsDir: opts.runsDir, clock: opts.clock ?? new SystemClock() });
  const hub = new Hub(store, { version: CARDLOOP_VERSION, ...opts.hub });
  const publishRequestMs = opts.publishRequestMs ?? LIMITS.publishRequestMs;
  const app = buildApp({ host, publicUrl, token, store, assets, publishRequestMs });
  const server = createServer(
    {
      headersTimeout: Math.min(10_000, publishRequestMs + 5_000),
      // A backstop behind the publish route's own time limit (which answers 408 in JSON).
      requestTimeout: publishRequestMs + 5_000,
      connectionsCheckingInterval: 1_000,
    },
    app,
  );
  const wss = new WebSocketServer({ noServer: true, maxPayload: LIMITS.clientMessageBytes, perMessageDeflate: false });
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => undefined);
    const path = (req.url ?? "").split("?")[0];
    if (path !== "/ws") return rejectUpgrade(socket, 404, "not found");
    if (!hostAllowed(req.headers.host, host, req.socket.localPort ?? -1, publicUrl)) return rejectUpgrade(socket, 421, "the Host header does not name this server");
    if (!originAllowed(req.headers.origin, req.headers.host, publicUrl)) return rejectUpgrade(socket, 403, "a page from another origin may not read the stream");
    wss.handleUpgrade(req, socket, head, (ws) => hub.attach(ws));
  });
  // Node's own answers to malformed or too slow requests would lack the security headers.
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || err.code === "ECONNRESET") return socket.destroy();
    const status = err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : err.code === "HPE_HEADER_OVERFLOW" ? 431 : 400;
    endWith(socket, rawResponse(status, status === 408 ? "the request took too long" : status === 431 ? "the request headers are too large" : "bad request"));
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts.port ?? 8450, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    await hub.close();
    await store.close();
    throw err;
  }

  let scanning: Promise<void> | undefined;
  const rescan = setInterval(() => {
    // One scan at a time: a slow disk must not pile them up.
    scanning ??= store
      .rescan()
      .catch(() => undefined)
      .finally(() => (scanning = undefined));
  }, opts.rescanMs ?? 1000);
  rescan.unref();

  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    url: publicUrl ?? `http://${urlHost(host)}:${port}/`,
    token,
    port,
    store,
    hub,
    close: () =>
      (closing ??= (async () => {
        clearInterval(rescan);
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        await hub.close(1001);
        server.closeAllConnections();
        await stopped;
        wss.close();
        await scanning;
        await store.close();
      })()),
  };
}

/** How the URL names the server: a wildcard listen address is reached on loopback from this machine. */
function urlHost(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::" || host === "[::]") return "[::1]";
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

interface AppContext {
  host: string;
  publicUrl?: string;
  token: string;
  store: RunStore;
  assets: PageAssets;
  publishRequestMs: number;
}

function buildApp(ctx: AppContext): express.Express {
  const { store, assets } = ctx;
  const app = express();
  app.disable("x-powered-by");
  app.set("query parser", "simple");

  app.use((req: Request, res: Response, next: NextFunction) => {
    res.set(SECURITY_HEADERS);
    // DNS rebinding: a foreign name resolving to this address must not reach the API (RFC 7540 9.1.2's 421).
    if (!hostAllowed(req.headers.host, ctx.host, req.socket.localPort ?? -1, ctx.publicUrl)) return refuse(req, res, 421, "the Host header does not name this server");
    next();
  });

  app.get("/api/v1/info", (_req, res) => {
    res.json({ version: CARDLOOP_VERSION, protocol: PROTOCOL_VERSION });
  });
  app.get("/api/v1/runs", (_req, res) => {
    res.json({ runs: store.list() });
  });
  app.get("/api/v1/runs/:id", (req, res) => {
    const run = store.get(String(req.params.id));
    if (!run) return refuse(req, res, 404, "unknown run");
    res.json(run);
  });
  app.get("/api/v1/runs/:id/events", (req, res) => {
    const id = String(req.params.id);
    if (!store.get(id)) return refuse(req, res, 404, "unknown run");
    const from = wholeNumber(req.query.from, 0);
    const limit = wholeNumber(req.query.limit, LIMITS.eventsPerMessage);
    if (from === undefined) return refuse(req, res, 400, "from must be a whole number from 0");
    if (limit === undefined || limit < 1) return refuse(req, res, 400, `limit must be a whole number from 1 (at most ${LIMITS.eventsPerMessage} are sent)`);
    const lines = store.lines(id, from, Math.min(limit, LIMITS.eventsPerMessage));
    // The store's lines are JSON already: spliced in rather than parsed and stringified again.
    res.type(JSON_TYPE).send(`{"run":${JSON.stringify(id)},"from":${from},"events":[${lines.join(",")}]}`);
  });
  app.post("/api/v1/runs/:id/events", (req, res, next) => {
    publish(ctx, req, res).catch(next);
  });
  app.use("/api", (req, res) => refuse(req, res, 404, "no such API endpoint"));

  app.use((req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.set("allow", "GET, HEAD");
      return refuse(req, res, 405, "the dashboard is read-only here: only GET and HEAD");
    }
    const asset = assets.get(req.path);
    if (!asset) return refuse(req, res, 404, "not found");
    res.set("content-type", asset.type).set("cache-control", "no-cache").send(asset.body);
  });

  // Last: whatever went wrong is one JSON line, never a stack trace.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = typeof err === "object" && err !== null ? (err as { status?: unknown }).status : undefined;
    if (typeof status === "number" && status >= 400 && status < 500) return refuse(req, res, status, "bad request");
    refuse(req, res, 500, "internal error");
  });
  return app;
}

/** POST /api/v1/runs/:id/events: token, id and size checked before a byte of the body is read. */
async function publish(ctx: AppContext, req: Request, res: Response): Promise<void> {
  if (!sameSecret(bearerToken(req.headers.authorization), ctx.token)) {
    res.set("www-authenticate", 'Bearer realm="cardloop dashboard"');
    return refuse(req, res, 401, "publishing needs the dashboard's token (Authorization: Bearer TOKEN)");
  }
  const id = String(req.params.id);
  if (!PUBLISHED_RUN_ID.test(id)) return refuse(req, res, 400, "bad run id: letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128");
  const declared = req.headers["content-length"];
  // Node's parser has checked it is one decimal number.
  if (declared !== undefined && Number(declared) > LIMITS.publishBodyBytes) return refuse(req, res, 413, `the body is larger than ${LIMITS.publishBodyBytes} bytes`);
  let body: Buffer;
  try {
    body = await readBody(req, LIMITS.publishBodyBytes, ctx.publishRequestMs);
  } catch (err) {
    if (err instanceof BodyError) return refuse(req, res, err.status, err.message);
    throw err;
  }
  const text = body.toString("utf8");
  // Deeper, JSON.parse or the store's walks over the events could run out of stack: a 500 the publisher would retry forever.
  if (nestsDeeperThan(text, LIMITS.publishJsonDepth)) return refuse(req, res, 400, `the body nests deeper than ${LIMITS.publishJsonDepth} levels`);
  let batch: unknown;
  try {
    batch = JSON.parse(text);
  } catch {
    return refuse(req, res, 400, "the body is not valid JSON");
  }
  try {
    res.json(ctx.store.publish(id, batch));
  } catch (err) {
    if (err instanceof PublishError) return refuse(req, res, err.status, err.message);
    // The disk's trouble (ENOSPC, EIO) may pass: a 500, tried again. Anything else would fail this batch again, every
    // time: a 400 (PublishError's), so the publisher drops it and goes on rather than retrying it for ever.
    if (typeof (err as NodeJS.ErrnoException | undefined)?.syscall === "string") throw err;
    return refuse(req, res, 400, "the dashboard cannot take this batch");
  }
}

class BodyError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The body, at most `max` bytes counted as they arrive (a chunked body
 * declares no size), within `deadlineMs` of now. On a refusal the rest is
 * left unread: the answer then closes the connection (see refuse).
 */
function readBody(req: IncomingMessage, max: number, deadlineMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (err?: BodyError) => {
      clearTimeout(timer);
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("close", onClose);
      if (!err) return resolve(Buffer.concat(chunks, size));
      req.pause();
      reject(err);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > max) return finish(new BodyError(413, `the body is larger than ${max} bytes`));
      chunks.push(c);
    };
    const onEnd = () => finish();
    const onClose = () => finish(new BodyError(400, "the body ended before its announced end"));
    const timer = setTimeout(() => finish(new BodyError(408, `the request took longer than ${deadlineMs} ms`)), deadlineMs);
    timer.unref();
    req.on("data", onData);
    req.once("end", onEnd);
    req.once("close", onClose);
    req.once("error", () => undefined); // reported through "close"
  });
}

/**
 * A JSON error answer `{ "error": reason }`. A body left unread (refused
 * before or while reading it) closes the connection after the answer, so it
 * is never kept in memory or read as the next request.
 */
function refuse(req: IncomingMessage, res: ServerResponse, status: number, reason: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (bodyPending(req)) {
    res.shouldKeepAlive = false;
    lingerAfter(req, res);
  }
  const body = JSON.stringify({ error: reason });
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
  res.writeHead(status, { "content-type": JSON_TYPE, "content-length": Buffer.byteLength(body), "cache-control": "no-store" });
  res.end(body);
}

/** How long the rest of a refused body is read and thrown away before its connection is closed. */
const LINGER_MS = 2_000;

/**
 * A client still sending a refused body would have its connection reset if
 * it were closed at once (unread bytes on a closed socket: RST), and a reset
 * can take the answer with it before the client reads it (a publisher would
 * see "connection reset", not 413). So once the answer is written, Node's
 * close-when-written is undone and the rest is read and discarded (never
 * kept) until the client stops or LINGER_MS has passed.
 */
function lingerAfter(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket;
  res.once("finish", () => {
    // Node's server has just ended the socket with destroySoon(): end() now, destroy() once written.
    socket.removeListener("finish", socket.destroy);
    const close = () => socket.destroy();
    setTimeout(close, LINGER_MS).unref();
    socket.once("end", close);
    req.resume();
  });
}

function bodyPending(req: IncomingMessage): boolean {
  const declares = req.headers["transfer-encoding"] !== undefined || (req.headers["content-length"] ?? "0") !== "0";
  return declares && !req.complete;
}

/** A refusal written on a socket that is not (yet) an HTTP response: a websocket upgrade or a malformed request. */
function rawResponse(status: number, reason: string): string {
  const body = JSON.stringify({ error: reason });
  const headers = Object.entries(SECURITY_HEADERS).map(([k, v]) => `${k}: ${v}\r\n`).join("");
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\n${headers}content-type: ${JSON_TYPE}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}

function rejectUpgrade(socket: Duplex, status: number, reason: string): void {
  if (socket.writable) endWith(socket, rawResponse(status, reason));
  else socket.destroy();
}

/** Writes the last bytes of a connection and closes it once they are out (a peer that never closes its side holds nothing). */
function endWith(socket: Duplex, text: string): void {
  socket.once("finish", () => socket.destroy());
  socket.end(text);
}

/** A query parameter as a whole number from 0; `fallback` when absent, undefined when malformed. */
function wholeNumber(value: unknown, fallback: number): number | undefined {
  if (value === undefined) return fallback;
  if (typeof value !== "string" || !/^\d{1,15}$/.test(value)) return undefined;
  return Number(value);
}
