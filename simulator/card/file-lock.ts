import { randomBytes } from "node:crypto";
import { linkSync, openSync, readFileSync, unlinkSync, writeFileSync, closeSync, writeSync } from "node:fs";
import { CardloopError } from "../../core/index.js";

/**
 * One process at a time holds a card file. Two holders would each count PIN
 * tries against their own copy of the card (10 sessions checked 7-10 wrong
 * PINs against a 3-try PIN), so a session takes `<card>.lock` first and a
 * second one, in this process or another, is refused.
 *
 * The lock file is created whole or not at all (written under a temporary
 * name, then hard-linked: link() fails if the name exists), so it always
 * names its holder: pid, the process's start time (/proc, where there is one:
 * a reused pid is not the holder) and a nonce (a release removes only its own
 * lock). A lock whose holder is gone (kill -9, a crash, a zombie) is stale and
 * broken by the next opener, under a second, short-lived guard file so that two
 * openers breaking the same stale lock cannot both win. The locks a process
 * holds are released when it exits, and (unless its caller handles them
 * itself) on SIGINT and SIGTERM.
 */

export class CardFileBusyError extends CardloopError {
  constructor(
    readonly path: string,
    readonly holderPid: number | undefined,
  ) {
    const who = holderPid === undefined ? "another process" : `pid ${holderPid}${holderPid === process.pid ? " (this process)" : ""}`;
    super("card-file-busy", `card file ${path} is in use by ${who}`);
  }
}

export interface FileLock {
  /** The lock file, `<target>.lock`. */
  readonly lockPath: string;
  /** Removes the lock (once; only while it is still this one). */
  release(): void;
}

export interface LockOptions {
  /**
   * On SIGINT/SIGTERM release every lock and end the process as the signal would
   * (default). A caller that handles those signals itself passes false and
   * releases the lock when it is done.
   */
  exitOnSignal?: boolean;
}

interface Holder {
  pid: number;
  start?: string;
}

/** Tries before giving up on a lock that keeps changing hands or a breaker that keeps working. */
const ATTEMPTS = 50;

const held = new Set<HeldLock>();

class HeldLock implements FileLock {
  constructor(
    readonly lockPath: string,
    private readonly content: string,
    readonly exitOnSignal: boolean,
  ) {}

  release(): void {
    if (!held.delete(this)) return;
    removeIfSame(this.lockPath, this.content);
    updateHandlers();
  }
}

/** Takes `<target>.lock` or throws CardFileBusyError naming the live holder. */
export function lockFile(target: string, opts: LockOptions = {}): FileLock {
  const lockPath = `${target}.lock`;
  const content = describeSelf();
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    if (createExclusive(lockPath, content)) {
      const lock = new HeldLock(lockPath, content, opts.exitOnSignal !== false);
      held.add(lock);
      updateHandlers();
      return lock;
    }
    const text = readText(lockPath);
    if (text === undefined) continue; // released a moment ago: try again
    const holder = parseHolder(text);
    if (holder !== undefined && isAlive(holder)) throw new CardFileBusyError(target, holder.pid);
    // A lock that names no one is being written (only where there are no hard links): give its writer a moment.
    if (holder === undefined && attempt < ATTEMPTS / 2) {
      pause(attempt);
      continue;
    }
    if (!breakStale(lockPath, text)) pause(attempt);
  }
  throw new CardFileBusyError(target, parseHolder(readText(lockPath) ?? "")?.pid);
}

/** Whether a lock file names a live process (for tests and for callers that only want to look). */
export function lockHolder(target: string): number | undefined {
  const holder = parseHolder(readText(`${target}.lock`) ?? "");
  return holder !== undefined && isAlive(holder) ? holder.pid : undefined;
}

/**
 * Removes a stale lock unless someone else is already at it. The guard makes
 * "still the same stale lock? then remove it" one step: no other breaker can
 * remove a fresh lock taken in between, and no opener can replace an
 * existing lock. True when this call removed it or found it gone.
 */
function breakStale(lockPath: string, staleText: string): boolean {
  const guardPath = `${lockPath}.break`;
  const guard = describeSelf();
  if (!createExclusive(guardPath, guard)) {
    const text = readText(guardPath);
    const breaker = text === undefined ? undefined : parseHolder(text);
    // A breaker that died inside its few microseconds leaves its guard behind.
    if (text !== undefined && (breaker === undefined || !isAlive(breaker))) removeIfSame(guardPath, text);
    return false;
  }
  try {
    if (readText(lockPath) === staleText) unlinkSync(lockPath);
    return true;
  } finally {
    removeIfSame(guardPath, guard);
  }
}

/** Creates `path` with `content`, whole, unless it exists. */
function createExclusive(path: string, content: string): boolean {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600, flag: "wx" });
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return false;
    if (code === "EPERM" || code === "ENOTSUP" || code === "ENOSYS") return createOpenExclusive(path, content);
    throw err;
  } finally {
    unlinkSync(tmp);
  }
}

/** Where the file system has no hard links: O_EXCL (a lock file may then be empty for an instant). */
function createOpenExclusive(path: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, "wx", 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  }
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
  return true;
}

function removeIfSame(path: string, content: string): void {
  if (readText(path) !== content) return;
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

function describeSelf(): string {
  const start = startTime(process.pid);
  return `${process.pid}\n${start ?? "-"}\n${randomBytes(8).toString("hex")}\n`;
}

function parseHolder(text: string): Holder | undefined {
  const [pidText, start] = text.split("\n");
  const pid = Number(pidText);
  if (!/^[1-9]\d*$/.test(pidText ?? "") || !Number.isSafeInteger(pid)) return undefined;
  return { pid, start: start && start !== "-" ? start : undefined };
}

function isAlive(h: Holder): boolean {
  try {
    process.kill(h.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false; // EPERM: alive, someone else's
  }
  const stat = procStat(h.pid);
  if (stat === undefined) return true; // no /proc: the pid is all there is to go by
  // a zombie is dead (its parent has not collected it yet); another start time is another process
  if (stat.state === "Z" || stat.state === "X") return false;
  return h.start === undefined || h.start === stat.start;
}

function startTime(pid: number): string | undefined {
  return procStat(pid)?.start;
}

/** State and start time (clock ticks since boot) of a process, from /proc/PID/stat (Linux). */
function procStat(pid: number): { state: string; start: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses; fields resume after the last ")"
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const state = fields[0];
  const start = fields[19];
  return state && start ? { state, start } : undefined;
}

/** A short synchronous wait (opening a card file is synchronous): 1..8 ms. */
function pause(attempt: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.min(8, 1 + attempt));
}

// --- release on exit and on SIGINT/SIGTERM -----------------------------------------------------

let exitHook = false;
let signalsHooked = false;
const SIGNALS = ["SIGINT", "SIGTERM"] as const;

function releaseAll(): void {
  for (const lock of [...held]) lock.release();
}

function onSignal(signal: NodeJS.Signals): void {
  releaseAll();
  unhookSignals();
  // As if the signal had found no handler: the process ends by it (unless someone else handles it).
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function unhookSignals(): void {
  if (!signalsHooked) return;
  signalsHooked = false;
  for (const s of SIGNALS) process.removeListener(s, onSignal);
}

function updateHandlers(): void {
  if (!exitHook && held.size > 0) {
    exitHook = true;
    process.on("exit", releaseAll);
  }
  const wantSignals = [...held].some((l) => l.exitOnSignal);
  if (wantSignals && !signalsHooked) {
    signalsHooked = true;
    for (const s of SIGNALS) process.on(s, onSignal);
  } else if (!wantSignals) {
    unhookSignals();
  }
}
