import test, { type ExecutionContext } from "ava";
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { SystemClock } from "../core/index.js";
import { DecodeError, Validator, readPemOrDer } from "../pki/index.js";
import { PKITS_DIR } from "../pki/testing/pkits.js";
import { batchBase, runLine } from "../cli/validate-batch.js";
import { Files } from "../cli/validate-case.js";
import { tempDir } from "../harness/processes.js";
import { ROOT, fileOwner, runCardloop, runCardloopShell } from "./support/pki-tools.js";
import { AT, NOW, writeInputFixtures, writeValidateFixtures } from "./support/pki-cli-fixtures.js";

/**
 * `cardloop validate` on input that is not what it should be: a leaf whose subject does not decode, a
 * leaf file with a whole chain, a file of the wrong kind, a batch file that is a pipe, a reader that
 * goes away. Each is a verdict or a usage error naming the file, never a crash or a lost line.
 */

const fixtures = fileOwner(test);
const dir = tempDir(fixtures, "pki-cli-input");
const f = (n: string) => join(dir, n);
test.after.always("the fixtures' directory is gone after the last test", async (t) => {
  await fixtures.ended;
  t.false(existsSync(dir), dir);
});
writeValidateFixtures(dir);
writeInputFixtures(dir);

const cli = (t: ExecutionContext, ...args: string[]) => runCardloop(t, ["validate", ...args], { cwd: dir });
const badChain = ["--intermediate", f("in-ca.der"), "--anchor", f("in-root.der"), "--at", AT];
const goodChain = ["--intermediate", f("ca.pem"), "--anchor", f("root.der"), "--at", AT];
const oneLine = (t: ExecutionContext, stderr: string) => t.is(stderr.trim().split("\n").length, 1, stderr);

test("a leaf whose subject does not decode is malformed at position 0 (API), not valid", (t) => {
  const v = new Validator();
  for (const leaf of ["bad-utf8.der", "bad-bmp.pem"]) {
    const r = v.validate(readPemOrDer(readFileSync(f(leaf)))[0], { anchors: [readFileSync(f("in-root.der"))], intermediates: [readFileSync(f("in-ca.der"))], time: NOW });
    t.like(r, { valid: false, code: "malformed", position: 0 }, leaf);
  }
});

test("a leaf whose subject does not decode: exit 1, malformed, as text and as JSON", async (t) => {
  const [utf8, bmp] = await Promise.all([cli(t, f("bad-utf8.der"), ...badChain), cli(t, f("bad-bmp.pem"), ...badChain, "--json")]);
  t.is(utf8.code, 1, utf8.stdout + utf8.stderr);
  t.regex(utf8.stdout, /^invalid: malformed at position 0: UTF8String is not valid UTF-8/);
  t.is(bmp.code, 1, bmp.stdout + bmp.stderr);
  t.like(JSON.parse(bmp.stdout), { valid: false, code: "malformed", position: 0 });
  t.regex(JSON.parse(bmp.stdout).detail, /^odd BMPString \(at offset \d+\)$/);
});

test("--batch: a malformed leaf, a fullchain leaf, files of the wrong kind: each its line's result, and the lines after still run", async (t) => {
  const r = await cli(t, "--batch", f("input.jsonl"));
  t.is(r.code, 2, r.stderr);
  t.is(r.stderr, "");
  const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
  t.deepEqual(
    lines.map((l) => [l.id, l.valid, l.code]),
    [
      ["bad-utf8", false, "malformed"],
      ["bad-bmp", false, "malformed"],
      ["fullchain", false, "input-error"],
      ["crl-as-intermediate", false, "input-error"],
      ["cert-as-crl", false, "input-error"],
      ["next", true, null],
    ],
  );
  t.is(lines[2].detail, `${f("fullchain.pem")}: holds 2 certificates, a leaf file holds one: pass the others with --intermediate ("intermediates" on a --batch line)`);
  t.is(lines[3].detail, `${f("root.crl")}: validity: expected tag 0x30, got 0x17 (at offset 41)`);
  t.true(lines[4].detail.startsWith(`${f("ca.pem")}: `), lines[4].detail);
});

test("a batch line whose result cannot be printed (a DecodeError) is that line's input-error; other errors are not swallowed", (t) => {
  const unprintable = {
    get subject(): never {
      throw new DecodeError("UTF8String is not valid UTF-8", 88);
    },
  };
  const stub = (validate: () => unknown) => ({ certificate: () => ({}), crl: () => ({}), ocspResponse: () => ({}), validate }) as unknown as Validator;
  const line = JSON.stringify({ id: "x", leaf: "good.pem", anchors: ["root.der"], at: AT });
  const clock = new SystemClock();
  const valid = stub(() => ({ valid: true, path: [unprintable], revocations: [], userConstrainedPolicySet: [], authoritiesConstrainedPolicySet: [] }));
  const printed = runLine(valid, new Files(), line, 3, dir, clock);
  t.is(printed.outcome, "input-error");
  t.deepEqual(JSON.parse(printed.json), { id: "x", valid: false, code: "input-error", detail: "UTF8String is not valid UTF-8 (at offset 88)" });
  const thrown = runLine(stub(() => { throw new DecodeError("late", 5); }), new Files(), line, 3, dir, clock);
  t.like(JSON.parse(thrown.json), { id: "x", code: "input-error", detail: "late (at offset 5)" });
  t.throws(() => runLine(stub(() => { throw new TypeError("a bug"); }), new Files(), line, 3, dir, clock), { instanceOf: TypeError });
});

test("a reader that goes away (| head -1): exit 141 like a shell's SIGPIPE, nothing on stderr", async (t) => {
  const r = await runCardloopShell(t, '"$1" "$2" validate --batch big.jsonl | head -1; echo "status=${PIPESTATUS[0]}" >&2', { cwd: dir });
  t.is(r.stderr, "status=141\n");
  t.is(r.stdout.split("\n").length, 2, r.stdout);
  t.like(JSON.parse(r.stdout), { id: 1, valid: true });
});

test("any other failure to write the output (a full device): one stderr line, exit 2, never 1", async (t) => {
  const [single, batch] = await Promise.all([
    runCardloopShell(t, `"$1" "$2" validate good.pem ${goodChain.map((a) => `'${a}'`).join(" ")} > /dev/full`, { cwd: dir }),
    runCardloopShell(t, '"$1" "$2" validate --batch big.jsonl > /dev/full', { cwd: dir }),
  ]);
  for (const r of [single, batch]) {
    t.is(r.code, 2, r.stderr);
    oneLine(t, r.stderr);
    t.regex(r.stderr, /^cardloop: cannot write the output: ENOSPC/);
  }
});

test("--batch /dev/stdin: a pipe's paths are relative to the current directory, a redirected file's to its own", async (t) => {
  const [piped, elsewhere, redirected] = await Promise.all([
    runCardloopShell(t, 'cat ok.jsonl | "$1" "$2" validate --batch /dev/stdin', { cwd: dir }),
    runCardloopShell(t, `cat '${f("ok.jsonl")}' | "$1" "$2" validate --batch /dev/stdin`, { cwd: ROOT }),
    runCardloopShell(t, `"$1" "$2" validate --batch /dev/stdin < '${f("ok.jsonl")}'`, { cwd: ROOT }),
  ]);
  t.is(piped.code, 0, piped.stdout + piped.stderr);
  t.like(JSON.parse(piped.stdout), { id: "a", valid: true });
  // From another directory the same relative paths name files that are not there: the current directory is the base.
  t.is(elsewhere.code, 2, elsewhere.stdout + elsewhere.stderr);
  t.like(JSON.parse(elsewhere.stdout), { id: "a", code: "input-error" });
  t.true(JSON.parse(elsewhere.stdout).detail.startsWith(`cannot read ${join(ROOT, "good.pem")}: ENOENT`));
  t.is(redirected.code, 0, redirected.stdout + redirected.stderr);
  t.like(JSON.parse(redirected.stdout), { id: "a", valid: true });
  const help = await cli(t, "--help");
  t.regex(help.stdout.replace(/\s+/g, " "), /to the current directory when FILE is a pipe/);
});

test("batchBase: a file's directory; a pipe's, the current directory", (t) => {
  t.is(batchBase("cases/a.jsonl", true, "/work"), "/work/cases");
  t.is(batchBase("/x/y/a.jsonl", true, "/work"), "/x/y");
  t.is(batchBase("/dev/stdin", false, "/work"), "/work");
  t.is(batchBase("/dev/fd/9", false, "/work"), "/work");
  // a regular file named through /dev or /proc: its real directory, or the current one when it has none
  t.is(batchBase(f("ok.jsonl").replace(/^/, "/proc/self/root"), true, "/work"), dir);
  t.is(batchBase("/dev/no-such-descriptor", true, "/work"), "/work");
});

test("a leaf file with several certificates, or --batch '': a usage error (exit 2, one line) naming what to do", async (t) => {
  const [fullchain, emptyBatch] = await Promise.all([cli(t, f("fullchain.pem"), "--anchor", f("root.der"), "--at", AT), cli(t, "--batch", "")]);
  for (const r of [fullchain, emptyBatch]) {
    t.is(r.code, 2, r.stdout + r.stderr);
    t.is(r.stdout, "");
    oneLine(t, r.stderr);
  }
  t.is(fullchain.stderr, `cardloop: ${f("fullchain.pem")}: holds 2 certificates, a leaf file holds one: pass the others with --intermediate ("intermediates" on a --batch line)\n`);
  t.is(emptyBatch.stderr, "cardloop: validate: --batch needs a file name (an empty one was given)\n");
});

test("a file that does not decode as what its option says is named in the error, whichever option gave it", async (t) => {
  const rs = await Promise.all([
    cli(t, f("good.pem"), "--intermediate", f("root.crl"), "--anchor", f("root.der"), "--at", AT),
    cli(t, f("good.pem"), "--intermediate", f("ca.pem"), "--anchor", f("root.crl"), "--at", AT),
    cli(t, f("good.pem"), ...goodChain, "--crl", f("root.der")),
    cli(t, f("good.pem"), ...goodChain, "--ocsp-response", f("root.der")),
    cli(t, f("root.crl"), ...goodChain),
  ]);
  const named = ["root.crl", "root.crl", "root.der", "root.der", "root.crl"];
  rs.forEach((r, i) => {
    t.is(r.code, 2, r.stdout + r.stderr);
    t.is(r.stdout, "");
    oneLine(t, r.stderr);
    t.true(r.stderr.startsWith(`cardloop: ${f(named[i])}: `), r.stderr);
  });
  // One object of several: which one.
  const two = await cli(t, f("good.pem"), "--intermediate", f("crl-then-ca.pem"), "--anchor", f("root.der"), "--at", AT);
  t.is(two.code, 2, two.stdout + two.stderr);
  t.is(two.stderr, `cardloop: ${f("crl-then-ca.pem")} (object 1 of 2): validity: expected tag 0x30, got 0x17 (at offset 41)\n`);
});

test("the PKITS vectors load from a clone whose path has a space and non-ASCII characters", async (t) => {
  const clone = join(tempDir(t, "pkits-path"), "a clone ü");
  mkdirSync(join(clone, "pki", "testing"), { recursive: true });
  mkdirSync(join(clone, "pki", "testdata", "pkits", "certs"), { recursive: true });
  copyFileSync(join(ROOT, "pki", "testing", "pkits.ts"), join(clone, "pki", "testing", "pkits.ts"));
  copyFileSync(join(ROOT, "pki", "oids.ts"), join(clone, "pki", "oids.ts")); // pkits.ts names anyPolicy by OID.anyPolicy
  copyFileSync(join(PKITS_DIR, "pkits.json"), join(clone, "pki", "testdata", "pkits", "pkits.json"));
  const anchor = "TrustAnchorRootCertificate";
  copyFileSync(join(PKITS_DIR, "certs", `${anchor}.crt`), join(clone, "pki", "testdata", "pkits", "certs", `${anchor}.crt`));
  const copy = (await import(pathToFileURL(join(clone, "pki", "testing", "pkits.ts")).href)) as typeof import("../pki/testing/pkits.js");
  t.is(copy.PKITS_DIR, join(clone, "pki", "testdata", "pkits") + "/");
  t.is(copy.pkits.cases.length, 249);
  t.deepEqual(copy.certDer(anchor), new Uint8Array(readFileSync(join(PKITS_DIR, "certs", `${anchor}.crt`))));
});
