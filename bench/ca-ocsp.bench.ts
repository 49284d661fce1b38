/**
 * OCSP on loopback against the real CLI server (`cardloop ca serve`, its own
 * process): responses per second (target >= 20,000) and the time from a
 * revocation's acknowledgement until OCSP says revoked (target <= 1 s).
 *
 * Throughput is driven by wrk (C, its own process, Debian's package; a Lua
 * script cycles through one OCSP request per certificate), 64 keep-alive
 * connections, no pipelining, as OCSP clients behave. An in-process node
 * client (undici) was the bottleneck before: with it even the bare peer
 * below made only ~15k/s on this 2-core machine.
 *
 * Peer, same run, same client: a bare node:http server (its own process)
 * answering every POST with a fixed OCSP response of the same size: the
 * ceiling of node's HTTP stack on this machine. The latency figure's peer is
 * a plain OCSP round trip.
 *
 * Certificates are pre-issued with the store's direct insert path
 * (CaStore.insertSynthetic) before the server starts.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Pool } from "undici";
import { summarise, SystemClock } from "../core/index.js";
import { EmbeddedCa } from "../simulator/ca/index.js";
import { buildOcspRequest, Certificate, OcspResponse, pemToDer } from "../pki/index.js";
import { benchSerials, spawnCaServer, spawnPrintingUrl, stop, writeResult } from "./ca-bench-util.js";

const CERTS = 20_000;
const DURATION_MS = Number(process.env.CA_BENCH_OCSP_MS ?? 3000);
const ROUNDS = 3;
const IN_FLIGHT = 128;
const WRK_THREADS = 2;
const WRK_CONNECTIONS = 64;
const LATENCY_SAMPLES = 200;

const dir = mkdtempSync(join(tmpdir(), "cardloop-bench-ocsp-"));
const children: Array<{ child: import("node:child_process").ChildProcess }> = [];
try {
  const clock = new SystemClock();
  const now = clock.nowMs();
  const serials = benchSerials(CERTS, 31);
  const ca = await EmbeddedCa.open({ dataDir: join(dir, "ca"), clock });
  ca.store.insertSynthetic(serials, "bench", now, now + 365 * 86_400_000);
  // half of them revoked, so both answers are exercised
  ca.store.bulkRevoke(serials.filter((_, i) => i % 2 === 1), 1, 1, now, { at: now, serial: null, role: "bench", action: "bulk-revoke", outcome: "ok" });
  await ca.close();
  const token = readFileSync(join(dir, "ca", "operator.token"), "utf8").trim();
  const server = await spawnCaServer(join(dir, "ca"));
  children.push(server);
  // The issuing CA's certificate is built on first use (it carries the served URL): ask the server for it.
  const issuing = new Certificate(pemToDer(await (await fetch(`${server.url}/ca`)).text(), "CERTIFICATE"));
  const requests = serials.map((s) => Buffer.from(buildOcspRequest(issuing, [s])));

  // A sample response, for the peer's fixed body.
  const sample = Buffer.from(await (await fetch(`${server.url}/ocsp`, { method: "POST", body: requests[0], headers: { "content-type": "application/ocsp-request" } })).arrayBuffer());
  if (new OcspResponse(sample).responses[0]?.status !== "good") throw new Error("unexpected OCSP answer");

  // Warm-up (not measured): one pass over every serial fills the responder's cache of signed responses,
  // as a running responder's cache is; the measured run then reflects the steady state.
  // Not bounded in time: a warm-up cut short by the round length would leave the first measured round signing.
  const warm = await warmUp(server.url, requests);
  console.log(`warm-up (cold cache, every response signed): ${Math.round(warm.rate)} responses/s`);

  // Peer: bare node http, fixed body, same client; both measured in alternating rounds (the machine is shared).
  const peerScript = join(dir, "peer.mjs");
  writeFileSync(peerScript, `import http from "node:http";
const body = Buffer.from("${sample.toString("base64")}", "base64");
const s = http.createServer((req, res) => { req.on("data", () => {}); req.on("end", () => { res.writeHead(200, { "content-type": "application/ocsp-response", "content-length": body.length }); res.end(body); }); });
s.keepAliveTimeout = 65000;
s.listen(0, "127.0.0.1", () => console.log("http://127.0.0.1:" + s.address().port));
`);
  const peer = await spawnPrintingUrl(process.execPath, [peerScript], dir);
  children.push(peer);
  const script = wrkScript(dir, requests);
  const ours: WrkResult[] = [];
  const theirs: WrkResult[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    ours.push(await wrk(server.url, script));
    theirs.push(await wrk(peer.url, script));
  }
  await stop(peer.child);
  const median = (xs: WrkResult[]) => [...xs].sort((a, b) => a.rate - b.rate)[Math.floor(xs.length / 2)];
  const cardloop = median(ours);
  const bare = median(theirs);
  const errors = ours.reduce((a, r) => a + r.errors, 0);
  if (errors > 0) throw new Error(`${errors} failed OCSP requests under load: the figure would not be a count of answers`);
  console.log(`cardloop OCSP: ${Math.round(cardloop.rate)} responses/s (median of ${ROUNDS} rounds of ${DURATION_MS / 1000} s: ${ours.map((r) => Math.round(r.rate)).join(", ")}; wrk -t${WRK_THREADS} -c${WRK_CONNECTIONS}, 0 errors)`);
  console.log(`peer bare node:http (fixed body): ${Math.round(bare.rate)} responses/s (${theirs.map((r) => Math.round(r.rate)).join(", ")}) -> cardloop/peer ${(cardloop.rate / bare.rate).toFixed(2)}`);

  // Revocation acknowledgement -> OCSP says revoked. Pre-warm the cache with "good" first.
  const goodOnes = serials.filter((_, i) => i % 2 === 0).slice(0, LATENCY_SAMPLES);
  const pool = new Pool(server.url, { connections: 2 });
  const ask = async (serial: string) => {
    const r = await pool.request({ path: "/ocsp", method: "POST", body: Buffer.from(buildOcspRequest(issuing, [serial])), headers: { "content-type": "application/ocsp-request" } });
    return new OcspResponse(new Uint8Array(await r.body.arrayBuffer())).responses[0]?.status;
  };
  const rtts: number[] = [];
  for (const s of goodOnes) {
    const t0 = performance.now();
    if ((await ask(s)) !== "good") throw new Error("expected good before revocation");
    rtts.push(performance.now() - t0);
  }
  const lags: number[] = [];
  for (const s of goodOnes) {
    const r = await pool.request({ path: "/api/v1/revocations", method: "POST", body: JSON.stringify({ serials: [s], reason: "keyCompromise" }), headers: { "content-type": "application/json", authorization: `Bearer ${token}` } });
    await r.body.json();
    const acked = performance.now();
    for (;;) {
      if ((await ask(s)) === "revoked") break;
      if (performance.now() - acked > 5000) throw new Error("OCSP never said revoked");
    }
    lags.push(performance.now() - acked);
  }
  await pool.close();
  await stop(server.child);

  const lag = summarise(lags);
  const rtt = summarise(rtts);
  console.log(
    `revocation ack -> OCSP revoked: p50 ${lag.p50Ms.toFixed(2)} ms, p99 ${lag.p99Ms.toFixed(2)} ms, max ${lag.maxMs.toFixed(2)} ms; peer plain OCSP round trip p50 ${rtt.p50Ms.toFixed(2)} ms -> ratio ${(lag.p50Ms / rtt.p50Ms).toFixed(2)}`,
  );
  const met = { throughput: cardloop.rate >= 20_000, latency: lag.maxMs <= 1000 };
  console.log(`targets: >= 20,000/s ${met.throughput ? "met" : "NOT met"}; ack->revoked <= 1 s ${met.latency ? "met" : "NOT met"}`);
  writeResult("ca-ocsp", {
    durationMs: DURATION_MS,
    client: `wrk -t${WRK_THREADS} -c${WRK_CONNECTIONS} (keep-alive, no pipelining), POST /ocsp cycling through ${CERTS} requests`,
    rounds: { cardloop: ours.map((r) => Math.round(r.rate)), peer: theirs.map((r) => Math.round(r.rate)) },
    coldCacheResponsesPerSecond: Math.round(warm.rate),
    responsesPerSecond: Math.round(cardloop.rate),
    errors,
    target: 20_000,
    peer: { name: "bare node:http server, fixed OCSP body, same client (wrk)", responsesPerSecond: Math.round(bare.rate) },
    ratioToPeer: Number((cardloop.rate / bare.rate).toFixed(3)),
    ackToRevokedMs: { p50: lag.p50Ms, p99: lag.p99Ms, max: lag.maxMs, samples: lag.count, targetMax: 1000 },
    plainRoundTripMs: { p50: rtt.p50Ms },
    latencyRatioToRoundTrip: Number((lag.p50Ms / rtt.p50Ms).toFixed(2)),
    met,
  });
} finally {
  for (const c of children) await stop(c.child);
  rmSync(dir, { recursive: true, force: true });
}

interface WrkResult {
  rate: number;
  errors: number;
}

/** A wrk Lua script sending one OCSP request per certificate, in turn (built per thread in init, when wrk knows the Host). */
function wrkScript(dir: string, bodies: Buffer[]): string {
  const hex = join(dir, "ocsp-requests.hex");
  writeFileSync(hex, bodies.map((b) => b.toString("hex")).join("\n") + "\n");
  const lua = join(dir, "ocsp.lua");
  writeFileSync(
    lua,
    `local reqs = {}
local i = 0
init = function(args)
  for line in io.lines(${JSON.stringify(hex)}) do
    local body = line:gsub("..", function(cc) return string.char(tonumber(cc, 16)) end)
    reqs[#reqs + 1] = wrk.format("POST", "/ocsp", { ["Content-Type"] = "application/ocsp-request" }, body)
  end
end
request = function()
  i = i % #reqs + 1
  return reqs[i]
end
`,
  );
  return lua;
}

/** One wrk round against `url`: responses per second, and every failure it reports (non-2xx, socket errors). */
function wrk(url: string, script: string): Promise<WrkResult> {
  const args = [`-t${WRK_THREADS}`, `-c${WRK_CONNECTIONS}`, `-d${DURATION_MS / 1000}s`, "-s", script, `${url}/ocsp`];
  return new Promise((resolve, reject) => {
    execFile("wrk", args, { encoding: "utf8", timeout: DURATION_MS + 30_000 }, (err, out) => {
      if (err) return reject(new Error(`wrk failed (apt-get install wrk; make setup does): ${err.message}`));
      const rate = /Requests\/sec:\s+([\d.]+)/.exec(out);
      if (!rate) return reject(new Error(`wrk printed no rate: ${out}`));
      const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
      const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      const socketErrors = socket ? socket.slice(1).reduce((a, n) => a + Number(n), 0) : 0;
      resolve({ rate: Number(rate[1]), errors: non2xx + socketErrors });
    });
  });
}

/** One pass over every request, IN_FLIGHT at a time (filling the responder's cache): its rate is the cold-cache figure. */
async function warmUp(url: string, bodies: Buffer[]) {
  const pool = new Pool(url, { connections: 16, pipelining: 8 });
  let count = 0;
  let errors = 0;
  let i = 0;
  const t0 = performance.now();
  const one = async () => {
    while (i < bodies.length) {
      const body = bodies[i++];
      try {
        const r = await pool.request({ path: "/ocsp", method: "POST", body, headers: { "content-type": "application/ocsp-request" } });
        const b = await r.body.arrayBuffer();
        if (r.statusCode === 200 && b.byteLength > 5) count++;
        else errors++;
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, one));
  const ms = performance.now() - t0;
  await pool.close();
  return { count, errors, ms, rate: count / (ms / 1000) };
}
