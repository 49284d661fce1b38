import test from "ava";
import { execFile, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { EmbeddedCa, startCaServer } from "../simulator/ca/index.js";
import { readRunLog } from "../core/index.js";
import { buildCertifyReport } from "../reports/certify-model.js";
import { certifyJUnit, certifyMarkdown } from "../reports/certify-writers.js";
import { freeLoopbackPort } from "../conformance/adapters/process.js";
import { CATALOG } from "../conformance/checks/index.js";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..");

async function cardloop(args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [join(root, "bin/cardloop.js"), ...args], { cwd: root, timeout: 90_000, env: env ?? process.env });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const tmp = () => mkdtempSync(join(tmpdir(), "cardloop-certify-"));

/** The JUnit as CI tools read it (test-results-parser: what testbeats and others build on). */
async function parseJUnit(file: string): Promise<{ status: string; total: number; passed: number; failed: number; errors: number; skipped: number }> {
  const { parse } = await import("test-results-parser");
  return parse({ type: "junit", files: [file] }) as unknown as { status: string; total: number; passed: number; failed: number; errors: number; skipped: number };
}

test("a user's adapter module (the ADAPTERS.md example) certifies a served CA: exit 0, four reports from the run log", async (t) => {
  const ca = await EmbeddedCa.open({ kdfLog2N: 10 });
  const server = await startCaServer(ca, { host: "127.0.0.1", port: 0 });
  t.teardown(async () => {
    await server.close();
    await ca.close();
  });
  const dir = tmp();
  writeFileSync(join(dir, "my-ca.yaml"), `url: ${server.url}\nhold: false\nraToken: ${ca.raToken}\noperatorToken: ${ca.operatorToken}\n`);
  const only = "ISS-VALIDITY-MAX,ISS-WEAK-KEY,REV-DUPLICATE,REV-HOLD-RELEASE,CRL-SIGNATURE,OCSP-GET,OCSP-GOOD";
  const r = await cardloop(["certify", "--ca", "module:conformance/examples/my-adapter.ts", "--ca-config", join(dir, "my-ca.yaml"), "--only", only, "--out", join(dir, "out"), "--json"]);
  t.is(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout);
  t.is(json.verdict, "pass");
  // rows come failures first; `index` keeps the run order
  t.deepEqual([...json.checks].sort((a: { index: number }, b: { index: number }) => a.index - b.index).map((c: { id: string }) => c.id), only.split(","));
  // hold: false in the config: skipped with the reason, not passed
  const hold = json.checks.find((c: { id: string }) => c.id === "REV-HOLD-RELEASE");
  t.is(hold.outcome, "skip");
  t.is(hold.message, "the CA does not offer hold");

  // every report is a function of the run log alone
  const events = readRunLog(join(dir, "out", "run.jsonl"));
  t.true(events.some((e) => e.type === "check.started"));
  const report = buildCertifyReport(events);
  t.is(readFileSync(join(dir, "out", "junit.xml"), "utf8"), certifyJUnit(report));
  t.is(readFileSync(join(dir, "out", "certify.md"), "utf8"), certifyMarkdown(report));
  t.deepEqual(JSON.parse(readFileSync(join(dir, "out", "certify.json"), "utf8")), json);
  t.regex(readFileSync(join(dir, "out", "certify.html"), "utf8"), /<code>OCSP-GET<\/code>/);
  // the JUnit file is what CI tools read: check it against the schema the reports helper keeps
  const lint = spawnSync("xmllint", ["--noout", "--schema", join(root, "reports/junit.xsd"), join(dir, "out", "junit.xml")], { encoding: "utf8" });
  t.is(lint.status, 0, lint.stderr);
});

test("OpenSSL: a failed MUST exits 1 and the reports say what it gets wrong", async (t) => {
  const dir = tmp();
  const r = await cardloop(["certify", "--ca", "openssl", "--only", "ISS-VALIDITY-MAX,ISS-WEAK-KEY,OCSP-UNKNOWN", "--out", dir]);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stdout, /^FAIL {7}MUST {3}ISS-WEAK-KEY +the CA issued a certificate for an RSA-1024 key$/m);
  t.regex(r.stdout, /^openssl: FAIL \(exit status 1\)$/m);
  t.regex(r.stdout, /^3 checks: 1 defect, 0 warnings, 0 not judged, 2 pass, 0 skipped$/m);
  const md = readFileSync(join(dir, "certify.md"), "utf8");
  t.regex(md, /## What this CA gets wrong\n\n- \*\*ISS-WEAK-KEY\*\* \(MUST, lifecycle policy/);
  const junit = readFileSync(join(dir, "junit.xml"), "utf8");
  t.regex(junit, /<testcase name="ISS-WEAK-KEY: [^"]*" classname="cardloop-certify-ISS" time="[0-9.]+">\s*<failure message="the CA issued a certificate for an RSA-1024 key" type="MUST">/);
  t.is((junit.match(/<testcase /g) ?? []).length, 3);
});

test("--list prints the catalogue: stable IDs, levels, sources", async (t) => {
  const r = await cardloop(["certify", "--list", "--json"]);
  t.is(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as Array<{ id: string; level: string; source: string }>;
  t.deepEqual(rows.map((x) => x.id), CATALOG.map((c) => c.id));
  t.true(rows.every((x) => (x.level === "MUST" || x.level === "SHOULD") && x.source.length > 0));
  t.is(new Set(rows.map((x) => x.id)).size, rows.length);
});

test("a CA that cannot be reached exits 2 with one line; bad usage exits 2", async (t) => {
  const port = await freeLoopbackPort();
  const dir = tmp();
  const r = await cardloop(["certify", "--ca", `http://127.0.0.1:${port}`, "--out", dir]);
  t.is(r.code, 2);
  t.is(r.stderr.trim().split("\n").length, 1);
  t.regex(r.stderr, /^cardloop: CA http:\/\/127\.0\.0\.1:\d+ could not be started or reached: /);
  t.false(existsSync(join(dir, "junit.xml")));

  const unknown = await cardloop(["certify", "--ca", "embedded", "--only", "NOPE-1", "--out", dir]);
  t.is(unknown.code, 2);
  t.is(unknown.stderr, "cardloop: unknown check ID: NOPE-1\n");

  const badModule = await cardloop(["certify", "--ca", "module:/nonexistent/adapter.ts", "--out", dir]);
  t.is(badModule.code, 2);
  t.regex(badModule.stderr, /^cardloop: cannot load adapter module \/nonexistent\/adapter.ts/);

  const noCa = await cardloop(["certify", "--out", dir]);
  t.is(noCa.code, 2);
  t.regex(noCa.stderr, /^cardloop: --ca is required/);

  const badConfig = join(dir, "bad.yaml");
  writeFileSync(badConfig, "- just\n- a list\n");
  const r2 = await cardloop(["certify", "--ca", "openssl", "--ca-config", badConfig, "--out", dir]);
  t.is(r2.code, 2);
  t.regex(r2.stderr, /must be a YAML mapping/);
});

test("a CA whose credentials certify lacks: said at once with the fix, exit 3 (not 1), and the JUnit agrees under test-results-parser; --allow-incomplete exits 0", async (t) => {
  const ca = await EmbeddedCa.open({ kdfLog2N: 10 });
  const server = await startCaServer(ca, { host: "127.0.0.1", port: 0 });
  t.teardown(async () => {
    await server.close();
    await ca.close();
  });
  const dir = tmp();
  // No credential at all: the CA issues only to its station, so no check can be judged.
  const none = await cardloop(["certify", "--ca", server.url, "--only", "ISS-VALIDITY-MAX,OCSP-GOOD", "--out", join(dir, "none")]);
  t.is(none.code, 3, none.stdout + none.stderr);
  t.regex(none.stderr, /^cardloop: CA http:\/\/127\.0\.0\.1:\d+ asks for the issuing station's \(RA\) token, which certify does not hold: every check cannot be judged; give raToken in --ca-config$/m);
  t.notRegex(none.stdout, /What this CA gets wrong/);
  const noneJunit = await parseJUnit(join(dir, "none", "junit.xml"));
  t.is(noneJunit.status, "FAIL", "exit 3: CI viewers show the run as not green");
  t.is(noneJunit.failed + noneJunit.errors, 2);
  const noneReport = JSON.parse(readFileSync(join(dir, "none", "certify.json"), "utf8"));
  t.is(noneReport.verdict, "incomplete");
  t.true(noneReport.checks.every((c: { outcome: string; cause: string; fix: string }) => c.outcome === "error" && c.cause === "credential" && /give raToken in --ca-config/.test(c.fix)));

  // The RA's token but not the operator's: the checks that need the operator are not judged, the rest are.
  writeFileSync(join(dir, "ra.yaml"), `raToken: ${ca.raToken}\n`);
  const only = "ISS-VALIDITY-MAX,REV-HOLD-RELEASE,OCSP-GOOD";
  const ra = await cardloop(["certify", "--ca", server.url, "--ca-config", join(dir, "ra.yaml"), "--only", only, "--out", join(dir, "ra"), "--json"]);
  t.is(ra.code, 3, ra.stderr);
  t.regex(ra.stderr, /asks for the operator's token, which certify does not hold: 1 checks \(REV-HOLD-RELEASE\) cannot be judged; give operatorToken in --ca-config/);
  const report = JSON.parse(ra.stdout);
  const outcome = Object.fromEntries(report.checks.map((c: { id: string; outcome: string }) => [c.id, c.outcome]));
  t.deepEqual(outcome, { "ISS-VALIDITY-MAX": "pass", "REV-HOLD-RELEASE": "error", "OCSP-GOOD": "pass" });
  const hold = report.checks.find((c: { id: string }) => c.id === "REV-HOLD-RELEASE");
  t.is(hold.cause, "credential");
  t.is(hold.fix, "give operatorToken in --ca-config");
  const md = readFileSync(join(dir, "ra", "certify.md"), "utf8");
  t.notRegex(md, /## What this CA gets wrong/, "a credential certify lacks is never a CA defect");
  t.regex(md, /REV-HOLD-RELEASE[^\n]*give operatorToken in --ca-config/);
  const raJunit = await parseJUnit(join(dir, "ra", "junit.xml"));
  t.is(raJunit.status, "FAIL");
  t.is(raJunit.passed, 2);

  // Allowed: the same run exits 0 and the JUnit shows no failure, the gap still in the reports.
  const allowed = await cardloop(["certify", "--ca", server.url, "--ca-config", join(dir, "ra.yaml"), "--only", only, "--out", join(dir, "allowed"), "--allow-incomplete"]);
  t.is(allowed.code, 0, allowed.stderr);
  const allowedJunit = await parseJUnit(join(dir, "allowed", "junit.xml"));
  t.is(allowedJunit.status, "PASS");
  t.regex(readFileSync(join(dir, "allowed", "junit.xml"), "utf8"), /<skipped message="not judged[^"]*give operatorToken in --ca-config/);
  const lint = spawnSync("xmllint", ["--noout", "--schema", join(root, "reports/junit.xsd"), join(dir, "ra", "junit.xml")], { encoding: "utf8" });
  t.is(lint.status, 0, lint.stderr);
});

test("a CA that cannot be started exits 2 with one line, writes no report and leaves no temporary files", async (t) => {
  // cardloop runs from process.execPath, so PATH only decides which CA tools it finds
  const empty = tmp();
  for (const ca of ["openssl", "cfssl"]) {
    const dir = tmp();
    const r = await cardloop(["certify", "--ca", ca, "--out", dir], { ...process.env, PATH: empty, TMPDIR: dir });
    t.is(r.code, 2, ca);
    t.is(r.stderr.trim().split("\n").length, 1, r.stderr);
    t.regex(r.stderr, new RegExp(`^cardloop: CA ${ca} could not be started or reached: `));
    t.regex(r.stderr, ca === "openssl" ? /OpenSSL 3 is required \(found: no openssl on PATH\)$/m : /cfssl is not installed/);
    // tsx keeps its cache under TMPDIR too: only the CA's own directories count
    t.deepEqual(readdirSync(dir).filter((f) => !f.startsWith("tsx-")), [], `${ca}: no report, no CA directory left behind`);
  }

  // installed, but its server will not start: a cfssl whose `serve` fails the way a taken port does
  const bin = tmp();
  const real = spawnSync("sh", ["-c", "command -v cfssl"], { encoding: "utf8" }).stdout.trim();
  t.truthy(real, "cfssl is installed");
  writeFileSync(
    join(bin, "cfssl"),
    `#!/bin/sh\nif [ "$1" = serve ]; then echo "listen tcp 127.0.0.1: bind: address already in use" >&2; exit 1; fi\nexec '${real}' "$@"\n`,
    { mode: 0o755 },
  );
  const dir = tmp();
  const scratch = join(dir, "tmp");
  mkdirSync(scratch);
  const r = await cardloop(["certify", "--ca", "cfssl", "--out", join(dir, "out")], { ...process.env, PATH: `${bin}:${process.env.PATH}`, TMPDIR: scratch });
  t.is(r.code, 2);
  t.is(r.stderr.trim().split("\n").length, 1, r.stderr);
  t.regex(r.stderr, /^cardloop: CA cfssl could not be started or reached: cfssl serve exited 1 before it was ready: .*address already in use$/m);
  t.false(existsSync(join(dir, "out", "junit.xml")));
  t.deepEqual(readdirSync(scratch).filter((f) => !f.startsWith("tsx-")), [], "the adapter removed its directory");
});

test("--ca-config: a misspelt key exits 2 with one line naming it; honourCardExpiry: false is a real misconfigured OpenSSL", async (t) => {
  const dir = tmp();
  writeFileSync(join(dir, "typo.yaml"), "honourCardExpiry: false\ncrl:\n  regenerat: never\n");
  const typo = await cardloop(["certify", "--ca", "openssl", "--ca-config", join(dir, "typo.yaml"), "--out", join(dir, "typo")]);
  t.is(typo.code, 2);
  t.regex(typo.stderr, /^cardloop: --ca-config: unknown key crl\.regenerat for --ca openssl \(known under crl: [^\n]*\)\n$/);
  t.false(existsSync(join(dir, "typo", "junit.xml")));

  // the same OpenSSL with and without the card-expiry cap: only the cap decides the verdict
  const only = "ISS-VALIDITY-CARD-EXPIRY,ISS-VALIDITY-MAX";
  const judged = async (honour: boolean) => {
    const f = join(dir, `honour-${honour}.yaml`);
    writeFileSync(f, `honourCardExpiry: ${honour}\n`);
    const r = await cardloop(["certify", "--ca", "openssl", "--ca-config", f, "--only", only, "--json", "--out", join(dir, `out-${honour}`)]);
    return { code: r.code, stderr: r.stderr, outcome: Object.fromEntries(JSON.parse(r.stdout).checks.map((c: { id: string; outcome: string }) => [c.id, c.outcome])) };
  };
  const [off, on] = await Promise.all([judged(false), judged(true)]);
  t.is(off.code, 1, off.stderr);
  t.deepEqual(off.outcome, { "ISS-VALIDITY-CARD-EXPIRY": "fail", "ISS-VALIDITY-MAX": "pass" });
  t.is(on.code, 0, on.stderr);
  t.deepEqual(on.outcome, { "ISS-VALIDITY-CARD-EXPIRY": "pass", "ISS-VALIDITY-MAX": "pass" });
});

test("--policy: the checks judge by the policy file (lifetime cap, renewal rule, lockout count); a bad policy exits 2 with one located line", async (t) => {
  const dir = tmp();
  const only = "ISS-VALIDITY-MAX,REN-OLD-SUPERSEDED,REV-AUTH-LOCKOUT";
  const certify = async (policy: string, out: string, extra: string[] = []) => {
    const r = await cardloop(["certify", "--ca", "embedded", "--policy", policy, "--only", only, "--json", "--out", join(dir, out), ...extra]);
    const checks = r.stdout ? (JSON.parse(r.stdout).checks as { id: string; outcome: string; message: string }[]) : [];
    return { ...r, outcome: Object.fromEntries(checks.map((c) => [c.id, c.outcome])), message: Object.fromEntries(checks.map((c) => [c.id, c.message])) };
  };
  // the embedded CA runs the policy it is certified against, unless --ca-config pins its rules:
  // here to the default's (3 years, superseded at renewal, locked after 5 wrong codes)
  const shipped = readFileSync(join(root, "policies/default.yaml"), "utf8");
  writeFileSync(
    join(dir, "stricter.yaml"),
    shipped.replace("lifetime: 3y", "lifetime: 2y").replace("renewal: revoke-superseded", "renewal: keep-until-expiry").replace("maxFailedAttempts: 5", "maxFailedAttempts: 3"),
  );
  writeFileSync(join(dir, "default-rules.yaml"), "maxValidityYears: 3\nmaxFailedAttempts: 5\nrenewal: revoke-superseded\n");
  const [byDefault, stricter, following] = await Promise.all([
    certify("default", "default"),
    certify(join(dir, "stricter.yaml"), "stricter", ["--ca-config", join(dir, "default-rules.yaml")]),
    certify(join(dir, "stricter.yaml"), "following"),
  ]);
  t.is(following.code, 0, following.stderr);
  t.deepEqual(following.outcome, { "ISS-VALIDITY-MAX": "pass", "REN-OLD-SUPERSEDED": "pass", "REV-AUTH-LOCKOUT": "pass" });
  t.is(following.message["REV-AUTH-LOCKOUT"], "stopped after 3 wrong codes (refused with 429), not before");
  t.is(byDefault.code, 0, byDefault.stderr);
  t.deepEqual(byDefault.outcome, { "ISS-VALIDITY-MAX": "pass", "REN-OLD-SUPERSEDED": "pass", "REV-AUTH-LOCKOUT": "pass" });
  t.is(byDefault.message["REV-AUTH-LOCKOUT"], "stopped after 5 wrong codes (refused with 429), not before");
  t.is(stricter.code, 1, stricter.stderr);
  t.deepEqual(stricter.outcome, { "ISS-VALIDITY-MAX": "fail", "REN-OLD-SUPERSEDED": "fail", "REV-AUTH-LOCKOUT": "fail" });
  t.regex(stricter.message["ISS-VALIDITY-MAX"], /^validity longer than 2 years/);
  t.regex(stricter.message["REV-AUTH-LOCKOUT"], /^the next code after 3 wrong ones was still looked at \(the right one revoked\): no limit on guessing/);
  // the run log says which rules judged, and never the policy's PIN or PUK
  const started = readRunLog(join(dir, "stricter", "run.jsonl")).find((e) => e.type === "run.started")!;
  t.like((started.data as { meta?: Record<string, unknown> }).meta?.policy, { lifetimeYears: 2, maxFailedAttempts: 3, renewal: "keep-until-expiry" });
  const log = readFileSync(join(dir, "stricter", "run.jsonl"), "utf8");
  t.false(log.includes("12345678"));
  t.false(log.includes('"transportPin"'));

  writeFileSync(join(dir, "bad.yaml"), shipped.replace("maxFailedAttempts: 5", "maxFailedAttempts: 0"));
  const bad = await certify(join(dir, "bad.yaml"), "bad");
  t.is(bad.code, 2);
  t.regex(bad.stderr, /^cardloop: \S+bad\.yaml:\d+:\d+: revocation\.maxFailedAttempts: expected an integer >= 1, got 0\n$/);
  t.false(existsSync(join(dir, "bad", "junit.xml")));
  const unknown = await certify("strict", "unknown");
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /^cardloop: no shipped policy named "strict"/);
});

test("a password in the --ca URL reaches no report, log or message; the reproduction command carries every judging option", async (t) => {
  const ca = await EmbeddedCa.open({ kdfLog2N: 10 });
  const server = await startCaServer(ca, { host: "127.0.0.1", port: 0 });
  t.teardown(async () => {
    await server.close();
    await ca.close();
  });
  const dir = tmp();
  writeFileSync(join(dir, "tokens.yaml"), `raToken: ${ca.raToken}\noperatorToken: ${ca.operatorToken}\n`);
  const secretUrl = server.url.replace("http://", "http://certify:PASSWORD-not-for-reports-42@");
  const r = await cardloop([
    "certify", "--ca", secretUrl, "--ca-config", join(dir, "tokens.yaml"), "--only", "OCSP-GOOD,PROP-OCSP",
    "--threshold", "4s", "--samples", "2", "--percentile", "50", "--strict", "--out", join(dir, "out"),
  ]);
  t.is(r.code, 0, r.stderr);
  const said = [r.stdout, r.stderr, ...readdirSync(join(dir, "out")).map((f) => readFileSync(join(dir, "out", f), "utf8"))].join("\n");
  t.false(said.includes("PASSWORD-not-for-reports-42"));
  t.false(said.includes(ca.operatorToken!) || said.includes(ca.raToken!), "no token either");
  const report = JSON.parse(readFileSync(join(dir, "out", "certify.json"), "utf8"));
  const prop = report.checks.find((c: { id: string }) => c.id === "PROP-OCSP");
  t.is(prop.reproduce, `cardloop certify --ca ${server.url} --ca-config ${join(dir, "tokens.yaml")} --threshold 4s --samples 2 --percentile 50 --strict --only PROP-OCSP`);
  // progress: one line per check as it finishes, in the words of the summary
  // (in catalogue order, whatever --only's order)
  t.regex(r.stderr, /^\[1\/2\] PASS +MUST +PROP-OCSP \(\d+ ms\)$/m);
  t.regex(r.stderr, /^\[2\/2\] PASS +MUST +OCSP-GOOD \(\d+ ms\)$/m);
});

test("certify stopped by the harness between checks still writes its reports, and the run is incomplete (exit 3), never a pass", async (t) => {
  const dir = tmp();
  // A module adapter that breaks after certify has started: its second capabilities() call throws.
  writeFileSync(
    join(dir, "breaks.mjs"),
    `let calls = 0;
export async function createAdapter() {
  return {
    name: "breaks",
    capabilities() {
      if (++calls > 1) throw new TypeError("capabilities exploded");
      return { renew: false, hold: false, authorisation: false, cancellationCodes: false, cardExpiryCap: false, crl: false, ocsp: false, ocspGet: false, bulkRevoke: false, virtualClock: false };
    },
    async anchors() { return []; },
    async issue() { throw new Error("not reached"); },
    async renew() { throw new Error("not reached"); },
    async revoke() { throw new Error("not reached"); },
    async release() { throw new Error("not reached"); },
    async status() { throw new Error("not reached"); },
    async crl() { throw new Error("not reached"); },
    async ocsp() { throw new Error("not reached"); },
    async close() {},
  };
}
`,
  );
  const r = await cardloop(["certify", "--ca", `module:${join(dir, "breaks.mjs")}`, "--only", "ISS-VALIDITY-MAX", "--out", join(dir, "out")]);
  t.is(r.code, 3, r.stdout + r.stderr);
  t.regex(r.stderr, /^cardloop: certify stopped: capabilities exploded$/m);
  const report = JSON.parse(readFileSync(join(dir, "out", "certify.json"), "utf8"));
  t.is(report.verdict, "incomplete");
  t.true(report.checks.some((c: { id: string; cause: string }) => c.id === "RUN-INCOMPLETE" && c.cause === "harness"));
  t.is((await parseJUnit(join(dir, "out", "junit.xml"))).status, "FAIL");
});

test("certify interrupted (SIGINT) writes its reports from what it judged so far: incomplete, exit 130", async (t) => {
  const dir = tmp();
  const child = spawn(process.execPath, [join(root, "bin/cardloop.js"), "certify", "--ca", "embedded", "--out", join(dir, "out")], { cwd: root, detached: true, stdio: ["ignore", "ignore", "pipe"] });
  t.teardown(() => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      /* already gone */
    }
  });
  let stderr = "";
  const firstCheck = new Promise<void>((done) =>
    child.stderr!.on("data", (b: Buffer) => {
      stderr += b.toString();
      if (/^\[ ?1\/\d+\]/m.test(stderr)) done();
    }),
  );
  const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
  // (a child that exits before its first check fails the test below, not by a hang)
  await Promise.race([firstCheck, exited]);
  child.kill("SIGINT");
  t.is(await exited, 130, stderr);
  const report = JSON.parse(readFileSync(join(dir, "out", "certify.json"), "utf8"));
  t.is(report.verdict, "incomplete");
  t.true(report.checks.some((c: { outcome: string }) => c.outcome === "pass"), "what was judged before the interruption is kept");
  t.true(report.checks.some((c: { id: string }) => c.id === "RUN-INCOMPLETE"));
});
