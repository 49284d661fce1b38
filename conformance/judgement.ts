import { DecodeError } from "../pki/index.js";
import { CaError, type CaCapabilities, type CaCredentials } from "../simulator/ca/index.js";
import { NotJudged, Precondition, type Check, type NotJudgedCause, type VerdictOutcome } from "./checks/types.js";

/**
 * What an exception out of a check means, so that no harness problem is
 * ever shown as a CA defect and no CA defect is hidden as a harness problem:
 *
 * - `Precondition`: does not apply, or another check judges the root cause: skip;
 * - `NotJudged`: the harness could not judge, with the check's own cause and fix;
 * - a 401 or 429 the check did not read: a credential, or throttling: not judged;
 * - another 4xx: the CA refused something the check needed for another reason
 *   than the one it judges: not judged ("refused-otherwise"), with the CA's message;
 * - a 502 or 504 (a gateway) or 503 (the CA cannot serve now): not judged;
 * - another 5xx: the CA failed a well-formed request: a CA defect (fail);
 * - bytes from the CA that do not decode (pki's DecodeError): a CA defect (fail);
 * - a connection refused, reset or timed out: unreachable, not judged;
 * - anything else: a bug in cardloop ("harness"), not judged.
 */
export interface Judged {
  outcome: VerdictOutcome;
  message: string;
  evidence: Record<string, unknown>;
  cause?: NotJudgedCause;
  fix?: string;
}

const TRANSPORT = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|UND_ERR_[A-Z_]+)$/;

const firstLine = (err: unknown) => String((err as Error)?.message ?? err).split("\n")[0].slice(0, 300);

export function judgeThrown(err: unknown): Judged {
  if (err instanceof Precondition) return { outcome: "skip", message: err.message, evidence: err.evidence };
  if (err instanceof NotJudged) return { outcome: "error", message: err.message, evidence: err.evidence, cause: err.why, fix: err.fix };
  if (err instanceof CaError) {
    const evidence = { status: err.status, reason: err.reason, caMessage: firstLine(err) };
    if (err.status === 401) return notJudged("credential", `the CA asked for a credential certify did not send (401 ${err.reason})`, "give raToken (issuing) and operatorToken (operator actions) in --ca-config", evidence);
    if (err.status === 429) return notJudged("throttled", "this address is throttled by the CA (429)", "run again later, or from another address", evidence);
    if (err.status >= 400 && err.status < 500) {
      return notJudged("refused-otherwise", `the CA refused a request the check needed (${err.status} ${err.reason}: ${firstLine(err)})`, "see the CA's message: the request was refused before the property under test was reached", evidence);
    }
    // A gateway between certify and the CA (502, 504), or a CA saying it cannot serve now (503): nothing learnt about
    // the requirement. Any other 5xx is the CA failing a well-formed request.
    if (err.status === 502 || err.status === 504) return notJudged("unreachable", `the CA could not be reached through its front (${err.status} ${err.reason}: ${firstLine(err)})`, "check the CA and what stands in front of it, then run again", evidence);
    if (err.status === 503) return notJudged("throttled", `the CA cannot serve now (503 ${err.reason}: ${firstLine(err)})`, "run again when the CA is available", evidence);
    return { outcome: "fail", message: `the CA failed a well-formed request (${err.status} ${err.reason}: ${firstLine(err)})`, evidence };
  }
  if (err instanceof DecodeError) return { outcome: "fail", message: `the CA's answer does not decode: ${firstLine(err)}`, evidence: { error: "DecodeError" } };
  if (isTransport(err)) {
    return notJudged("unreachable", `the CA could not be reached: ${firstLine(err)}`, "check that the CA is running and reachable from here (URLs in --ca-config)", { error: transportCode(err) });
  }
  return notJudged("harness", `cardloop failed while judging: ${firstLine(err)}`, "a bug in cardloop: report it with the run log (run.jsonl)", { error: (err as Error)?.name ?? "Error" });
}

function notJudged(cause: NotJudgedCause, message: string, fix: string, evidence: Record<string, unknown>): Judged {
  return { outcome: "error", message, evidence, cause, fix };
}

function transportCode(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 4; e = e.cause as typeof e, i++) {
    if (typeof e.code === "string" && TRANSPORT.test(e.code)) return e.code;
  }
  return undefined;
}

function isTransport(err: unknown): boolean {
  return transportCode(err) !== undefined;
}

/** The credentials `check` sends that this CA asks for and certify does not hold. */
export function missingCredentials(check: Check, caps: CaCapabilities, held: CaCredentials): Array<keyof CaCredentials> {
  const wanted = check.credentials ?? ["raToken"];
  return wanted.filter((c) => {
    const asked = c === "raToken" ? caps.issuanceAuthorisation === true : caps.authorisation;
    return asked && !held[c];
  });
}
