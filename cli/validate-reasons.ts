import type { ResultCode } from "../pki/index.js";

/**
 * The one table of what each reason code of `cardloop validate` means, for its
 * --help. Keyed by ResultCode: a code added to pki/errors.ts without a line
 * here does not compile. Meanings follow the comments in pki/errors.ts.
 */
export const REASONS: Record<ResultCode, string> = {
  malformed: "a certificate on the path, or a CRL/OCSP response, does not decode",
  expired: "a certificate (or, with anchor constraints, the anchor) is past its notAfter",
  "not-yet-valid": "a certificate (or the anchor) is before its notBefore",
  revoked: "a CRL or OCSP answer revokes a certificate on the path",
  "bad-signature": "a certificate's signature does not verify under its issuer's key",
  "unsupported-signature-algorithm": "a signature algorithm or key type this validator cannot check",
  "unknown-issuer": "no issuer for a certificate among the intermediates and anchors",
  "path-length": "a CA's pathLenConstraint is exceeded",
  "basic-constraints": "an issuing certificate is not a CA (basicConstraints cA)",
  "key-usage": "a keyUsage lacks a bit needed (keyCertSign in a CA, the leaf's --usage)",
  "unknown-critical-extension": "a certificate carries a critical extension this validator does not know",
  "path-too-long": "no trust anchor within 10 certificates",
  "crl-missing": "revocation is checked and a certificate has no usable CRL or OCSP answer",
  "crl-expired": "the CRL's nextUpdate is before the validation time",
  "crl-bad-signature": "the CRL's signature does not verify, or the validation's budget of 2,048 signature checks is spent",
  "crl-unknown-critical-extension": "a CRL or CRL entry carries an unknown critical extension",
  "crl-issuer-key-usage": "the CRL signer's keyUsage lacks cRLSign",
  "crl-signer-invalid": "the CRL signer's own path does not validate",
  "ocsp-bad-signature": "the OCSP response's signature does not verify, or the validation's budget of signature checks is spent",
  "ocsp-unauthorized-responder": "the OCSP responder is neither the CA nor delegated by it",
  "ocsp-expired": "the OCSP answer is stale",
  "ocsp-unknown-status": "the OCSP responder answers unknown for the certificate",
  "ocsp-nonce-mismatch": "the OCSP response does not echo the request's nonce",
  "ocsp-unsuccessful": "the OCSP response is an error status, not an answer",
  "name-not-permitted": "a name outside a CA's permitted subtrees of its form (RFC 5280 6.1.3 (b))",
  "name-excluded": "a name inside a CA's excluded subtrees (RFC 5280 6.1.3 (c))",
  "name-constraints-unsupported": "a constraint on a name form this validator cannot compare, and a name of that form",
  "no-valid-policy": "an explicit policy is required and no acceptable policy is valid for the path",
  "policy-mapping-any": "a policy mapping to or from anyPolicy (RFC 5280 6.1.4 (a))",
  "extended-key-usage": "the leaf, or a CA restricting it, lacks a requested extended key usage (--eku)",
  "profile-serial-number": "RFC 5280 4.1.2.2: a serial number not positive, or longer than 20 octets",
  "profile-time-encoding": "RFC 5280 4.1.2.5 (pedantic profile only): UTCTime for 1950-2049, GeneralizedTime from 2050",
  "profile-empty-subject": "RFC 5280 4.1.2.6: an empty subject in a CA, or without a critical subjectAltName",
  "profile-empty-extension": "an extension that must hold at least one element holds none (EKU, policies, ...)",
  "profile-extension-criticality": "an extension marked critical or not against RFC 5280 4.2.1.x",
  "profile-missing-authority-key-id": "RFC 5280 4.2.1.1: no authorityKeyIdentifier where one is required",
  "profile-missing-subject-key-id": "RFC 5280 4.2.1.2: a CA certificate without subjectKeyIdentifier",
  "profile-key-usage": "RFC 5280 4.2.1.3/4.2.1.9: keyUsage with no bit, keyCertSign without cA, pathLen without both",
  "profile-duplicate-policy": "RFC 5280 4.2.1.4: a policy OID more than once",
  "profile-name-constraints-in-leaf": "RFC 5280 4.2.1.10: nameConstraints in a certificate that is not a CA",
  "crl-number-missing": "RFC 5280 5.2.3: a CRL without the cRLNumber extension",
  "crl-number-critical": "RFC 5280 5.2.3: a CRL whose cRLNumber is marked critical",
  "crl-reasons-incomplete": "the usable CRLs together do not cover every revocation reason (RFC 5280 6.3.3)",
};

/** The reason codes as a help section: one `code  meaning` line each, in pki/errors.ts order. */
export function reasonsHelp(order: readonly ResultCode[]): string {
  const width = Math.max(...order.map((c) => c.length));
  const lines = order.map((c) => `  ${c.padEnd(width)}  ${REASONS[c]}`);
  const batch = `  ${"input-error".padEnd(width)}  (--batch only) the line is not a usable case: bad JSON, a field of the wrong type, an unreadable file`;
  return `Reason codes (printed when invalid, with the position: 0 = the leaf):\n${lines.join("\n")}\n${batch}`;
}
