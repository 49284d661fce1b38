import test, { type ExecutionContext } from "ava";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { holdExclusive, holderPid, type ExclusiveLock, type LockBusy } from "./index.js";

function tmp(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), "cardloop-lock-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function held(t: ExecutionContext, r: ExclusiveLock | LockBusy): ExclusiveLock {
  if ("busy" in r) throw new Error(`busy (pid ${r.pid})`);
  t.teardown(() => r.release());
  return r;
}

test("one holder in a process: a second answers busy with the holder's pid; release frees it once; the lock file stays, the pid file goes", (t) => {
  const path = join(tmp(t), "x.lock");
  const lock = held(t, holdExclusive(path));
  t.is(lock.path, path);
  t.is(readFileSync(`${path}.pid`, "utf8"), `${process.pid}\n`);
  t.deepEqual(holdExclusive(path), { busy: true, pid: process.pid });
  t.is(holderPid(path), process.pid);
  lock.release();
  t.deepEqual(readdirSync(join(path, "..")).sort(), ["x.lock"], "no pid file, no journal; the (empty) lock file stays");
  t.is(readFileSync(path).length, 0, "nothing is ever written to the lock file");
  const successor = held(t, holdExclusive(path));
  lock.release(); // a second release must not free the successor's lock
  t.true("busy" in holdExclusive(path));
  successor.release();
});

test("a pid file names a holder only while its process lives; it never stands for the lock", (t) => {
  const path = join(tmp(t), "x.lock");
  const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
  for (const content of [`${dead}\n`, "garbage", "-1\n"]) {
    writeFileSync(`${path}.pid`, content);
    t.is(holderPid(path), undefined, JSON.stringify(content));
    held(t, holdExclusive(path)).release();
  }
  writeFileSync(`${path}.pid`, `${process.ppid}\n`);
  t.is(holderPid(path), process.ppid, "a live process is named (what busy answers use)...");
  held(t, holdExclusive(path)).release(); // ...but without the lock it holds nothing
});

test("another process's lock: busy, naming it; after kill -9 the next holder gets it at once (the kernel dropped it)", async (t) => {
  const path = join(tmp(t), "x.lock");
  const module = new URL("./exclusive-lock.ts", import.meta.url).href;
  const code = `import { holdExclusive } from ${JSON.stringify(module)}; holdExclusive(process.argv[1]); process.stdout.write("held\\n"); process.stdin.resume();`;
  const child = spawn(process.execPath, ["--import=tsx", "--input-type=module", "-e", code, path], { detached: true, stdio: ["pipe", "pipe", "pipe"] });
  const kill = () => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // gone
    }
  };
  t.teardown(kill);
  const exited = new Promise((resolve) => child.once("close", resolve));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.setEncoding("utf8").on("data", (c: string) => c.includes("held") && resolve());
    child.once("close", () => reject(new Error("the holder ended")));
  });
  t.deepEqual(holdExclusive(path), { busy: true, pid: child.pid });
  kill();
  await exited;
  t.true(existsSync(`${path}.pid`), "kill -9 left its pid file behind...");
  t.is(holderPid(path), undefined, "...which names no one");
  const next = holdExclusive(path);
  t.false("busy" in next, "taken on the first try: nothing stale to wait for or break");
  const lock = held(t, next);
  t.is(readFileSync(`${path}.pid`, "utf8"), `${process.pid}\n`);
  lock.release();
});

test("a file that is not an SQLite database is refused as it is, never overwritten; a missing directory throws", (t) => {
  const dir = tmp(t);
  const path = join(dir, "old.lock");
  writeFileSync(path, "4242\n-\n00\n");
  // better-sqlite3's SqliteError is no native Error (t.throws refuses it): look at its code
  let code: unknown;
  try {
    holdExclusive(path);
  } catch (err) {
    code = (err as { code?: unknown }).code;
  }
  t.is(code, "SQLITE_NOTADB");
  t.is(readFileSync(path, "utf8"), "4242\n-\n00\n");
  t.throws(() => holdExclusive(join(dir, "nowhere", "x.lock")));
});
