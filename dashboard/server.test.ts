import test, { type ExecutionContext } from "ava";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, request as httpRequest, type IncomingMessage } from "node:http";
import { connect as netConnect, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { retryOnPortInUse, spawnGroup, tempDir } from "../harness/processes.js";
import { LIMITS, type ServerMessage } from "./protocol.js";
import { CONTENT_SECURITY_POLICY } from "./security.js";
import { startDashboard, type Dashboard, type DashboardOptions } from "./server.js";

/**
 * The dashboard over real sockets: a server on 127.0.0.1:0, fetch and node's
 * http client for the API, `ws` clients and a hand-made websocket client
 * that never reads for the stream, and the `cardloop dashboard` command.
 */

const TOKEN = "test-token-" + "x".repeat(30);
const PAGE = "<!doctype html><script src=/assets/app.js></script>";
const ASSETS = new Map([
  ["/", { body: Buffer.from(PAGE), type: "text/html; charset=utf-8" }],
  ["/assets/app.js", { body: Buffer.from("console.log(1)"), type: "text/javascript; charset=utf-8" }],
]);

async function start(t: ExecutionContext, opts: Partial<DashboardOptions> = {}): Promise<Dashboard> {
  const runsDir = opts.runsDir ?? mkdtempSync(join(tmpdir(), "cardloop-dash-"));
  const d = await startDashboard({ port: 0, runsDir, token: TOKEN, assets: ASSETS, ...opts });
  t.teardown(async () => {
    await d.close();
    rmSync(runsDir, { recursive: true, force: true });
  });
  return d;
}

const ev = (i: number, pad = 0) => ({ type: "test.tick", seq: i, time: "2026-01-01T00:00:00.000Z", data: { i, ...(pad ? { pad: "p".repeat(pad) } : {}) } });
const batch = (from: number, n: number, pad = 0) => ({ v: 1, from, events: Array.from({ length: n }, (_, k) => ev(from + k, pad)) });

function publish(d: Dashboard, id: string, body: unknown, token: string | null = TOKEN): Promise<Response> {
  return fetch(`${d.url}api/v1/runs/${encodeURIComponent(id)}/events`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** A `ws` client that keeps every message and waits for the ones a test expects. */
async function client(d: Dashboard, origin?: string) {
  const ws = new WebSocket(`${d.url.replace("http", "ws")}ws`, origin ? { origin } : {});
  const messages: ServerMessage[] = [];
  const waiters = new Set<() => void>();
  ws.on("message", (data) => {
    messages.push(JSON.parse(String(data)) as ServerMessage);
    for (const w of waiters) w();
  });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
  const until = (done: () => boolean) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (!done()) return;
        waiters.delete(check);
        resolve();
      };
      waiters.add(check);
      check();
    });
  const say = (msg: unknown) => ws.send(typeof msg === "string" ? msg : JSON.stringify(msg));
  /** The sequence numbers received for a run, in order. */
  const seqs = (run: string) => messages.flatMap((m) => (m.type === "events" && m.run === run ? m.events.map((e) => (e as { data: { i: number } }).data.i) : []));
  return { ws, messages, until, say, seqs, closed };
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

function expectHeaders(t: ExecutionContext, headers: Headers, what: string): void {
  t.is(headers.get("content-security-policy"), CONTENT_SECURITY_POLICY, what);
  t.is(headers.get("x-content-type-options"), "nosniff", what);
  t.is(headers.get("x-frame-options"), "DENY", what);
  t.is(headers.get("referrer-policy"), "no-referrer", what);
}

// ---- HTTP ----

test("the page, its assets and the read API, each with the security headers; 404 and 405 in JSON with them too", async (t) => {
  const d = await start(t);
  t.regex(d.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  const page = await fetch(d.url);
  t.is(page.status, 200);
  t.is(await page.text(), PAGE);
  t.is(page.headers.get("content-type"), "text/html; charset=utf-8");
  expectHeaders(t, page.headers, "/");
  const head = await fetch(`${d.url}assets/app.js`, { method: "HEAD" });
  t.is(head.status, 200);
  t.is(await head.text(), "");
  const info = await fetch(`${d.url}api/v1/info`);
  expectHeaders(t, info.headers, "/api/v1/info");
  t.deepEqual(await info.json(), { version: (await import("../core/index.js")).CARDLOOP_VERSION, protocol: 1 });
  t.deepEqual(await (await fetch(`${d.url}api/v1/runs`)).json(), { runs: [] });
  for (const path of ["nope", "api/v2/x", "api/v1/runs/none", "api/v1/runs/none/events"]) {
    const r = await fetch(d.url + path);
    t.is(r.status, 404, path);
    expectHeaders(t, r.headers, path);
    t.is(typeof ((await r.json()) as { error: unknown }).error, "string");
  }
  const del = await fetch(d.url, { method: "DELETE" });
  t.is(del.status, 405);
  expectHeaders(t, del.headers, "405");
  t.is(del.headers.get("allow"), "GET, HEAD");
});

test("a run's summary and its events by range: from, limit (at most eventsPerMessage), 400 on a malformed one", async (t) => {
  const d = await start(t);
  t.is((await publish(d, "api-run", batch(0, 30))).status, 200);
  const run = (await (await fetch(`${d.url}api/v1/runs/api-run`)).json()) as { id: string; events: number; source: string };
  t.deepEqual([run.id, run.events, run.source], ["api-run", 30, "published"]);
  const page = (await (await fetch(`${d.url}api/v1/runs/api-run/events?from=10&limit=5`)).json()) as { run: string; from: number; events: Array<{ data: { i: number } }> };
  t.deepEqual([page.run, page.from, page.events.map((e) => e.data.i)], ["api-run", 10, range(10, 15)]);
  const all = (await (await fetch(`${d.url}api/v1/runs/api-run/events`)).json()) as { events: unknown[] };
  t.is(all.events.length, 30);
  const past = (await (await fetch(`${d.url}api/v1/runs/api-run/events?from=99`)).json()) as { events: unknown[] };
  t.deepEqual(past.events, []);
  for (const q of ["from=-1", "from=x", "limit=0", "from=1&from=2"]) {
    const r = await fetch(`${d.url}api/v1/runs/api-run/events?${q}`);
    t.is(r.status, 400, q);
  }
});

test("events by range: at most eventsPerMessage (2,000) of a 2,500-event run, whatever the limit asked", async (t) => {
  const d = await start(t);
  t.is((await publish(d, "long", batch(0, 2500))).status, 200);
  const read = async (query: string) => ((await (await fetch(`${d.url}api/v1/runs/long/events${query}`)).json()) as { events: Array<{ data: { i: number } }> }).events.map((e) => e.data.i);
  t.deepEqual(await read("?limit=5000"), range(0, LIMITS.eventsPerMessage));
  t.deepEqual(await read(""), range(0, LIMITS.eventsPerMessage), "the default is the most");
  t.deepEqual(await read("?from=2000&limit=5000"), range(2000, 2500));
});

test("a run log under the runs directory is a run whose id keeps its path; the id travels percent-encoded", async (t) => {
  const runsDir = mkdtempSync(join(tmpdir(), "cardloop-dash-"));
  mkdirSync(join(runsDir, "ci", "job-3"), { recursive: true });
  writeFileSync(join(runsDir, "ci", "job-3", "run.jsonl"), [ev(0), ev(1)].map((e) => JSON.stringify(e)).join("\n") + "\n");
  const d = await start(t, { runsDir });
  const run = (await (await fetch(`${d.url}api/v1/runs/${encodeURIComponent("ci/job-3")}`)).json()) as { id: string; events: number; source: string };
  t.deepEqual([run.id, run.events, run.source], ["ci/job-3", 2, "file"]);
  const events = (await (await fetch(`${d.url}api/v1/runs/ci%2Fjob-3/events?from=1`)).json()) as { run: string; events: Array<{ data: { i: number } }> };
  t.deepEqual([events.run, events.events.map((e) => e.data.i)], ["ci/job-3", [1]]);
});

test("a malformed path or request is a JSON 400 with the headers, never a stack trace", async (t) => {
  const d = await start(t);
  const bad = await fetch(`${d.url}api/v1/runs/%E0%A4%A`);
  t.is(bad.status, 400);
  expectHeaders(t, bad.headers, "malformed path");
  t.deepEqual(await bad.json(), { error: "bad request" });
  const raw = await new Promise<string>((resolve, reject) => {
    const socket = netConnect(d.port, "127.0.0.1", () => socket.write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n"));
    let text = "";
    socket.on("data", (c: Buffer) => (text += c.toString()));
    socket.on("close", () => resolve(text));
    socket.on("error", reject);
  });
  t.regex(raw, /^HTTP\/1\.1 400 /);
  t.true(raw.includes(`content-security-policy: ${CONTENT_SECURITY_POLICY}`));
  t.false(raw.includes(" at "), "no stack");
});

test("publish without the token, or with a wrong one: 401, nothing stored", async (t) => {
  const d = await start(t);
  const none = await publish(d, "run-a", batch(0, 3), null);
  t.is(none.status, 401);
  t.regex(none.headers.get("www-authenticate") ?? "", /^Bearer/);
  expectHeaders(t, none.headers, "401");
  t.regex(((await none.json()) as { error: string }).error, /token/);
  t.is((await publish(d, "run-a", batch(0, 3), TOKEN.slice(0, -1) + "y")).status, 401);
  t.is((await publish(d, "run-a", batch(0, 3), "Basic " + TOKEN)).status, 401);
  t.deepEqual(d.store.list(), []);
});

/** A POST through node's http client, so the test decides what of the body is sent and when. */
function rawPost(d: Dashboard, path: string, headers: Record<string, string | number>) {
  const req = httpRequest({ host: "127.0.0.1", port: d.port, path, method: "POST", headers });
  req.flushHeaders();
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    // An error or a close before the answer fails the wait; after it, the server closing the connection is expected.
    let answered = false;
    const lost = (why: string) => () => answered || reject(new Error(`${path}: ${why} before any answer`));
    req.on("error", (err) => lost(err.message)());
    req.on("close", lost("the connection closed"));
    req.on("response", (res: IncomingMessage) => {
      answered = true;
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("close", () => resolve({ status: res.statusCode ?? 0, body })); // after "end", a no-op
    });
  });
  return { req, response };
}

test("a huge body without the token is answered 401 before it is read", async (t) => {
  const d = await start(t);
  // It declares 1 GiB and sends 1 MiB: an answer can only come if the server did not wait for the body.
  const { req, response } = rawPost(d, "/api/v1/runs/big/events", { "content-type": "application/json", "content-length": 1 << 30 });
  req.write(Buffer.alloc(1 << 20, 0x20));
  const r = await response;
  req.destroy();
  t.is(r.status, 401);
  t.deepEqual(d.store.list(), []);
});

test("413 on a Content-Length over the limit (before reading) and on a chunked body that grows past it", async (t) => {
  const d = await start(t);
  const declared = rawPost(d, "/api/v1/runs/big/events", { authorization: `Bearer ${TOKEN}`, "content-length": LIMITS.publishBodyBytes + 1 });
  const r1 = await declared.response;
  declared.req.destroy();
  t.is(r1.status, 413);
  t.regex(r1.body, /larger than/);

  const chunked = rawPost(d, "/api/v1/runs/big/events", { authorization: `Bearer ${TOKEN}`, "transfer-encoding": "chunked" });
  const chunk = Buffer.alloc(256 * 1024, 0x20);
  let sent = 0;
  let answered = false;
  void chunked.response.then(
    () => (answered = true),
    () => (answered = true), // awaited below, where it fails the test
  );
  // Sends until the server answers (it must, once past the limit) or far past the limit.
  while (!answered && sent < 4 * LIMITS.publishBodyBytes && !chunked.req.destroyed) {
    sent += chunk.length;
    if (!chunked.req.write(chunk)) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const r2 = await chunked.response;
  chunked.req.destroy();
  t.is(r2.status, 413);
  t.true(sent > LIMITS.publishBodyBytes, "it answered only once the body passed the limit");
  t.deepEqual(d.store.list(), []);
});

test("408 for a publish whose body does not arrive in time", async (t) => {
  const d = await start(t, { publishRequestMs: 150 });
  const slow = rawPost(d, "/api/v1/runs/slow/events", { authorization: `Bearer ${TOKEN}`, "content-length": 100 });
  slow.req.write("{");
  const r = await slow.response;
  slow.req.destroy();
  t.is(r.status, 408);
  t.deepEqual(d.store.list(), []);
});

test("400 with a reason: bad JSON, bad run id, bad shape, too many events, a bad event (by index)", async (t) => {
  const d = await start(t);
  const reason = async (id: string, body: unknown) => {
    const r = await publish(d, id, body);
    return [r.status, ((await r.json()) as { error: string }).error] as const;
  };
  t.deepEqual(await reason("run-b", "{not json"), [400, "the body is not valid JSON"]);
  t.regex((await reason("-dash-first", batch(0, 1)))[1], /^bad run id/);
  t.regex((await reason("a".repeat(129), batch(0, 1)))[1], /^bad run id/);
  t.regex((await reason("run-b", { v: 1, from: 0, events: {} }))[1], /events/);
  t.regex((await reason("run-b", { v: 1, from: -1, events: [] }))[1], /from/);
  t.regex((await reason("run-b", batch(0, LIMITS.publishBatchEvents + 1)))[1], /events/);
  const bad = batch(0, 3);
  (bad.events[1] as { type?: unknown }).type = 7;
  const [status, why] = await reason("run-b", bad);
  t.is(status, 400);
  t.regex(why, /events\[1\]/);
  t.deepEqual(d.store.list(), []);
});

// ---- websocket ----

test("a websocket from a foreign Origin is refused 403; the dashboard's own origin and no Origin are let in", async (t) => {
  const d = await start(t);
  const refused = await new Promise<number>((resolve) => {
    const ws = new WebSocket(`${d.url.replace("http", "ws")}ws`, { origin: "http://evil.example" });
    ws.on("unexpected-response", (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on("error", () => undefined);
  });
  t.is(refused, 403);
  const own = await client(d, d.url.replace(/\/$/, ""));
  await own.until(() => own.messages.length > 0);
  t.deepEqual(own.messages[0], { v: 1, type: "hello", version: (await import("../core/index.js")).CARDLOOP_VERSION, protocol: 1 });
  const bare = await client(d);
  await bare.until(() => bare.messages.length > 0);
  t.is(bare.messages[0].type, "hello");
  own.ws.close();
  bare.ws.close();
});

test("runs.subscribe: the list, then the run a publisher starts, as it changes", async (t) => {
  const d = await start(t);
  await publish(d, "first", batch(0, 2));
  const c = await client(d);
  c.say({ v: 1, type: "runs.subscribe" });
  await c.until(() => c.messages.some((m) => m.type === "runs"));
  const runs = c.messages.find((m) => m.type === "runs");
  t.deepEqual(runs?.type === "runs" ? runs.runs.map((r) => r.id) : [], ["first"]);
  await publish(d, "second", { ...batch(0, 4), final: true });
  await c.until(() => c.messages.some((m) => m.type === "run" && m.run.id === "second" && m.run.events === 4));
  const upsert = c.messages.find((m) => m.type === "run" && m.run.id === "second");
  t.is(upsert?.type === "run" ? upsert.run.source : undefined, "published");
  c.ws.close();
});

test("run.subscribe from 0 and from N: no gap, no repeat; live events follow; two pages see the same", async (t) => {
  const d = await start(t);
  await publish(d, "live", batch(0, 2500));
  const a = await client(d);
  const b = await client(d);
  a.say({ v: 1, type: "run.subscribe", run: "live", from: 0 });
  b.say({ v: 1, type: "run.subscribe", run: "live", from: 2100 });
  await a.until(() => a.seqs("live").length === 2500);
  await b.until(() => b.seqs("live").length === 400);
  t.is(a.messages[1].type, "run", "the summary comes before the events");
  for (let from = 2500; from < 2600; from += 10) t.is((await publish(d, "live", batch(from, 10))).status, 200);
  await a.until(() => a.seqs("live").length === 2600);
  await b.until(() => b.seqs("live").length === 500);
  t.deepEqual(a.seqs("live"), range(0, 2600));
  t.deepEqual(b.seqs("live"), range(2100, 2600));
  const tail = (c: typeof a) => c.messages.filter((m) => m.type === "events" && m.from >= 2500);
  t.deepEqual(tail(a), tail(b), "the live messages are the same for both");
  a.ws.close();
  b.ws.close();
});

test("an unknown run and bad messages are answered with error; an oversized message closes the socket (1009)", async (t) => {
  const d = await start(t);
  const c = await client(d);
  c.say({ v: 1, type: "run.subscribe", run: "nope", from: 0 });
  c.say("{{");
  c.say({ v: 1, type: "what" });
  await c.until(() => c.messages.filter((m) => m.type === "error").length === 3);
  const errors = c.messages.filter((m) => m.type === "error");
  t.deepEqual(errors[0], { v: 1, type: "error", message: "unknown run", run: "nope" });
  c.say("x".repeat(LIMITS.clientMessageBytes + 1));
  t.is(await c.closed, 1009);
  t.is(d.hub.size, 0);
});

/** A node process in a group of its own, with a deadline, stopped with its group when the test ends (harness/processes.ts). */
const nodeGroup = (t: ExecutionContext, args: string[], env: NodeJS.ProcessEnv = process.env) => spawnGroup(t, process.execPath, args, { cwd: repo, env });

const repo = fileURLToPath(new URL("../", import.meta.url));

test("close() closes pages with 1001, stops the server and lets the process end", async (t) => {
  const runsDir = tempDir(t, "dash");
  const server = fileURLToPath(new URL("./server.ts", import.meta.url));
  // In a process of its own: it must exit by itself once close() resolves, with nothing left open.
  const script = `
    import WebSocket from "ws";
    const { startDashboard } = await import(${JSON.stringify(server)});
    const d = await startDashboard({ port: 0, runsDir: ${JSON.stringify(runsDir)}, token: ${JSON.stringify(TOKEN)}, assets: new Map(), rescanMs: 10 });
    const ws = new WebSocket(d.url.replace("http", "ws") + "ws");
    await new Promise((r) => ws.once("message", r));
    await fetch(d.url + "api/v1/info");
    const code = new Promise((r) => ws.once("close", r));
    await d.close();
    console.log("closed " + (await code));
    process.on("exit", () => console.log("exited"));
  `;
  const p = nodeGroup(t, ["--import=tsx", "--input-type=module", "-e", script]);
  t.is((await p.wait()).code, 0, p.stderr);
  t.deepEqual(p.stdout.trim().split("\n"), ["closed 1001", "exited"]);
});

/** Starts `cardloop dashboard ARGS` and waits (bounded) for its three lines. */
async function cliDashboard(t: ExecutionContext, args: string[], env: NodeJS.ProcessEnv) {
  const p = nodeGroup(t, ["bin/cardloop.js", "dashboard", ...args], env);
  await p.waitFor("stdout", /^(?:.*\n){3}/);
  return { p, lines: p.stdout.trim().split("\n") };
}

test("cardloop dashboard prints its URL, the token and the export line, serves, and exits 0 on SIGTERM", async (t) => {
  const runsDir = tempDir(t, "dash-cli");
  const { p, lines } = await cliDashboard(t, ["--port", "0", "--runs", runsDir], { ...process.env, CARDLOOP_DASHBOARD_TOKEN: "" });
  const [urlLine, tokenLine, exportLine] = lines;
  const url = /^cardloop dashboard: (http:\/\/127\.0\.0\.1:\d+\/)$/.exec(urlLine)?.[1];
  const token = /^publish token: ([A-Za-z0-9_-]{43})$/.exec(tokenLine)?.[1];
  t.truthy(url, urlLine);
  t.truthy(token, tokenLine);
  t.is(exportLine, `export CARDLOOP_DASHBOARD=${url} CARDLOOP_DASHBOARD_TOKEN=${token}`);
  const info = await fetch(`${url}api/v1/info`);
  t.is(((await info.json()) as { protocol: number }).protocol, 1);
  p.signal("SIGTERM");
  t.is((await p.wait()).code, 0, p.stderr);
  t.is(p.stdout.split(token!).length, 3, "the token is printed on its line and the export line, and nowhere after");
});

test("cardloop dashboard: a bad option, a weak token or a port in use is one line on stderr and exit 2", async (t) => {
  const runsDir = tempDir(t, "dash-cli");
  const d = await start(t);
  const run = async (args: string[], env?: NodeJS.ProcessEnv) => {
    const p = nodeGroup(t, ["bin/cardloop.js", "dashboard", "--runs", runsDir, ...args], env);
    return { code: (await p.wait()).code, err: p.stderr };
  };
  t.deepEqual(await run(["--port", "http"]), { code: 2, err: "cardloop: --port must be 0..65535 (got http)\n" });
  const weak = await run(["--port", "0"], { ...process.env, CARDLOOP_DASHBOARD_TOKEN: "short" });
  t.is(weak.code, 2);
  t.regex(weak.err, /^cardloop: CARDLOOP_DASHBOARD_TOKEN: a dashboard token must be at least 22 base64url characters .*\n$/);
  t.deepEqual(await run(["--port", String(d.port)]), { code: 2, err: `cardloop: cannot listen on 127.0.0.1:${d.port}: address already in use\n` });
  const proxied = await run(["--port", "0", "--public-url", "https://cardloop.example/dash/"]);
  t.is(proxied.code, 2);
  t.regex(proxied.err, /^cardloop: --public-url must be the dashboard's origin only .*\n$/);
});

test("cardloop dashboard with CARDLOOP_DASHBOARD_TOKEN: that token is the one printed and accepted, none is written; --public-url is the URL printed", async (t) => {
  const runsDir = tempDir(t, "dash-cli");
  const token = "env-token-" + "E".repeat(20);
  // A port free a moment ago, as its --public-url must name it; one another suite took meanwhile is tried again with another.
  const { port, p, lines } = await retryOnPortInUse("cardloop dashboard on a port probed free", async () => {
    const probe = createServer().listen(0, "127.0.0.1");
    await once(probe, "listening");
    const port = (probe.address() as AddressInfo).port; // free once the probe is closed
    await new Promise((resolve) => probe.close(resolve));
    // The public name differs from the address it listens on, as behind a proxy; here both reach it.
    return { port, ...(await cliDashboard(t, ["--port", String(port), "--runs", runsDir, "--public-url", `http://localhost:${port}`], { ...process.env, CARDLOOP_DASHBOARD_TOKEN: token })) };
  });
  t.deepEqual(lines, [
    `cardloop dashboard: http://localhost:${port}/`,
    `publish token: ${token}`,
    `export CARDLOOP_DASHBOARD=http://localhost:${port}/ CARDLOOP_DASHBOARD_TOKEN=${token}`,
  ]);
  t.throws(() => readFileSync(join(runsDir, ".dashboard-token")), { code: "ENOENT" });
  const post = (bearer: string) =>
    fetch(`http://127.0.0.1:${port}/api/v1/runs/env-run/events`, { method: "POST", headers: { authorization: `Bearer ${bearer}` }, body: JSON.stringify(batch(0, 1)) });
  t.is((await post(token)).status, 200);
  t.is((await post(TOKEN)).status, 401);
  p.signal("SIGINT");
  t.is((await p.wait()).code, 0, p.stderr);
});
