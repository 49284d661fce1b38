import test from "ava";
import { createServer as createHttpServer } from "node:http";
import { createServer, type Server, type Socket } from "node:net";
import { Agent, request } from "undici";
import { CaError } from "../../simulator/ca/index.js";
import { HttpCa } from "../adapters/http.js";
import { classifyError, Deadlines, LoadTimeoutError } from "./errors.js";

/** A TCP server on 127.0.0.1 doing `onSocket` with every connection; close() ends every socket too. */
async function tcpServer(onSocket: (s: Socket) => void): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    onSocket(s);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A port nothing listens on: bound, then released. */
async function closedPortUrl(): Promise<string> {
  const s = await tcpServer(() => {});
  await s.close();
  return s.url;
}

/** What undici throws for one GET with short timeouts. */
async function undiciError(url: string): Promise<unknown> {
  const agent = new Agent({ headersTimeout: 200, bodyTimeout: 200, connectTimeout: 2000 });
  try {
    const res = await request(url, { dispatcher: agent });
    await res.body.text();
    return undefined;
  } catch (err) {
    return err;
  } finally {
    await agent.close();
  }
}

test("a CA refusal is '4xx <status> <reason>', a server error '5xx <status>'", (t) => {
  t.is(classifyError(new CaError(403, "forbidden", "no")), "4xx 403 forbidden");
  t.is(classifyError(new CaError(409, "already-revoked", "again")), "4xx 409 already-revoked");
  t.is(classifyError(new CaError(429, "throttled", "wait", 1000)), "4xx 429 throttled");
  t.is(classifyError(new CaError(503, "unavailable", "later")), "5xx 503");
  t.is(classifyError(new CaError(500, "internal", "boom")), "5xx 500");
  // a user's adapter with its own error shape, and a reason that would make a messy label
  t.is(classifyError({ status: 404, reason: "Not Found!" }), "4xx 404 not-found");
  t.is(classifyError({ status: 400 }), "4xx 400 error");
});

test("the revoke phase's own timeout is 'timeout'; anything unknown is 'other' and its message is not kept", (t) => {
  t.is(classifyError(new LoadTimeoutError(100)), "timeout");
  t.is(classifyError(Object.assign(new Error("x"), { name: "TimeoutError" })), "timeout");
  t.is(classifyError(new Error("code=SECRET-CODE was refused")), "other");
  t.is(classifyError("a string"), "other");
  t.is(classifyError(undefined), "other");
  t.is(classifyError(new CaError(302, "moved", "?")), "other");
});

test("a wrapped transport error keeps its class through cause chains and AggregateErrors", (t) => {
  const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
  t.is(classifyError(new Error("revoke failed", { cause: reset })), "reset");
  t.is(classifyError(new Error("a", { cause: new Error("b", { cause: Object.assign(new Error("c"), { code: "ECONNREFUSED" }) }) })), "refused");
  t.is(classifyError(new AggregateError([new Error("x"), Object.assign(new Error("y"), { code: "ECONNREFUSED" })])), "refused");
  // a cycle does not hang
  const a: { cause?: unknown } = {};
  a.cause = a;
  t.is(classifyError(a), "other");
});

test("undici against a closed port on 127.0.0.1 is 'refused'", async (t) => {
  const err = await undiciError(await closedPortUrl());
  t.truthy(err);
  t.is(classifyError(err), "refused");
});

test("undici against a server that resets or closes the connection is 'reset'", async (t) => {
  const rst = await tcpServer((s) => s.once("data", () => s.resetAndDestroy()));
  const fin = await tcpServer((s) => s.once("data", () => s.end()));
  try {
    t.is(classifyError(await undiciError(rst.url)), "reset");
    t.is(classifyError(await undiciError(fin.url)), "reset");
  } finally {
    await rst.close();
    await fin.close();
  }
});

test("undici against a server that never answers is 'timeout'", async (t) => {
  const silent = await tcpServer(() => {});
  try {
    const err = await undiciError(silent.url);
    t.is((err as { code?: string }).code, "UND_ERR_HEADERS_TIMEOUT");
    t.is(classifyError(err), "timeout");
  } finally {
    await silent.close();
  }
});

const FAKE_CHAIN = `-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n`;

test("HttpCa passes transport failures through with their code, and CA refusals as CaError, on `connections` connections", async (t) => {
  let mode: "refuse" | "reset" | "stall" = "refuse";
  let peak = 0;
  let open = 0;
  const stalled = new Set<import("node:http").ServerResponse>();
  const server = createHttpServer((req, res) => {
    if (req.url === "/ca") return void res.end(FAKE_CHAIN);
    if (req.url === "/api/v1/clock") return void res.end("{}");
    if (mode === "refuse") {
      res.writeHead(403, { "content-type": "application/json" });
      return void res.end(JSON.stringify({ error: "forbidden", message: "no" }));
    }
    if (mode === "reset") return void req.socket.resetAndDestroy();
    stalled.add(res);
  });
  server.on("connection", (s) => {
    open++;
    peak = Math.max(peak, open);
    s.on("close", () => open--);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const ca = await HttpCa.connect({ url, timeoutMs: 300, connections: 3 });
  try {
    const revoke = () => ca.revoke({ serial: "0a", reason: "keyCompromise", role: "holder", code: "x" }).then(() => undefined, (e: unknown) => e);
    t.is(classifyError(await revoke()), "4xx 403 forbidden");
    // six at once over three connections: never more than three open
    const refusals = await Promise.all(Array.from({ length: 6 }, revoke));
    t.true(refusals.every((e) => classifyError(e) === "4xx 403 forbidden"));
    t.true(peak <= 3, `peak ${peak} connections`);
    mode = "reset";
    t.is(classifyError(await revoke()), "reset");
    mode = "stall";
    t.is(classifyError(await revoke()), "timeout");
  } finally {
    await ca.close();
    for (const r of stalled) r.destroy();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
  await t.throwsAsync(HttpCa.connect({ url, connections: 0 }), { instanceOf: RangeError });
});

test("Deadlines: answers and refusals pass through; a request past the timeout is a LoadTimeoutError ('timeout') and its late answer is dropped", async (t) => {
  const d = new Deadlines(80);
  try {
    t.is(await d.race(Promise.resolve("answer")), "answer");
    const refusal = new CaError(409, "already-revoked", "again");
    t.is(await d.race(Promise.reject(refusal)).catch((e: unknown) => e), refusal);
    let answerLate!: (v: string) => void;
    let failLate!: (e: Error) => void;
    const started = performance.now();
    const late = d.race(new Promise<string>((r) => (answerLate = r)));
    // a request whose call rejects after its timeout: no unhandled rejection (ava fails the test on one)
    const lateFailure = d.race(new Promise<string>((_, f) => (failLate = f)));
    const err = await late.catch((e: unknown) => e);
    t.true(err instanceof LoadTimeoutError);
    t.is(classifyError(err), "timeout");
    t.true(performance.now() - started >= 79, "not before its deadline");
    t.true((await lateFailure.catch((e: unknown) => e)) instanceof LoadTimeoutError);
    answerLate("too late");
    failLate(new Error("too late"));
    await new Promise((r) => setImmediate(r));
  } finally {
    d.close();
  }
});

test("Deadlines: each request times out at its own start + ms, not the first one's", async (t) => {
  const d = new Deadlines(60);
  try {
    const never = () => new Promise<never>(() => undefined);
    const t0 = performance.now();
    const first = d.race(never()).catch(() => performance.now() - t0);
    await new Promise((r) => setTimeout(r, 40));
    const second = d.race(never()).catch(() => performance.now() - t0);
    const [a, b] = await Promise.all([first, second]);
    t.true(a >= 59 && a < b, `first at ${a} ms, second at ${b} ms`);
    t.true(b >= 99, `second at ${b} ms`);
  } finally {
    d.close();
  }
});

test("Deadlines: settled requests are dropped by the next sweep, so the queue stays bounded however long the timeout", async (t) => {
  const d = new Deadlines(60_000);
  try {
    for (let i = 0; i < 5000; i++) await d.race(Promise.resolve(i));
    t.is(d.queued, 5000);
    // one still pending keeps the timer armed; the sweep (at most 1 s later) drops the 5000 settled before it
    const pending = d.race(new Promise<never>(() => undefined));
    pending.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 1100));
    t.is(d.queued, 1);
  } finally {
    d.close();
  }
  t.throws(() => new Deadlines(0), { instanceOf: RangeError });
  t.throws(() => new Deadlines(NaN), { instanceOf: RangeError });
});
