import { performance } from "node:perf_hooks";
import { basename } from "node:path";
import fc from "fast-check";
import { SeededRandom, SystemClock, UsageError, VirtualClock, errorMessage } from "../../core/index.js";
import { openCa } from "../ca-target.js";
import { openScenario, type ScenarioSession, type StepOutcome } from "../engine.js";
import type { Scenario, Step } from "../format.js";
import { explorationScenario, type NamedPolicy } from "./cast.js";
import { lifecycleCommands, type ExploreReal, type StepCommand } from "./commands.js";
import { initialModel } from "./model.js";
import { exploreTarget, notExplored, validationRefusalOf, type ExploreTarget } from "./target.js";
import { scenarioYaml } from "./scenario-yaml.js";

export interface ExploreOptions {
  /** CA target, as `run --ca` takes it (registered targets: embedded, URLs, module:PATH). */
  ca: string;
  seed: number;
  /** Random lifecycles to try. */
  runs: number;
  /** Most commands generated per lifecycle. */
  steps: number;
  /** The lifecycle policy the scenarios follow and the model predicts (default: the shipped `default`). */
  policy?: NamedPolicy;
  /** Where the scenario will be written: its name goes into the replay command of the header. */
  out?: string;
  /** Called after each lifecycle run (generation and shrinking alike). */
  onRun?: (r: { steps: number; failed: boolean }) => void;
}

export interface ExploreFinding {
  seed: number;
  path: string;
  replayPath?: string;
  /** The first lifecycle that failed: commands generated, steps run up to and with the failing one. */
  firstFailure: { generated: number; executed: number };
  /** The shrunk lifecycle: its steps, and how many shrinks fast-check made. */
  shrunk: { steps: number; shrinks: number };
  failing: { step: number; action: string; label: string; expected: Record<string, unknown>; actual?: StepOutcome; difference: string };
  /** The shrunk lifecycle as a scenario file. */
  yaml: string;
}

export interface ExploreResult {
  seed: number;
  ca: string;
  /** Lifecycles fast-check generated before the first failure (all of them when none failed). */
  runs: number;
  /** Lifecycle runs in all, shrinking included, and the steps they ran. */
  executions: number;
  stepsRun: number;
  wallMs: number;
  /** What the model leaves out for this CA (what it cannot do), one line each. */
  notExplored: string[];
  finding?: ExploreFinding;
}

interface Attempt {
  /** The scenario as the session ran it (a CA with its own time moves it forward). */
  scenario: Scenario;
  commands: StepCommand[];
  steps: Step[];
  failure?: ExploreReal["failure"];
  /** What ended the lifecycle early: a Divergence, or an error of the run itself. */
  error?: unknown;
}

/**
 * Random lifecycles against a CA, each step checked against the policy model
 * as it runs; on the first divergence fast-check shrinks the lifecycle and
 * the smallest one that still diverges becomes a scenario file.
 */
export async function explore(o: ExploreOptions): Promise<ExploreResult> {
  const target = await exploreTargetOf(o.ca, o.seed, o.policy);
  const t0 = performance.now();
  let executions = 0;
  let stepsRun = 0;
  let first: Attempt | undefined;
  let last: Attempt | undefined;
  let broken: Error | undefined;
  const property = fc.asyncProperty(fc.commands(lifecycleCommands(), { maxCommands: o.steps, size: "max" }), async (cmds) => {
    const commands = [...cmds] as StepCommand[];
    const scenario = lifecycleScenario({ seed: o.seed, ca: o.ca, policy: o.policy }, target);
    const session = await openScenario(scenario, { ca: o.ca });
    const attempt: Attempt = { scenario: session.scenario, commands, steps: [] };
    const real: ExploreReal = { steps: attempt.steps, step: (s) => session.step(s) };
    try {
      if (session.error !== undefined) throw (broken = new Error(`the CA target did not open: ${session.error}`));
      await fc.asyncModelRun(() => ({ model: initialModel(session.scenario, target), real }), cmds);
    } catch (err) {
      attempt.error = err;
      throw err;
    } finally {
      attempt.failure = real.failure;
      executions++;
      stepsRun += attempt.steps.length;
      // The last lifecycle that failed is fast-check's final counterexample; a failure that is no divergence is a broken run.
      if (attempt.error !== undefined) last = attempt;
      if (real.failure) first ??= attempt;
      o.onRun?.({ steps: attempt.steps.length, failed: real.failure !== undefined });
      await leaveADayBehind(session, scenario);
      await session.finish().catch(() => undefined);
    }
  });
  const details = await fc.check(property, { seed: o.seed, numRuns: o.runs });
  if (broken) throw new UsageError(broken.message);
  const wallMs = performance.now() - t0;
  const base = { seed: o.seed, ca: o.ca, executions, stepsRun, wallMs, notExplored: notExplored(target) };
  if (!details.failed) return { ...base, runs: details.numRuns };
  if (!first || !last || !last.failure) {
    // The property failed without a divergence of the model: the run itself broke (a bug, not a finding).
    throw new Error(`exploration broke: ${errorMessage(last?.error ?? details.errorInstance)}`);
  }
  const replay = /replayPath="([^"]+)"/.exec(String(details.counterexample?.[0] ?? ""));
  const f = last.failure;
  const failingIndex = last.steps.indexOf(f.step);
  const label = f.step.label ?? f.step.action;
  const finding: Omit<ExploreFinding, "yaml"> = {
    seed: o.seed,
    path: details.counterexamplePath ?? "",
    ...(replay ? { replayPath: replay[1] } : {}),
    firstFailure: { generated: first.commands.length, executed: first.steps.length },
    shrunk: { steps: last.steps.length, shrinks: details.numShrinks },
    failing: { step: failingIndex + 1, action: f.step.action, label, expected: f.step.expect, ...(f.actual ? { actual: f.actual } : {}), difference: f.message },
  };
  const scenario = { ...last.scenario, name: `explore seed ${o.seed}: ${label}` };
  const yaml = scenarioYaml(scenario, last.steps, {
    seed: o.seed,
    path: finding.path,
    replayPath: finding.replayPath,
    ca: o.ca,
    failing: { step: finding.failing.step, label, difference: f.message },
    firstFailure: finding.firstFailure,
    shrunk: finding.shrunk,
    fileName: o.out ? basename(o.out) : "SCENARIO.yaml",
  });
  return { ...base, runs: details.numRuns, finding: { ...finding, yaml } };
}

/**
 * A CA with its own time (a served CA) is shared by every lifecycle: each one
 * starts at the CA's time, on a whole day, and its holders are registered
 * under ids made from that start. A lifecycle that moved the CA's clock by
 * hours only would let the next one start on the same day, as the same
 * holders (already registered: no codes handed out). Moving the CA a day on
 * after each lifecycle keeps them apart. Not a step of the lifecycle.
 */
async function leaveADayBehind(session: ScenarioSession, planned: Scenario): Promise<void> {
  if (session.error !== undefined || session.scenario.start.getTime() === planned.start.getTime()) return;
  await session.step({ index: -1, line: 0, action: "advance", args: { by: DAY_MS }, expect: {} }).catch(() => undefined);
}

const DAY_MS = 86_400_000;

/**
 * Opens the target once before exploring: an unusable target is the user's to
 * fix (exit 2), not a finding. Its capabilities say what the model can hold it to.
 */
export async function exploreTargetOf(ca: string, seed: number, policy?: NamedPolicy): Promise<ExploreTarget> {
  const scenario = explorationScenario({ seed, ca, policy });
  let opened;
  try {
    opened = await openCa(ca, { clock: new VirtualClock(scenario.start), random: new SeededRandom(seed).fork("ca"), policy: scenario.policy });
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`CA target ${ca}: ${errorMessage(err)}`);
  }
  try {
    const refusal = await validationRefusalOf(opened.ca, scenario.policy.revocation);
    return exploreTarget(opened.ca, refusal);
  } finally {
    await opened.ca.close().catch(() => undefined);
  }
}

/** The scenario one lifecycle runs in: the cast, started at the CA's time when the CA keeps real time. */
export function lifecycleScenario(o: { seed: number; ca: string; policy?: NamedPolicy }, target: ExploreTarget): Scenario {
  return explorationScenario({ ...o, ...(target.realTime ? { start: realTimeStart() } : {}) });
}

/**
 * Where a lifecycle on a CA that keeps real time starts: ahead of the CA's
 * clock (the system's), by more than a lifecycle lasts, so that every
 * certificate the CA dates during the run begins before the scenario's frozen
 * now and every revocation it records comes at or before it (the model's
 * "same instant"), while the CA's CRLs (a day) and OCSP answers (an hour)
 * are still current. Whole seconds, as the CA's dates.
 */
function realTimeStart(): Date {
  const now = new SystemClock().nowMs();
  return new Date(Math.ceil((now + REAL_TIME_LEAD_MS) / 1000) * 1000);
}

const REAL_TIME_LEAD_MS = 10 * 60_000;
