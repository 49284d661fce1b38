import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { CaError } from "./api.js";

/**
 * One writer per CA data directory. Two CAs on one directory would disagree
 * (one answering OCSP "good" for a certificate the other revoked, their CRL
 * numbers diverging), so opening a CA takes an exclusive lock first and a
 * second opener, in this process or another, is refused.
 *
 * The lock is an SQLite EXCLUSIVE transaction, held open, on `<dir>/ca.lock`:
 * an fcntl lock, which the kernel drops when its holder exits by any means
 * (kill -9 included), so there is no stale lock to detect or to break, no
 * race between two starters breaking the same one, and no confusion by a
 * reused pid; SQLite also sees it between connections of one process, where
 * plain fcntl locks do not. The holder's pid goes to `<dir>/ca.lock.pid`
 * (removed on release), only so the refusal can name it.
 * (simulator/ca/README.md, "One writer per data directory".)
 */
export class DataDirLockedError extends CaError {
  constructor(
    readonly dataDir: string,
    readonly holderPid: number | undefined,
  ) {
    const who = holderPid === undefined ? "another process" : `process ${holderPid}${holderPid === process.pid ? " (this one)" : ""}`;
    super(409, "data-dir-locked", `the CA data directory ${dataDir} is in use by ${who}: one CA per data directory`);
  }
}

export interface DataDirLock {
  release(): void;
}

const LOCK = "ca.lock";
const PID = "ca.lock.pid";
/** A starter that won the lock a moment ago may not have written its pid yet: look again for this long. */
const PID_WAIT_MS = 500;

export async function lockDataDir(dir: string): Promise<DataDirLock> {
  const db = new Database(join(dir, LOCK), { timeout: 0 });
  try {
    db.pragma("journal_mode = MEMORY"); // nothing is ever written: no -journal file beside the lock
    db.exec("BEGIN EXCLUSIVE");
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code !== "SQLITE_BUSY") throw err;
    throw new DataDirLockedError(dir, await holderPid(dir));
  }
  const tmp = join(dir, `${PID}.${process.pid}`);
  writeFileSync(tmp, `${process.pid}\n`, { mode: 0o600 });
  renameSync(tmp, join(dir, PID));
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      rmSync(join(dir, PID), { force: true }); // before the lock is free: never a successor's pid file
      db.close(); // rolls the open transaction back: the lock is free
    },
  };
}

/** The pid the lock's holder wrote, once it names a live process; undefined when none does in time. */
async function holderPid(dir: string): Promise<number | undefined> {
  for (let waited = 0; ; waited += 20) {
    const pid = readPid(join(dir, PID));
    if (pid !== undefined && alive(pid)) return pid;
    if (waited >= PID_WAIT_MS) return undefined;
    await new Promise((r) => setTimeout(r, 20));
  }
}

function readPid(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, "utf8").trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM"; // exists, owned by someone else
  }
}
