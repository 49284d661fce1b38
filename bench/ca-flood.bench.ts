/**
 * The served CA under an anonymous flood (issue 11): p99 latency of
 * legitimate requests and the server's memory, first without, then with a
 * flood running; both printed, with the ratio.
 *
 * The CA is the real CLI server (`cardloop ca serve`, its own process, default
 * limits) on loopback. Legitimate clients, from 127.0.0.1: 200 requests a
 * second on keep-alive connections (an open loop: latency counts from each
 * request's scheduled time), each in turn an OCSP POST (28 in 40), a holder's
 * status GET (8 in 40), an operator revocation of one certificate (3 in 40,
 * one fsynced transaction each) or a holder's revocation with the card's
 * cancellation code (1 in 40: a key derivation, the work the flood competes
 * for). The flood comes from 8 other
 * loopback addresses (127.0.0.2-9, as other machines would: the per-client
 * limits are per address), each with: a client sending 60 MB bodies, one
 * sending JSON nested 4,000 deep, one guessing cancellation codes on real
 * cards' serials (public on the CRL: each guess a key derivation until the
 * source's budget is spent), one guessing codes on serials that do not exist
 * (the CA runs its KDF for those too, so that timing does not tell which
 * serials exist), one presenting a wrong bearer token, and 5 slow clients
 * dripping header bytes.
 * CA_FLOOD_ATTACKS=oversize,deep,codes,unknown,tokens,slow picks some.
 *
 * The flood runs in a process of its own, so that its clients' work does not
 * sit in the legitimate clients' event loop (the machine's cores are still
 * shared: on 2 cores the flood's client competes with the server for CPU).
 *
 * Memory: VmRSS sampled every 100 ms from /proc/<pid>/status, and the peak
 * (VmHWM, reset with /proc/<pid>/clear_refs at the start of each phase); the
 * server's CPU time per phase from /proc/<pid>/stat.
 * Certificates are pre-issued with the store's direct insert path; the cards
 * whose holders revoke, and the cards the flood guesses on, are issued for
 * real (with codes).
 */
import { spawn } from "node:child_process";
import { request, Agent } from "node:http";
import { connect, type Socket } from "node:net";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { summarise, SystemClock, type LatencySummary } from "../core/index.js";
import { buildOcspRequest, Certificate, pemToDer } from "../pki/index.js";
import { EmbeddedCa } from "../simulator/ca/index.js";
import { makeCsr } from "../simulator/ca/testing.js";
import { benchSerials, cpuSeconds, spawnCaServer, stop, writeResult } from "./ca-bench-util.js";

const CERTS = 20_000;
const PHASE_MS = Number(process.env.CA_BENCH_FLOOD_MS ?? 8000);
/** Legitimate requests a second, and the most of them in flight at once (the per-client limit is 16). */
const LEGIT_RATE = 200;
const LEGIT_SOCKETS = 8;
const ATTACKERS = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);
const SLOW_PER_ATTACKER = 5;
/** Which attacks run (all by default); CA_FLOOD_ATTACKS picks some, to see what each costs. */
const FLOOD_ATTACKS = new Set((process.env.CA_FLOOD_ATTACKS ?? "oversize,deep,codes,unknown,tokens,slow").split(","));

type Kind = "ocsp" | "status" | "revoke" | "holder";
/** Cards issued for real: their holders revoke with their codes (HOLDER_CARDS per phase); the flood guesses on ATTACKED_CARDS. */
const HOLDER_CARDS = Math.ceil((LEGIT_RATE * PHASE_MS) / 1000 / 40);
const ATTACKED_CARDS = 16;

interface HolderCard {
  serial: string;
  code: string;
  email: string;
  name: string;
}

interface Phase {
  latency: LatencySummary;
  byKind: Record<Kind, LatencySummary>;
  legitErrors: number;
  rssMaxMiB: number;
  peakRssMiB: number;
  /** CPU seconds the server used during the phase (user + system, /proc/<pid>/stat). */
  serverCpuS: number;
  flood?: Record<string, number>;
}

if (process.env.CA_FLOOD_TARGET) await floodProcess(process.env.CA_FLOOD_TARGET);
else await main();

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "cardloop-bench-flood-"));
  let server: Awaited<ReturnType<typeof spawnCaServer>> | undefined;
  try {
    const clock = new SystemClock();
    const now = clock.nowMs();
    const serials = benchSerials(CERTS, 41);
    const ca = await EmbeddedCa.open({ dataDir: join(dir, "ca"), clock });
    ca.store.insertSynthetic(serials, "bench", now, now + 365 * 86_400_000);
    const cards = await issueCards(ca, 2 * HOLDER_CARDS + ATTACKED_CARDS);
    await ca.close();
    const operatorToken = readFileSync(join(dir, "ca", "operator.token"), "utf8").trim();
    server = await spawnCaServer(join(dir, "ca"));
    const url = new URL(server.url);
    const pid = server.child.pid!;
    const issuing = new Certificate(pemToDer(await (await fetch(`${server.url}/ca`)).text(), "CERTIFICATE"));
    const ocspBodies = serials.slice(0, 1000).map((s) => Buffer.from(buildOcspRequest(issuing, [s])));
    await warmUp(url, ocspBodies);

    const baseline = await phase(pid, () => legitimate(url, ocspBodies, serials, operatorToken, { ms: PHASE_MS, revoke: serials.slice(5000, 12_500), holders: cards.slice(0, HOLDER_CARDS) }));
    report("without flood", baseline);
    // The flood runs in its own process: its clients' work must not sit in the legitimate clients' event loop.
    const flood = await startFloodProcess(server.url, serials, cards.slice(2 * HOLDER_CARDS).map((c) => c.serial));
    const flooded = await phase(pid, () => legitimate(url, ocspBodies, serials, operatorToken, { ms: PHASE_MS, revoke: serials.slice(12_500), holders: cards.slice(HOLDER_CARDS, 2 * HOLDER_CARDS) }));
    flooded.flood = await flood.stop();
    report("with flood", flooded);
    const alive = server.child.exitCode === null && (await fetch(`${server.url}/crl`)).status === 200;
    const ratio = flooded.latency.p99Ms / baseline.latency.p99Ms;
    console.log(`p99 with/without flood: ${ratio.toFixed(2)}; peak RSS ${baseline.peakRssMiB} -> ${flooded.peakRssMiB} MiB; server up after: ${alive}`);
    writeResult("ca-flood", {
      phaseMs: PHASE_MS,
      legitimate: `${LEGIT_RATE} requests/s (open loop, at most ${LEGIT_SOCKETS} keep-alive connections) from 127.0.0.1: OCSP POST 28/40, status GET 8/40, operator revocation 3/40, holder revocation with a code 1/40`,
      flood: `from ${ATTACKERS.length} addresses, each: ${[...FLOOD_ATTACKS].join(", ")} (${SLOW_PER_ATTACKER} slow clients)`,
      withoutFlood: baseline,
      withFlood: flooded,
      p99Ratio: Number(ratio.toFixed(3)),
      serverUpAfter: alive,
    });
  } finally {
    if (server) await stop(server.child);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Starts this file as the flood process against `url`; stop() ends it and returns what its attacks were answered. */
async function startFloodProcess(url: string, serials: string[], attacked: string[]) {
  const child = spawn(process.execPath, ["--import=tsx", import.meta.filename], {
    env: { ...process.env, CA_FLOOD_TARGET: url, CA_FLOOD_SERIALS: JSON.stringify([serials[0], serials[1], serials[2], ...attacked]) },
    stdio: ["pipe", "pipe", "inherit"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", () => out.includes("flooding\n") && resolve());
    child.once("exit", (code) => reject(new Error(`the flood process exited (${code})`)));
  });
  return {
    async stop(): Promise<Record<string, number>> {
      const exited = new Promise((r) => child.once("exit", r));
      child.stdin!.end();
      await exited;
      return JSON.parse(out.slice(out.indexOf("flooding\n") + "flooding\n".length)) as Record<string, number>;
    },
  };
}

/** The flood process: floods until its stdin closes, then prints the answers it got (JSON) and exits. */
async function floodProcess(target: string): Promise<void> {
  const serials = JSON.parse(process.env.CA_FLOOD_SERIALS ?? "[]") as string[];
  const flood = startFlood(new URL(target), serials);
  process.stdout.write("flooding\n");
  await new Promise((r) => process.stdin.once("end", r).resume());
  process.stdout.write(JSON.stringify(await flood.stop()) + "\n");
  process.exit(0);
}

function report(name: string, p: Phase): void {
  const k = (s: LatencySummary) => `p50 ${s.p50Ms.toFixed(2)} / p99 ${s.p99Ms.toFixed(2)} ms (${s.count})`;
  console.log(
    `${name}: legitimate ${k(p.latency)}; ocsp ${k(p.byKind.ocsp)}; status ${k(p.byKind.status)}; revoke ${k(p.byKind.revoke)}; holder ${k(p.byKind.holder)}; errors ${p.legitErrors}; RSS max ${p.rssMaxMiB} MiB, peak ${p.peakRssMiB} MiB; server CPU ${p.serverCpuS} s` +
      (p.flood ? `; flood answered ${JSON.stringify(p.flood)}` : ""),
  );
}

/** Cards issued for real (cancellation codes, a key derivation per revocation), in parallel batches. */
async function issueCards(ca: EmbeddedCa, n: number): Promise<HolderCard[]> {
  const csrPem = (await makeCsr()).pem;
  const cards: HolderCard[] = [];
  for (let i = 0; i < n; i += 8) {
    const batch = Array.from({ length: Math.min(8, n - i) }, async (_, j) => {
      const holder = { id: `FLOOD-${i + j}`, name: `Holder ${i + j}`, email: `holder${i + j}@example.org` };
      const r = await ca.issue({ csrPem, profile: "authentication", holder, raToken: ca.raToken });
      return { serial: r.serial, code: r.cancellationCodes!.holder, email: holder.email, name: holder.name };
    });
    cards.push(...(await Promise.all(batch)));
  }
  return cards;
}

/** Runs `work` while sampling the server's memory. */
async function phase(pid: number, work: () => Promise<{ samples: Record<Kind, number[]>; errors: number }>): Promise<Phase> {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
  } catch {
    // not allowed here: the peak is then the process's whole-life peak
  }
  let rssMax = 0;
  const cpu0 = cpuSeconds(pid);
  const sampler = setInterval(() => (rssMax = Math.max(rssMax, memory(pid).rss)), 100);
  const r = await work();
  clearInterval(sampler);
  const all = [...r.samples.ocsp, ...r.samples.status, ...r.samples.revoke, ...r.samples.holder];
  return {
    latency: summarise(all),
    byKind: { ocsp: summarise(r.samples.ocsp), status: summarise(r.samples.status), revoke: summarise(r.samples.revoke), holder: summarise(r.samples.holder) },
    legitErrors: r.errors,
    rssMaxMiB: Math.round(Math.max(rssMax, memory(pid).rss) / 1024),
    peakRssMiB: Math.round(memory(pid).hwm / 1024),
    serverCpuS: Number((cpuSeconds(pid) - cpu0).toFixed(2)),
  };
}

function memory(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (f: string) => Number(new RegExp(`^${f}:\\s+(\\d+) kB`, "m").exec(s)?.[1] ?? 0);
  return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
}

/** One HTTP exchange over `agent`; resolves with the status (0 on a socket error), the body drained. */
function exchange(url: URL, agent: Agent, method: string, path: string, headers: Record<string, string | number>, body?: Buffer | string, localAddress?: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers, agent, localAddress }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
      res.on("error", () => resolve(0));
    });
    req.on("error", () => resolve(0));
    req.end(body);
  });
}

/** Fills the responder's cache of signed responses for the serials the legitimate clients ask about (not measured). */
async function warmUp(url: URL, ocspBodies: Buffer[]): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  let next = 0;
  const loop = async () => {
    while (next < ocspBodies.length) {
      const body = ocspBodies[next++];
      await exchange(url, agent, "POST", "/ocsp", { "content-type": "application/ocsp-request", "content-length": body.length }, body);
    }
  };
  await Promise.all(Array.from({ length: 8 }, loop));
  agent.destroy();
}

/**
 * The legitimate clients: an open loop of LEGIT_RATE requests a second for
 * `ms`, at most LEGIT_SOCKETS at once (more wait their turn). A latency runs
 * from the request's scheduled time, so time spent waiting behind a slow
 * answer counts too (no coordinated omission).
 */
async function legitimate(url: URL, ocspBodies: Buffer[], serials: string[], token: string, o: { ms: number; revoke: string[]; holders: HolderCard[] }) {
  const agent = new Agent({ keepAlive: true, maxSockets: LEGIT_SOCKETS });
  const samples: Record<Kind, number[]> = { ocsp: [], status: [], revoke: [], holder: [] };
  let errors = 0;
  let revoked = 0;
  let holders = 0;
  const one = async (i: number, due: number) => {
    const k = i % 40;
    const kind: Kind = k < 28 ? "ocsp" : k < 36 ? "status" : k < 39 ? "revoke" : "holder";
    let status: number;
    if (kind === "holder") {
      const c = o.holders[holders++ % o.holders.length];
      const body = JSON.stringify({ reason: "keyCompromise", role: "holder", code: c.code, email: c.email, name: c.name });
      status = await exchange(url, agent, "POST", `/api/v1/certificates/${c.serial}/revoke`, { "content-type": "application/json", "content-length": Buffer.byteLength(body) }, body);
    } else if (kind === "ocsp") {
      const body = ocspBodies[i % ocspBodies.length];
      status = await exchange(url, agent, "POST", "/ocsp", { "content-type": "application/ocsp-request", "content-length": body.length }, body);
    } else if (kind === "status") status = await exchange(url, agent, "GET", `/api/v1/certificates/${serials[i % ocspBodies.length]}`, {});
    else {
      const body = JSON.stringify({ serials: [o.revoke[revoked++ % o.revoke.length]], reason: "keyCompromise" });
      status = await exchange(url, agent, "POST", "/api/v1/revocations", { "content-type": "application/json", "content-length": Buffer.byteLength(body), authorization: `Bearer ${token}` }, body);
    }
    samples[kind].push(performance.now() - due);
    if (status !== 200) errors++;
  };
  const interval = 1000 / LEGIT_RATE;
  const start = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i * interval < o.ms; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    // From its scheduled time if it starts late (behind a slow answer), from its start if timers let it start early.
    pending.push(one(i, Math.min(due, performance.now())));
  }
  await Promise.all(pending);
  agent.destroy();
  return { samples, errors };
}

/** The anonymous flood, until stopped; counts the answers it got per attack. */
function startFlood(url: URL, serials: string[]) {
  let running = true;
  const answers: Record<string, number> = {};
  const count = (attack: string, status: number | string) => {
    const k = `${attack} ${status}`;
    answers[k] = (answers[k] ?? 0) + 1;
  };
  const sockets = new Set<Socket>();
  const rawSocket = (localAddress: string) => {
    const s = connect({ host: url.hostname, port: Number(url.port), localAddress });
    sockets.add(s);
    s.on("error", () => undefined);
    s.on("close", () => sockets.delete(s));
    return s;
  };
  const closed = (s: Socket) => new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once("close", () => resolve())));
  const chunk = Buffer.alloc(64 * 1024, "a");

  const oversize = async (addr: string) => {
    while (running) {
      const s = rawSocket(addr);
      const gone = closed(s);
      let answer = "";
      s.on("data", (d: Buffer) => (answer ||= d.toString("latin1", 0, 12)));
      s.write(`POST /api/v1/certificates/${serials[0]}/revoke HTTP/1.1\r\nhost: ca\r\ncontent-type: application/json\r\ncontent-length: 60000000\r\n\r\n`);
      for (let sent = 0; running && !s.destroyed && sent < 60_000_000 && answer === ""; sent += chunk.length) {
        if (!s.write(chunk)) await Promise.race([new Promise((r) => s.once("drain", r)), gone]);
      }
      s.destroy();
      count("60MB-body", answer.slice(9, 12) || "closed");
    }
  };
  // One keep-alive socket per attack and address; `exchange` binds it to the attacker's address.
  const newAgent = () => new Agent({ keepAlive: true, maxSockets: 1 });
  const deep = async (addr: string) => {
    const agent = newAgent();
    const body = `{"answers":${"[".repeat(4000)}}`;
    while (running) count("deep-json", await exchange(url, agent, "POST", `/api/v1/certificates/${serials[1]}/revoke`, { "content-type": "application/json", "content-length": body.length }, body, addr));
    agent.destroy();
  };
  const codes = async (addr: string) => {
    const agent = newAgent();
    for (let i = 0; running; i++) {
      const body = JSON.stringify({ reason: "keyCompromise", role: "holder", code: "AAAA-BBBB-CCCC-DDDD", email: "x@example.org", name: "X" });
      count("wrong-code", await exchange(url, agent, "POST", `/api/v1/certificates/${serials[3 + (i % (serials.length - 3))]}/revoke`, { "content-type": "application/json", "content-length": body.length }, body, addr));
    }
    agent.destroy();
  };
  // Wrong codes on serials that do not exist: the CA does the same KDF work as for a real one (so timing does not tell).
  const unknown = async (addr: string) => {
    const agent = newAgent();
    for (let i = 0; running; i++) {
      const body = JSON.stringify({ reason: "keyCompromise", role: "holder", code: "AAAA-BBBB-CCCC-DDDD", email: "x@example.org", name: "X" });
      const serial = `7f${addr.split(".")[3].padStart(4, "0")}${i.toString(16).padStart(26, "0")}`;
      count("unknown-serial", await exchange(url, agent, "POST", `/api/v1/certificates/${serial}/revoke`, { "content-type": "application/json", "content-length": body.length }, body, addr));
    }
    agent.destroy();
  };
  const tokens = async (addr: string) => {
    const agent = newAgent();
    const body = JSON.stringify({ serials: [serials[2]], reason: "keyCompromise" });
    while (running) count("wrong-token", await exchange(url, agent, "POST", "/api/v1/revocations", { "content-type": "application/json", "content-length": body.length, authorization: "Bearer guessed-token" }, body, addr));
    agent.destroy();
  };
  const slow = async (addr: string) => {
    while (running) {
      const s = rawSocket(addr);
      const gone = closed(s);
      count("slow-headers", "opened");
      s.write("GET /crl HTTP/1.1\r\nhost: ca\r\n");
      while (running && !s.destroyed) {
        s.write("x-slow: 1\r\n");
        await Promise.race([new Promise((r) => setTimeout(r, 500)), gone]);
      }
      if (running) count("slow-headers", "cut-off");
      s.destroy();
    }
  };
  const chosen = FLOOD_ATTACKS;
  const workers = ATTACKERS.flatMap((a) => [
    ...(chosen.has("oversize") ? [oversize(a)] : []),
    ...(chosen.has("deep") ? [deep(a)] : []),
    ...(chosen.has("codes") ? [codes(a)] : []),
    ...(chosen.has("unknown") ? [unknown(a)] : []),
    ...(chosen.has("tokens") ? [tokens(a)] : []),
    ...(chosen.has("slow") ? Array.from({ length: SLOW_PER_ATTACKER }, () => slow(a)) : []),
  ]);
  return {
    async stop() {
      running = false;
      for (const s of sockets) s.destroy();
      await Promise.all(workers);
      return answers;
    },
  };
}
