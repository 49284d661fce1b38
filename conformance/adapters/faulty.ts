import {
  CaError,
  type CaAdapter,
  type CaCapabilities,
  type CaCredentials,
  type CaIdentity,
  type CertificateStatus,
  type IssueRequest,
  type IssuedCertificate,
  type Provenance,
  type RenewalChallenge,
  type RenewRequest,
  type RevocationResult,
  type RevokeRequest,
  type CancellationCodes,
  type Holder,
} from "../../simulator/ca/index.js";
import { buildOcspRequest, certInfo, corruptSignatureIn, crlSignature, makeCsr, normSerial, ocspRequestSerials, parseOcspResponse, stripOcspNonce } from "../pkix.js";
import { CertificationRequest, encodeOcspRequest, encodePem, parseOcspRequest, pemToDer } from "../../pki/index.js";
import { createPublicKey } from "node:crypto";
import { DEFAULT_POLICY, type LifecyclePolicy } from "../../core/index.js";

/** One deliberate defect each: what a misconfigured or buggy CA does. */
export type Fault =
  /** Issues past the card's expiry (the request's cardExpiry is dropped). */
  | "ignore-card-expiry"
  /** Returns certificates whose signature does not verify. */
  | "corrupt-certificate-signature"
  /** Certifies a key of its own choosing instead of the requested one. */
  | "substitute-key"
  /** Issues for requests whose signature does not verify. */
  | "accept-broken-csr"
  /** Issues for RSA-1024 requests. */
  | "accept-weak-key"
  /** Requests in flight together get the same certificate. */
  | "duplicate-concurrent"
  /** Renewal hands back the old certificate. */
  | "renew-returns-old"
  /** Renews for anyone: a request without proof of the old key (or operator token) is accepted. */
  | "renew-without-proof"
  /** Records every reason other than keyCompromise as unspecified. */
  | "collapse-reasons"
  /** Acknowledges revoking serials it never issued. */
  | "ack-unknown-serial"
  /** Acknowledges revoking an already revoked certificate (and records it again). */
  | "ack-duplicate"
  /** release() succeeds and does nothing. */
  | "release-noop"
  /** Hands out no cancellation codes while claiming to. */
  | "no-codes"
  /** Any holder code revokes (the right one is used whatever was given). */
  | "ignore-holder-code"
  /** Any representative code revokes any card of any organisation. */
  | "ignore-representative-code"
  | "corrupt-crl-signature"
  | "corrupt-ocsp-signature"
  /** The nonce is lost on the way to the responder. */
  | "drop-ocsp-nonce"
  /** GET is broken (HTTP 404) while claimed. */
  | "broken-ocsp-get"
  /** POST of a well-formed request is refused (HTTP 415). */
  | "broken-ocsp-post"
  /** A malformed request crashes the responder (HTTP 500, no OCSP response). */
  | "crash-on-malformed-ocsp"
  /** Issues for anyone: a request without the issuing station's credential is issued as if it had one. */
  | "issue-without-credential"
  /** Operator revocation on the registration answers alone, as if every caller were the operator. */
  | "operator-without-token"
  /** Any of its tokens for any role: the operator's issues, the issuing station's (RA) acts as the operator. */
  | "any-token-any-role"
  /** With the operator's token, revokes whatever the registration answers (the token alone is enough). */
  | "operator-token-skips-answers"
  /** Wrong codes lock the certificate for everyone, its holder with the right code included. */
  | "lockout-locks-holder"
  /** Keeps only the newest renewal challenges per certificate: asking for more evicts the holder's. */
  | "evict-renewal-challenges"
  /** The responder looks at a CertID's serial only: a request naming another issuer is answered as if for this CA. */
  | "ignore-certid-issuer";

export const FAULTS: readonly Fault[] = [
  "ignore-card-expiry", "corrupt-certificate-signature", "substitute-key", "accept-broken-csr", "accept-weak-key",
  "duplicate-concurrent", "renew-returns-old", "renew-without-proof", "collapse-reasons", "ack-unknown-serial", "ack-duplicate", "release-noop",
  "no-codes", "ignore-holder-code", "ignore-representative-code", "corrupt-crl-signature", "corrupt-ocsp-signature",
  "drop-ocsp-nonce", "broken-ocsp-get", "broken-ocsp-post", "crash-on-malformed-ocsp",
  "issue-without-credential", "operator-without-token", "any-token-any-role", "operator-token-skips-answers",
  "lockout-locks-holder", "evict-renewal-challenges", "ignore-certid-issuer",
];

/** How many outstanding challenges "evict-renewal-challenges" keeps per certificate (the old embedded CA's 4). */
const KEPT_CHALLENGES = 4;

async function csrProblem(pem: string): Promise<"broken-signature" | "weak-key" | undefined> {
  const csr = new CertificationRequest(pemToDer(pem));
  if (!csr.verify()) return "broken-signature";
  const key = createPublicKey({ key: Buffer.from(csr.spki), format: "der", type: "spki" });
  if (key.asymmetricKeyType === "rsa" && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) return "weak-key";
  return undefined;
}

/**
 * Wraps a good CA and injects one fault, so that each check of the catalogue
 * can be shown to fail on exactly the defect it is about.
 */
export class FaultyCa implements CaAdapter {
  readonly name: string;
  private inFlight?: Promise<IssuedCertificate>;
  private readonly codes = new Map<string, CancellationCodes>();
  private readonly issued = new Map<string, IssuedCertificate>();
  /** Whom each certificate was issued to, by serial ("operator-token-skips-answers" knows the right answers). */
  private readonly holders = new Map<string, Holder>();
  /** Wrong revocation credentials per serial ("lockout-locks-holder"). */
  private readonly wrong = new Map<string, number>();
  /** Outstanding challenges per serial, newest last ("evict-renewal-challenges"). */
  private readonly challenges = new Map<string, string[]>();

  /** `policy`: the one the run judges by (its lockout count for "lockout-locks-holder"); the default policy without one. */
  constructor(
    private readonly inner: CaAdapter,
    readonly fault: Fault,
    private readonly policy: LifecyclePolicy = DEFAULT_POLICY,
  ) {
    this.name = `${inner.name} with fault ${fault}`;
    // The inner CA's, only where it has them (the fault is this wrapper's, what answers is still that CA): the runner says "unknown" otherwise.
    if (inner.identity) this.identity = () => inner.identity!();
    if (inner.provenance) this.provenance = () => inner.provenance!();
  }

  identity?: () => Promise<CaIdentity>;
  provenance?: () => Provenance;

  capabilities(): CaCapabilities {
    return this.inner.capabilities();
  }

  credentials(): CaCredentials {
    return this.inner.credentials?.() ?? {};
  }

  /** The inner CA's own credential, which a faulty CA hands to callers that brought none. */
  private own(kind: keyof CaCredentials): string {
    const token = this.inner.credentials?.()[kind];
    if (!token) throw new Error(`fault ${this.fault} needs an inner CA whose ${kind} is known (the embedded CA)`);
    return token;
  }

  /** "any-token-any-role": a token of the CA's, whichever role it is for, stands for the `kind` asked for. */
  private anyToken(kind: keyof CaCredentials, given: string | undefined): string | undefined {
    if (this.fault !== "any-token-any-role" || given === undefined) return given;
    const mine = Object.values(this.inner.credentials?.() ?? {});
    return mine.includes(given) ? this.own(kind) : given;
  }

  async issue(req: IssueRequest): Promise<IssuedCertificate> {
    let r = req;
    if (this.fault === "issue-without-credential" && !req.raToken) r = { ...r, raToken: this.own("raToken") };
    if (this.fault === "any-token-any-role") r = { ...r, raToken: this.anyToken("raToken", req.raToken) };
    if (this.fault === "ignore-card-expiry") r = { ...req, cardExpiry: undefined };
    const problem = this.fault === "accept-broken-csr" || this.fault === "accept-weak-key" || this.fault === "substitute-key" ? await csrProblem(req.csrPem) : undefined;
    if (
      (this.fault === "accept-broken-csr" && problem === "broken-signature") ||
      (this.fault === "accept-weak-key" && problem === "weak-key") ||
      (this.fault === "substitute-key" && !problem)
    ) {
      // what a CA that skips the check effectively does: it certifies whatever key it likes
      r = { ...r, csrPem: (await makeCsr(req.holder.name)).pem };
    }
    if (this.fault === "duplicate-concurrent") {
      if (this.inFlight) return this.inFlight;
      this.inFlight = this.inner.issue(r).finally(() => (this.inFlight = undefined));
      return this.inFlight;
    }
    const out = await this.inner.issue(r);
    this.issued.set(normSerial(out.serial), out);
    this.holders.set(normSerial(out.serial), req.holder);
    if (out.cancellationCodes) this.codes.set(normSerial(out.serial), out.cancellationCodes);
    if (this.fault === "no-codes") return { ...out, cancellationCodes: undefined };
    if (this.fault === "corrupt-certificate-signature") {
      const der = pemToDer(out.certificatePem);
      const sig = new Uint8Array(certInfo(out.certificatePem).cert.signature);
      return { ...out, certificatePem: encodePem(corruptSignatureIn(der, sig), "CERTIFICATE") };
    }
    return out;
  }

  async renew(serial: string, req: RenewRequest): Promise<IssuedCertificate> {
    if (this.fault === "renew-returns-old") {
      const old = this.issued.get(normSerial(serial));
      if (!old) throw new CaError(404, "unknown-serial", `no certificate ${serial}`);
      return old;
    }
    if (this.fault === "renew-without-proof" && req.proof === undefined && req.operatorToken === undefined) {
      // what a CA that skips the authorisation effectively does: it treats every caller as its operator
      return this.inner.renew(serial, { ...req, operatorToken: this.own("operatorToken") });
    }
    if (this.fault === "any-token-any-role" && req.operatorToken !== undefined) return this.inner.renew(serial, { ...req, operatorToken: this.anyToken("operatorToken", req.operatorToken) });
    if (this.fault === "evict-renewal-challenges" && req.challenge !== undefined && !this.challenges.get(normSerial(serial))?.includes(req.challenge)) {
      throw new CaError(403, "bad-challenge", "the renewal challenge is unknown, used, expired or for another certificate; ask for a new one");
    }
    return this.inner.renew(serial, req);
  }

  async renewalChallenge(serial: string): Promise<RenewalChallenge> {
    if (!this.inner.renewalChallenge) throw new CaError(404, "not-offered", "the CA hands out no renewal challenges");
    const c = await this.inner.renewalChallenge(serial);
    if (this.fault === "evict-renewal-challenges") {
      const kept = [...(this.challenges.get(normSerial(serial)) ?? []), c.challenge].slice(-KEPT_CHALLENGES);
      this.challenges.set(normSerial(serial), kept);
    }
    return c;
  }

  async revoke(req: RevokeRequest): Promise<RevocationResult> {
    let r = req;
    if (this.fault === "collapse-reasons" && req.reason !== "keyCompromise" && req.reason !== "certificateHold") r = { ...req, reason: "unspecified" };
    if (this.fault === "ignore-holder-code" && req.role === "holder") r = { ...req, code: this.codeFor(req.serial)?.holder ?? req.code };
    // a CA that hands out no codes asks for none: the holder path works without one
    if (this.fault === "no-codes" && req.role === "holder" && !req.code) r = { ...req, code: this.codeFor(req.serial)?.holder };
    if (this.fault === "ignore-representative-code" && req.role === "legal-representative") r = { ...req, code: this.codeFor(req.serial)?.legalRepresentative ?? req.code };
    if (this.fault === "operator-without-token" && req.role === "operator" && !req.operatorToken) r = { ...r, operatorToken: this.own("operatorToken") };
    if (this.fault === "any-token-any-role" && req.role === "operator") r = { ...r, operatorToken: this.anyToken("operatorToken", req.operatorToken) };
    const key = normSerial(req.serial);
    const holder = this.holders.get(key);
    if (this.fault === "operator-token-skips-answers" && req.role === "operator" && req.operatorToken === this.own("operatorToken") && holder) {
      // what a CA that stops at the token effectively does: the answers, whatever they are, count as right
      r = { ...r, answers: { holderId: holder.id, ...(holder.registration ?? {}) } };
    }
    if (this.fault === "lockout-locks-holder" && (this.wrong.get(key) ?? 0) >= this.policy.maxFailedAttempts) {
      throw new CaError(423, "locked", "revocation of this certificate is locked after too many wrong attempts; an operator must unlock it");
    }
    try {
      return await this.inner.revoke(r);
    } catch (err) {
      if (this.fault === "lockout-locks-holder" && err instanceof CaError && (err.status === 403 || err.status === 429)) this.wrong.set(key, (this.wrong.get(key) ?? 0) + 1);
      if (this.fault === "ack-unknown-serial" && err instanceof CaError && (err.status === 404 || err.status === 400)) {
        return { serial: req.serial, status: "revoked", reason: req.reason, revokedAt: new Date(0) };
      }
      if (this.fault === "ack-duplicate" && err instanceof CaError && err.status === 409) {
        const st = await this.inner.status(req.serial);
        return { serial: req.serial, status: "revoked", reason: req.reason, revokedAt: st.revokedAt ?? new Date(0) };
      }
      throw err;
    }
  }

  /** The request with every CertID naming this CA's issuer (its other extensions, the nonce among them, kept). */
  private asOwnIssuer(request: Uint8Array): Uint8Array {
    const issuerPem = [...this.issued.values()][0]?.chainPem[0];
    if (!issuerPem) return request;
    const asked = parseOcspRequest(request);
    const own = parseOcspRequest(buildOcspRequest(issuerPem, ocspRequestSerials(request)));
    return encodeOcspRequest(own.certIds.map((c) => c.der), asked.extensions);
  }

  private codeFor(serial: string): CancellationCodes | undefined {
    return this.codes.get(normSerial(serial));
  }

  async release(serial: string, operatorToken?: string): Promise<void> {
    if (this.fault === "release-noop") return;
    return this.inner.release(serial, this.anyToken("operatorToken", operatorToken));
  }

  status(serial: string): Promise<CertificateStatus> {
    return this.inner.status(serial);
  }

  async crl(): Promise<Uint8Array> {
    const der = await this.inner.crl();
    return this.fault === "corrupt-crl-signature" ? corruptSignatureIn(der, crlSignature(der)) : der;
  }

  async ocsp(request: Uint8Array, method: "POST" | "GET" = "POST"): Promise<Uint8Array> {
    let parses = true;
    try {
      ocspRequestSerials(request);
    } catch {
      parses = false;
    }
    if (this.fault === "broken-ocsp-get" && method === "GET") throw new CaError(404, "ocsp-http", "OCSP responder answered HTTP 404");
    if (this.fault === "broken-ocsp-post" && method === "POST" && parses) throw new CaError(415, "ocsp-http", "OCSP responder answered HTTP 415");
    if (this.fault === "crash-on-malformed-ocsp" && !parses) throw new CaError(500, "ocsp-http", "OCSP responder answered HTTP 500");
    let req = this.fault === "drop-ocsp-nonce" && parses ? stripOcspNonce(request) : request;
    if (this.fault === "ignore-certid-issuer" && parses) req = this.asOwnIssuer(req);
    const der = await this.inner.ocsp(req, method);
    if (this.fault === "corrupt-ocsp-signature") {
      const info = parseOcspResponse(der);
      if (info.signature) return corruptSignatureIn(der, info.signature);
    }
    return der;
  }

  anchors(): Promise<string[]> {
    return this.inner.anchors();
  }

  authorityCrls(): Promise<Uint8Array[]> {
    return this.inner.authorityCrls?.() ?? Promise.resolve([]);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
