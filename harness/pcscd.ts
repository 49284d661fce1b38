/**
 * Harness for the real PC/SC stack, shared by test/ and bench/: a private
 * pcscd (foreground, in the background, stopped by PID) with vsmartcard's
 * vpcd driver.
 *
 * Isolation: when we may create namespaces (root with CAP_SYS_ADMIN) pcscd
 * runs in its own mount AND network namespace. The mount namespace has a
 * private directory bind-mounted on /run/pcscd (pcscd 1.9 ignores
 * PCSCLITE_CSOCK_NAME), so its socket lands in our temp dir; clients (this
 * process, opensc-tool, ...) find it through PCSCLITE_CSOCK_NAME, and a unix
 * socket path crosses network namespaces. The network namespace holds vpcd's
 * TCP listeners, which Debian's vpcd binds on INADDR_ANY: there they are
 * reachable from nowhere else. A relay in the same namespace
 * (harness/vpcd-relay.ts) offers them as unix sockets in our temp dir
 * (`endpoints`, "unix:.../vpcd0.sock" and "...vpcd1.sock"), which the card
 * side (VpcdBridge, `cardloop card serve --vpcd`) dials. Loopback quickack is
 * set on the namespace's own lo; the host's routes are never touched.
 *
 * Without namespaces it falls back to the host: /run/pcscd (which must then
 * be free), vpcd on free ports of the host (open beyond loopback for the run),
 * the relay beside it, no quickack (~45 ms per APDU), and a lock file
 * serialising test processes that want a pcscd (see lockPath). Isolated runs
 * share nothing, so they take no lock.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { listPcscReaders } from "../simulator/reader/index.js";
import { alive } from "./processes.js";

/**
 * The lock guards what pcscd runs on the host (the fallback) share: /run/pcscd
 * and the port probe. Per network namespace, as ports are.
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
const RELAY = path.join(import.meta.dirname, "vpcd-relay.ts");
export const READER_0 = "Virtual PCD 00 00";
export const READER_1 = "Virtual PCD 00 01";

export interface Pcscd {
  pid: number;
  /** The relay's PID (it pipes the unix endpoints to vpcd's ports). */
  relayPid: number;
  /** The daemon's socket; also in `env.PCSCLITE_CSOCK_NAME`. */
  socket: string;
  /** Where the card side reaches READER_0 and READER_1: "unix:PATH" (VpcdBridge / --vpcd endpoints). */
  endpoints: [string, string];
  /** vpcd's TCP ports for READER_0 and READER_1, inside pcscd's network namespace when isolated. */
  ports: [number, number];
  /** Whether pcscd runs in its own mount and network namespaces. */
  isolated: boolean;
  /** Temp dir with its run dir, reader config and relay sockets; stop() removes it. */
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
   * Loopback quickack in pcscd's network namespace (its own lo; see
   * DEVELOPERS.md). Not available in the fallback without namespaces.
   */
  quickack?: boolean;
  timeoutMs?: number;
}

function which(cmd: string): string | undefined {
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
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
 * A probe, bound and closed at once (only the fallback on the host needs it; a
 * fresh namespace has every port free). On loopback, like everything of ours:
 * a port held on the wildcard or on 127.0.0.1 shows here, and the rare one held
 * on another address only makes pcscd fail to list the readers, which the
 * start reports with pcscd's own words.
 */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen({ port, host: "127.0.0.1", exclusive: true }, () => s.close(() => resolve(true)));
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

const QUICKACK_ROUTES = ["127.0.0.0/8", "127.0.0.1"];

/**
 * pcscd runs under a small sh that kills it (and the relay) when our stdin
 * pipe closes, so a test process that dies (ava timeout, SIGKILL) leaves no
 * daemon behind; the relay also exits when pcscd is gone. The sh prints
 * pcscd's and the relay's PIDs first; stop() signals those.
 */
function spawnDaemon(isolated: boolean, dir: string, runDir: string, confDir: string, port: number, opts: StartOptions): ChildProcess {
  const args = ["-f", "-c", confDir, ...(opts.debug ? ["-d", "-a"] : [])];
  const env = {
    ...process.env,
    CARDLOOP_RELAY_NODE: process.execPath,
    CARDLOOP_RELAY_TSX: import.meta.resolve("tsx"),
    CARDLOOP_RELAY_SCRIPT: RELAY,
    CARDLOOP_RELAY_DIR: dir,
    CARDLOOP_RELAY_PORT: String(port),
  };
  const relay = '"$CARDLOOP_RELAY_NODE" --import "$CARDLOOP_RELAY_TSX" "$CARDLOOP_RELAY_SCRIPT" "$CARDLOOP_RELAY_DIR" "$CARDLOOP_RELAY_PORT" $p';
  const guard = `pcscd "$@" & p=$!; echo "pcscd-pid $p"; ${relay} & r=$!; echo "relay-pid $r"; cat >/dev/null; kill -TERM $p $r 2>/dev/null; wait $p; wait $r`;
  const stdio: ["pipe", "pipe", "pipe"] = ["pipe", "pipe", "pipe"];
  if (!isolated) return spawn("sh", ["-c", guard, "sh", ...args], { stdio, env });
  const quickack = opts.quickack
    ? QUICKACK_ROUTES.map((r) => `ip route change local ${r} dev lo table local quickack 1 proto kernel scope host src 127.0.0.1 && `).join("")
    : "";
  const script = `ip link set lo up && ${quickack}mkdir -p /run/pcscd && mount --bind "$0" /run/pcscd && { ${guard}; }`;
  return spawn("unshare", ["--mount", "--propagation", "private", "--net", "sh", "-c", script, runDir, ...args], { stdio, env });
}

/** Starts a private pcscd with vpcd and waits until both virtual readers are listed. */
export async function startPcscd(opts: StartOptions = {}): Promise<Pcscd> {
  // Generous: on a loaded 2-core machine (the whole suite in parallel) pcscd can be slow to load vpcd.
  const timeoutMs = opts.timeoutMs ?? 30000;
  for (const tool of ["pcscd"]) if (!which(tool)) throw new Error(`${tool} is not installed (apt-get install pcscd)`);
  if (!fs.existsSync(VPCD_DRIVER)) throw new Error(`vpcd driver missing: ${VPCD_DRIVER} (apt-get install vsmartcard-vpcd)`);
  if (opts.quickack && !which("ip")) throw new Error("ip (iproute2) is not installed");
  let unlock: (() => void) | undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cardloop-pcscd-"));
  const release = () => {
    fs.rmSync(dir, { recursive: true, force: true });
    unlock?.();
  };
  try {
    const runDir = path.join(dir, "run");
    const confDir = path.join(dir, "reader.conf.d");
    fs.mkdirSync(runDir);
    fs.mkdirSync(confDir);

    let isolated = !!which("unshare") && process.getuid?.() === 0;
    let child: ChildProcess;
    let log = "";
    let isolationLog = "";
    let socket: string;
    let ports: [number, number];
    for (;;) {
      log = "";
      if (!isolated) {
        // On the host: /run/pcscd and the ports are shared with other test processes.
        unlock = await acquireLock(60000);
        if (fs.existsSync("/run/pcscd/pcscd.pid")) {
          const other = Number(fs.readFileSync("/run/pcscd/pcscd.pid", "utf8"));
          if (alive(other)) {
            throw new Error(`another pcscd (pid ${other}) owns /run/pcscd and this machine has no mount namespaces for a private one`);
          }
        }
      }
      // A fresh network namespace has every port free: vpcd's defaults will do.
      ports = isolated ? [35963, 35964] : await freePortPair();
      const hex = `0x${ports[0].toString(16).toUpperCase()}`;
      fs.writeFileSync(
        path.join(confDir, "vpcd"),
        `FRIENDLYNAME "Virtual PCD"\nDEVICENAME   /dev/null:${hex}\nLIBPATH      ${VPCD_DRIVER}\nCHANNELID    ${hex}\n`,
      );
      child = spawnDaemon(isolated, dir, runDir, confDir, ports[0], opts);
      child.stdout!.on("data", (d) => (log += d));
      child.stderr!.on("data", (d) => (log += d));
      socket = isolated ? path.join(runDir, "pcscd.comm") : "/run/pcscd/pcscd.comm";
      const up = await waitFor(() => fs.existsSync(socket) || child.exitCode !== null, 5000);
      if (up && child.exitCode === null && /relay-pid \d+/.test(log)) break;
      child.stdin!.end();
      await waitFor(() => child.exitCode !== null || child.signalCode !== null, 5000);
      if (isolated) {
        // No namespaces here (container without CAP_SYS_ADMIN): use the host's.
        isolationLog = log.trim().split("\n").slice(-2).join(" | ");
        isolated = false;
        continue;
      }
      const why = log.trim().split("\n").slice(-3).join(" | ");
      throw new Error(`pcscd did not start (exit ${child.exitCode}): ${why}${isolationLog ? `; in namespaces: ${isolationLog}` : ""}`);
    }
    const pid = Number(/pcscd-pid (\d+)/.exec(log)![1]);
    const relayPid = Number(/relay-pid (\d+)/.exec(log)![1]);
    const socks = [0, 1].map((i) => path.join(dir, `vpcd${i}.sock`));
    const endpoints = socks.map((s) => `unix:${s}`) as [string, string];
    // libpcsclite reads this once per process: set it before any PC/SC call.
    process.env.PCSCLITE_CSOCK_NAME = socket;
    const env = { ...process.env, PCSCLITE_CSOCK_NAME: socket };

    const stop = async () => {
      // pcscd and the relay are the sh's children: it reaps them once our stdin pipe closes.
      for (const p of [pid, relayPid]) if (alive(p)) process.kill(p, "SIGTERM");
      child.stdin!.end();
      const exited = () => child.exitCode !== null || child.signalCode !== null;
      if (!(await waitFor(exited, 5000))) {
        for (const p of [pid, relayPid]) if (alive(p)) process.kill(p, "SIGKILL");
        await waitFor(exited, 5000);
      }
      release();
    };
    try {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const names = await listPcscReaders({ timeoutMs: 2000 }).catch(() => [] as string[]);
        if (names.includes(READER_0) && names.includes(READER_1) && socks.every((s) => fs.existsSync(s))) break;
        if (performance.now() > deadline || child.exitCode !== null) {
          // pcscd's own last words say why (vpcd could not bind, driver not loaded, ...): keep them for the next person.
          const tail = log.trim().split("\n").slice(-5).join(" | ");
          const relay = socks.every((s) => fs.existsSync(s)) ? "" : " (the relay's sockets are missing)";
          throw new Error(`pcscd (pid ${pid}) did not list the virtual readers in ${timeoutMs} ms: ${names.join(", ") || "none"}${relay}${tail ? `; pcscd said: ${tail}` : ""}`);
        }
        await sleep(100);
      }
    } catch (err) {
      await stop();
      throw err;
    }
    return { pid, relayPid, socket, endpoints, ports, isolated, dir, env, log: () => log, stop };
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
