// reports' second face, for the browser (the dashboard's page): the models and
// the certify wording, pure functions of events over core/browser.ts. The page
// shows the very verdicts and words the report files do. index.ts adds the
// writers, which write files.
export * from "./model.js";
export * from "./certify-model.js";
export * from "./certify-wording.js";
export * from "./qualify-model.js";
