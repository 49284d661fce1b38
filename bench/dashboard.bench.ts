/**
 * The live dashboard (issue 14): events per second from ONE publisher through
 * the dashboard to 10 subscribers, the end-to-end latency (from the
 * publisher's `write(event)` to a subscriber holding the event parsed), and
 * the server's memory with one subscriber that never reads.
 *
 * Server: the real CLI (`cardloop dashboard --port 0 --runs TMP`, its own
 * process, CARDLOOP_DASHBOARD_TOKEN set). Peer, same run, same publisher and
 * subscribers: bench/ws-broadcast-peer.ts, a bare `ws` server (its own
 * process) taking the same POST bodies and sending each as one message to
 * every client, with no store, no validation, no parsing: the ceiling of
 * node + ws on this machine. Bar: dashboard/peer >= 0.5; goal: >= 50,000
 * events/s delivered to each of 10 subscribers (2 cores).
 *
 * Publisher: the real DashboardPublisher in this process, fed apdu.exchange
 * events shaped like a demo's (the mix of commands and response sizes of
 * `cardloop demo`'s run log, ~530 bytes of JSON each). Subscribers: 10 `ws`
 * clients in 2 child processes (dashboard-clients.ts; one process's core
 * does not parse fast enough for ten), each parsing every
 * message and checking the sequence has no gap; times are process.hrtime
 * (CLOCK_MONOTONIC), one clock for every process.
 *
 * Per server, two phases on one run: latency at a steady rate (the events due
 * written every millisecond, as a driver writes them), then throughput
 * (EVENTS written as fast as the publisher takes them; the rate is events /
 * (last event parsed by the slowest subscriber - first written)). Each
 * process's CPU time per phase (/proc/<pid>/stat) says where the time goes.
 * Dashboard and peer alternate for ROUNDS rounds (the machine is shared); the
 * median round of each is the figure.
 *
 * Memory: a fresh server, one subscriber that completes the handshake (and
 * subscribes) on a raw socket and never reads, RSS_EVENTS published (default
 * 1,000,000: the store keeps at most 256 MiB of lines, ~510,000 of these
 * events, so the second half shows whether the bound holds) in RSS_STEPS
 * steps; after each step, once the server has taken it and gone quiet, its
 * VmRSS, and VmHWM at the end, from /proc/<pid>/status. The dashboard is also
 * measured with no subscriber at all: what its store keeps is not the page's.
 *
 * The bench never asserts: it prints and records whether the bar and the goal
 * were met. Its clients and children: dashboard-clients.ts.
 * DASHBOARD_BENCH_CPU_PROF=DIR runs the dashboard child under --cpu-prof.
 */
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import type { Socket } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildIsCurrent } from "../bin/build-state.js";
import { SeededRandom, summarise, type AnyEvent, type EventMap, type LatencySummary } from "../core/index.js";
import { DashboardPublisher } from "../dashboard/publisher.js";
import { cpuSeconds, writeResult } from "./ca-bench-util.js";
import { DEADLINE_MS, killAll, nowMs, spawnGrouped, stalledSubscriber, startSubscribers, stopAll, stopChild, vm } from "./dashboard-clients.js";

const ROOT = resolve(import.meta.dirname, "..");
const SUBSCRIBERS = 10;
const ROUNDS = Number(process.env.DASHBOARD_BENCH_ROUNDS ?? 3);
const SUBSCRIBER_PROCESSES = Number(process.env.DASHBOARD_BENCH_SUBSCRIBER_PROCESSES ?? 2);
const EVENTS = Number(process.env.DASHBOARD_BENCH_EVENTS ?? 200_000);
const LATENCY_RATE = Number(process.env.DASHBOARD_BENCH_RATE ?? 10_000);
const LATENCY_EVENTS = Number(process.env.DASHBOARD_BENCH_LATENCY_EVENTS ?? 30_000);
const RSS_EVENTS = Number(process.env.DASHBOARD_BENCH_RSS_EVENTS ?? 1_000_000);
const RSS_STEPS = Number(process.env.DASHBOARD_BENCH_RSS_STEPS ?? 4);
/** The issue's bar (dashboard/peer, events per second to each subscriber) and goal (events per second to each of 10 subscribers). */
const BAR = 0.5;
const GOAL = 50_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- the events

/** apdu.exchange shapes from `cardloop demo`'s run log: command prefix, command and response hex lengths, weight. */
const SHAPES: Array<[string, number, number, number]> = [
  ["0020008008", 26, 4, 66], // VERIFY, PIN masked
  ["00A404000B", 34, 120, 52], // SELECT
  ["00870000", 88, 154, 58], // GENERAL AUTHENTICATE
  ["00870000", 20, 28, 16],
  ["00870000", 56, 28, 16],
  ["00470000", 22, 144, 32], // GENERATE ASYMMETRIC KEY PAIR
  ["00CB3FFF05", 22, 126, 18], // GET DATA
  ["00CB3FFF05", 22, 1200, 40], // GET DATA (a certificate)
  ["00DB3FFF", 1200, 4, 22], // PUT DATA (a certificate)
  ["0024008010", 42, 4, 13], // CHANGE REFERENCE DATA, masked
];
const READERS = ["alice", "bruno", "chloe", "dario", "emma", "farid", "greta", "hugo", "ines", "jonas", "katya", "lena", "marc"].map((n) => `memory:${n}-card`);

function eventPool(size: number): Array<EventMap["apdu.exchange"]> {
  const r = new SeededRandom("dashboard-bench");
  const hex = (chars: number) => Buffer.from(r.bytes(Math.ceil(chars / 2))).toString("hex").toUpperCase().slice(0, chars);
  const weights = SHAPES.reduce((a, s) => a + s[3], 0);
  return Array.from({ length: size }, () => {
    let pick = r.nextU32() % weights;
    const [prefix, cmd, resp] = SHAPES.find((s) => (pick -= s[3]) < 0)!;
    const masked = prefix.startsWith("0020") || prefix.startsWith("0024");
    return {
      reader: READERS[r.nextU32() % READERS.length],
      command: prefix + (masked ? "F".repeat(cmd - prefix.length) : hex(cmd - prefix.length)),
      response: hex(resp - 4) + "9000",
      sw: "9000",
      micros: 50 + (r.nextU32() % 2000),
    };
  });
}

const POOL = eventPool(1024);
const T0 = Date.parse("2025-01-06T09:00:00.000Z");

function makeEvent(i: number): AnyEvent {
  return { type: "apdu.exchange", seq: i, time: new Date(T0 + i).toISOString(), data: POOL[i % POOL.length], volatile: ["micros"] };
}

// ---------------------------------------------------------------- the bench

type Kind = "dashboard" | "peer";
const token = randomBytes(32).toString("base64url");

interface Delivery {
  seconds: number;
  perSubscriber: number[];
  eventsPerSecondPerSubscriber: number;
  latencyAtRateMs: LatencySummary;
  latencyInBurstMs: LatencySummary;
  /** The server's CPU time per event in the throughput phase: what it would take on a core of its own. */
  serverMicrosPerEvent: number;
  /** CPU seconds each process spent in each phase: where the time goes. */
  cpuSeconds: { latencyPhase: Cpu; throughputPhase: Cpu };
  gaps: number;
  otherMessages: number;
}

interface Cpu {
  server: number;
  publisher: number;
  subscribers: number;
}

interface Memory {
  beforeMB: number;
  /** After each step, once the server took it and went quiet: VmRSS, and the events the dashboard holds. */
  steps: Array<{ events: number; rssMB: number; heldEvents?: number }>;
  /** Growth per 100,000 events over the first and the second half of the events (the store's bound is passed in the second). */
  mbPer100kEvents: { firstHalf: number; secondHalf: number };
  afterMB: number;
  peakMB: number;
  /** The server's time to take the events (the quiet waits after each step left out). */
  seconds: number;
  sent: number;
  dropped: number;
  subscriberCut?: boolean;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "cardloop-bench-dashboard-"));
  process.once("exit", killAll);
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => process.exit(130));
  try {
    const meanBytes = Math.round(POOL.reduce((a, _, i) => a + JSON.stringify(makeEvent(i)).length, 0) / POOL.length);
    // bin/cardloop.js runs dist/ only while it is newer than every source, else the sources through tsx.
    const built = (): string => (buildIsCurrent(ROOT) ? "dist/ (the build)" : "the sources through tsx (dist/ is stale: node bin/build.js)");
    const builtAtStart = built();
    console.log(`${SUBSCRIBERS} subscribers in ${SUBSCRIBER_PROCESSES} processes; apdu.exchange events of ${meanBytes} bytes of JSON on average; load average ${loadavg()[0].toFixed(1)}; the dashboard runs ${builtAtStart}`);
    // Alternating rounds, the median of each: the machine is shared, a burst of other work hits one round, not the figure.
    const rounds: Record<Kind, Delivery[]> = { dashboard: [], peer: [] };
    for (let r = 1; r <= ROUNDS; r++) {
      for (const kind of ["dashboard", "peer"] as const) {
        const d = await deliver(kind, dir);
        rounds[kind].push(d);
        report(`round ${r} ${kind === "peer" ? "peer bare ws broadcast" : kind}`, d);
      }
    }
    const dash = median(rounds.dashboard);
    const peer = median(rounds.peer);
    const ratio = dash.eventsPerSecondPerSubscriber / peer.eventsPerSecondPerSubscriber;
    const met = { bar: ratio >= BAR, goal: dash.eventsPerSecondPerSubscriber >= GOAL };
    const said = (ok: boolean) => (ok ? "met" : "NOT met");
    console.log(
      `median of ${ROUNDS} rounds: dashboard ${dash.eventsPerSecondPerSubscriber.toLocaleString("en")}, peer ${peer.eventsPerSecondPerSubscriber.toLocaleString("en")} events/s to each subscriber; ` +
        `dashboard/peer ${ratio.toFixed(2)}; latency at ${LATENCY_RATE.toLocaleString("en")}/s p50/p99 dashboard ${ms(dash.latencyAtRateMs)}, peer ${ms(peer.latencyAtRateMs)}`,
    );
    console.log(`bar (issue 14): dashboard/peer >= ${BAR}: ${said(met.bar)} in this run (${ratio.toFixed(2)})`);
    console.log(`goal (issue 14): >= ${GOAL.toLocaleString("en")} events/s to each of ${SUBSCRIBERS} subscribers: ${said(met.goal)} in this run (${dash.eventsPerSecondPerSubscriber.toLocaleString("en")})`);

    const memory = {
      dashboard: await memoryPhase("dashboard", dir, true),
      dashboardWithoutSubscriber: await memoryPhase("dashboard", dir, false),
      peer: await memoryPhase("peer", dir, true),
    };
    const m = (x: Memory) =>
      `${x.beforeMB} MB before; ${x.steps.map((st) => `${st.events.toLocaleString("en")}: ${st.rssMB} MB`).join(", ")}; after the final batch ${x.afterMB} MB, peak ${x.peakMB} MB; ` +
      `MB per 100,000 events: first half ${x.mbPer100kEvents.firstHalf}, second half ${x.mbPer100kEvents.secondHalf} (${x.seconds.toFixed(1)} s, ${x.dropped} dropped)`;
    console.log(`RSS of the server (VmRSS), ${RSS_EVENTS.toLocaleString("en")} events published in ${RSS_STEPS} steps, one subscriber that never reads:`);
    console.log(`  dashboard: ${m(memory.dashboard)}${memory.dashboard.subscriberCut ? "; the subscriber was cut off" : ""}`);
    console.log(`  dashboard, no subscriber at all: ${m(memory.dashboardWithoutSubscriber)}`);
    console.log(`  peer: ${m(memory.peer)}${memory.peer.subscriberCut ? "; the subscriber was cut off" : ""}`);
    writeResult("dashboard", {
      subscribers: SUBSCRIBERS,
      eventBytes: meanBytes,
      events: EVENTS,
      latencyPhase: { rate: LATENCY_RATE, events: LATENCY_EVENTS },
      server: "node bin/cardloop.js dashboard --port 0 --runs TMP (own process)",
      serverRan: { atStart: builtAtStart, atEnd: built() },
      dashboard: dash,
      peer: { name: "bare ws broadcast (bench/ws-broadcast-peer.ts): each POST body sent as one message to every client", ...peer },
      rounds: {
        dashboard: rounds.dashboard.map((d) => d.eventsPerSecondPerSubscriber),
        peer: rounds.peer.map((d) => d.eventsPerSecondPerSubscriber),
        dashboardLatencyP50P99Ms: rounds.dashboard.map((d) => [round2(d.latencyAtRateMs.p50Ms), round2(d.latencyAtRateMs.p99Ms)]),
        peerLatencyP50P99Ms: rounds.peer.map((d) => [round2(d.latencyAtRateMs.p50Ms), round2(d.latencyAtRateMs.p99Ms)]),
      },
      loadAverageAfter: loadavg().map(round2),
      ratioToPeer: Number(ratio.toFixed(3)),
      bar: { what: "dashboard/peer, events/s to each subscriber, >= 0.5", ratioToPeerAtLeast: BAR, ratioToPeer: Number(ratio.toFixed(3)), met: met.bar },
      goal: { what: ">= 50,000 events/s to each of 10 subscribers", eventsPerSecondPerSubscriberAtLeast: GOAL, eventsPerSecondPerSubscriber: dash.eventsPerSecondPerSubscriber, met: met.goal },
      met,
      rss: { events: RSS_EVENTS, steps: RSS_STEPS, ...memory },
    });
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(name: string, d: Delivery): void {
  const l = d.latencyAtRateMs;
  const b = d.latencyInBurstMs;
  console.log(
    `${name}: ${Math.round(d.eventsPerSecondPerSubscriber).toLocaleString("en")} events/s to each of ${SUBSCRIBERS} subscribers (slowest; ${EVENTS.toLocaleString("en")} events in ${d.seconds.toFixed(2)} s, ` +
      `${d.gaps} gaps; CPU s ${cpu(d.cpuSeconds.throughputPhase)}; server ${d.serverMicrosPerEvent} µs/event); ` +
      `latency at ${LATENCY_RATE.toLocaleString("en")}/s p50 ${l.p50Ms.toFixed(2)} ms p99 ${l.p99Ms.toFixed(2)} ms (CPU s ${cpu(d.cpuSeconds.latencyPhase)}); in the burst p50 ${b.p50Ms.toFixed(0)} ms p99 ${b.p99Ms.toFixed(0)} ms`,
  );
}

/** One server: the latency phase, then the throughput phase, on one run with 10 subscribers. */
async function deliver(kind: Kind, dir: string): Promise<Delivery> {
  const server = await startServer(kind, dir);
  const subs = startSubscribers(SUBSCRIBERS, SUBSCRIBER_PROCESSES);
  const total = 1 + LATENCY_EVENTS + EVENTS;
  const writes = new Float64Array(total);
  const publisher = new DashboardPublisher({ url: server.url, token, kind: "load", maxQueuedEvents: total, warn: (l) => console.error(l) });
  let n = 0;
  const write = () => {
    const e = makeEvent(n);
    writes[n++] = nowMs();
    publisher.write(e);
  };
  try {
    // The dashboard's subscribers name a run it holds; the peer's get whatever comes after they connect.
    if (kind === "dashboard") {
      write();
      await waitForRun(server.url, publisher.id);
    }
    await subs.connect(server.url.replace(/^http/, "ws") + "ws", publisher.id, total);
    if (kind === "peer") write();
    await subs.reach(n);

    const snapshot = (): Cpu => {
      const own = process.cpuUsage();
      return { server: cpuSeconds(server.pid), publisher: (own.user + own.system) / 1e6, subscribers: subs.cpu() };
    };
    const since = (a: Cpu, b: Cpu): Cpu => ({ server: round2(b.server - a.server), publisher: round2(b.publisher - a.publisher), subscribers: round2(b.subscribers - a.subscribers) });
    const cpu0 = snapshot();
    const lat0 = n;
    await paced(write, LATENCY_RATE, LATENCY_EVENTS);
    await subs.reach(n);
    const cpu1 = snapshot();
    const burst0 = n;
    await burst(write, EVENTS);
    await subs.reach(n);
    const cpu2 = snapshot();
    const got = await subs.dump(join(dir, `recv-${kind}.bin`), total);

    const atRate: number[] = [];
    const inBurst: number[] = [];
    const perSubscriber = got.recv.map((recv) => {
      for (let i = lat0; i < burst0; i++) atRate.push(recv[i] - writes[i]);
      for (let i = burst0; i < n; i += 10) inBurst.push(recv[i] - writes[i]);
      return EVENTS / ((recv[n - 1] - writes[burst0]) / 1000);
    });
    const slowest = Math.min(...perSubscriber);
    return {
      seconds: EVENTS / slowest,
      perSubscriber: perSubscriber.map(Math.round),
      eventsPerSecondPerSubscriber: Math.round(slowest),
      latencyAtRateMs: summarise(atRate),
      latencyInBurstMs: summarise(inBurst),
      serverMicrosPerEvent: Math.round(((cpu2.server - cpu1.server) / EVENTS) * 1e7) / 10,
      cpuSeconds: { latencyPhase: since(cpu0, cpu1), throughputPhase: since(cpu1, cpu2) },
      gaps: got.gaps,
      otherMessages: got.other,
    };
  } finally {
    await publisher.close(5000);
    await subs.stop();
    await stopChild(server.child);
  }
}

/** A fresh server, one never-reading subscriber (or none), RSS_EVENTS published in RSS_STEPS steps: the server's memory after each. */
async function memoryPhase(kind: Kind, dir: string, withSubscriber: boolean): Promise<Memory> {
  const server = await startServer(kind, dir);
  const publisher = new DashboardPublisher({ url: server.url, token, kind: "load", maxQueuedEvents: RSS_EVENTS + 1, warn: (l) => console.error(l) });
  let n = 0;
  const write = () => publisher.write(makeEvent(n++));
  let sock: Socket | undefined;
  let cut = false;
  // What the dashboard holds of the run (the peer cannot say: its quiet CPU is the sign).
  const held = async () => ((await (await fetch(`${server.url}api/v1/runs/${publisher.id}`)).json()) as { events: number }).events;
  try {
    if (kind === "dashboard") {
      write();
      await waitForRun(server.url, publisher.id);
    }
    if (withSubscriber) {
      sock = await stalledSubscriber(server.url, publisher.id);
      sock.once("close", () => (cut = true));
    }
    if (kind === "peer") write();
    await sleep(500);
    const beforeMB = vm(server.pid, "VmRSS");
    const steps: Memory["steps"] = [];
    let seconds = 0;
    for (let step = 1; step <= RSS_STEPS; step++) {
      const t0 = nowMs();
      await burst(write, Math.round((RSS_EVENTS * step) / RSS_STEPS) - n);
      const busy = await quiet(server.pid, kind === "dashboard" ? async () => (await held()) >= n : undefined);
      seconds += (busy - t0) / 1000;
      steps.push({ events: n, rssMB: vm(server.pid, "VmRSS"), ...(kind === "dashboard" ? { heldEvents: await held() } : {}) });
    }
    const { sent, dropped } = await publisher.close(DEADLINE_MS);
    const mid = steps[Math.floor(steps.length / 2) - 1] ?? { events: 0, rssMB: beforeMB };
    const last = steps[steps.length - 1];
    const per100k = (mb: number, events: number) => round2((mb / events) * 100_000);
    return {
      beforeMB,
      steps,
      mbPer100kEvents: { firstHalf: per100k(mid.rssMB - beforeMB, mid.events), secondHalf: per100k(last.rssMB - mid.rssMB, last.events - mid.events) },
      afterMB: vm(server.pid, "VmRSS"),
      peakMB: vm(server.pid, "VmHWM"),
      seconds,
      sent,
      dropped,
      ...(withSubscriber ? { subscriberCut: cut } : {}),
    };
  } finally {
    await publisher.close(0);
    sock?.destroy();
    await stopChild(server.child);
  }
}

/**
 * Waits until `ready` (if given) and the server's CPU time has stood still (under 30 ms) for half a
 * second: it has taken what was written. Returns when it was last seen busy (nowMs).
 */
async function quiet(pid: number, ready?: () => Promise<boolean>): Promise<number> {
  const until = nowMs() + DEADLINE_MS;
  let mark = { t: nowMs(), cpu: cpuSeconds(pid) };
  for (;;) {
    await sleep(100);
    const t = nowMs();
    const c = cpuSeconds(pid);
    if (c - mark.cpu >= 0.03) mark = { t, cpu: c };
    else if (t - mark.t >= 500 && (!ready || (await ready()))) return mark.t;
    if (t > until) throw new Error(`the server (pid ${pid}) did not go quiet within ${DEADLINE_MS} ms`);
  }
}

/** Writes `count` events at `rate` per second, those due every millisecond (a timer's tick) together. */
async function paced(write: () => void, rate: number, count: number): Promise<void> {
  const t0 = nowMs();
  for (let done = 0; done < count; ) {
    const due = Math.min(count, Math.floor(((nowMs() - t0) * rate) / 1000) + 1);
    for (; done < due; done++) write();
    await sleep(1);
  }
}

/** Writes `count` events as fast as the publisher takes them, a thousand per turn of the event loop (so it sends meanwhile). */
async function burst(write: () => void, count: number): Promise<void> {
  for (let done = 0; done < count; ) {
    for (const end = Math.min(count, done + 1000); done < end; done++) write();
    await new Promise((r) => setImmediate(r));
  }
}

// ---------------------------------------------------------------- children

interface Server {
  url: string;
  pid: number;
  child: ChildProcess;
}

async function startServer(kind: Kind, dir: string): Promise<Server> {
  const prof = process.env.DASHBOARD_BENCH_CPU_PROF;
  const args =
    kind === "dashboard"
      ? [...(prof ? ["--cpu-prof", `--cpu-prof-dir=${resolve(prof)}`] : []), join(ROOT, "bin/cardloop.js"), "dashboard", "--port", "0", "--runs", mkdtempSync(join(dir, "runs-"))]
      : ["--import=tsx", join(ROOT, "bench/ws-broadcast-peer.ts")];
  const child = spawnGrouped(args, { ...process.env, CARDLOOP_DASHBOARD_TOKEN: token }, ["ignore", "pipe", "pipe"]);
  let err = "";
  child.stderr!.on("data", (d) => (err = (err + d).slice(-2000)));
  const pattern = kind === "dashboard" ? /^cardloop dashboard: (http:\/\/\S+)$/m : /^(http:\/\/\S+)$/m;
  const url = await new Promise<string>((resolveUrl, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`${kind} did not start within ${DEADLINE_MS} ms: ${err}`)), DEADLINE_MS);
    child.stdout!.on("data", (d) => {
      out += d;
      const m = pattern.exec(out);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1].endsWith("/") ? m[1] : `${m[1]}/`);
      }
    });
    child.once("exit", (code) => reject(new Error(`${kind} exited with ${code}: ${err}`)));
  });
  return { url, pid: child.pid!, child };
}

async function waitForRun(base: string, id: string): Promise<void> {
  const until = Date.now() + DEADLINE_MS;
  while ((await fetch(`${base}api/v1/runs/${id}`)).status !== 200) {
    if (Date.now() > until) throw new Error(`the dashboard never showed run ${id}`);
    await sleep(20);
  }
}

function cpu(c: Cpu): string {
  return `server ${c.server.toFixed(2)}, publisher ${c.publisher.toFixed(2)}, subscribers ${c.subscribers.toFixed(2)}`;
}

/** The round with the median throughput (the lower middle of an even count). */
function median(ds: Delivery[]): Delivery {
  return [...ds].sort((a, b) => a.eventsPerSecondPerSubscriber - b.eventsPerSecondPerSubscriber)[Math.floor((ds.length - 1) / 2)];
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

const ms = (l: LatencySummary) => `${l.p50Ms.toFixed(2)}/${l.p99Ms.toFixed(2)} ms`;

// Last: every constant above is initialised by now.
await main();
