import type { ExecutionContext, TestFn } from "ava";
import { join, resolve } from "node:path";
import { spawnGroup, type Owner, type Run } from "../../harness/processes.js";

/**
 * The processes the validator's tests run: `cardloop` as a user runs it
 * (`node bin/cardloop.js ...`) and the real `openssl`. Each runs in a process
 * group of its own (harness/processes.ts) with a deadline, and is stopped with
 * its group as soon as it has ended, or when its test ends however it ends: no
 * child outlives the test, and a hung one fails the test with what it printed.
 */

export const ROOT = resolve(import.meta.dirname, "..", "..");
export const CARDLOOP_BIN = join(ROOT, "bin", "cardloop.js");

/** How long one openssl run may take before its group is stopped and the test fails. */
export const OPENSSL_DEADLINE_MS = 30_000;

async function runGroup(owner: Owner, command: string, args: string[], opts: { cwd?: string; label: string; deadlineMs?: number }): Promise<Run> {
  const g = spawnGroup(owner, command, args, { cwd: opts.cwd, label: opts.label, deadlineMs: opts.deadlineMs });
  try {
    const exit = await g.wait();
    return { code: exit.code ?? -1, stdout: g.stdout, stderr: g.stderr };
  } finally {
    // Now rather than at teardown: whatever the leader left in its group goes while its group id is still its own.
    await g.stop();
  }
}

/** `node bin/cardloop.js ARGS`: its exit code (-1 when a signal ended it), stdout and stderr. */
export function runCardloop(owner: Owner, args: string[], opts: { cwd?: string } = {}): Promise<Run> {
  return runGroup(owner, process.execPath, [CARDLOOP_BIN, ...args], { cwd: opts.cwd, label: `cardloop ${args.slice(0, 2).join(" ")}` });
}

/**
 * `bash -c SCRIPT` with `$1` the node binary and `$2` bin/cardloop.js (so the script needs no quoting
 * of its own): for what needs a shell around cardloop, a pipe or a redirection.
 */
export function runCardloopShell(owner: Owner, script: string, opts: { cwd?: string } = {}): Promise<Run> {
  return runGroup(owner, "bash", ["-c", script, "bash", process.execPath, CARDLOOP_BIN], { cwd: opts.cwd, label: `bash -c ${script.slice(0, 60)}` });
}

/** `openssl ARGS`, stopped after `deadlineMs` (the returned promise then rejects with what it printed). */
export function runOpenssl(owner: Owner, args: string[], deadlineMs = OPENSSL_DEADLINE_MS): Promise<Run> {
  return runGroup(owner, "openssl", args, { label: `openssl ${args.slice(0, 1).join(" ")}`, deadlineMs });
}

/** The test every openssl differential starts with: the real OpenSSL 3 is on PATH. */
export async function opensslInstalled(t: ExecutionContext): Promise<void> {
  const r = await runOpenssl(t, ["version"]);
  t.is(r.code, 0, `openssl must be on PATH: ${r.stderr}`);
  t.regex(r.stdout, /^OpenSSL 3\./);
  t.log(r.stdout.trim());
}

/**
 * An Owner for what a whole test file shares (fixtures written once, before its tests):
 * its teardowns run, last registered first, after the file's last test, pass or fail;
 * `ended` resolves then (ava runs after-hooks concurrently: a hook that checks the
 * teardowns' work awaits it). ava allows no t.teardown in hooks; harness/processes.ts's
 * reaper still covers a worker that is ended first.
 */
export function fileOwner(test: TestFn): Owner & { ended: Promise<void> } {
  const teardowns: Array<() => Promise<void> | void> = [];
  let markEnded!: () => void;
  const ended = new Promise<void>((resolve) => (markEnded = resolve));
  test.after.always("remove the file's shared fixtures", async () => {
    try {
      for (const fn of teardowns.reverse()) await fn();
    } finally {
      markEnded();
    }
  });
  return { teardown: (fn) => void teardowns.push(fn), ended };
}
