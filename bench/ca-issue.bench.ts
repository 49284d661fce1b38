/**
 * Issuance through the HTTP API, as a load test prepares its certificates:
 * `POST /api/v1/certificates` with the RA token, one new holder per
 * certificate (so every request registers a card and makes its codes), a
 * handful of CSRs cycled, `--concurrency` in flight (64) over keep-alive,
 * `--count` certificates (20,000). The CA is the real CLI server in a child
 * process (`cardloop ca serve`, per-client limits raised for one load agent).
 *
 * Peer, same run: CFSSL's `POST /api/v1/cfssl/sign` (conformance/adapters/cfssl.ts
 * starts it with its SQLite certdb) with the same CSRs and concurrency;
 * `--peer-count` (5,000 by default) requests, rates compared per second.
 *
 *   node --import=tsx bench/ca-issue.bench.ts [--count N] [--peer-count N] [--concurrency C]
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Pool } from "undici";
import { CfsslCa } from "../conformance/adapters/cfssl.js";
import { makeCsr } from "../simulator/ca/testing.js";
import { spawnCaServer, stop, writeResult } from "./ca-bench-util.js";

const { values } = parseArgs({ options: { count: { type: "string" }, "peer-count": { type: "string" }, concurrency: { type: "string" } } });
const N = whole(values.count, 20_000, "--count");
const PEER_N = whole(values["peer-count"], Math.min(N, 5_000), "--peer-count");
const C = whole(values.concurrency, 64, "--concurrency");
const CSRS = 4;

function whole(v: string | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!/^\d{1,9}$/.test(v) || Number(v) < 1) throw new Error(`${name} must be a whole number from 1 (got ${v})`);
  return Number(v);
}

/** Runs `count` requests made by `send(i)` with `C` in flight; returns the elapsed ms. Any non-2xx answer ends the bench. */
async function closedLoop(count: number, send: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const t = performance.now();
  const worker = async () => {
    while (next < count) await send(next++);
  };
  await Promise.all(Array.from({ length: Math.min(C, count) }, worker));
  return performance.now() - t;
}

async function postJson(pool: Pool, path: string, body: string, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const res = await pool.request({ method: "POST", path, body, headers: { "content-type": "application/json", ...headers } });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`${path} answered ${res.statusCode}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as Record<string, unknown>;
}

const csrs = await Promise.all(Array.from({ length: CSRS }, () => makeCsr().then((c) => c.pem)));
const dir = mkdtempSync(join(tmpdir(), "cardloop-bench-issue-"));
let cardloopMs = 0;
let peerMs = 0;
let peerVersion = "";
const peerErrors = new Map<string, number>();
try {
  const limit = String(Math.max(C * 2, 16));
  const server = await spawnCaServer(join(dir, "ca"), ["--max-requests-per-client", limit, "--max-connections-per-client", limit]);
  try {
    const raToken = readFileSync(join(dir, "ca", "ra.token"), "utf8").trim();
    const pool = new Pool(server.url, { connections: C, pipelining: 1 });
    let codes = 0;
    cardloopMs = await closedLoop(N, async (i) => {
      const body = JSON.stringify({ csr: csrs[i % CSRS], profile: "authentication", holder: { id: `bench-${i}`, name: `Bench Holder ${i}`, email: `h${i}@example.org` } });
      const j = await postJson(pool, "/api/v1/certificates", body, { authorization: `Bearer ${raToken}` });
      if (j.cancellationCodes) codes++;
    });
    await pool.close();
    if (codes !== N) throw new Error(`${N - codes} issuances returned no cancellation codes`);
  } finally {
    await stop(server.child);
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

const rate = N / (cardloopMs / 1000);
const peerFailed = [...peerErrors.values()].reduce((a, b) => a + b, 0);
const peerRate = (PEER_N - peerFailed) / (peerMs / 1000);
for (const [e, n] of peerErrors) console.log(`peer refused ${n} of ${PEER_N}: ${e}`);
console.log(`cardloop issuance over HTTP: ${N} in ${(cardloopMs / 1000).toFixed(2)} s = ${Math.round(rate)}/s (${C} in flight, a new holder each, ${CSRS} CSRs cycled)`);
console.log(`peer CFSSL ${peerVersion.split("\n")[0]} /api/v1/cfssl/sign: ${PEER_N - peerFailed} of ${PEER_N} in ${(peerMs / 1000).toFixed(2)} s = ${Math.round(peerRate)}/s -> ratio ${(rate / peerRate).toFixed(2)}`);
console.log(`100,000 certificates would take ${(100_000 / rate).toFixed(1)} s at this rate (goal: well under 60 s)`);
writeResult("ca-issue", {
  certificates: N,
  concurrency: C,
  csrsCycled: CSRS,
  ms: Math.round(cardloopMs),
  perSecond: Math.round(rate),
  secondsFor100k: Number((100_000 / rate).toFixed(1)),
  peer: { name: "CFSSL /api/v1/cfssl/sign (SQLite certdb)", version: peerVersion.split("\n")[0], certificates: PEER_N - peerFailed, refused: peerFailed, ms: Math.round(peerMs), perSecond: Math.round(peerRate) },
  ratio: Number((rate / peerRate).toFixed(3)),
});
