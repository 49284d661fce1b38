import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SeededRandom } from "../core/index.js";

/** Serials shaped like the CA's own (16 octets, positive, 0x40 bit set), deterministic per seed. */
export function benchSerials(n: number, seed: number): string[] {
  const r = new SeededRandom(seed);
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const b = r.bytes(16);
    b[0] = (b[0] & 0x7f) | 0x40;
    out[i] = Buffer.from(b).toString("hex");
  }
  return out;
}

/** `--name N` from the command line, or `fallback`. */
export function numberArg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

/**
 * User + system CPU seconds of a process, or of one of its threads (`thread`: its id; the main thread's is the
 * pid): /proc/<pid>[/task/<tid>]/stat fields 14 and 15, in Linux's 100 ticks a second. Throws once it is gone.
 */
export function cpuSeconds(pid: number, thread?: number): number {
  const stat = readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export function writeResult(name: string, data: Record<string, unknown>): void {
  const dir = join(import.meta.dirname, "results");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), JSON.stringify({ bench: name, node: process.version, ...data }, null, 2) + "\n");
}

/** Starts `cardloop ca serve` (the real CLI) on a free port; resolves with its printed base URL. */
export function spawnCaServer(dataDir: string, extra: string[] = []): Promise<{ url: string; child: ChildProcess }> {
  const root = join(import.meta.dirname, "..");
  return spawnPrintingUrl(process.execPath, [join(root, "bin/cardloop.js"), "ca", "serve", "--data", dataDir, "--port", "0", ...extra], root);
}

export function spawnPrintingUrl(cmd: string, args: string[], cwd: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(cmd, args, { cwd, stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d) => {
      out += d;
      const m = /^(http:\/\/\S+)$/m.exec(out);
      if (m) resolve({ url: m[1], child });
    });
    child.once("exit", (code) => reject(new Error(`${cmd} exited with ${code}`)));
  });
}

export function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}
