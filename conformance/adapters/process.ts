import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import type { Keeper } from "./keeper.js";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; never throws on a non-zero exit (callers judge the result). */
export function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; input?: string | Uint8Array; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = opts.timeoutMs ? setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs) : undefined;
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
    });
    child.stdin.on("error", () => undefined); // a child that never reads its stdin closes the pipe early
    child.stdin.end(opts.input ?? "");
  });
}

/** Like run(), but a non-zero exit is an error carrying stderr. */
export async function runOk(cmd: string, args: string[], opts: Parameters<typeof run>[2] = {}): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args[0] ?? ""} exited ${r.code}: ${lastLines(r.stderr || r.stdout)}`);
  return r;
}

export function lastLines(text: string, n = 3): string {
  return text.trim().split("\n").slice(-n).join(" | ");
}

/**
 * Runs tasks one at a time. `openssl ca` keeps its database in flat files with
 * no locking, so every call that reads or writes them goes through one queue.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  push<T>(task: () => Promise<T>): Promise<T> {
    const next = this.tail.then(task, task);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/**
 * An ephemeral loopback port for a child server that cannot report the port it
 * bound (cfssl serve/ocspserve take a port number; 0 would be unobservable).
 */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts a long-running child and resolves once `ready` matches its output.
 * With a `keeper`, the child runs in a group of its own, watched by the
 * keeper, so it ends when this process dies, even by SIGKILL (keeper.ts).
 */
export function startDaemon(
  cmd: string,
  args: string[],
  ready: RegExp,
  opts: { cwd?: string; timeoutMs?: number; keeper?: Keeper } = {},
): Promise<{ child: ChildProcess; output: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ["ignore", "pipe", "pipe"], detached: opts.keeper !== undefined });
    opts.keeper?.watch(child);
    let text = "";
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      child.kill("SIGKILL");
      reject(new Error(`${cmd} ${args[0] ?? ""} did not start: ${lastLines(text)}`));
    }, opts.timeoutMs ?? 10_000);
    const onData = (b: Buffer) => {
      text += b.toString("utf8");
      if (text.length > 65536) text = text.slice(-32768);
      if (!done && ready.test(text)) {
        done = true;
        clearTimeout(timer);
        resolve({ child, output: () => text });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("error", (e) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(e);
    });
    child.on("exit", (code) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(new Error(`${cmd} ${args[0] ?? ""} exited ${code} before it was ready: ${lastLines(text)}`));
    });
  });
}

/** Stops a child we started, and waits for it to be gone. */
export function stopDaemon(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill("SIGKILL"), 3000);
    child.once("exit", () => {
      clearTimeout(t);
      resolve();
    });
    child.kill("SIGTERM");
  });
}
