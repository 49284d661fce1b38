/**
 * CRL with 1,000,000 entries: generated (read from SQLite + DER) and signed.
 * Target <= 5 s. Peer, same run, same revocation set: `openssl ca -gencrl`
 * from an OpenSSL index.txt with the same 1,000,000 revoked entries.
 *
 * Pre-issue: certificates are inserted with the store's direct insert path
 * (CaStore.insertSynthetic: rows without DER, one transaction) and revoked
 * with the store's bulk path, because building a million real certificates
 * is not what this measures.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SeededRandom, SystemClock } from "../core/index.js";
import { EmbeddedCa } from "../simulator/ca/index.js";
import { encodePem } from "../pki/index.js";
import { benchSerials, writeResult } from "./ca-bench-util.js";

const N = Number(process.env.CA_BENCH_CRL_N ?? 1_000_000);
const dir = mkdtempSync(join(tmpdir(), "cardloop-bench-crl-"));
try {
  const clock = new SystemClock();
  const ca = await EmbeddedCa.open({ dataDir: join(dir, "ca"), clock, random: new SeededRandom(1) });
  const serials = benchSerials(N, 11);
  const extra = benchSerials(10, 12); // revoked after the first CRL: the served build includes them
  const now = clock.nowMs();
  let t = performance.now();
  ca.store.insertSynthetic([...serials, ...extra], "bench", now, now + 3 * 365 * 86_400_000);
  const insertMs = performance.now() - t;
  t = performance.now();
  for (let i = 0; i < N; i += 100_000) {
    ca.store.bulkRevoke(serials.slice(i, i + 100_000), 1, 1, now, { at: now, serial: null, role: "bench", action: "bulk-revoke", outcome: "ok" });
  }
  const revokeMs = performance.now() - t;

  t = performance.now();
  const crl = ca.regenerateCrl();
  const crlMs = performance.now() - t;
  console.log(`cardloop CRL: ${N} entries, ${(crl.length / 1e6).toFixed(1)} MB, generated+signed in ${(crlMs / 1000).toFixed(2)} s (setup: insert ${(insertMs / 1000).toFixed(1)} s, revoke ${(revokeMs / 1000).toFixed(1)} s)`);

  // What a server does (ca.crl(), GET /crl): entries kept encoded, copied, hashed and signed on a worker thread.
  // Its wall time, and the longest the event loop was held meanwhile (a 1 ms timer's worst lateness).
  ca.store.bulkRevoke(extra, 1, 1, now, { at: now, serial: null, role: "bench", action: "bulk-revoke", outcome: "ok" });
  let worst = 0;
  let last = performance.now();
  const ticker = setInterval(() => {
    const at = performance.now();
    worst = Math.max(worst, at - last - 1);
    last = at;
  }, 1);
  t = performance.now();
  const lent = await ca.servedCrl(); // as GET /crl has it: lent, no copy
  const workerMs = performance.now() - t;
  const served = Buffer.from(lent.der);
  lent.release();
  clearInterval(ticker);
  console.log(`cardloop CRL, worker build (served path): ${(served.length / 1e6).toFixed(1)} MB in ${(workerMs / 1000).toFixed(2)} s; event loop held at most ${worst.toFixed(1)} ms meanwhile`);

  // Peer: openssl ca -gencrl over the same set (index.txt, the issuing key as a PEM file).
  const peerDir = join(dir, "openssl");
  mkdirSync(peerDir);
  const key = join(dir, "ca", "keys", "issuing.key.pem");
  writeFileSync(join(peerDir, "issuing.pem"), encodePem(ca.hierarchy.issuing.certificate, "CERTIFICATE"));
  const yymmdd = (ms: number) => new Date(ms).toISOString().replace(/[-:T]/g, "").slice(2, 14) + "Z";
  const exp = yymmdd(now + 3 * 365 * 86_400_000);
  const rev = yymmdd(now);
  const lines = new Array<string>(N);
  for (let i = 0; i < N; i++) lines[i] = `R\t${exp}\t${rev},keyCompromise\t${serials[i].toUpperCase()}\tunknown\t/CN=bench${i}`;
  writeFileSync(join(peerDir, "index.txt"), lines.join("\n") + "\n");
  writeFileSync(join(peerDir, "crlnumber"), "01\n");
  writeFileSync(
    join(peerDir, "ca.cnf"),
    `[ca]\ndefault_ca=c\n[c]\ndatabase=${peerDir}/index.txt\ncrlnumber=${peerDir}/crlnumber\ndefault_md=sha256\ndefault_crl_days=1\nunique_subject=no\n`,
  );
  t = performance.now();
  let peerMs: number | null = null;
  try {
    execFileSync("openssl", ["ca", "-gencrl", "-batch", "-config", join(peerDir, "ca.cnf"), "-keyfile", key, "-cert", join(peerDir, "issuing.pem"), "-out", join(peerDir, "crl.pem")], {
      stdio: ["ignore", "ignore", "pipe"],
      timeout: 120_000,
    });
    peerMs = performance.now() - t;
  } catch (err) {
    console.log(`peer openssl ca -gencrl failed or timed out: ${String(err).split("\n")[0]}`);
  }
  const ratio = peerMs === null ? null : peerMs / crlMs;
  if (peerMs !== null) console.log(`peer openssl ca -gencrl: ${(peerMs / 1000).toFixed(2)} s -> cardloop is ${ratio!.toFixed(1)}x the peer's speed`);
  console.log(`target <= 5 s: ${crlMs <= 5000 ? "met" : "NOT met"}`);
  writeResult("ca-crl", {
    entries: N,
    crlBytes: crl.length,
    generateAndSignMs: Math.round(crlMs),
    targetMs: 5000,
    met: crlMs <= 5000,
    peer: { name: "openssl ca -gencrl (same entries)", ms: peerMs === null ? null : Math.round(peerMs) },
    speedupVsPeer: ratio === null ? null : Number(ratio.toFixed(2)),
    setup: { syntheticInsertMs: Math.round(insertMs), storeBulkRevokeMs: Math.round(revokeMs) },
    workerBuild: { ms: Math.round(workerMs), eventLoopHeldMaxMs: Number(worst.toFixed(1)), bytes: served.length },
  });
  await ca.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
