/**
 * `cardloop load revoke` against the three CAs it ships adapters for, and
 * against the instant test CA (a CA that answers at once from memory: the
 * load generator's own ceiling), from one run, side by side:
 *
 *   node --import=tsx bench/load-revoke.bench.ts [--count N] [--peer-count N]
 *
 * Each row is the real command (`node bin/cardloop.js load revoke ... --json`),
 * so the figures are what a user gets: the embedded CA served over HTTP in its
 * own process, OpenSSL's `openssl ca` and CFSSL's `cfssl serve` through their
 * adapters. Ratios: embedded against each peer (the same request shape), and
 * the generator against the instant CA over the embedded CA (goal >= 5x: the
 * load tool is not the bottleneck). Written to bench/results/load-revoke.json.
 *
 * The instant rows use the embedded rows' N (the same targets' count, so the
 * same CRL and map sizes) and run INSTANT_RUNS times: their revoke phase lasts
 * a fraction of a second, so one run is at the mercy of a GC or a CRL poll
 * landing inside it; the row's figures are the median run's (by revocations
 * per second), every run's figure is in the JSON. The instant CA runs inside
 * the load tool's process, so its own cost counts against the generator: the
 * headroom measured is a lower bound of the generator's.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runTool } from "../harness/processes.js";
import type { LoadSummaryData } from "../core/index.js";
import { ROOT } from "./timed-node.js";
import { numberArg, writeResult } from "./ca-bench-util.js";

const N = numberArg("--count", 100_000);
const PEER_N = numberArg("--peer-count", 1_000);
const INSTANT_RUNS = numberArg("--instant-runs", 5);

const work = mkdtempSync(join(tmpdir(), "cardloop-load-bench-"));
const instantConfig = join(work, "instant.yaml");
writeFileSync(instantConfig, "inner: instant\n");
const INSTANT = ["--ca", `module:${join(ROOT, "conformance/adapters/load-faults.ts")}`, "--ca-config", instantConfig];

interface Row {
  name: string;
  args: string[];
  /** Runs of this row; its figures are the median run's. */
  runs?: number;
}
const rows: Row[] = [
  { name: "embedded batch 1000", args: ["--ca", "embedded", "--prepare", String(N), "--batch", "1000"] },
  { name: "instant batch 1000", args: [...INSTANT, "--prepare", String(N), "--batch", "1000"], runs: INSTANT_RUNS },
  { name: "embedded single c64", args: ["--ca", "embedded", "--prepare", String(N / 2), "--concurrency", "64"] },
  { name: "instant single c64", args: [...INSTANT, "--prepare", String(N / 2), "--concurrency", "64"], runs: INSTANT_RUNS },
  // The peers revoke by operator (they have no cancellation codes) one serial per request: so does the embedded row below.
  { name: "embedded single c8 (peer shape)", args: ["--ca", "embedded", "--prepare", String(PEER_N), "--concurrency", "8"] },
  { name: "cfssl single c8", args: ["--ca", "cfssl", "--prepare", String(PEER_N), "--concurrency", "8"] },
  { name: "openssl single c8", args: ["--ca", "openssl", "--prepare", String(PEER_N), "--concurrency", "8"] },
];

interface Figures {
  exit: number;
  preparePerSecond: number;
  revokePerSecond: number;
  acknowledged: number;
  /** null: no samples (the summary's JSON writes a figure over no samples as null): printed n/a, never 0 ms. */
  p50Ms: number | null;
  p99Ms: number | null;
  ocspP99Ms: number | null;
  crlP99Ms: number | null;
  lost: number;
  wronglyRevoked: number;
  wrongReason: number;
  errors: Record<string, number>;
}

async function runRow(row: Row): Promise<Figures> {
  const out = join(work, row.name.replace(/\W+/g, "-"));
  const r = await runTool(process.execPath, [join(ROOT, "bin/cardloop.js"), "load", "revoke", ...row.args, "--quiet", "--json", "--out", out], {
    cwd: ROOT,
    timeoutMs: 20 * 60_000,
  });
  let s: LoadSummaryData;
  try {
    s = JSON.parse(r.stdout) as LoadSummaryData;
  } catch {
    throw new Error(`${row.name}: exit ${r.code}, no JSON summary: ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`);
  }
  return {
    exit: r.code ?? -1,
    preparePerSecond: Math.round(s.prepare.perSecond),
    revokePerSecond: Math.round(s.revoke.perSecond),
    acknowledged: s.revoke.acknowledged,
    p50Ms: s.revoke.latencyMs.p50,
    p99Ms: s.revoke.latencyMs.p99,
    ocspP99Ms: s.propagation.ocsp.p99,
    crlP99Ms: s.propagation.crl.p99,
    lost: s.completeness.lost.length,
    wronglyRevoked: s.completeness.wronglyRevoked.length,
    wrongReason: s.completeness.wrongReason.length,
    errors: s.revoke.errors,
  };
}

/** The row run `runs` times; the median run by revocations per second, and every run's figure. */
async function runMedian(row: Row): Promise<{ median: Figures; perSecond: number[] }> {
  const all: Figures[] = [];
  for (let i = 0; i < (row.runs ?? 1); i++) all.push(await runRow(row));
  const sorted = [...all].sort((a, b) => a.revokePerSecond - b.revokePerSecond);
  return { median: sorted[(sorted.length - 1) >> 1], perSecond: all.map((f) => f.revokePerSecond) };
}

const results: Record<string, Figures> = {};
const runsPerSecond: Record<string, number[]> = {};
/** The embedded row each instant row is the ceiling for. */
const EMBEDDED_OF: Record<string, string> = { "instant batch 1000": "embedded batch 1000", "instant single c64": "embedded single c64" };
try {
  for (const row of rows) {
    const { median: f, perSecond } = await runMedian(row);
    results[row.name] = f;
    if (perSecond.length > 1) runsPerSecond[row.name] = perSecond;
    const base = results[EMBEDDED_OF[row.name]];
    const vs = base && base.revokePerSecond > 0 ? `  = ${(f.revokePerSecond / base.revokePerSecond).toFixed(2)}x ${EMBEDDED_OF[row.name]} (runs ${perSecond.join(", ")}/s)` : "";
    console.log(
      `${row.name.padEnd(32)} exit ${f.exit}  prepare ${String(f.preparePerSecond).padStart(7)}/s  revoke ${String(f.revokePerSecond).padStart(8)}/s  ` +
        `p50 ${msOrNa(f.p50Ms, 1)}  p99 ${msOrNa(f.p99Ms, 1)}  ocsp p99 ${msOrNa(f.ocspP99Ms, 0)}  crl p99 ${msOrNa(f.crlP99Ms, 0)}  ` +
        `lost ${f.lost}  wrongly revoked ${f.wronglyRevoked}  wrong reason ${f.wrongReason}${vs}`,
    );
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const ratio = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 100) / 100 : null);
const r = (name: string) => results[name].revokePerSecond;
const ratios = {
  embeddedToCfssl: ratio(r("embedded single c8 (peer shape)"), r("cfssl single c8")),
  embeddedToOpenssl: ratio(r("embedded single c8 (peer shape)"), r("openssl single c8")),
  generatorHeadroomBatch: ratio(r("instant batch 1000"), r("embedded batch 1000")),
  generatorHeadroomSingle: ratio(r("instant single c64"), r("embedded single c64")),
};
console.log(
  `embedded / cfssl ${ratios.embeddedToCfssl}x, embedded / openssl ${ratios.embeddedToOpenssl}x (single requests, 8 in flight); ` +
    `generator headroom (instant CA / embedded CA): batches ${ratios.generatorHeadroomBatch}x, single ${ratios.generatorHeadroomSingle}x (goal >= 5x)`,
);
const goals = {
  batchedPerSecond: { goal: 100_000, actual: r("embedded batch 1000"), met: r("embedded batch 1000") >= 100_000 },
  singlePerSecond: { goal: 10_000, actual: r("embedded single c64"), met: r("embedded single c64") >= 10_000 },
  ocspP99AfterAckMs: { goal: 100, actual: results["embedded batch 1000"].ocspP99Ms, met: (results["embedded batch 1000"].ocspP99Ms ?? Infinity) <= 100 },
  generatorHeadroom: {
    goal: 5,
    batch: ratios.generatorHeadroomBatch,
    single: ratios.generatorHeadroomSingle,
    met: (ratios.generatorHeadroomBatch ?? 0) >= 5 && (ratios.generatorHeadroomSingle ?? 0) >= 5,
  },
};
const instant = {
  runs: INSTANT_RUNS,
  batchPerSecond: r("instant batch 1000"),
  singlePerSecond: r("instant single c64"),
  runsPerSecond,
};
writeResult("load-revoke", { count: N, peerCount: PEER_N, results, instant, ratios, goals });

/** A figure over no samples is null (n/a), never 0 ms. */
function msOrNa(v: number | null, digits: number): string {
  return typeof v === "number" && Number.isFinite(v) ? `${v.toFixed(digits)} ms` : "n/a";
}
