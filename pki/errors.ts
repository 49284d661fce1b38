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
  "name-chaining",
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
