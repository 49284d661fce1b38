/**
 * Storage faults are outcomes, not crashes (issue 11, defect 6): a full disk,
 * a read-only or vanished file, an I/O error or a lock held too long make
 * SQLite (better-sqlite3) throw a SqliteError whose `code` names the fault.
 * This recognises them so that the HTTP layer answers 503 with a reason and
 * background work (the CRL schedule) reports and retries instead of throwing.
 *
 * Anything else (a bug, a constraint violation) is not a storage fault: it
 * stays an internal error, so that a real defect is not hidden as "busy".
 */

/** Why the store cannot do its work just now; the words the 503 and the events carry. */
export type StorageFaultReason = "disk-full" | "read-only" | "io-error" | "cannot-open" | "busy";

export interface StorageFault {
  reason: StorageFaultReason;
  /** SQLite's primary or extended result code, e.g. SQLITE_FULL, SQLITE_READONLY_DBMOVED. */
  code: string;
}

/** SQLite primary result codes (extended ones are `<primary>_<detail>`) and what they mean for a caller. */
const FAULTS: ReadonlyArray<[string, StorageFaultReason]> = [
  ["SQLITE_FULL", "disk-full"],
  ["SQLITE_READONLY", "read-only"],
  ["SQLITE_IOERR", "io-error"],
  ["SQLITE_CANTOPEN", "cannot-open"],
  ["SQLITE_BUSY", "busy"],
  ["SQLITE_LOCKED", "busy"],
];

/** The storage fault `err` is, or undefined when it is not one (including non-SQLite errors). */
export function storageFault(err: unknown): StorageFault | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "string" || !code.startsWith("SQLITE_")) return undefined;
  for (const [primary, reason] of FAULTS) {
    if (code === primary || code.startsWith(primary + "_")) return { reason, code };
  }
  return undefined;
}

/** How long a client should wait before trying again after a storage fault (seconds, for Retry-After). */
export const STORAGE_RETRY_AFTER_S = 5;
