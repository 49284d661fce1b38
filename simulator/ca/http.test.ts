import "reflect-metadata";
import test from "ava";
import { KeyObject } from "node:crypto";
import { once } from "node:events";
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { CARDLOOP_VERSION, SeededRandom, VirtualClock } from "../../core/index.js";
import { EmbeddedCa, startCaServer, type CaHttpBackend, type CaServer } from "./index.js";
import { signRenewal } from "./renewal-proof.js";
import { makeCsr } from "./testing.js";

/** The HTTP API's contract: shapes, status codes, {error, message} bodies, bearer credentials, virtual clock. */
let ca: EmbeddedCa;
let server: CaServer;
let csr: string;
/** The private key of `csr`: it proves the renewal of any certificate issued for it, as the card would. */
let csrKey: KeyObject;
/** Codes come only with the card's first issuance (first test). */
let codes: Record<string, string>;
let ra: string;
let operator: string;
const holder = { id: "P-9", name: "Carla Pro", email: "carla@acme.example", organisation: "Acme", registration: { dateOfBirth: "1980-01-02" } };
const answers = { holderId: "P-9", dateOfBirth: "1980-01-02" };

test.before(async () => {
  ca = await EmbeddedCa.open({ clock: new VirtualClock("2026-05-01T00:00:00Z"), random: new SeededRandom(1), kdfLog2N: 4, maxFailedAttempts: 3 });
  ra = ca.raToken!;
  operator = ca.operatorToken!;
  server = await startCaServer(ca, { port: 0, virtualClock: true });
  const made = await makeCsr();
  csr = made.pem;
  csrKey = KeyObject.from(made.keys.privateKey);
});
test.after.always(async () => {
  await server?.close();
  await ca?.close();
});

async function call(method: string, path: string, body?: unknown, token?: string) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(server.url + path, { method, headers, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) });
  return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, any> };
}

async function issue(profile = "authentication", cardExpiry?: string) {
  return call("POST", "/api/v1/certificates", { csr, profile, holder, cardExpiry }, ra);
}

test.serial("issue -> 201 with the documented shape; bad input -> 400 {error, message}", async (t) => {
  const r = await issue("authentication", "2028-01-01T00:00:00Z");
  t.is(r.status, 201);
  t.regex(r.json.serial, /^[0-9a-f]+$/);
  t.regex(r.json.certificate, /BEGIN CERTIFICATE/);
  t.is(r.json.chain.length, 2);
  t.is(r.json.notAfter, "2028-01-01T00:00:00.000Z");
  t.truthy(r.json.cancellationCodes.legalRepresentative);
  codes = r.json.cancellationCodes;
  // The AIA and CDP point at this server.
  const { X509Certificate } = await import("@peculiar/x509");
  const cert = new X509Certificate(r.json.certificate);
  t.true(Buffer.from(cert.getExtension("1.3.6.1.5.5.7.1.1")!.value).toString("latin1").includes(`${server.url}/ocsp`));

  for (const bad of ["{not json", JSON.stringify([1, 2]), JSON.stringify({ csr: "x", profile: "authentication", holder })]) {
    const b = await call("POST", "/api/v1/certificates", bad, ra);
    t.is(b.status, 400);
    t.is(typeof b.json.error, "string");
    t.is(typeof b.json.message, "string");
  }
  t.is((await call("GET", "/api/v1/certificates/zz")).status, 400);
  t.is((await call("GET", "/api/v1/certificates/0abc")).status, 404);
  t.is((await call("GET", "/nope")).status, 404);
});

test.serial("issuing needs the RA credential: 401 without or with a bad one (WWW-Authenticate), 403 with the operator's", async (t) => {
  const body = { csr, profile: "signature", holder: { id: "NO-1", name: "Nora", email: "nora@example.org" } };
  const none = await call("POST", "/api/v1/certificates", body);
  t.is(none.status, 401);
  t.is(none.json.error, "credential-required");
  t.regex(none.headers.get("www-authenticate") ?? "", /^Bearer /);
  const bad = await call("POST", "/api/v1/certificates", body, "not-a-token");
  t.is(bad.status, 401);
  t.is(bad.json.error, "bad-credential");
  t.regex(bad.headers.get("www-authenticate") ?? "", /error="invalid_token"/);
  const wrongRole = await call("POST", "/api/v1/certificates", body, operator);
  t.is(wrongRole.status, 403);
  t.is(wrongRole.json.error, "forbidden");
  t.is(ca.store.card("NO-1"), undefined, "nothing was registered");
});

test.serial("revoke by role over HTTP: 403 changes nothing, backoff 429 with Retry-After, operator unlock, 409", async (t) => {
  const a = await issue();
  t.is(a.status, 201);
  const s = (await issue("signature")).json.serial as string;
  t.is(a.json.cancellationCodes, undefined);
  const path = `/api/v1/certificates/${s}/revoke`;
  for (let i = 0; i < 3; i++) {
    const r = await call("POST", path, { reason: "affiliationChanged", role: "legal-representative", code: "AAAA-BBBB-CCCC-DDDD" });
    t.is(r.status, 403);
    t.is(r.json.error, "forbidden");
  }
  t.is((await call("GET", `/api/v1/certificates/${s}`)).json.status, "good");
  // This source now waits (the CA's clock stands still here): even the right code is not looked at.
  const waiting = await call("POST", path, { reason: "affiliationChanged", role: "legal-representative", code: codes.legalRepresentative });
  t.is(waiting.status, 429);
  t.is(waiting.json.error, "too-many-attempts");
  t.regex(waiting.headers.get("retry-after") ?? "", /^[1-9][0-9]*$/);
  const noToken = await call("POST", `/api/v1/certificates/${s}/unlock`, {});
  t.is(noToken.status, 401);
  t.regex(noToken.headers.get("www-authenticate") ?? "", /^Bearer /);
  t.is((await call("POST", `/api/v1/certificates/${s}/unlock`, {}, "bad-token")).status, 401);
  t.is((await call("POST", `/api/v1/certificates/${s}/unlock`, {}, ra)).status, 403);
  t.is((await call("POST", `/api/v1/certificates/${s}/unlock`, {}, operator)).status, 200);
  const ok = await call("POST", path, { reason: "affiliationChanged", role: "legal-representative", code: codes.legalRepresentative });
  t.is(ok.status, 200);
  t.deepEqual(Object.keys(ok.json).sort(), ["reason", "revokedAt", "serial", "status"]);
  t.is(ok.json.status, "revoked");
  t.is((await call("POST", path, { reason: "keyCompromise", role: "operator", answers }, operator)).status, 409);
  const audit = await call("GET", `/api/v1/certificates/${s}/audit`, undefined, operator);
  t.is(audit.status, 200);
  t.true(audit.json.length > 0);
  t.false(JSON.stringify(audit.json).includes(codes.legalRepresentative));
  t.is((await call("GET", `/api/v1/certificates/${s}/audit`)).status, 401);
  t.is((await call("GET", `/api/v1/certificates/${s}/audit`, undefined, ra)).status, 403);
});

test.serial("operator revocation needs the operator's bearer token on top of the answers", async (t) => {
  const s = (await issue()).json.serial as string;
  const path = `/api/v1/certificates/${s}/revoke`;
  const anonymous = await call("POST", path, { reason: "keyCompromise", role: "operator", answers });
  t.is(anonymous.status, 401);
  t.is(anonymous.json.error, "credential-required");
  t.regex(anonymous.headers.get("www-authenticate") ?? "", /^Bearer /);
  t.is((await call("POST", path, { reason: "keyCompromise", role: "operator", answers }, ra)).status, 403);
  t.is((await call("GET", `/api/v1/certificates/${s}`)).json.status, "good");
  const r = await call("POST", path, { reason: "keyCompromise", role: "operator", answers }, operator);
  t.is(r.status, 200);
  t.is(r.json.status, "revoked");
});

test.serial("hold/release, renew and bulk over HTTP", async (t) => {
  const a = await issue();
  const s = a.json.serial as string;
  const hold = await call("POST", `/api/v1/certificates/${s}/revoke`, { reason: "certificateHold", role: "operator", answers }, operator);
  t.is(hold.json.status, "on-hold");
  t.is((await call("POST", `/api/v1/certificates/${s}/release`)).status, 401, "release needs the operator token");
  t.is((await call("POST", `/api/v1/certificates/${s}/release`, {}, ra)).status, 403);
  const rel = await call("POST", `/api/v1/certificates/${s}/release`, {}, operator);
  t.is(rel.status, 200);
  t.is(rel.json.status, "good");
  t.is((await call("POST", `/api/v1/certificates/${s}/release`, {}, operator)).status, 409);

  // Renewal needs the old key's proof over a fresh challenge (or the operator token): without, a refusal and nothing changes.
  for (const [body, token, status, error] of [
    [{ csr }, undefined, 403, "renewal-unauthorised"],
    [{ csr }, "bad-token", 401, "bad-credential"],
    [{ csr, challenge: "made-up", proof: "AAAA" }, undefined, 403, "bad-challenge"],
    [{ csr, challenge: "made-up", proof: 42 }, undefined, 403, "bad-proof"],
  ] as const) {
    const refused = await call("POST", `/api/v1/certificates/${s}/renew`, body, token);
    t.is(refused.status, status, JSON.stringify(body));
    t.is(refused.json.error, error);
    t.is(typeof refused.json.message, "string");
  }
  t.is((await call("GET", `/api/v1/certificates/${s}`)).json.status, "good");
  t.is((await call("POST", "/api/v1/certificates/0abc/renewal-challenge", {})).status, 404);
  const ch = await call("POST", `/api/v1/certificates/${s}/renewal-challenge`, {});
  t.is(ch.status, 201);
  t.deepEqual(Object.keys(ch.json).sort(), ["challenge", "expiresAt", "serial"]);
  const proof = Buffer.from(signRenewal(csrKey, ch.json.serial, ch.json.challenge)).toString("base64");
  const renewed = await call("POST", `/api/v1/certificates/${s}/renew`, { csr, challenge: ch.json.challenge, proof });
  t.is(renewed.status, 201);
  const old = await call("GET", `/api/v1/certificates/${s}`);
  t.is(old.json.reason, "superseded");
  // The same proof again (an eavesdropper's replay): the challenge is used up.
  t.is((await call("POST", `/api/v1/certificates/${s}/renew`, { csr, challenge: ch.json.challenge, proof })).json.error, "bad-challenge");
  // An operator at a counter renews with the token; the attempts are in the audit trail.
  t.is((await call("POST", `/api/v1/certificates/${renewed.json.serial}/renew`, { csr }, operator)).status, 201);
  const trail = (await call("GET", `/api/v1/certificates/${s}/audit`, undefined, operator)).json.filter((e: { action: string }) => e.action === "renew");
  t.true(trail.some((e: { outcome: string }) => e.outcome === "ok"));
  t.true(trail.some((e: { outcome: string }) => e.outcome === "bad-challenge"));

  const n = (await issue()).json.serial as string;
  t.is((await call("POST", "/api/v1/revocations", { serials: [n], reason: "keyCompromise" })).status, 401);
  t.is((await call("POST", "/api/v1/revocations", { serials: [n], reason: "keyCompromise" }, ra)).status, 403);
  t.is((await call("POST", "/api/v1/revocations", { serials: [n, "nothex"], reason: "keyCompromise" }, operator)).status, 400);
  t.is((await call("GET", `/api/v1/certificates/${n}`)).json.status, "good");
  const bulk = await call("POST", "/api/v1/revocations", { serials: [n, "0abc"], reason: "keyCompromise" }, operator);
  t.is(bulk.status, 200);
  t.is(bulk.json.revoked, 1);
  t.deepEqual(bulk.json.unknown, ["0abc"]);
});

test.serial("virtual clock endpoint moves the CA's clock (forward only), for the operator only", async (t) => {
  const before = (await call("GET", "/api/v1/clock")).json.now;
  // Moving time expires certificates: anonymous and RA callers are refused, and the clock stays put.
  t.is((await call("POST", "/api/v1/clock", { advanceMs: 86_400_000 })).status, 401);
  t.is((await call("POST", "/api/v1/clock", { advanceMs: 86_400_000 }, ra)).status, 403);
  t.is((await call("GET", "/api/v1/clock")).json.now, before);
  const r = await call("POST", "/api/v1/clock", { advanceMs: 86_400_000 }, operator);
  t.is(r.status, 200);
  t.is(new Date(r.json.now).getTime() - new Date(before).getTime(), 86_400_000);
  t.is((await call("POST", "/api/v1/clock", { advanceMs: -5 }, operator)).status, 400);
  t.is((await call("POST", "/api/v1/clock", { to: "2030-01-01T00:00:00Z" }, operator)).json.now, "2030-01-01T00:00:00.000Z");
  // The card-expiry cap is measured at the CA's clock: 2029 is now in the past.
  t.is((await issue("authentication", "2029-06-01T00:00:00Z")).status, 400);
});

test.serial("GET /api/v1/info says what software answers, to anyone, and changes nothing; it is read-only", async (t) => {
  const snapshot = () => ({ audit: ca.audit().length, crl: Buffer.from(ca.currentCrl()).toString("hex"), now: ca.clock.now().toISOString() });
  const before = snapshot();
  const r = await call("GET", "/api/v1/info"); // no credential
  t.is(r.status, 200);
  t.deepEqual(r.json, { software: "cardloop embedded CA", version: CARDLOOP_VERSION });
  t.is((await call("POST", "/api/v1/info", {}, operator)).status, 404);
  t.deepEqual(snapshot(), before);
});

test("without --virtual-clock the clock endpoint does not exist", async (t) => {
  const plain = await EmbeddedCa.open({ kdfLog2N: 4 });
  const s2 = await startCaServer(plain, { port: 0 });
  const r = await fetch(`${s2.url}/api/v1/clock`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  t.is(r.status, 404);
  await s2.close();
  await plain.close();
});

test("the server needs only CaHttpBackend: a backend with nothing else (no store, no responder) serves the whole API", async (t) => {
  const inner = await EmbeddedCa.open({ kdfLog2N: 4, crlScheduleMs: 0 });
  const served: string[] = [];
  const sources = new Set<string>();
  const seen = (c?: { source: string }) => (c ? sources.add(c.source) : undefined, c);
  // Exactly the interface's members, each delegating: reaching for anything else would be undefined here.
  const backend: CaHttpBackend = {
    clock: inner.clock,
    issue: (r, c) => inner.issue(r, seen(c)),
    renewalChallenge: (s) => inner.renewalChallenge(s),
    renew: (s, r, c) => inner.renew(s, r, seen(c)),
    revoke: (r, c) => inner.revoke(r, seen(c)),
    revokeMany: (s, r, tok, c) => inner.revokeMany(s, r, tok, seen(c)),
    release: (s, tok, c) => inner.release(s, tok, seen(c)),
    unlock: (s, tok, c) => inner.unlock(s, tok, seen(c)),
    status: (s) => inner.status(s),
    certificatePem: (s) => inner.certificatePem(s),
    audit: (s) => inner.audit(s),
    authenticate: (tok, role, action, c) => inner.authenticate(tok, role, action, seen(c)),
    currentCrl: () => inner.currentCrl(),
    rootCrl: () => inner.rootCrl(),
    chainPem: () => inner.chainPem(),
    answerOcsp: (der) => inner.answerOcsp(der),
    serveAt: (url) => {
      served.push(url);
      inner.serveAt(url);
    },
  };
  const s2 = await startCaServer(backend, { port: 0 });
  try {
    t.deepEqual(served, [s2.url], "told where it is served");
    const post = (path: string, body: unknown, token?: string) =>
      fetch(s2.url + path, { method: "POST", headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
    const issued = await post("/api/v1/certificates", { csr, profile: "signature", holder: { id: "IF-1", name: "Ivy", email: "ivy@example.org" } }, inner.raToken);
    t.is(issued.status, 201);
    const { serial, certificate } = (await issued.json()) as { serial: string; certificate: string };
    t.regex(certificate, /BEGIN CERTIFICATE/);
    t.is((await post("/api/v1/revocations", { serials: [serial], reason: "certificateHold" }, inner.operatorToken)).status, 200);
    t.is((await post(`/api/v1/certificates/${serial}/release`, {}, inner.operatorToken)).status, 200);
    t.is((await fetch(`${s2.url}/crl`)).status, 200);
    t.is((await fetch(`${s2.url}/crl/root`)).status, 200);
    t.is((await fetch(`${s2.url}/ocsp`, { method: "POST", body: new Uint8Array([0x30, 0]) })).status, 200);
    t.is((await fetch(`${s2.url}/api/v1/certificates/${serial}/audit`, { headers: { authorization: `Bearer ${inner.operatorToken}` } })).status, 200);
    // Every backend call was told where the request came from.
    t.deepEqual([...sources], ["ip:127.0.0.1"]);
  } finally {
    await s2.close();
    await inner.close();
  }
});

// ---------------------------------------------------------------- limits before parsing (issue 11, defects 3, 14a)

/** A raw client connection: what it wrote, what the server sent back, and whether the server closed it. */
async function rawClient(url: string) {
  const u = new URL(url);
  const socket = connect(Number(u.port), u.hostname);
  const c = { socket, received: "", closed: false };
  socket.on("data", (d: Buffer) => (c.received += d.toString("latin1")));
  socket.on("close", () => (c.closed = true));
  socket.on("error", () => undefined); // a reset after the server's answer is expected for unread bodies
  await once(socket, "connect");
  return c;
}

/** Polls `done` up to `polls` times, 50 ms apart: bounded in count; the assertion is on the state, never on a time. */
async function until(done: () => boolean, polls = 200): Promise<boolean> {
  for (let i = 0; i < polls && !done(); i++) await new Promise((r) => setTimeout(r, 50));
  return done();
}

const head = (method: string, path: string, headers: Record<string, string | number>) =>
  `${method} ${path} HTTP/1.1\r\nhost: ca\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("")}\r\n`;

test.serial("credentials are checked before the body is read: the answer comes while the body is still unsent, and the connection closes", async (t) => {
  for (const [path, token, status] of [
    ["/api/v1/certificates", undefined, 401],
    ["/api/v1/certificates", "not-a-token", 401],
    ["/api/v1/certificates", operator, 403],
    ["/api/v1/revocations", undefined, 401],
    ["/api/v1/revocations", ra, 403],
    ["/api/v1/certificates/0abc/release", undefined, 401],
    ["/api/v1/certificates/0abc/unlock", undefined, 401],
  ] as const) {
    const c = await rawClient(server.url);
    // Announce a body within the route's limit, send none of it.
    c.socket.write(head("POST", path, { "content-type": "application/json", "content-length": 3000, ...(token ? { authorization: `Bearer ${token}` } : {}) }));
    t.true(await until(() => c.closed), `${path}: the server answered and closed without waiting for the body`);
    t.regex(c.received, new RegExp(`^HTTP/1.1 ${status} `), path);
    t.regex(c.received, /\r\nconnection: close\r\n/i);
    if (status === 401) t.regex(c.received, /\r\nwww-authenticate: Bearer /i);
  }
});

test.serial("body limits per endpoint: 413 for a declared or a streamed body over the limit, 415 for non-JSON, 400 for too deep", async (t) => {
  const s = (await issue()).json.serial as string;
  // Declared too large: answered from the header alone, then closed.
  const declared = await rawClient(server.url);
  declared.socket.write(head("POST", `/api/v1/certificates/${s}/revoke`, { "content-type": "application/json", "content-length": 100_000_000 }));
  t.true(await until(() => declared.closed));
  t.regex(declared.received, /^HTTP\/1.1 413 /);
  t.regex(declared.received, /"error":"too-large"/);
  t.regex(declared.received, /\r\nconnection: close\r\n/i);
  // Issuance takes a CSR: 32 KB. A chunked body (no length declared) is cut off while streaming.
  const streamed = await rawClient(server.url);
  streamed.socket.write(head("POST", "/api/v1/certificates", { "content-type": "application/json", "transfer-encoding": "chunked", authorization: `Bearer ${ra}` }));
  let sent = 0;
  const chunk = `{"x":"${"a".repeat(8000)}`;
  for (let i = 0; i < 64 && streamed.received === "" && !streamed.closed; i++) {
    streamed.socket.write(`${Buffer.byteLength(chunk).toString(16)}\r\n${chunk}\r\n`);
    sent += chunk.length;
    await new Promise((r) => setTimeout(r, 20));
  }
  t.true(await until(() => streamed.closed));
  t.regex(streamed.received, /^HTTP\/1.1 413 /);
  t.true(sent < 64 * chunk.length, "refused before the client had sent everything");

  // OCSP keeps its own 64 KB limit: a larger declared body is malformedRequest at once, and the connection closes.
  const ocsp = await rawClient(server.url);
  ocsp.socket.write(head("POST", "/ocsp", { "content-type": "application/ocsp-request", "content-length": 100_000_000 }));
  t.true(await until(() => ocsp.closed));
  t.regex(ocsp.received, /^HTTP\/1.1 200 [^]*\r\n\r\n0\x03\x0a\x01\x01$/, "malformedRequest");

  const typed = await fetch(`${server.url}/api/v1/certificates/${s}/revoke`, { method: "POST", headers: { "content-type": "text/plain" }, body: "{}" });
  t.is(typed.status, 415);
  t.is(((await typed.json()) as { error: string }).error, "unsupported-media-type");

  const nest = (n: number) => "[".repeat(n) + "]".repeat(n);
  const deep = await call("POST", `/api/v1/certificates/${s}/revoke`, `{"answers":${nest(8)}}`);
  t.is(deep.status, 400);
  t.is(deep.json.error, "too-deep");
  const shallow = await call("POST", `/api/v1/certificates/${s}/revoke`, `{"answers":${nest(7)}}`);
  t.is(shallow.status, 400);
  t.not(shallow.json.error, "too-deep", "8 levels are parsed (and then refused as a request)");
  t.is((await call("GET", `/api/v1/certificates/${s}`)).json.status, "good");
});

test.serial("concurrent requests per client: the 17th open request from one address gets 429 (OCSP too), and slots free as requests end", async (t) => {
  const s = (await issue()).json.serial as string;
  const holders = [];
  for (let i = 0; i < server.limits.requestsPerClient; i++) {
    const c = await rawClient(server.url);
    // Open requests: headers sent, body pending.
    c.socket.write(head("POST", `/api/v1/certificates/${s}/revoke`, { "content-type": "application/json", "content-length": 100 }));
    holders.push(c);
  }
  const ocsp = async () => (await fetch(`${server.url}/ocsp/MAA=`)).status;
  // The server sees the 16 open requests as they arrive: poll until it refuses (bounded).
  let refused = await fetch(`${server.url}/api/v1/certificates/${s}`);
  for (let i = 0; i < 100 && refused.status !== 429; i++) refused = await fetch(`${server.url}/api/v1/certificates/${s}`);
  t.is(refused.status, 429);
  t.is(refused.headers.get("retry-after"), "1");
  t.is(((await refused.json()) as { error: string }).error, "too-many-requests");
  t.is(await ocsp(), 429, "OCSP counts toward the same limit");
  for (const c of holders) c.socket.destroy();
  let status = await ocsp();
  for (let i = 0; i < 200 && status !== 200; i++) {
    await new Promise((r) => setTimeout(r, 50));
    status = await ocsp();
  }
  t.is(status, 200, "the slots are free again once those requests are gone");
  t.is((await fetch(`${server.url}/api/v1/certificates/${s}`)).status, 200);
});

test("the global body budget: bodies beyond it wait for none of it, 503 busy with Retry-After", async (t) => {
  const small = await EmbeddedCa.open({ kdfLog2N: 4, crlScheduleMs: 0 });
  // Room for two 32 KB CSR bodies at once.
  const s2 = await startCaServer(small, { port: 0, limits: { bodyBudgetBytes: 64 * 1024 } });
  try {
    const open = [];
    for (let i = 0; i < 2; i++) {
      const c = await rawClient(s2.url);
      c.socket.write(head("POST", "/api/v1/certificates", { "content-type": "application/json", "content-length": 32 * 1024, authorization: `Bearer ${small.raToken}` }));
      open.push(c);
    }
    let third = await fetch(`${s2.url}/api/v1/certificates`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${small.raToken}` }, body: "{}" });
    // "{}" fits whatever is left; poll with a body that does not fit once the two are held (bounded).
    const big = JSON.stringify({ pad: "x".repeat(10_000) });
    for (let i = 0; i < 100 && third.status !== 503; i++) {
      third = await fetch(`${s2.url}/api/v1/certificates`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${small.raToken}` }, body: big });
    }
    t.is(third.status, 503);
    t.is(((await third.json()) as { error: string }).error, "busy");
    t.is(third.headers.get("retry-after"), "1");
    for (const c of open) c.socket.destroy();
    let after = 0;
    for (let i = 0; i < 100 && after !== 400; i++) {
      after = (await fetch(`${s2.url}/api/v1/certificates`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${small.raToken}` }, body: big })).status;
      if (after !== 400) await new Promise((r) => setTimeout(r, 50));
    }
    t.is(after, 400, "the budget is returned when those clients go away (400: the padding is no request)");
  } finally {
    await s2.close();
    await small.close();
  }
});

test("slowloris: headers or a body sent a byte at a time are cut off after the configured timeout (408 or closed)", async (t) => {
  const slow = await EmbeddedCa.open({ kdfLog2N: 4, crlScheduleMs: 0 });
  const s2 = await startCaServer(slow, { port: 0, limits: { headersTimeoutMs: 1000, requestTimeoutMs: 1000 } });
  try {
    const headers = await rawClient(s2.url);
    const body = await rawClient(s2.url);
    body.socket.write(head("POST", "/api/v1/certificates/0abc/revoke", { "content-type": "application/json", "content-length": 200 }));
    const partial = "POST /api/v1/certificates/0abc/revoke HTTP/1.1\r\nhost: ca\r\nx-slow: ";
    let drips = 0;
    // One byte per 100 ms on each: finishing would take 200 drips (20 s); the server must cut both off long before.
    for (; drips < 200 && !(headers.closed && body.closed); drips++) {
      if (!headers.closed) headers.socket.write(drips < partial.length ? partial[drips] : "a");
      if (!body.closed) body.socket.write(" ");
      await new Promise((r) => setTimeout(r, 100));
    }
    t.true(headers.closed && body.closed, "both connections were closed by the server");
    t.true(drips < 200, "before either finished sending");
    t.regex(body.received, /^(HTTP\/1.1 408 |$)/);
    t.regex(headers.received, /^(HTTP\/1.1 408 |$)/);
    t.is((await fetch(`${s2.url}/crl`)).status, 200, "the server still answers");
  } finally {
    await s2.close();
    await slow.close();
  }
});

test("storage faults are 503 storage-unavailable with Retry-After, never 500; the CA recovers when the store does (real SQLite)", async (t) => {
  const c = await EmbeddedCa.open({ kdfLog2N: 4, crlScheduleMs: 0, crlDebounceMs: 60_000, crlMaxDelayMs: 60_000 });
  const s2 = await startCaServer(c, { port: 0 });
  try {
    const post = (path: string, body: unknown, token?: string) =>
      fetch(s2.url + path, { method: "POST", headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
    const serials: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await post("/api/v1/certificates", { csr, profile: "signature", holder: { id: `SF-${i}`, name: "Sam", email: "sam@example.org" } }, c.raToken);
      serials.push(((await r.json()) as { serial: string }).serial);
    }
    t.is((await fetch(`${s2.url}/crl`)).status, 200);
    // A read-only store: SQLite answers SQLITE_READONLY to every write.
    c.store.db.pragma("query_only = 1");
    const refused = await post("/api/v1/revocations", { serials: [serials[0]], reason: "keyCompromise" }, c.operatorToken);
    t.is(refused.status, 503);
    t.is(((await refused.json()) as { error: string }).error, "storage-unavailable");
    t.regex(refused.headers.get("retry-after") ?? "", /^[1-9][0-9]*$/);
    t.is((await c.status(serials[0])).status, "good", "nothing acknowledged, nothing changed");
    c.store.db.pragma("query_only = 0");
    t.is((await post("/api/v1/revocations", { serials: [serials[0]], reason: "keyCompromise" }, c.operatorToken)).status, 200);
    // The CRL is now stale; signing it needs a write (its number): read-only, GET /crl is 503 too, not 500.
    c.store.db.pragma("query_only = 1");
    const crl = await fetch(`${s2.url}/crl`);
    t.is(crl.status, 503);
    t.is(((await crl.json()) as { error: string }).error, "storage-unavailable");
    c.store.db.pragma("query_only = 0");
    const back = await fetch(`${s2.url}/crl`);
    t.is(back.status, 200);
    const { X509Crl } = await import("@peculiar/x509");
    t.truthy(new X509Crl(new Uint8Array(await back.arrayBuffer())).findRevoked(serials[0]), "the revocation is on the CRL once the store is back");
  } finally {
    await s2.close();
    await c.close();
  }
});

test("connections per client: one address holding its limit gets further connections closed at once; others are unaffected", async (t) => {
  const c4 = await EmbeddedCa.open({ kdfLog2N: 4, crlScheduleMs: 0 });
  const s2 = await startCaServer(c4, { port: 0, limits: { connectionsPerClient: 4 } });
  try {
    const held = [];
    for (let i = 0; i < 4; i++) held.push(await rawClient(s2.url));
    const extra = await rawClient(s2.url);
    t.true(await until(() => extra.closed), "the fifth connection from 127.0.0.1 was closed");
    t.is(extra.received, "", "without an answer");
    // Another address is another client.
    const u = new URL(s2.url);
    const other = await new Promise<number>((resolve) => {
      const req = httpRequest({ host: u.hostname, port: u.port, path: "/crl", localAddress: "127.0.0.2", agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", () => resolve(0));
      req.end();
    });
    t.is(other, 200);
    held.pop()!.socket.destroy();
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = await fetch(`${s2.url}/crl`).then((r) => r.status).catch(() => 0);
      if (status !== 200) await new Promise((r) => setTimeout(r, 50));
    }
    t.is(status, 200, "a freed connection can be used again");
    for (const c of held) c.socket.destroy();
  } finally {
    await s2.close();
    await c4.close();
  }
});

test("behind a trusted proxy every limit counts the client X-Forwarded-For names: one client's wrong codes make it wait, not the proxy's other clients", async (t) => {
  const behind = await EmbeddedCa.open({ kdfLog2N: 4, crlScheduleMs: 0 });
  const s2 = await startCaServer(behind, { port: 0, trustedProxies: ["127.0.0.1"] });
  t.teardown(async () => {
    await s2.close();
    await behind.close();
  });
  const carol = { id: "TP-1", name: "Tessa Proxy", email: "tessa@example.org" };
  const r = await behind.issue({ csrPem: csr, profile: "authentication", holder: carol, raToken: behind.raToken });
  const revoke = async (forwardedFor: string, code: string) =>
    (
      await fetch(`${s2.url}/api/v1/certificates/${r.serial}/revoke`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-forwarded-for": forwardedFor },
        body: JSON.stringify({ reason: "keyCompromise", role: "holder", code, email: carol.email, name: carol.name }),
      })
    ).status;
  const guesses = [];
  for (let i = 0; i < 7; i++) guesses.push(await revoke("203.0.113.66", "0000-0000-0000-0000"));
  t.deepEqual(guesses, [403, 403, 403, 403, 403, 429, 429], "the guesser behind the proxy waits");
  t.is(await revoke("198.51.100.7", r.cancellationCodes!.holder), 200, "the holder behind the same proxy does not");
});
