import test from "ava";
import fc from "fast-check";
import { openScenario, runScenario } from "../engine.js";
import { parseScenario, type Step } from "../format.js";
import { explorationScenario } from "./cast.js";
import { lifecycleCommands, type ExploreReal } from "./commands.js";
import { explore } from "./explore.js";
import { initialModel } from "./model.js";
import { scenarioYaml } from "./scenario-yaml.js";

const HEADER = {
  path: "0",
  ca: "embedded",
  failing: { step: 0, label: "none", difference: "none" },
  firstFailure: { generated: 0, executed: 0 },
  shrunk: { steps: 0, shrinks: 0 },
  fileName: "whole.yaml",
};

test("a whole generated lifecycle, written as a scenario file, replays step for step under the scenario runner", async (t) => {
  for (const seed of [31, 32]) {
    const [cmds] = fc.sample(fc.commands(lifecycleCommands(), { maxCommands: 120, size: "max" }), { seed, numRuns: 1 });
    const scenario = explorationScenario({ seed, ca: "embedded" });
    const session = await openScenario(scenario);
    const steps: Step[] = [];
    const real: ExploreReal = { steps, step: (s) => session.step(s) };
    try {
      await fc.asyncModelRun(() => ({ model: initialModel(scenario), real }), cmds);
    } finally {
      await session.finish();
    }
    t.is(real.failure, undefined, real.failure?.message);
    t.true(steps.length > 10, `${steps.length} steps`);
    t.log(`seed ${seed}: ${steps.length} steps, ${new Set(steps.map((s) => s.action)).size} kinds`);
    const text = scenarioYaml(scenario, steps, { ...HEADER, seed });
    const replayed = await runScenario(parseScenario(text, "whole.yaml"));
    t.is(replayed.outcome, "pass", replayed.steps.find((s) => s.outcome !== "pass")?.message);
    t.is(replayed.steps.length, steps.length);
    t.deepEqual(
      replayed.steps.map((s) => s.step.action),
      steps.map((s) => s.action),
    );
  }
});

test("explore against the embedded CA: nothing found, every lifecycle counted", async (t) => {
  const runs: number[] = [];
  const r = await explore({ ca: "embedded", seed: 5, runs: 3, steps: 60, onRun: (x) => runs.push(x.steps) });
  t.is(r.finding, undefined);
  t.is(r.runs, 3);
  t.is(r.executions, 3);
  t.is(r.stepsRun, runs.reduce((a, b) => a + b, 0));
});

test("an unusable CA target is a UsageError before any lifecycle runs", async (t) => {
  let ran = 0;
  await t.throwsAsync(explore({ ca: "no-such-target", seed: 1, runs: 1, steps: 5, onRun: () => ran++ }), { name: "UsageError", message: /unknown CA target "no-such-target"/ });
  t.is(ran, 0);
});
