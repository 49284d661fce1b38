/**
 * The clients of dashboard.bench.ts, and the children it starts.
 *
 * - Subscribers: `ws` clients spread over child processes (this file, run with
 *   DASHBOARD_BENCH_ROLE=subscribers; one process's core does not parse fast
 *   enough for ten), driven over IPC. Each subscribes to the run from 0 (the
 *   peer ignores that), parses every message, checks the sequence has no gap
 *   and notes when each event arrived (process.hrtime: CLOCK_MONOTONIC, one
 *   clock for every process); the times come back through a file.
 * - A subscriber that never reads: the websocket handshake and a subscription
 *   on a raw socket, then nothing.
 * - Every child in its own process group, killed (the whole group) on every
 *   path: stopChild, and killAll on the bench's exit; its memory and CPU time
 *   from /proc.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { resolve } from "node:path";
import WebSocket from "ws";

const ROOT = resolve(import.meta.dirname, "..");
/** Each wait (a phase's delivery, a server's start) gives up after this. */
export const DEADLINE_MS = 120_000;

export const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

// ---------------------------------------------------------------- children

const children = new Set<ChildProcess>();

/** `node ARGS` in the project root, in a process group of its own. */
export function spawnGrouped(args: string[], env: NodeJS.ProcessEnv, stdio: Array<"ignore" | "pipe" | "inherit" | "ipc">): ChildProcess {
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio, detached: true });
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // the group is gone
  }
}

/** SIGTERM to the child's group (the dashboard closes and exits, writing its profile), SIGKILL after 10 s, and what is left of the group. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child.once("exit", r));
    killGroup(child, "SIGTERM");
    const timer = setTimeout(() => killGroup(child, "SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }
  killGroup(child, "SIGKILL");
  children.delete(child);
}

/** Every child still there: its group gone at once (process exit, signals). */
export function killAll(): void {
  for (const c of children) killGroup(c, "SIGKILL");
}

/** Every child still there, stopped in turn (the bench's finally). */
export async function stopAll(): Promise<void> {
  for (const c of [...children]) await stopChild(c);
}

// ---------------------------------------------------------------- /proc

/** VmRSS or VmHWM of a process, in MB. */
export function vm(pid: number, field: "VmRSS" | "VmHWM"): number {
  const kb = Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN);
  return Math.round(kb / 1024);
}

// ---------------------------------------------------------------- subscribers

/** `count` subscribers spread over `processes` child processes. */
export function startSubscribers(count: number, processes: number) {
  const procs = Array.from({ length: processes }, (_, i) => subscriberProcessHandle(Math.floor(count / processes) + (i < count % processes ? 1 : 0)));
  return {
    cpu: () => procs.reduce((a, p) => a + p.cpu(), 0),
    connect: (url: string, run: string, total: number) => Promise.all(procs.map((p) => p.connect(url, run, total))),
    reach: (target: number) => Promise.all(procs.map((p) => p.reach(target))),
    /** When each subscriber had each event (ms, nowMs), one array per subscriber; gaps and non-event messages seen. */
    async dump(file: string, total: number) {
      const parts = await Promise.all(procs.map((p, i) => p.dump(`${file}.${i}`, total)));
      return { recv: parts.flatMap((p) => p.recv), gaps: parts.reduce((a, p) => a + p.gaps, 0), other: parts.reduce((a, p) => a + p.other, 0) };
    },
    stop: () => Promise.all(procs.map((p) => p.stop())),
  };
}

/** One subscriber process, driven over IPC. */
function subscriberProcessHandle(count: number) {
  const child = spawnGrouped(["--import=tsx", import.meta.filename], { ...process.env, DASHBOARD_BENCH_ROLE: "subscribers" }, ["ignore", "inherit", "inherit", "ipc"]);
  let min = 0;
  let cpuSeconds = 0;
  const waiters = new Set<(m: Record<string, unknown>) => void>();
  child.on("message", (m: Record<string, unknown>) => {
    if (m.t === "progress") {
      min = m.min as number;
      cpuSeconds = m.cpuSeconds as number;
    }
    for (const w of [...waiters]) w(m);
  });
  const until = (what: string, done: (m: Record<string, unknown>) => boolean, onTimeout = () => what) =>
    new Promise<Record<string, unknown>>((res, reject) => {
      const timer = setTimeout(() => (waiters.delete(w), reject(new Error(`timed out: ${onTimeout()}`))), DEADLINE_MS);
      const w = (m: Record<string, unknown>) => {
        if (!done(m)) return;
        clearTimeout(timer);
        waiters.delete(w);
        res(m);
      };
      waiters.add(w);
      child.once("exit", () => reject(new Error(`the subscriber process exited while waiting for ${what}`)));
    });
  return {
    /** The subscriber process's CPU seconds when it last reported progress. */
    cpu: () => cpuSeconds,
    async connect(url: string, run: string, total: number) {
      const ready = until("the subscribers to connect", (m) => m.t === "ready");
      child.send({ cmd: "connect", url, run, total, count });
      await ready;
    },
    async reach(target: number) {
      if (min >= target) return;
      await until("delivery", (m) => m.t === "progress" && (m.min as number) >= target, () => `subscribers at ${min} of ${target} events`);
    },
    async dump(file: string, total: number) {
      const answer = until("the subscribers' times", (m) => m.t === "dumped");
      child.send({ cmd: "dump", file });
      const m = await answer;
      const all = new Float64Array(readFileSync(file).buffer.slice(0));
      const recv = Array.from({ length: count }, (_, s) => all.subarray(s * total, (s + 1) * total));
      return { recv, gaps: m.gaps as number, other: m.other as number };
    },
    stop: () => stopChild(child),
  };
}

/** This process's share of the subscribers: `ws` clients that parse every message and note when each event arrived. */
function subscriberProcess(): void {
  // The bench is gone (even killed outright): so is this process.
  process.on("disconnect", () => process.exit(0));
  const subs: Array<{ ws: WebSocket; next: number; recv: Float64Array }> = [];
  let gaps = 0;
  let other = 0;
  let reported = -1;
  setInterval(() => {
    const min = subs.length === 0 ? 0 : Math.min(...subs.map((s) => s.next));
    if (min === reported) return;
    const cpu = process.cpuUsage();
    process.send!({ t: "progress", min: (reported = min), cpuSeconds: (cpu.user + cpu.system) / 1e6 });
  }, 5);
  process.on("message", (m: { cmd: string; url: string; run: string; total: number; count: number; file: string }) => {
    if (m.cmd === "connect") {
      let open = 0;
      for (let i = 0; i < m.count; i++) {
        const s = { ws: new WebSocket(m.url, { perMessageDeflate: false }), next: 0, recv: new Float64Array(m.total) };
        subs.push(s);
        s.ws.on("open", () => {
          s.ws.send(JSON.stringify({ v: 1, type: "run.subscribe", run: m.run, from: 0 }));
          if (++open === m.count) process.send!({ t: "ready" });
        });
        s.ws.on("message", (data) => {
          const msg = JSON.parse((data as Buffer).toString("utf8")) as { from?: number; events?: unknown[] };
          const t = nowMs();
          if (!Array.isArray(msg.events)) return void other++;
          if (msg.from !== s.next) gaps++;
          for (let k = 0, at = msg.from!; k < msg.events.length; k++, at++) s.recv[at] = t;
          s.next = msg.from! + msg.events.length;
        });
        s.ws.on("error", (err) => {
          console.error(`subscriber: ${err.message}`);
          process.exit(1);
        });
      }
    } else if (m.cmd === "dump") {
      writeFileSync(m.file, Buffer.concat(subs.map((s) => Buffer.from(s.recv.buffer))));
      process.send!({ t: "dumped", gaps, other });
    }
  });
}

// ---------------------------------------------------------------- a reader that never reads

/** Completes the websocket handshake on a raw socket, subscribes to the run from 0, and never reads again. */
export function stalledSubscriber(base: string, run: string): Promise<Socket> {
  const u = new URL(base);
  return new Promise((res, reject) => {
    const sock = connect(Number(u.port), u.hostname);
    sock.on("error", () => undefined);
    sock.once("close", () => reject(new Error("the server closed the connection before the upgrade")));
    sock.once("connect", () =>
      sock.write(`GET /ws HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`),
    );
    let head = "";
    const onData = (d: Buffer) => {
      head += d.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      sock.off("data", onData);
      sock.pause();
      if (!head.startsWith("HTTP/1.1 101")) return reject(new Error(`upgrade refused: ${head.split("\r\n")[0]}`));
      sock.write(maskedTextFrame(JSON.stringify({ v: 1, type: "run.subscribe", run, from: 0 })));
      res(sock);
    };
    sock.on("data", onData);
  });
}

/** One client-to-server text frame (clients must mask). */
function maskedTextFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = randomBytes(4);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x81, 0x80 | len]) : Buffer.from([0x81, 0x80 | 126, len >> 8, len & 255]);
  return Buffer.concat([head, mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]))]);
}

// Run as a subscriber process (never when the bench imports this file).
if (process.env.DASHBOARD_BENCH_ROLE === "subscribers" && resolve(process.argv[1] ?? "") === import.meta.filename) subscriberProcess();
