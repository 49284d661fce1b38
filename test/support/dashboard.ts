import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Browser, Page } from "playwright-core";

/**
 * What the dashboard's end-to-end tests share: `cardloop dashboard` and the
 * drivers started as a user starts them (`node bin/cardloop.js ...`), each in
 * a process group of its own so that stopping it stops whatever it started;
 * Debian's chromium; and a watch on a page for console errors, CSP
 * violations and requests leaving the dashboard's origin.
 */

export const ROOT = resolve(import.meta.dirname, "..", "..");
export const CLI = join(ROOT, "bin", "cardloop.js");
export const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
export const NO_CHROMIUM = "chromium is required (Debian package chromium, listed in .ci/apt/lifecycle.txt)";

/** How long a process may take to say it is up, or to stop, before the test gives up on it. */
const START_MS = 30_000;
const STOP_MS = 10_000;

/** A publish token as `cardloop dashboard` would make one: 32 random bytes, base64url. */
export function newToken(): string {
  return randomBytes(32).toString("base64url");
}

/** Temporary directories made by the tests, removed when the test worker exits. */
const temps: string[] = [];
process.once("exit", () => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

export function tempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `cardloop-${label}-`));
  temps.push(dir);
  return dir;
}

/** Lines of a run log: the events its driver wrote. */
export function lineCount(file: string): number {
  return readFileSync(file, "utf8").split("\n").filter((l) => l.trim() !== "").length;
}

/** Signals a process group; one already gone is fine. */
export function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A process started in its own group, with what it printed so far. */
export class Spawned {
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  stdout = "";
  stderr = "";
  private exit?: Exit;

  constructor(args: string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    this.child.stdout!.setEncoding("utf8").on("data", (s: string) => (this.stdout += s));
    this.child.stderr!.setEncoding("utf8").on("data", (s: string) => (this.stderr += s));
    this.exited = new Promise((resolve) => {
      this.child.once("error", () => resolve((this.exit = { code: null, signal: null })));
      this.child.once("close", (code, signal) => resolve((this.exit = { code, signal })));
    });
  }

  get done(): boolean {
    return this.exit !== undefined;
  }

  /** Resolves with the first match of `re` in stdout or stderr as it arrives; rejects when the process ends first or after `ms`. */
  waitFor(stream: "stdout" | "stderr", re: RegExp, ms = START_MS): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = this[stream].match(re);
        if (m) return finish(() => resolve(m));
        if (this.done) finish(() => reject(new Error(`exited (${JSON.stringify(this.exit)}) before printing ${re} on ${stream}; stderr: ${this.stderr.slice(-800)}`)));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`no ${re} on ${stream} within ${ms} ms; stderr: ${this.stderr.slice(-800)}`))), ms);
      const finish = (f: () => void) => {
        clearTimeout(timer);
        this.child.stdout!.off("data", check);
        this.child.stderr!.off("data", check);
        this.child.off("close", check);
        f();
      };
      this.child.stdout!.on("data", check);
      this.child.stderr!.on("data", check);
      this.child.on("close", check);
      check();
    });
  }

  /** SIGTERM to the whole group, SIGKILL if it has not ended within STOP_MS. Safe to call twice. */
  async stop(): Promise<Exit> {
    if (!this.done) signalGroup(this.child.pid, "SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_MS)));
    await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (!this.done) signalGroup(this.child.pid, "SIGKILL");
    const exit = await this.exited;
    // whatever the leader left behind in its group goes with it
    signalGroup(this.child.pid, "SIGKILL");
    return exit;
  }
}

export interface DashboardProcess {
  proc: Spawned;
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
 * CARDLOOP_DASHBOARD_TOKEN, resolved once it has printed its three lines.
 * The caller stops it (t.teardown) whatever happens.
 */
export async function startDashboardProcess(opts: { runsDir: string; token: string; port?: number }, register?: (p: Spawned) => void): Promise<DashboardProcess> {
  const env: NodeJS.ProcessEnv = { ...process.env, CARDLOOP_DASHBOARD_TOKEN: opts.token };
  delete env.CARDLOOP_DASHBOARD;
  const proc = new Spawned(["dashboard", "--port", String(opts.port ?? 0), "--runs", opts.runsDir], env);
  register?.(proc);
  try {
    const m = await proc.waitFor("stdout", /^cardloop dashboard: (\S+)\npublish token: (\S+)\nexport CARDLOOP_DASHBOARD=\S+ CARDLOOP_DASHBOARD_TOKEN=\S+\n/m);
    const url = m[1];
    const parsed = new URL(url);
    return { proc, url, origin: parsed.origin, port: Number(parsed.port), runsDir: opts.runsDir, token: m[2], stop: () => proc.stop() };
  } catch (err) {
    await proc.stop();
    throw err;
  }
}

export interface DriverProcess {
  proc: Spawned;
  /** The run's id on the dashboard, from the `dashboard: URL#/run/ID` line the driver prints on stderr. */
  runId: Promise<string>;
}

/** A driver (`demo`, `certify`, ...) publishing to `dashboard` with `token` in CARDLOOP_DASHBOARD_TOKEN. */
export function startDriver(args: string[], dashboard: string, token: string | undefined, register?: (p: Spawned) => void): DriverProcess {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.CARDLOOP_DASHBOARD;
  delete env.CARDLOOP_DASHBOARD_TOKEN;
  if (token !== undefined) env.CARDLOOP_DASHBOARD_TOKEN = token;
  const proc = new Spawned([...args, "--dashboard", dashboard], env);
  register?.(proc);
  const runId = proc.waitFor("stderr", /^dashboard: \S+#\/run\/(\S+)$/m).then((m) => m[1]);
  runId.catch(() => undefined); // awaited by the caller when it needs it
  return { proc, runId };
}

/** Runs a driver to its end; its output, exit status and run id. */
export async function runDriver(args: string[], dashboard: string, token: string | undefined, register?: (p: Spawned) => void): Promise<{ exit: Exit; runId: string; stdout: string; stderr: string }> {
  const d = startDriver(args, dashboard, token, register);
  const exit = await d.proc.exited;
  const runId = await d.runId;
  return { exit, runId, stdout: d.proc.stdout, stderr: d.proc.stderr };
}

/** `cardloop demo --out DIR` without a dashboard: a run log to replay. */
export function demoRunLog(out = tempDir("demo")): string {
  const env = { ...process.env };
  delete env.CARDLOOP_DASHBOARD;
  delete env.CARDLOOP_DASHBOARD_TOKEN;
  const r = spawnSync(process.execPath, [CLI, "demo", "--out", out], { cwd: ROOT, env, encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) throw new Error(`demo failed (${r.status}): ${r.stderr}`);
  return join(out, "run.jsonl");
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
