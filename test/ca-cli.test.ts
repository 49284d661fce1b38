import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import test from "ava";

/** `cardloop ca serve` as a user meets it: what it prints, where it listens, how it refuses bad input. */
const ROOT = resolve(import.meta.dirname, "..");
const CLI = join(ROOT, "bin", "cardloop.js");

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "cardloop-ca-cli-"));
}

function serve(args: string[]): Promise<{ child: ChildProcess; url: string; stdout: () => string; stderr: () => string }> {
  const child = spawn(process.execPath, [CLI, "ca", "serve", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  return new Promise((res, rej) => {
    child.stdout!.on("data", (d) => {
      out += d;
      const line = out.split("\n")[0];
      if (out.includes("\n")) res({ child, url: line, stdout: () => out, stderr: () => err });
    });
    child.once("exit", (code) => rej(new Error(`ca serve exited ${code}: ${err}`)));
  });
}

function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((r) => {
    child.once("exit", (code) => r(code));
    child.kill("SIGTERM");
  });
}

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("serve prints its base URL alone on one line, on 127.0.0.1 by default; the clock stays put without --virtual-clock", async (t) => {
  const data = tmp();
  const s = await serve(["--data", data, "--port", "0"]);
  try {
    t.regex(s.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const chain = await fetch(`${s.url}/ca`);
    t.is(chain.status, 200);
    t.regex(await chain.text(), /BEGIN CERTIFICATE/);
    const clock = await fetch(`${s.url}/api/v1/clock`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"advanceMs":1000}' });
    t.is(clock.status, 404);
    t.deepEqual(Object.keys((await clock.json()) as object).sort(), ["error", "message"]);
    // The operator token lives in its 0600 file, and is never printed.
    const token = readFileSync(join(data, "operator.token"), "utf8").trim();
    t.true(token.length >= 20);
    t.false(s.stdout().includes(token) || s.stderr().includes(token));
  } finally {
    t.is(await stop(s.child), 0, "SIGTERM stops it cleanly");
  }
  t.is(s.stdout().trim(), s.url, "nothing else on stdout");
});

test("bad input: one line on stderr and exit 2, never an internal error", async (t) => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, "127.0.0.1", () => r()));
  const port = String((busy.address() as { port: number }).port);
  const file = join(tmp(), "a-file");
  writeFileSync(file, "x");
  const cases: [string[], RegExp][] = [
    [["--data", tmp(), "--port", port], /cannot listen on 127\.0\.0\.1:\d+: address already in use/],
    [["--data", tmp(), "--port", "abc"], /--port must be 0\.\.65535/],
    [["--data", tmp(), "--port", "0", "--key-type", "dsa"], /--key-type must be ec or rsa/],
    [["--data", file, "--port", "0"], /--data .*a-file: not a directory/],
    [["--data", tmp(), "--port", "0", "--public-url", "ftp:/x"], /--public-url must be an http\(s\) URL/],
    [["--port", "0"], /required option '--data <dir>'/],
  ];
  try {
    for (const [args, message] of cases) {
      const r = run("ca", "serve", ...args);
      t.is(r.code, 2, args.join(" "));
      const lines = r.stderr.trim().split("\n");
      t.is(lines.length, 1, r.stderr);
      t.regex(lines[0], message);
      t.notRegex(lines[0], /internal error/);
      t.is(r.stdout, "");
    }
  } finally {
    busy.close();
  }
});
