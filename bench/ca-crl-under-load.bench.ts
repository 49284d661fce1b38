/**
 * OCSP and revocation latency while CRLs of 1,000,000 entries are rebuilt
 * (issue 13): a served CA with 1,000,000 revoked certificates; for
 * CA_BENCH_LOAD_MS (10 s), from this process: OCSP requests at a steady
 * rate (open loop, latency from each request's intended start, so a stall
 * counts for every request it delayed), one revocation every 100-700 ms,
 * and GET /crl in a loop (each after a revocation forces a rebuild).
 * Goals: OCSP p99 <= 20 ms and revocation p99 <= 20 ms.
 *
 * Peer, same run, same data, same load: the same server with the CRL built
 * as before issue 13 (`crlBuild: "sync"`: re-encoded and signed on the event
 * loop). Its figures over ours are the ratios printed. Second peer: OCSP
 * alone (IDLE_MS before the load, same rate, same server), this machine's
 * floor; the server's event-loop delay is reset when the load starts.
 *
 * The served CA is a child process of its own (its own event loop, as
 * `cardloop ca serve`), started from this file with `--serve`: the CLI has no
 * switch for the old build, and both modes must run the same server code
 * (startCaServer, the CLI's) with the same limits. The per-client limits are
 * raised: all the load comes from one loopback address.
 *
 * Setup as bench/ca-crl.bench.ts: rows without DER (CaStore.insertSynthetic),
 * revoked with the store's bulk path.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Pool } from "undici";
import { SeededRandom, summarise, SystemClock, type LatencySummary } from "../core/index.js";
import { spawnGroup } from "../harness/processes.js";
import { buildOcspRequest, Certificate, pemToDer } from "../pki/index.js";
import { EmbeddedCa, startCaServer } from "../simulator/ca/index.js";
import { benchSerials, writeResult } from "./ca-bench-util.js";

const N = Number(process.env.CA_BENCH_CRL_N ?? 1_000_000);
const LOAD_MS = Number(process.env.CA_BENCH_LOAD_MS ?? 10_000);
// Well below what the server answers (~30k/s): the latency under CRL rebuilds is the figure, and a 2-core machine
// shared with the load generator must not make the generator itself fall behind.
const OCSP_RATE = Number(process.env.CA_BENCH_OCSP_RATE ?? 1000);
const SPARE = 20_000;
const IDLE_MS = 3000;
const GOAL_MS = 20;
const ROUNDS = Number(process.env.CA_BENCH_ROUNDS ?? 3);

type Mode = "worker" | "sync";

if (process.argv[2] === "--serve") await serve(process.argv[3], process.argv[4] as Mode);
else await main();

/** The child: the CA in `dir`, served as the CLI serves it, with the CRL built the `mode` way. */
async function serve(dir: string, mode: Mode): Promise<void> {
  const ca = await EmbeddedCa.open({ dataDir: dir, clock: new SystemClock(), crlBuild: mode });
  const server = await startCaServer(ca, { port: 0, limits: { requestsPerClient: 4096, connectionsPerClient: 4096 } });
  // The server's own event-loop delay: what the CA's thread suffered, apart from the client's and the machine's share.
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  process.on("SIGUSR2", () => delay.reset()); // the bench: the loaded phase starts now
  process.stdout.write(`${server.url}\n`);
  process.once("SIGTERM", () => {
    delay.disable();
    const ms = (ns: number) => Number((ns / 1e6).toFixed(1));
    process.stdout.write(`event-loop-delay ${JSON.stringify({ p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max) })}\n`);
    void server.close().then(() => ca.close()).then(() => process.exit(0));
  });
}

async function main(): Promise<void> {
  const teardowns: Array<() => Promise<void> | void> = [];
  const owner = { teardown: (fn: () => Promise<void> | void) => void teardowns.push(fn) };
  const dir = mkdtempSync(join(tmpdir(), "cardloop-bench-crl-load-"));
  try {
    const clock = new SystemClock();
    const now = clock.nowMs();
    const revokedSet = benchSerials(N, 11);
    const spare = benchSerials(SPARE, 12); // good at the start: OCSP asks about them, revocations take them
    let t = performance.now();
    const ca = await EmbeddedCa.open({ dataDir: join(dir, "ca"), clock });
    ca.store.insertSynthetic([...revokedSet, ...spare], "bench", now, now + 3 * 365 * 86_400_000);
    for (let i = 0; i < N; i += 100_000) {
      ca.store.bulkRevoke(revokedSet.slice(i, i + 100_000), 1, 1, now, { at: now, serial: null, role: "bench", action: "bulk-revoke", outcome: "ok" });
    }
    await ca.close();
    console.log(`setup: ${N} revoked + ${SPARE} good certificates in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const token = readFileSync(join(dir, "ca", "operator.token"), "utf8").trim();

    // Rounds alternate between the two builds (the machine is shared: its load varies); each mode revokes its own
    // spare serials; OCSP asks about others, good and revoked.
    const rounds: Record<Mode, Figures[]> = { worker: [], sync: [] };
    const asked = [...spare.slice(1000, 6000), ...revokedSet.slice(0, 5000)];
    let next = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of ["worker", "sync"] as const) {
        t = performance.now();
        const child = spawnGroup(owner, process.execPath, [...(process.env.CA_BENCH_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.CA_BENCH_PROF}`] : []), "--import=tsx", import.meta.filename, "--serve", join(dir, "ca"), mode], { label: `ca (${mode})`, deadlineMs: 170_000 });
        const url = (await child.waitFor("stdout", /^(http:\/\/\S+)$/m, 120_000))[1];
        const opened = performance.now() - t;
        const f = await load(url, token, spare.slice(next, next + 100), asked, () => child.signal("SIGUSR2"));
        next += 100;
        await child.stop();
        const eld = /event-loop-delay (\{.*\})/.exec(child.stdout);
        f.serverEventLoopDelayMs = eld ? (JSON.parse(eld[1]) as Figures["serverEventLoopDelayMs"]) : undefined;
        rounds[mode].push(f);
        print(`${mode} (round ${round + 1}, served after ${(opened / 1000).toFixed(1)} s)`, f);
      }
    }
    // The median round by OCSP p99, per mode.
    const median = (xs: Figures[]) => [...xs].sort((a, b) => a.ocsp.p99Ms - b.ocsp.p99Ms)[Math.floor(xs.length / 2)];
    const w = median(rounds.worker);
    const s = median(rounds.sync);
    const ratio = (a: number, b: number) => Number((a / b).toFixed(1));
    console.log(
      `median rounds: worker OCSP p50 ${w.ocsp.p50Ms.toFixed(1)} ms p99 ${w.ocsp.p99Ms.toFixed(1)} ms, revocation p99 ${w.revocation.p99Ms.toFixed(1)} ms; ` +
        `peer (sync) OCSP p50 ${s.ocsp.p50Ms.toFixed(1)} ms p99 ${s.ocsp.p99Ms.toFixed(1)} ms, revocation p99 ${s.revocation.p99Ms.toFixed(1)} ms`,
    );
    console.log(`second peer, OCSP alone on the same server (no revocations, no CRL): p99 ${w.ocspIdle.p99Ms.toFixed(1)} ms -> loaded/idle ${ratio(w.ocsp.p99Ms, w.ocspIdle.p99Ms)}x`);
    console.log(`peer (CRL built on the event loop, as before) over worker build: OCSP p99 ${ratio(s.ocsp.p99Ms, w.ocsp.p99Ms)}x, revocation p99 ${ratio(s.revocation.p99Ms, w.revocation.p99Ms)}x`);
    const met = { ocspP99: w.ocsp.p99Ms <= GOAL_MS, revocationP99: w.revocation.p99Ms <= GOAL_MS };
    console.log(`goals (worker build): OCSP p99 <= ${GOAL_MS} ms ${met.ocspP99 ? "met" : "NOT met"}; revocation p99 <= ${GOAL_MS} ms ${met.revocationP99 ? "met" : "NOT met"}`);
    writeResult("ca-crl-under-load", {
      revokedEntries: N,
      loadMs: LOAD_MS,
      load: `OCSP open loop at ${OCSP_RATE}/s (latency from intended start), one revocation every 100-700 ms, GET /crl in a loop (300 ms apart); undici from one process, loopback`,
      rounds: ROUNDS,
      worker: w,
      peer: { name: 'same server, crlBuild "sync" (CRL re-encoded and signed on the event loop, as before issue 13)', ...s },
      allRounds: { worker: rounds.worker.map(brief), sync: rounds.sync.map(brief) },
      loadAverageAtEnd: loadavg()[0],
      ratioLoadedOverIdle: { ocspP99: ratio(w.ocsp.p99Ms, w.ocspIdle.p99Ms) },
      ratioPeerOverOurs: { ocspP99: ratio(s.ocsp.p99Ms, w.ocsp.p99Ms), revocationP99: ratio(s.revocation.p99Ms, w.revocation.p99Ms) },
      goalMs: GOAL_MS,
      met,
    });
  } finally {
    for (const fn of teardowns.reverse()) await fn();
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Figures {
  ocsp: LatencySummary & { errors: number; rate: number };
  revocation: LatencySummary & { errors: number };
  /** OCSP alone, before the revocations and CRL fetches start (same rate, same server). */
  ocspIdle: LatencySummary & { errors: number };
  crl: LatencySummary & { fetches: number; bytes: number; errors: number };
  /** The served CA's event-loop delay while revocations and CRL fetches ran (monitorEventLoopDelay, reset by SIGUSR2). */
  serverEventLoopDelayMs?: { p50: number; p99: number; max: number };
}

async function load(url: string, token: string, toRevoke: string[], asked: string[], loaded: () => void): Promise<Figures> {
  const issuing = new Certificate(pemToDer(await (await fetch(`${url}/ca`)).text(), "CERTIFICATE"));
  const bodies = asked.map((s) => Buffer.from(buildOcspRequest(issuing, [s])));
  const pool = new Pool(url, { connections: 64 });
  const side = new Pool(url, { connections: 4 });
  const ocspPost = async (body: Buffer) => {
    const r = await pool.request({ path: "/ocsp", method: "POST", body, headers: { "content-type": "application/ocsp-request" } });
    await r.body.arrayBuffer();
    return r.statusCode;
  };
  // Warm the responder's cache of signed answers (a running responder's steady state) and the server's first CRL.
  for (let i = 0; i < bodies.length; i += 256) await Promise.all(bodies.slice(i, i + 256).map(ocspPost));
  await (await side.request({ path: "/crl", method: "GET" })).body.arrayBuffer();

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  /** OCSP at OCSP_RATE from `start` until `end`, each latency from its intended start, into `into`. */
  const ocspLoop = async (start: number, end: number, into: number[]): Promise<number> => {
    const inFlight = new Set<Promise<void>>();
    let sent = 0;
    let errors = 0;
    while (performance.now() < end) {
      const due = Math.floor(((performance.now() - start) * OCSP_RATE) / 1000);
      for (; sent < due; sent++) {
        const intended = start + (sent * 1000) / OCSP_RATE;
        const p: Promise<void> = ocspPost(bodies[sent % bodies.length]).then(
          (status) => {
            if (status === 200) into.push(performance.now() - intended);
            else errors++;
          },
          () => void errors++,
        );
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
      }
      await sleep(1);
    }
    await Promise.all(inFlight);
    return errors;
  };

  // OCSP alone first (no revocation, no CRL): this machine's floor, the second peer figure.
  const idleMs: number[] = [];
  const idleStart = performance.now();
  const idleErrors = await ocspLoop(idleStart, idleStart + IDLE_MS, idleMs);
  loaded(); // the server's event-loop delay from here on

  const random = new SeededRandom(5);
  const ocspMs: number[] = [];
  const revokeMs: number[] = [];
  const crlMs: number[] = [];
  let ocspErrors = 0;
  let revokeErrors = 0;
  let crlErrors = 0;
  let crlBytes = 0;
  const start = performance.now();
  const end = start + LOAD_MS;
  const revokeLoop = async () => {
    for (const serial of toRevoke) {
      await sleep(100 + (random.bytes(2).reduce((a, b) => a * 256 + b, 0) % 601));
      if (performance.now() >= end) break;
      const t0 = performance.now();
      try {
        const r = await side.request({
          path: "/api/v1/revocations",
          method: "POST",
          body: JSON.stringify({ serials: [serial], reason: "keyCompromise" }),
          headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        });
        const out = (await r.body.json()) as { revoked?: number };
        if (r.statusCode === 200 && out.revoked === 1) revokeMs.push(performance.now() - t0);
        else revokeErrors++;
      } catch {
        revokeErrors++;
      }
    }
  };
  const crlLoop = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        const r = await side.request({ path: "/crl", method: "GET" });
        let bytes = 0;
        for await (const chunk of r.body) bytes += (chunk as Buffer).length; // counted, not kept: the client's memory is not measured
        if (r.statusCode === 200) {
          crlMs.push(performance.now() - t0);
          crlBytes = bytes;
        } else crlErrors++;
      } catch {
        crlErrors++;
      }
      await sleep(300);
    }
  };
  const ocspRun = async () => {
    ocspErrors = await ocspLoop(start, end, ocspMs);
  };
  await Promise.all([ocspRun(), revokeLoop(), crlLoop()]);
  const elapsed = performance.now() - start;
  await pool.close();
  await side.close();
  return {
    ocsp: { ...summarise(ocspMs), errors: ocspErrors, rate: Math.round(ocspMs.length / (elapsed / 1000)) },
    ocspIdle: { ...summarise(idleMs), errors: idleErrors },
    revocation: { ...summarise(revokeMs), errors: revokeErrors },
    crl: { ...summarise(crlMs), fetches: crlMs.length, bytes: crlBytes, errors: crlErrors },
  };
}

function brief(f: Figures) {
  return { ocspP50: f.ocsp.p50Ms, ocspP99: f.ocsp.p99Ms, ocspIdleP99: f.ocspIdle.p99Ms, revocationP99: f.revocation.p99Ms, crlFetches: f.crl.fetches, serverEventLoopDelayMs: f.serverEventLoopDelayMs };
}

function print(mode: string, f: Figures): void {
  const ms = (x: number) => x.toFixed(1);
  console.log(
    `${mode}: OCSP idle p50 ${ms(f.ocspIdle.p50Ms)} ms p99 ${ms(f.ocspIdle.p99Ms)} ms; loaded: OCSP ${f.ocsp.count} answers (${f.ocsp.rate}/s, ${f.ocsp.errors} errors) p50 ${ms(f.ocsp.p50Ms)} ms p99 ${ms(f.ocsp.p99Ms)} ms max ${ms(f.ocsp.maxMs)} ms; ` +
      `revocations ${f.revocation.count} p50 ${ms(f.revocation.p50Ms)} ms p99 ${ms(f.revocation.p99Ms)} ms max ${ms(f.revocation.maxMs)} ms (${f.revocation.errors} errors); ` +
      `GET /crl ${f.crl.fetches}x (${(f.crl.bytes / 1e6).toFixed(1)} MB) p50 ${ms(f.crl.p50Ms)} ms max ${ms(f.crl.maxMs)} ms; ` +
      `server event-loop delay p99 ${f.serverEventLoopDelayMs?.p99 ?? "?"} ms max ${f.serverEventLoopDelayMs?.max ?? "?"} ms`,
  );
}
