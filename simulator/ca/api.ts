/**
 * The CA seam. The embedded CA implements it in-process; conformance/adapters
 * implement it for OpenSSL, CFSSL, a served embedded CA and users' modules.
 * Terminals and checks talk to any CA only through this.
 */
export type Profile = "authentication" | "signature";

/**
 * The revocation vocabulary lives in core/policy.ts (the one place that knows
 * reasons and roles); re-exported here so that the seam reads whole.
 */
export { REASON_CODES, type RevocationReason, type RevokerRole } from "../../core/index.js";
import { CARDLOOP_VERSION, CardloopError, type RevocationReason, type RevokerRole } from "../../core/index.js";

export interface Holder {
  id: string;
  name: string;
  email: string;
  /** Set for a professional card: its organisation's representatives may revoke it. */
  organisation?: string;
  /**
   * Answers to registration questions (e.g. dateOfBirth) an operator can later
   * ask before revoking; the embedded CA stores them only as salted hashes.
   * The holder id is always one of the questions ("holderId").
   */
  registration?: Record<string, string>;
}

/**
 * What a caller of the CA holds. Bearer tokens over HTTP
 * (`Authorization: Bearer <token>`); see simulator/ca/README.md, "Credentials".
 */
export interface CaCredentials {
  /** The issuing station's (registration authority's) credential: needed to issue. */
  raToken?: string;
  /** The operator's credential: operator revocation, hold, release, unlock, bulk, audit, operator renewal. */
  operatorToken?: string;
}

/** Where a request came from, for counting per source. HTTP: "ip:<address>" (client-address.ts); in-process: "local". */
export interface Caller {
  source: string;
}

/** A caller's source as the CA counts it: "local" when none is given; bounded; anything odd is one shared source. */
export function sourceOf(caller: Caller | undefined): string {
  if (caller === undefined) return "local";
  const s = caller.source;
  return typeof s === "string" && s.length > 0 && s.length <= 128 ? s : "invalid";
}

export interface IssueRequest {
  csrPem: string;
  profile: Profile;
  holder: Holder;
  /** The card's own expiry: no certificate outlives its card. */
  cardExpiry?: Date;
  /** The issuing station's credential (CAs with `issuanceAuthorisation` refuse without it: 401). */
  raToken?: string;
}

/**
 * Renewal needs authority over the old certificate (the policy: at a terminal,
 * with the card and its PIN; or an operator at a counter). Either
 * `challenge` + `proof` (the card proves it holds the old key) or
 * `operatorToken`. The card's slot holds one key, and generating the new key
 * destroys the old one, so the proof cannot sign the new request: it signs
 * `renewalStatement(serial, challenge)` for a single-use challenge the CA
 * handed out (`renewalChallenge`) before the new key exists. See
 * simulator/ca/README.md, "Renewal authorisation".
 */
export interface RenewRequest {
  csrPem: string;
  cardExpiry?: Date;
  /** From `renewalChallenge(serial)`, as the CA spelt it. */
  challenge?: string;
  /**
   * Signature by the OLD certificate's private key over
   * `renewalStatement(serial, challenge)`: SHA-256, then ECDSA (DER) or RSA
   * PKCS#1 v1.5 by the old key's type. Bytes here; base64 in HTTP JSON.
   */
  proof?: Uint8Array;
  /** An operator at a counter instead of a proof (HTTP: Authorization: Bearer). */
  operatorToken?: string;
}

/** A single-use challenge for renewing one certificate, valid until `expiresAt` at the CA's clock. */
export interface RenewalChallenge {
  /** The certificate's serial as the CA spells it: the statement uses this spelling. */
  serial: string;
  /** Opaque (base64url); sent back with the proof. */
  challenge: string;
  expiresAt: Date;
}

/**
 * The bytes the old key signs to authorise a renewal. Text, so that a person
 * can read what a card signed; the label keeps it apart from other uses of
 * the key (it is hashed, then signed, like anything else the card signs).
 */
export function renewalStatement(serial: string, challenge: string): Uint8Array {
  return new TextEncoder().encode(`cardloop renewal v1\nserial=${serial.toLowerCase()}\nchallenge=${challenge}\n`);
}

export interface CancellationCodes {
  holder: string;
  legalRepresentative?: string;
  authorisedRepresentative?: string;
}

export interface IssuedCertificate {
  /** Lower-case hex, no leading zero octets beyond DER's sign byte. */
  serial: string;
  certificatePem: string;
  /** Issuing CA first, root last. */
  chainPem: string[];
  notBefore: Date;
  notAfter: Date;
  /** Only on the first issuance for a card, and only where the CA offers codes. */
  cancellationCodes?: CancellationCodes;
}

export interface RevokeRequest {
  serial: string;
  reason: RevocationReason;
  role: RevokerRole;
  code?: string;
  email?: string;
  name?: string;
  /** Operator path: answers to the registration questions. */
  answers?: Record<string, string>;
  /** Required (and checked before the answers) for role "operator". */
  operatorToken?: string;
}

export interface RevocationResult {
  serial: string;
  status: "revoked" | "on-hold";
  reason: RevocationReason;
  revokedAt: Date;
}

/** Outcome of a bulk revocation: one transaction; unknown/already-revoked serials are listed, not errors. */
export interface BulkRevocationResult {
  revoked: number;
  revokedAt: Date;
  unknown: string[];
  alreadyRevoked: string[];
}

export interface CertificateStatus {
  serial: string;
  status: "good" | "revoked" | "on-hold" | "unknown";
  reason?: RevocationReason;
  revokedAt?: Date;
  notBefore?: Date;
  notAfter?: Date;
}

export interface CaCapabilities {
  renew: boolean;
  hold: boolean;
  /** Enforces who may revoke (codes, roles). */
  authorisation: boolean;
  cancellationCodes: boolean;
  cardExpiryCap: boolean;
  crl: boolean;
  ocsp: boolean;
  ocspGet: boolean;
  bulkRevoke: boolean;
  /** The CA's clock can be moved (simulated expiry on the CA side). */
  virtualClock: boolean;
  /**
   * Renewal needs a proof of the old key (`renewalChallenge`) or the operator
   * token. Absent means false: the CA has no such concept (REN-AUTHORISED skips).
   */
  renewalAuthorisation?: boolean;
  /** Issuing needs the RA credential (`IssueRequest.raToken`). Absent means false. */
  issuanceAuthorisation?: boolean;
  /** Reasons the CA cannot record: it refuses them (`unsupported-reason`). Absent means none. */
  unrecordedReasons?: readonly RevocationReason[];
  /**
   * The CA revokes a revoked certificate again (records the new reason and time) where the policy refuses it
   * (`already-revoked`). Absent means false.
   */
  revokesAgain?: boolean;
}

/** What the CA under test is, as far as its adapter can tell: for reports' provenance. */
export interface CaIdentity {
  /** The software answering: "cardloop embedded CA", "OpenSSL", "CFSSL", a user's product. */
  software: string;
  /** Its version as the software reports it ("OpenSSL 3.0.15 3 Sep 2024"). */
  version?: string;
  /** Where it answers, when it is a service (the base URL of a served CA). */
  url?: string;
}

/**
 * What the embedded reference CA is: what `GET /api/v1/info` answers and what
 * the embedded adapter says of itself (nothing about keys, data or configuration).
 */
export const EMBEDDED_CA_SOFTWARE = { software: "cardloop embedded CA", version: CARDLOOP_VERSION } as const;

/**
 * What a CA produces that a conformance verdict rests on. The two
 * publications are when a revocation shows: on the CRL (who runs the CRL
 * generation, and when) and over OCSP (who refreshes the responder's
 * answers, and when); what the CRL or the response says is `crl` / `ocsp`.
 */
export type Artefact = "issuance" | "renewal" | "revocation" | "status" | "crl" | "ocsp" | "crl-publication" | "ocsp-publication";

/**
 * How an adapter obtains one artefact. `by: "ca"`: the CA's own way (its API,
 * its command with its configuration), so a verdict on it is the CA's.
 * `by: "adapter"`: the adapter constructs it for a CA that has no such thing
 * (a renewal as sign-and-revoke, a CRL from a serial list): a failure is then
 * at most a warning against the CA.
 */
export interface ArtefactSource {
  by: "ca" | "adapter";
  /** The command line or endpoint, as a user would run it (paths relative to the adapter's directory). */
  how: string;
  /** Why the adapter had to make it, or what it leaves out. */
  note?: string;
}

export type Provenance = Partial<Record<Artefact, ArtefactSource>>;

/**
 * A CA refusal, mapped from HTTP where one is involved: 400, 401 (no or a bad
 * credential), 403, 404, 409, 429 (wait `retryAfterMs`), 503.
 */
export class CaError extends CardloopError {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    /** With 429: how long (at the CA's clock) before the same caller may try again. */
    readonly retryAfterMs?: number,
  ) {
    super(`ca-${reason}`, message);
  }
}

export interface CaAdapter {
  readonly name: string;
  capabilities(): CaCapabilities;
  issue(req: IssueRequest): Promise<IssuedCertificate>;
  /**
   * Many issuances in one call (a load test's prepare phase; the embedded CA's `POST /api/v1/certificates/batch`).
   * One result per request, in order: the certificate, or the CaError refusing that request alone. The whole call
   * fails (throws) only for what fails every request: the transport, a storage fault, and a wrong credential where
   * the adapter sends one for the batch (HTTP: 401 before the body is read; in process each request is refused
   * with its own 401). Every request carries the same `raToken`. Optional.
   */
  issueMany?(reqs: IssueRequest[]): Promise<Array<IssuedCertificate | CaError>>;
  renew(serial: string, req: RenewRequest): Promise<IssuedCertificate>;
  /** A single-use challenge the old key signs before a renewal; offered by CAs with `renewalAuthorisation`. */
  renewalChallenge?(serial: string): Promise<RenewalChallenge>;
  revoke(req: RevokeRequest): Promise<RevocationResult>;
  /** Bulk revocation by an operator (token): what organisations and load tests use. Optional. */
  revokeMany?(serials: string[], reason: RevocationReason, operatorToken: string): Promise<BulkRevocationResult>;
  /** Releases a certificate from hold (the operator's credential); CaError(409) if it is not on hold. */
  release(serial: string, operatorToken?: string): Promise<void>;
  status(serial: string): Promise<CertificateStatus>;
  /** The issuing CA's current full CRL (the end-entity certificates it issued), DER. */
  crl(): Promise<Uint8Array>;
  /**
   * The current CRLs of the CAs above the issuing CA, DER: for a two-level
   * hierarchy, the root's CRL over the CA certificates it issued (an ARL).
   * With these and `crl()` a relying party can require revocation for every
   * certificate of the path. Optional: a relying party otherwise follows the
   * CRL distribution points of the CA certificates.
   */
  authorityCrls?(): Promise<Uint8Array[]>;
  /** An OCSP exchange, DER in, DER out. */
  ocsp(request: Uint8Array, method?: "POST" | "GET"): Promise<Uint8Array>;
  /** Trust anchors (root certificates), PEM. */
  anchors(): Promise<string[]>;
  /**
   * The credentials this connection was configured with (ca-config, or the
   * embedded CA's own), for callers to put into requests. Adapters never add
   * them to requests by themselves.
   */
  credentials?(): CaCredentials;
  /** What the CA is (software, version, URL), for reports. Optional: "unknown" otherwise. */
  identity?(): Promise<CaIdentity>;
  /** How each artefact is obtained; an artefact not listed is the CA's own. Optional. */
  provenance?(): Provenance;
  close(): Promise<void>;
}
