/**
 * Test harness for the real PC/SC stack: a private pcscd (foreground, in the
 * background, stopped by PID) with vsmartcard's vpcd driver, and loopback
 * TCP quickack for the run.
 *
 * Isolation: pcscd 1.9 ignores PCSCLITE_CSOCK_NAME, so when we may create a
 * mount namespace (root with CAP_SYS_ADMIN) pcscd runs in one where a private
 * directory is bind-mounted on /run/pcscd: its socket and pid file land in our
 * temp dir and never clash with a system pcscd. Its reader config is ours too,
 * with vpcd on free ports instead of 35963/35964. Clients (this process,
 * opensc-tool, ...) find the daemon through PCSCLITE_CSOCK_NAME. Without
 * namespaces it falls back to /run/pcscd, which must then be free.
 * A lock file serialises test processes that want a pcscd in one network
 * namespace (see lockPath).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { listPcscReaders } from "../../simulator/reader/pcsc.js";

/**
 * The lock guards what pcscd runs share: the loopback routes quickack changes
 * (one set per network namespace; two processes must never save each other's
 * setting) and, without mount namespaces, /run/pcscd. So it is per network
 * namespace: a test that runs the harness inside `unshare -n` has its own.
 */
export function lockPath(): string {
  let ns = "";
  try {
    ns = "-" + /\[(\d+)\]/.exec(fs.readlinkSync("/proc/self/ns/net"))![1];
  } catch {
    // no /proc: one lock for the machine
  }
  return path.join(os.tmpdir(), `cardloop-pcscd${ns}.lock`);
}
const VPCD_DRIVER = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";
export const READER_0 = "Virtual PCD 00 00";
export const READER_1 = "Virtual PCD 00 01";

export interface Pcscd {
  pid: number;
  /** The daemon's socket; also in `env.PCSCLITE_CSOCK_NAME`. */
  socket: string;
  /** vpcd ports for READER_0 and READER_1. */
  ports: [number, number];
  /** Whether pcscd runs in its own mount namespace (private socket). */
  isolated: boolean;
  /** Temp dir with its run dir and reader config; stop() removes it. */
  dir: string;
  /** Environment for child processes that must reach this pcscd. */
  env: NodeJS.ProcessEnv;
  /** pcscd's log so far (stdout + stderr). */
  log(): string;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** pcscd -d (debug log) and -a (APDU log). */
  debug?: boolean;
  /**
   * Turn on loopback quickack while this pcscd runs (restored by stop()).
   * Done under the pcscd lock, so two test processes never save each other's setting.
   */
  quickack?: boolean;
  timeoutMs?: number;
}

function which(cmd: string): string | undefined {
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An exclusive lock file holding our PID; a dead holder's lock is taken over. */
async function acquireLock(timeoutMs: number): Promise<() => void> {
  const LOCK = lockPath();
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      fs.writeFileSync(LOCK, String(process.pid), { flag: "wx" });
      return () => {
        try {
          if (fs.readFileSync(LOCK, "utf8") === String(process.pid)) fs.unlinkSync(LOCK);
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = Number(fs.readFileSync(LOCK, "utf8"));
      if (!Number.isInteger(holder) || holder <= 0 || !alive(holder)) {
        fs.rmSync(LOCK, { force: true });
        continue;
      }
      if (performance.now() > deadline) throw new Error(`pcscd lock ${LOCK} held by live process ${holder}`);
      await sleep(200);
    }
  }
}

/**
 * A probe, not a server: bound and closed at once, with no connection accepted.
 * It binds the wildcard address because that is where vpcd will listen (Debian's
 * vpcd binds INADDR_ANY, see DEVELOPERS.md), so a port taken on any interface counts.
 */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen({ port, host: "0.0.0.0", exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** Two consecutive free TCP ports (vpcd uses CHANNELID and CHANNELID+1). */
async function freePortPair(): Promise<[number, number]> {
  for (let i = 0; i < 50; i++) {
    const port = 20000 + Math.floor(Math.random() * 40000);
    if ((await canBind(port)) && (await canBind(port + 1))) return [port, port + 1];
  }
  throw new Error("no two consecutive free TCP ports found");
}

/**
 * pcscd runs under a small sh that kills it when our stdin pipe closes, so a
 * test process that dies (ava timeout, SIGKILL) leaves no daemon behind. The
 * sh prints pcscd's PID first; stop() signals that PID.
 */
function spawnDaemon(isolated: boolean, runDir: string, confDir: string, debug: boolean): ChildProcess {
  const args = ["-f", "-c", confDir, ...(debug ? ["-d", "-a"] : [])];
  const guard = 'pcscd "$@" & p=$!; echo "pcscd-pid $p"; cat >/dev/null; kill -TERM $p 2>/dev/null; wait $p';
  if (!isolated) return spawn("sh", ["-c", guard, "sh", ...args], { stdio: ["pipe", "pipe", "pipe"] });
  const script = `mkdir -p /run/pcscd && mount --bind "$0" /run/pcscd && { ${guard}; }`;
  return spawn("unshare", ["--mount", "--propagation", "private", "sh", "-c", script, runDir, ...args], {
    stdio: ["pipe", "pipe", "pipe"],
  });
}

/** Starts a private pcscd with vpcd and waits until both virtual readers are listed. */
export async function startPcscd(opts: StartOptions = {}): Promise<Pcscd> {
  // Generous: on a loaded 2-core machine (the whole suite in parallel) pcscd can be slow to load vpcd.
  const timeoutMs = opts.timeoutMs ?? 30000;
  for (const tool of ["pcscd"]) if (!which(tool)) throw new Error(`${tool} is not installed (apt-get install pcscd)`);
  if (!fs.existsSync(VPCD_DRIVER)) throw new Error(`vpcd driver missing: ${VPCD_DRIVER} (apt-get install vsmartcard-vpcd)`);
  const unlock = await acquireLock(60000);
  let undoQuickack: (() => void) | undefined;
  const release = () => {
    undoQuickack?.();
    unlock();
  };
  try {
    if (opts.quickack) undoQuickack = enableLoopbackQuickack();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cardloop-pcscd-"));
    const runDir = path.join(dir, "run");
    const confDir = path.join(dir, "reader.conf.d");
    fs.mkdirSync(runDir);
    fs.mkdirSync(confDir);
    const ports = await freePortPair();
    const hex = `0x${ports[0].toString(16).toUpperCase()}`;
    fs.writeFileSync(
      path.join(confDir, "vpcd"),
      `FRIENDLYNAME "Virtual PCD"\nDEVICENAME   /dev/null:${hex}\nLIBPATH      ${VPCD_DRIVER}\nCHANNELID    ${hex}\n`,
    );

    let isolated = !!which("unshare") && process.getuid?.() === 0;
    let child: ChildProcess;
    let log = "";
    let socket: string;
    for (;;) {
      log = "";
      if (!isolated && fs.existsSync("/run/pcscd/pcscd.pid")) {
        const other = Number(fs.readFileSync("/run/pcscd/pcscd.pid", "utf8"));
        if (alive(other)) {
          throw new Error(`another pcscd (pid ${other}) owns /run/pcscd and this machine has no mount namespaces for a private one`);
        }
      }
      child = spawnDaemon(isolated, runDir, confDir, !!opts.debug);
      child.stdout!.on("data", (d) => (log += d));
      child.stderr!.on("data", (d) => (log += d));
      socket = isolated ? path.join(runDir, "pcscd.comm") : "/run/pcscd/pcscd.comm";
      const up = await waitFor(() => fs.existsSync(socket) || child.exitCode !== null, 5000);
      if (up && child.exitCode === null && /pcscd-pid \d+/.test(log)) break;
      child.stdin!.end();
      if (isolated) {
        // No namespace here (container without CAP_SYS_ADMIN): use the shared location.
        isolated = false;
        continue;
      }
      throw new Error(`pcscd did not start (exit ${child.exitCode}): ${log.trim().split("\n").slice(-3).join(" | ")}`);
    }
    const pid = Number(/pcscd-pid (\d+)/.exec(log)![1]);
    // libpcsclite reads this once per process: set it before any PC/SC call.
    process.env.PCSCLITE_CSOCK_NAME = socket;
    const env = { ...process.env, PCSCLITE_CSOCK_NAME: socket };

    const stop = async () => {
      if (alive(pid)) {
        process.kill(pid, "SIGTERM");
        if (!(await waitFor(() => !alive(pid), 5000))) process.kill(pid, "SIGKILL");
      }
      child.stdin!.end();
      await waitFor(() => child.exitCode !== null || child.signalCode !== null, 5000);
      fs.rmSync(dir, { recursive: true, force: true });
      release();
    };
    try {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const names = await listPcscReaders({ timeoutMs: 2000 }).catch(() => [] as string[]);
        if (names.includes(READER_0) && names.includes(READER_1)) break;
        if (performance.now() > deadline || child.exitCode !== null) {
          // pcscd's own last words say why (vpcd could not bind, driver not loaded, ...): keep them for the next person.
          const tail = log.trim().split("\n").slice(-5).join(" | ");
          throw new Error(`pcscd (pid ${pid}) did not list the virtual readers in ${timeoutMs} ms: ${names.join(", ") || "none"}${tail ? `; pcscd said: ${tail}` : ""}`);
        }
        await sleep(100);
      }
    } catch (err) {
      await stop();
      throw err;
    }
    return { pid, socket, ports, isolated, dir, env, log: () => log, stop };
  } catch (err) {
    release();
    throw err;
  }
}

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

const QUICKACK_ROUTES = ["127.0.0.0/8", "127.0.0.1"];

/**
 * Loopback quickack: vpcd writes each frame's length and body in separate
 * sends, so Nagle on its side meets delayed ACK on ours and every APDU costs
 * ~40 ms. Returns a function restoring the routes exactly as they were (also
 * run at process exit, in case a test dies first).
 */
export function enableLoopbackQuickack(): () => void {
  if (!which("ip")) throw new Error("ip (iproute2) is not installed");
  const show = spawnSync("ip", ["route", "show", "table", "local"], { encoding: "utf8" });
  if (show.status !== 0) throw new Error(`ip route show failed: ${show.stderr.trim()}`);
  const saved = show.stdout
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => QUICKACK_ROUTES.some((r) => l.startsWith(`local ${r} `)));
  for (const line of saved) {
    if (/\bquickack\b/.test(line)) continue;
    const r = spawnSync("ip", ["route", "change", "table", "local", ...line.split(/\s+/), "quickack", "1"], { encoding: "utf8" });
    if (r.status !== 0) {
      restore(saved);
      throw new Error(`cannot enable loopback quickack (needs root): ${r.stderr.trim()}`);
    }
  }
  let done = false;
  // A killed test (ava timeout, Ctrl-C) must not leave the machine changed:
  // restore, then let the signal do what it would have done.
  const onSignal = (sig: NodeJS.Signals) => {
    undo();
    process.kill(process.pid, sig);
  };
  const undo = () => {
    if (done) return;
    done = true;
    process.off("exit", undo);
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
    restore(saved);
  };
  process.on("exit", undo);
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  return undo;
}

function restore(saved: string[]): void {
  for (const line of saved) spawnSync("ip", ["route", "replace", "table", "local", ...line.split(/\s+/)]);
}
