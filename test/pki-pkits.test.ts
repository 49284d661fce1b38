import test from "ava";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { Validator } from "../pki/index.js";

/** NIST PKITS 1.0.1 sections 4.1-4.7 (76 cases), through the API and through `cardloop validate --batch`. */

// The whole suite (4.1-4.16) is in the repository; this validator covers 4.1-4.7 so far (issue #12 takes the rest).
const DIR = new URL("../pki/testdata/pkits/", import.meta.url).pathname;
interface PkitsCase {
  number: string;
  title: string;
  certs: string[];
  crls: string[];
  shouldValidate: boolean;
}
const all = JSON.parse(readFileSync(join(DIR, "pkits.json"), "utf8")) as { validationTime: string; cases: PkitsCase[] };
const suite = { ...all, cases: all.cases.filter((c) => /^4\.[1-7]\./.test(c.number)) };
const time = Date.parse(suite.validationTime);
const certPath = (n: string) => join(DIR, "certs", `${n}.crt`);
const crlPath = (n: string) => join(DIR, "crls", `${n}.crl`);

test("PKITS has the 249 cases of 4.1-4.16, 76 of them in sections 4.1-4.7", (t) => {
  t.is(all.cases.length, 249);
  t.is(suite.cases.length, 76);
  t.true(suite.cases.every((c) => /^4\.[1-7]\./.test(c.number)));
});

test("PKITS 4.1-4.7 through the API: every case gives its expected result", (t) => {
  const v = new Validator();
  const wrong: string[] = [];
  for (const c of suite.cases) {
    const certs = c.certs.map((n) => new Uint8Array(readFileSync(certPath(n))));
    const crls = c.crls.map((n) => new Uint8Array(readFileSync(crlPath(n))));
    // First is the trust anchor, last the end entity; everything between is an intermediate pool.
    const r = v.validate(certs[certs.length - 1], { anchors: [certs[0]], intermediates: certs.slice(1, -1), crls, time });
    if (r.valid !== c.shouldValidate) wrong.push(`${c.number} ${c.title.trim()}: ${r.valid ? "valid" : `${r.code}: ${r.detail}`}`);
  }
  t.deepEqual(wrong, []);
});

test("PKITS reason codes are the precise ones", (t) => {
  const v = new Validator();
  const codeOf = (num: string) => {
    const c = suite.cases.find((x) => x.number === num)!;
    const certs = c.certs.map((n) => new Uint8Array(readFileSync(certPath(n))));
    const r = v.validate(certs[certs.length - 1], { anchors: [certs[0]], intermediates: certs.slice(1, -1), crls: c.crls.map((n) => new Uint8Array(readFileSync(crlPath(n)))), time });
    return r.valid ? "valid" : `${r.code}@${r.position}`;
  };
  t.is(codeOf("4.1.2"), "bad-signature@1");
  t.is(codeOf("4.1.3"), "bad-signature@0");
  t.is(codeOf("4.2.1"), "not-yet-valid@1");
  t.is(codeOf("4.2.6"), "expired@0");
  t.is(codeOf("4.3.1"), "unknown-issuer@0");
  t.is(codeOf("4.4.1"), "crl-missing@0");
  t.is(codeOf("4.4.2"), "revoked@1");
  t.is(codeOf("4.4.3"), "revoked@0");
  t.is(codeOf("4.4.4"), "crl-bad-signature@0");
  t.is(codeOf("4.4.8"), "crl-unknown-critical-extension@0");
  t.is(codeOf("4.4.11"), "crl-expired@0");
  t.is(codeOf("4.6.2"), "basic-constraints@1");
  t.is(codeOf("4.6.5"), "path-length@1");
  t.is(codeOf("4.7.1"), "key-usage@1");
  t.is(codeOf("4.7.4"), "crl-issuer-key-usage@0");
});

test("PKITS 4.1-4.7 through `cardloop validate --batch` in one process", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "pkits-batch-"));
  const file = join(dir, "cases.jsonl");
  const rel = (p: string) => relative(dir, p);
  const lines = suite.cases.map((c) =>
    JSON.stringify({
      id: c.number,
      leaf: rel(certPath(c.certs[c.certs.length - 1])),
      anchors: [rel(certPath(c.certs[0]))],
      intermediates: c.certs.slice(1, -1).map((n) => rel(certPath(n))),
      crls: c.crls.map((n) => rel(crlPath(n))),
      at: suite.validationTime,
    }),
  );
  writeFileSync(file, lines.join("\n") + "\n");
  const bin = new URL("../bin/cardloop.js", import.meta.url).pathname;
  const r = await promisify(execFile)(process.execPath, [bin, "validate", "--batch", file]).then(
    (ok) => ({ code: 0, stdout: ok.stdout }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );
  t.is(r.code, 1, "some PKITS cases are invalid, so the batch exits 1");
  const results = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { id: string; valid: boolean; code: string | null });
  t.is(results.length, 76);
  const wrong = suite.cases.filter((c, i) => results[i].id !== c.number || results[i].valid !== c.shouldValidate).map((c) => c.number);
  t.deepEqual(wrong, []);
  t.true(results.filter((x) => !x.valid).every((x) => typeof x.code === "string"));
});
