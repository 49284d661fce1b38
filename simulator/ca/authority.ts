import { createHash, timingSafeEqual } from "node:crypto";
import { reasonAllowed, type Clock, type LifecyclePolicy, type Random, type RevocationReason, type RevokerRole } from "../../core/index.js";
import { CaError, type CancellationCodes, type Holder, type RenewalChallenge, type RenewRequest, type RevokeRequest } from "./api.js";
import { proofVerifies } from "./renewal-proof.js";
import { generateCode, hashSecret, normaliseAnswer, normaliseCode, verifySecret } from "./secrets.js";
import type { CaStore, CardRow, CertificateRow } from "./store.js";

/** Outstanding renewal challenges kept per certificate; asking for more drops the oldest. */
export const CHALLENGES_PER_SERIAL = 4;

export interface AuthorityOptions {
  store: CaStore;
  clock: Clock;
  random: Random;
  operatorToken: string;
  /** log2 of scrypt's N for codes and answers. */
  kdfLog2N: number;
  /** How long (at the CA's clock) a renewal challenge can be used. */
  renewalChallengeMs: number;
  /** Its reasonsByRole (which role may give which reason) and maxFailedAttempts (wrong credentials before a certificate's revocation locks). */
  policy: LifecyclePolicy;
}

/**
 * Who may do what (Boulder's RA, the deciding half): the operator token, a
 * card's cancellation codes and registration answers, the lockout after
 * wrong credentials, the reasons each role may give, and renewal
 * authorisation (a proof by the old key over a single-use challenge, or the
 * operator). It decides and counts; it changes no certificate's status.
 */
export class Authority {
  constructor(private readonly o: AuthorityOptions) {}

  /** Constant-time check of the operator token. */
  isOperator(token: unknown): boolean {
    if (typeof token !== "string" || token.length === 0) return false;
    return safeEqual(token, this.o.operatorToken);
  }

  /** Throws 403 unless the policy lets `role` revoke with `reason`. */
  checkReasonForRole(role: RevokerRole, reason: RevocationReason): void {
    if (!reasonAllowed(this.o.policy, role, reason)) {
      throw new CaError(403, "reason-not-allowed", `the policy does not let the ${role} revoke with reason ${reason}`);
    }
  }

  /**
   * A new card's registration: cancellation codes (the holder's; with an
   * organisation, its representatives' too) and registration answers, stored
   * only as salted hashes. The codes are returned once, for the holder.
   */
  async registerCard(holder: Holder): Promise<{ row: CardRow; codes: CancellationCodes }> {
    const { random, kdfLog2N: n } = this.o;
    const codes: CancellationCodes = { holder: generateCode(random) };
    if (holder.organisation) {
      codes.legalRepresentative = generateCode(random);
      codes.authorisedRepresentative = generateCode(random);
    }
    const answers: Record<string, string> = { holderId: holder.id, ...(holder.registration ?? {}) };
    const registration: Record<string, string> = {};
    for (const [q, a] of Object.entries(answers)) registration[q] = await hashSecret(normaliseAnswer(String(a)), random, n);
    const row: CardRow = {
      card_id: holder.id,
      name: holder.name,
      email: holder.email,
      organisation: holder.organisation ?? null,
      holder_code: await hashSecret(normaliseCode(codes.holder), random, n),
      legal_code: codes.legalRepresentative ? await hashSecret(normaliseCode(codes.legalRepresentative), random, n) : null,
      authorised_code: codes.authorisedRepresentative ? await hashSecret(normaliseCode(codes.authorisedRepresentative), random, n) : null,
      registration: JSON.stringify(registration),
      created_at: this.o.clock.nowMs(),
    };
    return { row, codes };
  }

  /** Checks the role's credentials. Every comparison runs, so timing does not tell which part was wrong. */
  async credentialsMatch(cert: CertificateRow, req: RevokeRequest): Promise<boolean> {
    const card = this.o.store.card(cert.card_id);
    if (!card) return false; // synthetic/bulk-only certificates: operator token path only
    switch (req.role) {
      case "holder": {
        const codeOk = await verifySecret(normaliseCode(req.code!), card.holder_code);
        const emailOk = safeEqual(req.email!.trim().toLowerCase(), card.email.trim().toLowerCase());
        const nameOk = safeEqual(normaliseAnswer(req.name!), normaliseAnswer(card.name));
        return codeOk && emailOk && nameOk;
      }
      case "legal-representative":
      case "authorised-representative": {
        const stored = req.role === "legal-representative" ? card.legal_code : card.authorised_code;
        // A card without organisation has no representatives: still hash, to keep timing flat.
        const ok = await verifySecret(normaliseCode(req.code!), stored ?? card.holder_code);
        return ok && stored !== null && card.organisation !== null;
      }
      case "operator": {
        const stored = JSON.parse(card.registration) as Record<string, string>;
        let all = true;
        for (const [q, hash] of Object.entries(stored)) {
          const given = req.answers![q];
          const ok = await verifySecret(normaliseAnswer(typeof given === "string" ? given : ""), hash);
          all = all && ok && typeof given === "string";
        }
        return all;
      }
    }
    return false;
  }

  /** Counts one wrong credential (call inside the store's transaction); true when the certificate is now locked. */
  recordWrongCredentials(serial: string): boolean {
    return this.o.store.recordFailure(serial, this.o.policy.maxFailedAttempts).locked;
  }

  /**
   * A single-use challenge for renewing `serial`. The card signs it with the
   * old key before the kiosk generates the new one (which replaces the old key
   * in its slot), so the proof cannot cover the new request; being single-use
   * and short-lived, an overheard proof cannot be replayed for another key.
   */
  renewalChallenge(serial: string): RenewalChallenge {
    const now = this.o.clock.nowMs();
    const challenge = Buffer.from(this.o.random.bytes(32)).toString("base64url");
    const expiresAt = now + this.o.renewalChallengeMs;
    this.o.store.addChallenge(challenge, serial, expiresAt, now, CHALLENGES_PER_SERIAL);
    return { serial, challenge, expiresAt: new Date(expiresAt) };
  }

  /** Throws 403 unless the request carries a valid operator token or a proof by the old certificate's key. */
  authoriseRenewal(serial: string, old: CertificateRow, req: RenewRequest, at: number): void {
    if (req.operatorToken !== undefined) {
      // An operator at a counter: judged by the token alone, never falling back to a proof.
      if (!this.isOperator(req.operatorToken)) throw new CaError(403, "forbidden", "the operator token is not valid");
      return;
    }
    if (req.proof === undefined && req.challenge === undefined) {
      throw new CaError(403, "renewal-unauthorised", "renewal needs the old key's proof over a renewal challenge (POST .../renewal-challenge), or the operator token");
    }
    if (typeof req.challenge !== "string" || !(req.proof instanceof Uint8Array) || req.proof.length === 0) {
      throw new CaError(403, "bad-proof", "a proof is the renewal challenge and the old key's signature, both");
    }
    const ch = this.o.store.challenge(req.challenge);
    if (!ch || ch.serial !== serial || ch.expires_at <= at) {
      throw new CaError(403, "bad-challenge", "the renewal challenge is unknown, used, expired or for another certificate; ask for a new one");
    }
    // Synthetic bench rows have no certificate: nothing to check a proof against.
    if (!old.der || !proofVerifies(old.der, serial, req.challenge, req.proof)) {
      throw new CaError(403, "bad-proof", "the proof does not verify with the old certificate's public key");
    }
  }

  /** Uses up a card's challenge with the renewal (call inside its transaction): of two requests carrying one proof, only one renews. */
  consumeChallenge(req: RenewRequest, serial: string, at: number): void {
    if (!this.o.store.takeChallenge(req.challenge!, serial, at)) {
      throw new CaError(403, "bad-challenge", "the renewal challenge has already been used; ask for a new one");
    }
  }
}

function safeEqual(a: string, b: string): boolean {
  const x = createHash("sha256").update(a).digest();
  const y = createHash("sha256").update(b).digest();
  return timingSafeEqual(x, y);
}
