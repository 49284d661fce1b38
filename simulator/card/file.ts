import { closeSync, existsSync, fchmodSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { CardloopError, FormatError, errorMessage } from "../../core/index.js";
import { holdExclusive, holderPid, type ExclusiveLock } from "../lock/index.js";
import { PivCard } from "./piv-card.js";
import { TearingCard, type TearingModel } from "./tearing.js";
import type { CardStore, PivCardState } from "./piv-state.js";
import { stateToJson } from "./state-json.js";

/**
 * Writes a file so that after a crash or power cut it holds either the old or
 * the new content, whole: a temporary file written and fsynced, renamed over
 * the file, and the directory fsynced (the rename itself is durable only
 * then). Mode 0600: a card file holds the card's secrets.
 */
function writeFileDurably(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    const fd = openSync(tmp, "w", 0o600);
    try {
      fchmodSync(fd, 0o600); // a leftover temporary file keeps its mode otherwise
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  syncDirectory(dirname(path));
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } catch (err) {
    // file systems that cannot sync a directory say so; they have nothing more to make durable
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EINVAL" && code !== "ENOTSUP" && code !== "EISDIR") throw err;
  } finally {
    closeSync(fd);
  }
}

function cardText(state: PivCardState): string {
  return JSON.stringify(stateToJson(state), null, 2) + "\n";
}

/** Writes the card file durably (writeFileDurably), mode 0600. Takes no lock: a caller that holds a session uses CardFile. */
export function saveCard(card: PivCard, path: string): void {
  writeFileDurably(path, cardText(card.state));
}

/**
 * Reads a card file: a snapshot, for looking at a card (tests, reports). A
 * session that answers commands opens it with CardFile, which locks it and
 * keeps its state. An unreadable or malformed file is a CardloopError with a
 * one-line reason.
 */
export function loadCard(path: string): PivCard {
  return PivCard.fromJSON(readCardJson(path));
}

function readCardJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new CardloopError("card-file", `cannot read card file ${path}: ${errorMessage(err)}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    // V8's message may quote the text around the error, and this text holds the PIN,
    // PUK and management key: keep only the position.
    const at = /position (\d+)/.exec(errorMessage(err));
    throw new FormatError("card file", `${path} is not JSON${at ? ` (syntax error at position ${at[1]})` : ""}`);
  }
}

/** A card's memory in its card file: every save is durable before it returns. */
class FileCardStore implements CardStore {
  constructor(
    readonly path: string,
    /** Told about a failed write (the card then answers 6581); the error names the file, never its content. */
    private readonly onWriteError?: (err: unknown) => void,
  ) {}

  save(state: PivCardState): void {
    try {
      writeFileDurably(this.path, cardText(state));
    } catch (err) {
      this.onWriteError?.(err);
      throw err;
    }
  }
}

export interface CardFileOptions {
  onWriteError?: (err: unknown) => void;
}

/**
 * A card file opened for a session: locked (one process at a time, see
 * lockCardFile), its card answering with a FileCardStore, so every change
 * the card reports (a PIN try first of all) is on disk before the answer.
 * Close it to release the lock; the kernel releases it at any exit too.
 */
export class CardFile {
  private constructor(
    readonly path: string,
    readonly card: PivCard,
    private readonly lock: FileLock,
  ) {}

  /** Locks and reads the card file; CardFileBusyError when another session holds it. */
  static open(path: string, opts: CardFileOptions = {}): CardFile {
    // No card, no lock file left beside the name (a typo would leave one behind).
    if (!existsSync(path)) throw new CardloopError("card-file", `cannot read card file ${path}: no such file`);
    const lock = lockCardFile(path);
    try {
      const card = PivCard.fromJSON(readCardJson(path), undefined, new FileCardStore(path, opts.onWriteError));
      return new CardFile(path, card, lock);
    } catch (err) {
      lock.release();
      throw err;
    }
  }

  /**
   * The session's card as a TearingCard whose persisted memory is this file:
   * every write reaches the file before the answer, a torn one as the card
   * model leaves it (`apdu --faults`, `replay --faults`, `card serve
   * --faults` with tearing). Use it instead of `card`, not beside it.
   * `onSaveError` is told about a write the file could not take (the error
   * names the file, never its content) before the card model gets the throw.
   */
  tearing(model?: TearingModel, opts: { onSaveError?: (err: unknown) => void } = {}): TearingCard {
    const save = (state: PivCardState): void => {
      try {
        saveCard(new PivCard(state), this.path);
      } catch (err) {
        opts.onSaveError?.(err);
        throw err;
      }
    };
    return new TearingCard(this.card.state, { model, store: { save } });
  }

  close(): void {
    this.lock.release();
  }
}

/**
 * One process at a time holds a card file. Two holders would each count PIN
 * tries against their own copy of the card (10 sessions checked 7-10 wrong
 * PINs against a 3-try PIN), so a session takes `<card>.lock` first and a
 * second one, in this process or another, is refused.
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

/** A held card file lock: `release()` frees it (once); the kernel frees it when the process ends, however it ends. */
export type FileLock = ExclusiveLock;

/** A holder that won the lock a moment ago may not have written its pid yet: look again for this long. */
const PID_WAIT_MS = 500;

/**
 * The lock alone, for a card file that is about to be written whole (`card new`):
 * simulator/lock's SQLite EXCLUSIVE transaction on `<card>.lock` (an fcntl
 * lock: nothing stale survives its holder), the holder's pid in
 * `<card>.lock.pid` while held. The lock file stays on disk after a release.
 * A busy file is CardFileBusyError, a lock that cannot be made (a missing or
 * read-only directory) a CardloopError naming the file.
 */
export function lockCardFile(path: string): FileLock {
  const lockPath = `${path}.lock`;
  let lock: ReturnType<typeof holdExclusive>;
  try {
    lock = holdExclusive(lockPath);
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why =
      !existsSync(dirname(path)) ? "its directory does not exist"
      : code === "SQLITE_NOTADB" ? `${lockPath} is not a lock file (an older cardloop's? remove it once no older cardloop uses the card)`
      : code === "SQLITE_CANTOPEN" || code === "SQLITE_READONLY" || code === "EACCES" || code === "EPERM" || code === "EROFS" ? `cannot create or open ${lockPath} (${code}): is its directory writable?`
      : errorMessage(err);
    throw new CardloopError("card-file", `cannot lock card file ${path}: ${why}`);
  }
  if (!("busy" in lock)) return lock;
  throw new CardFileBusyError(path, lock.pid ?? waitForPid(lockPath));
}

/** Opening a card file is synchronous: a short blocking wait for the holder's pid. */
function waitForPid(lockPath: string): number | undefined {
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (let waited = 0; waited < PID_WAIT_MS; waited += 5) {
    Atomics.wait(sleeper, 0, 0, 5);
    const pid = holderPid(lockPath);
    if (pid !== undefined) return pid;
  }
  return undefined;
}
