import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import test, { type ExecutionContext } from "ava";
import fc from "fast-check";
import { registerScenarioTargets } from "../cli/scenario-targets.js";
import { spawnGroup, tempDir } from "../harness/processes.js";
import { openScenario } from "../scenarios/engine.js";
import type { Step } from "../scenarios/format.js";
import { exploreTargetOf, initialModel, lifecycleCommands, lifecycleScenario, scenarioYaml, type ExploreReal } from "../scenarios/explore/index.js";

/*
 * `cardloop explore` and `cardloop run` against the real OpenSSL and CFSSL
 * (the shipped adapters start them on loopback). Both keep real time and lack
 * parts of the policy (no cancellation codes, no check of who revokes): the
 * exploration must find nothing (no false alarm) and say once what it did not
 * explore. A missing `openssl` or `cfssl` binary fails the test.
 */

const ROOT = resolve(import.meta.dirname, "..");
const BIN = join(ROOT, "bin", "cardloop.js");

async function cardloop(t: ExecutionContext, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const g = spawnGroup(t, process.execPath, [BIN, ...args], { cwd: ROOT, deadlineMs: 150_000 });
  const exit = await g.wait();
  return { code: exit.code, stdout: g.stdout, stderr: g.stderr };
}

function requireBinary(t: ExecutionContext, name: string, args: string[]): void {
  const r = spawnSync(name, args, { encoding: "utf8" });
  t.is(r.status, 0, `${name} is needed (OpenSSL 3; CFSSL: Debian package golang-cfssl): ${r.error?.message ?? r.stderr}`);
}

test("explore --ca openssl: nothing found, and what OpenSSL does not implement is said once", async (t) => {
  t.timeout(170_000);
  requireBinary(t, "openssl", ["version"]);
  const dir = tempDir(t, "explore-openssl");
  const r = await cardloop(t, ["explore", "--ca", "openssl", "--seed", "21", "--runs", "3", "--steps", "80", "--out", join(dir, "x.yaml")]);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /^explore: seed 21, CA openssl, 3 runs of up to 80 steps$/m);
  t.regex(r.stdout, /^nothing found: 3 lifecycles matched the policy model \(\d+ steps in [\d.]+ s, \d+ steps\/s\)$/m);
  for (const what of [/^not explored: time \(expiry/m, /^not explored: who may revoke/m, /^not explored: cancellation codes/m, /^not explored: revocation with privilegeWithdrawn, aACompromise/m]) {
    t.is(r.stdout.split("\n").filter((l) => what.test(l)).length, 1, `${what} once in:\n${r.stdout}`);
  }
  // OpenSSL caps at the card's expiry (cardExpiryCap) and refuses a second revocation: both are explored.
  t.notRegex(r.stdout, /card's expiry|second revocation/);
  t.log(r.stdout.trim().split("\n").at(-1));
});

test("explore --ca cfssl: nothing found; its CRL without a CRL number and its second revocations are named, not reported on every run", async (t) => {
  t.timeout(170_000);
  requireBinary(t, "cfssl", ["version"]);
  const dir = tempDir(t, "explore-cfssl");
  const r = await cardloop(t, ["explore", "--ca", "cfssl", "--seed", "11", "--runs", "3", "--steps", "100", "--out", join(dir, "x.yaml"), "--json"]);
  t.is(r.code, 0, r.stdout + r.stderr);
  const out = JSON.parse(r.stdout) as { found: boolean; runs: number; stepsRun: number; stepsPerSecond: number; notExplored: string[] };
  t.false(out.found);
  t.is(out.runs, 3);
  t.true(out.stepsRun > 0, `${out.stepsRun} steps`);
  const said = (re: RegExp) => out.notExplored.filter((l) => re.test(l)).length;
  t.is(said(/^time \(expiry/), 1, out.notExplored.join("\n"));
  t.is(said(/^who may revoke/), 1);
  t.is(said(/^the cap of certificates at the card's expiry/), 1);
  t.is(said(/^a second revocation/), 1);
  t.is(said(/crl-number-missing/), 1);
  t.log(`cfssl: ${out.stepsRun} steps, ${out.stepsPerSecond} steps/s`);
});

test("a lifecycle generated against OpenSSL, written as a scenario, passes under `cardloop run --ca openssl`", async (t) => {
  t.timeout(170_000);
  requireBinary(t, "openssl", ["version"]);
  await registerScenarioTargets({});
  // A seed whose 60 commands give a lifecycle with issuance, uses, a loss, a revocation, a renewal and the CA's status.
  const seed = 43;
  const target = await exploreTargetOf("openssl", seed);
  t.true(target.realTime);
  t.false(target.authorisation);
  const [cmds] = fc.sample(fc.commands(lifecycleCommands(), { maxCommands: 60, size: "max" }), { seed, numRuns: 1 });
  const scenario = lifecycleScenario({ seed, ca: "openssl" }, target);
  const session = await openScenario(scenario, { ca: "openssl" });
  const steps: Step[] = [];
  const real: ExploreReal = { steps, step: (s) => session.step(s) };
  try {
    t.is(session.error, undefined);
    await fc.asyncModelRun(() => ({ model: initialModel(session.scenario, target), real }), cmds);
  } finally {
    await session.finish();
  }
  t.is(real.failure, undefined, real.failure?.message);
  t.true(steps.length > 5, `${steps.length} steps`);
  t.false(
    steps.some((s) => s.action === "advance"),
    "no step moves the clock of a CA that keeps real time",
  );
  for (const kind of ["issue", "sign", "verify-signature", "revoke", "status", "renew"]) t.true(steps.some((s) => s.action === kind), `a ${kind} step`);
  const file = join(tempDir(t, "explore-openssl-run"), "lifecycle.yaml");
  const header = { seed, path: "0", ca: "openssl", failing: { step: 0, label: "none", difference: "none" }, firstFailure: { generated: 0, executed: 0 }, shrunk: { steps: 0, shrinks: 0 }, fileName: "lifecycle.yaml" };
  writeFileSync(file, scenarioYaml(session.scenario, steps, header));
  const run = await cardloop(t, ["run", "--ca", "openssl", file]);
  t.is(run.code, 0, run.stdout + run.stderr);
  t.regex(run.stdout, /1\/1 scenarios passed/);
  t.log(`${steps.length} steps replayed against OpenSSL: ${[...new Set(steps.map((s) => s.action))].join(", ")}`);
});

test("`cardloop run --ca openssl`: a step that moves the clock errs, saying the CA keeps real time, instead of judging the CA at a time it never saw", async (t) => {
  t.timeout(120_000);
  requireBinary(t, "openssl", ["version"]);
  await registerScenarioTargets({});
  const target = await exploreTargetOf("openssl", 1);
  const scenario = lifecycleScenario({ seed: 1, ca: "openssl" }, target);
  const steps: Step[] = [
    { index: 0, line: 0, action: "issue", label: "issue ana-card", args: { card: "ana-card" }, expect: { result: "ok" } },
    { index: 1, line: 0, action: "advance", label: "advance 1d", args: { by: 86_400_000 }, expect: { result: "ok" } },
  ];
  const file = join(tempDir(t, "explore-openssl-advance"), "advance.yaml");
  const header = { seed: 1, path: "0", ca: "openssl", failing: { step: 0, label: "none", difference: "none" }, firstFailure: { generated: 0, executed: 0 }, shrunk: { steps: 0, shrinks: 0 }, fileName: "advance.yaml" };
  writeFileSync(file, scenarioYaml(scenario, steps, header));
  const run = await cardloop(t, ["run", "--ca", "openssl", file]);
  t.is(run.code, 1, run.stdout + run.stderr);
  t.regex(run.stdout, /CA target openssl keeps real time and cannot follow the scenario to /);
  t.regex(run.stdout, /0\/1 scenarios passed/);
});
