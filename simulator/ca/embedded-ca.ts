import { join } from "node:path";
import { CryptoRandom, isDeterministic, makeDirs, reasonForCode, SystemClock, type Clock, type LifecyclePolicy, type Random } from "../../core/index.js";
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
import { effectivePolicy, type EmbeddedCaOptions } from "./embedded-ca-options.js";
import { openHierarchy, type CaHierarchy } from "./hierarchy.js";
import type { CaHttpBackend } from "./http.js";
import { Issuance } from "./issuance.js";
import { OcspResponder } from "./ocsp-responder.js";
import { Revocation } from "./revocation.js";
import { CaStore, Status, type StatusCode } from "./store.js";
import { checkSerial } from "./validation.js";

export type { EmbeddedCaOptions } from "./embedded-ca-options.js";

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
    // A follower that throws is reported, never silent (review R1 B2); the others have run all the same.
    changes.onFailure((change, error) =>
      events?.emit("ca.follower-failed", { kind: change.kind, serials: change.serials.length, error: error instanceof Error ? error.name : typeof error }),
    );
    const authority = new Authority({
      store,
      clock,
      random,
      credentials,
      dataDir: options.dataDir,
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
      build: options.crlBuild,
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
        deterministic: options.deterministic,
        name: options.name ?? "cardloop",
        authorityCrlUrl: () => self?.rootCrlUrl,
      });
      if (options.deterministic && isDeterministic(random) && !hierarchy.deterministic) {
        // Seeded, but the issuing key is in SoftHSM: its ECDSA draws its own k. Said, not silently random.
        options.events?.emit("log.message", {
          level: "warn",
          message: "seeded CA with its issuing key in SoftHSM: the issuing CA's signatures (certificates, CRLs) differ from run to run",
        });
      }
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

  /**
   * Many issuances in one durable commit (Issuance.issueMany): each request checked as `issue` checks it (its own
   * RA token first), one result each in order, a refusal in its place without failing the others.
   */
  async issueMany(reqs: readonly IssueRequest[], caller?: Caller): Promise<Array<IssuedCertificate | CaError>> {
    this.checkOpen();
    return this.s.issuance.issueMany(reqs, caller);
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

  /** Credential verifications so far (keyed-hash code checks and scrypt answer checks, one per value compared): tests and benches measure the work a request costs with it, not by wall time. */
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
    return this.s.crls.serve();
  }

  /** GET /crl's CRL: including every change before the call, built off the event loop, lent (no copy) until `release`. */
  async servedCrl(): Promise<{ der: Uint8Array; release(): void }> {
    this.checkOpen();
    return this.s.crls.lease();
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
    return this.s.ocsp.handleAsync(request);
  }

  /** The OCSP hot path for the HTTP layer: never throws; a promise only for an answer signed off the event loop. */
  answerOcsp(request: Uint8Array): Uint8Array | Promise<Uint8Array> {
    return this.s.ocsp.handleAsync(request);
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
    this.s.crls.close();
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
