import { createHash, randomBytes, randomUUID, type KeyObject } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { CARD_REVOCATION_REASONS, DEFAULT_REASON_BY_ROLE, reasonAllowed, type Clock, type LifecyclePolicy, type RevokerRole } from "../../core/index.js";
import {
  CaError,
  type CaAdapter,
  type CaCredentials,
  type CancellationCodes,
  type Holder,
  type IssuedCertificate,
  type Profile,
  type RenewRequest,
  type RevocationReason,
  type RevocationResult,
} from "../../simulator/ca/index.js";
import { proveRenewal } from "../../simulator/ca/index.js";
import { buildOcspRequest, certInfo, crlSignedBy, makeCsr, normSerial, parseCrl, parseOcspResponse, type CertInfo, type Csr, type CrlInfo, type KeyAlg, type OcspInfo } from "../pkix.js";
import { firstLine, harnessRefusal } from "../judgement.js";
import { issueConcurrently, type Batch } from "./batch.js";
import { revokeAndObserve } from "./observe.js";
import { CREDENTIAL_FIX, isCaRefusal, notJudged, refusal, refusedOtherwise, throttled, Throttling } from "./refusals.js";
import { NotJudged, Precondition, type CertifyOptions } from "./types.js";

export interface Issued {
  issued: IssuedCertificate;
  info: CertInfo;
  holder: Holder;
  /** SubjectPublicKeyInfo of the key we asked to be certified. */
  requestedSpki: string;
}

import type { Observation, Propagation, Sample, Watch } from "./observe.js";
export type { Observation, Propagation, Sample, Watch };

interface IssueOptions {
  holder?: Holder;
  cardExpiry?: Date;
  alg?: KeyAlg;
  csr?: Csr;
}

/**
 * The longest 429 a check sits out, once: the embedded CA's source budget
 * gives an address one more failed attempt per 5 s once it is spent.
 */
const MAX_THROTTLE_WAIT_MS = 6_000;
/**
 * Certificates and observations several checks share, made once per run on
 * first use: the catalogue costs one issuance per purpose, not per check.
 */
export class Fixtures {
  private memo = new Map<string, Promise<unknown>>();
  private codes = new Map<string, CancellationCodes>();
  /** Private keys of certificates certify will renew, by serial: they prove the renewal. Never in evidence. */
  private keys = new Map<string, KeyObject>();
  readonly crlHistory: CrlInfo[] = [];
  private readonly runTag = randomUUID().slice(0, 8);
  private holders = 0;

  constructor(
    readonly ca: CaAdapter,
    readonly clock: Clock,
    readonly options: CertifyOptions,
    readonly policy: LifecyclePolicy,
  ) {}

  once<T>(key: string, make: () => Promise<T>): Promise<T> {
    let p = this.memo.get(key) as Promise<T> | undefined;
    if (!p) {
      p = make();
      this.memo.set(key, p);
    }
    return p;
  }

  /** A fresh card holder; `organisation` makes it a professional card (representatives get codes). */
  holder(label: string, organisation?: string): Holder {
    const n = ++this.holders;
    return {
      id: `certify-${this.runTag}-${n}`,
      name: `Certify ${label} ${n}`,
      email: `certify-${this.runTag}-${n}@example.test`,
      ...(organisation ? { organisation } : {}),
    };
  }

  /** What the CA was configured with (--ca-config, or the embedded CA's own tokens); never in evidence. */
  credentials(): CaCredentials {
    return this.ca.credentials?.() ?? {};
  }

  /**
   * The operator's token, for requests only an operator may make; checks that
   * need one and do not have it cannot judge. Undefined for a CA that checks
   * no credentials (no `authorisation`: OpenSSL, CFSSL), which asks for none.
   */
  operatorToken(): string | undefined {
    if (!this.ca.capabilities().authorisation) return undefined;
    const { operatorToken } = this.credentials();
    if (!operatorToken) throw new NotJudged("credential", "certify holds no operator token for this CA", CREDENTIAL_FIX);
    return operatorToken;
  }

  /**
   * A reason the policy lets `role` give, of a card's reasons: the role's
   * usual one first, unspecified last (a CA may record it by leaving the
   * reason out). Undefined: the policy lets the role give none.
   */
  reasonFor(role: RevokerRole): RevocationReason | undefined {
    const usual = DEFAULT_REASON_BY_ROLE[role];
    const candidates = [...new Set([usual, ...CARD_REVOCATION_REASONS].filter((r) => r !== "unspecified")), "unspecified" as const];
    return candidates.find((r) => reasonAllowed(this.policy, role, r));
  }

  /**
   * `attempt` (a revocation whose 429 the check does not judge as such), with
   * a 429 sorted out: the CA may have throttled this whole address (the
   * embedded CA bounds failed credential checks per address across
   * certificates, so another check's, or an earlier run's, wrong codes can
   * leave it nothing, and then even a right code gets 429). A fresh
   * certificate's right code tells: when it gets 429 too, the address is
   * throttled, and the check waits once (when the CA keeps real time and asks
   * for a short wait) and sends `attempt` again, or is not judged (NotJudged). When
   * it goes through, `attempt` is sent again at once, and a 429 now is about
   * this certificate: thrown for the check to judge.
   */
  async unthrottled<T>(attempt: () => Promise<T>, t: Throttling = new Throttling()): Promise<T> {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof CaError && err.status === 429)) throw err;
      const probe = await this.addressThrottled();
      if (!probe) return attempt();
      const wait = probe.retryAfterMs;
      if (t.waitedMs !== undefined || this.ca.capabilities().virtualClock || wait === undefined || wait > MAX_THROTTLE_WAIT_MS) throw throttled(probe);
      await sleep(wait + 50);
      t.waitedMs = wait + 50;
      try {
        return await attempt();
      } catch (again) {
        if (again instanceof CaError && again.status === 429) throw throttled(again);
        throw again;
      }
    }
  }

  /**
   * The CA's 429 when a fresh certificate's holder, with the right code, is
   * throttled too: the address is. Undefined when the probe revokes (the
   * 429 was about the certificate). A probe refused otherwise tells neither:
   * not judged.
   */
  async addressThrottled(): Promise<CaError | undefined> {
    const reason = this.reasonFor("holder");
    if (!reason) return undefined;
    const c = await this.issue("authentication");
    if (!this.codesFor(c.holder)?.holder) return undefined;
    try {
      await this.holderRevocation(c, reason)();
      return undefined;
    } catch (err) {
      if (err instanceof CaError && err.status === 429) return err;
      throw refusedOtherwise(refusal(err), "a revocation by a fresh certificate's holder with the right code (the probe telling certificate from address throttling)");
    }
  }

  codesFor(holder: Holder): CancellationCodes | undefined {
    return this.codes.get(holder.id);
  }

  /** A certificate, asked for with the issuing station's credential; a 401 or 429 is NotJudged (nothing to judge). */
  issue(profile: Profile, opts: IssueOptions = {}): Promise<Issued> {
    return this.issueOnce(profile, opts).catch(notJudged);
  }

  async issueOnce(profile: Profile, opts: IssueOptions = {}): Promise<Issued> {
    const holder = opts.holder ?? this.holder(profile);
    const csr = opts.csr ?? (await makeCsr(holder.name, opts.alg ?? "p256"));
    const cardExpiry = opts.cardExpiry ?? this.defaultCardExpiry();
    const issued = await this.ca.issue({ csrPem: csr.pem, profile, holder, cardExpiry, raToken: this.credentials().raToken });
    if (issued.cancellationCodes && !this.codes.has(holder.id)) this.codes.set(holder.id, issued.cancellationCodes);
    return { issued, info: certInfo(issued.certificatePem), holder, requestedSpki: csr.spkiHex };
  }

  /** A fresh certificate whose key certify keeps, so that it can prove a renewal as the card would. */
  async issueRenewable(profile: Profile): Promise<Issued> {
    const holder = this.holder(profile);
    const csr = await makeCsr(holder.name);
    const c = await this.issue(profile, { holder, csr });
    this.keys.set(normSerial(c.issued.serial), csr.key);
    return c;
  }

  /**
   * What authorises renewing `old`: a challenge from the CA signed with the
   * old key (or with `key`, to try another one). Nothing for a CA without
   * renewal authorisation (OpenSSL, CFSSL).
   */
  async renewalProof(old: Issued, key?: KeyObject): Promise<Pick<RenewRequest, "challenge" | "proof">> {
    if (!this.ca.capabilities().renewalAuthorisation || !this.ca.renewalChallenge) return {};
    const signer = key ?? this.keys.get(normSerial(old.issued.serial));
    if (!signer) throw new Error(`certify kept no key for ${old.issued.serial}: issue it with issueRenewable()`);
    // A CA that certified a key of its own leaves the holder nothing to prove with: judged once, by ISS-PUBLIC-KEY.
    if (!key && old.info.spkiHex !== old.requestedSpki) throw new Precondition("the CA certified another key than requested, so the old key cannot prove the renewal: see ISS-PUBLIC-KEY");
    return proveRenewal(this.ca, old.issued.serial, signer);
  }

  /** Renews `old` as the renewal kiosk would: with the old key's proof. */
  async renew(old: Issued, csrPem: string): Promise<IssuedCertificate> {
    return this.ca.renew(old.issued.serial, { csrPem, cardExpiry: this.defaultCardExpiry(), ...(await this.renewalProof(old)) });
  }

  /** The renewal REN-NEW-CERTIFICATE and REN-OLD-SUPERSEDED judge, made once. */
  renewal(): Promise<{ old: Issued; csr: Csr; renewed: IssuedCertificate }> {
    return this.once("renewal", async () => {
      const old = await this.issueRenewable("authentication");
      const csr = await makeCsr(old.holder.name);
      return { old, csr, renewed: await this.renew(old, csr.pem) };
    });
  }

  /** Two years beyond the policy's lifetime cap (5 years out by default), so the policy (not the card) limits validity. */
  defaultCardExpiry(): Date {
    const d = this.clock.now();
    return new Date(Date.UTC(d.getUTCFullYear() + this.policy.lifetimeYears + 2, d.getUTCMonth(), d.getUTCDate()));
  }

  /**
   * Revokes as the holder would (email, name, own code); CAs without
   * authorisation ignore the credentials. A 429 is sorted out (`unthrottled`);
   * a 401 or one that stays is NotJudged.
   */
  revokeAsHolder(c: Issued, reason: RevocationReason, t?: Throttling): Promise<RevocationResult> {
    return this.unthrottled(this.holderRevocation(c, reason), t).catch(notJudged);
  }

  /**
   * The holder's revocation request (email, name, and `code`: by default the
   * holder's own), to send (and, after a 429, send again).
   */
  holderRevocation(c: Pick<Issued, "issued" | "holder">, reason: RevocationReason, code: string | undefined = this.codesFor(c.holder)?.holder): () => Promise<RevocationResult> {
    return () => this.ca.revoke({ serial: c.issued.serial, reason, role: "holder", code, email: c.holder.email, name: c.holder.name });
  }

  /** The professional card every read-only check looks at: authentication and signature certificates. */
  auth(): Promise<Issued> {
    return this.once("auth", () => this.issue("authentication", { holder: this.cardHolder() }));
  }

  sign(): Promise<Issued> {
    return this.once("sign", async () => {
      await this.auth(); // same card, second issuance
      return this.issue("signature", { holder: this.cardHolder() });
    });
  }

  private mainHolder?: Holder;
  private cardHolder(): Holder {
    this.mainHolder ??= this.holder("card", `Certify Org ${this.runTag}`);
    return this.mainHolder;
  }

  async issuerPem(): Promise<string> {
    const a = await this.auth();
    const issuer = a.issued.chainPem[0];
    if (!issuer) throw new Precondition("the CA returned no issuing CA certificate in the chain");
    return issuer;
  }

  /** `concurrency` issuance requests at once (batch.ts). */
  batch = (): Promise<Batch> => this.once("batch", () => issueConcurrently(this.options.concurrency, () => this.issueOnce("authentication")));
  /** Secrets certify was handed (cancellation codes), for the runner to keep out of every report. */
  knownSecrets(): string[] {
    return [...this.codes.values()].flatMap((c) => [c.holder, c.legalRepresentative, c.authorisedRepresentative]).filter((x): x is string => !!x);
  }

  async crl(): Promise<CrlInfo> {
    const der = await this.ca.crl();
    const info = parseCrl(der);
    this.crlHistory.push(info);
    return info;
  }

  private readonly signatures = new Map<string, Promise<boolean>>();
  /** Whether the issuing CA signed `crl` (its name and key): a CRL anyone else signed says nothing about this CA's revocations. */
  async signedByIssuer(crl: CrlInfo): Promise<boolean> {
    const issuerPem = await this.issuerPem();
    const key = createHash("sha256").update(crl.der).digest("hex");
    let verdict = this.signatures.get(key);
    if (!verdict) {
      verdict = crl.issuer === certInfo(issuerPem).subject ? crlSignedBy(crl.der, issuerPem) : Promise.resolve(false);
      this.signatures.set(key, verdict);
    }
    return verdict;
  }

  /**
   * An OCSP exchange for a check that judges the answer: what the exchange
   * itself fails on is not that check's to judge. A status that says nothing
   * about the request (`harnessRefusal`) is not judged; no HTTP answer at all
   * is thrown on (judgement.ts: unreachable, not judged), as is an answer
   * that does not decode (the CA's: a fail). Over POST, an HTTP error the
   * card's plain POST gets too is OCSP-POST's to fail (skip, pointing there).
   */
  async ocsp(serials: string[], opts: { nonce?: Uint8Array; method?: "POST" | "GET" } = {}): Promise<{ request: Uint8Array; response: OcspInfo }> {
    return this.ocspFor(await this.issuerPem(), serials, opts);
  }

  /** An OCSP exchange naming `issuerPem` as the issuer in the CertIDs (another CA's, to see what the responder does). */
  async ocspFor(issuerPem: string, serials: string[], opts: { nonce?: Uint8Array; method?: "POST" | "GET" } = {}): Promise<{ request: Uint8Array; response: OcspInfo }> {
    try {
      return await this.ocspExchange(issuerPem, serials, opts);
    } catch (err) {
      const harness = harnessRefusal(err);
      if (harness) throw harness;
      if (!(err instanceof CaError)) throw err;
      // OCSP-POST fails on an HTTP error for the card's plain request: when that one gets one too, the root cause is judged there
      if ((opts.method ?? "POST") === "POST" && (await this.plainPostRefused())) throw new Precondition(`OCSP over POST failed (${firstLine(err)}): see OCSP-POST`);
      if (err.status >= 500) throw err; // the responder failed this well-formed request: the CA's (judgement.ts)
      throw refusedOtherwise(err, "an OCSPResponse to a well-formed request", { method: opts.method ?? "POST" });
    }
  }

  /** Whether the POST OCSP-POST judges (the card's authentication certificate, no nonce) gets an HTTP error OCSP-POST fails on now. */
  private async plainPostRefused(): Promise<boolean> {
    try {
      await this.ocspExchange(await this.issuerPem(), [(await this.auth()).issued.serial], { method: "POST" });
      return false;
    } catch (err) {
      return err instanceof CaError && !harnessRefusal(err);
    }
  }

  /** One OCSP exchange as it is: no sorting of what it fails on (the caller judges: propagation's looks). */
  async ocspExchange(issuerPem: string, serials: string[], opts: { nonce?: Uint8Array; method?: "POST" | "GET" }): Promise<{ request: Uint8Array; response: OcspInfo }> {
    const request = buildOcspRequest(issuerPem, serials, opts.nonce);
    const der = await this.ca.ocsp(request, opts.method ?? "POST");
    return { request, response: parseOcspResponse(der) };
  }

  /** A serial this CA never issued: 16 random octets, positive. */
  unknownSerial(): string {
    const b = randomBytes(16);
    b[0] &= 0x7f;
    b[0] |= 0x40;
    return normSerial(b.toString("hex"));
  }

  /**
   * The reason the watched revocations are given: the holder's usual one the
   * policy allows (keyCompromise by default), so that what the CRL and OCSP
   * say can be compared with what was asked.
   */
  watchReason(): RevocationReason {
    const reason = this.reasonFor("holder");
    if (!reason) throw new Precondition("the policy lets a holder give no revocation reason: certify has no revocation to watch");
    return reason;
  }

  /** Revoke a fresh certificate, then watch the CRL and OCSP until both show it: the first propagation sample. */
  watch(): Promise<Watch> {
    return this.once("watch", async () => {
      const cert = await this.issue("authentication");
      // A CRL from before the revocation, so that CRL-NUMBER-INCREASING has two to compare; a failed
      // fetch is for the CRL checks to judge when they fetch themselves.
      if (this.ca.capabilities().crl) await this.crl().catch(() => undefined);
      const [sample] = await this.revokeAndObserve([cert], { crl: true, ocsp: true }, 0);
      return sample;
    });
  }

  /**
   * `options.samples` revocations for the propagation checks, the first being
   * `watch()`'s. The other certificates are issued first, then revoked a little
   * apart (so that one publication of the CA does not cover them all) and
   * observed together: one CRL fetch per poll for every pending serial, one
   * OCSP request per pending serial (responders may take one CertID only).
   */
  propagation(): Promise<Propagation> {
    return this.once("propagation", async () => {
      const first = await this.watch();
      const more: Issued[] = [];
      for (let i = 1; i < Math.max(1, this.options.samples); i++) more.push(await this.issue("authentication"));
      const spacingMs = this.spacingMs();
      const rest = await this.revokeAndObserve(more, { crl: true, ocsp: true }, spacingMs);
      return { samples: [first, ...rest], pollIntervalMs: this.options.pollIntervalMs, horizonMs: this.horizonMs(), spacingMs };
    });
  }

  /** A second revocation at least 1.1 s after the first, and the CRL that lists it. */
  watchLater(): Promise<{ first: Watch; second: Issued; revocation: RevocationResult; crl: Observation<CrlInfo> }> {
    return this.once("watchLater", async () => {
      const first = await this.watch();
      const wait = first.revocation.revokedAt.getTime() + 1100 - this.clock.nowMs();
      if (wait > 0) await sleep(Math.min(wait, 1100));
      const second = await this.issue("authentication");
      const [later] = await this.revokeAndObserve([second], { crl: true, ocsp: false }, 0);
      return { first, second, revocation: later.revocation, crl: later.crl };
    });
  }

  /** How long a revocation may take to show before it counts as never shown (default: twice the threshold). */
  horizonMs(): number {
    return this.options.propagationHorizonMs ?? this.options.propagationThresholdMs * 2;
  }

  /**
   * Between two revocations of a batch: the batch spread over half the
   * threshold, so that a CA publishing on a schedule is caught at different
   * points of it, and at least one poll apart, so that each delay is its own.
   */
  private spacingMs(): number {
    const { propagationThresholdMs: threshold, pollIntervalMs: poll, samples } = this.options;
    return Math.max(poll, Math.floor(threshold / 2 / Math.max(1, samples)));
  }

  /**
   * A revocation certify needs in order to observe something; a refusal of it
   * teaches nothing about what is observed. `requestedAtMs`: when the request
   * the CA acknowledged was sent (after a 429, the one sent again), so that
   * the time the CA records can be bounded on both sides.
   */
  async revokeToWatch(c: Issued, reason: RevocationReason): Promise<{ revocation: RevocationResult; requestedAtMs: number }> {
    const send = this.holderRevocation(c, reason);
    let requestedAtMs = this.clock.nowMs();
    try {
      const revocation = await this.unthrottled(() => {
        requestedAtMs = this.clock.nowMs();
        return send();
      }).catch(notJudged);
      return { revocation, requestedAtMs };
    } catch (err) {
      if (isCaRefusal(err)) throw refusedOtherwise(err, `the holder's revocation (${reason}) of a certificate it had just issued, which certify revokes to watch the CRL and OCSP`, { serial: c.issued.serial });
      throw err;
    }
  }

  private revokeAndObserve(certs: Issued[], what: { crl: boolean; ocsp: boolean }, spacingMs: number): Promise<Sample[]> {
    return revokeAndObserve(this, certs, what, spacingMs);
  }
}
