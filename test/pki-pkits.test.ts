import test from "ava";
import { existsSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { Validator } from "../pki/index.js";
import { codeAt, explain } from "../pki/testing/assertions.js";
import { type PkitsCase, certPath, crlPath, expectedPolicySet, initialInputs, pkits as suite, policySet, validatePkits } from "../pki/testing/pkits.js";
import { tempDir } from "../harness/processes.js";
import { runCardloop } from "./support/pki-tools.js";

/**
 * NIST PKITS 1.0.1, all of sections 4.1-4.16 (249 cases), through the API and through
 * `cardloop validate --batch` with the settings of each case (RFC 5280 6.1.1 initial
 * inputs) as batch fields; where a case states the user-constrained policy set, exactly
 * that set (order-free).
 */

/** Case numbers repeat across subparts (4.8.1 has four): a label that is unique. */
const labels: string[] = [];
{
  const seen = new Map<string, number>();
  for (const c of suite.cases) {
    const k = (seen.get(c.number) ?? 0) + 1;
    seen.set(c.number, k);
    labels.push(k === 1 ? c.number : `${c.number}#${k}`);
  }
}
const section = (label: string) => label.split(".").slice(0, 2).join(".");

const sorted = (xs: readonly string[]) => [...xs].sort();

/** What is wrong with one result, or undefined: the verdict, then the stated policy set. */
function mismatch(c: PkitsCase, valid: boolean, set: readonly string[] | undefined, why: string): string | undefined {
  if (valid !== c.shouldValidate) return valid ? "valid, expected invalid" : `invalid (${why}), expected valid`;
  const stated = expectedPolicySet(c);
  if (valid && stated !== undefined) {
    const want = sorted(stated);
    if (JSON.stringify(sorted(set ?? [])) !== JSON.stringify(want)) return `userConstrainedPolicySet ${JSON.stringify(sorted(set ?? []))}, expected ${JSON.stringify(want)}`;
  }
  return undefined;
}

test("PKITS has the 249 cases of 4.1-4.16, their settings mapped to OIDs", (t) => {
  t.is(suite.cases.length, 249);
  t.deepEqual([...new Set(suite.cases.map((c) => section(c.number)))], Array.from({ length: 16 }, (_, i) => `4.${i + 1}`));
  t.is(suite.cases.filter((c) => /^4\.[1-7]\./.test(c.number)).length, 76);
  t.is(new Set(labels).size, 249);
  t.deepEqual(policySet("NIST-test-policy-1,NIST-test-policy-2"), ["2.16.840.1.101.3.2.1.48.1", "2.16.840.1.101.3.2.1.48.2"]);
  t.deepEqual(policySet("anyPolicy"), ["2.5.29.32.0"]);
  t.deepEqual(policySet(""), []);
  // Every policy name in the suite maps (policyOid throws on any other), and an invalid case never states a non-empty set.
  for (const c of suite.cases) {
    if (c.settings.initialPolicySet !== undefined) t.true(policySet(c.settings.initialPolicySet).length > 0, labels[suite.cases.indexOf(c)]);
    if (!c.shouldValidate && c.settings.userConstrainedPolicySet !== undefined) t.is(c.settings.userConstrainedPolicySet, "");
  }
  t.is(suite.cases.filter((c) => c.settings.userConstrainedPolicySet !== undefined).length, 57);
});

const v = new Validator();
/** First is the trust anchor, last the end entity; everything between is an intermediate pool. */
const viaApi = (c: PkitsCase) => validatePkits(v, c);

test("PKITS 4.1-4.16 through the API: every case gives its expected result and stated policy set", (t) => {
  const wrong: string[] = [];
  suite.cases.forEach((c, i) => {
    let m: string | undefined;
    try {
      const r = viaApi(c);
      m = mismatch(c, r.valid, r.valid ? r.userConstrainedPolicySet : undefined, explain(r));
    } catch (err) {
      m = `threw ${(err as Error).message}`;
    }
    if (m) wrong.push(`${labels[i]} ${c.title.trim()}: ${m}`);
  });
  t.deepEqual(wrong, []);
});

test("PKITS reason codes are the precise ones", (t) => {
  const codeOf = (label: string) => codeAt(viaApi(suite.cases[labels.indexOf(label)]));
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
  // Policies: the CA maps anyPolicy to NIST-test-policy-1 (6.1.4 (a)).
  t.is(codeOf("4.10.7"), "policy-mapping-any@1");
  // Name constraints: the leaf's subject outside the CA's permitted DN subtree; inside its excluded one.
  t.is(codeOf("4.13.2"), "name-not-permitted@0");
  t.is(codeOf("4.13.7"), "name-excluded@0");
  // Distribution points: the CRL whose issuingDistributionPoint matches the leaf's lists it;
  // no CRL has the distribution point of the other leaf's.
  t.is(codeOf("4.14.2"), "revoked@0");
  t.is(codeOf("4.14.3"), "crl-missing@0");
  // onlySomeReasons: the two CRLs cover four reasons between them, not keyCompromise.
  t.is(codeOf("4.14.17"), "crl-reasons-incomplete@0");
  // Delta CRL: serial 03 is on the delta only (keyCompromise), not on its complete CRL.
  t.is(codeOf("4.15.4"), "revoked@0");
});

/** Temporary directories the tests made: each goes when its test ends (harness/processes.ts tempDir). */
const made: string[] = [];
test.after.always("no temporary directory outlives its test", (t) => {
  for (const d of made) t.false(existsSync(d), d); // none when a filtered run skipped the --batch test
});

test("PKITS 4.1-4.16 through `cardloop validate --batch` in one process, with the settings as fields", async (t) => {
  const dir = tempDir(t, "pkits-batch");
  made.push(dir);
  const file = join(dir, "cases.jsonl");
  const rel = (p: string) => relative(dir, p);
  const lines = suite.cases.map((c, i) =>
    JSON.stringify({
      id: labels[i],
      leaf: rel(certPath(c.certs[c.certs.length - 1])),
      anchors: [rel(certPath(c.certs[0]))],
      intermediates: c.certs.slice(1, -1).map((n) => rel(certPath(n))),
      crls: c.crls.map((n) => rel(crlPath(n))),
      at: suite.validationTimeText,
      ...initialInputs(c.settings),
    }),
  );
  t.true(lines.some((l) => l.includes('"initialPolicyMappingInhibit":true')) && lines.some((l) => l.includes('"initialInhibitAnyPolicy":true')));
  writeFileSync(file, lines.join("\n") + "\n");
  const r = await runCardloop(t, ["validate", "--batch", file]);
  t.is(r.code, 1, `some PKITS cases are invalid, so the batch exits 1 (no line is an input error): ${r.stderr}`);
  const results = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { id: string; valid: boolean; code: string | null; userConstrainedPolicySet?: string[] });
  t.is(results.length, 249);
  const wrong: string[] = [];
  suite.cases.forEach((c, i) => {
    const x = results[i];
    const m = x.id !== labels[i] ? `id ${x.id}` : mismatch(c, x.valid, x.userConstrainedPolicySet, x.code ?? "");
    if (m) wrong.push(`${labels[i]}: ${m}`);
  });
  t.deepEqual(wrong, []);
  t.true(results.filter((x) => !x.valid).every((x) => typeof x.code === "string" && x.code !== "input-error"));
  t.true(results.filter((x) => x.valid).every((x) => Array.isArray(x.userConstrainedPolicySet)));
});
