import { createHash, timingSafeEqual } from "node:crypto";

/**
 * Whether `given` is `expected`, in time independent of where they differ:
 * both are hashed first, so the comparison runs over equal-length digests
 * and leaks neither the content nor the length of the expected secret.
 * An absent `given` never matches.
 */
export function sameSecret(given: string | undefined, expected: string): boolean {
  const a = createHash("sha256").update(given ?? "").digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b) && given !== undefined;
}

/** Longest text `sameShortText` compares by itself: an email address (RFC 5321: 254) or a holder's name fits. */
const SHORT_TEXT = 256;

/**
 * `sameSecret` for short texts (emails, names), without hashing: the loop
 * always runs over SHORT_TEXT code units whatever the lengths, and its body
 * does not branch on the content, so the time tells neither where the texts
 * differ nor how long the expected one is. On the revocation hot path two
 * such comparisons cost four SHA-256 digests with `sameSecret`; a longer text
 * falls back to it.
 */
export function sameShortText(given: string | undefined, expected: string): boolean {
  if (given === undefined || given.length > SHORT_TEXT || expected.length > SHORT_TEXT) return sameSecret(given, expected);
  let diff = given.length ^ expected.length;
  // charCodeAt past the end is NaN, and NaN | 0 is 0: both sides read as zero there, the lengths already differ.
  for (let i = 0; i < SHORT_TEXT; i++) diff |= (given.charCodeAt(i) | 0) ^ (expected.charCodeAt(i) | 0);
  return diff === 0;
}
