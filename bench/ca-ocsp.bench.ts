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
 *
 * The nonce case (every answer signed fresh) runs last, against `openssl
 * ocsp -index -port`, which binds every interface (OpenSSL 3.0 takes no bind
 * address): it and a second cardloop server on the same data directory run
 * in a private network namespace holding only loopback (bench/netns.ts), and
 * both are measured from in there by the same client (bench/ocsp-client.ts).
 * Without namespaces (not root) the openssl peer is skipped, saying so, and
 * cardloop alone is measured on the host's loopback.
 */
import { execFile, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Pool } from "undici";
import { summarise, SystemClock } from "../core/index.js";
import { EmbeddedCa } from "../simulator/ca/index.js";
import { buildOcspRequest, Certificate, OcspResponse, pemToDer } from "../pki/index.js";
import { runTool, spawnGroup, type Group, type GroupOptions, type Owner } from "../harness/processes.js";
import { benchSerials, spawnCaServer, spawnPrintingUrl, stop, writeResult } from "./ca-bench-util.js";
import { openPrivateNet } from "./netns.js";

const CERTS = 20_000;
const DURATION_MS = Number(process.env.CA_BENCH_OCSP_MS ?? 3000);
const ROUNDS = 3;
const IN_FLIGHT = 128;
const WRK_THREADS = 2;
const WRK_CONNECTIONS = 64;
const LATENCY_SAMPLES = 200;

const dir = mkdtempSync(join(tmpdir(), "cardloop-bench-ocsp-"));
const children: Array<{ child: ChildProcess }> = [];
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
  // All the load comes from one loopback address: the per-client limits (16 requests at once) would refuse wrk's 64
  // connections as soon as answers are signed off the event loop (several in flight at once).
  const server = await spawnCaServer(join(dir, "ca"), ["--max-requests-per-client", "1024", "--max-connections-per-client", "1024"]);
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

  const issuingPem = await (await fetch(`${server.url}/ca`)).text();
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

  // Responses signed fresh: every request with its own nonce (none cacheable), against `openssl ocsp` as a responder
  // over the same certificates (those revoked above included), same responder key and certificate, same client.
  const nonced = await nonceCase({ dir, issuingPem, serials, revokedSince: new Set(goodOnes), now, median });

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
    nonce: nonced,
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
function wrkScript(dir: string, bodies: Buffer[], name = "ocsp"): string {
  const hex = join(dir, `${name}-requests.hex`);
  writeFileSync(hex, bodies.map((b) => b.toString("hex")).join("\n") + "\n");
  const lua = join(dir, `${name}.lua`);
  writeFileSync(
    lua,
    `local reqs = {}
local i = 0
init = function(args)
  for line in io.lines(${JSON.stringify(hex)}) do
    local body = line:gsub("..", function(cc) return string.char(tonumber(cc, 16)) end)
    reqs[#reqs + 1] = wrk.format("POST", wrk.path, { ["Content-Type"] = "application/ocsp-request" }, body)
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

type Argv = (command: string, args: string[]) => [string, string[]];
/** Argv for the host itself (a function declaration: the top-level code above runs before any const here is set). */
function onHost(command: string, args: string[]): [string, string[]] {
  return [command, args];
}

/** One wrk round against `url` (run through `where`: the host, or the private namespace): responses per second, and every failure it reports (non-2xx, socket errors). */
function wrk(url: string, script: string, path = "/ocsp", where: Argv = onHost): Promise<WrkResult> {
  const [cmd, args] = where("wrk", [`-t${WRK_THREADS}`, `-c${WRK_CONNECTIONS}`, `-d${DURATION_MS / 1000}s`, "-s", script, `${url}${path}`]);
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: "utf8", timeout: DURATION_MS + 30_000 }, (err, out) => {
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

/**
 * The nonce case: one request per certificate, each with its own 16-octet nonce (as OpenSSL's client sends), cycled:
 * every answer is signed fresh. Peer: `openssl ocsp -index -port` (single process as the issue measured it; and, as
 * information, with -multi 2), answering from an index of the same certificates with the CA's own responder
 * certificate and key. It binds every interface, so it runs only in a private network namespace (loopback only),
 * with a cardloop server on the same data directory beside it; both measured from in there by bench/ocsp-client.ts.
 * Without a namespace: cardloop alone, on the host's loopback, same client; the peer skipped with a line.
 */
async function nonceCase(o: { dir: string; issuingPem: string; serials: string[]; revokedSince: Set<string>; now: number; median: (xs: WrkResult[]) => WrkResult }) {
  const teardowns: Array<() => Promise<void> | void> = [];
  const owner: Owner = { teardown: (fn) => void teardowns.push(fn) };
  try {
    const issuing = new Certificate(pemToDer(o.issuingPem, "CERTIFICATE"));
    const bodies = o.serials.map((s) => Buffer.from(buildOcspRequest(issuing, [s], randomBytes(16))));
    const script = wrkScript(o.dir, bodies, "nonce"); // also writes nonce-requests.hex, ocsp-client.ts's input
    const hex = join(o.dir, "nonce-requests.hex");
    const revoked = (i: number) => i % 2 === 1 || o.revokedSince.has(o.serials[i]);
    const firstStatus = revoked(0) ? "revoked" : "good";

    const net = await openPrivateNet(owner, 170_000);
    const isolated = "pid" in net;
    const where: Argv = isolated ? net.argv : onHost;
    const spawnThere = (command: string, args: string[], opts: GroupOptions): Group => (isolated ? net.spawn(owner, command, args, opts) : spawnGroup(owner, command, args, opts));
    const root = join(import.meta.dirname, "..");
    const client = async (url: string): Promise<WrkResult & { first: { status: string | null; nonce: boolean } }> => {
      const [cmd, args] = where(process.execPath, ["--import=tsx", join(root, "bench/ocsp-client.ts"), url, hex, String(DURATION_MS), "64"]);
      const r = await runTool(cmd, args, { cwd: root, timeoutMs: DURATION_MS + 30_000 });
      if (r.code !== 0) throw new Error(`ocsp-client.ts exited ${r.code}: ${r.stderr.slice(-500)}`);
      return JSON.parse(r.stdout.trim().split("\n").pop()!) as WrkResult & { first: { status: string | null; nonce: boolean } };
    };
    const check = (who: string, r: { first: { status: string | null; nonce: boolean } }) => {
      if (r.first.status !== firstStatus || !r.first.nonce) throw new Error(`${who} answered ${JSON.stringify(r.first)}, expected ${firstStatus} with the nonce echoed`);
    };

    // cardloop: the CLI server on the data directory the host's server has just let go, beside the peer.
    const ca = spawnThere(process.execPath, [join(root, "bin/cardloop.js"), "ca", "serve", "--data", join(o.dir, "ca"), "--port", "0", "--max-requests-per-client", "1024", "--max-connections-per-client", "1024"], {
      cwd: root,
      label: "cardloop ca serve (nonce case)",
      deadlineMs: 170_000,
    });
    const caUrl = `${(await ca.waitFor("stdout", /^(http:\/\/\S+)$/m, 60_000))[1]}/ocsp`;

    // The OpenSSL responder's inputs: an index of the same certificates and statuses, the CA's responder files.
    const yymmdd = (ms: number) => new Date(ms).toISOString().replace(/[-:T]/g, "").slice(2, 14) + "Z";
    const exp = yymmdd(o.now + 365 * 86_400_000);
    const lines = o.serials.map((s, i) => (revoked(i) ? `R\t${exp}\t${yymmdd(o.now)},keyCompromise` : `V\t${exp}\t`) + `\t${s.toUpperCase()}\tunknown\t/CN=bench${i}`);
    writeFileSync(join(o.dir, "index.txt"), lines.join("\n") + "\n");
    writeFileSync(join(o.dir, "index.txt.attr"), "unique_subject = no\n");
    writeFileSync(join(o.dir, "issuing.pem"), o.issuingPem);
    const keys = join(o.dir, "ca", "keys");
    const openssl = async (multi: number) => {
      if (!isolated) throw new Error(`skipped: ${net.unavailable}`);
      const port = 20_000 + Math.floor(Math.random() * 20_000);
      const args = ["ocsp", "-index", join(o.dir, "index.txt"), "-port", String(port), "-CA", join(o.dir, "issuing.pem"), "-rsigner", join(keys, "ocsp.crt.pem"), "-rkey", join(keys, "ocsp.key.pem"), "-nmin", "60"];
      if (multi > 1) args.push("-multi", String(multi));
      const g = spawnThere("openssl", args, { label: "openssl ocsp", deadlineMs: 170_000 });
      await g.waitFor("stderr", /waiting for OCSP client connections/, 10_000).catch(async (err: Error) => {
        await g.wait(2000).catch(() => undefined);
        throw new Error(`${err.message}\nargs: ${args.join(" ")}\nstderr: ${g.stderr}`);
      });
      // It listens on *:port, in the namespace only: the host must not see it.
      const host = await runTool("ss", ["-ltnH", `sport = :${port}`]);
      if (host.stdout.trim() !== "") throw new Error(`openssl ocsp's port ${port} is listening on the host: ${host.stdout.trim()}`);
      return { url: `http://127.0.0.1:${port}/`, g };
    };

    const ours: WrkResult[] = [];
    const theirs: WrkResult[] = [];
    const oursWrk: WrkResult[] = [];
    const single = isolated ? await openssl(1) : undefined;
    if (!isolated) console.log(`openssl ocsp peer skipped: ${net.unavailable}; it binds every interface, so it runs only in a private network namespace`);
    // wrk gets no answer at all from `openssl ocsp -port` (OpenSSL 3.0.19: HTTP/1.0, it never reads wrk's request),
    // so the two are compared with one node client (ocsp-client.ts: undici, closed loop, 64 connections); wrk
    // figures for cardloop alone, for information. Rounds alternate (the machine is shared).
    for (let round = 0; round < ROUNDS; round++) {
      const a = await client(caUrl);
      check("cardloop", a);
      ours.push(a);
      if (single) {
        const b = await client(single.url);
        check("openssl ocsp", b);
        theirs.push(b);
      }
      oursWrk.push(await wrk(caUrl.replace(/\/ocsp$/, ""), script, "/ocsp", where));
    }
    await single?.g.stop();
    // -multi exists in OpenSSL 3.0; here it may not start (it exits 1 before serving, saying nothing): information only.
    let multiRate: WrkResult | { error: string };
    try {
      const multi = await openssl(2);
      multiRate = await client(multi.url);
      await multi.g.stop();
    } catch (err) {
      multiRate = { error: String((err as Error).message).split("\n")[0] };
    }
    await ca.stop();
    const errors = ours.reduce((n, r) => n + r.errors, 0);
    const a = o.median(ours);
    const b = theirs.length > 0 ? o.median(theirs) : undefined;
    const ratio = b ? Number((a.rate / b.rate).toFixed(2)) : undefined;
    const place = isolated ? "both in a private network namespace (loopback only)" : "on the host's loopback (no namespace: openssl skipped)";
    console.log(`nonce (signed fresh), ocsp-client.ts ${place}: cardloop ${Math.round(a.rate)}/s (${ours.map((r) => Math.round(r.rate)).join(", ")}; ${errors} errors)`);
    console.log(`  cardloop with wrk -t${WRK_THREADS} -c${WRK_CONNECTIONS}: ${Math.round(o.median(oursWrk).rate)}/s (${oursWrk.map((r) => Math.round(r.rate)).join(", ")}; ${oursWrk.reduce((n, r) => n + r.errors, 0)} errors)`);
    if (b) console.log(`peer openssl ocsp (single process): ${Math.round(b.rate)}/s (${theirs.map((r) => Math.round(r.rate)).join(", ")}; ${theirs.reduce((n, r) => n + r.errors, 0)} errors) -> cardloop/openssl ${ratio} (goal >= 1.5)`);
    console.log(`for information, openssl ocsp -multi 2: ${"rate" in multiRate ? `${Math.round(multiRate.rate)}/s (${multiRate.errors} errors)` : `did not run: ${multiRate.error}`}`);
    return {
      requests: bodies.length,
      network: isolated ? "private network namespace (unshare --net, lo only), cardloop and openssl servers and the client all in it" : `host loopback; openssl peer skipped (${net.unavailable})`,
      client: "bench/ocsp-client.ts (undici Pool, 64 connections, closed loop, a process per round), the same for both; wrk gets no answer from openssl ocsp -port",
      rounds: { cardloop: ours.map((r) => Math.round(r.rate)), openssl: theirs.map((r) => Math.round(r.rate)) },
      cardloopWithWrk: { rounds: oursWrk.map((r) => Math.round(r.rate)), errors: oursWrk.reduce((n, r) => n + r.errors, 0) },
      responsesPerSecond: Math.round(a.rate),
      errors,
      peer: b
        ? { name: "openssl ocsp -index -port, single process, same responder key/certificate, same client (ocsp-client.ts)", responsesPerSecond: Math.round(b.rate), errors: theirs.reduce((n, r) => n + r.errors, 0) }
        : { skipped: isolated ? "" : net.unavailable },
      ratioToOpenssl: ratio ?? null,
      goal: 1.5,
      met: ratio === undefined ? null : ratio >= 1.5,
      opensslMulti2: "rate" in multiRate ? { responsesPerSecond: Math.round(multiRate.rate), errors: multiRate.errors } : { error: multiRate.error },
    };
  } finally {
    for (const fn of teardowns.reverse()) await fn();
  }
}
