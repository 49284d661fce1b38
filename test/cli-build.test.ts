/**
 * The built command (bin/build.js) behaves as the sources do. The build goes
 * to a folder of its own, so dist/ is never pulled from under another test.
 */
import test from "ava";
import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { buildIsCurrent, writeBuildState } from "../bin/build-state.js";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..");
const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
// inside the project, so that the build finds node_modules as dist/ does (.tmp-* is git-ignored)
const out = mkdtempSync(join(root, ".tmp-cli-build-"));
// a project root of its own for bin/cardloop.js, so that dist/ is never touched (also inside, for node_modules)
const home = mkdtempSync(join(root, ".tmp-cli-build-home-"));
test.after.always(() => {
  rmSync(out, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});

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
  t.is(r.stdout, `${version}\n`);
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

/** Sets a file's modification time `ms` from now. */
function touch(file: string, ms: number): void {
  const at = new Date(Date.now() + ms);
  utimesSync(file, at, at);
}

test.serial("a fresh build is current; one input touched after it, or deleted, makes it stale", async (t) => {
  await built;
  t.true(buildIsCurrent(root, out), "the build just made is current");
  // A tree of its own to touch and delete in: the project's sources are left alone.
  const tree = mkdtempSync(join(home, "tree-"));
  const dist = join(tree, "dist");
  mkdirSync(join(tree, "src"));
  mkdirSync(dist);
  const inputs = ["src/a.ts", "src/b.ts"];
  for (const f of inputs) {
    writeFileSync(join(tree, f), "export {};\n");
    touch(join(tree, f), -60_000);
  }
  writeBuildState(dist, { builtAt: Date.now(), inputs });
  t.true(buildIsCurrent(tree), "dist/ beside the sources is the default");
  t.true(buildIsCurrent(tree, dist));
  touch(join(tree, "src/b.ts"), 60_000);
  t.false(buildIsCurrent(tree), "an input newer than the build");
  touch(join(tree, "src/b.ts"), -60_000);
  t.true(buildIsCurrent(tree));
  rmSync(join(tree, "src/a.ts"));
  t.false(buildIsCurrent(tree), "an input gone");
  t.false(buildIsCurrent(join(tree, "src")), "no build at all");
});

test.serial("bin/cardloop.js runs a current build, and the sources through tsx once an input is newer: the command still answers", async (t) => {
  // A root holding the command, a stand-in build that says who answered, and the real sources for tsx.
  mkdirSync(join(home, "bin"));
  for (const f of ["cardloop.js", "build-state.js"]) copyFileSync(join(root, "bin", f), join(home, "bin", f));
  symlinkSync(join(root, "cli"), join(home, "cli"));
  mkdirSync(join(home, "dist"));
  writeFileSync(join(home, "dist", "main.js"), 'process.stdout.write("the build answered\\n");\n');
  const input = join(home, "input.ts");
  writeFileSync(input, "export {};\n");
  touch(input, -60_000);
  writeBuildState(join(home, "dist"), { builtAt: Date.now(), inputs: ["input.ts"] });
  const command = join(home, "bin", "cardloop.js");

  const current = await node([command, "--version"]);
  t.is(current.code, 0, current.stderr);
  t.is(current.stdout, "the build answered\n");

  touch(input, 60_000);
  const stale = await node([command, "--version"]);
  t.is(stale.code, 0, stale.stderr);
  t.is(stale.stdout, `${version}\n`, "the sources answered, through tsx");
});
