/**
 * Bulk revocation through the HTTP API, durable (synchronous=FULL, each
 * request one committed transaction, acknowledged after commit).
 * Target: 1,000,000 revocations in <= 30 s, as 100 requests of 10,000.
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
import Database from "better-sqlite3";
import { SystemClock } from "../core/index.js";
import { EmbeddedCa } from "../simulator/ca/index.js";
import { benchSerials, spawnCaServer, stop, writeResult } from "./ca-bench-util.js";

const N = Number(process.env.CA_BENCH_REVOKE_N ?? 1_000_000);
const BATCH = 10_000;
const CONCURRENCY = 2;
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
    let next = 0;
    t = performance.now();
    const worker = async () => {
      while (next < batches.length) {
        const body = batches[next++];
        const res = await fetch(`${server.url}/api/v1/revocations`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
          body,
        });
        if (res.status !== 200) throw new Error(`bulk revocation answered ${res.status}: ${await res.text()}`);
        acked += ((await res.json()) as { revoked: number }).revoked;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    apiMs = performance.now() - t;
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

  console.log(`target 1,000,000 in <= 30 s: ${apiMs <= 30_000 * (N / 1_000_000) ? "met" : "NOT met"}`);
  writeResult("ca-revoke", {
    revocations: N,
    batch: BATCH,
    concurrency: CONCURRENCY,
    apiMs: Math.round(apiMs),
    apiPerSecond: Math.round(apiRate),
    targetMs: 30_000,
    met: apiMs <= 30_000 * (N / 1_000_000),
    peer: { name: "raw SQLite insert of the same rows (bare table, WAL + synchronous=FULL, same transactions)", ms: Math.round(peerMs), perSecond: Math.round(peerRate) },
    apiToPeerThroughputRatio: Number((apiRate / peerRate).toFixed(3)),
    setupMs: Math.round(setupMs),
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
