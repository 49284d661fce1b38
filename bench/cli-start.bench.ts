/**
 * Start time of `cardloop --version` as a user runs it: bin/cardloop.js with
 * a current build in dist/ (target <= 150 ms), beside two peers measured in
 * the same run, interleaved so a noisy neighbour hurts every figure alike: a
 * bare `node -e ''` (the floor any CLI pays) and the same command run through
 * tsx (how bin/cardloop.js ran before the build, and what it falls back to
 * while dist/ is stale). Rebuilds dist/ first, as `make setup` does, so it
 * measures the sources as they are; a build that is not current before and
 * after the runs (a source edited meanwhile) fails the benchmark, since the
 * command would have timed tsx instead.
 */
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { summarise } from "../core/index.js";
import { buildIsCurrent } from "../bin/build-state.js";
import { ROOT, timedNode } from "./timed-node.js";
import { writeResult } from "./ca-bench-util.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const TARGET_MS = 150;

/** The figures this benchmark has always written: core's summary under their JSON names. */
function summary(xs: number[]): { median: number; min: number; max: number } {
  const s = summarise(xs);
  return { median: s.p50Ms, min: s.minMs, max: s.maxMs };
}

function requireCurrentBuild(when: string): void {
  if (!buildIsCurrent(ROOT)) throw new Error(`dist/ is not current ${when} (a source changed?): bin/cardloop.js would run tsx, not the build`);
}

const buildStart = performance.now();
timedNode([join(ROOT, "bin", "build.js")]);
const buildMs = performance.now() - buildStart;
requireCurrentBuild("after the build");

const peers = {
  bareNode: ["-e", ""],
  built: [join(ROOT, "bin", "cardloop.js"), "--version"],
  tsx: ["--import=tsx", join(ROOT, "cli", "main.ts"), "--version"],
};
const times: Record<keyof typeof peers, number[]> = { bareNode: [], built: [], tsx: [] };
for (const args of Object.values(peers)) timedNode(args); // warm the file cache (and tsx's transform cache)
for (let i = 0; i < RUNS; i++) for (const [name, args] of Object.entries(peers)) times[name as keyof typeof peers].push(timedNode(args));
requireCurrentBuild("after the runs");

const built = summary(times.built);
const bareNode = summary(times.bareNode);
const tsx = summary(times.tsx);
const result = {
  runs: RUNS,
  buildMs,
  builtVersionMs: built,
  targetMs: TARGET_MS,
  withinTarget: built.median <= TARGET_MS,
  peers: { bareNodeMs: bareNode, tsxVersionMs: tsx },
  ratios: {
    builtOverBareNode: built.median / bareNode.median,
    tsxOverBareNode: tsx.median / bareNode.median,
    tsxOverBuilt: tsx.median / built.median,
    // what the build saves on every command, `demo` included
    savedMs: tsx.median - built.median,
  },
};
writeResult("cli-start", result);
const f = (ms: number) => `${ms.toFixed(0)} ms`;
console.log(`cardloop --version, built: ${f(built.median)} median of ${RUNS} (target ${f(TARGET_MS)}: ${result.withinTarget ? "met" : "MISSED"}); build took ${f(buildMs)}`);
console.log(
  `peers: node -e '' ${f(bareNode.median)} (built = ${result.ratios.builtOverBareNode.toFixed(2)}x), ` +
    `through tsx ${f(tsx.median)} (${result.ratios.tsxOverBareNode.toFixed(1)}x node, ${result.ratios.tsxOverBuilt.toFixed(1)}x built; the build saves ${f(result.ratios.savedMs)} a command)`,
);
