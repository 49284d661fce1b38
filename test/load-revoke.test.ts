import test, { type ExecutionContext } from "ava";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import type { LoadSummaryData } from "../core/index.js";
import { parseCrl } from "../conformance/pkix.js";
import { alive, signalGroup, spawnGroup, tempDir } from "../harness/processes.js";

/*
 * `cardloop load revoke` end to end through the built CLI (run `node
 * bin/build.js` first), against the embedded CA served over HTTP on
 * 127.0.0.1. Small counts: these test the tool's phases and verdicts, not the
 * CA's speed (benchmarks do that); no timing is asserted.
 */

const ROOT = resolve(import.meta.dirname, "..");
const CLI = join(ROOT, "bin", "cardloop.js");

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function cardloop(t: ExecutionContext, args: string[], ms = 80_000): Promise<Result> {
  const g = spawnGroup(t, process.execPath, [CLI, ...args], { cwd: ROOT, label: `cardloop ${args.slice(0, 4).join(" ")}` });
  const exit = await g.wait(ms);
  return { code: exit.code, stdout: g.stdout, stderr: g.stderr };
}

function summaryOf(t: ExecutionContext, r: Result): LoadSummaryData {
  try {
    return JSON.parse(r.stdout) as LoadSummaryData;
  } catch {
    t.fail(`no JSON summary on stdout (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    throw new Error("unreachable");
  }
}

/** `cardloop ca serve` owned by the test, with the tokens as a --ca-config file. */
async function servedCa(t: ExecutionContext): Promise<{ url: string; config: string; dir: string }> {
  const dir = tempDir(t, "load-served");
  const data = join(dir, "ca");
  const g = spawnGroup(t, process.execPath, [CLI, "ca", "serve", "--data", data, "--port", "0", "--max-requests-per-client", "4096", "--max-connections-per-client", "1024"], { cwd: ROOT });
  const url = (await g.waitFor("stdout", /^(http:\/\/\S+)\n/m))[1];
  const token = (f: string) => readFileSync(join(data, f), "utf8").trim();
  const config = join(dir, "ca.yaml");
  writeFileSync(config, `raToken: ${token("ra.token")}\noperatorToken: ${token("operator.token")}\n`, { mode: 0o600 });
  return { url, config, dir };
}

test("embedded, batches of 50: 300 prepared, revoked, propagated and complete; reports written; no code in the run log", async (t) => {
  const dir = tempDir(t, "load-e2e");
  const out = join(dir, "out");
  const saved = join(dir, "serials.tsv");
  const r = await cardloop(t, ["load", "revoke", "--ca", "embedded", "--prepare", "300", "--count", "300", "--batch", "50", "--sample", "20", "--out", out, "--save-serials", saved, "--json", "--quiet"]);
  t.is(r.code, 0, r.stderr);
  const s = summaryOf(t, r);
  t.is(s.prepare.certificates, 300);
  t.is(s.revoke.acknowledged, 300);
  t.true(s.revoke.bulk);
  t.is(s.revoke.requests, 6);
  t.deepEqual(s.completeness.lost, []);
  t.deepEqual(s.completeness.wronglyRevoked, []);
  t.true(s.completeness.complete);
  t.is(s.completeness.checked, 300);
  t.is(s.propagation.ocsp.count, 20);
  t.is(s.propagation.crl.count, 20);
  t.is(s.exitCode, 0);
  for (const f of ["run.jsonl", "load.json", "load-junit.xml", "load.md", "load.html"]) t.true(existsSync(join(out, f)), f);
  // Every code the run held (the saved file has them all) is absent from the run log and the reports.
  const codes = readFileSync(saved, "utf8")
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => l.split("\t")[1]);
  t.is(codes.length, 300);
  t.true(codes.every((c) => typeof c === "string" && c.length >= 8));
  for (const f of ["run.jsonl", "load.json", "load.md", "load.html", "load-junit.xml"]) {
    const text = readFileSync(join(out, f), "utf8");
    t.deepEqual(codes.filter((c) => text.includes(c)), [], f);
  }
  // nor what the command printed
  t.deepEqual(codes.filter((c) => r.stdout.includes(c) || r.stderr.includes(c)), [], "stdout/stderr");
});

test("single requests by the holders, closed loop and open loop (--rate), against one served CA", async (t) => {
  const { url, config, dir } = await servedCa(t);
  const closed = await cardloop(t, ["load", "revoke", "--ca", url, "--ca-config", config, "--prepare", "60", "--concurrency", "8", "--sample", "10", "--out", join(dir, "closed"), "--json", "--quiet"]);
  t.is(closed.code, 0, closed.stderr);
  const c = summaryOf(t, closed);
  t.is(c.revoke.loop, "closed");
  t.false(c.revoke.bulk);
  t.is(c.revoke.acknowledged, 60);
  t.is(c.revoke.requests, 60);
  t.is(c.completeness.controlChecked, 6);
  t.deepEqual(c.completeness.lost, []);
  const open = await cardloop(t, ["load", "revoke", "--ca", url, "--ca-config", config, "--prepare", "60", "--rate", "200", "--sample", "10", "--reasons", "keyCompromise=1,cessationOfOperation=1", "--out", join(dir, "open"), "--json", "--quiet"]);
  t.is(open.code, 0, open.stderr);
  const o = summaryOf(t, open);
  t.is(o.revoke.loop, "open");
  t.is(o.revoke.acknowledged, 60);
  t.deepEqual(o.completeness.wrongReason, []);
  t.deepEqual(o.completeness.lost, []);
  // the mix really reached the CA: both reasons are on its CRL. The closed run revoked its 60 with cessationOfOperation
  // (5); the open run's 60 are split 1:1 between keyCompromise (1) and cessationOfOperation (one reason alone: odds 2^-59).
  const crl = parseCrl(new Uint8Array(await (await fetch(`${url}/crl`)).arrayBuffer()));
  const byReason = (code: number) => [...crl.entries.values()].filter((e) => e.reason === code).length;
  t.is(byReason(1) + byReason(5), 120);
  t.true(byReason(1) > 0 && byReason(5) > 60, `keyCompromise ${byReason(1)}, cessationOfOperation ${byReason(5)}`);
  // Without the tokens the CA cannot be set up for the run: one line, exit 2, before anything is issued.
  const bare = await cardloop(t, ["load", "revoke", "--ca", url, "--prepare", "10", "--out", join(dir, "bare")]);
  t.is(bare.code, 2);
  t.regex(bare.stderr, /raToken in --ca-config/);
  t.is(bare.stderr.trim().split("\n").length, 1, bare.stderr);
});

test("each gate that fails exits 1 and says which", async (t) => {
  const { url, config, dir } = await servedCa(t);
  const gates: Array<[string[], string]> = [
    [["--min-rate", "100000000"], "min-rate"],
    [["--max-p99", "0.001ms"], "max-p99"],
    [["--max-propagation", "ocsp:p99=0.001ms"], "max-propagation"],
  ];
  for (const [flags, name] of gates) {
    const r = await cardloop(t, ["load", "revoke", "--ca", url, "--ca-config", config, "--prepare", "20", "--control", "2", "--sample", "5", "--out", join(dir, name), ...flags]);
    t.is(r.code, 1, `${name}: ${r.stdout}${r.stderr}`);
    t.regex(r.stderr, new RegExp(`gate ${name} failed`), name);
    // Only the gate failed: the text summary says nothing was lost.
    t.regex(r.stdout, /0 lost/);
  }
  // and a gate that holds
  const ok = await cardloop(t, ["load", "revoke", "--ca", url, "--ca-config", config, "--prepare", "20", "--control", "0", "--sample", "5", "--max-p99", "1h", "--min-rate", "0.001", "--out", join(dir, "ok"), "--json", "--quiet"]);
  t.is(ok.code, 0, ok.stderr);
  t.deepEqual(summaryOf(t, ok).gates.map((g) => g.passed), [true, true]);
});

test("--duration through the CLI: the phase stops on time, what was sent is verified, and the sample is spread over it", async (t) => {
  const dir = tempDir(t, "load-duration");
  const r = await cardloop(t, ["load", "revoke", "--ca", "embedded", "--prepare", "2000", "--rate", "200", "--duration", "1s", "--sample", "10", "--out", join(dir, "out"), "--json", "--quiet"]);
  t.is(r.code, 0, r.stderr);
  const s = summaryOf(t, r);
  // about 200 due in 1 s: far fewer than the 2000 prepared
  t.true(s.revoke.serialsSent > 0 && s.revoke.serialsSent < 2000, String(s.revoke.serialsSent));
  t.is(s.completeness.checked, s.revoke.acknowledged);
  t.true(s.completeness.complete, s.completeness.incompleteReason);
  t.is(s.propagation.ocsp.watched, Math.min(10, s.revoke.acknowledged));
  // the unsent targets were checked on the final CRL as controls
  t.true(s.completeness.controlChecked > 2000 - s.revoke.serialsSent, String(s.completeness.controlChecked));
});

test("a CA that cannot be reached exits 2 in one line; bad usage exits 2 naming the option", async (t) => {
  const port = await new Promise<number>((done) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => done(p));
    });
  });
  const dir = tempDir(t, "load-unreachable");
  const r = await cardloop(t, ["load", "revoke", "--ca", `http://127.0.0.1:${port}`, "--prepare", "10", "--out", join(dir, "out")]);
  t.is(r.code, 2);
  t.regex(r.stderr, /could not be started or reached/);
  t.is(r.stderr.trim().split("\n").length, 1, r.stderr);
  const bad = await cardloop(t, ["load", "revoke", "--ca", "embedded", "--prepare", "10", "--reasons", "certificateHold=1"]);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--reasons: certificateHold/);
});

test("a fault of the tool itself (an adapter method throwing mid-run) is 'internal error: <first line>', exit 2, never a CA that could not be set up", async (t) => {
  const dir = tempDir(t, "load-internal");
  // A user's adapter whose capabilities() works for the CLI's checks and breaks once the run has started.
  const adapter = join(dir, "broken.mjs");
  writeFileSync(
    adapter,
    [
      "export async function createAdapter() {",
      "  return {",
      "    name: 'broken',",
      "    capabilities() {",
      "      if (new Error().stack.includes('runLoad')) throw new Error('adapter bug: capabilities went away\\nsecond line');",
      "      return { ocsp: false, crl: false, bulkRevoke: false, authorisation: false, cancellationCodes: false };",
      "    },",
      "    async anchors() { return []; },",
      "    async close() {},",
      ...["issue", "renew", "revoke", "release", "status", "crl", "ocsp"].map((m) => `    async ${m}() { throw new Error('not used'); },`),
      "  };",
      "}",
    ].join("\n"),
  );
  const serials = join(dir, "serials.txt");
  writeFileSync(serials, "0a\n0b\n");
  const r = await cardloop(t, ["load", "revoke", "--ca", `module:${adapter}`, "--serials", serials, "--role", "operator", "--out", join(dir, "out"), "--quiet"]);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /^cardloop: internal error: adapter bug: capabilities went away$/m);
  t.notRegex(r.stderr, /could not be (started|set up)|no certificate could be issued|second line/);
});

test("--prepare --save-serials, then three agents --serials --shard 1/3, 2/3, 3/3: disjoint shares that together are the whole file", async (t) => {
  const { url, config, dir } = await servedCa(t);
  const saved = join(dir, "serials.tsv");
  // One agent prepares only (--count 0) and saves the serials with their codes.
  const prep = await cardloop(t, ["load", "revoke", "--ca", url, "--ca-config", config, "--prepare", "30", "--control", "0", "--count", "0", "--save-serials", saved, "--out", join(dir, "prep"), "--json", "--quiet"]);
  t.is(prep.code, 0, prep.stderr);
  t.is(summaryOf(t, prep).revoke.serialsSent, 0);
  const serials = readFileSync(saved, "utf8")
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => l.split("\t")[0]);
  t.is(serials.length, 30);
  const issuer = join(dir, "issuer.pem");
  writeFileSync(issuer, await (await fetch(`${url}/ca`)).text());
  let acknowledged = 0;
  for (const shard of ["1/3", "2/3", "3/3"]) {
    const r = await cardloop(t, ["load", "revoke", "--ca", url, "--ca-config", config, "--serials", saved, "--issuer", issuer, "--shard", shard, "--sample", "3", "--out", join(dir, `shard-${shard[0]}`), "--json", "--quiet"]);
    t.is(r.code, 0, r.stderr);
    const s = summaryOf(t, r);
    t.deepEqual(s.shard, { index: Number(shard[0]), of: 3 });
    t.is(s.prepare.certificates, 10);
    // A serial revoked twice would be answered 409: every one acknowledged, no error, means no overlap.
    t.deepEqual(s.revoke.errors, {});
    t.is(s.revoke.acknowledged, 10);
    t.is(s.completeness.checked, 10);
    acknowledged += s.revoke.acknowledged;
  }
  t.is(acknowledged, 30);
  const crl = parseCrl(new Uint8Array(await (await fetch(`${url}/crl`)).arrayBuffer()));
  t.deepEqual([...crl.entries.keys()].sort(), [...serials].sort());
});

test("SIGINT mid-run stops the revocations, still verifies what was acknowledged, writes the reports and exits 130", async (t) => {
  const dir = tempDir(t, "load-sigint");
  const out = join(dir, "out");
  const g = spawnGroup(t, process.execPath, [CLI, "load", "revoke", "--ca", "embedded", "--prepare", "400", "--rate", "40", "--sample", "5", "--out", out, "--json"], { cwd: ROOT, label: "cardloop load revoke" });
  // Not a terminal: the progress says each phase as it starts.
  await g.waitFor("stderr", /^revoke /m, 60_000);
  await new Promise((r) => setTimeout(r, 1500));
  process.kill(g.pid!, "SIGINT");
  const exit = await g.wait(60_000);
  t.is(exit.code, 130, g.stderr);
  const s = JSON.parse(g.stdout) as LoadSummaryData;
  t.true(s.revoke.acknowledged > 0 && s.revoke.acknowledged < 400, String(s.revoke.acknowledged));
  t.is(s.completeness.checked, s.revoke.acknowledged);
  t.deepEqual(s.completeness.lost, []);
  t.regex(g.stderr, /stopped by SIGINT/);
  t.deepEqual(s.interrupted, { signal: "SIGINT" });
  t.true(existsSync(join(out, "load.html")));
  // The reports say it too, and never PASS.
  t.regex(readFileSync(join(out, "load.md"), "utf8"), /^## cardloop load revoke: INTERRUPTED against embedded/);
});

/** The pids whose parent is `pid` (Linux: /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // "pid (comm) state ppid ...": comm may hold spaces, so read after its closing parenthesis
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Alive and not a zombie (an orphan's new parent may reap it late). */
function running(pid: number): boolean {
  if (!alive(pid)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

const cmdline = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  } catch {
    return [];
  }
};

test("--ca embedded: a load run killed by SIGKILL leaves no CA server and no CA data behind", async (t) => {
  const dir = tempDir(t, "load-sigkill");
  const g = spawnGroup(t, process.execPath, [CLI, "load", "revoke", "--ca", "embedded", "--prepare", "400", "--rate", "20", "--sample", "5", "--out", join(dir, "out"), "--json"], {
    cwd: ROOT,
    label: "cardloop load revoke",
  });
  await g.waitFor("stderr", /^revoke /m, 60_000);
  // The served CA and its keeper each run in a process group of their own (so the run's group is neither): both are the run's children.
  const keeper = childrenOf(g.pid!).find((pid) => cmdline(pid).includes("-e"));
  if (keeper === undefined) return t.fail("no keeper process under the load run");
  t.teardown(() => signalGroup(keeper, "SIGKILL"));
  const server = childrenOf(g.pid!).find((pid) => cmdline(pid).includes("serve"));
  if (server === undefined) return t.fail("no ca serve under the load run");
  t.teardown(() => signalGroup(server, "SIGKILL"));
  const args = cmdline(server);
  const data = args[args.indexOf("--data") + 1];
  t.true(existsSync(data), data);
  process.kill(g.pid!, "SIGKILL");
  // Bounded: the keeper gives the server STOP_MS (10 s) after SIGTERM, then SIGKILL.
  const until = Date.now() + 30_000;
  while ((running(server) || running(keeper) || existsSync(data)) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  t.false(running(server), "the CA server is gone");
  t.false(running(keeper), "its keeper is gone");
  t.false(existsSync(data), "the CA's data directory is removed");
});
