import test from "ava";
import { once } from "node:events";
import { connect } from "node:net";
import { VirtualClock } from "../../core/index.js";
import { CaError, type Caller, type RevokeRequest } from "./api.js";
import { startCaServer, type CaHttpBackend } from "./index.js";

/**
 * The revocation routes served in front of express (http-revoke.ts): every URL shape express would take is
 * answered alike, those the bare handler leaves to express reach the same handler there, and the rules hold
 * (credential before the bulk body, media type, sizes). The full contract is in http.test.ts and test/abuse.
 */

const TOKEN = "operator-token";

/** A backend that records what reached it: only the revocation members work. */
function recordingBackend() {
  const singles: Array<{ req: RevokeRequest; caller?: Caller }> = [];
  const bulks: Array<{ serials: string[]; reason: string; token: string; caller?: Caller }> = [];
  const at = new Date("2026-05-01T00:00:00Z");
  const unused = () => {
    throw new Error("not used by these routes");
  };
  const backend = {
    clock: new VirtualClock("2026-05-01T00:00:00Z"),
    revoke: async (req: RevokeRequest, caller?: Caller) => {
      singles.push({ req, caller });
      return { serial: req.serial.toLowerCase(), status: "revoked" as const, reason: req.reason, revokedAt: at };
    },
    revokeMany: async (serials: string[], reason: string, token: string, caller?: Caller) => {
      bulks.push({ serials, reason, token, caller });
      return { revoked: serials.length, revokedAt: at, unknown: [], alreadyRevoked: [] };
    },
    authenticate: (token: unknown) => {
      if (token === undefined) throw new CaError(401, "credential-required", "this needs the operator's credential");
      if (token !== TOKEN) throw new CaError(401, "bad-credential", "that is not a valid credential");
    },
    serveAt: () => undefined,
    issue: unused,
    renewalChallenge: unused,
    renew: unused,
    release: unused,
    unlock: unused,
    status: unused,
    certificatePem: unused,
    audit: unused,
    currentCrl: unused,
    rootCrl: unused,
    chainPem: unused,
    answerOcsp: unused,
  } as unknown as CaHttpBackend;
  return { backend, singles, bulks };
}

/** One request on a raw connection (any request-target form); the status line and body of the answer. */
async function raw(url: string, target: string, headers: Record<string, string>, body = ""): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  const socket = connect(Number(u.port), u.hostname);
  let received = "";
  socket.on("data", (d: Buffer) => (received += d.toString("latin1")));
  socket.on("error", () => undefined);
  await once(socket, "connect");
  const lines = Object.entries({ host: "ca", connection: "close", "content-length": String(Buffer.byteLength(body)), ...headers }).map(([k, v]) => `${k}: ${v}\r\n`);
  socket.write(`POST ${target} HTTP/1.1\r\n${lines.join("")}\r\n${body}`);
  await once(socket, "close");
  const [head, ...rest] = received.split("\r\n\r\n");
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), body: rest.join("\r\n\r\n") };
}

const holderBody = JSON.stringify({ reason: "keyCompromise", role: "holder", code: "c0de", email: "h@example.org", name: "H" });

test("single revocations: every path shape express would match is answered alike, with the decoded serial and the caller", async (t) => {
  const { backend, singles } = recordingBackend();
  const server = await startCaServer(backend, { port: 0 });
  try {
    const json = { "content-type": "application/json" };
    const shapes = ["/api/v1/certificates/0a1B/revoke", "/api/v1/certificates/0a1B/revoke/", "/API/V1/Certificates/0a1B/Revoke?x=1", "/api/v1/certificates/%30a1B/revoke"];
    // An absolute-form target is left to express, whose route calls the same handler.
    const absolute = `${server.url}/api/v1/certificates/0a1B/revoke`;
    for (const target of [...shapes, absolute]) {
      const r = await raw(server.url, target, json, holderBody);
      t.is(r.status, 200, target);
      t.deepEqual(JSON.parse(r.body), { serial: "0a1b", status: "revoked", reason: "keyCompromise", revokedAt: "2026-05-01T00:00:00.000Z" }, target);
    }
    t.is(singles.length, shapes.length + 1);
    t.true(singles.every((s) => s.req.serial === "0a1B" && s.req.code === "c0de" && s.caller?.source === "ip:127.0.0.1"));
    // A serial that does not URL-decode: express's 400, as before; the CA is not asked.
    const undecodable = await raw(server.url, "/api/v1/certificates/%E0/revoke", json, holderBody);
    t.is(undecodable.status, 400);
    t.is(JSON.parse(undecodable.body).error, "bad-request");
    // The body rules: JSON only (415), an array is not an object (400), too large declared (413).
    t.is((await raw(server.url, shapes[0], { "content-type": "text/plain" }, holderBody)).status, 415);
    t.is(JSON.parse((await raw(server.url, shapes[0], json, "[1]")).body).error, "bad-request");
    t.is((await raw(server.url, shapes[0], { ...json, "content-length": String(server.limits.smallBodyBytes + 1) })).status, 413);
    t.is(singles.length, shapes.length + 1, "no refused request reached the CA");
    // Not POST: not a route (express's 404).
    t.is((await fetch(`${server.url}/api/v1/certificates/0a1b/revoke`)).status, 404);
  } finally {
    await server.close();
  }
});

test("bulk revocations: the operator's credential before the body (401 with WWW-Authenticate), then the batch as sent", async (t) => {
  const { backend, bulks } = recordingBackend();
  const server = await startCaServer(backend, { port: 0 });
  try {
    const serials = Array.from({ length: 1000 }, (_, i) => (0x4000 + i).toString(16));
    const body = JSON.stringify({ serials, reason: "cessationOfOperation" });
    const post = (path: string, headers: Record<string, string>) => fetch(server.url + path, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
    const none = await post("/api/v1/revocations", {});
    t.is(none.status, 401);
    t.regex(none.headers.get("www-authenticate") ?? "", /^Bearer realm="cardloop-ca"$/);
    t.is(((await none.json()) as { error: string }).error, "credential-required");
    const wrong = await post("/api/v1/revocations", { authorization: "Bearer nope" });
    t.is(wrong.status, 401);
    t.regex(wrong.headers.get("www-authenticate") ?? "", /invalid_token/);
    t.is(bulks.length, 0);
    // A body declared far beyond the limit, with the right token: 413 from the headers.
    const huge = await raw(server.url, "/api/v1/revocations", { "content-type": "application/json", authorization: `Bearer ${TOKEN}`, "content-length": String(server.limits.bulkBodyBytes + 1) });
    t.is(huge.status, 413);
    for (const path of ["/api/v1/revocations", "/api/v1/revocations/", `${server.url}/api/v1/revocations`]) {
      const r = path.startsWith("http") ? await raw(server.url, path, { "content-type": "application/json", authorization: `Bearer ${TOKEN}` }, body) : await post(path, { authorization: `Bearer ${TOKEN}` }).then(async (x) => ({ status: x.status, body: await x.text() }));
      t.is(r.status, 200, path);
      t.deepEqual(JSON.parse(r.body), { revoked: 1000, revokedAt: "2026-05-01T00:00:00.000Z", unknown: [], alreadyRevoked: [] }, path);
    }
    t.is(bulks.length, 3);
    t.true(bulks.every((b) => b.serials.length === 1000 && b.serials[999] === serials[999] && b.token === TOKEN && b.reason === "cessationOfOperation" && b.caller?.source === "ip:127.0.0.1"));
  } finally {
    await server.close();
  }
});
