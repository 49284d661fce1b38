import { randomBytes, timingSafeEqual } from "node:crypto";
import { SystemClock, generateEcKeyPair, REASON_CODES, toHex, type Clock } from "../../core/index.js";
import {
  CaError,
  type BulkRevocationResult,
  type CaAdapter,
  type CaCapabilities,
  type CaCredentials,
  type CaIdentity,
  type CertificateStatus,
  type IssueRequest,
  type IssuedCertificate,
  type RevocationReason,
  type RevocationResult,
  type RevokeRequest,
} from "../../simulator/ca/index.js";
import {
  buildCertificate,
  buildOcspResponse,
  CertificationRequest,
  DecodeError,
  encodeName,
  encodePem,
  errorResponse,
  ext,
  issuerHashes,
  keyIdentifier,
  KU,
  OID,
  parseOcspRequest,
  pemToDer,
  softwareSigningKey,
  type SigningKey,
  type SingleResponseSpec,
  crlFrame,
  crlSignatureParts,
  crlEntry,
} from "../../pki/index.js";
import { normSerial } from "../pkix.js";

/*
 * A CA that answers at once, from memory: the load generator's yardstick (the
 * bench measures the generator against it) and a fast CA for tests. Its
 * artefacts are real DER (a throwaway P-256 root and issuing CA made by pki's
 * builders), so every parser and check downstream treats it as any CA. It
 * keeps nothing on disk and does no durable commit: its figures are the
 * ceiling of what a load run can measure, not a CA's.
 *
 * It runs in the load tool's own process (issue 13), so every microsecond it
 * spends is taken from the generator it measures: a revocation is one map
 * lookup on the serial as spelt (normalised only when that misses), its CRL
 * entry is DER-encoded once, at revocation, onto one growing buffer, and a
 * CRL is that buffer framed and signed, only when something changed.
 */

const DAY = 86_400_000;
const YEAR = 365 * DAY;
/** OCSP malformedRequest (RFC 6960 4.2.1). */
const MALFORMED_REQUEST = 1;

interface Entry {
  /** Canonical spelling (the map's key): what results and the CRL give back. */
  serial: string;
  notBefore: number;
  notAfter: number;
  /** The holder's cancellation code; compared as a plain string (a test CA: no hashing cost on the hot path). */
  code: string;
  /**
   * Set once, at revocation (kept on the entry: a revocation costs one map
   * lookup, not two). Present from issue, as undefined: adding them later
   * would change every entry's hidden class on the revocation path.
   */
  revokedAt: number | undefined;
  reason: RevocationReason | undefined;
}

export interface InstantCaOptions {
  clock?: Clock;
}

export class InstantCa implements CaAdapter {
  readonly name = "instant (in-memory test CA)";
  /** By serial in canonical spelling (lower-case hex, no leading zero): the spelling issue() hands out. */
  private readonly certs = new Map<string, Entry>();
  /** Every revocation's CRL entry, DER, in revocation order: a CRL frames these octets, never re-encodes them. */
  private readonly crlEntries = new EntryLog();
  /** The last entry template (see markRevoked): a bulk revocation shares one time and reason. */
  private template?: EntryTemplate;
  private revokedCount = 0;
  /** A CSR's verified key by its PEM: a load run issues many certificates for one request, and the check is the costly part. */
  private readonly csrKeys = new Map<string, Uint8Array>();
  private readonly tokens: Required<CaCredentials>;
  private readonly hashes: ReturnType<typeof issuerHashes>;
  /** The same for every certificate issued: encoded once. */
  private readonly leafExtensions: Uint8Array[];
  private readonly issuerKeyId: Uint8Array;
  private crlNumber = 0n;
  /** The last CRL and how many revocations it lists: entries are only ever added, so an equal count is the same list. */
  private lastCrl?: { revoked: number; at: number; der: Uint8Array };
  private closed = false;

  private constructor(
    private readonly clock: Clock,
    private readonly signer: SigningKey,
    private readonly issuingDer: Uint8Array,
    private readonly issuingName: Uint8Array,
    private readonly chainPem: string[],
  ) {
    this.tokens = { raToken: randomBytes(18).toString("base64url"), operatorToken: randomBytes(18).toString("base64url") };
    this.hashes = issuerHashes(issuingName, signer.spki);
    this.issuerKeyId = keyIdentifier(signer.spki);
    this.leafExtensions = [ext.keyUsage([KU.digitalSignature]), ext.authorityKeyIdentifier(this.issuerKeyId)];
  }

  static async create(o: InstantCaOptions = {}): Promise<InstantCa> {
    const clock = o.clock ?? new SystemClock();
    const now = clock.nowMs();
    const rootKey = softwareSigningKey(generateEcKeyPair("P-256").privateKey);
    const issuingKey = softwareSigningKey(generateEcKeyPair("P-256").privateKey);
    const rootName = encodeName([[OID.commonName, "cardloop instant Root CA"]]);
    const issuingName = encodeName([[OID.commonName, "cardloop instant Issuing CA"]]);
    const rootDer = buildCertificate(
      {
        serial: newSerial(),
        issuer: rootName,
        subject: rootName,
        notBefore: now - DAY,
        notAfter: now + 20 * YEAR,
        spki: rootKey.spki,
        extensions: [ext.basicConstraints(true), ext.keyUsage([KU.keyCertSign, KU.cRLSign]), ext.subjectKeyIdentifier(keyIdentifier(rootKey.spki))],
      },
      rootKey,
    );
    const issuingDer = buildCertificate(
      {
        serial: newSerial(),
        issuer: rootName,
        subject: issuingName,
        notBefore: now - DAY,
        notAfter: now + 10 * YEAR,
        spki: issuingKey.spki,
        extensions: [
          ext.basicConstraints(true, 0),
          ext.keyUsage([KU.digitalSignature, KU.keyCertSign, KU.cRLSign]),
          ext.subjectKeyIdentifier(keyIdentifier(issuingKey.spki)),
          ext.authorityKeyIdentifier(keyIdentifier(rootKey.spki)),
        ],
      },
      rootKey,
    );
    return new InstantCa(clock, issuingKey, issuingDer, issuingName, [encodePem(issuingDer, "CERTIFICATE"), encodePem(rootDer, "CERTIFICATE")]);
  }

  capabilities(): CaCapabilities {
    return {
      renew: false,
      hold: false,
      authorisation: true,
      cancellationCodes: true,
      cardExpiryCap: true,
      crl: true,
      ocsp: true,
      ocspGet: false,
      bulkRevoke: true,
      virtualClock: false,
      renewalAuthorisation: false,
      issuanceAuthorisation: true,
    };
  }

  credentials(): CaCredentials {
    return { ...this.tokens };
  }

  async identity(): Promise<CaIdentity> {
    return { software: "cardloop instant test CA" };
  }

  async issue(req: IssueRequest): Promise<IssuedCertificate> {
    this.open();
    this.token(req.raToken, "raToken", "issuing");
    const spki = this.csrKey(req.csrPem);
    const now = this.clock.nowMs();
    const notBefore = now - 60_000;
    const notAfter = Math.min(now + 2 * YEAR, req.cardExpiry?.getTime() ?? Infinity);
    if (!(notAfter > now)) throw new CaError(400, "card-expired", "the card has expired");
    const serialBytes = newSerial();
    const subject = encodeName([[OID.commonName, holderCn(req.holder.name)]]);
    const der = buildCertificate(
      {
        serial: serialBytes,
        issuer: this.issuingName,
        subject,
        notBefore,
        notAfter,
        spki,
        extensions: this.leafExtensions,
      },
      this.signer,
    );
    const serial = toHex(serialBytes); // canonical already: newSerial never starts with a zero octet
    const code = randomBytes(10).toString("base64url");
    this.certs.set(serial, { serial, notBefore, notAfter, code, revokedAt: undefined, reason: undefined });
    return {
      serial,
      certificatePem: encodePem(der, "CERTIFICATE"),
      chainPem: [...this.chainPem],
      notBefore: new Date(notBefore),
      notAfter: new Date(notAfter),
      cancellationCodes: { holder: code },
    };
  }

  async renew(): Promise<IssuedCertificate> {
    throw new CaError(404, "not-offered", "the instant CA does not renew");
  }

  async release(): Promise<void> {
    throw new CaError(409, "not-on-hold", "the instant CA puts nothing on hold");
  }

  async revoke(req: RevokeRequest): Promise<RevocationResult> {
    this.open();
    if (req.reason === "certificateHold" || req.reason === "removeFromCRL") throw new CaError(400, "bad-reason", `the instant CA does not offer ${req.reason}`);
    if (!Object.hasOwn(REASON_CODES, req.reason)) throw new CaError(400, "bad-reason", "unknown revocation reason");
    const entry = this.find(req.serial);
    if (!entry) throw new CaError(404, "not-found", `no certificate with serial ${normSerial(req.serial)}`);
    const serial = entry.serial;
    if (req.role === "operator") this.token(req.operatorToken, "operatorToken", "operator revocation");
    else if (req.role !== "holder" || !sameString(req.code, entry.code)) throw new CaError(403, "forbidden", "the credentials do not allow revoking this certificate");
    if (entry.revokedAt !== undefined) throw new CaError(409, "already-revoked", "the certificate is already revoked");
    const at = this.clock.nowMs();
    this.markRevoked(entry, at, req.reason);
    return { serial, status: "revoked", reason: req.reason, revokedAt: new Date(at) };
  }

  async revokeMany(serials: string[], reason: RevocationReason, operatorToken: string): Promise<BulkRevocationResult> {
    this.open();
    this.token(operatorToken, "operatorToken", "bulk revocation");
    if (!Array.isArray(serials) || serials.length === 0) throw new CaError(400, "bad-serials", "serials must be a non-empty array of hex serial numbers");
    if (reason === "certificateHold" || reason === "removeFromCRL" || !Object.hasOwn(REASON_CODES, reason)) throw new CaError(400, "bad-reason", `the instant CA does not offer ${String(reason)}`);
    const at = this.clock.nowMs();
    const out: BulkRevocationResult = { revoked: 0, revokedAt: new Date(at), unknown: [], alreadyRevoked: [] };
    for (const s of serials) {
      const entry = this.find(s);
      if (!entry) out.unknown.push(s);
      else if (entry.revokedAt !== undefined) out.alreadyRevoked.push(s);
      else {
        this.markRevoked(entry, at, reason);
        out.revoked++;
      }
    }
    return out;
  }

  async status(serial: string): Promise<CertificateStatus> {
    const entry = this.find(serial);
    if (!entry) return { serial: normSerial(serial), status: "unknown" };
    const [s, dates] = [entry.serial, { notBefore: new Date(entry.notBefore), notAfter: new Date(entry.notAfter) }];
    return entry.revokedAt !== undefined
      ? { serial: s, status: "revoked", reason: entry.reason!, revokedAt: new Date(entry.revokedAt), ...dates }
      : { serial: s, status: "good", ...dates };
  }

  /**
   * Always current (a publication delay of zero): the entries encoded at
   * revocation, framed and signed, only when a revocation happened since the
   * last one. Costs a copy and a signature over the entries (no re-encoding),
   * on this process's thread: the instant CA has no process of its own.
   */
  async crl(): Promise<Uint8Array> {
    this.open();
    const now = this.clock.nowMs();
    // reissued past half its validity even with nothing new, so no relying party is handed one about to expire
    if (this.lastCrl && this.lastCrl.revoked === this.revokedCount && now - this.lastCrl.at < DAY / 2) return this.lastCrl.der;
    const entries = this.crlEntries.bytes();
    const algorithm = this.signer.algorithm;
    const frame = { issuerName: this.issuingName, issuerKeyId: this.issuerKeyId, algorithm, crlNumber: ++this.crlNumber, thisUpdate: now, nextUpdate: now + DAY };
    const { head, tail } = crlFrame(frame, entries.length);
    const tbs = Buffer.concat([head, entries, tail]);
    const { header, trailer } = crlSignatureParts(algorithm, this.signer.sign(tbs), tbs.length);
    const der: Uint8Array = Buffer.concat([header, tbs, trailer]);
    this.lastCrl = { revoked: this.revokedCount, at: now, der };
    return der;
  }

  /** Answers every CertID of the request: good, revoked (with its reason) or unknown (another issuer, a serial never issued). Signed by the issuing CA itself. */
  async ocsp(request: Uint8Array): Promise<Uint8Array> {
    this.open();
    let parsed;
    try {
      parsed = parseOcspRequest(request);
    } catch (err) {
      if (err instanceof DecodeError) return errorResponse(MALFORMED_REQUEST);
      throw err;
    }
    const now = this.clock.nowMs();
    const singles: SingleResponseSpec[] = parsed.certIds.map((id) => {
      const h = this.hashes.get(id.hashAlgorithm);
      const ours = h !== undefined && h.name.equals(id.issuerNameHash) && h.key.equals(id.issuerKeyHash);
      const entry = ours ? this.find(id.serialHex) : undefined;
      const status: SingleResponseSpec["status"] = !entry
        ? { kind: "unknown" }
        : entry.revokedAt !== undefined
          ? { kind: "revoked", at: entry.revokedAt, reason: REASON_CODES[entry.reason!] }
          : { kind: "good" };
      return { certId: id.der, status, thisUpdate: now, nextUpdate: now + DAY };
    });
    return buildOcspResponse({ signer: this.signer, certificate: this.issuingDer }, now, singles, parsed.nonceExtension);
  }

  async anchors(): Promise<string[]> {
    return [this.chainPem[1]];
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /**
   * The certificate under a serial in any spelling. The serial as spelt first: the
   * load generator sends back what issue() returned, so that lookup hits and
   * nothing is parsed; only a miss in another spelling (upper case, leading
   * zeros, colons) is normalised and looked up again.
   */
  private find(serial: string): Entry | undefined {
    const entry = this.certs.get(serial);
    if (entry || CANONICAL_SERIAL.test(serial)) return entry;
    return this.certs.get(normSerial(serial));
  }

  /**
   * Records the revocation and appends its CRL entry, encoded this once.
   * Every serial here is newSerial's (16 octets, first one 0x40-0x7f: no
   * padding octet, none stripped), so entries of one time and reason differ
   * only in the serial's octets: the first is written by pki's crlEntry
   * and kept as a template, the next ones are that template with their serial
   * written over (a copy and a hex write, ~5x cheaper than encoding, and no
   * garbage: this runs in the load generator's thread).
   */
  private markRevoked(entry: Entry, at: number, reason: RevocationReason): void {
    entry.revokedAt = at;
    entry.reason = reason;
    this.revokedCount++;
    const code = REASON_CODES[reason];
    let t = this.template;
    if (!t || t.at !== at || t.code !== code) this.template = t = entryTemplate(at, code);
    this.crlEntries.appendPatched(t.der, t.serialAt, entry.serial);
  }

  private open(): void {
    if (this.closed) throw new CaError(503, "closed", "the CA is closed");
  }

  private token(given: string | undefined, kind: keyof CaCredentials, what: string): void {
    if (!given) throw new CaError(401, "credential-required", `${what} needs the ${kind}`);
    if (!sameString(given, this.tokens[kind])) throw new CaError(401, "bad-credential", `the token presented is not valid (${what} needs the ${kind})`);
  }

  /** The CSR's key, once its self-signature verified (proof of possession); cached by the request's text. */
  private csrKey(pem: string): Uint8Array {
    let spki = this.csrKeys.get(pem);
    if (spki) return spki;
    let csr: CertificationRequest;
    try {
      csr = new CertificationRequest(pemToDer(pem));
    } catch {
      throw new CaError(400, "bad-csr", "the certificate request does not decode");
    }
    if (!csr.verify()) throw new CaError(400, "bad-csr", "the certificate request's signature does not verify");
    spki = csr.spki;
    if (this.csrKeys.size >= 1024) this.csrKeys.clear(); // bounded: a run uses a few requests
    this.csrKeys.set(pem, spki);
    return spki;
  }
}

/** A CRL entry and where its serial's octets start (`serialAt`). */
type EntryTemplate = { at: number; code: number; der: Buffer; serialAt: number };

/** A CRL entry by pki's crlEntry for a placeholder serial of newSerial's length (0x7f octets: never in a time or a reason), and where those octets sit. */
function entryTemplate(at: number, code: number): EntryTemplate {
  const placeholder = Buffer.alloc(SERIAL_OCTETS, 0x7f);
  const der = crlEntry(placeholder.toString("hex"), at, code);
  const serialAt = der.indexOf(placeholder);
  if (serialAt < 0) throw new Error("CRL entry template: serial octets not found");
  return { at, code, der, serialAt };
}

/** Append-only octets in one buffer grown by doubling (amortised: each octet copied about once more on average). */
class EntryLog {
  private buf = Buffer.allocUnsafe(1 << 20); // ~21,000 entries before the first growth: a load run's usual size
  private length = 0;

  /** `der` with the hex `serial` written over its octets from `serialAt`. */
  appendPatched(der: Buffer, serialAt: number, serial: string): void {
    this.reserve(der.length);
    const buf = this.buf;
    buf.set(der, this.length); // TypedArray.set, and the hex by hand: Buffer.copy and Buffer.write cost 3-4x more for a few dozen octets
    for (let i = 0, at = this.length + serialAt; i < serial.length; i += 2, at++) buf[at] = (hexValue(serial.charCodeAt(i)) << 4) | hexValue(serial.charCodeAt(i + 1));
    this.length += der.length;
  }

  /** The octets so far (a view: valid until the next append). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
}

/** A lower-case hex digit's value (the serials here are canonical: 0-9, a-f). */
function hexValue(c: number): number {
  return c < 0x3a ? c - 0x30 : c - 0x57;
}

/** normSerial's output form: what a map miss in this spelling cannot be rescued from. */
const CANONICAL_SERIAL = /^[1-9a-f][0-9a-f]*$/;

const SERIAL_OCTETS = 16;

/** 16 random octets, top bit clear and next bit set: positive, never a leading zero octet, so its hex is always 32 digits. */
function newSerial(): Uint8Array {
  const b = randomBytes(SERIAL_OCTETS);
  b[0] = (b[0] & 0x7f) | 0x40;
  return b;
}

/** A holder name as a commonName the name checks accept (bounded, no characters they refuse). */
function holderCn(name: string): string {
  const cn = name.replace(/[^\p{L}\p{N} .'-]/gu, " ").trim().slice(0, 64);
  return cn || "holder";
}

/** Equal strings, compared in constant time for equal lengths (a token is a secret even in a test CA). */
function sameString(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
