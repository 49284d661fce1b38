import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import test, { type ExecutionContext } from "ava";
import WebSocket from "ws";
import { EventBus, SystemClock, toHex } from "../core/index.js";
import { createEmbeddedAdapter } from "../conformance/adapters/embedded.js";
import { runCatalog } from "../conformance/runner.js";
import { DashboardPublisher, type RunSummary } from "../dashboard/index.js";
import { libraryFiles, loadScenario, registerCaTarget, runFiles } from "../scenarios/index.js";
import { DEFAULT_MANAGEMENT_KEY, DEFAULT_PIN, DEFAULT_PUK } from "../simulator/card/index.js";
import { EmbeddedCa } from "../simulator/ca/index.js";
import { getJson, newToken, runDriver, startDashboardProcess, tempDir, type DashboardProcess } from "./support/dashboard.js";
import { leaks, spyOnCa } from "./support/secrets.js";

/**
 * The dashboard as a user starts it (`cardloop dashboard`), driven from
 * outside without a browser: the websocket's Origin check, the publish
 * endpoint's token, and no secret in anything it serves after real drivers
 * published to it. (The page in a real browser: dashboard-browser.test.ts.)
 */

/** Every process a test starts, and its directories, go when it ends, passed or failed (test/support/dashboard.ts). */
async function dashboard(t: ExecutionContext, token = newToken()): Promise<DashboardProcess> {
  return startDashboardProcess(t, { runsDir: tempDir(t, "dash-runs"), token });
}

/** A websocket upgrade's outcome: "open" (and the first message), or the HTTP status it was refused with. */
function upgrade(url: string, origin?: string): Promise<{ status: number; first?: unknown }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, origin === undefined ? {} : { origin });
    ws.once("unexpected-response", (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      res.resume();
      ws.terminate();
    });
    ws.once("message", (data) => {
      resolve({ status: 101, first: JSON.parse(String(data)) });
      ws.close();
    });
    ws.once("error", (err) => reject(err));
  });
}

test("a websocket from a foreign Origin is refused with 403; the dashboard's own origin and a client without Origin are let in", async (t) => {
  const d = await dashboard(t);
  const ws = `ws://127.0.0.1:${d.port}/ws`;
  t.deepEqual(await upgrade(ws, "http://evil.example"), { status: 403 });
  t.deepEqual(await upgrade(ws, `http://localhost:${d.port}`), { status: 403 }, "an origin naming the server otherwise than the Host header is another origin");
  const own = await upgrade(ws, d.origin);
  t.is(own.status, 101);
  t.like(own.first, { v: 1, type: "hello" });
  t.is((await upgrade(ws)).status, 101);
});

function batch(from: number): string {
  const event = { type: "run.started", seq: 0, time: "2026-01-01T00:00:00.000Z", data: { name: "token check", kind: "scenario" } };
  return JSON.stringify({ v: 1, from, events: [event] });
}

async function post(url: string, body: string, authorization?: string): Promise<{ status: number; body: unknown; headers: Headers }> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) }, body });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

test("a publish without the token, or with a wrong one, gets 401 and changes nothing; the right one is taken", async (t) => {
  const d = await dashboard(t);
  const endpoint = `${d.url}api/v1/runs/scenario-20260101T000000-0badc0de/events`;
  const none = await post(endpoint, batch(0));
  t.is(none.status, 401);
  t.regex(none.headers.get("www-authenticate") ?? "", /^Bearer /);
  t.like(none.body, { error: "publishing needs the dashboard's token (Authorization: Bearer TOKEN)" });
  t.is((await post(endpoint, batch(0), `Bearer ${newToken()}`)).status, 401);
  t.is((await post(endpoint, batch(0), `Bearer ${d.token.slice(0, -1)}`)).status, 401, "all but its last character");
  t.is((await post(endpoint, batch(0), `Basic ${d.token}`)).status, 401, "the token under another scheme");
  t.deepEqual(await getJson(`${d.url}api/v1/runs`), { runs: [] }, "nothing refused was kept");
  const right = await post(endpoint, batch(0), `Bearer ${d.token}`);
  t.is(right.status, 200);
  t.deepEqual(right.body, { accepted: 1, next: 1 });
});

test("a driver with a wrong token warns once, publishes nothing, and its run and run log are complete", async (t) => {
  const d = await dashboard(t);
  const out = tempDir(t, "demo-wrong-token");
  const wrong = newToken();
  const r = await runDriver(t, ["demo", "--out", out], d.url, wrong);
  t.is(r.exit.code, 0, r.stderr);
  t.regex(r.stdout, /11\/11 scenarios passed/);
  t.is(r.stderr.match(/refused the publish token \(401\)/g)?.length, 1, r.stderr);
  t.false(r.stderr.includes(wrong));
  const log = readFileSync(join(out, "run.jsonl"), "utf8");
  t.is(log.match(/"type":"run\.finished"/g)?.length, 11, "the run log has every scenario to its end");
  t.deepEqual(await getJson(`${d.url}api/v1/runs`), { runs: [] });
});

// ---- secrets -------------------------------------------------------------------------------

/**
 * Every secret the runs below handle, as the tests can know them honestly:
 * the PINs, PUKs and identity answers the scenario library gives, the card
 * defaults, and what a spy on the embedded CA sees it hand out or receive
 * (cancellation codes, the operator's and station's tokens), in scenarios
 * and in certify run in this process.
 */
const secrets = new Set<string>();
/** What the in-process publishers warned: nothing, the dashboard is up and the token right. */
const warnings: string[] = [];
const SPY = "embedded-dashboard-spy";

registerCaTarget(
  (target) => target === SPY,
  async (_target, opts) => {
    const ca = await EmbeddedCa.open({ clock: opts.clock, random: opts.random, policy: opts.policy, kdfLog2N: 4 });
    spyOnCa(ca, secrets);
    return { ca };
  },
);

function librarySecrets(): void {
  for (const f of libraryFiles()) {
    const s = loadScenario(f);
    for (const c of s.cards) secrets.add(c.pin);
    secrets.add(s.policy.puk);
    for (const h of s.holders) for (const a of Object.values(h.answers)) secrets.add(a);
    for (const st of s.steps) for (const v of [st.args.pin, st.args.puk, st.args.newPin, st.args.code]) if (v && v !== "wrong" && v !== "correct") secrets.add(v);
  }
  secrets.add(DEFAULT_PIN);
  secrets.add(DEFAULT_PUK);
}

/** The scenario library against the spying CA, published from this process as a driver publishes. */
async function publishSpiedScenarios(d: DashboardProcess): Promise<string> {
  const publisher = new DashboardPublisher({ url: d.url, token: d.token, kind: "scenario", warn: (line) => warnings.push(line) });
  const r = await runFiles(libraryFiles(), { ca: SPY, sink: (e) => publisher.write(e) });
  const sent = await publisher.close(15_000);
  if (!r.passed || sent.dropped !== 0) throw new Error(`spied scenarios: passed ${r.passed}, dropped ${sent.dropped}`);
  return publisher.id;
}

/** Certify's code checks against a spied embedded CA, published from this process. */
async function publishSpiedCertify(d: DashboardProcess): Promise<string> {
  const ca = await createEmbeddedAdapter();
  try {
    spyOnCa(ca, secrets);
    const clock = new SystemClock();
    const bus = new EventBus(clock);
    const publisher = new DashboardPublisher({ url: d.url, token: d.token, kind: "certify", warn: (line) => warnings.push(line) }).attach(bus);
    await runCatalog(ca, { bus, clock, only: ["REV-CANCELLATION-CODES", "REV-AUTH-WRONG-CODE", "REV-LOCKOUT-HOLDER", "ISS-VALIDITY-CARD-EXPIRY"] });
    const sent = await publisher.close(15_000);
    if (sent.dropped !== 0) throw new Error(`spied certify: ${sent.dropped} events dropped`);
    return publisher.id;
  } finally {
    await ca.close();
  }
}

/** Every run's events over the websocket, from 0, until each run's count is reached: the raw messages. */
function websocketTranscript(d: DashboardProcess, runs: RunSummary[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${d.port}/ws`, { origin: d.origin });
    const messages: string[] = [];
    const held = new Map(runs.map((r) => [r.id, 0]));
    const timer = setTimeout(() => finish(new Error(`websocket transcript incomplete: ${JSON.stringify([...held])}`)), 20_000);
    const finish = (err?: Error) => {
      clearTimeout(timer);
      ws.close();
      if (err) reject(err);
      else resolve(messages.join("\n"));
    };
    ws.on("error", finish);
    ws.on("open", () => {
      ws.send(JSON.stringify({ v: 1, type: "runs.subscribe" }));
      for (const r of runs) ws.send(JSON.stringify({ v: 1, type: "run.subscribe", run: r.id, from: 0 }));
    });
    ws.on("message", (data) => {
      const text = String(data);
      messages.push(text);
      const m = JSON.parse(text) as { type: string; run?: string; from?: number; events?: unknown[] };
      if (m.type === "events" && m.run !== undefined) held.set(m.run, m.from! + m.events!.length);
      if (runs.every((r) => held.get(r.id) === r.events)) finish();
    });
  });
}

/** All the dashboard serves over HTTP: the page and its assets, the API's answers, every run's events page by page. */
async function httpTranscript(d: DashboardProcess, runs: RunSummary[]): Promise<{ page: string; api: string; assets: string[] }> {
  const parts = { page: [] as string[], api: [] as string[] };
  const get = async (path: string) => {
    const res = await fetch(new URL(path, d.url));
    if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
    const text = await res.text();
    parts[path.startsWith("/api/") ? "api" : "page"].push(JSON.stringify([...res.headers]), text);
    return text;
  };
  const html = await get("/");
  const assets = [...html.matchAll(/(?:src|href)="(\/[^"]*)"/g)].map((m) => m[1]);
  for (const a of assets) await get(a);
  await get("/api/v1/info");
  await get("/api/v1/runs");
  for (const r of runs) {
    await get(`/api/v1/runs/${encodeURIComponent(r.id)}`);
    for (let from = 0; from < r.events; ) {
      const page = JSON.parse(await get(`/api/v1/runs/${encodeURIComponent(r.id)}/events?from=${from}`)) as { events: unknown[] };
      if (page.events.length === 0) throw new Error(`run ${r.id}: no events from ${from} of ${r.events}`);
      from += page.events.length;
    }
  }
  return { page: parts.page.join("\n"), api: parts.api.join("\n"), assets };
}

/** Where a secret shows in a text (as itself or as hex), for the failure message. */
function around(text: string, secret: string): string {
  const escaped = secret.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const token = new RegExp(`(?<![0-9A-Za-z+/])${escaped}(?![0-9A-Za-z+/])`).exec(text)?.index;
  const at = token ?? text.toLowerCase().indexOf(Buffer.from(secret, "utf8").toString("hex"));
  return at < 0 ? "" : JSON.stringify(text.slice(Math.max(0, at - 120), at + secret.length + 120));
}

/** Every file under a directory, as text. */
function filesUnder(dir: string): string {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((name) => join(dir, name))
    .filter((p) => statSync(p).isFile())
    .map((p) => readFileSync(p, "utf8"))
    .join("\n");
}

test("no PIN, PUK, cancellation code, management key or publish token reaches anything the dashboard serves", async (t) => {
  const d = await dashboard(t);
  librarySecrets();
  // Two drivers as users run them, then the same kinds of runs from this process against a CA whose codes the test learns.
  const demo = await runDriver(t, ["demo", "--out", tempDir(t, "secret-demo")], d.url, d.token);
  t.is(demo.exit.code, 0, demo.stderr);
  const certify = await runDriver(
    t,
    ["certify", "--ca", "embedded", "--only", "REV-CANCELLATION-CODES,ISS-VALIDITY-CARD-EXPIRY,REV-AUTH-WRONG-CODE", "--out", tempDir(t, "secret-certify"), "--quiet"],
    d.url,
    d.token,
  );
  t.is(certify.exit.code, 0, certify.stderr);
  const spiedIds = [await publishSpiedScenarios(d), await publishSpiedCertify(d)];

  const codes = [...secrets].filter((s) => /^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$/.test(s));
  t.true(codes.length >= 6, `the spies saw the cancellation codes handed out and tried (${codes.length})`);
  t.deepEqual(warnings, []);

  const { runs } = await getJson<{ runs: RunSummary[] }>(`${d.url}api/v1/runs`);
  t.deepEqual(runs.map((r) => r.id).sort(), [demo.runId, certify.runId, ...spiedIds].sort());
  t.true(
    runs.every((r) => r.verdict === "pass" && r.dropped === 0),
    JSON.stringify(runs.map((r) => [r.id, r.verdict, r.headline])),
  );
  const http = await httpTranscript(d, runs);
  t.deepEqual(http.assets.sort(), ["/assets/app.css", "/assets/app.js", "/assets/favicon.svg"]);
  const served = { "the page and its assets": http.page, "the HTTP API": http.api, websocket: await websocketTranscript(d, runs), "published copies": filesUnder(join(d.runsDir, "published")) };
  t.true(http.api.includes("11/11 scenarios passed") && served.websocket.includes('"type":"events"'), "the transcripts hold the runs");

  const management = toHex(DEFAULT_MANAGEMENT_KEY).toLowerCase();
  const found: string[] = [];
  for (const [where, text] of Object.entries(served)) {
    for (const secret of [...secrets].filter((s) => typeof s === "string" && s !== "")) {
      for (const form of new Set([secret, secret.replace(/-/g, "")])) if (leaks(text, form)) found.push(`${form} in ${where}: ${around(text, form)}`);
    }
    if (text.toLowerCase().includes(management)) found.push(`the default management key in ${where}`);
    if (text.includes(d.token)) found.push(`the publish token in ${where}`);
  }
  t.deepEqual(found, []);
  // The token is printed once, on the dashboard's stdout, and nowhere else.
  t.is(d.proc.stdout.split(d.token).length - 1, 2, "the 'publish token' and 'export' lines");
  t.false(d.proc.stderr.includes(d.token));
  for (const r of [demo, certify]) t.false(r.stdout.includes(d.token) || r.stderr.includes(d.token));
});
