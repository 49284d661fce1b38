/**
 * The built command (bin/build.js) behaves as the sources do. The build goes
 * to a folder of its own, so dist/ is never pulled from under another test.
 */
import test from "ava";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..");
// inside the project, so that the build finds node_modules as dist/ does (.tmp-* is git-ignored)
const out = mkdtempSync(join(root, ".tmp-cli-build-"));
test.after.always(() => rmSync(out, { recursive: true, force: true }));

async function node(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, args, { cwd: root, timeout: 90_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const built = (async () => {
  const r = await node([join(root, "bin", "build.js"), "--out", out]);
  if (r.code !== 0) throw new Error(`bin/build.js failed: ${r.stderr}`);
})();

test.serial("the build runs: --version, and it records the sources it was made from", async (t) => {
  await built;
  const r = await node([join(out, "main.js"), "--version"]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, "0.1.0\n");
  const state = JSON.parse(readFileSync(join(out, "build.json"), "utf8")) as { builtAt: number; inputs: string[] };
  t.true(state.inputs.includes("cli/main.ts"));
  t.true(state.inputs.includes("simulator/ca/api.ts"));
  t.false(state.inputs.some((f) => f.startsWith("node_modules/")));
});

test.serial("files found next to a module's source (the scenario library, shipped policies) are found from the build", async (t) => {
  await built;
  const r = await node([join(out, "main.js"), "run", "scenarios/library/02-lost-card-holder-revokes.yaml", "--json"]);
  t.is(r.code, 0, r.stderr);
  t.is(JSON.parse(r.stdout).totals.failed, 0);
});

test.serial("a TypeScript adapter module run by the build shares the build's classes (CaError is judged by instanceof)", async (t) => {
  await built;
  const probe = join(out, "probe-adapter.ts");
  writeFileSync(
    probe,
    [
      `import { CaError } from "../simulator/ca/api.js";`,
      `import { UsageError } from "../core/index.js";`,
      `const built = await import(${JSON.stringify(join(out, "simulator-ca-api.js"))});`,
      `const core = await import(${JSON.stringify(join(out, "core-index.js"))});`,
      `process.stderr.write(\`same CaError: \${CaError === built.CaError}; same UsageError: \${UsageError === core.UsageError}\\n\`);`,
      `export function createAdapter() { throw new CaError(503, "probe", "the probe declines"); }`,
    ].join("\n"),
  );
  const r = await node([join(out, "main.js"), "certify", "--ca", `module:${probe}`, "--out", join(out, "report")]);
  t.is(r.code, 2);
  t.regex(r.stderr, /^same CaError: true; same UsageError: true\n/);
  t.regex(r.stderr, /could not be started or reached: the probe declines/);
});
