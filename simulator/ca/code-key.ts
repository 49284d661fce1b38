import { createHash } from "node:crypto";
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Random } from "../../core/index.js";
import type { CaStore } from "./store.js";

/** The key file in the data directory, beside ca.db but never in it. */
export const CODE_KEY_FILE = "code.key";
/** SHA-256 of the key, in the meta table: says a key was made and which, without revealing it. */
const FINGERPRINT_META = "code_key_sha256";
/** Where a data directory made by an earlier build of issue 13 kept the key itself: moved out at open. */
const LEGACY_META = "code_hash_key";

/**
 * The CA's code key (HMAC-SHA256 over codes and holder ids, secrets.ts), kept
 * OUT of the database it protects: `<dataDir>/code.key`, 64 hex digits, mode
 * 0600, made at a data directory's first open. So a copy or backup of ca.db
 * alone cannot check a single code offline (review R1 P1); an in-memory CA
 * holds its key in memory only.
 *
 * The database keeps the key's SHA-256. A missing, malformed or different key
 * file on a data directory that has made a key is an error that says so, never
 * a new key silently: that would make every stored code unverifiable.
 */
export function openCodeKey(store: CaStore, random: Random, dataDir: string | undefined): Buffer {
  const fingerprint = store.meta(FINGERPRINT_META);
  const legacy = store.meta(LEGACY_META);
  if (!dataDir) {
    if (legacy !== undefined && /^[0-9a-f]{64}$/.test(legacy)) return Buffer.from(legacy, "hex");
    return Buffer.from(random.bytes(32));
  }
  const file = join(dataDir, CODE_KEY_FILE);
  if (existsSync(file)) {
    const text = readFileSync(file, "utf8").trim();
    if (!/^[0-9a-f]{64}$/.test(text)) throw new Error(`${file} is not a code key (64 hex digits): restore it from where the data directory was backed up; without it no stored cancellation code can be checked`);
    const key = Buffer.from(text, "hex");
    if (fingerprint !== undefined && fingerprint !== sha256(key)) throw new Error(`${file} is not the key this CA's codes were hashed with: restore the right one; without it no stored cancellation code can be checked`);
    if (fingerprint === undefined) store.setMeta(FINGERPRINT_META, sha256(key));
    if (legacy !== undefined) store.deleteMeta(LEGACY_META);
    return key;
  }
  if (fingerprint !== undefined) throw new Error(`${file} is missing: this CA's codes were hashed with the key it held; restore it (it is kept apart from ca.db on purpose), without it no stored cancellation code can be checked`);
  // First open (or a data directory whose key was still in the meta table): write the file, then record its fingerprint.
  const key = legacy !== undefined && /^[0-9a-f]{64}$/.test(legacy) ? Buffer.from(legacy, "hex") : Buffer.from(random.bytes(32));
  const tmp = `${file}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  writeFileSync(tmp, key.toString("hex") + "\n", { mode: 0o600, flag: "wx" });
  renameSync(tmp, file);
  store.transaction(() => {
    store.setMeta(FINGERPRINT_META, sha256(key));
    if (legacy !== undefined) store.deleteMeta(LEGACY_META);
  });
  return key;
}

function sha256(key: Buffer): string {
  return createHash("sha256").update(key).digest("hex");
}
