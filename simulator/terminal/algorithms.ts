/** Key algorithms the terminals ask the card for (SP 800-78-4 ids: 07 RSA-2048, 11 P-256, 14 P-384): the policy's vocabulary. */
export type { KeyAlgorithm } from "../../core/index.js";

/** PIV key references (SP 800-73-4 table 4b). */
export const SLOT = {
  authentication: 0x9a,
  signature: 0x9c,
  cardManagement: 0x9b,
} as const;

/** The well-known default card management key (3DES) a blank card ships with; a deployment sets its own. */
export const DEFAULT_MANAGEMENT_KEY = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
