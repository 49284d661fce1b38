import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import test from "ava";
import { readRunLog } from "../core/index.js";

const ROOT = resolve(import.meta.dirname, "..");
const CLI = join(ROOT, "bin", "cardloop.js");

/** `cardloop ca serve` on an ephemeral port, in its own process group; resolves with its URL once it prints it. */
function serveCa(extra: string[]): Promise<{ url: string; child: ChildProcess; data: string }> {
  const data = mkdtempSync(join(tmpdir(), "cardloop-served-ca-"));
  const child = spawn(process.execPath, [CLI, "ca", "serve", "--data", data, "--port", "0", ...extra], { stdio: ["ignore", "pipe", "pipe"], detached: true });
  return new Promise((resolveUrl, reject) => {
    let out = "";
    let err = "";
    child.stdout!.on("data", (d) => {
      out += d;
      const m = /^(http:\/\/\S+)\n/m.exec(out);
      if (m) resolveUrl({ url: m[1], child, data });
    });
    child.stderr!.on("data", (d) => (err += d));
    child.once("exit", (code) => reject(new Error(`ca serve exited ${code}: ${err}`)));
  });
}

/** Ends the server's whole process group. */
function stop(child: ChildProcess): Promise<void> {
  return new Promise((done) => {
    if (child.exitCode !== null) return done();
    child.once("exit", () => done());
    try {
      process.kill(-child.pid!, "SIGTERM");
    } catch {
      done();
    }
  });
}

/** The --ca-config a station and an operator desk use: the tokens the CA wrote once into its data directory. */
function tokensConfig(data: string): string {
  const token = (f: string) => readFileSync(join(data, f), "utf8").trim();
  const file = join(mkdtempSync(join(tmpdir(), "cardloop-served-cfg-")), "ca.yaml");
  writeFileSync(file, `raToken: ${token("ra.token")}\noperatorToken: ${token("operator.token")}\n`, { mode: 0o600 });
  return file;
}

test("scenarios run against a served embedded CA over HTTP, the run moved to the CA's time", async (t) => {
  const { url, child, data } = await serveCa(["--virtual-clock"]);
  t.teardown(() => stop(child));
  const out = mkdtempSync(join(tmpdir(), "cardloop-served-run-"));
  const files = ["02-lost-card-holder-revokes.yaml", "07-found-card-renewed.yaml", "09-signatures-before-revocation.yaml"].map((f) => join(ROOT, "scenarios", "library", f));
  const r = spawnSync(process.execPath, [CLI, "run", ...files, "--ca", url, "--ca-config", tokensConfig(data), "--out", out], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  t.is(r.status, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /3\/3 scenarios passed/);
  const started = readRunLog(join(out, "run.jsonl")).filter((e) => e.type === "run.started");
  t.is(started.length, 3);
  for (const e of started) {
    if (e.type !== "run.started") continue;
    t.is(e.data.meta?.ca, url);
    // The served CA's clock started at today's date, after the scenarios' 2025 starts.
    t.true(typeof e.data.meta?.shiftedByMs === "number" && (e.data.meta.shiftedByMs as number) > 0);
  }
});

test("a scenario file that names a served CA itself takes --ca-config without --ca", async (t) => {
  const { url, child, data } = await serveCa(["--virtual-clock"]);
  t.teardown(() => stop(child));
  const dir = mkdtempSync(join(tmpdir(), "cardloop-served-file-"));
  const file = join(dir, "served.yaml");
  const library = readFileSync(join(ROOT, "scenarios", "library", "02-lost-card-holder-revokes.yaml"), "utf8");
  writeFileSync(file, library.replace(/^seed: /m, `ca: ${url}\nseed: `));
  const out = join(dir, "out");
  const r = spawnSync(process.execPath, [CLI, "run", file, "--ca-config", tokensConfig(data), "--out", out], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  t.is(r.status, 0, r.stdout + r.stderr);
  const started = readRunLog(join(out, "run.jsonl")).find((e) => e.type === "run.started");
  t.is(started?.type === "run.started" ? started.data.meta?.ca : undefined, url);
  // a misspelt key is one line and exit 2, before any scenario starts
  const typo = join(dir, "typo.yaml");
  writeFileSync(typo, "raTokn: x\n");
  const bad = spawnSync(process.execPath, [CLI, "run", file, "--ca-config", typo], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  t.is(bad.status, 2, bad.stdout + bad.stderr);
  t.regex(bad.stderr, /^cardloop: --ca-config: unknown key raTokn for --ca http\(s\):\/\/URL \(known: operatorToken, raToken, capabilities, timeoutMs, connections\)\n$/);
});

test("without the tokens a served CA neither moves its clock nor issues: each refusal names the credential", async (t) => {
  const { url, child, data } = await serveCa(["--virtual-clock"]);
  t.teardown(() => stop(child));
  const file = join(ROOT, "scenarios", "library", "02-lost-card-holder-revokes.yaml");
  // No tokens at all: moving the CA's time to the scenario's start is the operator's, so the run stops there.
  const bare = spawnSync(process.execPath, [CLI, "run", file, "--ca", url], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  t.is(bare.status, 1, bare.stdout + bare.stderr);
  t.regex(bare.stdout, /refused to move its clock.*HTTP 401 \{"error":"credential-required","message":"moving the CA's clock needs the operator token"\}/);
  // The operator's token only: time moves, and the issue step is refused for want of the station's token.
  const operatorOnly = join(mkdtempSync(join(tmpdir(), "cardloop-served-cfg-")), "ca.yaml");
  writeFileSync(operatorOnly, `operatorToken: ${readFileSync(join(data, "operator.token"), "utf8").trim()}\n`, { mode: 0o600 });
  const out = mkdtempSync(join(tmpdir(), "cardloop-served-run-"));
  const r = spawnSync(process.execPath, [CLI, "run", file, "--ca", url, "--ca-config", operatorOnly, "--out", out], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  t.is(r.status, 1, r.stdout + r.stderr);
  const issue = readRunLog(join(out, "run.jsonl")).find((e) => e.type === "step.finished" && e.data.action === "issue");
  t.truthy(issue, "the issue step ran");
  const actual = issue?.type === "step.finished" ? (issue.data.actual as { result?: string; reason?: string } | undefined) : undefined;
  t.deepEqual(actual, { result: "refused", reason: "credential-required" });
});

test("a served CA on real time cannot follow a scenario's clock: exit 2 with the fix", async (t) => {
  const { url, child } = await serveCa([]);
  t.teardown(() => stop(child));
  const r = spawnSync(process.execPath, [CLI, "run", join(ROOT, "scenarios", "library", "02-lost-card-holder-revokes.yaml"), "--ca", url], { cwd: ROOT, encoding: "utf8" });
  t.is(r.status, 2);
  t.regex(r.stderr, /keeps real time.*--virtual-clock/);
});
