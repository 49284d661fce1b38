import { createHmac, scrypt, timingSafeEqual } from "node:crypto";
import { availableParallelism } from "node:os";
import type { Random } from "../../core/index.js";
import { CaError } from "./api.js";

/**
 * Cancellation codes and registration answers: stored only as hashes,
 * compared in constant time.
 *
 * Two stored forms, told apart by their first field:
 * - "scrypt$<log2 N>$<salt b64>$<hash b64>": what a person chose or knows
 *   (registration answers such as a date of birth), where a slow KDF is what
 *   stands between a stolen database and a dictionary. The cost is kept in
 *   each hash so a CA can raise it later without breaking older entries;
 *   codes stored this way by earlier versions still verify.
 * - "hmac$<salt b64>$<mac b64>": HMAC-SHA256 under the CA's code key (a
 *   32-byte key in `<dataDir>/code.key`, not in the database: code-key.ts) over salt || secret. For what the
 *   CA generated itself (80-bit codes) or what is stored in clear anyway (the
 *   holder id): 2^80 guesses are out of reach however fast each one is, and
 *   without the key a stolen database alone does not even allow an offline
 *   check. A check costs microseconds and waits in no queue.
 */

/** Crockford base32: no I, L, O, U, so codes read aloud over the phone survive. */
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** 16 symbols = 80 random bits, shown as XXXX-XXXX-XXXX-XXXX. */
export function generateCode(random: Random): string {
  const bytes = random.bytes(16);
  let s = "";
  for (let i = 0; i < 16; i++) {
    s += ALPHABET[bytes[i] & 31];
    if (i % 4 === 3 && i < 15) s += "-";
  }
  return s;
}

/** Codes are accepted with any case, spaces or dashes. */
export function normaliseCode(code: string): string {
  return code.toUpperCase().replace(/[\s-]/g, "");
}

/**
 * Registration answers and names compare after Unicode NFC (one spelling of
 * "é", whether typed as one code point or as e + combining accent), trimming,
 * lower-casing and collapsing spaces. NFC comes first: case-folding an NFD
 * string can leave it different from the folded NFC one.
 */
export function normaliseAnswer(answer: string): string {
  return answer.normalize("NFC").trim().toLowerCase().replace(/\s+/g, " ");
}

/** An email address as compared: NFC, trimmed, lower-cased. */
export function normaliseEmail(email: string): string {
  return email.normalize("NFC").trim().toLowerCase();
}

const KEYLEN = 32;

/**
 * Credential checks (key derivations) at once: half the cores (at least one). scrypt runs on
 * libuv's pool of four threads, so four at once would take every core of a
 * small machine; whatever anonymous callers make the CA derive (bounded per
 * source by source-budget.ts), the other half stays free for OCSP, CRLs and
 * everyone else. Holders' checks queue behind at most that work.
 */
const KDF_AT_ONCE = Math.max(1, Math.floor(availableParallelism() / 2));
/**
 * Checks waiting at most (503 "busy" beyond): with the per-source budget this
 * bounds how long a holder's check can wait behind everyone else's (64 at
 * about 35 ms each at the default cost, per slot).
 */
export const KDF_QUEUE = 64;
let running = 0;
/**
 * Two lines: checks for sources that have not failed lately go first, so a
 * holder's one revocation is not queued behind a guesser's budget of wrong
 * codes (source-budget.ts says which source is which).
 */
const queued: { first: Array<() => void>; later: Array<() => void> } = { first: [], later: [] };

async function verifyingScrypt(secret: string, salt: Buffer, log2N: number, first: boolean): Promise<Buffer> {
  if (running >= KDF_AT_ONCE) {
    if (queued.first.length + queued.later.length >= KDF_QUEUE) throw new CaError(503, "busy", "the CA is checking too many credentials at once; try again shortly");
    await new Promise<void>((go) => (first ? queued.first : queued.later).push(go));
  } else running++;
  try {
    return await scryptNow(secret, salt, log2N);
  } finally {
    // hand the slot to the next in line, or free it
    const next = queued.first.shift() ?? queued.later.shift();
    if (next) next();
    else running--;
  }
}

function scryptNow(secret: string, salt: Buffer, log2N: number): Promise<Buffer> {
  const N = 2 ** log2N;
  return new Promise((resolve, reject) =>
    scrypt(secret, salt, KEYLEN, { N, r: 8, p: 1, maxmem: 256 * N * 8 }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export async function hashSecret(secret: string, random: Random, log2N: number): Promise<string> {
  const salt = Buffer.from(random.bytes(16));
  // Hashing at registration is the issuing station's (authenticated) work: not held back with the checks.
  const key = await scryptNow(secret, salt, log2N);
  return `scrypt$${log2N}$${salt.toString("base64")}$${key.toString("base64")}`;
}

/** The MAC half of a keyed code hash (HMAC-SHA256(key, salt || secret)). */
function codeMac(key: Buffer, salt: Buffer, secret: string): Buffer {
  return createHmac("sha256", key).update(salt).update(secret, "utf8").digest();
}

/** A CA-generated code (or a value stored in clear anyway) as "hmac$salt$mac" under the CA's code key: microseconds, no queue. */
export function hashCode(secret: string, random: Random, key: Buffer): string {
  const salt = Buffer.from(random.bytes(16));
  return `hmac$${salt.toString("base64")}$${codeMac(key, salt, secret).toString("base64")}`;
}

/** The kind of a stored hash: "hmac" checks are fast (no KDF queue), "scrypt" ones run the KDF; undefined when malformed. */
export function storedKind(stored: string | null | undefined): "hmac" | "scrypt" | undefined {
  const kind = stored?.slice(0, stored.indexOf("$"));
  return kind === "hmac" || kind === "scrypt" ? kind : undefined;
}

/**
 * Constant-time check of a secret against its stored hash, either form; false for any malformed stored value.
 * `first`: the caller's source has not failed lately; a scrypt check waits only behind others of its kind.
 * `codeKey`: the CA's code key, for "hmac$" hashes (false without it).
 */
export async function verifySecret(secret: string, stored: string | null | undefined, first = false, codeKey?: Buffer): Promise<boolean> {
  if (!stored) return false;
  if (stored.startsWith("hmac$")) return codeKey !== undefined && verifyCode(secret, stored, codeKey);
  const [kind, n, saltB64, hashB64] = stored.split("$");
  const log2N = Number(n);
  if (kind !== "scrypt" || !Number.isInteger(log2N) || log2N < 1 || log2N > 20 || !saltB64 || !hashB64) return false;
  const expected = Buffer.from(hashB64, "base64");
  const actual = await verifyingScrypt(secret, Buffer.from(saltB64, "base64"), log2N, first);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** An "hmac$salt$mac" hash checked synchronously (the HMAC is microseconds of work); false for any other form. */
export function verifyCode(secret: string, stored: string, key: Buffer): boolean {
  const [kind, saltB64, macB64, extra] = stored.split("$");
  if (kind !== "hmac" || !saltB64 || !macB64 || extra !== undefined) return false;
  const expected = Buffer.from(macB64, "base64");
  const actual = codeMac(key, Buffer.from(saltB64, "base64"), secret);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
