import { createHash, verify as verifySignature } from "node:crypto";
import type { Clock, Random } from "../../core/index.js";
import { toHex } from "../../core/index.js";
import { buildOcspRequest, pemToDer, Validator, type Certificate, type ValidationResult, type Usage } from "../../pki/index.js";
import type { CaAdapter } from "../ca/index.js";
import type { Reader } from "../reader/index.js";
import { SLOT } from "./algorithms.js";
import { signatureScheme } from "./csr.js";
import { PivError } from "./piv-client.js";
import { TerminalRefusal } from "./refusal.js";
import { closeSession, describeCertificate, openSession, readCertificate, verifyPin, type CardCertificate } from "./session.js";

/** The outcome of validating a certificate: the pki validator's code, or "valid". */
export interface CertificateCheck {
  valid: boolean;
  /** "valid" or a pki ResultCode (expired, revoked, unknown-issuer, ...). */
  result: string;
  detail?: string;
  /** Present when the certificate is revoked, even if after the validation time. */
  revokedAt?: string;
  revocationReason?: string;
}

export interface AuthenticationResult {
  serial: string;
  challenge: string;
  signature: string;
  check: CertificateCheck;
}

/**
 * A signed document as the signer's application keeps it: the content, the
 * card's signature, the signer's certificate and the signing time recorded by
 * the application at the moment of signing (as a CAdES signing-time attribute
 * would carry it).
 */
export interface SignedDocument {
  id: string;
  content: string;
  signature: Uint8Array;
  certificate: Uint8Array;
  signingTime: Date;
}

/**
 * The relying party: authenticates cards (challenge, PIN, 9A signature) and
 * accepts or verifies document signatures (9C, PIN for each one). Every
 * certificate is validated over its full path with revocation required (the
 * CA's current CRLs, or OCSP for the leaf) at the clock's time; a stored
 * document at its signing time, so a revocation that came later does not undo
 * a signature made before it.
 */
export class RelyingParty {
  private readonly ca: CaAdapter;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly validator: Validator;
  private anchors?: Uint8Array[];
  private intermediates: Uint8Array[] = [];
  /** CRLs fetched from CRL distribution points, by URL. */
  private readonly fetched = new Map<string, { der: Uint8Array; nextUpdate?: number }>();

  private readonly revocation: "crl" | "ocsp";

  /** `revocation`: where status comes from: the CA's CRL (default) or an OCSP exchange per check. */
  constructor(opts: { ca: CaAdapter; clock: Clock; random: Random; validator?: Validator; revocation?: "crl" | "ocsp" }) {
    this.ca = opts.ca;
    this.revocation = opts.revocation ?? "crl";
    this.clock = opts.clock;
    this.random = opts.random;
    this.validator = opts.validator ?? new Validator();
  }

  /** Intermediates the relying party learns from a CA's published chain (issuing CA first, root last). */
  trustChain(chainPem: readonly string[]): void {
    for (const pem of chainPem.slice(0, -1)) {
      const der = pemToDer(pem);
      if (!this.intermediates.some((d) => Buffer.compare(d, der) === 0)) this.intermediates.push(der);
    }
  }

  async authenticate(reader: Reader, pin: string): Promise<AuthenticationResult> {
    const client = await openSession(reader, this.random);
    try {
      const cert = await readCertificate(client, SLOT.authentication);
      if (!cert) throw new TerminalRefusal("not-personalised", "the card has no authentication certificate");
      const challenge = this.random.bytes(32);
      await verifyPin(client, pin);
      const digest = createHash(signatureScheme(cert.alg).hash).update(challenge).digest();
      const signature = await signOnCard(() => client.signDigest(SLOT.authentication, cert.alg, digest));
      if (!checkSignature(cert, challenge, signature)) throw new TerminalRefusal("bad-signature", "the card's signature over the challenge does not verify");
      const check = await this.check(cert.der, this.clock.now(), "authentication");
      if (!check.valid) throw new TerminalRefusal(check.result, `authentication certificate ${cert.serial}: ${check.detail ?? check.result}`, { check });
      return { serial: cert.serial, challenge: toHex(challenge), signature: toHex(signature), check };
    } finally {
      await closeSession(reader);
    }
  }

  /**
   * Signs a document with the card's signature key (9C). The PIN is verified
   * for this signature alone. The signing application checks the signer's
   * certificate now: a revoked or expired certificate makes no new signatures.
   */
  async signDocument(reader: Reader, pin: string, id: string, content: string): Promise<SignedDocument> {
    const client = await openSession(reader, this.random);
    try {
      const cert = await readCertificate(client, SLOT.signature);
      if (!cert) throw new TerminalRefusal("not-personalised", "the card has no signature certificate");
      const signingTime = this.clock.now();
      const check = await this.check(cert.der, signingTime, "signature");
      if (!check.valid) throw new TerminalRefusal(check.result, `signature certificate ${cert.serial}: ${check.detail ?? check.result}`, { check });
      await verifyPin(client, pin);
      const digest = createHash(signatureScheme(cert.alg).hash).update(content).digest();
      const signature = await signOnCard(() => client.signDigest(SLOT.signature, cert.alg, digest));
      return { id, content, signature, certificate: cert.der, signingTime };
    } finally {
      await closeSession(reader);
    }
  }

  /** Verifies a signed document at its signing time (default) or at the clock's now. */
  async verifyDocument(doc: SignedDocument, at: "signing-time" | "now" = "signing-time"): Promise<CertificateCheck> {
    const cert = describeCertificate(doc.certificate);
    if (!checkSignature(cert, Buffer.from(doc.content), doc.signature)) return { valid: false, result: "bad-signature", detail: "the document signature does not verify" };
    return this.check(doc.certificate, at === "now" ? this.clock.now() : doc.signingTime, "signature");
  }

  /**
   * RFC 5280 path validation of the full path (leaf, issuing CA, root) at
   * `time`, with revocation required for every certificate below the root:
   * the leaf by the issuing CA's current CRL (or a fresh OCSP answer with a
   * nonce), the issuing CA by the root's CRL (the ARL).
   */
  async check(leaf: Uint8Array, time: Date, usage: Usage): Promise<CertificateCheck> {
    this.anchors ??= (await this.ca.anchors()).map((pem) => pemToDer(pem));
    const authority = await this.authorityCrls();
    const status =
      this.revocation === "crl"
        ? { crls: [await this.ca.crl(), ...authority.crls] }
        : { crls: authority.crls, ...(await this.ocsp(leaf)) };
    const r = this.validator.validate(leaf, { anchors: this.anchors, intermediates: this.intermediates, time, usage, revocation: "require", ...status });
    const check = toCheck(r);
    // A leaf the root issued itself (OpenSSL's and CFSSL's test CAs) needs no intermediate; any other wants the issuing CA's chain.
    if (!r.valid && r.code === "unknown-issuer" && this.intermediates.length === 0) check.detail = `${check.detail ?? r.code}; the relying party knows no issuing CA`;
    // A CRL the relying party could not fetch is the likely cause of a missing one: say so.
    if (!r.valid && r.code === "crl-missing" && authority.failures.length) check.detail = `${check.detail ?? r.code}; ${authority.failures.join("; ")}`;
    return check;
  }

  /**
   * CRLs for the CA certificates: from the CA when its adapter offers them,
   * else from the CRL distribution points of the known intermediates (what a
   * relying party of any CA does), each kept until its nextUpdate at the clock.
   */
  private async authorityCrls(): Promise<{ crls: Uint8Array[]; failures: string[] }> {
    if (this.ca.authorityCrls) return { crls: await this.ca.authorityCrls(), failures: [] };
    const crls: Uint8Array[] = [];
    const failures: string[] = [];
    const now = this.clock.nowMs();
    const urls = new Set(this.intermediates.flatMap((der) => this.validator.certificate(der).crlDistributionPoints).filter((u) => /^https?:\/\//i.test(u)));
    for (const url of urls) {
      const cached = this.fetched.get(url);
      if (cached && cached.nextUpdate !== undefined && now < cached.nextUpdate) {
        crls.push(cached.der);
        continue;
      }
      try {
        const der = await fetchCrl(url);
        this.fetched.set(url, { der, nextUpdate: this.validator.crl(der).nextUpdate });
        crls.push(der);
      } catch (err) {
        failures.push(`CRL distribution point ${url}: ${(err as Error).message}`);
      }
    }
    return { crls, failures };
  }

  /**
   * One OCSP exchange (with a fresh nonce) about the leaf, with the issuing CA
   * that issued it. The request is built from the validator's cached views: the
   * certificates are not parsed again for it.
   */
  private async ocsp(leafDer: Uint8Array): Promise<{ ocspResponses: Uint8Array[]; ocspNonce?: Uint8Array }> {
    const leaf = this.validator.certificate(leafDer);
    const issuer = this.issuerOf(leaf);
    if (!issuer) return { ocspResponses: [] };
    const nonce = this.random.bytes(16);
    const response = await this.ca.ocsp(buildOcspRequest(issuer, [leaf.serial], nonce));
    return { ocspResponses: [response], ocspNonce: nonce };
  }

  /** The known intermediate named as the leaf's issuer (its key identifier matching, when both have one). */
  private issuerOf(leaf: Certificate): Certificate | undefined {
    const aki = leaf.authorityKeyId?.keyId;
    for (const der of this.intermediates) {
      const c = this.validator.certificate(der);
      if (c.subject.key === leaf.issuer.key && (!aki || !c.subjectKeyId || c.subjectKeyId === aki)) return c;
    }
    return undefined;
  }
}

const CRL_FETCH_TIMEOUT_MS = 10_000;

async function fetchCrl(url: string): Promise<Uint8Array> {
  const res = await fetch(url, { signal: AbortSignal.timeout(CRL_FETCH_TIMEOUT_MS) });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

function toCheck(r: ValidationResult): CertificateCheck {
  if (r.valid) {
    const later = r.revocations[0];
    return later
      ? { valid: true, result: "valid", revokedAt: new Date(later.time).toISOString(), revocationReason: later.reason }
      : { valid: true, result: "valid" };
  }
  return {
    valid: false,
    result: r.code,
    detail: r.detail,
    ...(r.revocation ? { revokedAt: new Date(r.revocation.time).toISOString(), revocationReason: r.revocation.reason } : {}),
  };
}

async function signOnCard(sign: () => Promise<Uint8Array>): Promise<Uint8Array> {
  try {
    return await sign();
  } catch (err) {
    if (err instanceof PivError) throw new TerminalRefusal("card-refused", err.message);
    throw err;
  }
}

/** The card signed the hash of `data`; check it with the certificate's key. */
function checkSignature(cert: CardCertificate, data: Uint8Array, signature: Uint8Array): boolean {
  const key = cert.publicKey;
  const hash = signatureScheme(cert.alg).hash;
  try {
    return cert.alg === "rsa2048" ? verifySignature(hash, data, key, signature) : verifySignature(hash, data, { key, dsaEncoding: "der" }, signature);
  } catch {
    return false;
  }
}
