/** The embedded reference CA: in-process (EmbeddedCa) or served over HTTP (startCaServer). */
export * from "./api.js";
export { EmbeddedCa, type EmbeddedCaOptions, type RenewalPolicy } from "./embedded-ca.js";
export { startCaServer, type CaServer, type CaServerOptions } from "./http.js";
export { buildCrl, type CrlInput } from "./crl.js";
export { parseOcspRequest, buildOcspResponse, OcspStatus } from "./ocsp.js";
export { CaStore, Status } from "./store.js";
