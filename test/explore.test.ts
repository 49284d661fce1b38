import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import test, { type ExecutionContext } from "ava";
import fc from "fast-check";
import { UsageError } from "../core/index.js";
import { parseExploreOptions } from "../cli/explore.js";
import { spawnGroup, tempDir } from "../harness/processes.js";

const ROOT = resolve(import.meta.dirname, "..");
const BIN = join(ROOT, "bin", "cardloop.js");
const FORGETFUL = "module:test/fixtures/forgetful-ca.ts";
/**
 * A seed whose first failing lifecycle against the forgetful CA ran 146 steps
 * (196 commands generated) before the forgotten revocation showed, shrunk to
 * 4 steps (measured; the fixture's fault needs issue, lose, the holder's
 * revocation, then a use, in that order).
 */
const SEED = "1";

async function cardloop(t: ExecutionContext, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const g = spawnGroup(t, process.execPath, [BIN, ...args], { cwd: ROOT, deadlineMs: 120_000 });
  const exit = await g.wait();
  return { code: exit.code, stdout: g.stdout, stderr: g.stderr };
}

test("explore finds the CA that forgets to revoke a lost card's signature certificate, shrinks it, and the scenario replays the failure; same seed, same bytes", async (t) => {
  t.timeout(180_000);
  const dir = tempDir(t, "explore");
  const first = join(dir, "a", "found.yaml");
  const second = join(dir, "b", "found.yaml");
  const [a, b] = await Promise.all([
    cardloop(t, ["explore", "--ca", FORGETFUL, "--seed", SEED, "--steps", "200", "--out", first, "--json"]),
    cardloop(t, ["explore", "--ca", FORGETFUL, "--seed", SEED, "--steps", "200", "--out", second]),
  ]);
  t.is(a.code, 1, a.stdout + a.stderr);
  t.is(b.code, 1, b.stdout + b.stderr);
  const found = JSON.parse(a.stdout);
  t.log(`first failing lifecycle: ${found.firstFailure.generated} generated, ${found.firstFailure.executed} run; shrunk to ${found.shrunk.steps} steps in ${found.shrunk.shrinks} shrinks`);
  t.true(found.found);
  t.true(found.firstFailure.executed >= 100, `the first failing lifecycle ran ${found.firstFailure.executed} steps`);
  t.true(found.firstFailure.generated >= found.firstFailure.executed);
  t.true(found.shrunk.steps <= 10, `shrunk to ${found.shrunk.steps} steps`);
  // The shrunk failure is the fault itself: the holder's revocation of the lost card, then a use that shows the signature certificate still good.
  const yaml = readFileSync(first, "utf8");
  t.regex(yaml, /- lose-card: \{ card: (ana|ben)-card \}/);
  t.regex(yaml, /- revoke: \{ card: (ana|ben)-card, role: holder, code: correct, reason: keyCompromise \}/);
  t.regex(yaml, new RegExp(`^# seed ${SEED}, counterexample path "${found.path}"`, "m"));
  t.regex(yaml, /^# replay: cardloop run --ca module:test\/fixtures\/forgetful-ca\.ts found\.yaml$/m);
  t.regex(b.stdout, new RegExp(`^scenario: .*found\\.yaml$`, "m"));
  t.is(readFileSync(second, "utf8"), yaml, "the same seed wrote the same scenario, byte for byte");

  const run = await cardloop(t, ["run", "--ca", FORGETFUL, first]);
  t.is(run.code, 1, run.stdout + run.stderr);
  const failing = `step ${found.failing.step} ${found.failing.action} "${found.failing.label}": ${found.failing.difference}`;
  t.true(run.stdout.includes(failing), `expected "${failing}" in:\n${run.stdout}`);
  t.regex(run.stdout, /0\/1 scenarios passed/);

  // The scenario holds against the good CA: the model's predictions are the policy's.
  const good = await cardloop(t, ["run", first]);
  t.is(good.code, 0, good.stdout + good.stderr);
});

test("explore against the good embedded CA finds nothing, whatever the seed and policy", async (t) => {
  t.timeout(180_000);
  const runs = await Promise.all(
    [["11"], ["12"], ["13"], ["14", "--policy", "ocsp"]].map(([seed, ...policy]) =>
      cardloop(t, ["explore", "--ca", "embedded", "--seed", seed, ...policy, "--runs", "4", "--steps", "200", "--json"]),
    ),
  );
  for (const r of runs) {
    t.is(r.code, 0, r.stdout + r.stderr);
    const out = JSON.parse(r.stdout);
    t.false(out.found);
    t.is(out.runs, 4);
    t.true(out.stepsRun > 100, `${out.stepsRun} steps run`);
  }
});

test("explore: unusable input is one line and exit 2, before anything runs", async (t) => {
  const dir = tempDir(t, "explore-usage");
  const cases: [string[], RegExp][] = [
    [["explore", "--ca", "embedded", "--seed", "x1"], /^cardloop: --seed must be a whole number, got "x1"\n$/],
    [["explore", "--ca", "embedded", "--runs", "0"], /^cardloop: --runs must be between 1 and 100000, got 0\n$/],
    [["explore", "--ca", "embedded", "--policy", "strictest"], /^cardloop: no shipped policy named "strictest" \(give a path to a policy file, or one of: default, ocsp\)\n$/],
    [["explore", "--ca", "nowhere", "--seed", "1", "--out", join(dir, "x.yaml")], /^cardloop: .*unknown CA target "nowhere".*\n$/],
    [["explore", "--ca", "module:test/fixtures/no-such-ca.ts", "--seed", "1", "--out", join(dir, "x.yaml")], /^cardloop: .*cannot load adapter module test\/fixtures\/no-such-ca\.ts.*\n$/],
  ];
  for (const [args, stderr] of cases) {
    const r = await cardloop(t, args);
    t.is(r.code, 2, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
    t.regex(r.stderr, stderr);
  }
  t.false(existsSync(join(dir, "x.yaml")));
});

test("explore's options: any text gives options or a UsageError, never another error", (t) => {
  const text = fc.option(fc.oneof(fc.string({ maxLength: 12 }), fc.nat().map(String), fc.constant("")), { nil: undefined });
  fc.assert(
    fc.property(fc.record({ ca: text, policy: text, seed: text, runs: text, steps: text, out: text, json: fc.boolean() }), (raw) => {
      try {
        const o = parseExploreOptions(raw, () => 7);
        t.true(Number.isInteger(o.seed) && o.runs >= 1 && o.steps >= 1 && o.out.length > 0);
      } catch (err) {
        t.true(err instanceof UsageError, String(err));
      }
    }),
    { numRuns: 500 },
  );
  t.deepEqual(parseExploreOptions({ ca: "embedded" }, () => 7), { ca: "embedded", policy: "default", seed: 7, runs: 20, steps: 200, out: "explore-7.yaml", json: false });
});
