import { CaError } from "../../simulator/ca/index.js";
import { Precondition } from "./types.js";

/**
 * How checks read a CA's refusals. A refusal is a `CaError` with a 4xx
 * status; which of them a check may judge is decided here, once, not in each
 * check: a 401 (a credential certify did not send) and a 429 (the CA
 * throttling certify's address) are about who asks and how often, not about
 * the request, so they skip the check with the fix (`refusal`, `notJudged`).
 * The checks about credentials and lockout read every status themselves
 * (`isCaRefusal`).
 */

/** What a check spent waiting out the CA's throttling (it waits at most once; see Fixtures.unthrottled). */
export class Throttling {
  waitedMs?: number;
}

/**
 * True for any refusal the CA answered (4xx), as opposed to a crash or a
 * transport failure: for the checks that judge credentials and throttling
 * (ISS-AUTH-REQUIRED, REV-OPERATOR-AUTH, REV-AUTH-LOCKOUT, REV-LOCKOUT-HOLDER,
 * REN-AUTHORISED), which look at the status themselves. Every other check
 * takes its refusals through `refusal`.
 */
export function isCaRefusal(err: unknown): err is CaError {
  return err instanceof CaError && err.status >= 400 && err.status < 500;
}

/** The fix a 401 asks for. */
const CREDENTIAL_FIX = "give raToken/operatorToken in --ca-config";

/**
 * The refusal a check judges: the CA's 4xx answer to what was asked. A 401 (a
 * credential certify did not send) and a 429 (this address throttled) are
 * about who asks and how often, not about the request, so they cannot pass a
 * check that expects a refusal nor fail one that expects success: they are a
 * Precondition, and the check skips with the fix. Anything else that is not a
 * 4xx is thrown on.
 */
export function refusal(err: unknown): CaError {
  notJudgedIf(err);
  if (!isCaRefusal(err)) throw err;
  return err;
}

/** Rethrows `err`, as the Precondition it stands for when it is a 401 or 429 (see `refusal`). */
export function notJudged(err: unknown): never {
  notJudgedIf(err);
  throw err;
}

function notJudgedIf(err: unknown): void {
  if (!(err instanceof CaError)) return;
  if (err.status === 401) throw new Precondition(`the CA asked for a credential certify did not send (401 ${err.reason}): ${CREDENTIAL_FIX}`, { status: 401, reason: err.reason });
  if (err.status === 429) throw throttled(err);
}

/** The skip for an address the CA throttles. */
export function throttled(err: CaError): Precondition {
  return new Precondition("this address is throttled by the CA (429): run again later", { status: 429, reason: err.reason, retryAfterMs: err.retryAfterMs ?? null });
}

/** A wrong code of the right code's making (never a guess at the CA's alphabet). */
export function wrongCode(right: string, i = 0): string {
  return `${right}-wrong-${i}`;
}
