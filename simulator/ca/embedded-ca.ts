import { join } from "node:path";
import {
  CryptoRandom,
  DEFAULT_POLICY,
  makeDirs,
  reasonForCode,
  SystemClock,
  type Clock,
  type EventBus,
  type LifecyclePolicy,
  type Random,
  type RenewalRule,
} from "../../core/index.js";
import { encodePem } from "../../pki/index.js";
import {
  CaError,
  type BulkRevocationResult,
  type CaAdapter,
  type CaCapabilities,
  type CaCredentials,
  type Caller,
  type CertificateStatus,
  type IssuedCertificate,
  type IssueRequest,
  type RenewalChallenge,
  type RenewRequest,
  type RevocationReason,
  type RevocationResult,
  type RevokeRequest,
} from "./api.js";
import { AuditLog } from "./audit-log.js";
import { Authority } from "./authority.js";
import { requireCertificate } from "./certificates.js";
import { Credentials, type CredentialAction, type TokenRole } from "./credentials.js";
import { CrlPublisher } from "./crl-publisher.js";
import { CrlSchedule } from "./crl-schedule.js";
import { lockDataDir, type DataDirLock } from "./data-dir-lock.js";
import { openHierarchy, type CaHierarchy, type HsmConfig, type KeyType } from "./hierarchy.js";
import type { CaHttpBackend } from "./http.js";
import { Issuance } from "./issuance.js";
import { OcspResponder } from "./ocsp-responder.js";
import { Revocation } from "./revocation.js";
import { CaStore, Status, type StatusCode } from "./store.js";
import { checkSerial } from "./validation.js";

export interface EmbeddedCaOptions {
  /** Where the CA lives (created on first start; one CA at a time: see data-dir-lock.ts). Omitted: a throwaway in-memory CA. */
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
  /**
   * The lifecycle rules: certificate lifetime, card-expiry cap, lockout,
   * renewal rule, reasons per role. DEFAULT_POLICY (core/policy.ts) when absent.
   */
  policy?: LifecyclePolicy;
  /** Overrides the policy's lifetimeYears. */
  maxValidityYears?: number;
  /** Wrong credentials from one source before it has to wait (429, doubling); overrides the policy's. */
  maxFailedAttempts?: number;
  /** Overrides the policy's renewal rule. */
  renewal?: RenewalRule;
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
  /**
   * The longest nonce the responder echoes; longer is malformedRequest. 32 by
   * default (RFC 8954); RFC 9654 allows up to 128. Above 128 the responder signs
   * nonces no client may send (certify's OCSP-NONCE-LENGTH fails).
   */
  ocspMaxNonceOctets?: number;
  /** log2 of scrypt's N for codes and answers; 14 by default (lower it only for throwaway CAs). */
  kdfLog2N?: number;
  /** Sets the operator token (its hash replaces the stored one); otherwise generated at the first start (written once to <dataDir>/operator.token). */
  operatorToken?: string;
  /** Sets the issuing station's (RA) token; otherwise generated at the first start (written once to <dataDir>/ra.token). */
  raToken?: string;
  events?: EventBus;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** The services of one CA, wired together by `open`. */
interface Services {
  authority: Authority;
  audit: AuditLog;
  issuance: Issuance;
  revocation: Revocation;
  crls: CrlPublisher;
  schedule: CrlSchedule;
  ocsp: OcspResponder;
}

/**
 * The embedded reference CA, in-process: a thin facade over its services
 * (authority.ts, issuance.ts, revocation.ts, crl-publisher.ts with
 * crl-schedule.ts, ocsp-responder.ts, store.ts), wired by `open`. It
 * implements the CaAdapter seam and what the HTTP layer needs (CaHttpBackend).
 */
export class EmbeddedCa implements CaAdapter, CaHttpBackend {
  readonly name = "embedded";
  readonly clock: Clock;
  readonly store: CaStore;
  readonly hierarchy: CaHierarchy;
  /** The operator's token, when this process made it or was given it (a reopened data directory knows only its hash). */
  readonly operatorToken?: string;
  /** The issuing station's (RA) token, likewise. */
  readonly raToken?: string;
  /** The rules it applies: the options' policy with their explicit overrides folded in. */
  readonly policy: LifecyclePolicy;
  baseUrl: string;
  private readonly s: Services;
  private readonly lock?: DataDirLock;
  private closed = false;

  private constructor(options: EmbeddedCaOptions & { clock: Clock; random: Random }, store: CaStore, hierarchy: CaHierarchy, lock?: DataDirLock) {
    const { clock, random, events } = options;
    this.clock = clock;
    this.store = store;
    this.hierarchy = hierarchy;
    this.lock = lock;
    const credentials = Credentials.open(store, random, options.dataDir, { operatorToken: options.operatorToken, raToken: options.raToken });
    this.operatorToken = credentials.known.operatorToken;
    this.raToken = credentials.known.raToken;
    this.baseUrl = (options.baseUrl ?? "http://127.0.0.1:8440").replace(/\/$/, "");
    const policy = (this.policy = effectivePolicy(options));
    // The store announces every committed status change; the OCSP cache, the CRL publisher and its schedule follow it.
    const changes = store.changes;
    const authority = new Authority({
      store,
      clock,
      random,
      credentials,
      policy,
      kdfLog2N: options.kdfLog2N ?? 14,
      renewalChallengeMs: options.renewalChallengeMs ?? 5 * 60_000,
    });
    const audit = new AuditLog(store, clock);
    const issuance = new Issuance({
      store,
      clock,
      random,
      hierarchy,
      authority,
      audit,
      events,
      baseUrl: () => this.baseUrl,
      lifetimeYears: policy.lifetimeYears,
      capAtCardExpiry: policy.capAtCardExpiry,
      renewal: policy.renewal,
    });
    const revocation = new Revocation({ store, clock, authority, audit, events });
    const crls = new CrlPublisher({
      store,
      hierarchy,
      clock,
      changes,
      events,
      validityMs: options.crlValidityMs ?? 24 * HOUR,
      rootValidityMs: options.rootCrlValidityMs ?? 30 * DAY,
    });
    const schedule = new CrlSchedule(crls, changes, {
      debounceMs: options.crlDebounceMs ?? 500,
      maxDelayMs: options.crlMaxDelayMs ?? 10_000,
      everyMs: options.crlScheduleMs ?? 60_000,
    });
    const ocsp = new OcspResponder({
      clock,
      hierarchy,
      changes,
      validityMs: options.ocspValidityMs ?? HOUR,
      maxNonceOctets: options.ocspMaxNonceOctets,
      lookup: (serial) => this.lookupForOcsp(serial),
    });
    this.s = { authority, audit, issuance, revocation, crls, schedule, ocsp };
  }

  /**
   * Opens (or creates) a CA. In-memory with EC keys this takes a few
   * milliseconds. A data directory is locked first: a second open of the same
   * directory, here or in another process, fails with DataDirLockedError.
   */
  static async open(options: EmbeddedCaOptions = {}): Promise<EmbeddedCa> {
    const clock = options.clock ?? new SystemClock();
    const random = options.random ?? new CryptoRandom();
    const dir = options.dataDir;
    if (dir) makeDirs(dir, 0o700);
    const lock = dir ? await lockDataDir(dir) : undefined;
    try {
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
      try {
        self = new EmbeddedCa({ ...options, clock, random }, store, hierarchy, lock);
      } catch (err) {
        store.close();
        hierarchy.close();
        throw err;
      }
      return self;
    } catch (err) {
      lock?.release();
      throw err;
    }
  }

  capabilities(): CaCapabilities {
    return {
      renew: true,
      hold: true,
      authorisation: true,
      cancellationCodes: true,
      // What the CA can do, whatever its policy: whether the policy asks for the cap is the policy's (ctx.policy in the checks).
      cardExpiryCap: true,
      crl: true,
      ocsp: true,
      ocspGet: true,
      bulkRevoke: true,
      virtualClock: "set" in this.clock,
      renewalAuthorisation: true,
      issuanceAuthorisation: true,
    };
  }

  // ------------------------------------------------------- issuance, renewal

  /** Needs the issuing station's token (`req.raToken`): 401 without it, before anything else is looked at. */
  async issue(req: IssueRequest, caller?: Caller): Promise<IssuedCertificate> {
    this.checkOpen();
    return this.s.issuance.issue(req, caller);
  }

  /** A single-use challenge the card signs with the old key before renewal (renewal-challenges.ts): stateless, asking stores nothing. */
  async renewalChallenge(serial: string): Promise<RenewalChallenge> {
    this.checkOpen();
    serial = checkSerial(serial);
    requireCertificate(this.store, serial);
    return this.s.authority.renewalChallenge(serial);
  }

  async renew(serial: string, req: RenewRequest, caller?: Caller): Promise<IssuedCertificate> {
    this.checkOpen();
    return this.s.issuance.renew(serial, req, caller);
  }

  chainPem(): string[] {
    return this.s.issuance.chainPem();
  }

  // -------------------------------------------------------------- revocation

  /** Role "operator" needs `req.operatorToken` (checked first), then the registration answers on top. */
  async revoke(req: RevokeRequest, caller?: Caller): Promise<RevocationResult> {
    this.checkOpen();
    return this.s.revocation.revoke(req, caller);
  }

  /** Releases from hold: the operator's token. */
  async release(serial: string, operatorToken?: string, caller?: Caller): Promise<void> {
    this.checkOpen();
    return this.s.revocation.release(serial, operatorToken, caller);
  }

  /** Operator action: clears every wrong-credential count of the certificate (lockout.ts). */
  async unlock(serial: string, operatorToken: string | undefined, caller?: Caller): Promise<void> {
    this.checkOpen();
    return this.s.revocation.unlock(serial, operatorToken, caller);
  }

  async revokeMany(serials: string[], reason: RevocationReason, operatorToken: string | undefined, caller?: Caller): Promise<BulkRevocationResult> {
    this.checkOpen();
    return this.s.revocation.revokeMany(serials, reason, operatorToken, caller);
  }

  /** Whose credential a bearer token is (constant time). */
  roleOf(token: unknown): TokenRole | undefined {
    return this.s.authority.roleOf(token);
  }

  /**
   * What the HTTP layer checks before it reads a body: `token` is `role`'s
   * (401/403 otherwise), and a refusal is audited like the services' own.
   */
  authenticate(token: unknown, role: TokenRole, action: CredentialAction, caller?: Caller): void {
    this.s.authority.authenticate(token, role, action, this.s.audit, caller);
  }

  /** The tokens this process knows (made or given here); a reopened data directory knows none. */
  credentials(): CaCredentials {
    return { ...(this.raToken ? { raToken: this.raToken } : {}), ...(this.operatorToken ? { operatorToken: this.operatorToken } : {}) };
  }

  /** Scrypt verifications so far: tests and benches measure the work a request costs with it, not by wall time. */
  get kdfCalls(): number {
    return this.s.authority.kdfCalls;
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
      reason: reasonForCode(c.reason ?? 0) ?? "unspecified",
      revokedAt: new Date(c.revoked_at ?? 0),
    };
  }

  /** The certificate's PEM (absent for synthetic bench rows). */
  certificatePem(serial: string): string | undefined {
    const c = this.store.certificate(checkSerial(serial));
    return c?.der ? encodePem(c.der, "CERTIFICATE") : undefined;
  }

  /** Audit trail (never contains codes, answers or tokens); the summaries of suppressed refusals of past minutes included. */
  audit(serial?: string) {
    this.s.audit.flushPast();
    return this.store.auditLog(serial);
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

  /** The CRL, regenerated if a revocation happened since or if it is past half its validity at the CA's clock. */
  currentCrl(): Buffer {
    return this.s.crls.current();
  }

  regenerateCrl(): Buffer {
    return this.s.crls.reissue();
  }

  /** The root's CRL, reissued when past half its validity at the CA's clock. */
  rootCrl(): Buffer {
    return this.s.crls.currentRoot();
  }

  async ocsp(request: Uint8Array): Promise<Uint8Array> {
    this.checkOpen();
    return this.s.ocsp.handle(request);
  }

  /** The OCSP hot path for the HTTP layer: synchronous, never throws. */
  answerOcsp(request: Uint8Array): Uint8Array {
    return this.s.ocsp.handle(request);
  }

  /** A served CA writes the URL it is reached at into the certificates it issues from now on. */
  serveAt(url: string): void {
    this.baseUrl = url.replace(/\/$/, "");
  }

  private lookupForOcsp(serial: string): { status: StatusCode; revokedAt: number | null; reason: number | null } | undefined {
    if (!this.store.hasSerial(serial)) return undefined;
    const r = this.store.revocationState(serial);
    return { status: r.status, revokedAt: r.at, reason: r.reason };
  }

  async anchors(): Promise<string[]> {
    return [encodePem(this.hierarchy.root.certificate, "CERTIFICATE")];
  }

  /** Closes the store and the keys, then frees the data directory for the next CA. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.s.schedule.close();
    try {
      this.s.audit.flushAll();
    } catch {
      // a store that cannot write any more loses only the count of suppressed refusals
    }
    try {
      this.store.close();
      this.hierarchy.close();
    } finally {
      this.lock?.release();
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new CaError(503, "closed", "the CA is closed");
  }
}

/** The options' policy (DEFAULT_POLICY when absent) with the explicit overrides folded in; the very policy object when there are none. */
function effectivePolicy(o: EmbeddedCaOptions): LifecyclePolicy {
  const base = o.policy ?? DEFAULT_POLICY;
  if (o.maxValidityYears === undefined && o.maxFailedAttempts === undefined && o.renewal === undefined) return base;
  return {
    ...base,
    lifetimeYears: o.maxValidityYears ?? base.lifetimeYears,
    maxFailedAttempts: o.maxFailedAttempts ?? base.maxFailedAttempts,
    renewal: o.renewal ?? base.renewal,
  };
}
