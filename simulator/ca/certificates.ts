import type { Clock } from "../../core/index.js";
import { CaError } from "./api.js";
import type { CaStore, CertificateRow } from "./store.js";

/**
 * The certificate a request names, or 404. A lookup made for an action
 * (revoke, release, unlock) audits the miss; a plain lookup does not.
 * `serial` is already checked (validation.ts checkSerial): every caller
 * checks it first, to audit or refuse a malformed one in its own way.
 */
export function requireCertificate(store: CaStore, clock: Clock, serial: string, audit?: { role: string; action: string }): CertificateRow {
  const c = store.certificate(serial);
  if (!c) {
    if (audit) store.audit({ at: clock.nowMs(), serial, role: audit.role, action: audit.action, outcome: "not-found" });
    throw new CaError(404, "not-found", `no certificate with serial ${serial}`);
  }
  return c;
}
