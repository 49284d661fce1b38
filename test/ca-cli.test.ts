import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { EmbeddedCa, DataDirLockedError } from "../simulator/ca/index.js";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import test, { type ExecutionContext } from "ava";
import { makeCsr } from "../simulator/ca/testing.js";

/** `cardloop ca serve` as a user meets it: what it prints, where it listens, how it refuses bad input. */
const ROOT = resolve(import.meta.dirname, "..");
const CLI = join(ROOT, "bin", "cardloop.js");

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "cardloop-ca-cli-"));
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals = "SIGKILL"): void {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** Starts `ca serve` in its own process group, owned by test `t`: the group is killed when the test ends, pass or fail. */
function serve(t: ExecutionContext, args: string[]): Promise<{ child: ChildProcess; url: string; stdout: () => string; stderr: () => string }> {
  const child = spawn(process.execPath, [CLI, "ca", "serve", ...args], { stdio: ["ignore", "pipe", "pipe"], detached: true });
  t.teardown(() => killGroup(child));
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

/** The tokens a data directory's first start wrote for the administrator. */
function tokens(dir: string): { operator: string; ra: string } {
  const read = (name: string) => readFileSync(join(dir, name), "utf8").trim();
  return { operator: read("operator.token"), ra: read("ra.token") };
}

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("serve prints its base URL alone on one line, on 127.0.0.1 by default; the clock stays put without --virtual-clock", async (t) => {
  const data = tmp();
  const s = await serve(t, ["--data", data, "--port", "0"]);
  try {
    t.regex(s.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const chain = await fetch(`${s.url}/ca`);
    t.is(chain.status, 200);
    t.regex(await chain.text(), /BEGIN CERTIFICATE/);
    const clock = await fetch(`${s.url}/api/v1/clock`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"advanceMs":1000}' });
    t.is(clock.status, 404);
    t.deepEqual(Object.keys((await clock.json()) as object).sort(), ["error", "message"]);
    // The tokens live in their 0600 files, and are never printed.
    const { operator, ra } = tokens(data);
    t.true(operator.length >= 40 && ra.length >= 40);
    t.false(s.stdout().includes(operator) || s.stderr().includes(operator) || s.stdout().includes(ra) || s.stderr().includes(ra));
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
    // procfs refuses a new directory with ENOENT, on which node's recursive mkdir used to spin for ever
    [["--data", "/proc/cardloop-no-such/ca", "--port", "0"], /cannot create directory \/proc\/cardloop-no-such\/ca: ENOENT/],
    [["--data", tmp(), "--port", "0", "--public-url", "ftp:/x"], /--public-url must be an http\(s\) URL/],
    [["--port", "0"], /required option '--data <dir>'/],
    [["--data", tmp(), "--port", "0", "--max-failed-attempts", "0"], /--max-failed-attempts must be a whole number from 1 \(got 0\)/],
    [["--data", tmp(), "--port", "0", "--max-failed-attempts", "2.5"], /--max-failed-attempts must be a whole number from 1/],
    [["--data", tmp(), "--port", "0", "--renewal", "constructor"], /--renewal must be supersede or keep \(got constructor\)/],
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

/**
 * What a served CA does with a wrong code twice and then the right one, and
 * with an operator's renewal: the flags under test change exactly these.
 */
async function exercise(url: string, dir: string): Promise<{ thirdAttempt: number; oldAfterRenewal: string }> {
  const { operator, ra } = tokens(dir);
  const post = async (path: string, body: unknown, bearer?: string) => {
    const headers: Record<string, string> = { "content-type": "application/json", ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) };
    const res = await fetch(url + path, { method: "POST", headers, body: JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as Record<string, any> };
  };
  const holder = { id: "CLI-1", name: "Cleo", email: "cleo@example.org" };
  const csr = (await makeCsr()).pem;
  const a = await post("/api/v1/certificates", { csr, profile: "authentication", holder }, ra);
  const b = await post("/api/v1/certificates", { csr, profile: "signature", holder }, ra);
  const revoke = (code: string) => post(`/api/v1/certificates/${a.json.serial}/revoke`, { reason: "keyCompromise", role: "holder", code, email: holder.email, name: holder.name });
  for (let i = 0; i < 2; i++) if ((await revoke("AAAA-BBBB-CCCC-DDDD")).status !== 403) throw new Error("a wrong code was not refused");
  const third = await revoke(a.json.cancellationCodes.holder);
  const renewed = await post(`/api/v1/certificates/${b.json.serial}/renew`, { csr }, operator);
  if (renewed.status !== 201) throw new Error(`operator renewal answered ${renewed.status}`);
  const old = (await (await fetch(`${url}/api/v1/certificates/${b.json.serial}`)).json()) as { status: string; reason?: string };
  return { thirdAttempt: third.status, oldAfterRenewal: old.reason ? `${old.status} ${old.reason}` : old.status };
}

test("--max-failed-attempts and --renewal change what the served CA does (defaults: 5, supersede)", async (t) => {
  const [dataA, dataB] = [tmp(), tmp()];
  const [flagged, plain] = await Promise.all([
    serve(t, ["--data", dataA, "--port", "0", "--max-failed-attempts", "2", "--renewal", "keep"]),
    serve(t, ["--data", dataB, "--port", "0"]),
  ]);
  try {
    const [a, b] = await Promise.all([exercise(flagged.url, dataA), exercise(plain.url, dataB)]);
    t.deepEqual(a, { thirdAttempt: 429, oldAfterRenewal: "good" }, "this source waits after 2 wrong codes; the renewed certificate kept");
    t.deepEqual(b, { thirdAttempt: 200, oldAfterRenewal: "revoked superseded" }, "2 wrong codes do not lock at 5; renewal supersedes");
  } finally {
    await Promise.all([stop(flagged.child), stop(plain.child)]);
  }
});

test("--renewal supersede is the default spelled out", async (t) => {
  const data = tmp();
  const s = await serve(t, ["--data", data, "--port", "0", "--renewal", "supersede", "--max-failed-attempts", "5"]);
  try {
    t.deepEqual(await exercise(s.url, data), { thirdAttempt: 200, oldAfterRenewal: "revoked superseded" });
  } finally {
    await stop(s.child);
  }
});

test("one writer per data directory: a second ca serve exits 2 naming the first's pid; so does an in-process open", async (t) => {
  const data = tmp();
  const first = await serve(t, ["--data", data, "--port", "0"]);
  const second = run("ca", "serve", "--data", data, "--port", "0");
  t.is(second.code, 2, second.stderr);
  const lines = second.stderr.trim().split("\n");
  t.is(lines.length, 1, second.stderr);
  t.regex(lines[0], new RegExp(`in use by process ${first.child.pid}\\b`));
  t.notRegex(lines[0], /internal error/);
  t.is(second.stdout, "");
  const inProcess = await t.throwsAsync(EmbeddedCa.open({ dataDir: data, kdfLog2N: 4 }), { instanceOf: DataDirLockedError });
  t.is(inProcess?.holderPid, first.child.pid);
  // The first server is unharmed and still answers.
  t.is((await fetch(`${first.url}/ca`)).status, 200);
  t.is(await stop(first.child), 0);
  // Released on a clean stop: the directory serves again.
  const again = await serve(t, ["--data", data, "--port", "0"]);
  t.is((await fetch(`${again.url}/ca`)).status, 200);
  t.is(await stop(again.child), 0);
});

test("a server killed with SIGKILL leaves no lock behind: the next one starts", async (t) => {
  const data = tmp();
  const first = await serve(t, ["--data", data, "--port", "0"]);
  const gone = new Promise((r) => first.child.once("exit", r));
  killGroup(first.child, "SIGKILL");
  await gone;
  const next = await serve(t, ["--data", data, "--port", "0"]);
  t.is((await fetch(`${next.url}/ca`)).status, 200);
  t.is(await stop(next.child), 0);
});

test("--policy FILE sets the served CA's rules; the flags still override it; a bad file is one line and exit 2", async (t) => {
  const dir = tmp();
  const policyFile = join(dir, "short.yaml");
  const base = readFileSync(join(ROOT, "policies", "default.yaml"), "utf8");
  writeFileSync(
    policyFile,
    base.replace("lifetime: 3y", "lifetime: 1y").replace("renewal: revoke-superseded", "renewal: keep-until-expiry").replace("maxFailedAttempts: 5", "maxFailedAttempts: 2"),
  );
  const [data, overridden] = [join(dir, "ca"), join(dir, "ca2")];
  const [s, o] = await Promise.all([
    serve(t, ["--data", data, "--port", "0", "--policy", policyFile]),
    serve(t, ["--data", overridden, "--port", "0", "--policy", policyFile, "--max-failed-attempts", "5", "--renewal", "supersede"]),
  ]);
  try {
    t.deepEqual(await exercise(s.url, data), { thirdAttempt: 429, oldAfterRenewal: "good" }, "the policy's lockout (2) and renewal (keep)");
    t.deepEqual(await exercise(o.url, overridden), { thirdAttempt: 200, oldAfterRenewal: "revoked superseded" }, "the flags win");
    const csr = (await makeCsr()).pem;
    const res = await fetch(`${s.url}/api/v1/certificates`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${tokens(data).ra}` },
      body: JSON.stringify({ csr, profile: "signature", holder: { id: "P-1", name: "Pat", email: "pat@example.org" } }),
    });
    const j = (await res.json()) as { notBefore: string; notAfter: string };
    const years = (Date.parse(j.notAfter) - Date.parse(j.notBefore)) / (365.25 * 86_400_000);
    t.true(years > 0.99 && years < 1.01, `one year (got ${years})`);
  } finally {
    await Promise.all([stop(s.child), stop(o.child)]);
  }
  const bad = join(dir, "bad.yaml");
  writeFileSync(bad, base.replace("lifetime: 3y", "lifetime: forever"));
  for (const [file, message] of [
    [bad, /bad\.yaml:\d+:\d+: .*lifetime/],
    [join(dir, "missing.yaml"), /missing\.yaml.*cannot read/],
  ] as const) {
    const r = run("ca", "serve", "--data", join(dir, "ca3"), "--port", "0", "--policy", file);
    t.is(r.code, 2, r.stderr);
    t.is(r.stderr.trim().split("\n").length, 1, r.stderr);
    t.regex(r.stderr, message);
    t.is(r.stdout, "");
  }
});

test("ca token rotates a role's token: printed once on stdout, the old one stops working; refused while ca serve holds the directory", async (t) => {
  const data = tmp();
  const first = await serve(t, ["--data", data, "--port", "0"]);
  const old = tokens(data);
  const busy = run("ca", "token", "--data", data, "--role", "ra");
  t.is(busy.code, 2, busy.stderr);
  t.is(busy.stderr.trim().split("\n").length, 1, busy.stderr);
  t.regex(busy.stderr, new RegExp(`in use by process ${first.child.pid}\\b.*stop it before rotating a token`));
  t.is(busy.stdout, "");
  t.is(await stop(first.child), 0);

  const rotated = run("ca", "token", "--data", data, "--role", "ra");
  t.is(rotated.code, 0, rotated.stderr);
  const ra = rotated.stdout.trim();
  t.regex(ra, /^[A-Za-z0-9_-]{43}$/, "one line: the new token, 256 bits base64url");
  t.is(rotated.stderr, "");
  t.false(existsSync(join(data, "ra.token")), "the file with the old token is gone");

  const s = await serve(t, ["--data", data, "--port", "0"]);
  try {
    t.false(s.stdout().includes(ra) || s.stderr().includes(ra));
    const issue = (token: string) =>
      fetch(`${s.url}/api/v1/certificates`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ csr: "-", profile: "signature", holder: { id: "T-1", name: "Tom", email: "tom@example.org" } }),
      }).then((r) => r.status);
    t.is(await issue(old.ra), 401, "the old RA token no longer works");
    t.is(await issue(ra), 400, "the new one does (the request itself is then judged: a bad CSR)");
    t.is(await issue(old.operator), 403, "the operator's is untouched, and not the RA's");
  } finally {
    await stop(s.child);
  }
  for (const [args, message] of [
    [["--data", data, "--role", "root"], /--role must be operator or ra \(got root\)/],
    [["--data", join(data, "nope"), "--role", "ra"], /not a directory/],
    [["--data", tmp(), "--role", "ra"], /there is no CA in/],
    [["--role", "ra"], /required option '--data <dir>'/],
  ] as const) {
    const r = run("ca", "token", ...args);
    t.is(r.code, 2, r.stderr);
    t.is(r.stderr.trim().split("\n").length, 1, r.stderr);
    t.regex(r.stderr, message);
    t.is(r.stdout, "");
  }
});
