/**
 * Where a `cardloop load revoke` run's CPU goes, per acknowledged revocation: the load tool's process, the served
 * embedded CA's process (every thread: the CRL worker, libuv's fsyncs, V8's helpers) and the CA's main thread alone
 * (the one that serves HTTP and commits: the single-request figure's limit). Linux only (/proc).
 *
 *   node --import=tsx bench/cpu-per-revocation.ts [load revoke options]
 *   (default: --ca embedded --prepare 50000 --concurrency 64)
 *
 * A diagnostic, not a benchmark: it compares nothing with a peer and writes nothing under bench/results/. The CPU
 * counters are sampled every 200 ms; the window is the run log's revoke phase (started to finished), so the prepare
 * and verify phases are not counted. Build first (`node bin/build.js`): the run is the real CLI.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseRunLog, type EventMap } from "../core/index.js";
import { signalGroup } from "../harness/processes.js";
import { cpuSeconds } from "./ca-bench-util.js";
import { ROOT } from "./timed-node.js";

const args = process.argv.slice(2).length ? process.argv.slice(2) : ["--ca", "embedded", "--prepare", "50000", "--concurrency", "64"];

/** CPU seconds, or 0 for a process not (or no longer) there. */
function cpuOrZero(pid: number | undefined, thread?: number): number {
  try {
    return pid === undefined ? 0 : cpuSeconds(pid, thread);
  } catch {
    return 0;
  }
}

/** The `ca serve` child of `parent`, if it runs. */
function servedCa(parent: number): number | undefined {
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const ppid = Number(readFileSync(`/proc/${name}/stat`, "utf8").split(") ")[1].split(" ")[1]);
      if (ppid === parent && readFileSync(`/proc/${name}/cmdline`, "utf8").includes("\0ca\0serve\0")) return Number(name);
    } catch {
      // gone between readdir and read
    }
  }
  return undefined;
}

interface Sample {
  at: number;
  tool: number;
  ca: number;
  caMain: number;
}

const out = mkdtempSync(join(tmpdir(), "cardloop-cpu-"));
const child = spawn(process.execPath, [join(ROOT, "bin/cardloop.js"), "load", "revoke", ...args, "--quiet", "--json", "--out", out], {
  cwd: ROOT,
  stdio: ["ignore", "pipe", "inherit"],
  detached: true,
});
const samples: Sample[] = [];
let stdout = "";
child.stdout!.on("data", (d) => (stdout += d));
let ca: number | undefined;
const timer = setInterval(() => {
  ca ??= servedCa(child.pid!);
  const tool = cpuOrZero(child.pid);
  if (tool === 0) return;
  samples.push({ at: Date.now(), tool, ca: cpuOrZero(ca), caMain: cpuOrZero(ca, ca) });
}, 200);
try {
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  clearInterval(timer);
  const phases = parseRunLog(readFileSync(join(out, "run.jsonl"), "utf8")).filter(
    (e): e is typeof e & { data: EventMap["load.phase"] } => e.type === "load.phase" && (e.data as EventMap["load.phase"]).phase === "revoke",
  );
  const started = phases.find((e) => e.data.state === "started");
  const finished = phases.find((e) => e.data.state === "finished");
  if (!started || !finished) throw new Error(`the run (exit ${code}) logged no finished revoke phase`);
  const acked = Number(finished.data.detail?.acknowledged ?? 0);
  if (acked === 0) throw new Error("no revocation was acknowledged");
  const nearest = (t: number) => samples.reduce((best, s) => (Math.abs(s.at - t) < Math.abs(best.at - t) ? s : best));
  const a = nearest(Date.parse(started.time));
  const b = nearest(Date.parse(finished.time));
  const us = (k: keyof Sample) => Math.round(((b[k] - a[k]) * 1e6) / acked);
  const summary = JSON.parse(stdout) as { revoke: { perSecond: number } };
  console.log(
    `revoke ${Math.round(summary.revoke.perSecond)}/s (${acked} acknowledged, ${((b.at - a.at) / 1000).toFixed(1)} s); CPU per revocation: ` +
      `load tool ${us("tool")} us, CA ${ca ? `${us("ca")} us (main thread ${us("caMain")} us)` : "n/a (no served CA: not --ca embedded)"}`,
  );
  process.exitCode = code ?? 1;
} finally {
  clearInterval(timer);
  signalGroup(child.pid, "SIGKILL");
  rmSync(out, { recursive: true, force: true });
}
