import { DecodeError } from "../pki/index.js";
import { CaError, type CaCapabilities, type CaCredentials } from "../simulator/ca/index.js";
import { OcspTransportError } from "./adapters/loopback-http.js";
import { NotJudged, Precondition, unjudged, type Check, type Verdict } from "./checks/types.js";

/**
 * What an exception out of a check means, so that no harness problem is
 * ever shown as a CA defect and no CA defect is hidden as a harness problem:
 *
 * - `Precondition`: does not apply, or another check judges the root cause: skip;
 * - `NotJudged`: the harness could not judge, with the check's own cause and fix;
 * - a status that says nothing about the request (`harnessRefusal`): a 401 or
 *   429 the check did not read (a credential, throttling), a 502 or 504 (a
 *   gateway) or 503 (the CA cannot serve now): not judged;
 * - another 4xx: the CA refused something the check needed for another reason
 *   than the one it judges: not judged ("refused-otherwise"), with the CA's message;
 * - another 5xx: the CA failed a well-formed request: a CA defect (fail);
 * - bytes from the CA that do not decode (pki's DecodeError): a CA defect (fail);
 * - a connection refused, reset or timed out, or an OCSP exchange that got no
 *   HTTP answer (OcspTransportError): unreachable, not judged;
 * - anything else: a bug in cardloop ("harness"), not judged.
 */
export function judgeThrown(err: unknown): Verdict {
  if (err instanceof Precondition) return { outcome: "skip", message: err.message, evidence: err.evidence };
  if (err instanceof NotJudged) return unjudged(err.why, err.message, err.fix, err.evidence);
  const harness = harnessRefusal(err);
  if (harness) return unjudged(harness.why, harness.message, harness.fix, harness.evidence);
  if (err instanceof CaError) {
    const evidence = caEvidence(err);
    if (err.status >= 400 && err.status < 500) {
      return unjudged("refused-otherwise", `the CA refused a request the check needed (${err.status} ${err.reason}: ${firstLine(err)})`, "see the CA's message: the request was refused before the property under test was reached", evidence);
    }
    return { outcome: "fail", message: `the CA failed a well-formed request (${err.status} ${err.reason}: ${firstLine(err)})`, evidence };
  }
  if (err instanceof DecodeError) return { outcome: "fail", message: `the CA's answer does not decode: ${firstLine(err)}`, evidence: { error: "DecodeError" } };
  const code = transportCode(err);
  if (code !== undefined || err instanceof OcspTransportError) {
    return unjudged("unreachable", `the CA could not be reached: ${firstLine(err)}`, "check that the CA is running and reachable from here (URLs in --ca-config)", { error: code ?? "OcspTransportError" });
  }
  return unjudged("harness", `cardloop failed while judging: ${firstLine(err)}`, "a bug in cardloop: report it with the run log (run.jsonl)", { error: (err as Error)?.name ?? "Error" });
}

/** The fix a 401 asks for. */
export const CREDENTIAL_FIX = "give raToken (issuing) and operatorToken (operator actions) in --ca-config";

/**
 * The one place that says which HTTP statuses tell nothing about the request
 * itself, whoever reads them: a 401 (a credential certify did not send), a
 * 429 (this address throttled), a 503 (the CA cannot serve now), a 502 or 504
 * (a gateway between certify and the CA). The NotJudged each stands for;
 * undefined for anything else (another status, or not a CaError).
 */
export function harnessRefusal(err: unknown): NotJudged | undefined {
  if (!(err instanceof CaError)) return undefined;
  const evidence = caEvidence(err);
  switch (err.status) {
    case 401:
      return new NotJudged("credential", `the CA asked for a credential certify did not send (401 ${err.reason})`, CREDENTIAL_FIX, evidence);
    case 429:
      return new NotJudged("throttled", "this address is throttled by the CA (429)", "run again later, or from another address", { ...evidence, retryAfterMs: err.retryAfterMs ?? null });
    case 503:
      return new NotJudged("throttled", `the CA cannot serve now (503 ${err.reason}: ${firstLine(err)})`, "run again when the CA is available", evidence);
    case 502:
    case 504:
      return new NotJudged("unreachable", `the CA could not be reached through its front (${err.status} ${err.reason}: ${firstLine(err)})`, "check the CA and what stands in front of it, then run again", evidence);
    default:
      return undefined;
  }
}

/** The first line of an error's message (or of a string), at most `max` characters: for messages and evidence. */
export function firstLine(err: unknown, max = 300): string {
  return String((err as Error)?.message ?? err).split("\n")[0].slice(0, max);
}

const caEvidence = (err: CaError) => ({ status: err.status, reason: err.reason, caMessage: firstLine(err) });

const TRANSPORT = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|UND_ERR_[A-Z_]+)$/;

/** The transport error code anywhere in `err`'s cause chain (fetch wraps undici's). */
function transportCode(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 4; e = e.cause as typeof e, i++) {
    if (typeof e.code === "string" && TRANSPORT.test(e.code)) return e.code;
  }
  return undefined;
}

/** The credentials `check` sends that this CA asks for and certify does not hold. */
export function missingCredentials(check: Check, caps: CaCapabilities, held: CaCredentials): Array<keyof CaCredentials> {
  const wanted = check.credentials ?? ["raToken"];
  return wanted.filter((c) => {
    const asked = c === "raToken" ? caps.issuanceAuthorisation === true : caps.authorisation;
    return asked && !held[c];
  });
}
