import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import test from "ava";
import { readRunLog } from "../core/index.js";

const ROOT = resolve(import.meta.dirname, "..");
const CLI = join(ROOT, "bin", "cardloop.js");

/** `cardloop ca serve` on an ephemeral port; resolves with its URL once it prints it. */
function serveCa(extra: string[]): Promise<{ url: string; child: ChildProcess }> {
  const data = mkdtempSync(join(tmpdir(), "cardloop-served-ca-"));
  const child = spawn(process.execPath, [CLI, "ca", "serve", "--data", data, "--port", "0", ...extra], { stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolveUrl, reject) => {
    let out = "";
    let err = "";
    child.stdout!.on("data", (d) => {
      out += d;
      const m = /^(http:\/\/\S+)\n/m.exec(out);
      if (m) resolveUrl({ url: m[1], child });
    });
    child.stderr!.on("data", (d) => (err += d));
    child.once("exit", (code) => reject(new Error(`ca serve exited ${code}: ${err}`)));
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((done) => {
    if (child.exitCode !== null) return done();
    child.once("exit", () => done());
    child.kill("SIGTERM");
  });
}

test("scenarios run against a served embedded CA over HTTP, the run moved to the CA's time", async (t) => {
  const { url, child } = await serveCa(["--virtual-clock"]);
  try {
    const out = mkdtempSync(join(tmpdir(), "cardloop-served-run-"));
    const files = ["02-lost-card-holder-revokes.yaml", "07-found-card-renewed.yaml", "09-signatures-before-revocation.yaml"].map((f) => join(ROOT, "scenarios", "library", f));
    const r = spawnSync(process.execPath, [CLI, "run", ...files, "--ca", url, "--out", out], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
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
  } finally {
    await stop(child);
  }
});

test("a served CA on real time cannot follow a scenario's clock: exit 2 with the fix", async (t) => {
  const { url, child } = await serveCa([]);
  try {
    const r = spawnSync(process.execPath, [CLI, "run", join(ROOT, "scenarios", "library", "02-lost-card-holder-revokes.yaml"), "--ca", url], { cwd: ROOT, encoding: "utf8" });
    t.is(r.status, 2);
    t.regex(r.stderr, /keeps real time.*--virtual-clock/);
  } finally {
    await stop(child);
  }
});
