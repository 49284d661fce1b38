/**
 * Bulk revocation through the HTTP API, durable (synchronous=FULL, each
 * request one committed transaction, acknowledged after commit), over
 * keep-alive: batches of `--batch` serials (1,000 by default, as
 * `cardloop load revoke --batch 1000` sends them), `--concurrency` in flight.
 * Goals (issue 13): >= 100,000 revocations/s; 1,000,000 in <= 30 s.
 *
 *   node --import=tsx bench/ca-revoke.bench.ts [--count N] [--batch B] [--concurrency C]
 *
 * Pre-issue: the 1,000,000 certificates are inserted with the store's direct
 * path (CaStore.insertSynthetic: rows without DER, one transaction), then the
 * real CLI server (`cardloop ca serve`) is started on that data directory.
 *
 * Peer, same run: raw SQLite inserts of the same 1,000,000 rows into a bare
 * table with the same durability (WAL, synchronous=FULL) and the same
 * 10,000-row transactions: the ratio is the API's throughput against the
 * database's floor.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import { Pool } from "undici";
import { SystemClock } from "../core/index.js";
import { EmbeddedCa } from "../simulator/ca/index.js";
import { benchSerials, spawnCaServer, stop, writeResult } from "./ca-bench-util.js";

const { values } = parseArgs({ options: { count: { type: "string" }, batch: { type: "string" }, concurrency: { type: "string" } } });
const N = whole(values.count ?? process.env.CA_BENCH_REVOKE_N, 1_000_000, "--count");
const BATCH = whole(values.batch, 1_000, "--batch");
const CONCURRENCY = whole(values.concurrency, 4, "--concurrency");

function whole(v: string | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!/^\d{1,9}$/.test(v) || Number(v) < 1) throw new Error(`${name} must be a whole number from 1 (got ${v})`);
  return Number(v);
}
const dir = mkdtempSync(join(tmpdir(), "cardloop-bench-revoke-"));
try {
  const serials = benchSerials(N, 21);
  const clock = new SystemClock();
  const now = clock.nowMs();
  let t = performance.now();
  const ca = await EmbeddedCa.open({ dataDir: join(dir, "ca"), clock });
  ca.store.insertSynthetic(serials, "bench", now, now + 365 * 86_400_000);
  await ca.close();
  const setupMs = performance.now() - t;
  const token = readFileSync(join(dir, "ca", "operator.token"), "utf8").trim();

  const server = await spawnCaServer(join(dir, "ca"));
  let acked = 0;
  let apiMs = 0;
  try {
    const batches: string[] = [];
    for (let i = 0; i < N; i += BATCH) batches.push(JSON.stringify({ serials: serials.slice(i, i + BATCH), reason: "cessationOfOperation" }));
    // Keep-alive connections, one per request in flight.
    const pool = new Pool(server.url, { connections: CONCURRENCY, pipelining: 1 });
    let next = 0;
    t = performance.now();
    const worker = async () => {
      while (next < batches.length) {
        const body = batches[next++];
        const res = await pool.request({
          method: "POST",
          path: "/api/v1/revocations",
          headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
          body,
        });
        const text = await res.body.text();
        if (res.statusCode !== 200) throw new Error(`bulk revocation answered ${res.statusCode}: ${text.slice(0, 300)}`);
        acked += (JSON.parse(text) as { revoked: number }).revoked;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    apiMs = performance.now() - t;
    await pool.close();
  } finally {
    await stop(server.child);
  }
  if (acked !== N) throw new Error(`only ${acked} of ${N} acknowledged`);
  const apiRate = N / (apiMs / 1000);
  console.log(`cardloop API bulk revocation: ${N} in ${(apiMs / 1000).toFixed(2)} s = ${Math.round(apiRate)}/s (durable, ${N / BATCH} requests of ${BATCH}; setup ${(setupMs / 1000).toFixed(1)} s)`);

  // Peer 1 (the ratio): raw SQLite appends of the same rows, bare table, same durability and transactions.
  const raw = new Database(join(dir, "raw.db"));
  raw.pragma("journal_mode = WAL");
  raw.pragma("synchronous = FULL");
  raw.exec("CREATE TABLE r (id INTEGER PRIMARY KEY, serial TEXT NOT NULL, status INTEGER NOT NULL, reason INTEGER, at INTEGER NOT NULL)");
  const ins = raw.prepare("INSERT INTO r (serial, status, reason, at) VALUES (?, 1, 5, ?)");
  const rawBatch = raw.transaction((batch: string[]) => {
    for (const s of batch) ins.run(s, now);
  });
  t = performance.now();
  for (let i = 0; i < N; i += BATCH) rawBatch(serials.slice(i, i + BATCH));
  const peerMs = performance.now() - t;
  raw.close();
  const peerRate = N / (peerMs / 1000);
  console.log(`peer raw SQLite insert (bare table, WAL+FULL, same ${BATCH}-row transactions): ${(peerMs / 1000).toFixed(2)} s = ${Math.round(peerRate)}/s -> API/peer throughput ratio ${(apiRate / peerRate).toFixed(2)}`);

  console.log(`goal >= 100,000/s with batches: ${apiRate >= 100_000 ? "met" : "NOT met"}; 1,000,000 in <= 30 s: ${apiMs <= 30_000 * (N / 1_000_000) ? "met" : "NOT met"}`);
  writeResult("ca-revoke", {
    revocations: N,
    batch: BATCH,
    concurrency: CONCURRENCY,
    apiMs: Math.round(apiMs),
    apiPerSecond: Math.round(apiRate),
    targetMs: 30_000,
    met: apiMs <= 30_000 * (N / 1_000_000),
    goalPerSecond: 100_000,
    goalMet: apiRate >= 100_000,
    peer: { name: "raw SQLite insert of the same rows (bare table, WAL + synchronous=FULL, same transactions)", ms: Math.round(peerMs), perSecond: Math.round(peerRate) },
    apiToPeerThroughputRatio: Number((apiRate / peerRate).toFixed(3)),
    setupMs: Math.round(setupMs),
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
