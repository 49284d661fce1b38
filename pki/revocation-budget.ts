import { type Failure, failure } from "./errors.js";
import { type PublicKey, type SignedObject, type VerifyResult, cachedVerification, verifyCached } from "./signed-data.js";
import type { AlgorithmId } from "./signed-envelope.js";

/**
 * The validation's budget of signature checks as revocation spends it (CRLs, delta CRLs, OCSP
 * responses and their delegated responders). Only real verifications are charged: a result
 * already on the signed object (verifyCached's cache) costs nothing, so copies of one input
 * are free and only distinct work is bounded. A spent budget is final for the certificate
 * being checked: what could not be verified may have revoked it.
 */

export interface Budget {
  /** Takes one signature check from the validation's budget; false when it is spent (the check must not be made). */
  spendSignatureCheck(): boolean;
}

export interface Signed extends SignedObject {
  signatureAlgorithm: AlgorithmId;
  tbs: Uint8Array;
  signature: Uint8Array;
}

/** verifyCached, charged when it is a real verification; undefined: the budget is spent, nothing was checked. */
export function verifyCharged(budget: Budget, signed: Signed, pk: PublicKey): VerifyResult | undefined {
  if (cachedVerification(signed, pk) === undefined && !budget.spendSignatureCheck()) return undefined;
  return verifyCached(signed, pk, signed.signatureAlgorithm, signed.tbs, signed.signature);
}

/** Failures that say a signature check was not made. */
const unchecked = new WeakSet<Failure>();

export function budgetSpent(code: "crl-bad-signature" | "ocsp-bad-signature", pos: number, what: string): Failure {
  const f = failure(code, pos, `${what} not verified: the validation's budget of signature checks is spent`);
  unchecked.add(f);
  return f;
}

export const isBudgetSpent = (f: Failure): boolean => unchecked.has(f);
