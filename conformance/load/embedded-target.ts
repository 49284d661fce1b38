import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { UsageError, type Clock } from "../../core/index.js";
import type { CaAdapter } from "../../simulator/ca/index.js";
import { CONFIG_KEYS, checkConfig } from "../adapters/config-keys.js";
import { HttpCa } from "../adapters/http.js";
import { Keeper } from "../adapters/keeper.js";
import { resolveAdapter } from "../adapters/resolve-target.js";

/*
 * `--ca embedded` for a load test: the embedded CA served over HTTP by
 * `cardloop ca serve` in a process (and process group) of its own. The
 * issue's goals are "through the HTTP API", and the generator and the CA then
 * each get a core of their own instead of sharing one event loop. The
 * adapters' Keeper (conformance/adapters/keeper.ts) ends the server and
 * removes its data when this process dies, even by SIGKILL.
 */

/** The served CA's per-client limits, raised: one load generator is one client sending a great many requests. */
const SERVE_LIMITS = ["--max-requests-per-client", "4096", "--max-connections-per-client", "1024"];
/** How long `ca serve` may take to print its URL (a new CA makes its keys first). */
const START_MS = 60_000;
/** After SIGTERM, how long the server has before SIGKILL. */
const STOP_MS = 10_000;

export interface ServedEmbedded {
  ca: CaAdapter;
  /** The served URL (loopback), for the run log. */
  url: string;
  /** The CA's data directory (removed by close(), or by the keeper when this process dies). */
  dataDir: string;
  /** Ends the server's whole process group and removes its data directory; safe to call twice. */
  close(): Promise<void>;
}

/** The CLI that serves the CA: bin/cardloop.js beside this build (dist) or this source tree. */
function cardloopBin(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, "bin", "cardloop.js");
    if (existsSync(candidate)) return candidate;
    dir = resolve(dir, "..");
  }
  throw new Error("cannot find bin/cardloop.js to serve the embedded CA");
}

/**
 * Starts the served embedded CA and connects to it with `connections`
 * keep-alive connections. Fails (after cleaning up) when it cannot start or
 * be reached: the CLI makes that exit 2.
 */
export async function startServedEmbedded(o: { connections: number; timeoutMs: number }): Promise<ServedEmbedded> {
  const data = mkdtempSync(join(tmpdir(), "cardloop-load-ca-"));
  // A process ended by process.exit (a second Ctrl-C) still leaves no CA data behind.
  const removeData = () => rmSync(data, { recursive: true, force: true });
  process.once("exit", removeData);
  const keeper = Keeper.start(data, STOP_MS);
  let child: ChildProcess | undefined;
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      if (child) await stopGroup(child);
      keeper.end();
      process.off("exit", removeData);
      rmSync(data, { recursive: true, force: true, maxRetries: 3 });
    })());
  try {
    const started = await serve(data, SERVE_LIMITS, keeper);
    child = started.child;
    const token = (f: string) => readFileSync(join(data, f), "utf8").trim();
    const ca = await HttpCa.connect({
      url: started.url,
      operatorToken: token("operator.token"),
      raToken: token("ra.token"),
      connections: o.connections,
      timeoutMs: o.timeoutMs,
    });
    return {
      ca,
      url: started.url,
      dataDir: data,
      close: async () => {
        await ca.close().catch(() => undefined);
        await close();
      },
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * `cardloop ca serve --port 0` on `data`, in a process group of its own
 * watched by `keeper` (which ends it and removes `data` when this process
 * dies, however it dies); resolves with its URL once printed.
 */
function serve(data: string, extra: string[], keeper: Keeper): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [cardloopBin(), "ca", "serve", "--data", data, "--port", "0", "--host", "127.0.0.1", ...extra], {
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  keeper.watch(child);
  // Ends with this process too, whatever ends it (the group is ours).
  const onExit = () => signalGroup(child, "SIGKILL");
  process.once("exit", onExit);
  child.once("exit", () => process.off("exit", onExit));
  return new Promise((done, fail) => {
    let out = "";
    let err = "";
    const timer = setTimeout(() => finish(new Error(`cardloop ca serve printed no URL within ${START_MS / 1000} s`)), START_MS);
    const finish = (e?: Error, url?: string) => {
      clearTimeout(timer);
      child.stdout!.removeAllListeners("data");
      child.removeListener("exit", exited);
      if (e) {
        signalGroup(child, "SIGKILL");
        fail(e);
      } else {
        // Its later output is not read: drain it so a chatty server never blocks on a full pipe.
        child.stdout!.resume();
        child.stderr!.resume();
        done({ child, url: url! });
      }
    };
    const exited = (code: number | null) => finish(new Error(`cardloop ca serve ended (${code}) before serving: ${err.trim().split("\n")[0] ?? ""}`));
    child.stdout!.setEncoding("utf8").on("data", (s: string) => {
      out += s;
      const m = /^(http:\/\/\S+)\n/m.exec(out);
      if (m) finish(undefined, m[1]);
    });
    child.stderr!.setEncoding("utf8").on("data", (s: string) => (err += s));
    child.once("exit", exited);
    child.once("error", (e) => finish(e));
  });
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** SIGTERM to the group, SIGKILL when it has not ended within STOP_MS; bounded. */
async function stopGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return signalGroup(child, "SIGKILL");
  const ended = new Promise<void>((done) => child.once("exit", () => done()));
  signalGroup(child, "SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((done) => (timer = setTimeout(() => done("late"), STOP_MS)));
  if ((await Promise.race([ended, late])) === "late") {
    signalGroup(child, "SIGKILL");
    await Promise.race([ended, new Promise((done) => setTimeout(done, 2000).unref())]);
  }
  clearTimeout(timer);
  // Anything it left in the group goes too.
  signalGroup(child, "SIGKILL");
}

/**
 * The CA a load run talks to, from `--ca`: `embedded` served in its own
 * process (above); an http(s) URL connected with as many keep-alive
 * connections as the run keeps requests in flight; anything else as certify
 * resolves it. A failure here means "could not be started or reached".
 */
export async function openLoadTarget(
  target: string,
  config: Record<string, unknown>,
  o: { connections: number; timeoutMs: number; clock: Clock },
): Promise<{ ca: CaAdapter; close(): Promise<void> }> {
  if (target === "embedded") {
    if (Object.keys(config).length) throw new UsageError("--ca embedded for a load test takes no --ca-config (it serves a fresh embedded CA)");
    return startServedEmbedded(o);
  }
  if (/^https?:\/\//i.test(target)) {
    checkConfig(config, CONFIG_KEYS.http, target);
    const ca = await HttpCa.connect({ ...(config as object), url: target, connections: o.connections, timeoutMs: o.timeoutMs } as Parameters<typeof HttpCa.connect>[0]);
    return { ca, close: () => ca.close() };
  }
  const ca = await resolveAdapter(target, config, o.clock);
  return { ca, close: () => ca.close() };
}
