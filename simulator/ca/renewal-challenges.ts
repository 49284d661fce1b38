import { createHmac, timingSafeEqual } from "node:crypto";
import type { Clock, Random } from "../../core/index.js";
import type { RenewalChallenge } from "./api.js";
import type { CaStore } from "./store.js";

/**
 * Stateless renewal challenges: handing one out stores nothing, so asking
 * for challenges again and again evicts nobody's and costs no disk.
 *
 *   challenge = base64url(expiresAt (8 octets, ms) || random (16) || HMAC-SHA256(key, serial "\n" || expiresAt || random))
 *
 * The 32-byte key lives in the store's meta table (a throwaway in-memory CA
 * makes one at open). The CA recognises its own challenges by the MAC, bound
 * to the serial and unforgeable without the key; single use is kept by the
 * renewal itself, which records the challenge's MAC in `used_challenges` in
 * its own transaction, and only for a proof that verified (store.useChallenge).
 */
const KEY_META = "renewal_challenge_key";
const RANDOM_LEN = 16;
const MAC_LEN = 32;
const RAW_LEN = 8 + RANDOM_LEN + MAC_LEN;
/** base64url of RAW_LEN octets, unpadded. */
const TEXT_LEN = Math.ceil((RAW_LEN * 4) / 3);

export interface VerifiedChallenge {
  /** The MAC, hex: what `used_challenges` records. */
  tag: string;
  expiresAt: number;
}

export class RenewalChallenges {
  private readonly key: Buffer;

  constructor(
    store: CaStore,
    private readonly clock: Clock,
    private readonly random: Random,
    private readonly validityMs: number,
  ) {
    let hex = store.meta(KEY_META);
    if (hex === undefined || hex.length !== 64) {
      hex = Buffer.from(random.bytes(32)).toString("hex");
      store.setMeta(KEY_META, hex);
    }
    this.key = Buffer.from(hex, "hex");
  }

  /** A challenge for `serial`, valid `validityMs` at the CA's clock. */
  issue(serial: string): RenewalChallenge {
    const expiresAt = this.clock.nowMs() + this.validityMs;
    const head = Buffer.alloc(8 + RANDOM_LEN);
    head.writeBigUInt64BE(BigInt(expiresAt), 0);
    head.set(this.random.bytes(RANDOM_LEN), 8);
    const challenge = Buffer.concat([head, this.mac(serial, head)]).toString("base64url");
    return { serial, challenge, expiresAt: new Date(expiresAt) };
  }

  /** The challenge's MAC and expiry when it is ours, for `serial`, and not expired at the CA's clock; else undefined. */
  verify(challenge: unknown, serial: string): VerifiedChallenge | undefined {
    if (typeof challenge !== "string" || challenge.length !== TEXT_LEN || !/^[A-Za-z0-9_-]+$/.test(challenge)) return undefined;
    const raw = Buffer.from(challenge, "base64url");
    if (raw.length !== RAW_LEN) return undefined;
    const head = raw.subarray(0, 8 + RANDOM_LEN);
    const mac = raw.subarray(8 + RANDOM_LEN);
    if (!timingSafeEqual(mac, this.mac(serial, head))) return undefined;
    const expiresAt = Number(head.readBigUInt64BE(0));
    const now = this.clock.nowMs();
    if (expiresAt <= now || expiresAt > now + this.validityMs) return undefined;
    return { tag: mac.toString("hex"), expiresAt };
  }

  private mac(serial: string, head: Buffer): Buffer {
    return createHmac("sha256", this.key).update(`${serial}\n`, "utf8").update(head).digest();
  }
}
