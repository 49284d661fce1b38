import { CardloopError } from "../core/index.js";

/**
 * The only error pki/ decoders throw: bytes that are not the DER they claim to be.
 * Extends CardloopError so the CLI turns it into one stderr line and exit 2.
 */
export class DecodeError extends CardloopError {
  constructor(
    message: string,
    readonly offset?: number,
  ) {
    super("decode", offset === undefined ? message : `${message} (at offset ${offset})`);
  }
}

/**
 * Every way a validation can fail, as one closed set of codes (webpki's error.rs idea).
 * The code says what; `detail` says which and why; `position` says where in the path
 * (0 = the leaf, counting up towards the trust anchor).
 */
export const ResultCodes = [
  "malformed", // a certificate in the path, or a CRL/OCSP response, does not decode
  "expired",
  "not-yet-valid",
  "revoked",
  "bad-signature",
  "unsupported-signature-algorithm",
  "unknown-issuer",
  "path-length",
  "basic-constraints",
  "key-usage",
  "unknown-critical-extension",
  "path-too-long",
  "crl-missing",
  "crl-expired",
  "crl-bad-signature",
  "crl-unknown-critical-extension",
  "crl-issuer-key-usage",
  "crl-signer-invalid",
  "ocsp-bad-signature",
  "ocsp-unauthorized-responder",
  "ocsp-expired",
  "ocsp-unknown-status",
  "ocsp-nonce-mismatch",
  "ocsp-unsuccessful",
  // RFC 5280 6.1.3 (b)-(c), 6.1.4 (g): name constraints.
  "name-not-permitted", // a name outside a CA's permitted subtrees of its form
  "name-excluded", // a name inside a CA's excluded subtrees
  "name-constraints-unsupported", // a constraint on a name form this validator cannot compare, and a name of that form
  // RFC 5280 6.1.2-6.1.5 / RFC 9618: certificate policies.
  "no-valid-policy", // an explicit policy is required and no acceptable policy is valid for the path
  "policy-mapping-any", // a policy mapping to or from anyPolicy (6.1.4 (a))
  "extended-key-usage", // the leaf, or a CA restricting it, lacks a requested extended key usage
  // RFC 5280 section 4, the strict profile (every certificate on the path, the anchor included).
  "profile-serial-number", // 4.1.2.2: a serial number not positive, or longer than 20 octets
  "profile-time-encoding", // 4.1.2.5: UTCTime for 1950-2049, GeneralizedTime from 2050 (pedantic only)
  "profile-empty-subject", // 4.1.2.6: an empty subject in a CA, or without a critical subjectAltName
  "profile-empty-extension", // an extension that must hold at least one element holds none (4.2.1.12 EKU, 4.2.1.4 policies, ...)
  "profile-extension-criticality", // an extension marked critical or not against 4.2.1.x (basicConstraints in a CA, nameConstraints, AKI, SKI, ...)
  "profile-missing-authority-key-id", // 4.2.1.1: no authorityKeyIdentifier where one is required
  "profile-missing-subject-key-id", // 4.2.1.2: a CA certificate without subjectKeyIdentifier
  "profile-key-usage", // 4.2.1.3 / 4.2.1.9: keyUsage with no bit set, keyCertSign without cA, pathLenConstraint without cA and keyCertSign
  "profile-duplicate-policy", // 4.2.1.4: a policy OID more than once
  "profile-name-constraints-in-leaf", // 4.2.1.10: nameConstraints in a certificate that is not a CA
  // RFC 5280 5.2.3 and 6.3.3: CRLs.
  "crl-number-missing", // a CRL without the cRLNumber extension
  "crl-number-critical", // a CRL whose cRLNumber is marked critical
  "crl-reasons-incomplete", // the usable CRLs together do not cover every revocation reason (6.3.3 reasons_mask)
] as const;
export type ResultCode = (typeof ResultCodes)[number];

export interface Revocation {
  /** Reason name, e.g. "keyCompromise"; "unspecified" when the entry carries none. */
  reason: string;
  /** When the certificate was revoked (ms since epoch). */
  time: number;
  /** invalidityDate, when the entry carries one (ms since epoch). */
  invalidityTime?: number;
  /** Where the answer came from. */
  source: "crl" | "ocsp";
}

export interface Failure {
  valid: false;
  code: ResultCode;
  detail: string;
  /** Index in the path: 0 = the leaf; the anchor is the highest index. */
  position: number;
  revocation?: Revocation;
}

export function failure(code: ResultCode, position: number, detail: string, revocation?: Revocation): Failure {
  return revocation ? { valid: false, code, detail, position, revocation } : { valid: false, code, detail, position };
}
