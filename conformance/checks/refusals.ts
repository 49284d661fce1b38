import { CaError } from "../../simulator/ca/index.js";
import { NotJudged } from "./types.js";

/**
 * How checks read a CA's refusals. A refusal is a `CaError` with a 4xx
 * status; which of them a check may judge is decided here, once, not in each
 * check: a 401 (a credential certify did not send) and a 429 (the CA
 * throttling certify's address) are about who asks and how often, not about
 * the request, so the check is not judged, with the fix (`refusal`,
 * `notJudged`, `NotJudged`).
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
export const CREDENTIAL_FIX = "give raToken (issuing) and operatorToken (operator actions) in --ca-config";

/**
 * The refusal a check judges: the CA's 4xx answer to what was asked. A 401 (a
 * credential certify did not send) and a 429 (this address throttled) are
 * about who asks and how often, not about the request, so they cannot pass a
 * check that expects a refusal nor fail one that expects success: the check
 * is not judged (`NotJudged`), with the fix. Anything else that is not a 4xx
 * is thrown on.
 */
export function refusal(err: unknown): CaError {
  notJudgedIf(err);
  if (!isCaRefusal(err)) throw err;
  return err;
}

/** Rethrows `err`, as the NotJudged it stands for when it is a 401 or 429 (see `refusal`). */
export function notJudged(err: unknown): never {
  notJudgedIf(err);
  throw err;
}

function notJudgedIf(err: unknown): void {
  if (!(err instanceof CaError)) return;
  if (err.status === 401) throw new NotJudged("credential", `the CA asked for a credential certify did not send (401 ${err.reason})`, CREDENTIAL_FIX, { status: 401, reason: err.reason });
  if (err.status === 429) throw throttled(err);
}

/** An address the CA throttles: not judged. */
export function throttled(err: CaError): NotJudged {
  return new NotJudged("throttled", "this address is throttled by the CA (429)", "run again later, or from another address", { status: 429, reason: err.reason, retryAfterMs: err.retryAfterMs ?? null });
}

/**
 * A refusal for another reason than the one a check is about: the check
 * learnt nothing about its requirement. `expected` says what it wanted.
 */
export function refusedOtherwise(err: CaError, expected: string, evidence: Record<string, unknown> = {}): NotJudged {
  return new NotJudged(
    "refused-otherwise",
    `the CA refused with ${err.status} ${err.reason} ("${err.message.split("\n")[0].slice(0, 200)}"), not ${expected}: whether it meets the requirement is unknown`,
    "see the CA's message: the request was refused before the property under test was reached",
    { ...evidence, status: err.status, reason: err.reason, caMessage: err.message.split("\n")[0].slice(0, 500) },
  );
}

/** A wrong code of the right code's making (never a guess at the CA's alphabet). */
export function wrongCode(right: string, i = 0): string {
  return `${right}-wrong-${i}`;
}

/** One way a CA says "refused for this reason": its status, and its reason code (or, failing that, its message). */
export interface RefusalRule {
  status: readonly number[];
  /** CaError.reason: a list of codes, or a pattern (CFSSL's codes are numbers per category). Absent: any. */
  reason?: readonly string[] | RegExp;
  /** Where the reason code does not tell, the CA's message, by a narrow pattern. */
  message?: RegExp;
}

/** The refusals that mean "refused for the reason the check is about", for the CAs cardloop knows. */
export interface ExpectedRefusal {
  /** What it is, for the not-judged message: "a refusal of the request's broken signature". */
  what: string;
  rules: readonly RefusalRule[];
}

/** Whether `err` is one of the refusals `expected` names. */
export function refusedFor(err: CaError, expected: ExpectedRefusal): boolean {
  return expected.rules.some(
    (r) =>
      r.status.includes(err.status) &&
      (r.reason === undefined || (r.reason instanceof RegExp ? r.reason.test(err.reason) : r.reason.includes(err.reason))) &&
      (r.message === undefined || r.message.test(err.message)),
  );
}

/** A refusal as evidence: what the CA said, first line of its message. */
export const refusalEvidence = (err: CaError) => ({ status: err.status, reason: err.reason, caMessage: err.message.split("\n")[0].slice(0, 500) });
