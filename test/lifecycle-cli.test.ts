import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import test from "ava";
import { parse as parseJUnit } from "test-results-parser";
import { readRunLog, stripVolatile, type AnyEvent } from "../core/index.js";
import { leaks } from "./support/secrets.js";

const ROOT = resolve(import.meta.dirname, "..");
const LIBRARY = join(ROOT, "scenarios", "library");
const XSD = join(ROOT, "reports", "junit.xsd");

function cardloop(...args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, "bin", "cardloop.js"), ...args], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "cardloop-lifecycle-"));
}

/** JUnit checked by a real schema validator (libxml2's xmllint) against the Jenkins/Ant shape. */
function xmllint(file: string): { code: number | null; output: string } {
  const r = spawnSync("xmllint", ["--noout", "--schema", XSD, file], { encoding: "utf8" });
  if (r.error) throw new Error(`xmllint is required (Debian package libxml2-utils): ${r.error.message}`);
  return { code: r.status, output: r.stdout + r.stderr };
}

/** JUnit read by a third-party consumer: test-results-parser, the parser testbeats publishes CI results from. */
function consume(file: string) {
  return parseJUnit({ type: "junit", files: [file] });
}

test("demo runs the whole library: exit 0, every report written, JUnit valid, HTML offline", (t) => {
  const out = tmp();
  const r = cardloop("demo", "--out", out);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /11\/11 scenarios passed/);
  t.regex(r.stdout, /HTML report: .*report\.html/);
  for (const f of ["run.jsonl", "junit.xml", "report.json", "report.md", "report.html"]) t.true(existsSync(join(out, f)), f);

  const lint = xmllint(join(out, "junit.xml"));
  t.is(lint.code, 0, lint.output);
  t.regex(lint.output, /validates/);
  const junit = readFileSync(join(out, "junit.xml"), "utf8");
  t.is((junit.match(/<testsuite /g) ?? []).length, 11);
  t.notRegex(junit, /<failure/);
  const steps = (junit.match(/<testcase /g) ?? []).length;
  const read = consume(join(out, "junit.xml"));
  t.like(read, { status: "PASS", total: steps, passed: steps, failed: 0, errors: 0 });
  t.is(read.suites.length, 11);
  t.is(read.suites.reduce((n, s) => n + s.cases.length, 0), steps);
  t.true(read.suites.some((s) => s.name === "full lifecycle"));

  const json = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
  t.deepEqual([json.totals.runs, json.totals.passed, json.outcome], [11, 11, "pass"]);

  const html = readFileSync(join(out, "report.html"), "utf8");
  t.notRegex(html, /https?:\/\//i, "no network address anywhere in the report");
  t.notRegex(html, /<(script|link|img)[^>]+(src|href)=/i, "nothing loaded from outside the file");
  t.regex(html, /new Chart\(/);
  t.regex(html, /Chart\.js v4/);
  t.regex(html, /<svg viewBox/); // the per-card timelines
  t.regex(readFileSync(join(out, "report.md"), "utf8"), /## cardloop: 11\/11 scenarios passed/);

  // Secrets never reach the run log or a report: the library's PINs, the default PUK, any issued code.
  for (const f of ["run.jsonl", "junit.xml", "report.json", "report.md", "report.html"]) {
    // The inlined chart.js library is not ours and happens to contain digit runs: look at the rest.
    const text = readFileSync(join(out, f), "utf8").replace(/<script>\/\*!\s*\* Chart\.js[\s\S]*?<\/script>/, "");
    for (const secret of ["482913", "735102", "918273", "564738", "12345678", "1984-07-21", "Ljubljana"]) t.false(leaks(text, secret), `${secret} in ${f}`);
    t.notRegex(text, /"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}"/, `a cancellation code in ${f}`);
  }
});

test("a wrong expectation: exit 1, and a JUnit failure that names the step", (t) => {
  const dir = tmp();
  const file = join(dir, "wrong.yaml");
  const src = readFileSync(join(LIBRARY, "02-lost-card-holder-revokes.yaml"), "utf8");
  // The card IS revoked; claim it is still good.
  writeFileSync(file, src.replace("expect: { status: revoked, revocationReason: keyCompromise }", "expect: { status: good }"));
  const out = join(dir, "out");
  const r = cardloop("run", file, "--out", out);
  t.is(r.code, 1, r.stdout + r.stderr);
  t.regex(r.stdout, /FAIL\s+lost card revoked by its holder online/);
  t.regex(r.stdout, /wrong\.yaml:27: step 8 status: status: expected "good", got "revoked"/);

  const junitFile = join(out, "junit.xml");
  t.is(xmllint(junitFile).code, 0);
  const junit = readFileSync(junitFile, "utf8");
  const failure = /<testcase name="08 status"[^>]*>\s*<failure message="([^"]*)"[^>]*>([^<]*)<\/failure>/.exec(junit);
  t.truthy(failure, junit);
  t.regex(failure![1], /step 8 status \(line 27\): status: expected &quot;good&quot;, got &quot;revoked&quot;/);
  t.regex(failure![2], /evidence: .*"status":"revoked"/); // the failure carries the evidence
  t.regex(junit, /failures="1"/);

  const read = consume(junitFile);
  t.like(read, { status: "FAIL", total: 8, passed: 7, failed: 1, errors: 0 });
  t.is(read.suites.length, 1);
  t.is(read.suites[0].name, "lost card revoked by its holder online");
  const failing = read.suites[0].cases.filter((c) => c.status === "FAIL");
  t.deepEqual(failing.map((c) => c.name), ["08 status"]);
  t.regex(failing[0].failure, /step 8 status \(line 27\): status: expected "good", got "revoked"/);
  t.regex(failing[0].stack_trace, /evidence: .*"status":"revoked"/);
});

test("a malformed scenario: exit 2, one line with file and line", (t) => {
  const dir = tmp();
  const file = join(dir, "broken.yaml");
  const src = readFileSync(join(LIBRARY, "08-wrong-code-revokes-nothing.yaml"), "utf8");
  writeFileSync(file, src.replace("role: legal-representative }", "role: legal-rep }"));
  const r = cardloop("run", file);
  t.is(r.code, 2);
  t.is(r.stdout, "");
  const lines = r.stderr.trim().split("\n");
  t.is(lines.length, 1, r.stderr);
  t.regex(lines[0], /broken\.yaml:23:\d+: steps\[3\]\.revoke\.role: "legal-rep" is not one of/);

  const missing = cardloop("run", join(dir, "nope.yaml"));
  t.is(missing.code, 2);
  t.regex(missing.stderr, /nope\.yaml:1:1: cannot read: ENOENT/);
});

test("unusable targets exit 2 with one line; --json prints the summary", (t) => {
  const file = join(LIBRARY, "02-lost-card-holder-revokes.yaml");
  const url = cardloop("run", file, "--ca", "http://127.0.0.1:9");
  t.is(url.code, 2);
  t.regex(url.stderr, /^cardloop: CA target http:\/\/127\.0\.0\.1:9: .*not reachable/);
  const unknown = cardloop("run", file, "--ca", "mystery");
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /unknown CA target "mystery"/);
  // (a kind no build has: "pcsc" is becoming a real reader kind)
  const reader = cardloop("run", file, "--reader", "nfc");
  t.is(reader.code, 2);
  t.is(reader.stderr.trim().split("\n").length, 1, reader.stderr);
  t.regex(reader.stderr, /unknown reader( kind)? "nfc"/);
  const seed = cardloop("run", file, "--seed", "x");
  t.is(seed.code, 2);

  const json = cardloop("run", file, "--json");
  t.is(json.code, 0, json.stderr);
  const summary = JSON.parse(json.stdout);
  t.is(summary.outcome, "pass");
  t.is(summary.runs[0].name, "lost card revoked by its holder online");
  t.true(summary.runs[0].apdu.count > 0);
});

test("one seed gives one run: two run logs of the whole library equal apart from the marked volatile fields", (t) => {
  const files = readdirSync(LIBRARY).filter((f) => f.endsWith(".yaml")).sort().map((f) => join(LIBRARY, f));
  t.is(files.length, 11, "the whole library");
  const dir = tmp();
  const logs: AnyEvent[][] = [];
  for (const name of ["a", "b", "c"]) {
    const seed = name === "c" ? "99" : "5";
    const r = cardloop("run", ...files, "--seed", seed, "--out", join(dir, name));
    t.is(r.code, 0, r.stdout + r.stderr);
    logs.push(readRunLog(join(dir, name, "run.jsonl")));
  }
  const [a, b, c] = logs.map((events) => events.map(stripVolatile));
  t.is(new Set(a.filter((e) => e.type === "run.started").map((e) => JSON.stringify(e.data))).size, 11, "every scenario ran");
  t.is(a.length, b.length);
  // Event by event, so that a difference names the first event that differs.
  for (let i = 0; i < a.length; i++) if (!t.deepEqual(a[i], b[i], `event ${i} (${a[i].type})`)) break;
  // The marked fields did differ (fresh keys and signatures), so the comparison above was not vacuous.
  t.notDeepEqual(logs[0], logs[1]);
  // Only key- and signature-bearing exchanges are marked: plain reads are compared whole.
  const exchanges = a.filter((e) => e.type === "apdu.exchange").map((e) => e.data as { command?: string; response?: string });
  const chuidReads = exchanges.filter((x) => x.command?.startsWith("00CB3FFF055C035FC102"));
  t.true(chuidReads.length > 0 && chuidReads.every((x) => x.response !== undefined), "CHUID reads keep their response");
  t.true(exchanges.some((x) => x.command?.startsWith("00CB3FFF055C035FC105") && x.response === undefined), "certificate reads are marked");
  // Every 9C signature the terminals made came right after a successful VERIFY on that card (PIN always).
  const last = new Map<string, { command: string; sw: string }>();
  let signatures9c = 0;
  for (const e of logs[0]) {
    if (e.type !== "apdu.exchange") continue;
    const x = e.data as { reader: string; command: string; sw: string };
    if (/^0087..9C/.test(x.command)) {
      signatures9c++;
      const before = last.get(x.reader);
      t.true(before !== undefined && before.command.startsWith("00200080") && before.sw === "9000", `9C signature on ${x.reader} after ${JSON.stringify(before)}`);
    }
    last.set(x.reader, x);
  }
  t.true(signatures9c > 10, `9C signatures: ${signatures9c}`);
  // And the seed matters: another seed gives other serial numbers.
  const serials = (events: AnyEvent[]) => events.filter((e) => e.type === "card.lifecycle").map((e) => JSON.stringify(e.data));
  t.notDeepEqual(serials(a), serials(c));
});
