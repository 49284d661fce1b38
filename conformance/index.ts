// conformance/: CA adapters, the check catalogue and certify's runner, reader qualification.
export * from "./checks/index.js";
export { runCatalog, catalogIdentity, checksLackingCredentials, CATALOG_VERSION, type CheckResult, type CatalogRun, type RunCatalogOptions } from "./runner.js";
export { judgeThrown } from "./judgement.js";
export { resolveAdapter, readCaConfig, readHttpCaConfig, type CreateAdapter } from "./adapters/resolve-target.js";
export { HttpCa, type HttpAdapterOptions } from "./adapters/http.js";
export { publicUrl } from "./adapters/public-url.js";
export * from "./qualify/index.js";
export { parseLoadOptions, readSerialsFile, writeSerialsFile, LOAD_DEFAULTS, type LoadPlan, type RawLoadOptions } from "./load/plan.js";
export { openLoadTarget } from "./load/embedded-target.js";
export { runLoad, type LoadRunInput, type LoadRunHooks } from "./load/run.js";
