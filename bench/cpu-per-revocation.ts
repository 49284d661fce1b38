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
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { signalGroup } from "../harness/processes.js";
import { ROOT } from "./timed-node.js";

const args = process.argv.slice(2).length ? process.argv.slice(2) : ["--ca", "embedded", "--prepare", "50000", "--concurrency", "64"];
const HZ = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

/** utime + stime in clock ticks of /proc/PID/stat or /proc/PID/task/TID/stat; undefined once gone. */
function ticks(statPath: string): number | undefined {
  try {
    const fields = readFileSync(statPath, "utf8").split(") ")[1].split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
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
  const tool = ticks(`/proc/${child.pid}/stat`);
  if (tool === undefined) return;
  samples.push({ at: Date.now(), tool, ca: (ca && ticks(`/proc/${ca}/stat`)) || 0, caMain: (ca && ticks(`/proc/${ca}/task/${ca}/stat`)) || 0 });
}, 200);
try {
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  clearInterval(timer);
  const phases = readFileSync(join(out, "run.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { type: string; time: string; data: { phase?: string; state?: string; detail?: { acknowledged?: number } } })
    .filter((e) => e.type === "load.phase" && e.data.phase === "revoke");
  const started = phases.find((e) => e.data.state === "started");
  const finished = phases.find((e) => e.data.state === "finished");
  if (!started || !finished) throw new Error(`the run (exit ${code}) logged no finished revoke phase`);
  const acked = finished.data.detail?.acknowledged ?? 0;
  if (acked === 0) throw new Error("no revocation was acknowledged");
  const nearest = (t: number) => samples.reduce((best, s) => (Math.abs(s.at - t) < Math.abs(best.at - t) ? s : best));
  const a = nearest(Date.parse(started.time));
  const b = nearest(Date.parse(finished.time));
  const us = (k: keyof Sample) => Math.round((((b[k] - a[k]) / HZ) * 1e6) / acked);
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
