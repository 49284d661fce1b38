export * from "./browser.js";
export * from "./hex.js";
export * from "./policy.js";
export * from "./runlog.js";
export * from "./dirs.js";
export * from "./keygen.js";
export * from "./random.js";
export * from "./same-secret.js";
