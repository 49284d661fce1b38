/**
 * The OCSP load client of bench/ca-ocsp.bench.ts's nonce case, one process per
 * round, so that it can run inside the private network namespace beside
 * `openssl ocsp` (bench/netns.ts); both sides are measured with it. Closed
 * loop for DURATION_MS: CONNECTIONS keep-alive connections (undici), one
 * request each at a time, cycling through the bodies in HEX_FILE (one hex
 * request a line). Prints one line of JSON: answers (200) per second, errors,
 * and the status and nonce of the first body's answer (the caller's check
 * that the responder answers as expected).
 *
 *   node --import=tsx bench/ocsp-client.ts URL HEX_FILE DURATION_MS CONNECTIONS
 */
import { readFileSync } from "node:fs";
import { Pool } from "undici";
import { OcspResponse } from "../pki/index.js";

const [url, hexFile, durationArg, connectionsArg] = process.argv.slice(2);
const durationMs = Number(durationArg);
const connections = Number(connectionsArg);
if (!url || !hexFile || !(durationMs > 0) || !(connections > 0)) {
  process.stderr.write("usage: ocsp-client.ts URL HEX_FILE DURATION_MS CONNECTIONS\n");
  process.exit(2);
}
const bodies = readFileSync(hexFile, "utf8")
  .split("\n")
  .filter((l) => l.length > 0)
  .map((l) => Buffer.from(l, "hex"));

const u = new URL(url);
const pool = new Pool(u.origin, { connections });
const post = async (body: Buffer) => {
  const r = await pool.request({ path: u.pathname, method: "POST", body, headers: { "content-type": "application/ocsp-request" } });
  return { status: r.statusCode, body: new Uint8Array(await r.body.arrayBuffer()) };
};

const first = await post(bodies[0]);
const parsed = new OcspResponse(first.body);
let count = 0;
let errors = 0;
let i = 0;
const t0 = performance.now();
const end = t0 + durationMs;
const one = async () => {
  while (performance.now() < end) {
    try {
      const r = await post(bodies[i++ % bodies.length]);
      if (r.status === 200 && r.body.byteLength > 5) count++;
      else errors++;
    } catch {
      errors++;
    }
  }
};
await Promise.all(Array.from({ length: connections }, one));
const ms = performance.now() - t0;
await pool.close();
process.stdout.write(JSON.stringify({ rate: count / (ms / 1000), count, errors, ms, first: { status: parsed.responses[0]?.status ?? null, nonce: parsed.nonce !== undefined } }) + "\n");
