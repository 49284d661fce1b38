/** The embedded reference CA: in-process (EmbeddedCa) or served over HTTP (startCaServer). */
export * from "./api.js";
export { EmbeddedCa, type EmbeddedCaOptions } from "./embedded-ca.js";
export { startCaServer, type CaServer, type CaServerOptions } from "./http.js";
export { CaStore, Status } from "./store.js";
export { DataDirLockedError } from "./data-dir-lock.js";
export type { CaHttpBackend } from "./http.js";
export { proveRenewal, signRenewal } from "./renewal-proof.js";
export { rotateToken, TOKEN_ROLES, type TokenRole } from "./credentials.js";
