import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import type BetterSqlite3 from "better-sqlite3";

/**
 * One holder at a time for a lock file: an SQLite EXCLUSIVE transaction held
 * open on it. That is an fcntl lock, which the kernel drops when its holder
 * exits by any means (kill -9 included), so there is no stale lock to detect
 * or to break, no race between two openers breaking the same one and no
 * confusion by a reused pid or another pid namespace; SQLite also sees it
 * between connections of one process, where plain fcntl locks do not.
 * Nothing is ever written to the database: the lock file stays empty, and it
 * stays on disk after a release (removing it would let a late opener lock the
 * removed file while another locks its replacement).
 *
 * The holder's pid goes to `<path>.pid` (removed on release), only so that a
 * refusal can name it. Used by the CA's data directory (simulator/ca) and by
 * card files (simulator/card); like any SQLite lock it needs a local file
 * system (NFS locking is not trusted).
 */

export interface ExclusiveLock {
  /** The lock file. */
  readonly path: string;
  /** Frees the lock, once: the pid file goes, then the database closes (the kernel also frees it at exit). */
  release(): void;
}

/** Someone holds the lock: the pid it wrote beside it, when that names a live process. */
export interface LockBusy {
  readonly busy: true;
  readonly pid?: number;
}

/**
 * Takes the lock on `path` (created if missing) or answers busy at once.
 * Anything else (a missing directory, a file that is not an SQLite database)
 * throws what SQLite threw.
 */
export function holdExclusive(path: string): ExclusiveLock | LockBusy {
  const db = new (sqlite())(path, { timeout: 0 });
  try {
    db.pragma("journal_mode = MEMORY"); // nothing is ever written: no -journal file beside the lock
    db.exec("BEGIN EXCLUSIVE");
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code === "SQLITE_BUSY") return { busy: true, pid: holderPid(path) };
    throw err;
  }
  const pidPath = `${path}.pid`;
  try {
    const tmp = `${pidPath}.${process.pid}`;
    writeFileSync(tmp, `${process.pid}\n`, { mode: 0o600 });
    renameSync(tmp, pidPath);
  } catch (err) {
    db.close();
    throw err;
  }
  let held = true;
  return {
    path,
    release() {
      if (!held) return;
      held = false;
      rmSync(pidPath, { force: true }); // before the lock is free: never a successor's pid file
      db.close(); // rolls the open transaction back: the lock is free
    },
  };
}

/**
 * The pid in `<path>.pid` when it names a live process. A holder that took the
 * lock a moment ago may not have written it yet (callers look again for a
 * while); one killed with -9 leaves its own behind, which names no one once
 * its process is gone.
 */
export function holderPid(path: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(`${path}.pid`, "utf8").trim());
  } catch {
    return undefined;
  }
  return Number.isSafeInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
}

let Database: typeof BetterSqlite3 | undefined;

/** better-sqlite3, loaded at the first lock: a command that imports the card but locks no file does not pay for it. */
function sqlite(): typeof BetterSqlite3 {
  return (Database ??= createRequire(import.meta.url)("better-sqlite3") as typeof BetterSqlite3);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM"; // exists, owned by someone else
  }
}
