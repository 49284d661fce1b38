import type { RevocationReason } from "../../core/index.js";
import { Crl } from "../../pki/index.js";
import type { CaAdapter } from "../../simulator/ca/index.js";

/**
 * What the CA under exploration can do, as far as the policy model cares:
 * read from the adapter's capabilities when the exploration opens it. The
 * model predicts the policy only where the CA implements it; what the CA
 * cannot do is not generated (or predicted as the CA's own behaviour), and
 * the exploration says so once ("not explored: ...") instead of reporting the
 * same known difference on every run.
 */
export interface ExploreTarget {
  /**
   * The CA keeps real time (OpenSSL, CFSSL: their certificates and CRLs are
   * dated by the real clock): the lifecycle starts at the CA's time and no
   * step moves the clock, since the CA could not follow.
   */
  realTime: boolean;
  /** The CA checks who revokes: cancellation codes, the operator's credential and answers, the reasons per role, the lockout and the source budget. */
  authorisation: boolean;
  /** The CA hands out cancellation codes at issuance. */
  cancellationCodes: boolean;
  /** The CA caps a certificate at the card's expiry. */
  cardExpiryCap: boolean;
  /**
   * Set when every validation by the policy's relying party is refused because
   * of what the CA publishes (a CRL without a CRL number: crl-number-missing):
   * the model predicts that refusal for every use of a certificate.
   */
  validationRefusal?: string;
  /** The CA refuses to revoke a revoked certificate again (already-revoked); one that accepts it again is not asked to. */
  finalRevocation: boolean;
  /** Reasons the policy allows that the CA cannot record: it refuses them (`unsupported-reason`), and the model predicts that refusal. */
  unrecordedReasons: readonly RevocationReason[];
}

/** A CA that implements the whole policy on a clock the scenario moves (the embedded CA, a served CA with a virtual clock). */
export const FULL_TARGET: ExploreTarget = { realTime: false, authorisation: true, cancellationCodes: true, cardExpiryCap: true, finalRevocation: true, unrecordedReasons: [] };

/** The target's traits from its capabilities (a served CA on a virtual clock, which the scenario moves, says virtualClock). */
export function exploreTarget(ca: CaAdapter, validationRefusal?: string): ExploreTarget {
  const caps = ca.capabilities();
  return {
    ...(validationRefusal ? { validationRefusal } : {}),
    unrecordedReasons: caps.unrecordedReasons ?? [],
    finalRevocation: !caps.revokesAgain,
    realTime: !caps.virtualClock,
    authorisation: caps.authorisation,
    cancellationCodes: caps.cancellationCodes,
    cardExpiryCap: caps.cardExpiryCap,
  };
}

/** What an exploration of this target leaves out, one line each, said once in the output. */
export function notExplored(t: ExploreTarget): string[] {
  const out: string[] = [];
  if (t.realTime) {
    out.push(
      "time (expiry, renewal or use after expiry, the mobile alert before expiry, the days left): the CA keeps real time, so no step moves the clock",
    );
  }
  if (!t.authorisation) {
    out.push(
      "who may revoke (wrong cancellation codes, representatives of a personal card, the reasons each role may give, the lockout and the source budget): the CA checks no revocation credential (authorisation: false)",
    );
  }
  if (!t.cancellationCodes) out.push("cancellation codes handed out at issuance: the CA has none (cancellationCodes: false)");
  if (!t.cardExpiryCap) out.push("the cap of certificates at the card's expiry: the CA does not cap (cardExpiryCap: false); the model predicts the uncapped lifetime");
  if (!t.finalRevocation) {
    out.push("a second revocation of a revoked certificate: the CA carries it out again (new reason and time) instead of refusing it (already-revoked), so none is generated");
  }
  if (t.validationRefusal) {
    out.push(
      `relying parties accepting a good certificate: the CA's revocation data makes every validation of a certificate neither expired nor revoked fail (${t.validationRefusal}), predicted so; revocations still show (revoked, status)`,
    );
  }
  if (t.unrecordedReasons.length > 0) {
    out.push(`revocation with ${t.unrecordedReasons.join(", ")}: the CA cannot record ${t.unrecordedReasons.length === 1 ? "it" : "them"}; the model predicts its refusal (unsupported-reason)`);
  }
  return out;
}

/**
 * What the CA publishes that no relying party under the policy accepts,
 * found before exploring: a CRL without a CRL number (RFC 5280 5.2.3; CFSSL
 * 1.2.0's gencrl makes no other), when relying parties read CRLs.
 */
export async function validationRefusalOf(ca: CaAdapter, revocation: "crl" | "ocsp"): Promise<string | undefined> {
  if (revocation !== "crl") return undefined;
  const crl = new Crl(await ca.crl());
  return crl.crlNumber === undefined ? "crl-number-missing" : undefined;
}
