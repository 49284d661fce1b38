/** `cardloop explore`: random lifecycles checked against a model of the policy, a divergence shrunk to a scenario file. */
export { explore, exploreTargetOf, lifecycleScenario, type ExploreOptions, type ExploreResult, type ExploreFinding } from "./explore.js";
export { initialModel, applyStep, type LifecycleModel, type CardModel } from "./model.js";
export { lifecycleCommands, StepCommand, Divergence, type ExploreReal } from "./commands.js";
export { explorationScenario, EXPLORE_START, CAST_CARDS, type NamedPolicy } from "./cast.js";
export { scenarioYaml, type ScenarioHeader } from "./scenario-yaml.js";
export { exploreTarget, notExplored, FULL_TARGET, type ExploreTarget } from "./target.js";
