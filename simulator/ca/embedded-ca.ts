import "reflect-metadata";
import { createHash, createPublicKey, timingSafeEqual } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Pkcs10CertificateRequest } from "@peculiar/x509";
import { addYears, CryptoRandom, makeDirs, SystemClock, type Clock, type EventBus, type Random } from "../../core/index.js";
import {
  CaError,
  REASON_CODES,
  type BulkRevocationResult,
  type CaAdapter,
  type CaCapabilities,
  type CancellationCodes,
  type CertificateStatus,
  type Holder,
  type IssuedCertificate,
  type IssueRequest,
  type Profile,
  type RenewalChallenge,
  type RenewRequest,
  type RevocationReason,
  type RevocationResult,
  type RevokeRequest,
  type RevokerRole,
} from "./api.js";
import { buildCrl } from "./crl.js";
import { openHierarchy, type CaHierarchy, type HsmConfig, type KeyType } from "./hierarchy.js";
import { KU, OID } from "./oids.js";
import { OcspResponder } from "./ocsp-responder.js";
import { proofVerifies } from "./renewal-proof.js";
import { generateCode, hashSecret, normaliseAnswer, normaliseCode, verifySecret } from "./secrets.js";
import { CaStore, Status, type CardRow, type CertificateRow, type StatusCode } from "./store.js";
import { buildCertificate, encodeName, ext, keyIdentifier, toPem, type NameAttr } from "./x509.js";

declare module "../../core/events.js" {
  interface EventMap {
    "ca.issued": { serial: string; profile: Profile; holderId: string; notAfter: string; renewalOf?: string };
    "ca.revocation": { serial: string | null; role: string; action: string; outcome: string; reason?: RevocationReason; count?: number };
    /** A CRL was signed: the issuing CA's (end-entity certificates) or the root's (the ARL, CA certificates). */
    "ca.crl": { number: string; entries: number; bytes: number; issuer: "issuing" | "root" };
  }
}

/** Outstanding renewal challenges kept per certificate; asking for more drops the oldest. */
export const CHALLENGES_PER_SERIAL = 4;
export type RenewalPolicy = "revoke-superseded" | "keep-until-expiry";

export interface EmbeddedCaOptions {
  /** Where the CA lives (created on first start). Omitted: a throwaway in-memory CA. */
  dataDir?: string;
  clock?: Clock;
  /** Serials, cancellation codes, salts. A SeededRandom gives the same serials for the same seed. */
  random?: Random;
  keyType?: KeyType;
  /** Put the issuing CA key in SoftHSMv2 (ECDSA P-256), under <dataDir>/softhsm. */
  hsm?: HsmConfig | boolean;
  /** Base URL written into AIA (OCSP) and CRL distribution points. */
  baseUrl?: string;
  name?: string;
  maxValidityYears?: number;
  /** Wrong credentials before a certificate's revocation locks (423). */
  maxFailedAttempts?: number;
  renewal?: RenewalPolicy;
  /** CRL nextUpdate - thisUpdate. */
  crlValidityMs?: number;
  /** The root's CRL (ARL) nextUpdate - thisUpdate; 30 days by default. */
  rootCrlValidityMs?: number;
  /** Quiet time after a revocation before the CRL is regenerated (real time). */
  crlDebounceMs?: number;
  /** Longest a revocation waits for the CRL under a sustained stream of revocations (real time). */
  crlMaxDelayMs?: number;
  /** How often (real time) the CA checks whether its CRLs are past half their validity at its clock; 0 disables. */
  crlScheduleMs?: number;
  /** How long (at the CA's clock) a renewal challenge can be used; 5 minutes by default. */
  renewalChallengeMs?: number;
  /** OCSP nextUpdate - thisUpdate, and how long a cached response is served. */
  ocspValidityMs?: number;
  /** log2 of scrypt's N for codes and answers; 14 by default (lower it only for throwaway CAs). */
  kdfLog2N?: number;
  /** Fixed operator token; otherwise generated (and kept in <dataDir>/operator.token). */
  operatorToken?: string;
  events?: EventBus;
}

export interface RevokeOutcome extends RevocationResult {}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const SERIAL_RE = /^[0-9a-f]{2,40}$/;
const REASONS = new Set(Object.keys(REASON_CODES));
const CODE_TO_REASON = new Map(Object.entries(REASON_CODES).map(([k, v]) => [v, k as RevocationReason]));
const ROLES: ReadonlySet<RevokerRole> = new Set(["holder", "legal-representative", "authorised-representative", "operator"]);

/**
 * The embedded reference CA, in-process. Implements CaAdapter; the HTTP
 * server (http.ts) is a thin layer over this class.
 */
export class EmbeddedCa implements CaAdapter {
  readonly name = "embedded";
  readonly clock: Clock;
  readonly store: CaStore;
  readonly hierarchy: CaHierarchy;
  readonly ocspResponder: OcspResponder;
  readonly operatorToken: string;
  baseUrl: string;
  private readonly random: Random;
  private readonly opts: Required<
    Pick<EmbeddedCaOptions, "maxValidityYears" | "maxFailedAttempts" | "renewal" | "renewalChallengeMs" | "crlValidityMs" | "rootCrlValidityMs" | "crlDebounceMs" | "crlMaxDelayMs" | "kdfLog2N">
  >;
  private readonly events?: EventBus;
  private crlCache?: { der: Buffer; nextUpdate: number };
  private rootCrlCache?: { der: Buffer; nextUpdate: number };
  private crlDirty = true;
  private crlTimer?: NodeJS.Timeout;
  private crlMaxTimer?: NodeJS.Timeout;
  private crlSchedule?: NodeJS.Timeout;
  private closed = false;
  private readonly perSerial = new Map<string, Promise<void>>();

  private constructor(options: EmbeddedCaOptions, store: CaStore, hierarchy: CaHierarchy, operatorToken: string) {
    this.clock = options.clock ?? new SystemClock();
    this.random = options.random ?? new CryptoRandom();
    this.store = store;
    this.hierarchy = hierarchy;
    this.operatorToken = operatorToken;
    this.baseUrl = (options.baseUrl ?? "http://127.0.0.1:8440").replace(/\/$/, "");
    this.events = options.events;
    this.opts = {
      maxValidityYears: options.maxValidityYears ?? 3,
      maxFailedAttempts: options.maxFailedAttempts ?? 5,
      renewal: options.renewal ?? "revoke-superseded",
      renewalChallengeMs: options.renewalChallengeMs ?? 5 * 60_000,
      crlValidityMs: options.crlValidityMs ?? 24 * HOUR,
      rootCrlValidityMs: options.rootCrlValidityMs ?? 30 * DAY,
      crlDebounceMs: options.crlDebounceMs ?? 500,
      crlMaxDelayMs: options.crlMaxDelayMs ?? 10_000,
      kdfLog2N: options.kdfLog2N ?? 14,
    };
    const every = options.crlScheduleMs ?? 60_000;
    if (every > 0) {
      // The schedule: a CRL past half its validity (at the CA's clock) is reissued even without revocations.
      this.crlSchedule = setInterval(() => {
        if (this.closed) return;
        const now = this.clock.nowMs();
        if (this.crlCache && now >= this.crlCache.nextUpdate - this.opts.crlValidityMs / 2) this.regenerateCrl();
        if (this.rootCrlCache && now >= this.rootCrlCache.nextUpdate - this.opts.rootCrlValidityMs / 2) this.regenerateRootCrl();
      }, every);
      this.crlSchedule.unref();
    }
    this.ocspResponder = new OcspResponder({
      clock: this.clock,
      hierarchy,
      validityMs: options.ocspValidityMs ?? HOUR,
      lookup: (serial) => this.lookupForOcsp(serial),
    });
  }

  /** Opens (or creates) a CA. In-memory with EC keys this takes a few milliseconds. */
  static async open(options: EmbeddedCaOptions = {}): Promise<EmbeddedCa> {
    const clock = options.clock ?? new SystemClock();
    const random = options.random ?? new CryptoRandom();
    const dir = options.dataDir;
    if (dir) makeDirs(dir, 0o700);
    const hsm = options.hsm === true ? {} : options.hsm === false ? undefined : options.hsm;
    // The issuing CA certificate points at the root's CRL under the CA's base URL, as known when that
    // certificate is first built (a served CA sets its URL once it listens).
    let self: EmbeddedCa | undefined;
    const hierarchy = openHierarchy({
      dataDir: dir,
      keyType: options.keyType ?? "ec",
      hsm,
      clock,
      random,
      name: options.name ?? "cardloop",
      authorityCrlUrl: () => self?.rootCrlUrl,
    });
    const store = new CaStore(dir ? join(dir, "ca.db") : ":memory:");
    let token = options.operatorToken;
    if (!token) {
      const p = dir ? join(dir, "operator.token") : undefined;
      if (p && existsSync(p)) token = readFileSync(p, "utf8").trim();
      else {
        token = Buffer.from(random.bytes(24)).toString("base64url");
        if (p) writeFileSync(p, token + "\n", { mode: 0o600 });
      }
    }
    self = new EmbeddedCa({ ...options, clock, random }, store, hierarchy, token);
    return self;
  }

  capabilities(): CaCapabilities {
    return {
      renew: true,
      hold: true,
      authorisation: true,
      cancellationCodes: true,
      cardExpiryCap: true,
      crl: true,
      ocsp: true,
      ocspGet: true,
      bulkRevoke: true,
      virtualClock: "set" in this.clock,
      renewalAuthorisation: true,
    };
  }

  // ---------------------------------------------------------------- issuance

  async issue(req: IssueRequest): Promise<IssuedCertificate> {
    this.checkOpen();
    const profile = checkProfile(req?.profile);
    const holder = checkHolder(req?.holder);
    const spki = await verifyCsr(req.csrPem);
    const { notBefore, notAfter } = this.validity(req.cardExpiry);

    const cardId = holder.id;
    let newCard: CardRow | undefined;
    let codes: CancellationCodes | undefined;
    if (!this.store.card(cardId)) {
      ({ row: newCard, codes } = await this.newCard(holder));
    }
    const card = newCard ?? this.store.card(cardId)!;
    const serial = this.newSerial();
    const der = this.buildLeaf(serial, profile, card, spki, notBefore, notAfter);
    let inserted = false;
    this.store.transaction(() => {
      if (newCard) inserted = this.insertCardOnce(newCard);
      this.store.insertCertificate({ serial, card_id: cardId, profile, not_before: notBefore, not_after: notAfter, der: Buffer.from(der) });
    });
    this.ocspResponder.invalidate(serial);
    this.events?.emit("ca.issued", { serial, profile, holderId: cardId, notAfter: new Date(notAfter).toISOString() }, ["serial"]);
    return this.issued(serial, der, notBefore, notAfter, inserted ? codes : undefined);
  }

  /**
   * A single-use challenge for renewing `serial`. The card signs it with the
   * old key before the kiosk generates the new one (which replaces the old key
   * in its slot), so the proof cannot cover the new request; being single-use
   * and short-lived, an overheard proof cannot be replayed for another key.
   */
  async renewalChallenge(serial: string): Promise<RenewalChallenge> {
    this.checkOpen();
    serial = checkSerial(serial);
    this.mustCertificate(serial);
    const now = this.clock.nowMs();
    const challenge = Buffer.from(this.random.bytes(32)).toString("base64url");
    const expiresAt = now + this.opts.renewalChallengeMs;
    this.store.addChallenge(challenge, serial, expiresAt, now, CHALLENGES_PER_SERIAL);
    return { serial, challenge, expiresAt: new Date(expiresAt) };
  }

  /**
   * Renewal, authorised by a proof of the old key (the card, after its PIN)
   * or by the operator token. Works for a revoked certificate too: a found
   * card is renewed the same way. Every attempt is audited, refusals included
   * (never the proof or the token).
   */
  async renew(serial: string, req: RenewRequest): Promise<IssuedCertificate> {
    this.checkOpen();
    const at = this.clock.nowMs();
    const role = renewalRole(req);
    let checked: string | null = null;
    try {
      checked = checkSerial(serial);
      return await this.renewChecked(checked, req ?? { csrPem: "" }, role, at);
    } catch (err) {
      if (err instanceof CaError) this.store.audit({ at, serial: checked, role, action: "renew", outcome: err.reason });
      throw err;
    }
  }

  private async renewChecked(serial: string, req: RenewRequest, role: string, at: number): Promise<IssuedCertificate> {
    const old = this.mustCertificate(serial);
    this.authoriseRenewal(serial, old, req, at);
    const card = this.store.card(old.card_id);
    if (!card) throw new CaError(409, "no-card", `certificate ${serial} has no registered card to renew for`);
    const spki = await verifyCsr(req.csrPem);
    const { notBefore, notAfter } = this.validity(req.cardExpiry);
    const profile = old.profile as Profile;
    const newSerial = this.newSerial();
    const der = this.buildLeaf(newSerial, profile, card, spki, notBefore, notAfter);
    let superseded = false;
    this.store.transaction(() => {
      // Used up with the renewal itself: of two requests carrying one proof, only one renews.
      if (role === "card" && !this.store.takeChallenge(req.challenge!, serial, at)) {
        throw new CaError(403, "bad-challenge", "the renewal challenge has already been used; ask for a new one");
      }
      this.store.insertCertificate({ serial: newSerial, card_id: card.card_id, profile, not_before: notBefore, not_after: notAfter, der: Buffer.from(der) });
      if (this.opts.renewal === "revoke-superseded") {
        superseded = this.store.setRevoked(serial, Status.revoked, REASON_CODES.superseded, at);
      }
      this.store.audit({ at, serial, role, action: "renew", outcome: "ok", detail: JSON.stringify({ newSerial, superseded }) });
    });
    this.ocspResponder.invalidate(newSerial);
    if (superseded) this.afterRevocation([serial]);
    this.events?.emit("ca.issued", { serial: newSerial, profile, holderId: card.card_id, notAfter: new Date(notAfter).toISOString(), renewalOf: serial }, ["serial", "renewalOf"]);
    return this.issued(newSerial, der, notBefore, notAfter, undefined);
  }

  /** Throws 403 unless the request carries a valid operator token or a proof by the old certificate's key. */
  private authoriseRenewal(serial: string, old: CertificateRow, req: RenewRequest, at: number): void {
    if (req.operatorToken !== undefined) {
      // An operator at a counter: judged by the token alone, never falling back to a proof.
      if (!this.checkToken(req.operatorToken)) throw new CaError(403, "forbidden", "the operator token is not valid");
      return;
    }
    if (req.proof === undefined && req.challenge === undefined) {
      throw new CaError(403, "renewal-unauthorised", "renewal needs the old key's proof over a renewal challenge (POST .../renewal-challenge), or the operator token");
    }
    if (typeof req.challenge !== "string" || !(req.proof instanceof Uint8Array) || req.proof.length === 0) {
      throw new CaError(403, "bad-proof", "a proof is the renewal challenge and the old key's signature, both");
    }
    const ch = this.store.challenge(req.challenge);
    if (!ch || ch.serial !== serial || ch.expires_at <= at) {
      throw new CaError(403, "bad-challenge", "the renewal challenge is unknown, used, expired or for another certificate; ask for a new one");
    }
    // Synthetic bench rows have no certificate: nothing to check a proof against.
    if (!old.der || !proofVerifies(old.der, serial, req.challenge, req.proof)) {
      throw new CaError(403, "bad-proof", "the proof does not verify with the old certificate's public key");
    }
  }

  private validity(cardExpiry: unknown): { notBefore: number; notAfter: number } {
    const now = this.clock.now();
    let notAfter = addYears(now, this.opts.maxValidityYears).getTime();
    if (cardExpiry !== undefined && cardExpiry !== null) {
      // Only a Date (in process) or a date string (JSON): String() of anything else is no date, and can throw.
      if (!(cardExpiry instanceof Date) && typeof cardExpiry !== "string") throw new CaError(400, "bad-card-expiry", "cardExpiry must be a date string");
      const exp = cardExpiry instanceof Date ? cardExpiry : new Date(cardExpiry);
      if (!Number.isFinite(exp.getTime())) throw new CaError(400, "bad-card-expiry", "cardExpiry is not a valid date");
      if (exp.getTime() <= now.getTime()) throw new CaError(400, "card-expired", "the card has already expired");
      notAfter = Math.min(notAfter, exp.getTime());
    }
    // X.509 times have whole seconds: round down so the certificate never outlives its cap.
    return { notBefore: Math.floor(now.getTime() / 1000) * 1000, notAfter: Math.floor(notAfter / 1000) * 1000 };
  }

  /** Positive, 16 octets, 126 random bits (top bit clear for a positive INTEGER, next bit set to fix the length). */
  private newSerial(): string {
    for (;;) {
      const b = this.random.bytes(16);
      b[0] = (b[0] & 0x7f) | 0x40;
      const hex = Buffer.from(b).toString("hex");
      if (!this.store.hasSerial(hex)) return hex;
    }
  }

  private buildLeaf(serial: string, profile: Profile, card: CardRow, spki: Uint8Array, notBefore: number, notAfter: number): Uint8Array {
    const subject: NameAttr[] = [[OID.commonName, card.name]];
    if (card.organisation) subject.push([OID.organization, card.organisation]);
    const issuing = this.hierarchy.issuing;
    const extensions = [
      ext.basicConstraints(false),
      profile === "authentication"
        ? ext.keyUsage([KU.digitalSignature])
        : ext.keyUsage([KU.digitalSignature, KU.nonRepudiation]),
      ...(profile === "authentication" ? [ext.extKeyUsage([OID.kpClientAuth])] : []),
      ext.subjectKeyIdentifier(keyIdentifier(spki)),
      ext.authorityKeyIdentifier(issuing.keyId),
      ext.ocspAccess(`${this.baseUrl}/ocsp`),
      ext.crlDistributionPoint(`${this.baseUrl}/crl`),
      ext.emailAltName(card.email),
    ];
    return buildCertificate(
      { serial: Buffer.from(serial, "hex"), issuer: issuing.name, subject: encodeName(subject), notBefore, notAfter, spki, extensions },
      issuing.signer,
    );
  }

  private async newCard(holder: Holder): Promise<{ row: CardRow; codes: CancellationCodes }> {
    const n = this.opts.kdfLog2N;
    const codes: CancellationCodes = { holder: generateCode(this.random) };
    if (holder.organisation) {
      codes.legalRepresentative = generateCode(this.random);
      codes.authorisedRepresentative = generateCode(this.random);
    }
    const answers: Record<string, string> = { holderId: holder.id, ...(holder.registration ?? {}) };
    const registration: Record<string, string> = {};
    for (const [q, a] of Object.entries(answers)) registration[q] = await hashSecret(normaliseAnswer(String(a)), this.random, n);
    const row: CardRow = {
      card_id: holder.id,
      name: holder.name,
      email: holder.email,
      organisation: holder.organisation ?? null,
      holder_code: await hashSecret(normaliseCode(codes.holder), this.random, n),
      legal_code: codes.legalRepresentative ? await hashSecret(normaliseCode(codes.legalRepresentative), this.random, n) : null,
      authorised_code: codes.authorisedRepresentative ? await hashSecret(normaliseCode(codes.authorisedRepresentative), this.random, n) : null,
      registration: JSON.stringify(registration),
      created_at: this.clock.nowMs(),
    };
    return { row, codes };
  }

  /** Two concurrent first issuances for one card: only the first creates it (and hands out codes). */
  private insertCardOnce(row: CardRow): boolean {
    if (this.store.card(row.card_id)) return false;
    this.store.insertCard(row);
    return true;
  }

  private issued(serial: string, der: Uint8Array, notBefore: number, notAfter: number, codes?: CancellationCodes): IssuedCertificate {
    return {
      serial,
      certificatePem: toPem(der),
      chainPem: this.chainPem(),
      notBefore: new Date(notBefore),
      notAfter: new Date(notAfter),
      ...(codes ? { cancellationCodes: codes } : {}),
    };
  }

  chainPem(): string[] {
    return [toPem(this.hierarchy.issuing.certificate), toPem(this.hierarchy.root.certificate)];
  }

  // -------------------------------------------------------------- revocation

  async revoke(req: RevokeRequest): Promise<RevocationResult> {
    this.checkOpen();
    const role = req?.role;
    const at = this.clock.nowMs();
    let serial: string;
    try {
      serial = checkSerial(req?.serial);
    } catch (err) {
      // Audited like any malformed attempt; the unusable serial itself is not stored.
      this.store.audit({ at, serial: null, role: roleLabel(role), action: "revoke", outcome: "bad-request", detail: "bad-serial" });
      throw err;
    }
    let reason: RevocationReason;
    try {
      reason = checkReason(req.reason);
      if (!ROLES.has(role)) throw new CaError(400, "bad-role", `role must be one of ${[...ROLES].join(", ")}`);
      checkCredentialShape(req);
    } catch (err) {
      // Malformed attempts are audited too (never with the code itself).
      this.store.audit({ at, serial, role: roleLabel(role), action: "revoke", outcome: "bad-request" });
      throw err;
    }
    // One credential check at a time per certificate: concurrent guesses cannot overrun the lockout.
    return this.exclusive(serial, () => this.revokeChecked(serial, role, reason, req, at));
  }

  private async revokeChecked(serial: string, role: RevokerRole, reason: RevocationReason, req: RevokeRequest, at: number): Promise<RevocationResult> {
    const cert = this.mustCertificate(serial, role, "revoke");
    const deny = (status: number, why: string, message: string): never => {
      this.store.audit({ at, serial, role, action: "revoke", outcome: why });
      this.events?.emit("ca.revocation", { serial, role, action: "revoke", outcome: why, reason }, ["serial"]);
      throw new CaError(status, why, message);
    };
    if (cert.locked) deny(423, "locked", "revocation of this certificate is locked after too many wrong attempts; an operator must unlock it");

    if (!(await this.authorised(cert, req))) {
      // Re-read: another request may have locked it while we hashed.
      let lockedNow = false;
      this.store.transaction(() => {
        lockedNow = this.store.recordFailure(serial, this.opts.maxFailedAttempts).locked;
        this.store.audit({ at, serial, role, action: "revoke", outcome: lockedNow ? "denied-and-locked" : "denied" });
      });
      this.events?.emit("ca.revocation", { serial, role, action: "revoke", outcome: "denied", reason }, ["serial"]);
      throw new CaError(403, "forbidden", "the credentials do not allow revoking this certificate");
    }
    if (cert.status === Status.revoked) deny(409, "already-revoked", "the certificate is already revoked");
    if (cert.status === Status.onHold && reason === "certificateHold") deny(409, "already-on-hold", "the certificate is already on hold");

    const status: StatusCode = reason === "certificateHold" ? Status.onHold : Status.revoked;
    let ok = false;
    this.store.transaction(() => {
      ok = this.store.setRevoked(serial, status, REASON_CODES[reason], at);
      if (ok && cert.failed_tries > 0) this.store.unlock(serial); // a success resets the wrong-try count
      this.store.audit({ at, serial, role, action: "revoke", outcome: ok ? "ok" : "already-revoked", detail: reason });
    });
    if (!ok) throw new CaError(409, "already-revoked", "the certificate is already revoked");
    // Committed (fsynced): only now is the revocation acknowledged.
    this.afterRevocation([serial]);
    this.events?.emit("ca.revocation", { serial, role, action: "revoke", outcome: "ok", reason }, ["serial"]);
    return { serial, status: status === Status.onHold ? "on-hold" : "revoked", reason, revokedAt: new Date(at) };
  }

  private async exclusive<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.perSerial.get(key) ?? Promise.resolve();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const mine = prev.then(() => gate);
    this.perSerial.set(key, mine);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.perSerial.get(key) === mine) this.perSerial.delete(key);
    }
  }

  /** Checks the role's credentials. Every comparison runs, so timing does not tell which part was wrong. */
  private async authorised(cert: CertificateRow, req: RevokeRequest): Promise<boolean> {
    const card = this.store.card(cert.card_id);
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

  async release(serial: string, actor: string = "operator"): Promise<void> {
    this.checkOpen();
    serial = checkSerial(serial);
    const cert = this.mustCertificate(serial, actor, "release");
    const at = this.clock.nowMs();
    let ok = false;
    this.store.transaction(() => {
      ok = this.store.release(serial, at);
      this.store.audit({ at, serial, role: actor, action: "release", outcome: ok ? "ok" : "not-on-hold" });
    });
    if (!ok) throw new CaError(409, "not-on-hold", "the certificate is not on hold");
    this.afterRevocation([serial]);
    this.events?.emit("ca.revocation", { serial, role: actor, action: "release", outcome: "ok" }, ["serial"]);
  }

  /** Operator action: clears a certificate's revocation lockout. */
  async unlock(serial: string, operatorToken: string): Promise<void> {
    this.checkOpen();
    serial = checkSerial(serial);
    const at = this.clock.nowMs();
    if (!this.checkToken(operatorToken)) {
      this.store.audit({ at, serial, role: "operator", action: "unlock", outcome: "denied" });
      throw new CaError(403, "forbidden", "a valid operator token is required");
    }
    this.mustCertificate(serial, "operator", "unlock");
    this.store.transaction(() => {
      this.store.unlock(serial);
      this.store.audit({ at, serial, role: "operator", action: "unlock", outcome: "ok" });
    });
  }

  async revokeMany(serials: string[], reason: RevocationReason, operatorToken: string): Promise<BulkRevocationResult> {
    this.checkOpen();
    const at = this.clock.nowMs();
    if (!this.checkToken(operatorToken)) {
      this.store.audit({ at, serial: null, role: "operator", action: "bulk-revoke", outcome: "denied" });
      throw new CaError(403, "forbidden", "a valid operator token is required");
    }
    let r: RevocationReason;
    let clean: string[];
    try {
      r = checkReason(reason);
      if (!Array.isArray(serials) || serials.length === 0) throw new CaError(400, "bad-serials", "serials must be a non-empty array of hex serial numbers");
      clean = new Array<string>(serials.length);
      for (let i = 0; i < serials.length; i++) clean[i] = checkSerial(serials[i]); // validate all before writing anything
    } catch (err) {
      // Nothing was revoked: one row for the request (the serials may not even be serials).
      this.store.audit({ at, serial: null, role: "operator", action: "bulk-revoke", outcome: "bad-request", detail: err instanceof CaError ? err.reason : undefined });
      throw err;
    }
    const status = r === "certificateHold" ? Status.onHold : Status.revoked;
    // One audit row per serial, written in the revocation's own transaction.
    const out = this.store.bulkRevoke(clean, status, REASON_CODES[r], at, { at, role: "operator", action: "bulk-revoke", detail: r });
    this.afterRevocation(out.revoked);
    this.events?.emit("ca.revocation", { serial: null, role: "operator", action: "bulk-revoke", outcome: "ok", reason: r, count: out.revoked.length });
    return { revoked: out.revoked.length, revokedAt: new Date(at), unknown: out.unknown, alreadyRevoked: out.alreadyRevoked };
  }

  checkToken(token: unknown): boolean {
    if (typeof token !== "string" || token.length === 0) return false;
    const a = createHash("sha256").update(token).digest();
    const b = createHash("sha256").update(this.operatorToken).digest();
    return timingSafeEqual(a, b);
  }

  private afterRevocation(serials: string[]): void {
    for (const s of serials) this.ocspResponder.invalidate(s);
    if (serials.length === 0) return;
    this.crlDirty = true;
    if (this.closed) return;
    // Debounce: regenerate after a quiet spell, but at least every crlMaxDelayMs under sustained revocations.
    const fire = () => {
      if (!this.closed && this.crlDirty) this.regenerateCrl();
    };
    if (this.crlTimer) clearTimeout(this.crlTimer);
    this.crlTimer = setTimeout(fire, this.opts.crlDebounceMs);
    this.crlTimer.unref();
    if (!this.crlMaxTimer) {
      this.crlMaxTimer = setTimeout(fire, this.opts.crlMaxDelayMs);
      this.crlMaxTimer.unref();
    }
  }

  async status(serial: string): Promise<CertificateStatus> {
    this.checkOpen();
    serial = checkSerial(serial);
    const c = this.store.certificate(serial);
    if (!c) return { serial, status: "unknown" };
    const base = { serial, notBefore: new Date(c.not_before), notAfter: new Date(c.not_after) };
    if (c.status === Status.good) return { ...base, status: "good" };
    return {
      ...base,
      status: c.status === Status.onHold ? "on-hold" : "revoked",
      reason: CODE_TO_REASON.get(c.reason ?? 0) ?? "unspecified",
      revokedAt: new Date(c.revoked_at ?? 0),
    };
  }

  /** The certificate's PEM (absent for synthetic bench rows). */
  certificatePem(serial: string): string | undefined {
    const c = this.store.certificate(checkSerial(serial));
    return c?.der ? toPem(c.der) : undefined;
  }

  // ----------------------------------------------------------------- CRL/OCSP

  /** The issuing CA's full CRL: the end-entity certificates (and the OCSP responder's). */
  async crl(): Promise<Uint8Array> {
    this.checkOpen();
    return this.currentCrl();
  }

  /** The root's CRL (ARL): covers the CA certificates above the leaves, i.e. the issuing CA. */
  async authorityCrls(): Promise<Uint8Array[]> {
    this.checkOpen();
    return [this.rootCrl()];
  }

  /** Where the root's CRL is served; the issuing CA certificate's CRL distribution point. */
  get rootCrlUrl(): string {
    return `${this.baseUrl}/crl/root`;
  }

  /** The root's CRL, reissued when past half its validity at the CA's clock. */
  rootCrl(): Buffer {
    const c = this.rootCrlCache;
    if (!c || this.clock.nowMs() >= c.nextUpdate - this.opts.rootCrlValidityMs / 2) return this.regenerateRootCrl();
    return c.der;
  }

  /**
   * Signs a new root CRL. The root has issued only the issuing CA certificate,
   * and the CA offers no way to revoke that, so the list is empty: what matters
   * is that it is there, signed and current, so that revocation can be
   * required for every certificate of a path (RFC 5280 6.3).
   */
  regenerateRootCrl(): Buffer {
    const thisUpdate = Math.floor(this.clock.nowMs() / 1000) * 1000;
    const nextUpdate = thisUpdate + this.opts.rootCrlValidityMs;
    let number = 0n;
    let der!: Buffer;
    this.store.transaction(() => {
      number = BigInt(this.store.meta("root_crl_number") ?? "0") + 1n;
      this.store.setMeta("root_crl_number", number.toString());
      const root = this.hierarchy.root;
      der = Buffer.from(
        buildCrl({ issuerName: root.name, issuerKeyId: root.keyId, signer: root.signer, crlNumber: number, thisUpdate, nextUpdate, entries: [], onlyCaCerts: true }),
      );
    });
    this.rootCrlCache = { der, nextUpdate };
    this.events?.emit("ca.crl", { number: number.toString(), entries: 0, bytes: der.length, issuer: "root" });
    return der;
  }

  /** The CRL, regenerated if a revocation happened since or if it is past half its validity at the CA's clock. */
  currentCrl(): Buffer {
    const now = this.clock.nowMs();
    const c = this.crlCache;
    if (!c || this.crlDirty || now >= c.nextUpdate - this.opts.crlValidityMs / 2) return this.regenerateCrl();
    return c.der;
  }

  regenerateCrl(): Buffer {
    const thisUpdate = Math.floor(this.clock.nowMs() / 1000) * 1000;
    const nextUpdate = thisUpdate + this.opts.crlValidityMs;
    this.crlDirty = false;
    for (const timer of [this.crlTimer, this.crlMaxTimer]) if (timer) clearTimeout(timer);
    this.crlTimer = this.crlMaxTimer = undefined;
    let der!: Buffer;
    let number = 0n;
    let entries = 0;
    // Read the revoked set and bump the number in one transaction: a consistent snapshot.
    this.store.transaction(() => {
      number = BigInt(this.store.meta("crl_number") ?? "0") + 1n;
      this.store.setMeta("crl_number", number.toString());
      const rows = this.store.revoked();
      const counted = (function* () {
        for (const r of rows) {
          entries++;
          yield r;
        }
      })();
      der = buildCrl({
        issuerName: this.hierarchy.issuing.name,
        issuerKeyId: this.hierarchy.issuing.keyId,
        signer: this.hierarchy.issuing.signer,
        crlNumber: number,
        thisUpdate,
        nextUpdate,
        entries: counted,
      });
    });
    // Copy out of the writer's larger backing buffer.
    der = Buffer.from(der);
    this.crlCache = { der, nextUpdate };
    this.events?.emit("ca.crl", { number: number.toString(), entries, bytes: der.length, issuer: "issuing" });
    return der;
  }

  async ocsp(request: Uint8Array): Promise<Uint8Array> {
    this.checkOpen();
    return this.ocspResponder.handle(request);
  }

  private lookupForOcsp(serial: string): { status: StatusCode; revokedAt: number | null; reason: number | null } | undefined {
    if (!this.store.hasSerial(serial)) return undefined;
    const r = this.store.revocationState(serial);
    return { status: r.status, revokedAt: r.at, reason: r.reason };
  }

  async anchors(): Promise<string[]> {
    return [toPem(this.hierarchy.root.certificate)];
  }

  /** Audit trail (never contains codes or answers). */
  audit(serial?: string) {
    return this.store.auditLog(serial);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of [this.crlTimer, this.crlMaxTimer, this.crlSchedule]) if (timer) clearTimeout(timer);
    this.store.close();
    this.hierarchy.close();
  }

  private checkOpen(): void {
    if (this.closed) throw new CaError(503, "closed", "the CA is closed");
  }

  private mustCertificate(serial: string, role = "system", action = "lookup"): CertificateRow {
    serial = checkSerial(serial);
    const c = this.store.certificate(serial);
    if (!c) {
      if (action !== "lookup") this.store.audit({ at: this.clock.nowMs(), serial, role, action, outcome: "not-found" });
      throw new CaError(404, "not-found", `no certificate with serial ${serial}`);
    }
    return c;
  }
}

// ------------------------------------------------------------------ checks

function checkSerial(serial: unknown): string {
  if (typeof serial !== "string") throw new CaError(400, "bad-serial", "serial must be a hex string");
  const s = serial.toLowerCase().replace(/^0x/, "").replace(/:/g, "");
  if (!SERIAL_RE.test(s) || s.length % 2 !== 0) throw new CaError(400, "bad-serial", "serial must be 1 to 20 octets of hex");
  return s;
}

function checkReason(reason: unknown): RevocationReason {
  if (typeof reason !== "string" || !REASONS.has(reason)) throw new CaError(400, "bad-reason", `reason must be an RFC 5280 reason name`);
  if (reason === "removeFromCRL") throw new CaError(400, "bad-reason", "removeFromCRL is not a revocation reason; release the certificate instead");
  return reason as RevocationReason;
}

function checkProfile(p: unknown): Profile {
  if (p !== "authentication" && p !== "signature") throw new CaError(400, "bad-profile", 'profile must be "authentication" or "signature"');
  return p;
}

function nonEmpty(v: unknown, what: string): string {
  if (typeof v !== "string" || v.trim() === "") throw new CaError(400, "bad-request", `${what} is required`);
  if (v.length > 256) throw new CaError(400, "bad-request", `${what} is too long`);
  return v;
}

function checkHolder(h: unknown): Holder {
  if (!h || typeof h !== "object") throw new CaError(400, "bad-holder", "holder {id, name, email} is required");
  const o = h as Record<string, unknown>;
  const holder: Holder = { id: nonEmpty(o.id, "holder.id"), name: nonEmpty(o.name, "holder.name"), email: nonEmpty(o.email, "holder.email") };
  if (!/^[^\s@]+@[^\s@]+$/.test(holder.email)) throw new CaError(400, "bad-holder", "holder.email is not an email address");
  if (o.organisation !== undefined && o.organisation !== null) holder.organisation = nonEmpty(o.organisation, "holder.organisation");
  if (o.registration !== undefined) {
    if (!o.registration || typeof o.registration !== "object" || Array.isArray(o.registration)) {
      throw new CaError(400, "bad-holder", "holder.registration must be an object of question -> answer");
    }
    holder.registration = {};
    for (const [q, a] of Object.entries(o.registration)) holder.registration[q] = nonEmpty(a, `holder.registration.${q}`);
  }
  return holder;
}

function checkCredentialShape(req: RevokeRequest): void {
  if (req.role === "holder") {
    for (const f of ["code", "email", "name"] as const) nonEmpty(req[f], f);
  } else if (req.role === "operator") {
    if (!req.answers || typeof req.answers !== "object" || Object.keys(req.answers).length === 0) {
      throw new CaError(400, "bad-request", "answers to the registration questions are required for the operator role");
    }
  } else nonEmpty(req.code, "code");
}

/** Who a renewal request claims to be, for the audit trail. */
function renewalRole(req: RenewRequest | undefined): "operator" | "card" | "anonymous" {
  if (req?.operatorToken !== undefined) return "operator";
  return req?.proof !== undefined || req?.challenge !== undefined ? "card" : "anonymous";
}

/** A role as given, fit for the audit trail (bounded; anything but a string is "?"). */
function roleLabel(role: unknown): string {
  return typeof role === "string" ? role.slice(0, 40) : "?";
}

function safeEqual(a: string, b: string): boolean {
  const x = createHash("sha256").update(a).digest();
  const y = createHash("sha256").update(b).digest();
  return timingSafeEqual(x, y);
}

/** Parses and verifies a PKCS#10 request; returns its SPKI. */
async function verifyCsr(pem: unknown): Promise<Uint8Array> {
  if (typeof pem !== "string" || !pem.includes("CERTIFICATE REQUEST")) throw new CaError(400, "bad-csr", "csr must be a PEM certificate request");
  let csr: Pkcs10CertificateRequest;
  try {
    csr = new Pkcs10CertificateRequest(pem);
  } catch (err) {
    throw new CaError(400, "bad-csr", `the certificate request does not parse: ${(err as Error).message}`);
  }
  const spki = new Uint8Array(csr.publicKey.rawData);
  let details: { type?: string; bits?: number; curve?: string };
  try {
    const k = createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
    details = { type: k.asymmetricKeyType, bits: k.asymmetricKeyDetails?.modulusLength, curve: k.asymmetricKeyDetails?.namedCurve };
  } catch {
    throw new CaError(400, "bad-csr", "the request's public key does not parse");
  }
  if (details.type === "rsa") {
    if ((details.bits ?? 0) < 2048) throw new CaError(400, "weak-key", `RSA keys must be at least 2048 bits (got ${details.bits})`);
  } else if (details.type === "ec") {
    if (details.curve !== "prime256v1" && details.curve !== "secp384r1") throw new CaError(400, "weak-key", `unsupported curve ${details.curve}`);
  } else throw new CaError(400, "weak-key", `unsupported key type ${details.type}`);
  let ok = false;
  try {
    ok = await csr.verify();
  } catch {
    ok = false;
  }
  if (!ok) throw new CaError(400, "bad-csr-signature", "the certificate request's signature does not verify");
  return spki;
}
