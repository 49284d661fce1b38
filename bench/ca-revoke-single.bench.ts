/**
 * Single revocations over HTTP keep-alive, one serial per request, by the
 * holder (code + email + name): sequentially, 8 and 64 in flight. Each is
 * acknowledged after its durable commit (WAL, synchronous=FULL); concurrent
 * ones share commits (group commit, store.ts), so throughput should grow
 * with concurrency. Goal (issue 13): >= 10,000/s with enough in flight.
 *
 * The CA is the real CLI server in a child process, per-client limits raised
 * for one load agent. Its certificates: one card issued through the CA (its
 * holder code), plus `--count` rows per concurrency (CaStore.insertSynthetic)
 * on that card, so the holder's code revokes each of them.
 *
 * Peer, same run: CFSSL's `POST /api/v1/cfssl/revoke` (no credential; its
 * certdb in SQLite), certificates signed first through `/api/v1/cfssl/sign`,
 * `--peer-count` revocations per concurrency (1,000 by default: signing them
 * is CFSSL's slow part).
 *
 *   node --import=tsx bench/ca-revoke-single.bench.ts [--count N] [--peer-count N]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import { Pool } from "undici";
import { SystemClock } from "../core/index.js";
import { CfsslCa } from "../conformance/adapters/cfssl.js";
import { EmbeddedCa } from "../simulator/ca/index.js";
import { makeCsr } from "../simulator/ca/testing.js";
import { benchSerials, spawnCaServer, stop, writeResult } from "./ca-bench-util.js";

const { values } = parseArgs({ options: { count: { type: "string" }, "peer-count": { type: "string" } } });
const N = whole(values.count, 20_000, "--count");
const PEER_N = whole(values["peer-count"], 1_000, "--peer-count");
const LEVELS = [1, 8, 64];

function whole(v: string | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!/^\d{1,9}$/.test(v) || Number(v) < 1) throw new Error(`${name} must be a whole number from 1 (got ${v})`);
  return Number(v);
}

/** Revocations at one concurrency: each request made by `send(i)`; returns per second. Sequential runs an eighth of `count` (it is fsync-bound: bounded time). */
async function level(count: number, concurrency: number, send: (i: number) => Promise<void>): Promise<{ n: number; perSecond: number }> {
  const n = concurrency === 1 ? Math.max(1, Math.floor(count / 8)) : count;
  let next = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) await send(next++);
    }),
  );
  return { n, perSecond: n / ((performance.now() - t) / 1000) };
}

async function post(pool: Pool, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await pool.request({ method: "POST", path, body: JSON.stringify(body), headers: { "content-type": "application/json" } });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`${path} answered ${res.statusCode}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as Record<string, unknown>;
}

const dir = mkdtempSync(join(tmpdir(), "cardloop-bench-revoke-single-"));
const ours: Record<number, { n: number; perSecond: number }> = {};
const peer: Record<number, { n: number; perSecond: number }> = {};
let peerVersion = "";
const peerRefused: Record<number, number> = {};
try {
  // --- cardloop
  const dataDir = join(dir, "ca");
  const holder = { id: "bench-holder", name: "Bench Holder", email: "bench@example.org" };
  const ca = await EmbeddedCa.open({ dataDir, clock: new SystemClock() });
  const first = await ca.issue({ csrPem: (await makeCsr()).pem, profile: "authentication", holder, raToken: ca.raToken });
  const code = first.cancellationCodes!.holder;
  const sets = LEVELS.map((_, k) => benchSerials(N, 100 + k));
  const now = Date.now();
  for (const s of sets) ca.store.insertSynthetic(s, holder.id, now, now + 365 * 86_400_000);
  await ca.close();
  const server = await spawnCaServer(dataDir, ["--max-requests-per-client", "512", "--max-connections-per-client", "512"]);
  try {
    for (const [k, c] of LEVELS.entries()) {
      const pool = new Pool(server.url, { connections: c, pipelining: 1 });
      ours[c] = await level(N, c, async (i) => {
        const j = await post(pool, `/api/v1/certificates/${sets[k][i]}/revoke`, { reason: "keyCompromise", role: "holder", code, email: holder.email, name: holder.name });
        if (j.status !== "revoked") throw new Error(`not revoked: ${JSON.stringify(j)}`);
      });
      await pool.close();
    }
  } finally {
    await stop(server.child);
  }

  // --- CFSSL
  const cfssl = await CfsslCa.create({ ocsp: { refreshAfterRevoke: false } });
  try {
    const id = await cfssl.identity();
    peerVersion = (id.version ?? "").split("\n")[0];
    const csr = (await makeCsr()).pem;
    const signer = new Pool(id.url!, { connections: 16 });
    const total = LEVELS.reduce((a, c) => a + (c === 1 ? Math.max(1, Math.floor(PEER_N / 8)) : PEER_N), 0);
    let signed = 0;
    let attempts = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (signed < total) {
          if (++attempts > 3 * total) throw new Error("CFSSL refused most signing requests");
          signed++;
          // CFSSL's certdb may answer "database is locked": such a request signs nothing; the loop signs another.
          await post(signer, "/api/v1/cfssl/sign", { certificate_request: csr, profile: "authentication" }).catch(() => signed--);
        }
      }),
    );
    await signer.close();
    const db = new Database(join(cfssl.dir, "certs.db"), { readonly: true });
    const rows = db.prepare("SELECT CAST(serial_number AS TEXT) AS s, CAST(authority_key_identifier AS TEXT) AS a FROM certificates").all() as Array<{ s: string; a: string }>;
    db.close();
    let offset = 0;
    for (const c of LEVELS) {
      const pool = new Pool(id.url!, { connections: c, pipelining: 1 });
      const base = offset;
      let refused = 0;
      peer[c] = await level(PEER_N, c, async (i) => {
        const r = rows[base + i];
        // "database is locked" under concurrency: counted, and the rate counts only acknowledged revocations.
        await post(pool, "/api/v1/cfssl/revoke", { serial: r.s, authority_key_id: r.a, reason: "keycompromise" }).catch(() => refused++);
      });
      peerRefused[c] = refused;
      peer[c].perSecond *= (peer[c].n - refused) / peer[c].n;
      offset += peer[c].n;
      await pool.close();
    }
  } finally {
    await cfssl.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const rows = LEVELS.map((c) => ({ concurrency: c, cardloop: ours[c], cfssl: peer[c], ratio: Number((ours[c].perSecond / peer[c].perSecond).toFixed(2)) }));
for (const r of rows) {
  console.log(
    `${String(r.concurrency).padStart(2)} in flight: cardloop ${Math.round(r.cardloop.perSecond)}/s (${r.cardloop.n}), CFSSL ${peerVersion} ${Math.round(r.cfssl.perSecond)}/s (${r.cfssl.n}${peerRefused[r.concurrency] ? `, ${peerRefused[r.concurrency]} refused` : ""}) -> ratio ${r.ratio}`,
  );
}
const best = Math.max(...rows.map((r) => r.cardloop.perSecond));
console.log(`goal >= 10,000/s single revocations over keep-alive: ${best >= 10_000 ? "met" : "NOT met"} (best ${Math.round(best)}/s)`);
writeResult("ca-revoke-single", {
  durable: "WAL + synchronous=FULL, acknowledged after commit (group commit)",
  credential: "holder: code + email + name",
  levels: rows.map((r) => ({
    concurrency: r.concurrency,
    cardloop: { revocations: r.cardloop.n, perSecond: Math.round(r.cardloop.perSecond) },
    peer: { name: "CFSSL /api/v1/cfssl/revoke", version: peerVersion, revocations: r.cfssl.n, refused: peerRefused[r.concurrency] ?? 0, perSecond: Math.round(r.cfssl.perSecond) },
    ratio: r.ratio,
  })),
  goalPerSecond: 10_000,
  met: best >= 10_000,
});
