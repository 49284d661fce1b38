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
