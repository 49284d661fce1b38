import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import test, { type ExecutionContext } from "ava";
import fc from "fast-check";
import { parse } from "test-results-parser";
import { EventBus, VirtualClock, type AnyEvent, type EventMap, type Outcome, type VerdictRules } from "../core/index.js";
import { evidenceParts, isHex } from "./certify-evidence.js";
import { buildCertifyReport, type CertifyReport } from "./certify-model.js";
import { certifyHtml, certifyJUnit, certifyJson, certifyMarkdown } from "./certify-writers.js";
import { escapeHtml } from "./escape.js";
import { certifySummaryText } from "./text.js";

/** What certify's run log holds, made by hand: run.started's meta as the runner writes it, then the checks. */
type Finished = EventMap["check.finished"];
type CheckSpec = Pick<Finished, "id" | "level" | "outcome"> & Partial<Finished>;

const URL_GIVEN = "http://127.0.0.1:8443";
const REPRO = (id: string) => `cardloop certify --ca ${URL_GIVEN} --ca-config ca.yaml --only ${id}`;
const CRL_PEM = "-----BEGIN X509 CRL-----\nMIIBszCBnAIBATANBgkqhkiG9w0BAQsFADAUMRIwEAYDVQQDDAl0ZXN0IENB\nRRcNMjYwMTAxMDAwMDAwWhcNMjYwMTAyMDAwMDAwWjAAoA8wDTALBgNVHRQEBAIC\n-----END X509 CRL-----\n";
const CERT_PEM = "-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJAKHHIG11Iu0aMA0GCSqGSIb3DQEBCwUAMBQxEjAQBgNVBAMMCXRl\n-----END CERTIFICATE-----\n";

interface LogShape {
  /** run.started's meta as an older cardloop wrote it (no provenance, no rules). */
  meta?: Record<string, unknown>;
  /** The run dies in this check: started, never finished, no run.finished. */
  diesIn?: string;
  /** Fields of the usual meta replaced (identity, provenance, ...). */
  metaWith?: Record<string, unknown>;
}

function runLog(checks: CheckSpec[], rules: Partial<VerdictRules> = {}, shape: LogShape = {}): AnyEvent[] {
  const clock = new VirtualClock("2026-01-01T00:00:00Z");
  const bus = new EventBus(clock);
  const events: AnyEvent[] = [];
  bus.on((e) => events.push(e));
  bus.emit("run.started", {
    name: "certify my-ca",
    kind: "certify",
    meta: shape.meta ?? {
      ca: "my-ca",
      identity: { software: "OpenSSL", version: "OpenSSL 3.0.15 3 Sep 2024", url: URL_GIVEN },
      // booleans under secret-looking names pass the bus's redaction as they are
      capabilities: { hold: false, crl: true, cancellationCodes: true },
      provenance: {
        crl: { by: "ca", how: "openssl ca -gencrl -config ca.cnf -out crl.pem" },
        renewal: { by: "adapter", how: "openssl ca -revoke old.pem; openssl ca -in new.csr", note: "OpenSSL has no renewal: sign, then revoke" },
      },
      credentialsHeld: { raToken: true, operatorToken: false },
      cardloopVersion: "0.2.0-test",
      catalogue: { version: "2", sha256: "5eed0f1ca7a10600c0ffee5eed0f1ca7a10600c0ffee5eed0f1ca7a10600c0ff", checks: 57 },
      options: { propagationThresholdMs: 10000, samples: 10, percentile: 95 },
      rules: { allowIncomplete: false, strict: false, ...rules },
      policy: { name: "default", lifetimeYears: 3 },
      policySource: "default",
      only: checks.map((c) => c.id),
      ...shape.metaWith,
    },
  });
  for (const c of checks) {
    const head = { id: c.id, title: c.title ?? `title of ${c.id}`, level: c.level, source: c.source ?? "RFC 5280 5.1" };
    bus.emit("check.started", head);
    clock.advance(10);
    bus.emit("check.finished", { message: `${c.outcome} says ${c.id}`, evidence: {}, durationMs: 10, reproduce: REPRO(c.id), ...c, ...head });
  }
  if (shape.diesIn) bus.emit("check.started", { id: shape.diesIn, title: "t", level: "SHOULD", source: "s" });
  else bus.emit("run.finished", { outcome: "pass" });
  return events;
}

const judged = (id: string, level: "MUST" | "SHOULD", outcome: Outcome, extra: Partial<Finished> = {}): CheckSpec => ({ id, level, outcome, ...extra });
const notJudged = (id: string, extra: Partial<Finished> = {}): CheckSpec =>
  judged(id, "MUST", "error", { cause: "credential", message: "certify holds no operatorToken for this CA, which asks for it", fix: "give operatorToken in --ca-config", ...extra });

/** One of every kind, in catalogue order: a defect with PEMs in its evidence, warnings of both kinds, checks not judged, passes, a skip. */
function everyKind(): AnyEvent[] {
  return runLog([
    judged("ISS-VALIDITY-MAX", "MUST", "pass"),
    judged("REV-NONCE", "SHOULD", "fail", { message: "no nonce" }),
    judged("CRL-NUMBER", "MUST", "fail", {
      message: "the CRL has no CRL number",
      evidence: { crl: CRL_PEM, serial: "0A1B2C3D", thisUpdate: "2026-01-01T00:00:00.000Z", issued: { certificate: CERT_PEM, n: 1 } },
      madeBy: "ca",
      producedBy: [{ artefact: "crl", by: "ca", how: "openssl ca -gencrl -config ca.cnf -out crl.pem" }],
    }),
    judged("OCSP-GET", "MUST", "skip", { message: "the CA does not offer ocspGet" }),
    notJudged("PROP-CRL"),
    judged("ISS-WEAK-KEY", "MUST", "pass"),
    judged("REN-NEW-KEY", "MUST", "fail", {
      message: "the renewed certificate reuses the serial",
      madeBy: "adapter",
      producedBy: [{ artefact: "renewal", by: "adapter", how: "openssl ca -revoke old.pem; openssl ca -in new.csr" }],
    }),
    notJudged("REV-OPERATOR-AUTH"),
    notJudged("LIFECYCLE-SCENARIO", { cause: "unreachable", message: "the OCSP responder did not answer", fix: "check the CA's OCSP URL" }),
  ]);
}

const ORDER = ["CRL-NUMBER", "PROP-CRL", "REV-OPERATOR-AUTH", "LIFECYCLE-SCENARIO", "REV-NONCE", "REN-NEW-KEY", "ISS-VALIDITY-MAX", "ISS-WEAK-KEY", "OCSP-GET"];

/** Schema-checked with xmllint, then read by a third-party consumer, as a CI viewer would. */
function readJUnit(t: ExecutionContext, r: CertifyReport) {
  const file = join(mkdtempSync(join(tmpdir(), "cardloop-certify-junit-")), "junit.xml");
  writeFileSync(file, certifyJUnit(r));
  const lint = spawnSync("xmllint", ["--noout", "--schema", resolve(import.meta.dirname, "junit.xsd"), file], { encoding: "utf8" });
  if (lint.error) t.fail(`xmllint is required (libxml2-utils): ${lint.error.message}`);
  t.is(lint.status, 0, lint.stderr);
  return parse({ type: "junit", files: [file] });
}

const EXIT_CASES: Array<{ name: string; checks: CheckSpec[]; rules?: Partial<VerdictRules>; exit: number; status: "PASS" | "FAIL" }> = [
  { name: "a MUST defect", checks: [judged("ISS-A", "MUST", "pass"), judged("ISS-B", "MUST", "fail")], exit: 1, status: "FAIL" },
  { name: "only a SHOULD failure", checks: [judged("ISS-A", "MUST", "pass"), judged("OCSP-B", "SHOULD", "fail")], exit: 0, status: "PASS" },
  { name: "a SHOULD failure, strict", checks: [judged("ISS-A", "MUST", "pass"), judged("OCSP-B", "SHOULD", "fail")], rules: { strict: true }, exit: 1, status: "FAIL" },
  { name: "an adapter-made MUST failure", checks: [judged("ISS-A", "MUST", "pass"), judged("REN-B", "MUST", "fail", { madeBy: "adapter" })], exit: 0, status: "PASS" },
  { name: "a check not judged", checks: [judged("ISS-A", "MUST", "pass"), notJudged("REV-B")], exit: 3, status: "FAIL" },
  { name: "a check not judged, allowIncomplete", checks: [judged("ISS-A", "MUST", "pass"), notJudged("REV-B")], rules: { allowIncomplete: true }, exit: 0, status: "PASS" },
];

for (const c of EXIT_CASES) {
  test(`JUnit agrees with the exit status: ${c.name} exits ${c.exit}, a CI viewer reads ${c.status}`, (t) => {
    const r = buildCertifyReport(runLog(c.checks, c.rules));
    t.is(r.exitCode, c.exit);
    const read = readJUnit(t, r);
    t.is(read.status, c.status);
    t.is(read.failed + read.errors > 0, c.exit !== 0);
  });
}

test("JUnit: a strict SHOULD defect is type SHOULD; warnings and allowed not-judged checks are <skipped> saying which", (t) => {
  const should = [judged("ISS-A", "MUST", "pass"), judged("OCSP-B", "SHOULD", "fail", { message: "no nonce" })];
  t.regex(certifyJUnit(buildCertifyReport(runLog(should, { strict: true }))), /<failure message="no nonce" type="SHOULD">/);
  t.regex(certifyJUnit(buildCertifyReport(runLog(should))), /<skipped message="warning: SHOULD not met: no nonce"\/>/);
  const adapter = certifyJUnit(buildCertifyReport(runLog([judged("REN-B", "MUST", "fail", { message: "reused", madeBy: "adapter", producedBy: [{ artefact: "renewal", by: "adapter", how: "x" }] })])));
  t.regex(adapter, /<skipped message="warning: adapter-made: reused \(the adapter, not the CA, made the renewal\)"\/>/);
  const nj = [notJudged("REV-B")];
  t.regex(
    certifyJUnit(buildCertifyReport(runLog(nj))),
    /<error message="not judged \(credential\): certify holds no operatorToken for this CA, which asks for it; fix: give operatorToken in --ca-config" type="not-judged">/,
  );
  t.regex(certifyJUnit(buildCertifyReport(runLog(nj, { allowIncomplete: true }))), /<skipped message="not judged \(credential\): certify holds no operatorToken[^"]*; fix: give operatorToken in --ca-config"\/>/);
});

test("JUnit: classnames are the ID's first segment without dots, names are 'ID: title', a defect's body has source, fix, evidence and the reproduction", (t) => {
  const r = buildCertifyReport(everyKind());
  const xml = certifyJUnit(r);
  const classnames = [...xml.matchAll(/classname="([^"]*)"/g)].map((m) => m[1]);
  t.deepEqual(classnames, ["CRL", "PROP", "REV", "LIFECYCLE", "REV", "REN", "ISS", "ISS", "OCSP"].map((p) => `cardloop-certify-${p}`));
  t.false(classnames.some((c) => c.includes(".")));
  t.regex(xml, /<testcase name="CRL-NUMBER: title of CRL-NUMBER" classname="cardloop-certify-CRL"/);
  const failure = /<failure message="the CRL has no CRL number" type="MUST">([^<]*)<\/failure>/.exec(xml);
  t.truthy(failure);
  const body = failure![1];
  t.true(body.startsWith("source: RFC 5280 5.1\nthe CRL has no CRL number\n"));
  t.true(body.includes(`crl made by the CA: openssl ca -gencrl -config ca.cnf -out crl.pem`));
  t.true(body.includes(`reproduce: ${REPRO("CRL-NUMBER")}`));
  t.true(body.includes(`crl:\n${CRL_PEM.trimEnd()}`), "the PEM is whole, line breaks and all");
  t.true(body.includes("serial: 0A1B2C3D"));
});

test("property: whatever the outcomes and rules, exit 0 exactly when the JUnit has no <failure> and no <error>", (t) => {
  const row = fc.record({
    level: fc.constantFrom("MUST" as const, "SHOULD" as const),
    outcome: fc.constantFrom<Outcome>("pass", "fail", "error", "skip"),
    adapter: fc.boolean(),
  });
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(row, { maxLength: 8 }), fc.boolean(), fc.boolean(), (rows, strict, allowIncomplete) => {
        const checks = rows.map((x, i) => judged(`ISS-${i}`, x.level, x.outcome, x.adapter ? { madeBy: "adapter" } : {}));
        const r = buildCertifyReport(runLog(checks, { strict, allowIncomplete }));
        const xml = certifyJUnit(r);
        return (r.exitCode === 0) === !/<(failure|error) /.test(xml) && [0, 1, 3].includes(r.exitCode);
      }),
    ),
  );
});

test("the model: classes, totals, verdict and exit status, rules from the run log, failures first in catalogue order", (t) => {
  const r = buildCertifyReport(everyKind());
  t.deepEqual(r.checks.map((c) => c.id), ORDER);
  t.deepEqual(r.checks.map((c) => c.class), ["defect", "not-judged", "not-judged", "not-judged", "warning", "warning", "pass", "pass", "skip"]);
  t.is(r.verdict, "fail");
  t.is(r.exitCode, 1);
  t.like(r.totals, { checks: 9, pass: 2, fail: 3, error: 3, skip: 1, defects: 1, warnings: 2, notJudged: 3, notJudgedAllowed: 0 });
  const crl = r.checks[0];
  t.like(crl, { madeBy: "ca", reproduce: REPRO("CRL-NUMBER") });
  t.deepEqual(crl.producedBy, [{ artefact: "crl", by: "ca", how: "openssl ca -gencrl -config ca.cnf -out crl.pem" }]);
  t.like(r.checks[1], { cause: "credential", fix: "give operatorToken in --ca-config" });
  t.like(r.provenance, {
    cardloopVersion: "0.2.0-test",
    catalogue: { version: "2", checks: 57 },
    identity: { software: "OpenSSL", version: "OpenSSL 3.0.15 3 Sep 2024", url: URL_GIVEN },
    capabilities: { hold: false, crl: true, cancellationCodes: true },
    credentialsHeld: { raToken: true, operatorToken: false },
    policySource: "default",
    startTime: "2026-01-01T00:00:00.000Z",
    endTime: "2026-01-01T00:00:00.090Z",
    durationMs: 90,
  });
  t.is(r.provenance.artefacts.renewal?.by, "adapter");
  t.deepEqual(r.provenance.only, everyKind().flatMap((e) => (e.type === "check.started" ? [e.data.id] : [])));
  // allowIncomplete, read from the log, tolerates a check not judged
  const allowed = buildCertifyReport(runLog([notJudged("REV-B"), judged("ISS-A", "MUST", "pass")], { allowIncomplete: true }));
  t.like(allowed, { verdict: "pass", exitCode: 0, rules: { allowIncomplete: true, strict: false } });
  t.is(allowed.checks[0].class, "not-judged-allowed");
});

test("the model: an older log without rules is judged by the defaults; a check that never finished is not judged (harness), the run incomplete", (t) => {
  const events = runLog([judged("ISS-A", "MUST", "pass"), judged("OCSP-B", "SHOULD", "fail")], {}, { meta: { ca: "old" }, diesIn: "CRL-C" });
  const r = buildCertifyReport(events);
  t.deepEqual(r.rules, { allowIncomplete: false, strict: false });
  t.deepEqual(
    r.checks.map((c) => [c.id, c.outcome, c.class]),
    [
      ["CRL-C", "error", "not-judged"],
      ["RUN-INCOMPLETE", "error", "not-judged"],
      ["OCSP-B", "fail", "warning"],
      ["ISS-A", "pass", "pass"],
    ],
  );
  t.like(r.checks[0], { cause: "harness", message: "started but never finished: the run stopped during this check" });
  t.like(r.checks[1], { cause: "harness", message: "the run log ends before the run finished: checks after the last one recorded never ran" });
  t.like(r, { verdict: "incomplete", exitCode: 3 });
  t.like(r.provenance, { identity: { software: "unknown" }, capabilities: {}, artefacts: {}, credentialsHeld: {} });
  t.is(r.provenance.cardloopVersion, undefined);
});

test("HTML: verdict banner with exit status, the not-judged box with causes and fixes, failures first, filters, no network", (t) => {
  const r = buildCertifyReport(everyKind());
  const html = certifyHtml(r);
  t.regex(html, /<p class="verdict v-fail">FAIL \(exit status 1\)<\/p>/);
  const box = /<section class="not-judged-box"><h2>Not judged: what to fix<\/h2>([\s\S]*?)<\/section>/.exec(html);
  t.truthy(box);
  t.regex(box![1], /<code>PROP-CRL<\/code> \(credential\): certify holds no operatorToken[^<]*<br><strong>Fix:<\/strong> give operatorToken in --ca-config/);
  t.regex(box![1], /<code>LIFECYCLE-SCENARIO<\/code> \(unreachable\)/);
  t.false(/defect/i.test(box![1].replace(/not defects of the CA/, "")), "never called a CA defect");
  t.deepEqual([...html.matchAll(/<tr class="[^"]*" data-level="[^"]*" data-class="[^"]*">\n<td><code>([^<]*)<\/code>/g)].map((m) => m[1]), ORDER);
  t.regex(html, /<select name="level"><option value="">all<\/option><option>MUST<\/option><option>SHOULD<\/option><\/select>/);
  for (const k of ["defect", "not-judged", "warning", "not-judged-allowed", "pass", "skip"]) t.true(html.includes(`<input type="checkbox" name="class" value="${k}" checked>`));
  t.regex(html, /<tr class="warning" data-level="SHOULD" data-class="warning">/);
  // nothing from the network: no URL at all once the one the user gave (the CA's) is taken out
  const withoutGiven = html.split(escapeHtml(URL_GIVEN)).join("");
  t.notRegex(withoutGiven, /https?:\/\//i);
  t.notRegex(html, /<(script|img|link|iframe)[^>]+(src|href)=/i);
});

test("HTML: evidence pastes into openssl (PEM verbatim in its own <pre>, hex verbatim, the rest JSON) and each failing or not-judged check has its command with a copy button", (t) => {
  const html = certifyHtml(buildCertifyReport(everyKind()));
  t.true(html.includes(`<pre class="pem">${CRL_PEM}</pre>`));
  t.true(html.includes(`<pre class="pem">${CERT_PEM}</pre>`), "a PEM nested in an object is lifted out too");
  t.true(html.includes(`<pre class="hex">0A1B2C3D</pre>`));
  t.true(html.includes(`<pre class="json">&quot;2026-01-01T00:00:00.000Z&quot;</pre>`));
  t.true(html.includes(escapeHtml(`"certificate": "(PEM: see issued.certificate)"`)));
  for (const id of ["CRL-NUMBER", "PROP-CRL", "LIFECYCLE-SCENARIO", "REV-NONCE", "REN-NEW-KEY"]) {
    const cmd = escapeHtml(REPRO(id));
    t.true(html.includes(`<code>${cmd}</code> <button type="button" class="copy" data-copy="${cmd}">copy</button>`), id);
  }
  // passes and skips need nobody's attention: no copy button
  t.false(html.includes(`data-copy="${escapeHtml(REPRO("ISS-WEAK-KEY"))}"`));
  t.regex(html, /navigator\.clipboard\.writeText/);
});

test("Markdown: defects, warnings, not judged (with fixes), provenance, all checks failures first, evidence with PEM in fenced blocks", (t) => {
  const md = certifyMarkdown(buildCertifyReport(everyKind()));
  const headings = [...md.matchAll(/^## (.*)$/gm)].map((m) => m[1]);
  t.deepEqual(headings, ["What this CA gets wrong", "Warnings", "Not judged (not CA defects)", "Provenance", "All checks", "Evidence"]);
  t.regex(md, /^Verdict: \*\*FAIL \(exit status 1\)\*\*: 9 checks: 1 defect, 2 warnings, 3 not judged, 2 pass, 1 skipped$/m);
  t.regex(md, /## What this CA gets wrong\n\n- \*\*CRL-NUMBER\*\* \(MUST, RFC 5280 5\.1\): the CRL has no CRL number\n {2}- reproduce: `cardloop certify --ca http:\/\/127\.0\.0\.1:8443 --ca-config ca\.yaml --only CRL-NUMBER`\n\n## Warnings/);
  t.regex(md, /- \*\*REV-NONCE\*\* \(SHOULD, RFC 5280 5\.1\): SHOULD not met: no nonce/);
  t.regex(md, /- \*\*REN-NEW-KEY\*\* \(MUST, RFC 5280 5\.1\): adapter-made: the renewed certificate reuses the serial/);
  t.regex(md, /- \*\*PROP-CRL\*\* \(MUST\): not judged \(credential\): certify holds no operatorToken for this CA, which asks for it; fix: give operatorToken in --ca-config/);
  const all = md.slice(md.indexOf("## All checks"), md.indexOf("## Evidence"));
  t.deepEqual([...all.matchAll(/^\| ([A-Z]+-[A-Z-]+) \|/gm)].map((m) => m[1]), ORDER);
  t.regex(all, /\| PROP-CRL \| MUST \| NOT JUDGED \|/);
  t.true(md.includes("crl:\n\n```\n" + CRL_PEM.trimEnd() + "\n```"));
  t.true(md.includes("issued.certificate:\n\n```\n" + CERT_PEM.trimEnd() + "\n```"));
  t.true(md.includes("- serial: `0A1B2C3D`"));
  // a section with nothing in it is left out: no "What this CA gets wrong" for a CA that gets nothing wrong
  const clean = certifyMarkdown(buildCertifyReport(runLog([judged("ISS-A", "MUST", "pass"), notJudged("REV-B")])));
  t.deepEqual([...clean.matchAll(/^## (.*)$/gm)].map((m) => m[1]), ["Not judged (not CA defects)", "Provenance", "All checks"]);
  t.regex(md, /\| renewal \| adapter \| `openssl ca -revoke old\.pem; openssl ca -in new\.csr` \| OpenSSL has no renewal: sign, then revoke \|/);
});

test("provenance, capabilities' booleans and the reproduction command appear in every format", (t) => {
  const r = buildCertifyReport(everyKind());
  const formats = { junit: certifyJUnit(r), json: certifyJson(r), markdown: certifyMarkdown(r), html: certifyHtml(r) };
  const sha = "5eed0f1ca7a10600c0ffee5eed0f1ca7a10600c0ffee5eed0f1ca7a10600c0ff";
  for (const [name, text] of Object.entries(formats)) {
    for (const fact of ["0.2.0-test", sha, "OpenSSL 3.0.15 3 Sep 2024", URL_GIVEN, "openssl ca -gencrl -config ca.cnf -out crl.pem", REPRO("CRL-NUMBER")]) {
      t.true(text.includes(name === "html" ? escapeHtml(fact) : fact), `${name} shows ${fact}`);
    }
  }
  t.regex(formats.junit, /<property name="cardloop-version" value="0\.2\.0-test"\/>/);
  t.regex(formats.junit, /<property name="catalogue-version" value="2"\/>/);
  t.regex(formats.junit, new RegExp(`<property name="catalogue-sha256" value="${sha}"/>`));
  t.regex(formats.junit, /<property name="ca-software" value="OpenSSL"\/>/);
  t.regex(formats.junit, /<property name="verdict" value="fail"\/>/);
  t.regex(formats.junit, /<property name="exit-code" value="1"\/>/);
  t.regex(formats.junit, /<property name="capability-hold" value="false"\/>/);
  t.regex(formats.junit, /<property name="capability-cancellationCodes" value="true"\/>/);
  t.regex(formats.markdown, /\| capabilities \| hold: false, crl: true, cancellationCodes: true \|/);
  t.regex(formats.html, /<span class="cap">hold: <code>false<\/code><\/span> <span class="cap">crl: <code>true<\/code><\/span> <span class="cap">cancellationCodes: <code>true<\/code><\/span>/);
  t.like(JSON.parse(formats.json), { provenance: { capabilities: { hold: false, crl: true, cancellationCodes: true } }, exitCode: 1, verdict: "fail" });
});

test("the closing lines: verdict and exit status, counts, then each defect, each check not judged with its fix said once, each warning", (t) => {
  t.is(
    certifySummaryText(buildCertifyReport(everyKind())),
    [
      "my-ca: FAIL (exit status 1)",
      "9 checks: 1 defect, 2 warnings, 3 not judged, 2 pass, 1 skipped",
      "FAIL       MUST   CRL-NUMBER                 the CRL has no CRL number",
      "NOT JUDGED MUST   PROP-CRL                   (credential) certify holds no operatorToken for this CA, which asks for it",
      "NOT JUDGED MUST   REV-OPERATOR-AUTH          (credential) certify holds no operatorToken for this CA, which asks for it",
      "           fix for PROP-CRL, REV-OPERATOR-AUTH: give operatorToken in --ca-config",
      "NOT JUDGED MUST   LIFECYCLE-SCENARIO         (unreachable) the OCSP responder did not answer",
      "           fix: check the CA's OCSP URL",
      "WARN       SHOULD REV-NONCE                  SHOULD not met: no nonce",
      "WARN       MUST   REN-NEW-KEY                adapter-made: the renewed certificate reuses the serial (the adapter, not the CA, made the renewal)",
      "",
    ].join("\n"),
  );
  const allowed = certifySummaryText(buildCertifyReport(runLog([judged("ISS-A", "MUST", "pass"), notJudged("REV-B")], { allowIncomplete: true })));
  t.is(allowed.split("\n").slice(0, 2).join("\n"), "my-ca: PASS (exit status 0), incomplete: 1 check not judged (allowed by --allow-incomplete)\n2 checks: 0 defects, 0 warnings, 0 not judged, 1 not judged but allowed (allowIncomplete), 1 pass, 0 skipped");
});

/** A pass on a renewal the adapter made, beside a plain pass on the CA's own issuance. */
function adapterMadePass(): CheckSpec[] {
  return [
    judged("ISS-A", "MUST", "pass", { message: "issued within the cap", madeBy: "ca" }),
    judged("REN-B", "MUST", "pass", {
      message: "the renewal has a new key",
      madeBy: "adapter",
      producedBy: [{ artefact: "renewal", by: "adapter", how: "openssl ca -revoke old.pem; openssl ca -in new.csr" }],
    }),
  ];
}

test("a pass on what the adapter made reads PASS (adapter-made) in Markdown, HTML and the closing lines; JUnit keeps the name and says it in <system-out>", (t) => {
  const r = buildCertifyReport(runLog(adapterMadePass()));
  t.like(r, { verdict: "pass", exitCode: 0 });
  const md = certifyMarkdown(r);
  t.regex(md, /^\| REN-B \| MUST \| PASS \(adapter-made\) \| title of REN-B \| RFC 5280 5\.1 \| the renewal has a new key \(the adapter, not the CA, made the renewal\) \|$/m);
  t.regex(md, /^\| ISS-A \| MUST \| PASS \| /m, "the CA's own pass stays a plain PASS");
  t.regex(md, /## Passes on what the adapter made \(not the CA's\)\n\n- \*\*REN-B\*\* \(MUST, RFC 5280 5\.1\): PASS \(adapter-made\): the renewal has a new key/);
  const html = certifyHtml(r);
  t.regex(html, /<tr class="pass" data-level="MUST" data-class="pass">\n<td><code>REN-B<\/code><\/td><td>MUST<\/td><td class="o adapter-made">PASS \(adapter-made\)<\/td>/);
  t.regex(html, /<td><code>ISS-A<\/code><\/td><td>MUST<\/td><td class="o">PASS<\/td>/);
  t.true(html.includes("the renewal has a new key (the adapter, not the CA, made the renewal)"));
  // listed like the warnings; the other lines keep their 10-wide tag column
  const summary = certifySummaryText(buildCertifyReport(runLog([...adapterMadePass(), judged("OCSP-C", "SHOULD", "fail", { message: "no nonce" })]))).split("\n");
  t.deepEqual(summary.slice(2), [
    "WARN       SHOULD OCSP-C                     SHOULD not met: no nonce",
    "PASS (adapter-made) MUST   REN-B                      the renewal has a new key (the adapter, not the CA, made the renewal)",
    "",
  ]);
  const xml = certifyJUnit(r);
  t.regex(xml, /<testcase name="ISS-A: title of ISS-A" classname="cardloop-certify-ISS" time="0\.010"><\/testcase>/);
  t.regex(
    xml,
    /<testcase name="REN-B: title of REN-B" classname="cardloop-certify-REN" time="0\.010">\n {6}<system-out>PASS \(adapter-made\): the renewal has a new key \(the adapter, not the CA, made the renewal\)\nrenewal made by the adapter: openssl ca -revoke old\.pem; openssl ca -in new\.csr<\/system-out>\n {4}<\/testcase>/,
  );
  const read = readJUnit(t, r);
  t.like(read, { status: "PASS", total: 2, passed: 2, failed: 0, errors: 0 });
});

test("allowIncomplete: the verdict stays pass (exit 0), but every text says how many checks were not judged, the banner is not green, JUnit has `incomplete`", (t) => {
  const checks = Array.from({ length: 55 }, (_, i) => notJudged(`ISS-${i}`));
  const r = buildCertifyReport(runLog(checks, { allowIncomplete: true }));
  t.like(r, { verdict: "pass", exitCode: 0 });
  const said = "PASS (exit status 0), incomplete: 55 checks not judged (allowed by --allow-incomplete)";
  const html = certifyHtml(r);
  t.true(html.includes(`<p class="verdict v-incomplete">${said}</p>`));
  t.notRegex(html, /class="verdict v-pass"/);
  t.true(certifyMarkdown(r).includes(`Verdict: **${said}**: 55 checks:`));
  t.is(certifySummaryText(r).split("\n")[0], `my-ca: ${said}`);
  t.regex(certifyJUnit(r), /<property name="verdict" value="pass"\/>\n\s*<property name="exit-code" value="0"\/>\n\s*<property name="incomplete" value="55"\/>/);
  t.is(readJUnit(t, r).status, "PASS");
  // one: singular; nothing not judged: a plain green pass, incomplete 0
  t.is(certifySummaryText(buildCertifyReport(runLog([notJudged("ISS-A")], { allowIncomplete: true }))).split("\n")[0], "my-ca: PASS (exit status 0), incomplete: 1 check not judged (allowed by --allow-incomplete)");
  const clean = buildCertifyReport(runLog([judged("ISS-A", "MUST", "pass")]));
  t.regex(certifyHtml(clean), /<p class="verdict v-pass">PASS \(exit status 0\)<\/p>/);
  t.regex(certifyJUnit(clean), /<property name="incomplete" value="0"\/>/);
  // not allowed: incomplete counts the checks not judged too
  t.regex(certifyJUnit(buildCertifyReport(runLog([notJudged("ISS-A"), notJudged("ISS-B")]))), /<property name="incomplete" value="2"\/>/);
});

/** Markdown with code spans and fenced blocks taken out: what GitHub would read as markup. */
function outsideCode(md: string): string {
  return md.replace(/^(`{3,})[^\n]*\n[\s\S]*?\n\1$/gm, "").replace(/(?<![\\`])(`+)(?!`)[\s\S]*?(?<!`)\1(?!`)/g, "");
}

test("Markdown: text the CA controls cannot inject HTML, links, emphasis or structure into a step summary", (t) => {
  const hostile = "<h1>PASS</h1> [click](https://evil.example) ![x](https://evil.example/i.png) **all good** _yes_ `code` ~~no~~ | cell\n## Fake & <b>";
  const r = buildCertifyReport(
    runLog(
      [
        judged("ISS-A", "MUST", "fail", { message: hostile, fix: "<script>x</script>" }),
        judged("REN-B", "SHOULD", "fail", { message: hostile, madeBy: "adapter", producedBy: [{ artefact: "renewal", by: "adapter", how: "`x` </code><img src=y>" }] }),
        notJudged("REV-C", { message: hostile }),
        judged("CRL-D", "MUST", "pass", { message: hostile, evidence: { "# Heading": "-----BEGIN X509 CRL-----\nAA==\n-----END X509 CRL-----\n" } }),
      ],
      {},
      {
        metaWith: {
          identity: { software: "<img src=x onerror=alert(1)>", version: "[PASS](https://evil.example)", url: URL_GIVEN },
          provenance: { "<b>crl</b>": { by: "adapter", how: "``openssl`` | </code><img src=z>", note: "*made* [here](https://evil.example) <i>" } },
        },
      },
    ),
  );
  const md = certifyMarkdown(r);
  // the exact escaped forms
  t.true(md.includes("| CA software | &lt;img src=x onerror=alert(1)&gt; |"));
  t.true(md.includes("| CA version | \\[PASS\\](https://evil.example) |"));
  const escaped = "&lt;h1&gt;PASS&lt;/h1&gt; \\[click\\](https://evil.example) !\\[x\\](https://evil.example/i.png) \\*\\*all good\\*\\* \\_yes\\_ \\`code\\` \\~\\~no\\~\\~ \\| cell ## Fake &amp; &lt;b&gt;";
  t.true(md.includes(`- **ISS-A** (MUST, RFC 5280 5.1): ${escaped} Fix: &lt;script&gt;x&lt;/script&gt;`));
  t.true(md.includes(`| CRL-D | MUST | PASS | title of CRL-D | RFC 5280 5.1 | ${escaped} |`));
  t.true(md.includes("| &lt;b&gt;crl&lt;/b&gt; | adapter | ``` ``openssl`` \\| </code><img src=z> ``` | \\*made\\* \\[here\\](https://evil.example) &lt;i&gt; |"), "the command in a code span, whole");
  t.true(md.includes("\\# Heading:\n\n```\n-----BEGIN X509 CRL-----"), "an evidence key cannot make a heading");
  // and in general: outside code spans and fences, no tag, no link or image, no emphasis, no extra heading or table row
  const markup = outsideCode(md);
  t.notRegex(markup, /</, "no raw HTML at all");
  t.notRegex(markup, /(?<!\\)\[[^\]\n]*(?<!\\)\]\(/, "no link or image");
  // cardloop's own bold (the check IDs, the verdict) taken out, no * _ ~ is left unescaped
  const ours = markup.replace(/^- \*\*[A-Z]+-[A-Z]\*\* /gm, "").replace(/^Verdict: \*\*FAIL \(exit status 1\)\*\*/m, "");
  t.notRegex(ours, /(?<!\\)[*_~]/, "no emphasis or strikethrough from the run log");
  t.deepEqual([...md.matchAll(/^#{1,6} (.*)$/gm)].map((m) => m[1]), [
    "cardloop certify: my-ca",
    "What this CA gets wrong",
    "Warnings",
    "Not judged (not CA defects)",
    "Provenance",
    "All checks",
    "Evidence",
    "CRL-D",
  ]);
  const table = md.slice(md.indexOf("## All checks"), md.indexOf("## Evidence")).trim().split("\n").slice(2);
  t.is(table.length, 2 + 4, "a header, a rule and one row per check");
  for (const row of table) t.is(row.split(/(?<!\\)\|/).length, 8, row);
});

test("evidence: a decimal string (a CRL number) is not hex; digits alone are hex only as 8 or more whole bytes; a-f or 0x is hex", (t) => {
  for (const v of ["13", "42", "2026", "123456789012345", "12345678901234567", "12:30:45", "00"]) t.false(isHex(v), v);
  for (const v of ["0A1B2C3D", "ab", "0x13", "1234567890123456", "01:02:03:04:05:06:07:08", "0a:1b"]) t.true(isHex(v), v);
  t.deepEqual(evidenceParts({ crlNumber: "13" }), [{ key: "crlNumber", kind: "json", text: '"13"', value: "13" }]);
  const md = certifyMarkdown(buildCertifyReport(runLog([judged("CRL-NUMBER", "MUST", "fail", { evidence: { crlNumber: "13", serial: "0A1B2C3D" } })])));
  t.false(md.includes("- crlNumber: `13`"));
  t.true(md.includes('"crlNumber": "13"'));
  t.true(md.includes("- serial: `0A1B2C3D`"));
});

test("propagation evidence: p50, p95, the judged percentile and max reach every format", (t) => {
  const evidence = { samples: 20, percentile: 99, judged: "p99", delayMs: 900, p50Ms: 120, p95Ms: 700, p99Ms: 900, maxMs: 900, delaysMs: [120, 900] };
  const r = buildCertifyReport(runLog([judged("PROP-CRL", "MUST", "fail", { message: "p99 900 ms over 20 revocations, over the 500 ms threshold", evidence })]));
  const formats = { junit: certifyJUnit(r), json: certifyJson(r), markdown: certifyMarkdown(r), html: certifyHtml(r) };
  for (const [name, text] of Object.entries(formats)) {
    for (const figure of ["p50Ms", "p95Ms", "p99Ms", "maxMs"]) t.true(text.includes(figure), `${name} shows ${figure}`);
  }
});

test("an adapter that declares no provenance is said to, in HTML, Markdown and the closing lines; an older log without provenance says nothing either way", (t) => {
  const said = "provenance: not declared by the adapter (every artefact is taken as the CA's own)";
  const r = buildCertifyReport(runLog([judged("ISS-A", "MUST", "pass")], {}, { metaWith: { provenance: {} } }));
  t.is(r.provenance.artefactsDeclared, false);
  t.true(certifyHtml(r).includes(`<p class="undeclared">${escapeHtml(said)}</p>`));
  t.notRegex(certifyHtml(r), /How each artefact was produced/);
  t.true(certifyMarkdown(r).includes(`\n**${said}**\n`));
  t.is(certifySummaryText(r).split("\n")[2], said);
  const declared = buildCertifyReport(runLog([judged("ISS-A", "MUST", "pass")]));
  t.is(declared.provenance.artefactsDeclared, true);
  const older = buildCertifyReport(runLog([judged("ISS-A", "MUST", "pass")], {}, { meta: { ca: "old" } }));
  t.is(older.provenance.artefactsDeclared, undefined);
  for (const x of [declared, older]) {
    for (const text of [certifyHtml(x), certifyMarkdown(x), certifySummaryText(x)]) t.false(text.includes("not declared by the adapter"));
  }
});
