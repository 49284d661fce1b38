/**
 * Issuance through the HTTP API, as a load test prepares its certificates:
 * `POST /api/v1/certificates` with the RA token, one new holder per
 * certificate (so every request registers a card and makes its codes), a
 * handful of CSRs cycled, `--concurrency` in flight (64) over keep-alive,
 * `--count` certificates (20,000). The CA is the real CLI server in a child
 * process (`cardloop ca serve`, per-client limits raised for one load agent).
 *
 * Second row, same run, a server of its own: the same `--count` certificates
 * through the bulk endpoint `POST /api/v1/certificates/batch` (`--batch`
 * requests per body, 500; `--batches-in-flight`, 4), what `load revoke
 * --prepare` uses. The two rows alternate in `--rounds` (3) rounds of
 * count / rounds each, the per-round ratio's median printed beside the overall one.
 *
 * Peer, same run: CFSSL's `POST /api/v1/cfssl/sign` (conformance/adapters/cfssl.ts
 * starts it with its SQLite certdb) with the same CSRs and concurrency;
 * `--peer-count` (5,000 by default) requests, rates compared per second.
 *
 *   node --import=tsx bench/ca-issue.bench.ts [--count N] [--peer-count N] [--concurrency C] [--batch B] [--batches-in-flight K] [--rounds R]
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Pool } from "undici";
import { CfsslCa } from "../conformance/adapters/cfssl.js";
import { makeCsr } from "../simulator/ca/testing.js";
import { spawnCaServer, stop, writeResult } from "./ca-bench-util.js";

const { values } = parseArgs({
  options: { count: { type: "string" }, "peer-count": { type: "string" }, concurrency: { type: "string" }, batch: { type: "string" }, "batches-in-flight": { type: "string" }, rounds: { type: "string" } },
});
const N = whole(values.count, 20_000, "--count");
const PEER_N = whole(values["peer-count"], Math.min(N, 5_000), "--peer-count");
const C = whole(values.concurrency, 64, "--concurrency");
const B = whole(values.batch, 500, "--batch");
const K = whole(values["batches-in-flight"], 4, "--batches-in-flight");
const ROUNDS = whole(values.rounds, 3, "--rounds");
const CSRS = 4;

function whole(v: string | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!/^\d{1,9}$/.test(v) || Number(v) < 1) throw new Error(`${name} must be a whole number from 1 (got ${v})`);
  return Number(v);
}

/** Runs `count` requests made by `send(i)` with `inFlight` at once; returns the elapsed ms. Any non-2xx answer ends the bench. */
async function closedLoop(count: number, send: (i: number) => Promise<void>, inFlight = C): Promise<number> {
  let next = 0;
  const t = performance.now();
  const worker = async () => {
    while (next < count) await send(next++);
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, worker));
  return performance.now() - t;
}

const holderOf = (i: number) => ({ id: `bench-${i}`, name: `Bench Holder ${i}`, email: `h${i}@example.org` });

async function postJson(pool: Pool, path: string, body: string, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const res = await pool.request({ method: "POST", path, body, headers: { "content-type": "application/json", ...headers } });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`${path} answered ${res.statusCode}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as Record<string, unknown>;
}

const csrs = await Promise.all(Array.from({ length: CSRS }, () => makeCsr().then((c) => c.pem)));
const dir = mkdtempSync(join(tmpdir(), "cardloop-bench-issue-"));
/** Per round, each mode's ms for its N / ROUNDS certificates (rounds alternate the two modes: the machine's load shifts within seconds). */
const singleMs: number[] = [];
const batchMsByRound: number[] = [];
let peerMs = 0;
let peerVersion = "";
const peerErrors = new Map<string, number>();
const slots = (n: number) => ["--max-requests-per-client", String(Math.max(n * 2, 16)), "--max-connections-per-client", String(Math.max(n * 2, 16))];
try {
  // Two servers, each with a store of its own: one answers single issuances, the other batches.
  const single = await spawnCaServer(join(dir, "ca"), slots(C));
  const bulk = await spawnCaServer(join(dir, "ca-batch"), slots(K));
  try {
    const token = (d: string) => readFileSync(join(dir, d, "ra.token"), "utf8").trim();
    const singleAuth = { authorization: `Bearer ${token("ca")}` };
    const bulkAuth = { authorization: `Bearer ${token("ca-batch")}` };
    const singlePool = new Pool(single.url, { connections: C, pipelining: 1 });
    const bulkPool = new Pool(bulk.url, { connections: K, pipelining: 1 });
    const perRound = Math.ceil(N / ROUNDS);
    let codes = 0;
    let batchCodes = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const from = round * perRound;
      const n = Math.min(perRound, N - from);
      singleMs.push(
        await closedLoop(n, async (k) => {
          const i = from + k;
          const body = JSON.stringify({ csr: csrs[i % CSRS], profile: "authentication", holder: holderOf(i) });
          const j = await postJson(singlePool, "/api/v1/certificates", body, singleAuth);
          if (j.cancellationCodes) codes++;
        }),
      );
      batchMsByRound.push(
        await closedLoop(
          Math.ceil(n / B),
          async (b) => {
            const requests = [];
            for (let i = from + b * B; i < Math.min(from + n, from + (b + 1) * B); i++) requests.push({ csr: csrs[i % CSRS], profile: "authentication", holder: holderOf(i) });
            const j = await postJson(bulkPool, "/api/v1/certificates/batch", JSON.stringify({ requests }), bulkAuth);
            if (j.refused !== 0) throw new Error(`the batch endpoint refused ${String(j.refused)} of ${requests.length}`);
            for (const r of j.results as Array<{ cancellationCodes?: unknown }>) if (r.cancellationCodes) batchCodes++;
          },
          K,
        ),
      );
      console.log(`round ${round + 1}: single ${Math.round(n / (singleMs[round] / 1000))}/s, batch ${Math.round(n / (batchMsByRound[round] / 1000))}/s (load average ${loadavg()[0].toFixed(2)})`);
    }
    await singlePool.close();
    await bulkPool.close();
    if (codes !== N) throw new Error(`${N - codes} issuances returned no cancellation codes`);
    if (batchCodes !== N) throw new Error(`${N - batchCodes} batch issuances returned no cancellation codes`);
  } finally {
    await stop(single.child);
    await stop(bulk.child);
  }

  const cfssl = await CfsslCa.create({ ocsp: { refreshAfterRevoke: false } });
  try {
    const id = await cfssl.identity();
    peerVersion = id.version ?? "";
    const pool = new Pool(id.url!, { connections: C, pipelining: 1 });
    peerMs = await closedLoop(PEER_N, async (i) => {
      try {
        await postJson(pool, "/api/v1/cfssl/sign", JSON.stringify({ certificate_request: csrs[i % CSRS], profile: "authentication" }));
      } catch (err) {
        // CFSSL's SQLite certdb answers "database is locked" under concurrency: counted, not fatal; the rate counts successes.
        peerErrors.set(String((err as Error).message).slice(0, 160), (peerErrors.get(String((err as Error).message).slice(0, 160)) ?? 0) + 1);
      }
    });
    await pool.close();
  } finally {
    await cfssl.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const sum = (xs: number[]) => xs.reduce((x, y) => x + y, 0);
const rate = N / (sum(singleMs) / 1000);
const batchRate = N / (sum(batchMsByRound) / 1000);
const cardloopMs = sum(singleMs);
const batchMs = sum(batchMsByRound);
/** The batch/single ratio of each round (both modes measured seconds apart): the median is the comparable figure. */
const roundRatios = singleMs.map((ms, r) => ms / batchMsByRound[r]);
const medianRatio = [...roundRatios].sort((x, y) => x - y)[Math.floor(roundRatios.length / 2)];
const peerFailed = [...peerErrors.values()].reduce((a, b) => a + b, 0);
const peerRate = (PEER_N - peerFailed) / (peerMs / 1000);
for (const [e, n] of peerErrors) console.log(`peer refused ${n} of ${PEER_N}: ${e}`);
console.log(`cardloop issuance over HTTP: ${N} in ${(cardloopMs / 1000).toFixed(2)} s = ${Math.round(rate)}/s (${C} in flight, a new holder each, ${CSRS} CSRs cycled)`);
console.log(`peer CFSSL ${peerVersion.split("\n")[0]} /api/v1/cfssl/sign: ${PEER_N - peerFailed} of ${PEER_N} in ${(peerMs / 1000).toFixed(2)} s = ${Math.round(peerRate)}/s -> ratio ${(rate / peerRate).toFixed(2)}`);
console.log(`cardloop bulk issuance POST /api/v1/certificates/batch: ${N} in ${(batchMs / 1000).toFixed(2)} s = ${Math.round(batchRate)}/s (${B} per request, ${K} in flight) -> ${(batchRate / rate).toFixed(2)}x single overall, median of the rounds ${medianRatio.toFixed(2)}x (${roundRatios.map((r) => r.toFixed(2)).join(", ")}), ${(batchRate / peerRate).toFixed(2)}x CFSSL`);
console.log(`100,000 certificates would take ${(100_000 / rate).toFixed(1)} s single, ${(100_000 / batchRate).toFixed(1)} s in batches (goal: well under 60 s)`);
console.log(`load average at the end: ${loadavg().map((l) => l.toFixed(2)).join(" ")} (2 shared cores: ratios from one run are the comparable figures)`);
writeResult("ca-issue", {
  loadAverageAtEnd: loadavg()[0],
  certificates: N,
  rounds: ROUNDS,
  concurrency: C,
  csrsCycled: CSRS,
  ms: Math.round(cardloopMs),
  perSecond: Math.round(rate),
  secondsFor100k: Number((100_000 / rate).toFixed(1)),
  batch: {
    endpoint: "POST /api/v1/certificates/batch",
    perRequest: B,
    inFlight: K,
    ms: Math.round(batchMs),
    perSecond: Math.round(batchRate),
    secondsFor100k: Number((100_000 / batchRate).toFixed(1)),
    ratioToSingle: Number((batchRate / rate).toFixed(3)),
    roundRatiosToSingle: roundRatios.map((r) => Number(r.toFixed(3))),
    medianRoundRatioToSingle: Number(medianRatio.toFixed(3)),
    ratioToPeer: Number((batchRate / peerRate).toFixed(3)),
  },
  peer: { name: "CFSSL /api/v1/cfssl/sign (SQLite certdb)", version: peerVersion.split("\n")[0], certificates: PEER_N - peerFailed, refused: peerFailed, ms: Math.round(peerMs), perSecond: Math.round(peerRate) },
  ratio: Number((rate / peerRate).toFixed(3)),
});
