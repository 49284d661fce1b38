import test from "ava";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "../core/index.js";
import { listenError, signalExitCode, untilStopSignal } from "./exit.js";

const root = join(import.meta.dirname, "..");
const STOP_SIGNALS = ["SIGINT", "SIGTERM"] as const;

/**
 * Runs `body` with the process's own SIGINT and SIGTERM listeners set aside
 * (the test emits the events: whatever else listens must not act on them).
 */
async function aside(body: () => Promise<void>): Promise<void> {
  const kept = STOP_SIGNALS.map((s) => [s, process.listeners(s)] as const);
  for (const s of STOP_SIGNALS) process.removeAllListeners(s);
  try {
    await body();
  } finally {
    for (const s of STOP_SIGNALS) process.removeAllListeners(s);
    for (const [s, listeners] of kept) for (const l of listeners) process.on(s, l);
  }
}

const listening = () => STOP_SIGNALS.map((s) => process.listenerCount(s));

test("signalExitCode: 128 + the signal's number, as a shell reports it", (t) => {
  t.is(signalExitCode("SIGINT"), 130);
  t.is(signalExitCode("SIGTERM"), 143);
  t.is(signalExitCode("SIGHUP"), 129);
});

test.serial("untilStopSignal: the first SIGINT or SIGTERM, after which neither is handled (a second one ends the process)", async (t) => {
  await aside(async () => {
    for (const signal of STOP_SIGNALS) {
      const stopped = untilStopSignal();
      t.deepEqual(listening(), [1, 1]);
      process.emit(signal, signal);
      t.is(await stopped, signal);
      t.deepEqual(listening(), [0, 0], `after ${signal}`);
    }
  });
});

test.serial("untilStopSignal: aborted, it stops listening and never settles", async (t) => {
  await aside(async () => {
    const done = new AbortController();
    let settled = false;
    void untilStopSignal(done.signal).then(() => (settled = true));
    t.deepEqual(listening(), [1, 1]);
    done.abort();
    t.deepEqual(listening(), [0, 0]);
    void untilStopSignal(done.signal).then(() => (settled = true));
    t.deepEqual(listening(), [0, 0], "already aborted: nothing to listen for");
    await new Promise((resolve) => setImmediate(resolve));
    t.false(settled);
  });
});

test("listenError: a usage error naming the address (IPv6 in brackets); a usage error passes as it is", async (t) => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  t.teardown(() => taken.close());
  const port = (taken.address() as { port: number }).port;
  const inUse = await new Promise<Error>((resolve) => createServer().once("error", resolve).listen(port, "127.0.0.1"));
  const err = listenError(inUse, "127.0.0.1", port);
  t.true(err instanceof UsageError);
  t.is(err.message, `cannot listen on 127.0.0.1:${port}: address already in use`);
  t.is(listenError(Object.assign(new Error("getaddrinfo ENOTFOUND nohost"), { code: "ENOTFOUND" }), "nohost", 1).message, "cannot listen on nohost:1: getaddrinfo ENOTFOUND nohost");
  t.is(listenError(new Error("listen EACCES: permission denied ::1:80"), "::1", 80).message, "cannot listen on [::1]:80: listen EACCES: permission denied ::1:80");
  const usage = new UsageError("--public-url must be ...");
  t.is(listenError(usage, "127.0.0.1", 1), usage);
});

test("certify stopped by SIGTERM exits 143 (SIGINT's is 130), its reports written from what it judged", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "cardloop-exit-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // An adapter whose first request never ends (an interval keeps the process up): certify is mid-check when the signal comes.
  writeFileSync(
    join(dir, "stalls.mjs"),
    `const stall = () => { process.stderr.write("STALLED\\n"); return new Promise(() => setInterval(() => undefined, 1000)); };
export async function createAdapter() {
  return {
    name: "stalls",
    capabilities() {
      return { renew: false, hold: false, authorisation: false, cancellationCodes: false, cardExpiryCap: false, crl: false, ocsp: false, ocspGet: false, bulkRevoke: false, virtualClock: false };
    },
    async anchors() { return []; },
    issue: stall, renew: stall, revoke: stall, release: stall, status: stall, crl: stall, ocsp: stall,
    async close() {},
  };
}
`,
  );
  const out = join(dir, "out");
  const child = spawn(process.execPath, [join(root, "bin/cardloop.js"), "certify", "--ca", `module:${join(dir, "stalls.mjs")}`, "--only", "ISS-VALIDITY-MAX", "--out", out], {
    cwd: root,
    stdio: ["ignore", "ignore", "pipe"],
  });
  t.teardown(() => child.kill("SIGKILL"));
  let stderr = "";
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const stalled = new Promise<void>((resolve) =>
    child.stderr!.on("data", (b: Buffer) => {
      stderr += b.toString();
      if (stderr.includes("STALLED\n")) resolve();
    }),
  );
  // (a child that exits before it stalls fails the test below, not by a hang)
  await Promise.race([stalled, exited]);
  child.kill("SIGTERM");
  t.is(await exited, 143, stderr);
  const report = JSON.parse(readFileSync(join(out, "certify.json"), "utf8")) as { verdict: string };
  t.is(report.verdict, "incomplete");
});
