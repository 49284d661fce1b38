import { spawn, type ChildProcess } from "node:child_process";
import type { Socket } from "node:net";

/**
 * A keeper for an adapter's daemons and its temporary directory, so that they
 * go when this process goes, however it goes (SIGKILL included): a small
 * `node -e` process in a group of its own holds a stdin lifeline from us. We
 * tell it, a line each, the daemons we start ("+pid") and those that ended
 * ("-pid"); when the lifeline closes (we exited or were killed) it ends the
 * daemons' groups (SIGTERM, then SIGKILL) and removes the directory.
 * The CFSSL adapter's daemons restart (ocspserve on every OCSP refresh), so
 * one keeper watches many of them; a load test's served embedded CA
 * (conformance/load/embedded-target.ts) is one more.
 */

/** After SIGTERM, how long the keeper gives the daemons before SIGKILL, unless start() is told otherwise. */
const KEEPER_STOP_MS = 3_000;

const KEEPER = `
const { rmSync } = require("node:fs");
const dir = process.argv[1];
const stopPolls = Number(process.argv[2]);
const pids = new Set();
for (const s of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(s, () => {});
const signal = (pid, sig) => { try { process.kill(-pid, sig); } catch {} };
const alive = (pid) => { try { process.kill(-pid, 0); return true; } catch { return false; } };
let buf = "";
let ending = false;
const end = () => {
  if (ending) return;
  ending = true;
  for (const pid of pids) signal(pid, "SIGTERM");
  // A bounded number of 50 ms polls, not a deadline: the keeper reads no clock.
  let polls = stopPolls;
  const finish = () => {
    const left = [...pids].filter(alive);
    if (left.length && polls-- > 0) return void setTimeout(finish, 50);
    for (const pid of left) signal(pid, "SIGKILL");
    try { rmSync(dir, { recursive: true, force: true, maxRetries: 3 }); } catch {}
    process.exit(0);
  };
  finish();
};
process.stdin.on("data", (b) => {
  buf += b.toString("utf8");
  const lines = buf.split("\\n");
  buf = lines.pop();
  for (const l of lines) {
    const pid = Number(l.slice(1));
    if (!Number.isInteger(pid) || pid <= 0) continue;
    if (l[0] === "+") pids.add(pid); else pids.delete(pid);
  }
});
process.stdin.on("end", end).on("close", end).on("error", end).resume();
`;

export class Keeper {
  private constructor(private readonly child: ChildProcess) {}

  /** Starts a keeper for `dir` (removed when the lifeline closes, by end() or by our death); `stopMs`: SIGTERM to SIGKILL. */
  static start(dir: string, stopMs = KEEPER_STOP_MS): Keeper {
    const child = spawn(process.execPath, ["-e", KEEPER, dir, String(Math.ceil(stopMs / 50))], { stdio: ["pipe", "ignore", "ignore"], detached: true });
    // The lifeline is never meant to fail loudly: a keeper gone early is no error of this process.
    child.stdin!.on("error", () => undefined);
    child.on("error", () => undefined);
    // Neither the keeper nor its lifeline keeps this process alive.
    child.unref();
    (child.stdin as unknown as Socket).unref();
    return new Keeper(child);
  }

  /** The keeper's pid (tests look for it). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Watches a daemon started detached (its pid leads its group) until it exits. */
  watch(daemon: ChildProcess): void {
    const pid = daemon.pid;
    if (pid === undefined || !this.child.stdin!.writable) return;
    this.child.stdin!.write(`+${pid}\n`);
    daemon.once("exit", () => {
      if (this.child.stdin!.writable) this.child.stdin!.write(`-${pid}\n`);
    });
  }

  /** Normal close: the caller has stopped its daemons; the keeper ends what is left, removes the directory and exits. */
  end(): void {
    if (this.child.stdin!.writable) this.child.stdin!.end();
  }
}
