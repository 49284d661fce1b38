import { reasonAllowed, sameShortText, type Clock, type LifecyclePolicy, type Random, type RevocationReason, type RevokerRole } from "../../core/index.js";
import { CaError, type CancellationCodes, type Caller, type Holder, type RenewalChallenge, type RenewRequest, type RevokeRequest } from "./api.js";
import type { AuditLog } from "./audit-log.js";
import { CREDENTIAL_ACTIONS, type CredentialAction, type Credentials, type TokenRole } from "./credentials.js";
import { openCodeKey } from "./code-key.js";
import { Lockout } from "./lockout.js";
import { SourceBudget, sourceBudgetFor } from "./source-budget.js";
import { RenewalChallenges, type VerifiedChallenge } from "./renewal-challenges.js";
import { proofVerifies } from "./renewal-proof.js";
import { generateCode, hashCode, hashSecret, normaliseAnswer, normaliseCode, normaliseEmail, storedKind, verifyCode, verifySecret } from "./secrets.js";
import type { CaStore, CardRow, CertificateRow, RevocationTarget } from "./store.js";

export interface AuthorityOptions {
  store: CaStore;
  clock: Clock;
  random: Random;
  /** The operator's and the issuing station's tokens (hashes). */
  credentials: Credentials;
  /** log2 of scrypt's N for registration answers (what a person chose). */
  kdfLog2N: number;
  /** How long (at the CA's clock) a renewal challenge can be used. */
  renewalChallengeMs: number;
  /** Where the code key file lives (code-key.ts); none: an in-memory CA, its key in memory. */
  dataDir?: string;
  /** Its reasonsByRole (which role may give which reason) and maxFailedAttempts (wrong credentials from one source before it waits). */
  policy: LifecyclePolicy;
}

/**
 * Who may do what (Boulder's RA, the deciding half): the operator's and the
 * issuing station's tokens, a card's cancellation codes and registration
 * answers, the lockout after wrong credentials (lockout.ts), the reasons
 * each role may give, and renewal authorisation (a proof by the old key over
 * a stateless single-use challenge, renewal-challenges.ts, or the operator).
 * It decides and counts; it changes no certificate's status.
 */
export class Authority {
  readonly lockout: Lockout;
  /** Failed credential checks per source, across certificates (source-budget.ts). */
  readonly budget: SourceBudget;
  private readonly challenges: RenewalChallenges;
  /** HMAC key for CA-generated codes (secrets.ts hashCode), in a file beside the database (code-key.ts): a copy of ca.db alone checks no code. */
  private readonly codeKey: Buffer;
  /** A code hash of nothing anyone knows, made at open: unknown serials cost the same check as wrong codes. */
  private readonly dummyCode: string;
  private kdf = 0;

  constructor(private readonly o: AuthorityOptions) {
    this.lockout = new Lockout(o.store, o.clock, o.policy.maxFailedAttempts);
    this.budget = new SourceBudget(o.clock, sourceBudgetFor(o.policy.maxFailedAttempts));
    this.challenges = new RenewalChallenges(o.store, o.clock, o.random, o.renewalChallengeMs);
    this.codeKey = openCodeKey(o.store, o.random, o.dataDir);
    this.dummyCode = hashCode(Buffer.from(o.random.bytes(16)).toString("hex"), o.random, this.codeKey);
  }

  /**
   * Credential verifications so far, keyed-hash (codes, holder id) and scrypt (answers) alike: one per code or
   * answer compared. Tests and benches measure the work a request costs with it, not wall time.
   */
  get kdfCalls(): number {
    return this.kdf;
  }

  /** Which role a bearer token is the credential of (constant time). */
  roleOf(token: unknown): TokenRole | undefined {
    return this.o.credentials.roleOf(token);
  }

  /** Throws 401 (no token, or nobody's) or 403 (another role's) unless `token` is `role`'s. */
  requireToken(token: unknown, role: TokenRole, what: string): void {
    this.o.credentials.require(token, role, what);
  }

  /**
   * requireToken for one of the actions a token alone authorises, the refusal
   * audited (by the role that presented the token: 403 means the other role's).
   */
  authenticate(token: unknown, role: TokenRole, action: CredentialAction, audit: AuditLog, caller?: Caller): void {
    try {
      this.requireToken(token, role, CREDENTIAL_ACTIONS[action]);
    } catch (err) {
      const presented = (err as CaError).status === 403 ? (role === "ra" ? "operator" : "ra") : "anonymous";
      audit.refusal({ serial: null, role: presented, action, outcome: (err as CaError).reason }, caller);
      throw err;
    }
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
   * Codes (80 random bits of ours) and the holder id (the card row's key, in
   * clear beside it) get the keyed hash; answers a person chose get scrypt.
   */
  async registerCard(holder: Holder): Promise<{ row: CardRow; codes: CancellationCodes }> {
    const { random, kdfLog2N: n } = this.o;
    const key = this.codeKey;
    const codes: CancellationCodes = { holder: generateCode(random) };
    if (holder.organisation) {
      codes.legalRepresentative = generateCode(random);
      codes.authorisedRepresentative = generateCode(random);
    }
    const answers: Record<string, string> = { holderId: holder.id, ...(holder.registration ?? {}) };
    const registration: Record<string, string> = {};
    for (const [q, a] of Object.entries(answers)) {
      const answer = normaliseAnswer(String(a));
      registration[q] = q === "holderId" ? hashCode(answer, random, key) : await hashSecret(answer, random, n);
    }
    const row: CardRow = {
      card_id: holder.id,
      name: holder.name,
      email: holder.email,
      organisation: holder.organisation ?? null,
      holder_code: hashCode(normaliseCode(codes.holder), random, key),
      legal_code: codes.legalRepresentative ? hashCode(normaliseCode(codes.legalRepresentative), random, key) : null,
      authorised_code: codes.authorisedRepresentative ? hashCode(normaliseCode(codes.authorisedRepresentative), random, key) : null,
      registration: JSON.stringify(registration),
      created_at: this.o.clock.nowMs(),
    };
    return { row, codes };
  }

  /**
   * Checks the role's codes or answers (the operator's token is checked
   * before, by the caller). Every comparison runs, so timing does not tell
   * which part was wrong. Names and emails compare in NFC. `first`: the
   * caller's source has not failed lately (its check goes ahead of guessers').
   */
  async credentialsMatch(cert: RevocationTarget, req: RevokeRequest, first = false): Promise<boolean> {
    const c = this.credentialChecks(cert, req);
    if (!c) return false;
    let all = c.othersOk;
    for (const [secret, stored] of c.secrets) all = (await this.verify(secret, stored, first)) && all;
    return all;
  }

  /**
   * `credentialsMatch` at once, when every hash it compares is a keyed hash (codes and holder ids stored by this
   * version); undefined when one is scrypt (a registration answer, or a code stored by an earlier version): then
   * the caller reserves budget and awaits `credentialsMatch`. The same comparisons (credentialChecks), all run.
   */
  credentialsMatchNow(cert: RevocationTarget, req: RevokeRequest): boolean | undefined {
    const c = this.credentialChecks(cert, req);
    if (!c) return false;
    if (c.secrets.some(([, stored]) => storedKind(stored) !== "hmac")) return undefined;
    let all = c.othersOk;
    for (const [secret, stored] of c.secrets) all = this.verifyNow(secret, stored) && all;
    return all;
  }

  /**
   * What a request of its role is checked against, once for both paths (review R1 S2): the secrets to verify
   * (normalised given value, stored hash) and whether everything else (email, name, the role existing on the card,
   * every answer given) holds. Undefined: no card (synthetic/bulk-only certificates: operator token path only).
   */
  private credentialChecks(cert: RevocationTarget, req: RevokeRequest): { secrets: Array<[string, string]>; othersOk: boolean } | undefined {
    // The target carries its card, read with it (store.revocationTarget).
    const card = cert.card;
    if (!card) return undefined;
    switch (req.role) {
      case "holder": {
        const emailOk = sameShortText(normaliseEmail(req.email!), normaliseEmail(card.email));
        const nameOk = sameShortText(normaliseAnswer(req.name!), normaliseAnswer(card.name));
        return { secrets: [[normaliseCode(req.code!), card.holder_code]], othersOk: emailOk && nameOk };
      }
      case "legal-representative":
      case "authorised-representative": {
        const stored = req.role === "legal-representative" ? card.legal_code : card.authorised_code;
        // A card without organisation has no representatives: still hash, to keep timing flat.
        return { secrets: [[normaliseCode(req.code!), stored ?? card.holder_code]], othersOk: stored !== null && card.organisation !== null };
      }
      case "operator": {
        const stored = JSON.parse(card.registration) as Record<string, string>;
        const secrets: Array<[string, string]> = [];
        let given = true;
        for (const [q, hash] of Object.entries(stored)) {
          const a = Object.hasOwn(req.answers!, q) ? req.answers![q] : undefined;
          secrets.push([normaliseAnswer(typeof a === "string" ? a : ""), hash]);
          given = given && typeof a === "string";
        }
        return { secrets, othersOk: given };
      }
    }
    return { secrets: [], othersOk: false };
  }

  /**
   * What a wrong credential of the request's role costs, for a serial the CA does not know: the 404 takes as long
   * as a 403. A code role: one code check. The operator (already proven by the token): one check of the holder id,
   * what every card registers; a card's further answers cost one scrypt each, which no unknown serial can mirror.
   */
  unknownSerialWork(req: RevokeRequest): void {
    const given = req.role === "operator" ? normaliseAnswer(typeof req.answers?.holderId === "string" ? req.answers.holderId : "") : normaliseCode(typeof req.code === "string" ? req.code : "");
    this.verifyNow(given, this.dummyCode);
  }

  /** A stateless single-use challenge for renewing `serial` (renewal-challenges.ts): handing it out stores nothing. */
  renewalChallenge(serial: string): RenewalChallenge {
    return this.challenges.issue(serial);
  }

  /**
   * Throws unless the request carries the operator token or a proof by the
   * old certificate's key over a challenge of ours for this serial. Returns
   * the verified challenge for a card's proof (the renewal uses it up).
   */
  authoriseRenewal(serial: string, old: CertificateRow, req: RenewRequest): VerifiedChallenge | undefined {
    if (req.operatorToken !== undefined) {
      // An operator at a counter: judged by the token alone, never falling back to a proof.
      this.requireToken(req.operatorToken, "operator", "renewal without the card's proof");
      return undefined;
    }
    if (req.proof === undefined && req.challenge === undefined) {
      throw new CaError(403, "renewal-unauthorised", "renewal needs the old key's proof over a renewal challenge (POST .../renewal-challenge), or the operator token");
    }
    if (typeof req.challenge !== "string" || !(req.proof instanceof Uint8Array) || req.proof.length === 0) {
      throw new CaError(403, "bad-proof", "a proof is the renewal challenge and the old key's signature, both");
    }
    const ch = this.challenges.verify(req.challenge, serial);
    if (!ch) throw new CaError(403, "bad-challenge", "the renewal challenge is not this CA's, expired or for another certificate; ask for a new one");
    // Synthetic bench rows have no certificate: nothing to check a proof against.
    if (!old.der || !proofVerifies(old.der, serial, req.challenge, req.proof)) {
      throw new CaError(403, "bad-proof", "the proof does not verify with the old certificate's public key");
    }
    return ch;
  }

  /** Uses up a verified challenge (call inside the renewal's transaction): of two requests carrying one proof, only one renews. */
  consumeChallenge(ch: VerifiedChallenge): void {
    if (!this.o.store.useChallenge(ch.tag, ch.expiresAt, this.o.clock.nowMs())) {
      throw new CaError(403, "bad-challenge", "the renewal challenge has already been used; ask for a new one");
    }
  }

  private verify(secret: string, stored: string | null | undefined, first: boolean): Promise<boolean> {
    this.kdf++;
    return verifySecret(secret, stored, first, this.codeKey);
  }

  private verifyNow(secret: string, stored: string | null | undefined): boolean {
    this.kdf++;
    return !!stored && verifyCode(secret, stored, this.codeKey);
  }
}
