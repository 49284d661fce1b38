import test from "ava";
import fc from "fast-check";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { CaError } from "../../simulator/ca/index.js";
import { HttpCa } from "./http.js";
import { headerValue } from "./text-answer.js";

/**
 * HttpCa reads every answer through Pool.dispatch and TextAnswerHandler
 * (text-answer.ts) instead of undici's request(): what request() and
 * body.text() gave must still come out the same, against a real node:http
 * server on 127.0.0.1.
 */

const CHAIN = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
const ANSWER = { serial: "0a", status: "revoked", reason: "keyCompromise", revokedAt: "2026-12-07T19:00:00.000Z" };

async function served(route: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<{ ca: HttpCa; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8").on("data", (d: string) => (body += d));
    req.on("end", () => {
      if (req.url === "/ca") return void res.end(CHAIN);
      route(req, res, body);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const ca = await HttpCa.connect({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, timeoutMs: 5000, connections: 2 });
  return {
    ca,
    close: async () => {
      await ca.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const revoke = (ca: HttpCa) => ca.revoke({ serial: "0a", reason: "keyCompromise", role: "holder", code: "c", email: "e@x.test", name: "N" });

test("a request goes out as before (path, method, JSON body, headers) and a JSON answer written in many chunks, after a 103, is read whole", async (t) => {
  let big = false;
  let seen: { method?: string; url?: string; body?: string; type?: string; accept?: string; authorization?: string } = {};
  const s = await served((req, res, body) => {
    seen = { method: req.method, url: req.url, body, type: req.headers["content-type"], accept: req.headers.accept, authorization: req.headers.authorization };
    res.writeEarlyHints({ link: "</x>; rel=preload" });
    res.writeHead(200, { "content-type": "application/json" });
    // big: one answer over many socket reads (several onData chunks for certain)
    const text = JSON.stringify(big ? { ...ANSWER, pad: "x".repeat(300_000) } : ANSWER);
    // chunked, one byte a write for the first bytes: the answer arrives in several chunks
    for (let i = 0; i < 8; i++) res.write(text[i]);
    res.end(text.slice(8));
  });
  try {
    const r = await revoke(s.ca);
    t.deepEqual({ ...r, revokedAt: r.revokedAt.toISOString() }, ANSWER);
    t.is(seen.method, "POST");
    t.is(seen.url, "/api/v1/certificates/0a/revoke");
    t.deepEqual(JSON.parse(seen.body!), { reason: "keyCompromise", role: "holder", code: "c", email: "e@x.test", name: "N" });
    t.is(seen.type, "application/json");
    t.is(seen.accept, "application/json");
    t.is(seen.authorization, undefined);
    big = true;
    t.deepEqual((await revoke(s.ca)).serial, "0a");
    await s.ca.revoke({ serial: "0b", reason: "keyCompromise", role: "operator", operatorToken: "tok", answers: {} });
    t.is(seen.authorization, "Bearer tok");
    t.false(seen.body!.includes("tok"), "the token goes in the header only");
  } finally {
    await s.close();
  }
});

test("a refusal is a CaError with the CA's reason, message and Retry-After; a body that is not JSON is 'not-json'; a byte-order mark is dropped", async (t) => {
  let mode: "throttle" | "html" | "bom" | "empty" = "throttle";
  const s = await served((_req, res) => {
    if (mode === "throttle") {
      res.writeHead(429, { "content-type": "application/json", "retry-after": "3" });
      return void res.end(JSON.stringify({ error: "throttled", message: "slow down" }));
    }
    if (mode === "html") {
      res.writeHead(502, { "content-type": "text/html" });
      return void res.end("<html>bad gateway</html>");
    }
    if (mode === "bom") return void res.end("\uFEFF" + JSON.stringify(ANSWER));
    res.writeHead(204);
    res.end();
  });
  try {
    const throttled = await revoke(s.ca).catch((e: unknown) => e);
    t.true(throttled instanceof CaError);
    const e = throttled as CaError;
    t.deepEqual([e.status, e.reason, e.message, e.retryAfterMs], [429, "throttled", "slow down", 3000]);
    mode = "html";
    const bad = (await revoke(s.ca).catch((x: unknown) => x)) as CaError;
    t.deepEqual([bad.status, bad.reason, bad.message, bad.retryAfterMs], [502, "not-json", "<html>bad gateway</html>", undefined]);
    mode = "bom";
    t.is((await revoke(s.ca)).status, "revoked");
    mode = "empty";
    await t.notThrowsAsync(s.ca.release("0a", "tok"));
  } finally {
    await s.close();
  }
});

test("headerValue: the first value of a header named in any case; never throws on any raw header list", (t) => {
  const raw = ["Content-Type", "a", "RETRY-AFTER", "7", "retry-after", "8"].map((s) => Buffer.from(s, "latin1"));
  t.is(headerValue(raw, "retry-after"), "7");
  t.is(headerValue(raw, "content-type"), "a");
  t.is(headerValue(raw, "date"), undefined);
  t.is(headerValue([Buffer.from("retry-after")], "retry-after"), undefined, "a name without its value");
  // the reference: the value after the first name (at an even index, with a value after it) equal to `name` in lower case
  const expected = (list: Array<string | Buffer>, name: string) => {
    for (let k = 0; k + 1 < list.length; k += 2) if (list[k].toString("latin1").toLowerCase() === name) return list[k + 1].toString("latin1");
    return undefined;
  };
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.string(), fc.constantFrom("Retry-After", "retry-after"), fc.uint8Array({ maxLength: 20 }).map((b) => Buffer.from(b))), { maxLength: 12 }), fc.constantFrom("retry-after", "x"), (list, name) => {
      return headerValue(list, name) === expected(list, name);
    }),
    { numRuns: 500 },
  );
});
