import { execFile, type ChildProcess } from "node:child_process";

/** What a finished child left: its exit code (-1 when killed by a signal), stdout and stderr. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Collects a spawned child's output until it closes. Attach before the child
 * can write much. A child still running after `timeoutMs` is killed and its
 * Run says so on stderr, with what it had printed: a hung child fails its
 * test with evidence instead of stalling the whole suite into ava's timeout.
 */
export function finished(child: ChildProcess, timeoutMs = 90000): Promise<Run> {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => (stdout += d));
  child.stderr?.on("data", (d) => (stderr += d));
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      stderr += `\n[test harness: pid ${child.pid} still running after ${timeoutMs} ms; killed]`;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/**
 * Runs a tool to completion, asynchronously: a test may be serving a card from
 * this very process, and a synchronous child would wait for it forever.
 */
export function runTool(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: opts.env, cwd: opts.cwd, encoding: "utf8", timeout: opts.timeoutMs ?? 30000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** True while a process with this pid exists (signal 0 only checks). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
