/** The scenario engine and the library of scenario files. */
export { loadScenario, parseScenario, ACTIONS, OUTCOME_FIELDS, type Scenario, type Step, type StepArgs, type CardSpec, type HolderSpec, type Action } from "./format.js";
export { ScenarioError } from "./source.js";
export { runScenario, openScenario, type ScenarioSession, type ScenarioResult, type StepResult, type StepOutcome, type RunOptions } from "./engine.js";
export { compare, wrongSecret } from "./outcome.js";
export { runFiles, libraryFiles, LIBRARY_DIR, type RunFilesOptions, type RunFilesResult } from "./runner.js";
export { registerReader, readerKinds, openCardSlot, type CardSlot, type ReaderFactory } from "./readers.js";
export { openCa, registerCaTarget, type CaFactory, type CaTargetOptions, type OpenedCa } from "./ca-target.js";
export { explore, type ExploreOptions, type ExploreResult, type ExploreFinding, type NamedPolicy } from "./explore/index.js";
