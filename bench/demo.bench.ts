/**
 * Wall time of `cardloop demo` (the whole scenario library on the embedded
 * defaults, reports included; target <= 3 s), beside two peers measured in
 * the same run: a bare `node -e ''` start (the floor any CLI pays) and
 * `cardloop --version` (the command's own start: node, the build in dist/
 * or tsx when it is stale, commander and core; bench/cli-start.bench.ts).
 * The demo's own report gives the third figure: the sum of the scenarios'
 * wall times, i.e. the lifecycle work itself.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { percentile } from "../core/index.js";

const ROOT = resolve(import.meta.dirname, "..");
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const TARGET_MS = 3000;

function timed(args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: "utf8" });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return ms;
}

const median = (xs: number[]) => percentile(xs, 50);

const out = mkdtempSync(join(tmpdir(), "cardloop-demo-bench-"));
const cli = join(ROOT, "bin", "cardloop.js");
timed([cli, "demo", "--out", out]); // warm the file cache (and tsx's transform cache)
const demo: number[] = [];
const bareNode: number[] = [];
const cliStart: number[] = [];
const scenarioSum: number[] = [];
for (let i = 0; i < RUNS; i++) {
  // Interleaved, so a noisy neighbour hurts every figure alike.
  bareNode.push(timed(["-e", ""]));
  cliStart.push(timed([cli, "--version"]));
  demo.push(timed([cli, "demo", "--out", out]));
  const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8")) as { runs: { wallMs?: number }[]; totals: { steps: number; apdus: number } };
  scenarioSum.push(report.runs.reduce((s, r) => s + (r.wallMs ?? 0), 0));
}
const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8")) as { totals: { runs: number; steps: number; apdus: number } };
rmSync(out, { recursive: true, force: true });

const result = {
  benchmark: "demo",
  runs: RUNS,
  library: report.totals,
  demoWallMs: { median: median(demo), min: Math.min(...demo), max: Math.max(...demo), all: demo },
  targetMs: TARGET_MS,
  withinTarget: median(demo) <= TARGET_MS,
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
