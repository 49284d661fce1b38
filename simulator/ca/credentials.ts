import { createHash, timingSafeEqual } from "node:crypto";
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { CryptoRandom, type Random } from "../../core/index.js";
import { CaError, type CaCredentials } from "./api.js";
import { lockDataDir } from "./data-dir-lock.js";
import type { CaStore } from "./store.js";

/**
 * The CA's bearer tokens: the operator's and the issuing station's (RA).
 * 256-bit random tokens need no slow KDF: the store keeps their SHA-256 in
 * its meta table, and a presented token is hashed and compared in constant
 * time. On a data directory's first start both are generated and written once
 * to `<dir>/operator.token` and `<dir>/ra.token` (0600) for the administrator
 * to collect; the CA never reads those files back. `cardloop ca token`
 * rotates one while no CA runs on the directory.
 */
export type TokenRole = "operator" | "ra";

/** What the HTTP layer has the CA authenticate before it reads a body, and how a refusal names it. */
export const CREDENTIAL_ACTIONS = {
  issue: "issuing a certificate",
  release: "release from hold",
  unlock: "unlocking a certificate",
  "bulk-revoke": "bulk revocation",
  audit: "reading the audit",
  clock: "moving the CA's clock",
} as const;
export type CredentialAction = keyof typeof CREDENTIAL_ACTIONS;
export const TOKEN_ROLES: readonly TokenRole[] = ["operator", "ra"];

const META: Record<TokenRole, string> = { operator: "operator_token_sha256", ra: "ra_token_sha256" };
const FILE: Record<TokenRole, string> = { operator: "operator.token", ra: "ra.token" };
/** Longer is not a token of ours; bounding it bounds the hashing an anonymous caller can ask for. */
const MAX_TOKEN = 512;
/**
 * A given token must carry at least 128 bits as base64url: a plain SHA-256
 * (no slow KDF) and no lockout on bad tokens are safe only for tokens nobody
 * can guess.
 */
const MIN_TOKEN = 22;

export class Credentials {
  private constructor(
    private readonly hashes: Record<TokenRole, Buffer>,
    /** The tokens themselves, where this process made or was given them. */
    readonly known: CaCredentials,
  ) {}

  /**
   * Reads the token hashes from the store; makes what is missing. `given`
   * tokens replace the stored hashes. A reopened data directory knows only
   * hashes, so `known` then holds only what was given.
   */
  static open(store: CaStore, random: Random, dataDir: string | undefined, given: CaCredentials): Credentials {
    if (given.operatorToken && given.operatorToken === given.raToken) throw new Error("the operator's and the issuing station's tokens must differ");
    const hashes = {} as Record<TokenRole, Buffer>;
    const known: CaCredentials = {};
    for (const role of TOKEN_ROLES) {
      const option = role === "operator" ? given.operatorToken : given.raToken;
      if (option !== undefined && (option.length < MIN_TOKEN || option.length > MAX_TOKEN)) {
        throw new Error(`the ${role === "ra" ? "issuing station's" : "operator's"} token must be ${MIN_TOKEN} to ${MAX_TOKEN} characters (at least 128 random bits)`);
      }
      let token: string | undefined;
      let hash = store.meta(META[role]);
      if (option) token = option;
      else if (hash === undefined) {
        // A data directory from before hashed tokens keeps the token its clients have (read this once); else a new one.
        const file = dataDir ? join(dataDir, FILE[role]) : undefined;
        const earlier = file && existsSync(file) ? readFileSync(file, "utf8").trim() : "";
        token = earlier.length >= MIN_TOKEN ? earlier : newToken(random);
        // The file first: a crash before the hash is stored just makes a new token at the next start.
        if (file && token !== earlier) writeSecretFile(file, token);
      }
      if (token !== undefined) {
        hash = sha256(token).toString("hex");
        store.setMeta(META[role], hash);
        if (role === "operator") known.operatorToken = token;
        else known.raToken = token;
      }
      hashes[role] = Buffer.from(hash!, "hex");
    }
    return new Credentials(hashes, known);
  }

  /** Which role `token` is the credential of; both comparisons always run, in constant time. */
  roleOf(token: unknown): TokenRole | undefined {
    if (typeof token !== "string" || token.length === 0 || token.length > MAX_TOKEN) return undefined;
    const h = sha256(token);
    const operator = timingSafeEqual(h, this.hashes.operator);
    const ra = timingSafeEqual(h, this.hashes.ra);
    return operator ? "operator" : ra ? "ra" : undefined;
  }

  /** Throws 401 for no token or a token that is nobody's, 403 for another role's. */
  require(token: unknown, role: TokenRole, what: string): void {
    const name = role === "ra" ? "the issuing station's (RA) token" : "the operator token";
    if (token === undefined || token === null || token === "") throw new CaError(401, "credential-required", `${what} needs ${name}`);
    const actual = this.roleOf(token);
    if (actual === undefined) throw new CaError(401, "bad-credential", `the token presented is not valid (${what} needs ${name})`);
    if (actual !== role) throw new CaError(403, "forbidden", `${what} needs ${name}, not the ${actual === "ra" ? "RA" : actual}'s`);
  }
}

/** 256 random bits, base64url. */
function newToken(random: Random): string {
  return Buffer.from(random.bytes(32)).toString("base64url");
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

/** A fresh 0600 file (a left-over file of the same name is replaced, not rewritten with its old mode). */
function writeSecretFile(path: string, token: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  writeFileSync(tmp, token + "\n", { mode: 0o600, flag: "wx" });
  renameSync(tmp, path);
}

/**
 * `cardloop ca token`: a new token for `role` in the CA at `dataDir`,
 * returned once; only its hash is stored. Takes the data directory's lock, so
 * it refuses (DataDirLockedError) while a CA runs there, and removes the
 * role's token file: it would hold the token that no longer works.
 */
export async function rotateToken(dataDir: string, role: TokenRole, random: Random = new CryptoRandom()): Promise<string> {
  if (!TOKEN_ROLES.includes(role)) throw new CaError(400, "bad-role", `the role must be operator or ra (got ${String(role)})`);
  const dbPath = join(dataDir, "ca.db");
  if (!existsSync(dbPath)) throw new CaError(404, "no-ca", `there is no CA in ${dataDir} (start it once with cardloop ca serve)`);
  const lock = await lockDataDir(dataDir);
  try {
    const token = newToken(random);
    // Only the meta table: no need to open the CA (and replay its revocation log).
    const db = new Database(dbPath, { fileMustExist: true });
    try {
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      db.prepare(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`).run(META[role], sha256(token).toString("hex"));
    } finally {
      db.close();
    }
    rmSync(join(dataDir, FILE[role]), { force: true });
    return token;
  } finally {
    lock.release();
  }
}
