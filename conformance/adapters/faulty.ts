import {
  CaError,
  type CaAdapter,
  type CaCapabilities,
  type CertificateStatus,
  type IssueRequest,
  type IssuedCertificate,
  type RenewalChallenge,
  type RenewRequest,
  type RevocationResult,
  type RevokeRequest,
  type CancellationCodes,
} from "../../simulator/ca/index.js";
import { certInfo, corruptSignatureIn, crlSignature, makeCsr, normSerial, ocspRequestSerials, parseOcspResponse, stripOcspNonce } from "../pkix.js";
import { CertificationRequest, encodePem, pemToDer } from "../../pki/index.js";
import { createPublicKey } from "node:crypto";

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
  | "crash-on-malformed-ocsp";

export const FAULTS: readonly Fault[] = [
  "ignore-card-expiry", "corrupt-certificate-signature", "substitute-key", "accept-broken-csr", "accept-weak-key",
  "duplicate-concurrent", "renew-returns-old", "renew-without-proof", "collapse-reasons", "ack-unknown-serial", "ack-duplicate", "release-noop",
  "no-codes", "ignore-holder-code", "ignore-representative-code", "corrupt-crl-signature", "corrupt-ocsp-signature",
  "drop-ocsp-nonce", "broken-ocsp-get", "broken-ocsp-post", "crash-on-malformed-ocsp",
];

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

  constructor(
    private readonly inner: CaAdapter,
    readonly fault: Fault,
  ) {
    this.name = `${inner.name} with fault ${fault}`;
  }

  capabilities(): CaCapabilities {
    return this.inner.capabilities();
  }

  async issue(req: IssueRequest): Promise<IssuedCertificate> {
    let r = req;
    if (this.fault === "ignore-card-expiry") r = { ...req, cardExpiry: undefined };
    const problem = this.fault === "accept-broken-csr" || this.fault === "accept-weak-key" || this.fault === "substitute-key" ? await csrProblem(req.csrPem) : undefined;
    if (
      (this.fault === "accept-broken-csr" && problem === "broken-signature") ||
      (this.fault === "accept-weak-key" && problem === "weak-key") ||
      (this.fault === "substitute-key" && !problem)
    ) {
      // what a CA that skips the check effectively does: it certifies whatever key it likes
      r = { ...req, csrPem: (await makeCsr(req.holder.name)).pem };
    }
    if (this.fault === "duplicate-concurrent") {
      if (this.inFlight) return this.inFlight;
      this.inFlight = this.inner.issue(r).finally(() => (this.inFlight = undefined));
      return this.inFlight;
    }
    const out = await this.inner.issue(r);
    this.issued.set(normSerial(out.serial), out);
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
      const token = (this.inner as { operatorToken?: unknown }).operatorToken;
      if (typeof token !== "string") throw new Error("renew-without-proof needs an inner CA with an operator token (the embedded CA)");
      return this.inner.renew(serial, { ...req, operatorToken: token });
    }
    return this.inner.renew(serial, req);
  }

  renewalChallenge(serial: string): Promise<RenewalChallenge> {
    if (!this.inner.renewalChallenge) return Promise.reject(new CaError(404, "not-offered", "the CA hands out no renewal challenges"));
    return this.inner.renewalChallenge(serial);
  }

  async revoke(req: RevokeRequest): Promise<RevocationResult> {
    let r = req;
    if (this.fault === "collapse-reasons" && req.reason !== "keyCompromise" && req.reason !== "certificateHold") r = { ...req, reason: "unspecified" };
    if (this.fault === "ignore-holder-code" && req.role === "holder") r = { ...req, code: this.codeFor(req.serial)?.holder ?? req.code };
    // a CA that hands out no codes asks for none: the holder path works without one
    if (this.fault === "no-codes" && req.role === "holder" && !req.code) r = { ...req, code: this.codeFor(req.serial)?.holder };
    if (this.fault === "ignore-representative-code" && req.role === "legal-representative") r = { ...req, code: this.codeFor(req.serial)?.legalRepresentative ?? req.code };
    try {
      return await this.inner.revoke(r);
    } catch (err) {
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

  private codeFor(serial: string): CancellationCodes | undefined {
    return this.codes.get(normSerial(serial));
  }

  async release(serial: string): Promise<void> {
    if (this.fault === "release-noop") return;
    return this.inner.release(serial);
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
    const req = this.fault === "drop-ocsp-nonce" && parses ? stripOcspNonce(request) : request;
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
