import { randomBytes, randomUUID, type KeyObject } from "node:crypto";
import type { Clock, LifecyclePolicy } from "../../core/index.js";
import {
  CaError,
  type CaAdapter,
  type CaCredentials,
  type CancellationCodes,
  type Holder,
  type IssuedCertificate,
  type IssueRequest,
  type Profile,
  type RenewRequest,
  type RevocationReason,
  type RevocationResult,
} from "../../simulator/ca/index.js";
import { proveRenewal } from "../../simulator/ca/index.js";
import { buildOcspRequest, certInfo, makeCsr, normSerial, parseCrl, parseOcspResponse, type CertInfo, type Csr, type CrlInfo, type KeyAlg, type OcspInfo } from "../pkix.js";
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

  /** The issuing station's credential as a request field, when there is one. */
  raCredential(): Pick<IssueRequest, "raToken"> {
    const { raToken } = this.credentials();
    return raToken ? { raToken } : {};
  }

  /** The operator's token; checks that need one and do not have it cannot judge. */
  operatorToken(): string {
    const { operatorToken } = this.credentials();
    if (!operatorToken) throw new Precondition("certify holds no operator token for this CA: give operatorToken in --ca-config");
    return operatorToken;
  }

  codesFor(holder: Holder): CancellationCodes | undefined {
    return this.codes.get(holder.id);
  }

  async issue(profile: Profile, opts: { holder?: Holder; cardExpiry?: Date; alg?: KeyAlg; csr?: Csr } = {}): Promise<Issued> {
    const holder = opts.holder ?? this.holder(profile);
    const csr = opts.csr ?? (await makeCsr(holder.name, opts.alg ?? "p256"));
    const cardExpiry = opts.cardExpiry ?? this.defaultCardExpiry();
    const issued = await this.ca.issue({ csrPem: csr.pem, profile, holder, cardExpiry, ...this.raCredential() });
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

  /** Revokes as the holder would (email, name, own code); CAs without authorisation ignore the credentials. */
  revokeAsHolder(c: Issued, reason: RevocationReason): Promise<RevocationResult> {
    return this.ca.revoke({
      serial: c.issued.serial,
      reason,
      role: "holder",
      code: this.codes.get(c.holder.id)?.holder,
      email: c.holder.email,
      name: c.holder.name,
    });
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

  /** `concurrency` issuance requests at once. */
  batch(): Promise<{ issued: Issued[]; errors: string[] }> {
    return this.once("batch", async () => {
      const n = this.options.concurrency;
      const settled = await Promise.allSettled(Array.from({ length: n }, () => this.issue("authentication")));
      return {
        issued: settled.filter((s): s is PromiseFulfilledResult<Issued> => s.status === "fulfilled").map((s) => s.value),
        errors: settled.filter((s): s is PromiseRejectedResult => s.status === "rejected").map((s) => String((s.reason as Error).message ?? s.reason)),
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

/** True for a refusal the CA answered (4xx), as opposed to a crash or a transport failure. */
export function isRefusal(err: unknown): err is CaError {
  return err instanceof CaError && err.status >= 400 && err.status < 500;
}
