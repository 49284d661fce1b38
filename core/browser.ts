// core's second face, for code that runs in a browser (the dashboard's page,
// through the reports' models): everything of core that needs no node:
// module nor Buffer. index.ts is this plus hex (Buffer), the lifecycle policy
// (its defaults carry the transport PIN and PUK: nothing a page should ship),
// the run log, directories, key generation and randomness. dashboard/assets.test.ts bundles it for the browser.
export * from "./clock.js";
export * from "./duration.js";
export * from "./errors.js";
export * from "./bytes.js";
export * from "./apdu.js";
export * from "./instructions.js";
export * from "./apdu-secrets.js";
export * from "./tlv.js";
export * from "./redact.js";
export * from "./events.js";
export * from "./qualify-events.js";
export * from "./load-events.js";
export * from "./stats.js";
export * from "./json-depth.js";
export * from "./is-record.js";
export * from "./deadline.js";
export * from "./version.js";
export * from "./certify-verdict.js";
