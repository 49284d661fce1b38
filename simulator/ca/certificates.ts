import { CaError } from "./api.js";
import type { CaStore, CertificateRow } from "./store.js";

/**
 * The certificate a request names, or 404 (the caller audits the miss in its
 * own way). `serial` is already checked (validation.ts checkSerial): every
 * caller checks it first, to audit or refuse a malformed one in its own way.
 */
export function requireCertificate(store: CaStore, serial: string): CertificateRow {
  const c = store.certificate(serial);
  if (!c) throw new CaError(404, "not-found", `no certificate with serial ${serial}`);
  return c;
}
