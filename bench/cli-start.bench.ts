/**
 * Start time of `cardloop --version` run from the build (dist/, what
 * bin/cardloop.js runs; target <= 150 ms), beside two peers measured in the
 * same run, interleaved so a noisy neighbour hurts every figure alike: a bare
 * `node -e ''` (the floor any CLI pays) and the same command run through tsx
 * (how bin/cardloop.js ran before the build, and what it falls back to while
 * dist/ is stale). Builds into a temporary folder first, so it measures the
 * sources as they are and leaves dist/ alone.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { percentile } from "../core/index.js";
import { writeResult } from "./ca-bench-util.js";

const ROOT = resolve(import.meta.dirname, "..");
const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const TARGET_MS = 150;

function timed(args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: "utf8" });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`node ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return ms;
}

const median = (xs: number[]) => percentile(xs, 50);
const summary = (xs: number[]) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });

// inside the project, so that the build finds node_modules as dist/ does (.tmp-* is git-ignored)
const out = mkdtempSync(join(ROOT, ".tmp-cli-start-"));
try {
  const buildStart = performance.now();
  timed([join(ROOT, "bin", "build.js"), "--out", out]);
  const buildMs = performance.now() - buildStart;

  const peers = {
    bareNode: ["-e", ""],
    built: [join(out, "main.js"), "--version"],
    tsx: ["--import=tsx", join(ROOT, "cli", "main.ts"), "--version"],
  };
  const times: Record<keyof typeof peers, number[]> = { bareNode: [], built: [], tsx: [] };
  for (const args of Object.values(peers)) timed(args); // warm the file cache (and tsx's transform cache)
  for (let i = 0; i < RUNS; i++) for (const [name, args] of Object.entries(peers)) times[name as keyof typeof peers].push(timed(args));

  const built = summary(times.built);
  const result = {
    runs: RUNS,
    buildMs,
    builtVersionMs: built,
    targetMs: TARGET_MS,
    withinTarget: built.median <= TARGET_MS,
    peers: { bareNodeMs: summary(times.bareNode), tsxVersionMs: summary(times.tsx) },
    ratios: {
      builtOverBareNode: built.median / median(times.bareNode),
      tsxOverBareNode: median(times.tsx) / median(times.bareNode),
      tsxOverBuilt: median(times.tsx) / built.median,
      // what the build saves on every command, `demo` included
      savedMs: median(times.tsx) - built.median,
    },
  };
  writeResult("cli-start", result);
  const f = (ms: number) => `${ms.toFixed(0)} ms`;
  console.log(`cardloop --version, built: ${f(built.median)} median of ${RUNS} (target ${f(TARGET_MS)}: ${result.withinTarget ? "met" : "MISSED"}); build took ${f(buildMs)}`);
  console.log(
    `peers: node -e '' ${f(median(times.bareNode))} (built = ${result.ratios.builtOverBareNode.toFixed(2)}x), ` +
      `through tsx ${f(median(times.tsx))} (${result.ratios.tsxOverBareNode.toFixed(1)}x node, ${result.ratios.tsxOverBuilt.toFixed(1)}x built; the build saves ${f(result.ratios.savedMs)} a command)`,
  );
} finally {
  rmSync(out, { recursive: true, force: true });
}
