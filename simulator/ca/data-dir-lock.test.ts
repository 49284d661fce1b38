import test from "ava";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { VirtualClock } from "../../core/index.js";
import { CaError } from "./api.js";
import { DataDirLockedError, lockDataDir } from "./data-dir-lock.js";
import { EmbeddedCa } from "./embedded-ca.js";

/** One writer per data directory, in this process (test/ca-cli.test.ts covers two processes and kill -9). */
function tmp(t: import("ava").ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), "cardloop-ca-lock-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("a second EmbeddedCa.open on one data directory fails, naming the holder; after close it opens", async (t) => {
  const dataDir = tmp(t);
  const clock = new VirtualClock("2026-03-01T10:00:00Z");
  const first = await EmbeddedCa.open({ dataDir, clock, kdfLog2N: 4, crlScheduleMs: 0 });
  const err = await t.throwsAsync(EmbeddedCa.open({ dataDir, clock, kdfLog2N: 4, crlScheduleMs: 0 }), { instanceOf: DataDirLockedError });
  t.true(err instanceof CaError);
  t.is(err?.holderPid, process.pid);
  t.is(err?.reason, "data-dir-locked");
  t.regex(err!.message, new RegExp(`in use by process ${process.pid} \\(this one\\)`));
  t.is(readFileSync(join(dataDir, "ca.lock.pid"), "utf8").trim(), String(process.pid));
  // The refused opener touched nothing: the first CA still works.
  t.is((await first.status("0abc")).status, "unknown");
  await first.close();
  const second = await EmbeddedCa.open({ dataDir, clock, kdfLog2N: 4, crlScheduleMs: 0 });
  t.is(second.roleOf(first.operatorToken), "operator", "the same CA: its operator token still works");
  await second.close();
});

test("in-memory CAs take no lock; closing twice releases once", async (t) => {
  const a = await EmbeddedCa.open({ kdfLog2N: 4, crlScheduleMs: 0 });
  const b = await EmbeddedCa.open({ kdfLog2N: 4, crlScheduleMs: 0 });
  t.is((await b.status("0abc")).status, "unknown", "a second in-memory CA opens beside the first");
  await a.close();
  await b.close();

  // A CA closed twice must not free the lock its successor now holds.
  const dataDir = tmp(t);
  const opts = { dataDir, kdfLog2N: 4, crlScheduleMs: 0 };
  const first = await EmbeddedCa.open(opts);
  await first.close();
  const successor = await EmbeddedCa.open(opts);
  await first.close();
  await t.throwsAsync(EmbeddedCa.open(opts), { instanceOf: DataDirLockedError });
  await successor.close();
});

test("a pid file left behind by a dead holder is no lock: only the held lock counts", async (t) => {
  const dir = tmp(t);
  writeFileSync(join(dir, "ca.lock.pid"), "999999999\n"); // no such process
  const lock = await lockDataDir(dir);
  t.is(readFileSync(join(dir, "ca.lock.pid"), "utf8").trim(), String(process.pid));
  const err = await t.throwsAsync(lockDataDir(dir), { instanceOf: DataDirLockedError });
  t.is(err?.holderPid, process.pid);
  lock.release();
  lock.release();
  t.false(existsSync(join(dir, "ca.lock.pid")), "a clean release leaves no pid behind");
  (await lockDataDir(dir)).release();
});

test("a holder whose pid is unknown is still refused, as 'another process'", async (t) => {
  const dir = tmp(t);
  const lock = await lockDataDir(dir);
  rmSync(join(dir, "ca.lock.pid"));
  const err = await t.throwsAsync(lockDataDir(dir), { instanceOf: DataDirLockedError });
  t.is(err?.holderPid, undefined);
  t.regex(err!.message, /in use by another process/);
  lock.release();
});
