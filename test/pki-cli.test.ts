import test from "ava";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { KU, buildCert, buildCrl, buildOcsp, name, newKey } from "../pki/testing/builder.js";
import { SystemClock, UsageError } from "../core/index.js";
import { parseBatchLine, parseIsoTime } from "../cli/validate.js";

/** `cardloop validate`: exit 0 valid, 1 invalid (reason code printed), 2 unreadable input or usage; PEM or DER; --batch JSONL. */

const DAY = 86_400_000;
const NOW = Date.UTC(2031, 5, 1);
const AT = new Date(NOW).toISOString();
const dir = mkdtempSync(join(tmpdir(), "pki-cli-"));
const f = (n: string) => join(dir, n);
const pem = (label: string, der: Uint8Array) => `-----BEGIN ${label}-----\n${Buffer.from(der).toString("base64").replace(/(.{64})/g, "$1\n")}\n-----END ${label}-----\n`;

{
  const rootKey = newKey("p256");
  const caKey = newKey("p256");
  const rootName = name(["CN", "CLI Root"]);
  const caName = name(["CN", "CLI CA"]);
  const root = buildCert({ serial: 1, issuer: rootName, subject: rootName, notBefore: NOW - 900 * DAY, notAfter: NOW + 900 * DAY, subjectKey: rootKey, issuerKey: rootKey, ca: true, keyUsage: KU.keyCertSign | KU.cRLSign });
  const ca = buildCert({ serial: 2, issuer: rootName, subject: caName, notBefore: NOW - 800 * DAY, notAfter: NOW + 800 * DAY, subjectKey: caKey, issuerKey: rootKey, ca: true, keyUsage: KU.keyCertSign | KU.cRLSign });
  const leaf = (serial: number) => buildCert({ serial, issuer: caName, subject: name(["CN", `holder ${serial}`]), notBefore: NOW - 10 * DAY, notAfter: NOW + 10 * DAY, subjectKey: newKey("p256"), issuerKey: caKey, keyUsage: KU.nonRepudiation });
  writeFileSync(f("root.der"), root);
  writeFileSync(f("ca.pem"), pem("CERTIFICATE", ca));
  writeFileSync(f("good.pem"), pem("CERTIFICATE", leaf(10)));
  writeFileSync(f("revoked.der"), leaf(11));
  writeFileSync(f("root.crl"), buildCrl({ issuer: rootName, issuerKey: rootKey, thisUpdate: NOW - DAY, nextUpdate: NOW + DAY, entries: [] }));
  writeFileSync(f("ca.crl.pem"), pem("X509 CRL", buildCrl({ issuer: caName, issuerKey: caKey, thisUpdate: NOW - DAY, nextUpdate: NOW + DAY, entries: [{ serial: 11, date: NOW - 2 * DAY, reason: 1 }] })));
  writeFileSync(f("good.ocsp"), buildOcsp({ responderName: caName, signer: caKey, producedAt: NOW, responses: [{ issuerName: caName, issuerKey: caKey, serial: 10, status: "good", thisUpdate: NOW - 3600_000, nextUpdate: NOW + DAY }] }));
  writeFileSync(f("good.ocsp.pem"), pem("OCSP RESPONSE", new Uint8Array(readFileSync(f("good.ocsp")))));
  writeFileSync(f("garbage.pem"), "hello\n");
  writeFileSync(f("ok.jsonl"), [{ id: "a", leaf: "good.pem", intermediates: ["ca.pem"], anchors: ["root.der"], crls: ["root.crl", "ca.crl.pem"], at: AT }].map((x) => JSON.stringify(x)).join("\n") + "\n");
  writeFileSync(
    f("mixed.jsonl"),
    [
      JSON.stringify({ id: "good", leaf: "good.pem", intermediates: ["ca.pem"], anchors: ["root.der"], crls: ["root.crl", "ca.crl.pem"], at: AT, usage: "signature" }),
      JSON.stringify({ id: "revoked", leaf: "revoked.der", intermediates: "ca.pem", anchors: "root.der", crls: ["root.crl", "ca.crl.pem"], at: AT }),
      "{not json",
      JSON.stringify({ id: "missing", leaf: "nope.pem", anchors: ["root.der"], at: AT }),
      JSON.stringify({ id: "auth", leaf: "good.pem", intermediates: ["ca.pem"], anchors: ["root.der"], at: AT, usage: "authentication" }),
      // mistakes that must not turn into a verdict: a misspelt field, impossible or zone-less times, wrong types
      JSON.stringify({ id: "typo", leaf: "good.pem", intermediate: ["ca.pem"], anchors: ["root.der"], at: AT }),
      JSON.stringify({ id: "feb30", leaf: "good.pem", intermediates: ["ca.pem"], anchors: ["root.der"], at: "2031-02-30T00:00:00Z" }),
      JSON.stringify({ id: "local", leaf: "good.pem", intermediates: ["ca.pem"], anchors: ["root.der"], at: "2031-06-01T00:00:00" }),
      JSON.stringify({ id: "numeric-at", leaf: "good.pem", intermediates: ["ca.pem"], anchors: ["root.der"], at: NOW }),
      JSON.stringify({ id: "date-only", leaf: "good.pem", intermediates: ["ca.pem"], anchors: ["root.der"], at: AT.slice(0, 10), usage: "signature" }),
    ].join("\n") + "\n",
  );
}

const bin = new URL("../bin/cardloop.js", import.meta.url).pathname;
function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, "validate", ...args], { cwd: dir }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

const chain = ["--intermediate", f("ca.pem"), "--anchor", f("root.der"), "--crl", f("root.crl"), "--crl", f("ca.crl.pem"), "--at", AT];

test("valid (PEM leaf, DER anchor, PEM and DER CRLs): exit 0", async (t) => {
  const r = await cli(f("good.pem"), ...chain, "--usage", "signature");
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^valid\n/);
  t.regex(r.stdout, /CN=CLI Root/);
});

test("revoked: exit 1 with the reason code, also as JSON", async (t) => {
  const [text, json] = await Promise.all([cli(f("revoked.der"), ...chain), cli(f("revoked.der"), ...chain, "--json")]);
  t.is(text.code, 1);
  t.regex(text.stdout, /^invalid: revoked at position 0: /);
  t.is(json.code, 1);
  const j = JSON.parse(json.stdout);
  t.like(j, { valid: false, code: "revoked", position: 0, revocation: { reason: "keyCompromise", source: "crl" } });
});

test("OCSP response instead of the CA's CRL, DER or PEM", async (t) => {
  const args = (ocsp: string) => [f("good.pem"), "--intermediate", f("ca.pem"), "--anchor", f("root.der"), "--crl", f("root.crl"), "--ocsp-response", f(ocsp), "--at", AT, "--json"];
  for (const r of await Promise.all([cli(...args("good.ocsp")), cli(...args("good.ocsp.pem"))])) {
    t.is(r.code, 0, r.stdout + r.stderr);
    t.true(JSON.parse(r.stdout).valid);
  }
});

test("unreadable input and usage errors: exit 2 with one line on stderr", async (t) => {
  const rs = await Promise.all([
    cli(f("nope.pem"), "--anchor", f("root.der")),
    cli(f("garbage.pem"), "--anchor", f("root.der")),
    cli(f("good.pem"), "--anchor", f("root.der"), "--usage", "encryption"),
    cli(f("good.pem")),
    cli(f("good.pem"), "--anchor", f("root.der"), "--at", "yesterday"),
  ]);
  for (const r of rs) {
    t.is(r.code, 2, r.stderr);
    t.is(r.stderr.trim().split("\n").length, 1, r.stderr);
    t.is(r.stdout, "");
  }
});

test("--batch: one JSON line per case, in order; exit 0 when all valid, 2 when a line is unusable", async (t) => {
  const [ok, mixed] = await Promise.all([cli("--batch", f("ok.jsonl")), cli("--batch", f("mixed.jsonl"))]);
  t.is(ok.code, 0, ok.stderr);
  t.deepEqual(JSON.parse(ok.stdout), { id: "a", valid: true, code: null, detail: null, path: ["CN=holder 10", "CN=CLI CA", "CN=CLI Root"] });
  t.is(mixed.code, 2);
  const lines = mixed.stdout.trim().split("\n").map((l) => JSON.parse(l));
  t.deepEqual(
    lines.map((l) => [l.id, l.valid, l.code]),
    [
      ["good", true, null],
      ["revoked", false, "revoked"],
      [3, false, "input-error"],
      ["missing", false, "input-error"],
      ["auth", false, "key-usage"],
      ["typo", false, "input-error"],
      ["feb30", false, "input-error"],
      ["local", false, "input-error"],
      ["numeric-at", false, "input-error"],
      ["date-only", true, null],
    ],
  );
  t.regex(lines[5].detail, /unknown field "intermediate"/);
});

test("--batch lines, fuzzed: a case with every field typed, or a one-line UsageError", (t) => {
  const clock = new SystemClock();
  const field = fc.constantFrom("id", "leaf", "intermediates", "anchors", "crls", "ocspResponses", "at", "usage", "revocation", "intermediate", "x");
  const value = fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.array(fc.string({ maxLength: 6 }), { maxLength: 3 }),
    fc.constantFrom("authentication", "signature", "require", "2031-06-01", "2031-06-01T00:00:00Z", "2031-13-01"),
    fc.jsonValue({ maxDepth: 2 }),
  );
  const lineArb = fc.oneof(
    fc.dictionary(field, value, { maxKeys: 9 }).map((o) => JSON.stringify(o)),
    fc.string({ maxLength: 40 }),
    fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v) ?? "null"),
  );
  let parsed = 0;
  let refused = 0;
  fc.assert(
    fc.property(lineArb, (line) => {
      try {
        const { id, case: c } = parseBatchLine(line, 7, "/base", clock);
        parsed++;
        const paths = [c.leaf, ...c.intermediates, ...c.anchors, ...c.crls, ...c.ocspResponses];
        return (typeof id === "string" || typeof id === "number") && paths.every((p) => p.startsWith("/")) && Number.isFinite(c.time);
      } catch (err) {
        refused++;
        return err instanceof UsageError && /^line 7: (?!line)/.test(err.message) && !err.message.includes("\n");
      }
    }),
    { numRuns: 5000 },
  );
  t.true(parsed > 0 && refused > 0, `${parsed} parsed, ${refused} refused`);
  t.is(parseBatchLine('\uFEFF{"leaf":"a.pem"}', 1, "/base", clock).case.leaf, "/base/a.pem", "a BOM on the first line is not an error");
  t.is(parseIsoTime("2031-06-01"), Date.UTC(2031, 5, 1));
  t.is(parseIsoTime("2031-06-01T12:30:00+02:00"), Date.UTC(2031, 5, 1, 10, 30));
  for (const bad of ["2031-02-29", "2031-06-01T24:00:00Z", "2031-06-01T12:00:00", "yesterday", "2031-6-1", ""]) t.is(parseIsoTime(bad), undefined, bad);
});
