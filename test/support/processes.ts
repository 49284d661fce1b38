import { execFile, type ChildProcess } from "node:child_process";

/** What a finished child left: its exit code (-1 when killed by a signal), stdout and stderr. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Collects a spawned child's output until it closes. Attach before the child can write much. */
export function finished(child: ChildProcess): Promise<Run> {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => (stdout += d));
  child.stderr?.on("data", (d) => (stderr += d));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr })));
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
