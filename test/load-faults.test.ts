import test, { type ExecutionContext } from "ava";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import type { LoadSummaryData } from "../core/index.js";
import { parseCrl } from "../conformance/pkix.js";
import { retryOnPortInUse, spawnGroup, tempDir, type Group } from "../harness/processes.js";

/*
 * `cardloop load revoke` against CAs that misbehave, through the built CLI
 * (run `node bin/build.js` first), loopback only: one that drops every tenth
 * request, one that acknowledges revocations it never publishes, and one
 * killed mid-run and restarted. Counts are small; no timing is asserted.
 */

const ROOT = resolve(import.meta.dirname, "..");
const CLI = join(ROOT, "bin", "cardloop.js");
const FAULTS = "module:conformance/adapters/load-faults.ts";

function summaryOf(t: ExecutionContext, g: Group): LoadSummaryData {
  try {
    return JSON.parse(g.stdout) as LoadSummaryData;
  } catch {
    t.fail(`no JSON summary on stdout:\n${g.stdout}\n${g.stderr}`);
    throw new Error("unreachable");
  }
}

async function load(t: ExecutionContext, args: string[]): Promise<{ code: number | null; g: Group }> {
  const g = spawnGroup(t, process.execPath, [CLI, "load", "revoke", ...args, "--json", "--quiet"], { cwd: ROOT, label: "cardloop load revoke" });
  return { code: (await g.wait(80_000)).code, g };
}

test("a CA that drops every tenth revocation request: counted as resets, the rest acknowledged, none lost (--max-errors 10 allows them)", async (t) => {
  const dir = tempDir(t, "load-drop");
  const config = join(dir, "faults.yaml");
  writeFileSync(config, "inner: instant\ndropEvery: 10\n");
  const { code, g } = await load(t, ["--ca", FAULTS, "--ca-config", config, "--prepare", "100", "--control", "5", "--concurrency", "4", "--sample", "10", "--max-errors", "10", "--out", join(dir, "out")]);
  const s = summaryOf(t, g);
  t.is(code, 0, g.stderr);
  t.deepEqual(s.gates.map((x) => [x.gate, x.passed]), [["max-errors", true]]);
  t.is(s.revoke.requests, 100);
  t.deepEqual(s.revoke.errors, { reset: 10 });
  t.is(s.revoke.acknowledged, 90);
  t.is(s.completeness.checked, 90);
  t.deepEqual(s.completeness.lost, []);
  t.deepEqual(s.completeness.wronglyRevoked, []);
  t.is(s.completeness.revokedDespiteError, 0);
});

test("without --max-errors, a failed revocation fails the run: exit 1 and a verdict line naming the classes", async (t) => {
  const dir = tempDir(t, "load-drop-strict");
  const config = join(dir, "faults.yaml");
  writeFileSync(config, "inner: instant\ndropEvery: 10\n");
  const { code, g } = await load(t, ["--ca", FAULTS, "--ca-config", config, "--prepare", "50", "--control", "2", "--concurrency", "1", "--sample", "2", "--out", join(dir, "out")]);
  const s = summaryOf(t, g);
  t.is(code, 1, g.stderr);
  t.deepEqual(s.revoke.errors, { reset: 5 });
  t.is(s.revoke.acknowledged, 45);
  t.deepEqual(s.completeness.lost, []);
  t.regex(g.stderr, /^cardloop: gate max-errors failed: 5 of 50 serials failed \(5 reset\) \(limit 0 \(default\)\)$/m);
});

test("a CA that drops every request: 0 acknowledged is exit 1 even with --max-errors 100%", async (t) => {
  const dir = tempDir(t, "load-drop-all");
  const config = join(dir, "faults.yaml");
  writeFileSync(config, "inner: instant\ndropEvery: 1\n");
  const { code, g } = await load(t, ["--ca", FAULTS, "--ca-config", config, "--prepare", "20", "--control", "2", "--concurrency", "2", "--sample", "2", "--max-errors", "100%", "--out", join(dir, "out")]);
  const s = summaryOf(t, g);
  t.is(code, 1, g.stderr);
  t.is(s.revoke.acknowledged, 0);
  t.deepEqual(s.revoke.errors, { reset: 20 });
  // no acknowledged request: no latency (null in JSON, never 0 ms); the failures' latencies apart
  t.is(s.revoke.latencyMs.p99 as number | null, null);
  t.is(s.revoke.failedLatencyMs?.count, 20);
  t.regex(g.stderr, /^cardloop: gate acknowledged failed: 0 of 20 serials sent acknowledged/m);
});

test("a CA that acknowledges revocations it never publishes: completeness lists exactly those, exit 1", async (t) => {
  const dir = tempDir(t, "load-unpublished");
  const config = join(dir, "faults.yaml");
  writeFileSync(config, "inner: instant\nackWithoutPublishingEvery: 10\n");
  const saved = join(dir, "serials.tsv");
  const { code, g } = await load(t, ["--ca", FAULTS, "--ca-config", config, "--prepare", "100", "--control", "5", "--concurrency", "4", "--sample", "5", "--propagation-timeout", "2s", "--save-serials", saved, "--out", join(dir, "out")]);
  t.is(code, 1, g.stderr);
  const s = summaryOf(t, g);
  t.is(s.revoke.acknowledged, 100);
  t.is(s.completeness.lost.length, 10);
  const prepared = new Set(
    readFileSync(saved, "utf8")
      .split("\n")
      .filter((l) => l && !l.startsWith("#"))
      .map((l) => l.split("\t")[0]),
  );
  for (const l of s.completeness.lost) {
    t.true(prepared.has(l.serial));
    t.is(l.crl, "missing");
    t.is(l.ocsp, "good");
  }
  t.regex(g.stderr, /10 acknowledged revocation\(s\) lost/);
});

/** A port free a moment ago on 127.0.0.1 (the CA is restarted on it: retryOnPortInUse covers a race). */
function freePort(): Promise<number> {
  return new Promise((done) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => done(p));
    });
  });
}

test("a CA killed mid-run and restarted: the failures are classified, and every acknowledged revocation is found published", async (t) => {
  const dir = tempDir(t, "load-killed");
  const data = join(dir, "ca");
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const serve = async () =>
    retryOnPortInUse("ca serve", async () => {
      const g = spawnGroup(t, process.execPath, [CLI, "ca", "serve", "--data", data, "--port", String(port), "--max-requests-per-client", "4096", "--max-connections-per-client", "1024"], { cwd: ROOT, label: "ca serve" });
      try {
        await g.waitFor("stdout", /^http:\/\/\S+\n/m);
        return g;
      } catch (err) {
        await g.stop();
        throw err;
      }
    });
  const first = await serve();
  const token = (f: string) => readFileSync(join(data, f), "utf8").trim();
  const config = join(dir, "ca.yaml");
  writeFileSync(config, `raToken: ${token("ra.token")}\noperatorToken: ${token("operator.token")}\n`, { mode: 0o600 });

  const run = spawnGroup(
    t,
    process.execPath,
    [CLI, "load", "revoke", "--ca", url, "--ca-config", config, "--prepare", "500", "--control", "10", "--rate", "100", "--max-errors", "100%", "--timeout", "2s", "--sample", "10", "--propagation-timeout", "20s", "--out", join(dir, "out"), "--json", "--quiet"],
    { cwd: ROOT, label: "cardloop load revoke" },
  );
  // Some revocations acknowledged (the CA's CRL lists them), then kill -9 the CA's whole group.
  const until = Date.now() + 60_000;
  for (;;) {
    const listed = await fetch(`${url}/crl`)
      .then(async (r) => parseCrl(new Uint8Array(await r.arrayBuffer())).entries.size)
      .catch(() => 0);
    if (listed >= 30) break;
    if (Date.now() > until || run.done) return t.fail(`no revocations seen before the kill:\n${run.stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  first.signal("SIGKILL");
  await first.exited;
  await new Promise((r) => setTimeout(r, 1000));
  await serve();

  const exit = await run.wait(90_000);
  const s = summaryOf(t, run);
  // the failures are allowed (--max-errors 100%) and counted; some were acknowledged, so the run passes
  t.is(exit.code, 0, run.stderr);
  t.deepEqual(s.gates.map((x) => [x.gate, x.passed]), [["max-errors", true]]);
  const failed = Object.values(s.revoke.errors).reduce((a, n) => a + n, 0);
  t.log(`acknowledged ${s.revoke.acknowledged}, failed ${JSON.stringify(s.revoke.errors)}, revoked despite an error ${s.completeness.revokedDespiteError}`);
  t.true(failed > 0, JSON.stringify(s.revoke));
  // Only classes the summary knows: refused, reset, timeout (no "other": the failures were understood).
  t.deepEqual(Object.keys(s.revoke.errors).filter((c) => !["refused", "reset", "timeout"].includes(c)), []);
  t.is(s.revoke.acknowledged + failed, s.revoke.serialsSent);
  t.true(s.revoke.acknowledged >= 30);
  t.true(s.completeness.complete, s.completeness.incompleteReason);
  t.is(s.completeness.checked, s.revoke.acknowledged);
  t.deepEqual(s.completeness.lost, []);
  t.deepEqual(s.completeness.wronglyRevoked, []);
});
