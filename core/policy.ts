/**
 * The lifecycle policy and the revocation vocabulary: the one place that
 * knows the revocation reasons (RFC 5280 5.3.1), the roles that may revoke,
 * which role may give which reason, and the rules of the default policy
 * (a national eID / professional signature card service). The CA, the
 * scenarios, certify and the validator all read these from here.
 */

/** RFC 5280 CRLReason names, as the CA API and the scenarios spell them. */
export type RevocationReason =
  | "unspecified"
  | "keyCompromise"
  | "cACompromise"
  | "affiliationChanged"
  | "superseded"
  | "cessationOfOperation"
  | "certificateHold"
  | "removeFromCRL"
  | "privilegeWithdrawn"
  | "aACompromise";

/** RFC 5280 CRLReason codes (7 is not used). */
export const REASON_CODES: Readonly<Record<RevocationReason, number>> = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
};

export const REVOCATION_REASONS = Object.keys(REASON_CODES) as readonly RevocationReason[];

const BY_CODE = new Map<number, RevocationReason>(Object.entries(REASON_CODES).map(([name, code]) => [code, name as RevocationReason]));

/** The reason for a CRLReason code, or undefined for a code RFC 5280 does not define. */
export function reasonForCode(code: number): RevocationReason | undefined {
  return BY_CODE.get(code);
}

export function isRevocationReason(value: unknown): value is RevocationReason {
  return typeof value === "string" && Object.hasOwn(REASON_CODES, value);
}

/** Who may ask for a revocation: the holder (cancellation code), an organisation's representatives (their codes), an operator. */
export type RevokerRole = "holder" | "legal-representative" | "authorised-representative" | "operator";

export const REVOKER_ROLES: readonly RevokerRole[] = ["holder", "legal-representative", "authorised-representative", "operator"];

export function isRevokerRole(value: unknown): value is RevokerRole {
  return typeof value === "string" && (REVOKER_ROLES as readonly string[]).includes(value);
}

export type KeyAlgorithm = "p256" | "p384" | "rsa2048";

/** What happens to the old certificate when a card is renewed. */
export type RenewalRule = "revoke-superseded" | "keep-until-expiry";

/**
 * The lifecycle rules a run, a CA and a certification follow. Data, so that a
 * user can state another policy (a YAML file; see policies/default.yaml).
 */
export interface LifecyclePolicy {
  name: string;
  /** Whole years: certificate policies count calendar years. */
  lifetimeYears: number;
  /** No certificate outlives its card. */
  capAtCardExpiry: boolean;
  /** Key algorithm generated on the card for both slots (9A, 9C). */
  algorithm: KeyAlgorithm;
  transportPin: string;
  puk: string;
  pinRetries: number;
  /** The mobile app alerts this many ms before expiry. */
  alertBeforeMs: number;
  /** Where relying parties get certificate status. */
  revocation: "crl" | "ocsp";
  /** Wrong revocation credentials from one source (per certificate and role) before that source must wait, doubling (429). */
  maxFailedAttempts: number;
  renewal: RenewalRule;
  /** Which role may give which revocation reason. */
  reasonsByRole: Readonly<Record<RevokerRole, readonly RevocationReason[]>>;
}

/** Every reason a revocation request may give: removeFromCRL only undoes a hold (release the certificate instead). */
const REQUESTABLE_REASONS: readonly RevocationReason[] = REVOCATION_REASONS.filter((r) => r !== "removeFromCRL");

/**
 * Reasons about one card's certificates, the ones a lifecycle step gives:
 * cACompromise and aACompromise concern an authority, certificateHold is a
 * suspension that is released rather than final, removeFromCRL undoes a hold.
 */
export const CARD_REVOCATION_REASONS: readonly RevocationReason[] = [
  "unspecified",
  "keyCompromise",
  "affiliationChanged",
  "superseded",
  "cessationOfOperation",
  "privilegeWithdrawn",
];

/** The reason a role gives when a scenario step names none: what each typically reports. */
export const DEFAULT_REASON_BY_ROLE: Readonly<Record<RevokerRole, RevocationReason>> = {
  holder: "keyCompromise",
  "legal-representative": "affiliationChanged",
  "authorised-representative": "affiliationChanged",
  operator: "unspecified",
};

/**
 * The default policy (policies/default.yaml states the same values; a test
 * keeps the two equal): a national eID / professional signature card service.
 */
export const DEFAULT_POLICY: LifecyclePolicy = Object.freeze({
  name: "national-eid",
  lifetimeYears: 3,
  capAtCardExpiry: true,
  algorithm: "p256",
  transportPin: "123456",
  puk: "12345678",
  pinRetries: 3,
  alertBeforeMs: 30 * 24 * 3_600_000,
  revocation: "crl",
  maxFailedAttempts: 5,
  renewal: "revoke-superseded",
  // Every role that authenticates may give any reason a request may carry.
  reasonsByRole: Object.freeze({
    holder: REQUESTABLE_REASONS,
    "legal-representative": REQUESTABLE_REASONS,
    "authorised-representative": REQUESTABLE_REASONS,
    operator: REQUESTABLE_REASONS,
  }),
});

/** Whether the policy lets `role` revoke with `reason`. */
export function reasonAllowed(policy: LifecyclePolicy, role: RevokerRole, reason: RevocationReason): boolean {
  return policy.reasonsByRole[role]?.includes(reason) ?? false;
}
