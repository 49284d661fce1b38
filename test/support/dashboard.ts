import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import type { Browser, Page } from "playwright-core";
import { START_MS, spawnGroup, tempDir, type Exit, type Group, type Owner } from "../../harness/processes.js";

export { tempDir };

/**
 * What the dashboard's end-to-end tests share: `cardloop dashboard` and the
 * drivers started as a user starts them (`node bin/cardloop.js ...`), each in
 * a process group of its own so that stopping it stops whatever it started;
 * Debian's chromium; and a watch on a page for console errors, CSP
 * violations and requests leaving the dashboard's origin. The processes and
 * temporary directories are harness/processes.ts's: each belongs to a test,
 * has a deadline, and goes when the test ends.
 */

export const ROOT = resolve(import.meta.dirname, "..", "..");
export const CLI = join(ROOT, "bin", "cardloop.js");
export const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
export const NO_CHROMIUM = "chromium is required (Debian package chromium, listed in .ci/apt/lifecycle.txt)";

/** A publish token as `cardloop dashboard` would make one: 32 random bytes, base64url. */
export function newToken(): string {
  return randomBytes(32).toString("base64url");
}

/** Lines of a run log: the events its driver wrote. */
export function lineCount(file: string): number {
  return readFileSync(file, "utf8").split("\n").filter((l) => l.trim() !== "").length;
}

/** `node bin/cardloop.js ARGS` in a group of its own, stopped when the test ends. */
function cardloop(t: Owner, args: string[], env: NodeJS.ProcessEnv): Group {
  return spawnGroup(t, process.execPath, [CLI, ...args], { cwd: ROOT, env, label: `cardloop ${args.slice(0, 2).join(" ")}` });
}

export interface DashboardProcess {
  proc: Group;
  /** `http://127.0.0.1:PORT/` as it printed it. */
  url: string;
  origin: string;
  port: number;
  runsDir: string;
  /** The publish token it printed. */
  token: string;
  stop(): Promise<Exit>;
}

/**
 * `node bin/cardloop.js dashboard --port P --runs DIR` with the token in
 * CARDLOOP_DASHBOARD_TOKEN, resolved once it has printed its three lines;
 * stopped when the test ends, whatever happens.
 */
export async function startDashboardProcess(t: Owner, opts: { runsDir: string; token: string; port?: number }): Promise<DashboardProcess> {
  const env: NodeJS.ProcessEnv = { ...process.env, CARDLOOP_DASHBOARD_TOKEN: opts.token };
  delete env.CARDLOOP_DASHBOARD;
  const proc = cardloop(t, ["dashboard", "--port", String(opts.port ?? 0), "--runs", opts.runsDir], env);
  try {
    const m = await proc.waitFor("stdout", /^cardloop dashboard: (\S+)\npublish token: (\S+)\nexport CARDLOOP_DASHBOARD=\S+ CARDLOOP_DASHBOARD_TOKEN=\S+\n/m, START_MS);
    const url = m[1];
    const parsed = new URL(url);
    return { proc, url, origin: parsed.origin, port: Number(parsed.port), runsDir: opts.runsDir, token: m[2], stop: () => proc.stop() };
  } catch (err) {
    await proc.stop();
    throw err;
  }
}

export interface DriverProcess {
  proc: Group;
  /** The run's id on the dashboard, from the `dashboard: URL#/run/ID` line the driver prints on stderr. */
  runId: Promise<string>;
}

/** A driver (`demo`, `certify`, ...) publishing to `dashboard` with `token` in CARDLOOP_DASHBOARD_TOKEN. */
export function startDriver(t: Owner, args: string[], dashboard: string, token: string | undefined): DriverProcess {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.CARDLOOP_DASHBOARD;
  delete env.CARDLOOP_DASHBOARD_TOKEN;
  if (token !== undefined) env.CARDLOOP_DASHBOARD_TOKEN = token;
  const proc = cardloop(t, [...args, "--dashboard", dashboard], env);
  const runId = proc.waitFor("stderr", /^dashboard: \S+#\/run\/(\S+)$/m).then((m) => m[1]);
  runId.catch(() => undefined); // awaited by the caller when it needs it
  return { proc, runId };
}

/** Runs a driver to its end (at most its deadline); its output, exit status and run id. */
export async function runDriver(t: Owner, args: string[], dashboard: string, token: string | undefined): Promise<{ exit: Exit; runId: string; stdout: string; stderr: string }> {
  const d = startDriver(t, args, dashboard, token);
  const exit = await d.proc.wait();
  const runId = await d.runId;
  return { exit, runId, stdout: d.proc.stdout, stderr: d.proc.stderr };
}

/** `cardloop demo --out DIR` without a dashboard: a run log to replay, or to count. */
export async function demoRunLog(t: Owner, out = tempDir(t, "demo")): Promise<string> {
  const env = { ...process.env };
  delete env.CARDLOOP_DASHBOARD;
  delete env.CARDLOOP_DASHBOARD_TOKEN;
  const demo = cardloop(t, ["demo", "--out", out], env);
  const exit = await demo.wait();
  if (exit.code !== 0) throw new Error(demo.report(`exited ${JSON.stringify(exit)}`));
  return join(out, "run.jsonl");
}

/**
 * A door between a driver and the dashboard that holds the driver's final
 * batch until released: the run stays "running" on the dashboard, however
 * fast the driver, until the test has seen it so. Every request goes on as
 * it came, the held one once released (the dashboard gets it even if the
 * driver stopped waiting for its answer).
 */
function isFinal(body: Buffer): boolean {
  try {
    return (JSON.parse(body.toString("utf8")) as { final?: unknown }).final === true;
  } catch {
    return false;
  }
}

export async function holdFinalBatch(t: Owner, dashboard: string): Promise<{ url: string; release(): void }> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const door = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      void (async () => {
        try {
          if (req.method === "POST" && isFinal(body)) await released;
          const headers: Record<string, string> = {};
          for (const h of ["content-type", "authorization"]) if (typeof req.headers[h] === "string") headers[h] = req.headers[h];
          const answer = await fetch(new URL(req.url ?? "/", dashboard), { method: req.method, headers, body: req.method === "POST" ? body : undefined });
          res.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "application/json" }).end(Buffer.from(await answer.arrayBuffer()));
        } catch (err) {
          if (!res.headersSent) res.writeHead(502, { "content-type": "application/json" }).end(JSON.stringify({ error: String(err) }));
        }
      })();
    });
  });
  await new Promise<void>((resolve, reject) => {
    door.once("error", reject);
    door.listen(0, "127.0.0.1", resolve);
  });
  t.teardown(() => {
    release();
    door.closeAllConnections();
    return new Promise<void>((resolve) => door.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(door.address() as AddressInfo).port}/`, release };
}

/** Polls `probe` until it returns something other than undefined; rejects after `ms` with `what`. */
export async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 20_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function getJson<T = unknown>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import("playwright-core");
  return chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
}

/** What a page did that it should not: errors, CSP violations, requests and websockets leaving the dashboard's origin. */
export interface PageWatch {
  errors: string[];
  /** null when the listener is not there (the test must not take that for "none"). */
  cspViolations(): Promise<string[] | null>;
  foreignRequests: string[];
  requests: string[];
  websockets: string[];
}

/** Script run before the page's own: CSP violations are DOM events, collected where the test can read them. */
const CSP_LISTENER = `window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI));`;

export async function watchPage(page: Page, origin: string): Promise<PageWatch> {
  const w = { errors: [] as string[], foreignRequests: [] as string[], requests: [] as string[], websockets: [] as string[] };
  await page.addInitScript(CSP_LISTENER);
  page.on("pageerror", (err) => w.errors.push(`pageerror: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error") w.errors.push(`console: ${msg.text()}`);
  });
  page.on("request", (req) => {
    w.requests.push(req.url());
    if (new URL(req.url()).origin !== origin) w.foreignRequests.push(req.url());
  });
  page.on("websocket", (ws) => {
    w.websockets.push(ws.url());
    const u = new URL(ws.url());
    if (`http://${u.host}` !== origin) w.foreignRequests.push(ws.url());
  });
  return { ...w, cspViolations: () => page.evaluate("window.__cspViolations ?? null") as Promise<string[] | null> };
}

/** A page's attribute, read as the DOM has it now (strings: the page's DOM types are not in this project's lib). */
export function attr(page: Page, selector: string, name: string): Promise<string | null> {
  return page.evaluate(`document.querySelector(${JSON.stringify(selector)})?.getAttribute(${JSON.stringify(name)}) ?? null`) as Promise<string | null>;
}
