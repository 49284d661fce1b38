import { authorisationChecks } from "./authorisation.js";
import { ocspAbuseChecks } from "./ocsp-abuse.js";
import { crlChecks } from "./crl.js";
import { issuanceChecks } from "./issuance.js";
import { lifecycleChecks } from "./lifecycle.js";
import { ocspChecks } from "./ocsp.js";
import { propagationChecks } from "./propagation.js";
import { renewalChecks } from "./renewal.js";
import { revocationChecks } from "./revocation.js";
import { codeRevocationChecks } from "./revocation-codes.js";
import type { Check } from "./types.js";

export * from "./types.js";
export { Fixtures } from "./fixtures.js";

/** The conformance catalogue, in run order (shared fixtures are made by the first check that needs them). */
export const CATALOG: readonly Check[] = [
  ...issuanceChecks,
  ...renewalChecks,
  ...revocationChecks,
  ...codeRevocationChecks,
  ...authorisationChecks,
  ...ocspAbuseChecks,
  ...propagationChecks,
  ...crlChecks,
  ...ocspChecks,
  ...lifecycleChecks,
];
