/**
 * Wall time of `cardloop demo` (the whole scenario library on the embedded
 * defaults, reports included; target <= 3 s), beside two peers measured in
 * the same run: a bare `node -e ''` start (the floor any CLI pays) and
 * `cardloop --version` (the command's own start: node, the build in dist/,
 * commander and core; bench/cli-start.bench.ts).
 * The demo's own report gives the third figure: the sum of the scenarios'
 * wall times, i.e. the lifecycle work itself. It times the build, so it
 * refuses to run while dist/ is missing or stale (tsx would be timed instead).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { percentile, summarise } from "../core/index.js";
import { buildIsCurrent } from "../bin/build-state.js";
import { ROOT, timedNode } from "./timed-node.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const TARGET_MS = 3000;

const median = (xs: number[]) => percentile(xs, 50);

if (!buildIsCurrent(ROOT)) {
  console.error("bench/demo: dist/ is missing or older than the sources; run `node bin/build.js` (or `make setup`) first");
  process.exit(1);
}

const out = mkdtempSync(join(tmpdir(), "cardloop-demo-bench-"));
const cli = join(ROOT, "bin", "cardloop.js");
timedNode([cli, "demo", "--out", out]); // warm the file cache
const demo: number[] = [];
const bareNode: number[] = [];
const cliStart: number[] = [];
const scenarioSum: number[] = [];
for (let i = 0; i < RUNS; i++) {
  // Interleaved, so a noisy neighbour hurts every figure alike.
  bareNode.push(timedNode(["-e", ""]));
  cliStart.push(timedNode([cli, "--version"]));
  demo.push(timedNode([cli, "demo", "--out", out]));
  const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8")) as { runs: { wallMs?: number }[]; totals: { steps: number; apdus: number } };
  scenarioSum.push(report.runs.reduce((s, r) => s + (r.wallMs ?? 0), 0));
}
const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8")) as { totals: { runs: number; steps: number; apdus: number } };
rmSync(out, { recursive: true, force: true });

const demoWall = summarise(demo);
const result = {
  benchmark: "demo",
  runs: RUNS,
  library: report.totals,
  demoWallMs: { median: demoWall.p50Ms, min: demoWall.minMs, max: demoWall.maxMs, all: demo },
  targetMs: TARGET_MS,
  withinTarget: demoWall.p50Ms <= TARGET_MS,
  peers: {
    bareNodeStartMs: median(bareNode),
    cliStartMs: median(cliStart),
    scenarioWallSumMs: median(scenarioSum),
  },
  ratios: {
    demoOverBareNode: median(demo) / median(bareNode),
    demoOverCliStart: median(demo) / median(cliStart),
    scenarioShareOfDemo: median(scenarioSum) / median(demo),
  },
};
mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
writeFileSync(join(ROOT, "bench", "results", "demo.json"), JSON.stringify(result, null, 2) + "\n");
const f = (ms: number) => `${ms.toFixed(0)} ms`;
console.log(
  `cardloop demo: ${f(result.demoWallMs.median)} median of ${RUNS} (target ${f(TARGET_MS)}: ${result.withinTarget ? "met" : "MISSED"}); ` +
    `${report.totals.runs} scenarios, ${report.totals.steps} steps, ${report.totals.apdus} APDUs`,
);
console.log(
  `peers: node -e '' ${f(result.peers.bareNodeStartMs)} (demo = ${result.ratios.demoOverBareNode.toFixed(1)}x), ` +
    `cardloop --version ${f(result.peers.cliStartMs)} (demo = ${result.ratios.demoOverCliStart.toFixed(2)}x), ` +
    `scenario work ${f(result.peers.scenarioWallSumMs)} (${(result.ratios.scenarioShareOfDemo * 100).toFixed(0)}% of the demo)`,
);
