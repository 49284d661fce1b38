import test, { type ExecutionContext } from "ava";
import fc from "fast-check";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import { dashboardUrl } from "../cli/dashboard-option.js";
import { sameSecret, UsageError } from "../core/index.js";
import { parseDashboardUrl, runPageHash, STALLED_CLOSE_CODE } from "./protocol.js";
import { DashboardPublisher } from "./publisher.js";
import {
  bearerToken,
  checkPublicUrl,
  checkToken,
  CONTENT_SECURITY_POLICY,
  generateToken,
  hostAllowed,
  hostName,
  originAllowed,
  resolveToken,
  SECURITY_HEADERS,
  TOKEN_FILE,
} from "./security.js";
import { startDashboard, type Dashboard, type DashboardOptions } from "./server.js";

/** The security kernel's functions, then the same rules over real sockets against startDashboard. */

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "cardloop-dash-sec-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("a generated token is 32 random bytes in base64url and passes the check", (t) => {
  const a = generateToken();
  const b = generateToken();
  t.is(a.length, 43);
  t.regex(a, /^[A-Za-z0-9_-]{43}$/);
  t.not(a, b);
  t.is(checkToken(a, "test"), a);
});

test("a token shorter than 22 characters or outside base64url is a usage error that does not repeat it", (t) => {
  for (const bad of ["short", "a".repeat(21), "a".repeat(30) + "+/", "a".repeat(30) + " x", "a".repeat(25) + "="]) {
    const err = t.throws(() => checkToken(bad, "CARDLOOP_DASHBOARD_TOKEN"), { instanceOf: UsageError });
    t.regex(err.message, /^CARDLOOP_DASHBOARD_TOKEN: a dashboard token must be at least 22 base64url/);
    t.false(err.message.includes(bad), "the refused token is not echoed");
  }
  t.is(checkToken("A".repeat(22), "x"), "A".repeat(22));
});

test("resolveToken: the environment's token wins and is checked; nothing is written", (t) => {
  const dir = tempDir(t);
  const env = "e".repeat(22);
  t.is(resolveToken(dir, env), env);
  t.throws(() => readFileSync(join(dir, TOKEN_FILE)), { code: "ENOENT" });
  t.throws(() => resolveToken(dir, "too-short"), { instanceOf: UsageError });
});

test("resolveToken: generates a token once, keeps it with mode 0600, and reads it back on the next start", (t) => {
  const dir = join(tempDir(t), "not", "yet");
  const first = resolveToken(dir);
  const file = join(dir, TOKEN_FILE);
  t.is(statSync(file).mode & 0o777, 0o600);
  t.is(readFileSync(file, "utf8").trim(), first);
  t.is(resolveToken(dir), first);
  t.is(resolveToken(dir, ""), first, "an empty environment variable counts as unset");
});

test("resolveToken: a kept token that is not a token is refused, not replaced", (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, TOKEN_FILE), "weak\n");
  t.throws(() => resolveToken(dir), { instanceOf: UsageError, message: /\.dashboard-token: a dashboard token must be/ });
  t.is(readFileSync(join(dir, TOKEN_FILE), "utf8"), "weak\n");
});

test("sameSecret (core) is string equality (over hashes), and undefined never matches", (t) => {
  const expected = generateToken();
  t.true(sameSecret(expected, expected));
  t.false(sameSecret(undefined, expected));
  t.false(sameSecret("", expected));
  t.false(sameSecret(expected + "x", expected));
  t.false(sameSecret(expected.slice(0, -1), expected));
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.string(), fc.string({ minLength: 1 }), (a, b) => {
        if (sameSecret(a, b) !== (a === b)) throw new Error(`sameSecret(${JSON.stringify(a)}, ${JSON.stringify(b)})`);
      }),
    ),
  );
});

test("bearerToken reads the Authorization header's bearer credential, scheme case-insensitive", (t) => {
  t.is(bearerToken("Bearer abc"), "abc");
  t.is(bearerToken("bearer   abc "), "abc");
  t.is(bearerToken("Basic abc"), undefined);
  t.is(bearerToken("Bearer"), undefined);
  t.is(bearerToken("Bearer a b"), undefined);
  t.is(bearerToken(undefined), undefined);
});

test("hostName drops the port and keeps IPv6 brackets", (t) => {
  t.is(hostName("127.0.0.1:8450"), "127.0.0.1");
  t.is(hostName("LocalHost"), "localhost");
  t.is(hostName("[::1]:8450"), "[::1]");
  t.is(hostName("[::1]"), "[::1]");
});

test("hostAllowed: loopback names, the --host value, an IP address with the server's port; a foreign name is refused, on a wildcard address too", (t) => {
  const port = 8450;
  for (const h of ["127.0.0.1:8450", "localhost:1", "LOCALHOST", "[::1]:8450", "127.0.0.1"]) t.true(hostAllowed(h, "127.0.0.1", port), h);
  for (const h of ["attacker.example", "attacker.example:8450", "127.0.0.2:9999", "", "[::2]:1"]) t.false(hostAllowed(h, "127.0.0.1", port), h);
  t.false(hostAllowed(undefined, "127.0.0.1", port));
  t.true(hostAllowed("dash.lan:8450", "dash.lan", port));
  t.true(hostAllowed("10.0.0.5:8450", "10.0.0.5", port));
  t.true(hostAllowed("[fd00::5]:8450", "fd00::5", port));
  t.false(hostAllowed("other.lan:8450", "dash.lan", port));
  // DNS rebinding needs a name: listening on every interface lets in any address of the server's, never a name.
  t.false(hostAllowed("anything.example:8450", "0.0.0.0", port));
  t.false(hostAllowed("anything.example", "::", port));
  t.false(hostAllowed("anything.example:8450", "[::]", port));
  for (const h of ["10.0.0.5:8450", "192.168.1.20:8450", "[fd00::5]:8450", "127.0.0.2:8450"]) t.true(hostAllowed(h, "0.0.0.0", port), h);
  for (const h of ["10.0.0.5:8451", "10.0.0.5", "[fd00::5]", "10.0.0.5:", "10.0.0.5:8450x", "10.0.0.5.evil.example:8450", "[fd00::5].evil:8450", "fd00::5"]) {
    t.false(hostAllowed(h, "::", port), h);
  }
  t.true(hostAllowed("10.0.0.5", "0.0.0.0", 80), "no port in the Host: http's 80");
});

test("originAllowed: no Origin (not a browser) is allowed; a browser's must name the Host's host:port, over http or https", (t) => {
  t.true(originAllowed(undefined, "127.0.0.1:8450"));
  t.true(originAllowed("http://127.0.0.1:8450", "127.0.0.1:8450"));
  t.true(originAllowed("http://LOCALHOST:8450", "localhost:8450"));
  t.false(originAllowed("http://evil.example", "127.0.0.1:8450"));
  t.false(originAllowed("http://127.0.0.1:9999", "127.0.0.1:8450"));
  // A TLS proxy that passes the Host on: the page is https, the hop to the dashboard http.
  t.true(originAllowed("https://127.0.0.1:8450", "127.0.0.1:8450"));
  t.true(originAllowed("https://cardloop.example", "cardloop.example"));
  t.false(originAllowed("ftp://127.0.0.1:8450", "127.0.0.1:8450"));
  t.false(originAllowed("null", "127.0.0.1:8450"));
  t.false(originAllowed("http://127.0.0.1:8450", undefined));
});

test("originAllowed and hostAllowed with a public URL: its origin and its host are the dashboard's too", (t) => {
  const pub = "https://cardloop.example/";
  // A proxy that rewrites Host to the dashboard's own address: only the configured origin says the page is ours.
  t.true(originAllowed("https://cardloop.example", "127.0.0.1:8450", pub));
  t.true(originAllowed("https://CARDLOOP.example", "127.0.0.1:8450", pub));
  t.false(originAllowed("https://cardloop.example", "127.0.0.1:8450"));
  t.false(originAllowed("http://cardloop.example", "127.0.0.1:8450", pub), "the scheme is part of the configured origin");
  t.false(originAllowed("https://evil.example", "127.0.0.1:8450", pub));
  t.false(originAllowed("https://cardloop.example:8443", "127.0.0.1:8450", pub));
  t.true(hostAllowed("cardloop.example", "127.0.0.1", 8450, pub));
  t.true(hostAllowed("Cardloop.Example:443", "127.0.0.1", 8450, pub));
  t.false(hostAllowed("cardloop.example", "127.0.0.1", 8450));
  t.false(hostAllowed("evil.example", "127.0.0.1", 8450, pub));
  t.true(hostAllowed("[fd00::7]:443", "127.0.0.1", 8450, "https://[FD00::7]/"));
});

test("checkPublicUrl: an http(s) origin, normalised with its slash; a path, credentials or another scheme are usage errors", (t) => {
  t.is(checkPublicUrl("https://Cardloop.Example"), "https://cardloop.example/");
  t.is(checkPublicUrl("https://cardloop.example:443/"), "https://cardloop.example/");
  t.is(checkPublicUrl("http://10.0.0.5:8450/"), "http://10.0.0.5:8450/");
  for (const bad of ["cardloop.example", "ws://cardloop.example/", "https://cardloop.example/dash/", "https://u:p@cardloop.example/", "https://cardloop.example/?a=1", "https://cardloop.example/#x"]) {
    const err = t.throws(() => checkPublicUrl(bad), { instanceOf: UsageError }, bad);
    t.regex(err.message, /^--public-url must be /, bad);
  }
});

test("parseDashboardUrl: an http(s) origin, normalised with its slash; anything else is a reason that names its source, never the URL", (t) => {
  t.deepEqual(parseDashboardUrl(" http://127.0.0.1:8450 ", "--dashboard"), { url: "http://127.0.0.1:8450/" });
  t.deepEqual(parseDashboardUrl("HTTPS://Dash.Example:443/", "--dashboard"), { url: "https://dash.example/" });
  t.deepEqual(parseDashboardUrl("http://[::1]:8450/", "--dashboard"), { url: "http://[::1]:8450/" });
  for (const bad of ["", "127.0.0.1:8450", "ws://127.0.0.1:8450/", "ftp://u:pa55word@host/", "http://u:pa55word@exa mple/", "http://"]) {
    const r = parseDashboardUrl(bad, "--dashboard");
    t.regex("error" in r ? r.error : "", /^--dashboard must be an http:\/\/ or https:\/\/ URL/, bad);
  }
  for (const bad of ["http://127.0.0.1:8450/dash/", "http://127.0.0.1:8450/dash", "http://u:pa55word@127.0.0.1:8450/", "http://u@127.0.0.1:8450/", "http://127.0.0.1:8450/?a=1", "http://127.0.0.1:8450/#/run/x"]) {
    const r = parseDashboardUrl(bad, "CARDLOOP_DASHBOARD");
    t.regex("error" in r ? r.error : "", /^CARDLOOP_DASHBOARD must be the dashboard's origin only \(scheme:\/\/host\[:port\]\/\)/, bad);
  }
});

test("--dashboard, CARDLOOP_DASHBOARD, --public-url and the publisher follow that one rule: a path or credentials are usage errors that never show the URL", (t) => {
  for (const url of ["http://127.0.0.1:8450/dash/", "http://u:pa55word@127.0.0.1:8450/", "http://127.0.0.1:8450/?a=1", "https://dash.example/#x"]) {
    const cli = t.throws(() => dashboardUrl({ dashboard: url }, {}), { instanceOf: UsageError }, url);
    t.regex(cli.message, /^--dashboard must be the dashboard's origin only/, url);
    const env = t.throws(() => dashboardUrl({}, { CARDLOOP_DASHBOARD: url }), { instanceOf: UsageError }, url);
    t.regex(env.message, /^CARDLOOP_DASHBOARD must be the dashboard's origin only/, url);
    const pub = t.throws(() => new DashboardPublisher({ url, kind: "scenario" }), { instanceOf: UsageError }, url);
    t.regex(pub.message, /^the dashboard URL must be the dashboard's origin only/, url);
    const server = t.throws(() => checkPublicUrl(url), { instanceOf: UsageError }, url);
    t.regex(server.message, /^--public-url must be the dashboard's origin only/, url);
    for (const m of [cli.message, env.message, pub.message, server.message]) t.false(m.includes("pa55word"), m);
  }
  // Not a URL at all: the publisher's message used to repeat it, password and all.
  for (const url of ["http://u:pa55word@exa mple/", "ftp://u:pa55word@host/"]) {
    const pub = t.throws(() => new DashboardPublisher({ url, kind: "scenario" }), { instanceOf: UsageError }, url);
    t.regex(pub.message, /^the dashboard URL must be an http:\/\/ or https:\/\/ URL/, url);
    t.false(pub.message.includes("pa55word"), pub.message);
  }
  t.is(new DashboardPublisher({ url: "HTTP://127.0.0.1:8450", kind: "scenario" }).url.split("#")[0], "http://127.0.0.1:8450/");
});

test("protocol facts in one place: a run's page is runPageHash (its id encoded), the stalled page's close code is protocol.ts's", async (t) => {
  t.is(runPageHash("certify-20300102T030405-0a1b2c3d"), "#/run/certify-20300102T030405-0a1b2c3d");
  t.is(runPageHash("ci/job 3#x"), "#/run/ci%2Fjob%203%23x");
  const pub = new DashboardPublisher({ url: "http://127.0.0.1:8450/", kind: "certify" });
  t.is(pub.url, `http://127.0.0.1:8450/${runPageHash(pub.id)}`);
  t.is(STALLED_CLOSE_CODE, 4008);
  t.false("STALLED_CLOSE_CODE" in (await import("./hub.js")), "the hub takes the close code from protocol.ts, it does not define its own");
});

test("the header set: the CSP forbids inline script and framing; nosniff, no-referrer, DENY", (t) => {
  t.is(SECURITY_HEADERS["content-security-policy"], CONTENT_SECURITY_POLICY);
  t.regex(CONTENT_SECURITY_POLICY, /script-src 'self';/);
  t.false(CONTENT_SECURITY_POLICY.includes("unsafe-inline"));
  t.regex(CONTENT_SECURITY_POLICY, /frame-ancestors 'none'/);
  t.is(SECURITY_HEADERS["x-content-type-options"], "nosniff");
  t.is(SECURITY_HEADERS["referrer-policy"], "no-referrer");
  t.is(SECURITY_HEADERS["x-frame-options"], "DENY");
});

// ---- over real sockets ----

async function start(t: ExecutionContext, opts: Partial<DashboardOptions> = {}): Promise<Dashboard> {
  const runsDir = mkdtempSync(join(tmpdir(), "cardloop-dash-sec-"));
  const d = await startDashboard({ port: 0, runsDir, token: "security-test-token-" + "x".repeat(30), assets: new Map(), ...opts });
  t.teardown(async () => {
    await d.close();
    rmSync(runsDir, { recursive: true, force: true });
  });
  return d;
}

/** A websocket upgrade with the given Host and Origin: 101 when it opens, else the refusal's status. */
function upgrade(d: Dashboard, headers: { host?: string; origin?: string }): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${d.port}/ws`, { headers: headers.host ? { host: headers.host } : {}, ...(headers.origin ? { origin: headers.origin } : {}) });
    ws.on("open", () => {
      resolve(101);
      ws.close();
    });
    ws.on("unexpected-response", (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on("error", () => resolve(-1));
  });
}

/** GET /api/v1/runs with the given Host: the status and the CSP header that came with it. */
function get(d: Dashboard, host: string): Promise<{ status: number; csp: unknown }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port: d.port, path: "/api/v1/runs", headers: { host } }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, csp: res.headers["content-security-policy"] });
    });
    req.on("error", reject);
    req.end();
  });
}

test("a Host that does not name the server gets 421 (DNS rebinding), headers and all; so does a websocket upgrade, with or without an Origin", async (t) => {
  const d = await start(t);
  t.deepEqual(await get(d, `evil.example:${d.port}`), { status: 421, csp: CONTENT_SECURITY_POLICY });
  t.is((await get(d, `localhost:${d.port}`)).status, 200);
  t.is((await get(d, `127.0.0.1:${d.port}`)).status, 200);
  t.is(await upgrade(d, { host: `evil.example:${d.port}` }), 421);
  t.is(await upgrade(d, { host: `evil.example:${d.port}`, origin: `http://evil.example:${d.port}` }), 421);
  t.is(await upgrade(d, { host: `127.0.0.1:${d.port}` }), 101);
});

// No test listens on 0.0.0.0 or ::: the Host rule does not depend on the listen address (hostAllowed's test above covers the wildcard ones).
test("an https page through a TLS proxy that passes the Host on: its name needs --public-url; an address passes by host:port", async (t) => {
  const wildcard = await start(t);
  t.is(await upgrade(wildcard, { host: "cardloop.example", origin: "https://cardloop.example" }), 421, "a name is not the server's without --public-url");
  t.is(await upgrade(wildcard, { host: "cardloop.example", origin: "https://evil.example" }), 421);
  t.is(await upgrade(wildcard, { host: `127.0.0.1:${wildcard.port}`, origin: "https://evil.example" }), 403);
  const named = await start(t, { publicUrl: "https://cardloop.example/" });
  t.is(await upgrade(named, { host: "cardloop.example", origin: "https://cardloop.example" }), 101);
  t.is(await upgrade(named, { host: "cardloop.example", origin: "https://evil.example" }), 403);
  const local = await start(t);
  t.is(await upgrade(local, { host: `127.0.0.1:${local.port}`, origin: `https://127.0.0.1:${local.port}` }), 101);
  // On loopback without --public-url, the proxy's name is not the server's.
  t.is(await upgrade(local, { host: "cardloop.example", origin: "https://cardloop.example" }), 421);
});

test("DNS rebinding over real sockets: a foreign name gets 421 from the API and the websocket; the server's addresses pass", async (t) => {
  for (const host of ["127.0.0.1"]) {
    const d = await start(t);
    const evil = `evil.example:${d.port}`;
    t.deepEqual(await get(d, evil), { status: 421, csp: CONTENT_SECURITY_POLICY }, host);
    t.is(await upgrade(d, { host: evil, origin: `http://${evil}` }), 421, host);
    t.is(await upgrade(d, { host: evil }), 421, host);
    // Another machine names it by one of its addresses (the test's own loopback ones stand in for them).
    t.is((await get(d, `127.0.0.2:${d.port}`)).status, 200, host);
    t.is((await get(d, `[::1]:${d.port}`)).status, 200, host);
    t.is((await get(d, `127.0.0.2:${d.port + 1}`)).status, 421, `${host}: an address with another port`);
    t.is(await upgrade(d, { host: `127.0.0.2:${d.port}`, origin: `http://127.0.0.2:${d.port}` }), 101, host);
  }
});

test("--public-url: its origin and host are let in whether the proxy keeps or rewrites Host; it is the URL given out", async (t) => {
  const without = await start(t);
  // A proxy that rewrites Host to the dashboard's address: the page's https origin matches nothing without --public-url.
  t.is(await upgrade(without, { host: `127.0.0.1:${without.port}`, origin: "https://cardloop.example" }), 403);
  const d = await start(t, { publicUrl: "https://cardloop.example" });
  t.is(d.url, "https://cardloop.example/");
  t.is(await upgrade(d, { host: `127.0.0.1:${d.port}`, origin: "https://cardloop.example" }), 101, "Host rewritten");
  t.is(await upgrade(d, { host: "cardloop.example", origin: "https://cardloop.example" }), 101, "Host kept");
  t.is(await upgrade(d, { host: `127.0.0.1:${d.port}`, origin: "https://evil.example" }), 403);
  t.is(await upgrade(d, { host: "evil.example", origin: "https://cardloop.example" }), 421);
  t.is((await get(d, "cardloop.example")).status, 200);
  t.is((await get(without, "cardloop.example")).status, 421);
});
