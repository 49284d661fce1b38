import { createHmac, randomBytes } from "node:crypto";
import { CaError } from "../../simulator/ca/index.js";
import { CREDENTIAL_FIX, firstLine, harnessRefusal } from "../judgement.js";
import { NotJudged } from "./types.js";

export { CREDENTIAL_FIX };

/**
 * How checks read a CA's refusals. A refusal is a `CaError` with a 4xx
 * status; which of them a check may judge is decided here, once, not in each
 * check: a 401 (a credential certify did not send) and a 429 (the CA
 * throttling certify's address) are about who asks and how often, not about
 * the request, nor are a 503 (the CA cannot serve now) and a 502 or 504 (a
 * gateway), so the check is not judged, with the fix (`refusal`,
 * `notJudged`: judgement.ts's `harnessRefusal`).
 * The checks about credentials and lockout read every status themselves
 * (`isCaRefusal`, `readRefusal`).
 */

/** What a check spent waiting out the CA's throttling (it waits at most once; see Fixtures.unthrottled). */
export class Throttling {
  waitedMs?: number;
}

/** What the check waited for the CA's throttling, when it did (evidence). */
export const waited = (t: Throttling) => (t.waitedMs !== undefined ? { throttledWaitMs: t.waitedMs } : {});

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

/**
 * The refusal a check judges: the CA's 4xx answer to what was asked. A 401 (a
 * credential certify did not send) and a 429 (this address throttled) are
 * about who asks and how often, not about the request, so they cannot pass a
 * check that expects a refusal nor fail one that expects success: the check
 * is not judged (`NotJudged`), with the fix; so is a 502, 503 or 504.
 * Anything else that is not a 4xx is thrown on.
 */
export function refusal(err: unknown): CaError {
  notJudgedIf(err);
  if (!isCaRefusal(err)) throw err;
  return err;
}

/** Rethrows `err`, as the NotJudged it stands for when its status says nothing about the request (see `refusal`). */
export function notJudged(err: unknown): never {
  notJudgedIf(err);
  throw err;
}

function notJudgedIf(err: unknown): void {
  const harness = harnessRefusal(err);
  if (harness) throw harness;
}

/**
 * A 4xx for a check that reads the status itself (a 401 is the answer it
 * wants), but a 429 is throttling: not judged. Anything that is not a 4xx is
 * thrown on.
 */
export function readRefusal(err: unknown): CaError {
  if (!isCaRefusal(err)) throw err;
  if (err.status === 429) throw throttled(err);
  return err;
}

/** An address the CA throttles: not judged, with the check's `evidence` and the CA's answer. */
export function throttled(err: CaError, evidence: Record<string, unknown> = {}): NotJudged {
  return new NotJudged("throttled", "this address is throttled by the CA (429)", "run again later, or from another address", {
    ...evidence,
    status: 429,
    reason: err.reason,
    retryAfterMs: err.retryAfterMs ?? null,
  });
}

/**
 * A refusal for another reason than the one a check is about: the check
 * learnt nothing about its requirement. `expected` says what it wanted.
 */
export function refusedOtherwise(err: CaError, expected: string, evidence: Record<string, unknown> = {}): NotJudged {
  const refused = refusalEvidence(err);
  return new NotJudged(
    "refused-otherwise",
    `the CA refused with ${err.status} ${err.reason} ("${refused.caMessage.slice(0, 200)}"), not ${expected}: whether it meets the requirement is unknown`,
    "see the CA's message: the request was refused before the property under test was reached",
    { ...evidence, ...refused },
  );
}

/**
 * The character classes a wrong code draws from, position by position: a
 * digit for a digit, a letter of the same case for a letter. Letters leave
 * out I, L, O and U (Crockford base32, the embedded CA's alphabet): a CA that
 * checks a code's format then still reads the wrong code as a code.
 */
const CODE_CLASSES: readonly string[] = ["0123456789", "ABCDEFGHJKMNPQRSTVWXYZ", "abcdefghjkmnpqrstvwxyz"];

/** Keys where each code's wrong codes start and how they step: fresh each process, so none can be worked back to its right code. */
const WRONG_CODE_KEY = randomBytes(32);

/**
 * The `i`-th wrong code for `right`: as long as it, the same character class
 * at each position (separators and anything else that is not a letter or
 * digit kept where they are), each letter or digit drawn at random (a keyed
 * hash of the code picks where the sequence starts and its stride, `i` steps
 * through it, and the right code itself is stepped over). So it is never the
 * right code, wrong codes 0, 1, 2 ... of one code are distinct (as long as
 * the code's shape has that many others: 9 at the least), and it tells
 * nothing of the right code beyond its shape: no shared prefix but by chance,
 * nothing a CA comparing a prefix would take for the right one, nor one
 * checking the format refuse as malformed (where the format check would be
 * the refusal, not the code). A code with no letter or digit has no other of
 * its shape: `i` is appended.
 */
export function wrongCode(right: string, i = 0): string {
  if (!Number.isSafeInteger(i) || i < 0) throw new RangeError(`wrongCode: i must be a whole number >= 0, not ${i}`);
  const chars = Array.from(right);
  const slots = chars.map((ch, at) => ({ at, alphabet: alphabetOf(ch) })).filter((s): s is { at: number; alphabet: string } => s.alphabet !== undefined);
  if (slots.length === 0) return `${right}${i}`;
  const sizes = slots.map((s) => BigInt(s.alphabet.length));
  const total = sizes.reduce((a, b) => a * b, 1n);
  // The right code's own place among the codes of its shape (none when it uses a letter left out above).
  let rightIndex: bigint | undefined = 0n;
  for (const [n, s] of slots.entries()) {
    const digit = s.alphabet.indexOf(chars[s.at]);
    if (digit < 0) {
      rightIndex = undefined;
      break;
    }
    rightIndex = rightIndex * sizes[n] + BigInt(digit);
  }
  const others = rightIndex === undefined ? total : total - 1n;
  // A random start and a random step prime to the count: `i` walks the other codes without meeting one twice.
  const start = keyed("start", right) % others;
  let step = keyed("step", right) % others || 1n;
  while (gcd(step, others) !== 1n) step += 1n;
  let index = (start + BigInt(i) * step) % others;
  if (rightIndex !== undefined && index >= rightIndex) index += 1n;
  const out = [...chars];
  for (let n = slots.length - 1; n >= 0; n--) {
    out[slots[n].at] = slots[n].alphabet[Number(index % sizes[n])];
    index /= sizes[n];
  }
  return out.join("");
}

/** A number from the process's key and `right`: uniform, and unrelated to the code to anyone without the key. */
function keyed(label: string, right: string): bigint {
  return BigInt(`0x${createHmac("sha256", WRONG_CODE_KEY).update(`${label}\0${right}`).digest("hex")}`);
}

function gcd(a: bigint, b: bigint): bigint {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** The class a code's character is drawn from, or undefined for a separator (kept as it is). */
function alphabetOf(ch: string): string | undefined {
  if (/^[0-9]$/.test(ch)) return CODE_CLASSES[0];
  if (/^[A-Z]$/.test(ch)) return CODE_CLASSES[1];
  if (/^[a-z]$/.test(ch)) return CODE_CLASSES[2];
  return undefined;
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
export const refusalEvidence = (err: CaError) => ({ status: err.status, reason: err.reason, caMessage: firstLine(err, 500) });
