import type { RevocationReason } from "../../core/index.js";
import type { Profile } from "./api.js";

/** The CA's run-log events (core/events.ts's EventMap). Serials are fields; codes, answers and tokens never are. */
declare module "../../core/events.js" {
  interface EventMap {
    "ca.issued": { serial: string; profile: Profile; holderId: string; notAfter: string; renewalOf?: string };
    "ca.revocation": { serial: string | null; role: string; action: string; outcome: string; reason?: RevocationReason; count?: number };
    /** A CRL was signed: the issuing CA's (end-entity certificates) or the root's (the ARL, CA certificates). */
    /** A follower of the status changes (OCSP cache, CRL entries, schedule) threw; it recovers by itself (status-changes.ts). Only the error's name: its message is not ours to log. */
    "ca.follower-failed": { kind: string; serials: number; error: string };
    "ca.crl": { number: string; entries: number; bytes: number; issuer: "issuing" | "root" };
  }
}

export {};
