import { randomBytes, randomUUID, type KeyObject } from "node:crypto";
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
import { buildOcspRequest, certInfo, makeCsr, normSerial, parseCrl, parseOcspResponse, type CertInfo, type Csr, type CrlInfo, type KeyAlg, type OcspInfo } from "../pkix.js";
import { notJudged, throttled, Throttling } from "./refusals.js";
import { Precondition, type CertifyOptions } from "./types.js";

export interface Issued {
  issued: IssuedCertificate;
  info: CertInfo;
  holder: Holder;
  /** SubjectPublicKeyInfo of the key we asked to be certified. */
  requestedSpki: string;
}

export interface Observation<T> {
  /** ms from the revocation's acknowledgement until it was first seen; undefined: not within the horizon. */
  delayMs?: number;
  polls: number;
  /** Fetches that got an answer at all. */
  answered: number;
  seen?: T;
  last?: T;
  lastError?: string;
}

export interface Watch {
  cert: Issued;
  revocation: RevocationResult;
  crl: Observation<CrlInfo>;
  ocsp: Observation<OcspInfo>;
}

interface IssueOptions {
  holder?: Holder;
  cardExpiry?: Date;
  alg?: KeyAlg;
  csr?: Csr;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The longest 429 a check sits out, once: the embedded CA's source budget
 * gives an address one more failed attempt per 5 s once it is spent.
 */
const MAX_THROTTLE_WAIT_MS = 6_000;
/** How often, at most, one issuance of a batch is sent again after a 429 (too many requests at once). */
const BATCH_RETRIES = 30;
/** The longest one of those waits, whatever the CA asks. */
const BATCH_MAX_WAIT_MS = 5_000;

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
    if (!operatorToken) throw new Precondition("certify holds no operator token for this CA: give operatorToken in --ca-config");
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
   * for a short wait) and sends `attempt` again, or skips (Precondition). When
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

  /** The CA's 429 when a fresh certificate's holder, with the right code, is throttled too: the address is. */
  private async addressThrottled(): Promise<CaError | undefined> {
    const reason = this.reasonFor("holder");
    if (!reason) return undefined;
    const c = await this.issue("authentication");
    const code = this.codesFor(c.holder)?.holder;
    if (!code) return undefined;
    try {
      await this.ca.revoke({ serial: c.issued.serial, reason, role: "holder", code, email: c.holder.email, name: c.holder.name });
      return undefined;
    } catch (err) {
      if (err instanceof CaError && err.status === 429) return err;
      return undefined;
    }
  }

  codesFor(holder: Holder): CancellationCodes | undefined {
    return this.codes.get(holder.id);
  }

  /** A certificate, asked for with the issuing station's credential; a 401 or 429 is a Precondition (nothing to judge). */
  issue(profile: Profile, opts: IssueOptions = {}): Promise<Issued> {
    return this.issueOnce(profile, opts).catch(notJudged);
  }

  private async issueOnce(profile: Profile, opts: IssueOptions = {}): Promise<Issued> {
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
   * a 401 or one that stays is a Precondition.
   */
  revokeAsHolder(c: Issued, reason: RevocationReason, t?: Throttling): Promise<RevocationResult> {
    const revoke = () =>
      this.ca.revoke({
        serial: c.issued.serial,
        reason,
        role: "holder",
        code: this.codes.get(c.holder.id)?.holder,
        email: c.holder.email,
        name: c.holder.name,
      });
    return this.unthrottled(revoke, t).catch(notJudged);
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

  /**
   * `concurrency` issuance requests at once. A CA may bound the requests one
   * client has in flight (the embedded CA's server: 16) and answer the rest
   * 429 with Retry-After: such a request is sent again after that wait (a
   * little jitter apart), up to BATCH_RETRIES times, and is not a failure.
   */
  batch(): Promise<{ issued: Issued[]; errors: string[]; retried: number }> {
    return this.once("batch", async () => {
      const n = this.options.concurrency;
      let retried = 0;
      const one = async (): Promise<Issued> => {
        for (let attempt = 0; ; attempt++) {
          try {
            return await this.issueOnce("authentication");
          } catch (err) {
            if (!(err instanceof CaError && err.status === 429) || attempt >= BATCH_RETRIES) throw err;
            retried++;
            await sleep(Math.min(err.retryAfterMs ?? 1000, BATCH_MAX_WAIT_MS) + Math.floor(Math.random() * 250));
          }
        }
      };
      const settled = await Promise.allSettled(Array.from({ length: n }, one));
      const rejected = settled.filter((s): s is PromiseRejectedResult => s.status === "rejected").map((s) => s.reason as unknown);
      // A missing credential stops every request alike: nothing about concurrency to judge.
      const credential = rejected.find((e) => e instanceof CaError && e.status === 401);
      if (credential) notJudged(credential);
      return {
        issued: settled.filter((s): s is PromiseFulfilledResult<Issued> => s.status === "fulfilled").map((s) => s.value),
        errors: rejected.map((e) => String((e as Error).message ?? e)),
        retried,
      };
    });
  }

  async crl(): Promise<CrlInfo> {
    const der = await this.ca.crl();
    const info = parseCrl(der);
    this.crlHistory.push(info);
    return info;
  }

  /** An OCSP exchange; over POST a transport failure is judged once, by OCSP-POST. */
  async ocsp(serials: string[], opts: { nonce?: Uint8Array; method?: "POST" | "GET" } = {}): Promise<{ request: Uint8Array; response: OcspInfo }> {
    return this.ocspFor(await this.issuerPem(), serials, opts);
  }

  /** An OCSP exchange naming `issuerPem` as the issuer in the CertIDs (another CA's, to see what the responder does). */
  async ocspFor(issuerPem: string, serials: string[], opts: { nonce?: Uint8Array; method?: "POST" | "GET" } = {}): Promise<{ request: Uint8Array; response: OcspInfo }> {
    try {
      return await this.ocspExchange(issuerPem, serials, opts);
    } catch (err) {
      if ((opts.method ?? "POST") === "POST") throw new Precondition(`OCSP over POST failed (${(err as Error).message}): see OCSP-POST`);
      throw err;
    }
  }

  /** An OCSP exchange whose transport failure is the caller's to judge (OCSP-POST, propagation). */
  async ocspRaw(serials: string[], opts: { nonce?: Uint8Array; method?: "POST" | "GET" } = {}): Promise<{ request: Uint8Array; response: OcspInfo }> {
    return this.ocspExchange(await this.issuerPem(), serials, opts);
  }

  private async ocspExchange(issuerPem: string, serials: string[], opts: { nonce?: Uint8Array; method?: "POST" | "GET" }): Promise<{ request: Uint8Array; response: OcspInfo }> {
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

  /** Revoke a fresh certificate (keyCompromise), then watch the CRL and OCSP until both show it. */
  watch(): Promise<Watch> {
    return this.once("watch", async () => {
      const cert = await this.issue("authentication");
      await this.issuerPem();
      const caps = this.ca.capabilities();
      const revocation = await this.revokeAsHolder(cert, "keyCompromise");
      const t0 = this.clock.nowMs();
      const serial = normSerial(cert.issued.serial);
      const [crl, ocsp] = await Promise.all([
        caps.crl ? this.observe(t0, () => this.crl(), (c) => c.entries.has(serial)) : Promise.resolve({ polls: 0, answered: 0 }),
        caps.ocsp
          ? this.observe(t0, async () => (await this.ocspRaw([serial])).response, (r) => r.responses.some((s) => s.serial === serial && s.status !== "good"))
          : Promise.resolve({ polls: 0, answered: 0 }),
      ]);
      return { cert, revocation, crl, ocsp } as Watch;
    });
  }

  /** A second revocation at least 1.1 s after the first, and the CRL that lists it. */
  watchLater(): Promise<{ first: Watch; second: Issued; revocation: RevocationResult; crl: Observation<CrlInfo> }> {
    return this.once("watchLater", async () => {
      const first = await this.watch();
      const wait = first.revocation.revokedAt.getTime() + 1100 - this.clock.nowMs();
      if (wait > 0) await sleep(Math.min(wait, 1100));
      const second = await this.issue("authentication");
      const revocation = await this.revokeAsHolder(second, "keyCompromise");
      const serial = normSerial(second.issued.serial);
      const crl = await this.observe(this.clock.nowMs(), () => this.crl(), (c) => c.entries.has(serial));
      return { first, second, revocation, crl };
    });
  }

  private async observe<T>(t0: number, fetch: () => Promise<T>, done: (t: T) => boolean): Promise<Observation<T>> {
    const horizon = this.options.propagationHorizonMs ?? this.options.propagationThresholdMs * 2;
    // Polls are counted, not only timed: a virtual clock must not make this loop forever.
    const maxPolls = Math.ceil(horizon / this.options.pollIntervalMs) + 1;
    const obs: Observation<T> = { polls: 0, answered: 0 };
    for (let i = 0; i < maxPolls; i++) {
      obs.polls++;
      try {
        const t = await fetch();
        obs.answered++;
        obs.last = t;
        if (done(t)) {
          obs.seen = t;
          obs.delayMs = Math.max(0, this.clock.nowMs() - t0);
          return obs;
        }
      } catch (err) {
        if (err instanceof Precondition) throw err;
        obs.lastError = (err as Error).message;
      }
      if (this.clock.nowMs() - t0 > horizon) break;
      await sleep(this.options.pollIntervalMs);
    }
    return obs;
  }
}
