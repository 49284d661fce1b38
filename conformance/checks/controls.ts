import type { CertificateStatus, RevocationResult } from "../../simulator/ca/index.js";
import { refusal, refusalEvidence, waited, type Throttling } from "./refusals.js";
import { NotJudged, type CheckContext } from "./types.js";

/**
 * Controls: a refusal passes a check only once the same request, made right
 * (the right code, the right credential, a serial the CA issued), goes
 * through. A CA that refuses the right request too refused for something
 * else than what the check changed, and the check is not judged. With the
 * status records the checks compare before and after.
 */

/** Unchanged record: status, reason and revocation time as before. */
export function unchanged(before: CertificateStatus, after: CertificateStatus): boolean {
  return after.status === before.status && after.reason === before.reason && after.revokedAt?.getTime() === before.revokedAt?.getTime();
}

/** A status as a PKI engineer reads it: "revoked (keyCompromise)". */
export const state = (st: CertificateStatus) => `${st.status}${st.reason ? ` (${st.reason})` : ""}`;

/** A control, in the words of the not-judged verdict when it does not revoke. */
export interface Control {
  /** The request made right: "the right credential", "the same request for a serial the CA did issue". */
  what: string;
  /** The message's start when the CA refuses it (default: "<what> was refused too"). */
  refused?: string;
  /** What that refusal leaves unshown, the message's end: "so the refusal was not shown to be about the credential". */
  unshown: string;
  /** Where to look when the CA refuses it. */
  fix: string;
  /** The check's evidence so far, which a not-judged verdict carries too. */
  evidence?: Record<string, unknown>;
}

/** A control that revoked: the certificate, the CA's answer, and its status read after. */
export interface ControlEvidence {
  serial: string;
  revoked: RevocationResult["status"];
  statusAfter: CertificateStatus["status"];
}

/**
 * The control `send` (a revocation of `serial`, made right) revokes: the CA
 * answers it (a 429 sorted out by `unthrottled`, within `t`'s one wait) and
 * has `serial` as revoked after. Returns the control's evidence. Refused, or
 * acknowledged without revoking, the check is not judged ("refused-otherwise";
 * the control's refusal is the verdict's status and reason); a 401 or 429
 * that stays is not judged for that (`refusal`).
 */
export async function controlRevokes(ctx: CheckContext, serial: string, send: () => Promise<RevocationResult>, t: Throttling, what: Control): Promise<ControlEvidence> {
  let answer: RevocationResult;
  try {
    answer = await ctx.fx.unthrottled(send, t);
  } catch (err) {
    const r = refusalEvidence(refusal(err));
    throw new NotJudged("refused-otherwise", `${what.refused ?? `${what.what} was refused too`} (${r.status} ${r.reason}: "${r.caMessage}"), ${what.unshown}`, what.fix, {
      ...what.evidence,
      ...waited(t),
      control: { serial, ...r },
      ...r,
    });
  }
  const after = await ctx.ca.status(serial);
  const control: ControlEvidence = { serial, revoked: answer.status, statusAfter: after.status };
  if (after.status !== "revoked") {
    throw new NotJudged("refused-otherwise", `${what.what} was acknowledged, but the certificate is ${state(after)}: the control did not revoke`, "see REV-REASONS for how the CA records revocations", {
      ...what.evidence,
      ...waited(t),
      control,
    });
  }
  return control;
}
