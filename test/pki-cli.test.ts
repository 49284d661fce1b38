import test, { type ExecutionContext } from "ava";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { certPath, crlPath } from "../pki/testing/pkits.js";
import { SystemClock, UsageError } from "../core/index.js";
import { Command } from "commander";
import { parseBatchLine, parseIsoTime, register } from "../cli/validate.js";
import { tempDir } from "../harness/processes.js";
import { fileOwner, runCardloop } from "./support/pki-tools.js";
import { AT, CLIENT_AUTH, P1, P2, writeValidateFixtures } from "./support/pki-cli-fixtures.js";

/**
 * `cardloop validate`: exit 0 valid, 1 invalid (reason code printed), 2 unreadable input or usage; PEM or DER; --batch JSONL;
 * the RFC 5280 6.1.1 initial inputs, --eku, the anchor's constraints, the profile and delta CRLs as options and batch fields.
 */

// The fixtures every test reads, written once; the directory goes after the file's last test.
const fixtures = fileOwner(test);
const dir = tempDir(fixtures, "pki-cli");
const f = (n: string) => join(dir, n);
test.after.always("the fixtures' directory is gone after the last test", async (t) => {
  await fixtures.ended;
  t.false(existsSync(dir), dir);
});

writeValidateFixtures(dir);

/** `cardloop validate ARGS` in the fixtures' directory, in a process group the test owns. */
const cli = (t: ExecutionContext, ...args: string[]) => runCardloop(t, ["validate", ...args], { cwd: dir });

const chain = ["--intermediate", f("ca.pem"), "--anchor", f("root.der"), "--crl", f("root.crl"), "--crl", f("ca.crl.pem"), "--at", AT];

test("valid (PEM leaf, DER anchor, PEM and DER CRLs): exit 0", async (t) => {
  const r = await cli(t, f("good.pem"), ...chain, "--usage", "signature");
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^valid\n/);
  t.regex(r.stdout, /CN=CLI Root/);
});

test("revoked: exit 1 with the reason code, also as JSON", async (t) => {
  const [text, json] = await Promise.all([cli(t, f("revoked.der"), ...chain), cli(t, f("revoked.der"), ...chain, "--json")]);
  t.is(text.code, 1);
  t.regex(text.stdout, /^invalid: revoked at position 0: /);
  t.is(json.code, 1);
  const j = JSON.parse(json.stdout);
  t.like(j, { valid: false, code: "revoked", position: 0, revocation: { reason: "keyCompromise", source: "crl" } });
});

test("OCSP response instead of the CA's CRL, DER or PEM", async (t) => {
  const args = (ocsp: string) => [f("good.pem"), "--intermediate", f("ca.pem"), "--anchor", f("root.der"), "--crl", f("root.crl"), "--ocsp-response", f(ocsp), "--at", AT, "--json"];
  for (const r of await Promise.all([cli(t, ...args("good.ocsp")), cli(t, ...args("good.ocsp.pem"))])) {
    t.is(r.code, 0, r.stdout + r.stderr);
    t.true(JSON.parse(r.stdout).valid);
  }
});

test("unreadable input and usage errors: exit 2 with one line on stderr", async (t) => {
  const rs = await Promise.all([
    cli(t, f("nope.pem"), "--anchor", f("root.der")),
    cli(t, f("garbage.pem"), "--anchor", f("root.der")),
    cli(t, f("good.pem"), "--anchor", f("root.der"), "--usage", "encryption"),
    cli(t, f("good.pem")),
    cli(t, f("good.pem"), "--anchor", f("root.der"), "--at", "yesterday"),
  ]);
  for (const r of rs) {
    t.is(r.code, 2, r.stderr);
    t.is(r.stderr.trim().split("\n").length, 1, r.stderr);
    t.is(r.stdout, "");
  }
});

test("--batch: one JSON line per case, in order; exit 0 when all valid, 2 when a line is unusable", async (t) => {
  const [ok, mixed] = await Promise.all([cli(t, "--batch", f("ok.jsonl")), cli(t, "--batch", f("mixed.jsonl"))]);
  t.is(ok.code, 0, ok.stderr);
  // No certificate on the path has policies: the valid policy tree is empty (RFC 5280 6.1.3 (e)), and so is the set.
  t.deepEqual(JSON.parse(ok.stdout), { id: "a", valid: true, code: null, detail: null, path: ["CN=holder 10", "CN=CLI CA", "CN=CLI Root"], userConstrainedPolicySet: [] });
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

const polChain = [f("pol-leaf.pem"), "--intermediate", f("pol-ca.pem"), "--anchor", f("pol-root.pem"), "--at", AT];

test("--policy, --explicit-policy: userConstrainedPolicySet in --json, a line of text when it is not just anyPolicy", async (t) => {
  const [dflt, any, both, p2, p2explicit, text, textNone] = await Promise.all([
    cli(t, ...polChain, "--json"),
    cli(t, ...polChain, "--json", "--policy", "anyPolicy", "--inhibit-policy-mapping"),
    cli(t, ...polChain, "--json", "--policy", P2, "--policy", P1),
    cli(t, ...polChain, "--json", "--policy", P2),
    cli(t, ...polChain, "--json", "--policy", P2, "--explicit-policy"),
    cli(t, ...polChain, "--policy", P1),
    cli(t, ...polChain, "--policy", P2),
  ]);
  for (const r of [dflt, any, both, p2]) t.is(r.code, 0, r.stdout + r.stderr);
  // The CA allows P1 and P2, the leaf asserts P1: the path is valid for P1 (RFC 5280 6.1.6 (g)).
  t.deepEqual(JSON.parse(dflt.stdout).userConstrainedPolicySet, [P1]);
  t.deepEqual(JSON.parse(any.stdout).userConstrainedPolicySet, [P1]);
  t.deepEqual(JSON.parse(both.stdout).userConstrainedPolicySet, [P1]);
  // P2 only: no acceptable policy, still valid without an explicit policy required...
  t.deepEqual(JSON.parse(p2.stdout).userConstrainedPolicySet, []);
  // ...and invalid with one.
  t.is(p2explicit.code, 1);
  t.like(JSON.parse(p2explicit.stdout), { valid: false, code: "no-valid-policy" });
  t.is(text.code, 0);
  t.regex(text.stdout, new RegExp(`^valid\\n(  .*\\n){3}  user-constrained policy set: ${P1.replaceAll(".", "\\.")}\\n$`));
  t.is(textNone.code, 0);
  t.regex(textNone.stdout, /\n {2}user-constrained policy set: \(none\)\n$/);
  // anyPolicy alone is the unconstrained default, not worth a line; no policy at all is (RFC 5280 6.1.3 (d)-(e)).
  const [anyText, plain, anyJson] = await Promise.all([
    cli(t, f("any-leaf.pem"), "--intermediate", f("any-ca.pem"), "--anchor", f("pol-root.pem"), "--at", AT),
    cli(t, f("good.pem"), ...chain),
    cli(t, f("any-leaf.pem"), "--intermediate", f("any-ca.pem"), "--anchor", f("pol-root.pem"), "--at", AT, "--json", "--policy", P1),
  ]);
  t.is(anyText.code, 0, anyText.stdout);
  t.notRegex(anyText.stdout, /policy/);
  t.regex(plain.stdout, /\n {2}user-constrained policy set: \(none\)\n$/);
  // anyPolicy at the leaf's depth matches any policy the user accepts (6.1.6 (g) (iii)).
  t.deepEqual(JSON.parse(anyJson.stdout).userConstrainedPolicySet, [P1]);
});

test("--eku: refused when the leaf's extendedKeyUsage lacks it; names and OIDs", async (t) => {
  const [server, client, clientOid, logon, any] = await Promise.all([
    cli(t, ...polChain, "--json", "--eku", "serverAuth"),
    cli(t, ...polChain, "--json", "--eku", "clientAuth"),
    cli(t, ...polChain, "--json", "--eku", CLIENT_AUTH, "--eku", "clientAuth"),
    cli(t, ...polChain, "--eku", "smartCardLogon"),
    cli(t, f("good.pem"), ...chain, "--eku", "pivCardAuth"),
  ]);
  t.is(server.code, 1);
  t.like(JSON.parse(server.stdout), { valid: false, code: "extended-key-usage", position: 0 });
  t.regex(JSON.parse(server.stdout).detail, /1\.3\.6\.1\.5\.5\.7\.3\.1/);
  t.is(client.code, 0, client.stdout);
  t.is(clientOid.code, 0, clientOid.stdout);
  t.is(logon.code, 1);
  t.regex(logon.stdout, /^invalid: extended-key-usage at position 0: .*1\.3\.6\.1\.4\.1\.311\.20\.2\.2/);
  // A leaf without extendedKeyUsage is not restricted (RFC 5280 4.2.1.12).
  t.is(any.code, 0, any.stdout);
});

test("--no-anchor-constraints, --profile, --no-delta-crls change the verdict they should", async (t) => {
  const oldChain = [f("old-leaf.pem"), "--intermediate", f("old-ca.pem"), "--anchor", f("old-root.pem"), "--at", AT, "--json"];
  // PKITS 4.15.4: serial 03 is revoked on the delta CRL only.
  const delta = [certPath("InvaliddeltaCRLTest4EE"), "--intermediate", certPath("deltaCRLCA1Cert"), "--anchor", certPath("TrustAnchorRootCertificate")];
  delta.push("--crl", crlPath("TrustAnchorRootCRL"), "--crl", crlPath("deltaCRLCA1CRL"), "--crl", crlPath("deltaCRLCA1deltaCRL"), "--at", "2011-04-15", "--json");
  const [anchored, bare, strict, lenient, deltas, noDeltas] = await Promise.all([
    cli(t, ...oldChain),
    cli(t, ...oldChain, "--no-anchor-constraints"),
    cli(t, f("pol-serial0.pem"), "--intermediate", f("pol-ca.pem"), "--anchor", f("pol-root.pem"), "--at", AT, "--json", "--profile", "strict"),
    cli(t, f("pol-serial0.pem"), "--intermediate", f("pol-ca.pem"), "--anchor", f("pol-root.pem"), "--at", AT, "--json", "--profile", "lenient"),
    cli(t, ...delta),
    cli(t, ...delta, "--no-delta-crls"),
  ]);
  t.is(anchored.code, 1);
  t.like(JSON.parse(anchored.stdout), { valid: false, code: "expired", position: 2 });
  t.is(bare.code, 0, bare.stdout);
  t.is(strict.code, 1);
  t.like(JSON.parse(strict.stdout), { valid: false, code: "profile-serial-number", position: 0 });
  t.is(lenient.code, 0, lenient.stdout);
  t.is(deltas.code, 1);
  t.like(JSON.parse(deltas.stdout), { valid: false, code: "revoked", position: 0 });
  t.is(noDeltas.code, 0, noDeltas.stdout);
});

test("new options: a bad OID, name or value is a usage error (exit 2, one line); with --batch they are refused", async (t) => {
  const rs = await Promise.all([
    cli(t, ...polChain, "--policy", "1.2.x"),
    cli(t, ...polChain, "--policy", "3.1"),
    cli(t, ...polChain, "--policy", "1.40"),
    cli(t, ...polChain, "--policy", "01.2"),
    cli(t, ...polChain, "--policy", "NIST-test-policy-1"),
    cli(t, ...polChain, "--eku", "smartcardlogon"),
    cli(t, ...polChain, "--eku", "1.3.6.1.5.5.7.3.2."),
    cli(t, ...polChain, "--profile", "loose"),
    cli(t, "--batch", f("checks.jsonl"), "--policy", P1),
    cli(t, "--batch", f("checks.jsonl"), "--no-anchor-constraints"),
    cli(t, "--batch", f("checks.jsonl"), "--profile", "lenient"),
  ]);
  for (const r of rs) {
    t.is(r.code, 2, r.stdout + r.stderr);
    t.is(r.stderr.trim().split("\n").length, 1, r.stderr);
    t.is(r.stdout, "");
  }
  t.regex(rs[0].stderr, /--policy: not a dotted OID .*: 1\.2\.x/);
  t.regex(rs[5].stderr, /--eku: .*smartCardLogon.*: smartcardlogon/);
  t.regex(rs[8].stderr, /--policy does not apply to --batch: give "initialPolicySet" on each line/);
});

test("--batch refuses every per-case option typed on the command line (exit 2, one line): none is silently ignored", async (t) => {
  // Each option of `validate` but --batch, with where its value goes instead.
  const given: Array<[string[], string]> = [
    [["--intermediate", f("ca.pem")], 'give "intermediates" on each line'],
    [["--anchor", f("root.der")], 'give "anchors" on each line'],
    [["--crl", f("root.crl")], 'give "crls" on each line'],
    [["--ocsp-response", f("good.ocsp")], 'give "ocspResponses" on each line'],
    [["--at", AT], 'give "at" on each line'],
    [["--usage", "any"], 'give "usage" on each line'], // the default, typed: refused all the same
    [["--revocation", "require"], 'give "revocation" on each line'],
    [["--policy", P1], 'give "initialPolicySet" on each line'],
    [["--explicit-policy"], 'give "initialExplicitPolicy" on each line'],
    [["--inhibit-policy-mapping"], 'give "initialPolicyMappingInhibit" on each line'],
    [["--inhibit-any-policy"], 'give "initialInhibitAnyPolicy" on each line'],
    [["--eku", "clientAuth"], 'give "eku" on each line'],
    [["--no-anchor-constraints"], 'give "anchorConstraints" on each line'],
    [["--profile", "lenient"], 'give "profile" on each line'],
    [["--no-delta-crls"], 'give "useDeltaCrls" on each line'],
    [["--json"], "its output is one JSON result per line already"],
  ];
  const program = new Command();
  register(program);
  const flags = program.commands.find((c) => c.name() === "validate")!.options.map((o) => o.long);
  t.deepEqual(given.map(([args]) => args[0]).sort(), flags.filter((l) => l !== "--batch").sort(), "every option of validate is tried");
  const rs = await Promise.all(given.map(([args]) => cli(t, "--batch", f("ok.jsonl"), ...args)));
  rs.forEach((r, i) => {
    const [[option], instead] = given[i];
    t.is(r.code, 2, `${option}: ${r.stdout}${r.stderr}`);
    t.is(r.stdout, "", option);
    t.is(r.stderr, `cardloop: validate: ${option} does not apply to --batch: ${instead}\n`);
  });
  // The same file alone is fine: the refusals are the options'.
  const alone = await cli(t, "--batch", f("ok.jsonl"));
  t.is(alone.code, 0, alone.stderr);
});

test("--batch FILE that is a directory, or missing: a usage error naming it (exit 2, one line), not an internal error", async (t) => {
  mkdirSync(f("cases.d"), { recursive: true });
  const [isDir, missing] = await Promise.all([cli(t, "--batch", f("cases.d")), cli(t, "--batch", f("nope.jsonl"))]);
  for (const r of [isDir, missing]) {
    t.is(r.code, 2, r.stdout + r.stderr);
    t.is(r.stdout, "");
    t.is(r.stderr.trim().split("\n").length, 1, r.stderr);
    t.notRegex(r.stderr, /internal error/);
  }
  t.is(isDir.stderr, `cardloop: cannot read ${f("cases.d")}: not a file (a directory)\n`);
  t.regex(missing.stderr, /^cardloop: cannot read .*nope\.jsonl: ENOENT/);
});

test("--batch fields: initial policy inputs, eku, anchorConstraints, profile, useDeltaCrls; wrong types are input errors naming the field", async (t) => {
  const r = await cli(t, "--batch", f("checks.jsonl"));
  t.is(r.code, 2, r.stderr);
  const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
  t.deepEqual(
    lines.map((l) => [l.id, l.valid, l.code]),
    [
      ["default", true, null],
      ["p1", true, null],
      ["p2-explicit", false, "no-valid-policy"],
      ["p2", true, null],
      ["any", true, null],
      ["eku-server", false, "extended-key-usage"],
      ["eku-client", true, null],
      ["serial0-strict", false, "profile-serial-number"],
      ["serial0-lenient", true, null],
      ["old-anchor", false, "expired"],
      ["old-anchor-bare", true, null],
      ...["bool-as-string", "set-as-string", "empty-set", "bad-oid", "eku-number", "eku-name", "bad-profile", "anchor-number", "deltas-null", "inhibit-any-string", "mapping-number"].map((id) => [id, false, "input-error"]),
    ],
  );
  const byId = new Map(lines.map((l) => [l.id, l]));
  t.deepEqual(byId.get("default").userConstrainedPolicySet, [P1]);
  t.deepEqual(byId.get("p1").userConstrainedPolicySet, [P1]);
  t.deepEqual(byId.get("p2").userConstrainedPolicySet, []);
  t.deepEqual(byId.get("any").userConstrainedPolicySet, [P1]);
  const detail = (id: string) => byId.get(id).detail as string;
  t.regex(detail("bool-as-string"), /"initialExplicitPolicy" must be true or false/);
  t.regex(detail("set-as-string"), /"initialPolicySet" must be an array of OIDs/);
  t.regex(detail("empty-set"), /"initialPolicySet" is empty/);
  t.regex(detail("bad-oid"), /"initialPolicySet": not a dotted OID/);
  t.regex(detail("eku-number"), /"eku" must be an array of OIDs/);
  t.regex(detail("eku-name"), /"eku": not a dotted OID .*: smartcardlogon/);
  t.regex(detail("bad-profile"), /"profile" must be one of strict, pedantic, lenient/);
  t.regex(detail("anchor-number"), /"anchorConstraints" must be true or false/);
  t.regex(detail("deltas-null"), /"useDeltaCrls" must be true or false/);
  t.regex(detail("inhibit-any-string"), /"initialInhibitAnyPolicy" must be true or false/);
  t.regex(detail("mapping-number"), /"initialPolicyMappingInhibit" must be true or false/);
});

test("--batch lines, fuzzed: a case with every field typed, or a one-line UsageError", (t) => {
  const clock = new SystemClock();
  const checkFields = ["initialPolicySet", "initialExplicitPolicy", "initialPolicyMappingInhibit", "initialInhibitAnyPolicy", "eku", "anchorConstraints", "profile", "useDeltaCrls"];
  const field = fc.constantFrom("id", "leaf", "intermediates", "anchors", "crls", "ocspResponses", "at", "usage", "revocation", "intermediate", "x", ...checkFields);
  const oidLike = fc.oneof(
    fc.constantFrom(P1, "2.5.29.32.0", "anyPolicy", "clientAuth", "smartCardLogon", "1.40", "3.1", "1.2.x", "01.2", "2.999.1", ""),
    fc.array(fc.nat({ max: 50 }), { minLength: 1, maxLength: 5 }).map((arcs) => arcs.join(".")),
  );
  const value = fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.array(fc.string({ maxLength: 6 }), { maxLength: 3 }),
    fc.constantFrom("authentication", "signature", "require", "2031-06-01", "2031-06-01T00:00:00Z", "2031-13-01", "strict", "pedantic", "lenient"),
    fc.boolean(),
    fc.array(oidLike, { maxLength: 3 }),
    fc.jsonValue({ maxDepth: 2 }),
  );
  // Lines that have a leaf and random check fields, so that the checks are parsed often, not only refused.
  const withLeaf = fc
    .tuple(fc.string({ minLength: 1, maxLength: 8 }), fc.dictionary(fc.constantFrom(...checkFields), value, { maxKeys: 4 }))
    .map(([leaf, o]) => JSON.stringify({ ...o, leaf }));
  const lineArb = fc.oneof(
    fc.dictionary(field, value, { maxKeys: 9 }).map((o) => JSON.stringify(o)),
    withLeaf,
    fc.string({ maxLength: 40 }),
    fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v) ?? "null"),
  );
  const dotted = (x: string) => /^[0-2](\.(0|[1-9]\d*))+$/.test(x);
  const bool = (x: unknown) => x === undefined || typeof x === "boolean";
  let parsed = 0;
  let withChecks = 0;
  let refused = 0;
  fc.assert(
    fc.property(lineArb, (line) => {
      try {
        const { id, case: c } = parseBatchLine(line, 7, "/base", clock);
        parsed++;
        const k = c.checks;
        if (Object.keys(k).length) withChecks++;
        const paths = [c.leaf, ...c.intermediates, ...c.anchors, ...c.crls, ...c.ocspResponses];
        return (
          (typeof id === "string" || typeof id === "number") &&
          paths.every((p) => p.startsWith("/")) &&
          Number.isFinite(c.time) &&
          Object.keys(k).every((f) => checkFields.includes(f)) &&
          (k.initialPolicySet === undefined || (k.initialPolicySet.length > 0 && k.initialPolicySet.every(dotted))) &&
          (k.eku === undefined || k.eku.every(dotted)) &&
          (k.profile === undefined || k.profile === "strict" || k.profile === "pedantic" || k.profile === "lenient") &&
          [k.initialExplicitPolicy, k.initialPolicyMappingInhibit, k.initialInhibitAnyPolicy, k.anchorConstraints, k.useDeltaCrls].every(bool)
        );
      } catch (err) {
        refused++;
        return err instanceof UsageError && /^line 7: (?!line)/.test(err.message) && !err.message.includes("\n");
      }
    }),
    { numRuns: 5000 },
  );
  t.true(withChecks > 0, `${withChecks} parsed with checks`);
  t.deepEqual(parseBatchLine(JSON.stringify({ leaf: "a", initialPolicySet: ["anyPolicy", "2.5.29.32.0"], eku: ["smartCardLogon", "pivCardAuth"] }), 1, "/b", clock).case.checks, {
    initialPolicySet: ["2.5.29.32.0"],
    eku: ["1.3.6.1.4.1.311.20.2.2", "2.16.840.1.101.3.6.8"],
  });
  t.true(parsed > 0 && refused > 0, `${parsed} parsed, ${refused} refused`);
  t.is(parseBatchLine('\uFEFF{"leaf":"a.pem"}', 1, "/base", clock).case.leaf, "/base/a.pem", "a BOM on the first line is not an error");
  t.is(parseIsoTime("2031-06-01"), Date.UTC(2031, 5, 1));
  t.is(parseIsoTime("2031-06-01T12:30:00+02:00"), Date.UTC(2031, 5, 1, 10, 30));
  for (const bad of ["2031-02-29", "2031-06-01T24:00:00Z", "2031-06-01T12:00:00", "yesterday", "2031-6-1", ""]) t.is(parseIsoTime(bad), undefined, bad);
});
