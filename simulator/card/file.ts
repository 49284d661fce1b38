import { closeSync, fchmodSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { CardloopError, FormatError, errorMessage } from "../../core/index.js";
import { CardFileBusyError, lockFile, type FileLock, type LockOptions } from "./file-lock.js";
import { PivCard } from "./piv-card.js";
import type { CardStore, PivCardState } from "./piv-state.js";
import { stateToJson } from "./state-json.js";

/**
 * Writes a file so that after a crash or power cut it holds either the old or
 * the new content, whole: a temporary file written and fsynced, renamed over
 * the file, and the directory fsynced (the rename itself is durable only
 * then). Mode 0600: a card file holds the card's secrets.
 */
export function writeFileDurably(path: string, text: string): void {
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
export class FileCardStore implements CardStore {
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

export interface CardFileOptions extends LockOptions {
  onWriteError?: (err: unknown) => void;
}

/**
 * A card file opened for a session: locked (one process at a time, see
 * file-lock.ts), its card answering with a FileCardStore, so every change
 * the card reports (a PIN try first of all) is on disk before the answer.
 * Close it to release the lock; exit releases it too.
 */
export class CardFile {
  private constructor(
    readonly path: string,
    readonly card: PivCard,
    private readonly lock: FileLock,
  ) {}

  /** Locks and reads the card file; CardFileBusyError when another session holds it. */
  static open(path: string, opts: CardFileOptions = {}): CardFile {
    const lock = lockCardFile(path, opts);
    try {
      const card = PivCard.fromJSON(readCardJson(path), undefined, new FileCardStore(path, opts.onWriteError));
      return new CardFile(path, card, lock);
    } catch (err) {
      lock.release();
      throw err;
    }
  }

  close(): void {
    this.lock.release();
  }
}

/**
 * The lock alone, for a card file that is about to be written whole (`card new`):
 * a busy file is CardFileBusyError, a lock that cannot be made (a read-only
 * directory) a CardloopError naming the file.
 */
export function lockCardFile(path: string, opts: LockOptions = {}): FileLock {
  try {
    return lockFile(path, opts);
  } catch (err) {
    if (err instanceof CardFileBusyError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT" ? "its directory does not exist"
      : code === "EACCES" || code === "EPERM" || code === "EROFS" ? `its directory is not writable (${code})`
      : errorMessage(err);
    throw new CardloopError("card-file", `cannot lock card file ${path}: ${why}`);
  }
}
