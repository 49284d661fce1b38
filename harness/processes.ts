import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** What a finished child left: its exit code (-1 when killed by a signal), stdout and stderr. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Collects a spawned child's output until it closes. Attach before the child
 * can write much. A child still running after `timeoutMs` is killed and its
 * Run says so on stderr, with what it had printed: a hung child fails its
 * test with evidence instead of stalling the whole suite into ava's timeout.
 */
export function finished(child: ChildProcess, timeoutMs = 90000): Promise<Run> {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => (stdout += d));
  child.stderr?.on("data", (d) => (stderr += d));
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      stderr += `\n[test harness: pid ${child.pid} still running after ${timeoutMs} ms; killed]`;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/**
 * Runs a tool to completion, asynchronously: a test may be serving a card from
 * this very process, and a synchronous child would wait for it forever.
 */
export function runTool(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: opts.env, cwd: opts.cwd, encoding: "utf8", timeout: opts.timeoutMs ?? 30000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** True while a process with this pid exists (signal 0 only checks). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// ---- process groups and temporary directories, owned by a test or a bench run ----

/**
 * What owns the processes and temporary directories below: a test (ava's
 * ExecutionContext) or a bench run. Its teardowns run when it ends, last
 * registered first.
 */
export interface Owner {
  teardown(fn: () => Promise<void> | void): void;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * How long a spawned process may run: then its whole group is stopped and
 * its waits fail with what it printed. Below ava's 2-minute timeout, which
 * ends a worker without running its teardowns.
 */
export const DEADLINE_MS = 90_000;
/** How long a group has after SIGTERM before SIGKILL, and after SIGKILL before the harness stops waiting for it. */
export const STOP_MS = 10_000;
/** How long a process may take to print what a test waits for (Group.waitFor). */
export const START_MS = 30_000;
/** After its leader exits, how long its output may stay open (a process that left the group may hold the pipes). */
const DRAIN_MS = 2_000;

/** Signals a process group; one already gone is fine. */
export function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}

/** `p`'s value, or undefined once `ms` have passed. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

const tail = (s: string) => (s.length > 1500 ? `...${s.slice(-1500)}` : s);

/** Groups not yet stopped, and temporary directories not yet removed: what reap() takes when the worker is ended. */
const live = new Set<Group>();
const temps = new Set<string>();
const owned = new WeakMap<Owner, Set<Group>>();

/**
 * ava ends a worker that ran into its timeout (or is interrupted) with a
 * signal, without running teardowns: the groups it started would outlive it.
 * On the first spawn or directory this worker kills them, and removes the
 * directories, on exit and on SIGTERM, SIGINT and SIGHUP (then dies of the
 * signal as it would have).
 */
let reaperInstalled = false;
function installReaper(): void {
  if (reaperInstalled) return;
  reaperInstalled = true;
  process.on("exit", reap);
  for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
    process.once(sig, () => {
      reap();
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    });
  }
}

function reap(): void {
  for (const g of live) {
    try {
      g.signal("SIGKILL");
    } catch {
      // not ours to kill any more
    }
  }
  for (const dir of temps) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // a worker on its way out: what it cannot remove now stays
    }
  }
}

export interface GroupOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  stdin?: "ignore" | "pipe";
  /** What the messages call it; the command line by default. */
  label?: string;
  deadlineMs?: number;
}

/**
 * A process started in a process group of its own, with what it printed so
 * far. Everything about its end is bounded: at `deadlineMs` (DEADLINE_MS) the
 * whole group is stopped (SIGTERM, then SIGKILL) and wait() fails with its
 * output; stop() gives up after SIGKILL and STOP_MS.
 */
export class Group {
  readonly child: ChildProcess;
  readonly label: string;
  stdout = "";
  stderr = "";
  /** Resolves once it has ended, however it ended; never rejects. */
  readonly exited: Promise<Exit>;
  private exit?: Exit;
  /** Why the harness stopped it, when it did: its waits fail with this. */
  private gaveUp?: string;
  private stopping?: Promise<Exit>;
  private readonly stopped: Promise<Exit>;
  private markStopped!: (exit: Exit) => void;

  constructor(command: string, args: string[], opts: GroupOptions = {}) {
    this.label = opts.label ?? [command, ...args].join(" ").slice(0, 160);
    this.child = spawn(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, detached: true, stdio: [opts.stdin ?? "ignore", "pipe", "pipe"] });
    this.child.stdout!.setEncoding("utf8").on("data", (s: string) => (this.stdout += s));
    this.child.stderr!.setEncoding("utf8").on("data", (s: string) => (this.stderr += s));
    this.stopped = new Promise((resolve) => (this.markStopped = resolve));
    installReaper();
    live.add(this);
    const deadlineMs = opts.deadlineMs ?? DEADLINE_MS;
    const deadline = setTimeout(() => void this.giveUp(`still running after ${deadlineMs} ms`), deadlineMs);
    deadline.unref();
    this.exited = new Promise((resolve) => {
      const done = (exit: Exit) => {
        if (this.exit) return;
        this.exit = exit;
        clearTimeout(deadline);
        resolve(exit);
      };
      this.child.once("error", (err) => {
        this.stderr += `\n[harness: ${err.message}]`;
        done({ code: null, signal: null });
      });
      this.child.once("close", (code, signal) => done({ code, signal }));
      this.child.once("exit", (code, signal) => {
        setTimeout(() => {
          this.child.stdout?.destroy();
          this.child.stderr?.destroy();
          done({ code, signal });
        }, DRAIN_MS).unref();
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** It has ended (and its output is all in). */
  get done(): boolean {
    return this.exit !== undefined;
  }

  /** Sends `sig` to its whole group. */
  signal(sig: NodeJS.Signals): void {
    signalGroup(this.pid, sig);
  }

  /** What it printed, for a failure message. */
  report(why: string): string {
    return `${this.label}: ${why}\n--- stdout\n${tail(this.stdout)}\n--- stderr\n${tail(this.stderr)}`;
  }

  /**
   * Its exit once it has ended by itself; rejects with what it printed when
   * the harness stopped it instead: at its deadline, or when it has not ended
   * within `ms` of this call.
   */
  async wait(ms?: number): Promise<Exit> {
    const limit = ms === undefined || this.done ? undefined : setTimeout(() => void this.giveUp(`not ended within ${ms} ms`), ms);
    try {
      const exit = await Promise.race([this.exited, this.stopped]);
      if (this.gaveUp === undefined) return exit;
      await this.stopped;
      throw new Error(this.report(`${this.gaveUp}; its process group was stopped`));
    } finally {
      clearTimeout(limit);
    }
  }

  /** The first match of `re` in stdout or stderr as it arrives; rejects when it ends first or after `ms`. */
  waitFor(stream: "stdout" | "stderr", re: RegExp, ms = START_MS): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      let over = false;
      const finish = (f: () => void) => {
        if (over) return;
        over = true;
        clearTimeout(timer);
        this.child[stream]!.off("data", check);
        f();
      };
      const check = () => {
        const m = this[stream].match(re);
        if (m) return finish(() => resolve(m));
        if (this.done) finish(() => reject(new Error(this.report(`ended (${JSON.stringify(this.exit)}) before printing ${re} on ${stream}`))));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(this.report(`no ${re} on ${stream} within ${ms} ms`)))), ms);
      this.child[stream]!.on("data", check);
      void this.exited.then(check);
      check();
    });
  }

  /**
   * SIGTERM to the whole group, SIGKILL when it has not ended within STOP_MS,
   * and SIGKILL to whatever its leader left in the group. Bounded; safe to
   * call twice. `{code: null, signal: null}` when it could not be seen to end.
   */
  stop(): Promise<Exit> {
    this.stopping ??= (async () => {
      if (!this.done) {
        this.signal("SIGTERM");
        if ((await within(this.exited, STOP_MS)) === undefined) this.signal("SIGKILL");
      }
      const exit = (await within(this.exited, STOP_MS)) ?? { code: null, signal: null };
      this.signal("SIGKILL");
      live.delete(this);
      this.markStopped(exit);
      return exit;
    })();
    return this.stopping;
  }

  private giveUp(why: string): Promise<Exit> {
    if (this.done) return this.exited;
    this.gaveUp ??= why;
    return this.stop();
  }
}

/** Starts `command` in a group of its own, stopped when `owner` ends however it ends. */
export function spawnGroup(owner: Owner, command: string, args: string[], opts: GroupOptions = {}): Group {
  const g = new Group(command, args, opts);
  let mine = owned.get(owner);
  if (!mine) owned.set(owner, (mine = new Set()));
  mine.add(g);
  owner.teardown(() => g.stop().then(() => undefined));
  return g;
}

/**
 * A temporary directory removed when `owner` ends, after every process it
 * started has stopped (none of them is still writing there), whatever the
 * order of its teardowns; and by the reaper if the worker is ended first.
 */
export function tempDir(owner: Owner, label: string): string {
  installReaper();
  const dir = mkdtempSync(join(tmpdir(), `cardloop-${label}-`));
  temps.add(dir);
  owner.teardown(async () => {
    await Promise.all([...(owned.get(owner) ?? [])].map((g) => g.stop()));
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    temps.delete(dir);
  });
  return dir;
}

/** An error saying a port is taken: EADDRINUSE, or a command's "address already in use". */
export function portInUse(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === "EADDRINUSE" || /EADDRINUSE|address already in use/.test(String((err as Error | undefined)?.message ?? err));
}

/**
 * `bind()` again while it fails because the port is taken: a server
 * restarted on the port it had, which another suite may have been given in
 * between. Bounded: after `tries` it fails, saying so.
 */
export async function retryOnPortInUse<T>(what: string, bind: () => Promise<T>, tries = 20, everyMs = 250): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await bind();
    } catch (err) {
      if (!portInUse(err)) throw err;
      if (i >= tries) throw new Error(`${what}: the port was still taken after ${tries} tries ${everyMs} ms apart (another process got it while it was free)`, { cause: err });
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  }
}
