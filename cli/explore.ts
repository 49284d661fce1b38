import { randomInt } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, relative } from "node:path";
import type { Command } from "commander";
import { UsageError, errorMessage } from "../core/index.js";
import { loadPolicy, resolvePolicyRef } from "../policies/index.js";
import { explore, type ExploreResult, type NamedPolicy } from "../scenarios/index.js";
import { ExitCode, action } from "./exit.js";
import { registerScenarioTargets } from "./scenario-targets.js";

/**
 * `cardloop explore --ca TARGET [--ca-config F] [--seed S] [--runs N]
 * [--steps 200] [--out FILE.yaml] [--json]`: random lifecycles (fast-check's
 * model-based commands) against a CA, every step checked against the policy
 * model; a divergence is shrunk and written as a scenario `cardloop run`
 * replays. Exit 0 nothing found, 1 a divergence found (scenario written),
 * 2 unusable input.
 */
export function register(program: Command): void {
  program
    .command("explore")
    .description("random card lifecycles against a CA, checked against the policy model; a failure is shrunk to a scenario file (exit 0 none, 1 found, 2 bad input)")
    .requiredOption("--ca <target>", "CA target: embedded, openssl, cfssl, the URL of a served CA (`cardloop ca serve --virtual-clock`), or module:PATH (a CaAdapter module)")
    .option("--ca-config <file>", "YAML for the CA target: a served CA's tokens, or a module's options")
    .option("--policy <name|file>", "lifecycle policy the lifecycles follow and the model predicts: default, ocsp, or a policy file", "default")
    .option("--seed <n>", "fast-check seed (default: random, printed); the same seed explores and shrinks the same way")
    .option("--runs <n>", "random lifecycles to try", "20")
    .option("--steps <n>", "most steps per lifecycle", "200")
    .option("--out <file.yaml>", "where to write the shrunk scenario (default explore-SEED.yaml)")
    .option("--json", "print the result as JSON on stdout")
    .action(action(async (opts: RawExploreOptions) => exploreCommand(opts)));
}

export interface RawExploreOptions {
  ca?: string;
  caConfig?: string;
  policy?: string;
  seed?: string;
  runs?: string;
  steps?: string;
  out?: string;
  json?: boolean;
}

export interface ExploreCliOptions {
  ca: string;
  caConfig?: string;
  policy: string;
  seed: number;
  runs: number;
  steps: number;
  out: string;
  json: boolean;
}

const MAX_SEED = 2 ** 31 - 1;

/** The options checked: UsageError (one line, exit 2) for anything unusable. `randomSeed` picks the default seed. */
export function parseExploreOptions(raw: RawExploreOptions, randomSeed: () => number = () => randomInt(0, MAX_SEED)): ExploreCliOptions {
  if (raw.ca === undefined || raw.ca.trim() === "") throw new UsageError("explore needs --ca TARGET (embedded, openssl, cfssl, http(s)://URL or module:PATH)");
  const seed = raw.seed === undefined ? randomSeed() : count("--seed", raw.seed, 0, MAX_SEED);
  const runs = count("--runs", raw.runs ?? "20", 1, 100_000);
  const steps = count("--steps", raw.steps ?? "200", 1, 10_000);
  const out = raw.out ?? `explore-${seed}.yaml`;
  if (out.trim() === "") throw new UsageError("--out needs a file name");
  const policy = raw.policy ?? "default";
  if (policy.trim() === "") throw new UsageError("--policy needs a policy name (default, ocsp) or a file");
  return { ca: raw.ca, ...(raw.caConfig !== undefined ? { caConfig: raw.caConfig } : {}), policy, seed, runs, steps, out, json: raw.json === true };
}

function count(name: string, text: string, min: number, max: number): number {
  if (!/^\d{1,10}$/.test(text)) throw new UsageError(`${name} must be a whole number, got "${text.slice(0, 40)}"`);
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

export async function exploreCommand(raw: RawExploreOptions): Promise<number> {
  const o = parseExploreOptions(raw);
  const policy = readPolicy(o.policy);
  await registerScenarioTargets({ caConfig: o.caConfig });
  if (!o.json) process.stdout.write(`explore: seed ${o.seed}, CA ${o.ca}, ${o.runs} runs of up to ${o.steps} steps\n`);
  const r = await explore({ ca: o.ca, seed: o.seed, runs: o.runs, steps: o.steps, out: o.out, policy });
  if (r.finding) {
    mkdirSync(dirname(o.out), { recursive: true });
    writeFileSync(o.out, r.finding.yaml);
  }
  process.stdout.write(o.json ? JSON.stringify(jsonResult(r, o.out)) + "\n" : notExploredLines(r) + textResult(r, o.out));
  return r.finding ? ExitCode.Failed : ExitCode.Ok;
}

/**
 * The policy by name (shipped) or file. A file is named in the written
 * scenario by its absolute path, so that the scenario finds it wherever it is
 * written. A policy that cannot be read is one line, exit 2.
 */
function readPolicy(ref: string): NamedPolicy {
  try {
    const path = resolvePolicyRef(ref, process.cwd());
    return { ref: /^[a-z0-9-]+$/i.test(ref) ? ref : path, policy: loadPolicy(path) };
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`--policy ${ref}: ${errorMessage(err)}`);
  }
}

function jsonResult(r: ExploreResult, out: string): Record<string, unknown> {
  const { finding, wallMs, ...rest } = r;
  const base = { ...rest, wallMs: Math.round(wallMs), stepsPerSecond: Math.round(r.stepsRun / (wallMs / 1000)) };
  if (!finding) return { found: false, ...base };
  const { yaml: _yaml, ...f } = finding;
  return { found: true, ...base, ...f, scenario: out };
}

/** What the CA does not implement of the policy, said once (the model neither generates nor predicts it). */
function notExploredLines(r: ExploreResult): string {
  return r.notExplored.map((line) => `not explored: ${line}\n`).join("");
}

function textResult(r: ExploreResult, out: string): string {
  const speed = `${r.stepsRun} steps in ${(r.wallMs / 1000).toFixed(1)} s, ${Math.round(r.stepsRun / (r.wallMs / 1000))} steps/s`;
  if (!r.finding) return `nothing found: ${r.runs} lifecycles matched the policy model (${speed})\n`;
  const f = r.finding;
  const file = relative(process.cwd(), out) || out;
  return [
    `FOUND after ${r.runs} lifecycles: step ${f.failing.step} of the shrunk scenario (${f.failing.label}): ${f.failing.difference}`,
    `  first failing lifecycle: ${f.firstFailure.generated} commands generated, ${f.firstFailure.executed} steps run; shrunk to ${f.shrunk.steps} steps (${f.shrunk.shrinks} shrinks)`,
    `  seed ${f.seed}, path "${f.path}" (${speed})`,
    `scenario: ${file}`,
    `replay: cardloop run --ca ${r.ca} ${file}`,
    "",
  ].join("\n");
}
