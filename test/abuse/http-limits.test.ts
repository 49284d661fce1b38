import test from "ava";
import { connect } from "node:net";
import { once } from "node:events";
import { buildOcspRequest, Certificate, OcspResponse, pemToDer } from "../../pki/index.js";
import { makeCsr } from "../../simulator/ca/testing.js";
import { serveCa, type ServedCa } from "./served-ca.js";

/**
 * Abuse of the served CA's HTTP limits (issue 11, defects 3 and 14a), each
 * against a CA in its own process (test/abuse/serve-ca.ts) on loopback:
 * oversize declared and streamed bodies, JSON nested 10^6 deep, 40 parallel
 * 1 MB bodies, slow clients. After each the CA must still answer GET /crl
 * and OCSP, and its memory must stay under a ceiling.
 *
 * The attackers connect from other loopback addresses (127.0.0.2-5), as
 * other machines would: the probes from 127.0.0.1 then measure what the
 * attack leaves to everyone else, not the per-client limit the attackers hit.
 */
const ATTACKERS = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"];

/**
 * The memory ceiling: growth of the server's peak RSS (VmHWM, reset just
 * before an attack) under 128 MiB. Why that figure: the global body budget
 * lets at most 16 MiB of request bodies be held at once; an accepted body
 * then becomes garbage of up to ~5 times its size (the joined buffer, the
 * decoded string, the parsed values, the answer) that V8 frees only at its
 * next major collection: 16 MiB held + 16 x 1 MiB x 5 = 96 MiB, and a margin
 * for when that collection comes. Measured on the 40 x 1 MB attack below:
 * +19 MiB while 16 bodies are held, +41 to +69 MiB at the peak after parsing
 * them. Without the budget the growth follows the attacker: 40 bodies of
 * 64 MB (the old limit) are 2.5 GB, which is what ended the process.
 */
const CEILING_KB = 128 * 1024;

interface Probe {
  crl: number;
  ocsp: string | undefined;
}

/** A certificate, and an OCSP request for it, for the health probes. */
async function prepare(ca: ServedCa): Promise<Buffer> {
  const res = await fetch(`${ca.url}/api/v1/certificates`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${ca.raToken}` },
    body: JSON.stringify({ csr: (await makeCsr()).pem, profile: "signature", holder: { id: "AB-1", name: "Abe", email: "abe@example.org" } }),
  });
  const { serial } = (await res.json()) as { serial: string };
  const issuing = new Certificate(pemToDer(await (await fetch(`${ca.url}/ca`)).text(), "CERTIFICATE"));
  return Buffer.from(buildOcspRequest(issuing, [serial]));
}

/** What the CA answers everyone else (from 127.0.0.1): its CRL and an OCSP status. */
async function probe(ca: ServedCa, ocspRequest: Buffer): Promise<Probe> {
  const crl = await fetch(`${ca.url}/crl`);
  await crl.arrayBuffer();
  const ocsp = await fetch(`${ca.url}/ocsp`, { method: "POST", headers: { "content-type": "application/ocsp-request" }, body: ocspRequest });
  return { crl: crl.status, ocsp: new OcspResponse(new Uint8Array(await ocsp.arrayBuffer())).responses[0]?.status };
}

/** A raw connection from `localAddress`: what came back and whether the server closed it. */
async function raw(url: string, localAddress: string) {
  const u = new URL(url);
  const socket = connect({ port: Number(u.port), host: u.hostname, localAddress });
  const c = { socket, received: "", closed: false, sent: 0 };
  socket.on("data", (d: Buffer) => (c.received += d.toString("latin1")));
  socket.on("close", () => (c.closed = true));
  socket.on("error", () => undefined); // writes after the server's close fail: expected
  await once(socket, "connect");
  return c;
}

const head = (method: string, path: string, headers: Record<string, string | number>) =>
  `${method} ${path} HTTP/1.1\r\nhost: ca\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("")}\r\n`;

test.serial("40 parallel bodies declaring 60 MB are answered from their headers (413, or 401 before the body) and closed", async (t) => {
  const ca = await serveCa(t);
  const ocspRequest = await prepare(ca);
  const targets = [
    { path: "/api/v1/certificates/0abc/revoke", auth: undefined, status: 413 },
    { path: "/api/v1/certificates", auth: undefined, status: 401 },
    { path: "/api/v1/certificates", auth: ca.raToken, status: 413 },
    { path: "/api/v1/revocations", auth: ca.operatorToken, status: 413 },
  ];
  ca.resetPeak();
  const before = ca.memory().rssKb;
  const clients = await Promise.all(
    Array.from({ length: 40 }, async (_, i) => {
      const target = targets[i % targets.length];
      const c = await raw(ca.url, ATTACKERS[i % ATTACKERS.length]);
      c.socket.write(head("POST", target.path, { "content-type": "application/json", "content-length": 60_000_000, ...(target.auth ? { authorization: `Bearer ${target.auth}` } : {}) }));
      return { c, target };
    }),
  );
  t.true(await ca.until(() => clients.every(({ c }) => c.closed)), "every connection closed by the server, no body sent");
  for (const { c, target } of clients) t.regex(c.received, new RegExp(`^HTTP/1.1 ${target.status} `), target.path);
  t.deepEqual(await probe(ca, ocspRequest), { crl: 200, ocsp: "good" });
  t.true(ca.memory().hwmKb - before < CEILING_KB);
  t.true(ca.alive());
});

test.serial("bodies streamed without a length are cut off at the endpoint's limit (413), with no more read", async (t) => {
  const ca = await serveCa(t);
  const ocspRequest = await prepare(ca);
  const targets = [
    { path: "/api/v1/certificates/0abc/revoke", auth: undefined, limit: 4 * 1024 },
    { path: "/api/v1/certificates", auth: ca.raToken, limit: 32 * 1024 },
    { path: "/api/v1/revocations", auth: ca.operatorToken, limit: 1024 * 1024 },
  ];
  const CAP = 8 * 1024 * 1024; // what each client would send if never stopped
  const chunk = Buffer.alloc(64 * 1024, "a");
  const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]);
  ca.resetPeak();
  const before = ca.memory().rssKb;
  const clients = await Promise.all(
    Array.from({ length: 30 }, async (_, i) => {
      const target = targets[i % targets.length];
      const c = await raw(ca.url, ATTACKERS[i % ATTACKERS.length]);
      c.socket.write(head("POST", target.path, { "content-type": "application/json", "transfer-encoding": "chunked", ...(target.auth ? { authorization: `Bearer ${target.auth}` } : {}) }));
      c.socket.write('1\r\n{\r\n');
      // Stream until refused (or the cap): bounded by CAP / 64 KiB writes.
      while (!c.closed && c.received === "" && c.sent < CAP) {
        c.sent += chunk.length;
        if (!c.socket.write(frame)) await drainedOrClosed(c.socket);
      }
      return { c, target };
    }),
  );
  t.true(await ca.until(() => clients.every(({ c }) => c.closed)));
  for (const { c, target } of clients) {
    t.true(c.sent < CAP, `${target.path}: cut off before the client was done`);
    // The answer is read before the server closes; a reset can race it only when the kernel drops it with unread data.
    t.regex(c.received, /^(HTTP\/1.1 413 |$)/);
  }
  t.true(clients.filter(({ c }) => c.received.startsWith("HTTP/1.1 413 ")).length > 0);
  t.deepEqual(await probe(ca, ocspRequest), { crl: 200, ocsp: "good" });
  t.true(ca.memory().hwmKb - before < CEILING_KB);
});

test.serial("JSON nested 10^6 deep is refused before parsing: too large for anonymous routes, too deep for the operator's bulk route", async (t) => {
  const ca = await serveCa(t);
  const ocspRequest = await prepare(ca);
  const deep = "[".repeat(1_000_000);
  const send = async (path: string, body: string, token?: string) => {
    const r = await fetch(ca.url + path, { method: "POST", headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) }, body }).catch(() => undefined);
    return r ? { status: r.status, error: ((await r.json()) as { error: string }).error } : undefined;
  };
  // 1 MB of brackets fits only the bulk route's limit (1 MiB); the scan stops at level 9.
  t.deepEqual(await send("/api/v1/revocations", `{"serials":${deep}`, ca.operatorToken), { status: 400, error: "too-deep" });
  t.deepEqual(await send("/api/v1/revocations", `{"serials":${"[".repeat(5000)}${"]".repeat(5000)},"reason":"keyCompromise"}`, ca.operatorToken), { status: 400, error: "too-deep" });
  // Anonymous and RA routes: refused by size from the header (the client may see the close before the answer).
  for (const [path, token] of [["/api/v1/certificates/0abc/revoke", undefined], ["/api/v1/certificates", ca.raToken]] as const) {
    const r = await send(path, deep, token);
    t.true(r === undefined || (r.status === 413 && r.error === "too-large"), path);
  }
  t.deepEqual(await probe(ca, ocspRequest), { crl: 200, ocsp: "good" });
  t.true(ca.alive());
});

test.serial("40 parallel 1 MB bodies held open: the body budget takes 16, the rest get 503 at once; memory stays under the ceiling", async (t) => {
  const ca = await serveCa(t);
  const ocspRequest = await prepare(ca);
  // ~1 MB of well-formed serials; the reason is refused after parsing, so the test measures the bodies, not the store.
  const serials: string[] = [];
  for (let i = 0, size = 30; size < 1024 * 1024 - 64; i++, size += 35) serials.push((0x40000000 + i).toString(16).padEnd(32, "0"));
  const body = Buffer.from(JSON.stringify({ serials, reason: "not-a-reason" }));
  t.true(body.length <= 1024 * 1024 && body.length > 1_000_000);
  ca.resetPeak();
  const before = ca.memory().rssKb;
  // Every client sends all but the last byte and holds: the bodies are in the server's hands at once.
  const clients = await Promise.all(
    Array.from({ length: 40 }, async (_, i) => {
      const c = await raw(ca.url, ATTACKERS[i % ATTACKERS.length]);
      c.socket.write(head("POST", "/api/v1/revocations", { "content-type": "application/json", "content-length": body.length, authorization: `Bearer ${ca.operatorToken}` }));
      if (!c.socket.write(body.subarray(0, body.length - 1))) await drainedOrClosed(c.socket);
      return c;
    }),
  );
  const busy = () => clients.filter((c) => /^HTTP\/1.1 503 [^]*"error":"busy"/.test(c.received)).length;
  // 16 MiB of budget holds 16 of these bodies: the other 24 are refused from their headers.
  t.true(await ca.until(() => busy() === 24));
  const held = ca.memory();
  t.is(busy(), 24, "no more refused than the budget requires");
  t.deepEqual(await probe(ca, ocspRequest), { crl: 200, ocsp: "good" }, "answered while 16 MB of bodies are held");
  // The last bytes: the 16 held bodies are parsed (and refused for their reason, 400).
  for (const c of clients) if (c.received === "") c.socket.write(body.subarray(body.length - 1));
  t.true(await ca.until(() => clients.every((c) => c.received !== "")));
  t.is(clients.filter((c) => c.received.startsWith("HTTP/1.1 400 ")).length, 16);
  const peak = ca.memory().hwmKb;
  t.log(`RSS before ${Math.round(before / 1024)} MiB; while 16 bodies were held +${Math.round((held.rssKb - before) / 1024)} MiB; peak after parsing them +${Math.round((peak - before) / 1024)} MiB (ceiling ${CEILING_KB / 1024} MiB)`);
  t.true(peak - before < CEILING_KB);
  t.deepEqual(await probe(ca, ocspRequest), { crl: 200, ocsp: "good" });
  t.true(ca.alive());
});

test.serial("slow clients (a byte every 200 ms of headers or body) are cut off after the 1 s timeouts; others are served meanwhile", async (t) => {
  const ca = await serveCa(t, { headersTimeoutMs: 1000, requestTimeoutMs: 1000 });
  const ocspRequest = await prepare(ca);
  const clients = await Promise.all(
    Array.from({ length: 40 }, async (_, i) => {
      const c = await raw(ca.url, ATTACKERS[i % ATTACKERS.length]);
      if (i % 2 === 0) c.socket.write("POST /api/v1/certificates/0abc/revoke HTTP/1.1\r\nhost: ca\r\n");
      else c.socket.write(head("POST", "/api/v1/certificates/0abc/revoke", { "content-type": "application/json", "content-length": 1000 }));
      return { c, headers: i % 2 === 0 };
    }),
  );
  const probes: Probe[] = [];
  let drips = 0;
  // 1000 bytes at one per 200 ms would take 200 s; stop at 100 drips (20 s) at most.
  for (; drips < 100 && !clients.every(({ c }) => c.closed); drips++) {
    for (const { c, headers } of clients) if (!c.closed) c.socket.write(headers ? "x" : " ");
    if (drips % 5 === 0) probes.push(await probe(ca, ocspRequest));
    await new Promise((r) => setTimeout(r, 200));
  }
  t.true(clients.every(({ c }) => c.closed), "every slow client was cut off");
  t.true(drips < 100);
  for (const { c } of clients) t.regex(c.received, /^(HTTP\/1.1 408 |$)/);
  t.true(probes.length > 0);
  t.deepEqual(probes.filter((p) => p.crl !== 200 || p.ocsp !== "good"), [], "everyone else was answered while they dripped");
  t.deepEqual(await probe(ca, ocspRequest), { crl: 200, ocsp: "good" });
});

/** Waits for a full socket buffer to drain, or for the server to close the connection (a write after that fails: expected). */
function drainedOrClosed(socket: import("node:net").Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off("drain", done);
      socket.off("close", done);
      resolve();
    };
    socket.once("drain", done);
    socket.once("close", done);
  });
}

test.serial("anonymous clients that declare bodies and send nothing hold no budget: a holder still revokes", async (t) => {
  const ca = await serveCa(t);
  const ocspRequest = await prepare(ca);
  const holder = { id: "AB-2", name: "Bea Budget", email: "bea@example.org" };
  const issued = await fetch(`${ca.url}/api/v1/certificates`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${ca.raToken}` },
    body: JSON.stringify({ csr: (await makeCsr()).pem, profile: "authentication", holder }),
  });
  const { serial, cancellationCodes } = (await issued.json()) as { serial: string; cancellationCodes: { holder: string } };
  // 36 addresses x 16 requests each declaring the renewal route's 32 KiB and sending none of it: 18 MiB announced,
  // more than the whole 16 MiB budget. Reserved up front, that would leave nothing for anyone (503 "busy").
  const held = await Promise.all(
    Array.from({ length: 36 * 16 }, async (_, i) => {
      const c = await raw(ca.url, `127.0.1.${10 + (i % 36)}`);
      c.socket.write(head("POST", `/api/v1/certificates/${serial}/renew`, { "content-type": "application/json", "content-length": 32 * 1024 }));
      return c;
    }),
  );
  t.teardown(() => held.forEach((c) => c.socket.destroy()));
  const revoked = await fetch(`${ca.url}/api/v1/certificates/${serial}/revoke`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ reason: "keyCompromise", role: "holder", code: cancellationCodes.holder, email: holder.email, name: holder.name }),
  });
  t.is(revoked.status, 200, await revoked.clone().text());
  t.is(((await revoked.json()) as { status: string }).status, "revoked");
  t.true(held.every((c) => c.received === ""), "the silent clients are still waiting (none was refused for the budget)");
  t.deepEqual(await probe(ca, ocspRequest), { crl: 200, ocsp: "good" }, "and everyone else is answered");
  t.true(ca.alive());
});
