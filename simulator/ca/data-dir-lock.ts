import { join } from "node:path";
import { holdExclusive, holderPid as lockHolderPid } from "../lock/index.js";
import { CaError } from "./api.js";

/**
 * One writer per CA data directory. Two CAs on one directory would disagree
 * (one answering OCSP "good" for a certificate the other revoked, their CRL
 * numbers diverging), so opening a CA takes an exclusive lock first and a
 * second opener, in this process or another, is refused.
 *
 * The lock is simulator/lock's: an SQLite EXCLUSIVE transaction, held open, on
 * `<dir>/ca.lock`, an fcntl lock the kernel drops when its holder exits by any
 * means (kill -9 included), so there is no stale lock to detect or to break.
 * The holder's pid goes to `<dir>/ca.lock.pid` (removed on release), only so
 * the refusal can name it. (simulator/ca/README.md, "One writer per data directory".)
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
/** A starter that won the lock a moment ago may not have written its pid yet: look again for this long. */
const PID_WAIT_MS = 500;

export async function lockDataDir(dir: string): Promise<DataDirLock> {
  const lock = holdExclusive(join(dir, LOCK));
  if ("busy" in lock) throw new DataDirLockedError(dir, lock.pid ?? (await holderPid(dir)));
  return lock;
}

/** The pid the lock's holder wrote, once it names a live process; undefined when none does in time. */
async function holderPid(dir: string): Promise<number | undefined> {
  for (let waited = 0; ; waited += 20) {
    const pid = lockHolderPid(join(dir, LOCK));
    if (pid !== undefined) return pid;
    if (waited >= PID_WAIT_MS) return undefined;
    await new Promise((r) => setTimeout(r, 20));
  }
}
