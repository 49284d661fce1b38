import type { ExecutionContext } from "ava";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { HttpLimits } from "../../simulator/ca/http-limits.js";

/**
 * Starts test/abuse/serve-ca.ts in its own process group (detached) and kills
 * the whole group in the test's teardown, also on failure. Bounded: every
 * wait here is a bounded number of polls.
 */
export interface ServedCa {
  url: string;
  /** The CA's data directory (ca.db can be read alongside: WAL readers do not block it). */
  dataDir: string;
  pid: number;
  child: ChildProcess;
  operatorToken: string;
  raToken: string;
  /** Every line it printed after the URL (events, command answers). */
  lines: string[];
  /** Sends a control command (full, space, readonly, writable) and waits for its "ok". */
  send(command: string): Promise<void>;
  /** Polls (50 ms apart, at most `polls`) until `done`; returns whether it held. */
  until(done: () => boolean, polls?: number): Promise<boolean>;
  alive(): boolean;
  /** VmRSS and VmHWM of the server process, in KiB (Linux /proc). */
  memory(): { rssKb: number; hwmKb: number };
  /** Resets the process's peak RSS (VmHWM) to its current RSS (echo 5 > /proc/PID/clear_refs); false if not allowed. */
  resetPeak(): boolean;
}

const HARNESS = join(import.meta.dirname, "serve-ca.ts");

export async function serveCa(t: ExecutionContext, limits: Partial<HttpLimits> = {}, env: Record<string, string> = {}): Promise<ServedCa> {
  const dir = mkdtempSync(join(tmpdir(), "cardloop-abuse-"));
  const operatorToken = randomBytes(32).toString("base64url");
  const raToken = randomBytes(32).toString("base64url");
  const child = spawn(process.execPath, ["--import=tsx", HARNESS, join(dir, "ca"), JSON.stringify(limits)], {
    detached: true,
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, ...env, CA_OPERATOR_TOKEN: operatorToken, CA_RA_TOKEN: raToken },
  });
  let exited = false;
  child.once("exit", () => (exited = true));
  t.teardown(() => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const lines: string[] = [];
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const url = await new Promise<string>((resolve, reject) => {
    let buffered = "";
    let url: string | undefined;
    child.stdout!.on("data", (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (url === undefined && /^http:\/\/\S+$/.test(line)) resolve((url = line));
        else lines.push(line);
      }
    });
    child.once("exit", (code) => reject(new Error(`the CA exited (${code}) before printing its URL: ${stderr}`)));
  });
  const until = async (done: () => boolean, polls = 200) => {
    for (let i = 0; i < polls && !done(); i++) await new Promise((r) => setTimeout(r, 50));
    return done();
  };
  const status = () => readFileSync(`/proc/${child.pid}/status`, "utf8");
  const kb = (text: string, field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN);
  return {
    url,
    dataDir: join(dir, "ca"),
    pid: child.pid!,
    child,
    operatorToken,
    raToken,
    lines,
    async send(command) {
      const before = lines.length;
      child.stdin!.write(`${command}\n`);
      if (!(await until(() => lines.slice(before).includes(`ok ${command}`)))) throw new Error(`the CA did not take "${command}"`);
    },
    until,
    alive: () => !exited,
    memory() {
      const s = status();
      return { rssKb: kb(s, "VmRSS"), hwmKb: kb(s, "VmHWM") };
    },
    resetPeak() {
      try {
        writeFileSync(`/proc/${child.pid}/clear_refs`, "5");
        return true;
      } catch {
        return false;
      }
    },
  };
}
