import test from "ava";
import fc from "fast-check";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { stringify } from "yaml";
import { DEFAULT_POLICY, REVOCATION_REASONS, REVOKER_ROLES, UsageError, type LifecyclePolicy } from "../core/index.js";
import { loadPolicy, parsePolicy, PolicyError, PolicyReadError, resolvePolicyRef } from "./index.js";

const DEFAULT_PATH = resolvePolicyRef("default", process.cwd());
const DEFAULT_TEXT = readFileSync(DEFAULT_PATH, "utf8");

function errorOf(text: string): PolicyError {
  try {
    parsePolicy(text, "p.yaml");
  } catch (err) {
    if (err instanceof PolicyError) return err;
    throw new Error(`expected a PolicyError, got ${String(err)}`);
  }
  throw new Error("expected a PolicyError, the policy parsed");
}

/** The default file with one line's text replaced (the first line that contains `from`). */
const withLine = (from: string, to: string) => {
  if (!DEFAULT_TEXT.includes(from)) throw new Error(`not in default.yaml: ${from}`);
  return DEFAULT_TEXT.replace(from, to);
};
const lineOf = (text: string, needle: string) => text.slice(0, text.indexOf(needle)).split("\n").length;

test("the shipped default policy file states DEFAULT_POLICY exactly", (t) => {
  t.deepEqual(loadPolicy(DEFAULT_PATH), DEFAULT_POLICY);
  t.is(DEFAULT_PATH, resolve(dirname(DEFAULT_PATH), "default.yaml"));
});

test("the shipped ocsp policy is the default one with OCSP relying parties", (t) => {
  const ocsp = loadPolicy(resolvePolicyRef("ocsp", "/anywhere"));
  t.deepEqual({ ...ocsp, name: DEFAULT_POLICY.name, revocation: DEFAULT_POLICY.revocation }, DEFAULT_POLICY);
  t.is(ocsp.revocation, "ocsp");
});

test("resolvePolicyRef: a bare name is a shipped policy, anything else a path against the given directory", (t) => {
  t.is(resolvePolicyRef("default", "/x"), DEFAULT_PATH);
  t.is(resolvePolicyRef("./mine.yaml", "/work/dir"), "/work/dir/mine.yaml");
  t.is(resolvePolicyRef("sub/mine.yaml", "/work/dir"), "/work/dir/sub/mine.yaml");
  t.is(resolvePolicyRef("/etc/p.yaml", "/work/dir"), "/etc/p.yaml");
  const err = t.throws(() => resolvePolicyRef("no-such-policy", "/x"), { instanceOf: UsageError });
  t.regex(err!.message, /no shipped policy named "no-such-policy".*default, ocsp/);
});

test("a policy file states every rule: lifetime, card cap, lockout, renewal, reasons by role", (t) => {
  const text = DEFAULT_TEXT.replace("lifetime: 3y", "lifetime: 2y")
    .replace("capAtCardExpiry: true", "capAtCardExpiry: false")
    .replace("algorithm: p256", "algorithm: p384")
    .replace("alertBefore: 30d", "alertBefore: 2w")
    .replace("renewal: revoke-superseded", "renewal: keep-until-expiry")
    .replace("maxFailedAttempts: 5", "maxFailedAttempts: 3")
    .replace(/^ {4}holder: .*$/m, "    holder: [keyCompromise, affiliationChanged]")
    .replace(/^ {4}legal-representative: .*$/m, "    legal-representative: []");
  const p = parsePolicy(text, "mine.yaml");
  t.like(p, { lifetimeYears: 2, capAtCardExpiry: false, algorithm: "p384", alertBeforeMs: 14 * 86_400_000, renewal: "keep-until-expiry", maxFailedAttempts: 3 });
  t.deepEqual(p.reasonsByRole.holder, ["keyCompromise", "affiliationChanged"]);
  t.deepEqual(p.reasonsByRole["legal-representative"], []);
  t.deepEqual(p.reasonsByRole.operator, DEFAULT_POLICY.reasonsByRole.operator);
});

test("a policy file written before the lockout, renewal and reason keys gets the default policy's rules", (t) => {
  const old = DEFAULT_TEXT.slice(0, DEFAULT_TEXT.indexOf("# A renewed card's"));
  const p = parsePolicy(old, "old.yaml");
  t.is(p.maxFailedAttempts, DEFAULT_POLICY.maxFailedAttempts);
  t.is(p.renewal, DEFAULT_POLICY.renewal);
  t.deepEqual(p.reasonsByRole, DEFAULT_POLICY.reasonsByRole);
  // relyingParty was optional before, and stays so
  t.is(parsePolicy(old.slice(0, old.indexOf("relyingParty:")), "older.yaml").revocation, "crl");
});

const BAD: { what: string; text: string; field: string; at: string; message: RegExp }[] = [
  { what: "unknown top-level key", text: DEFAULT_TEXT + "lockout: 3\n", field: "lockout", at: "lockout: 3", message: /unknown field \(expected one of: name, /},
  { what: "lifetime in days", text: withLine("lifetime: 3y", "lifetime: 900d"), field: "certificates.lifetime", at: "lifetime: 900d", message: /whole years such as 3y/ },
  { what: "zero lifetime", text: withLine("lifetime: 3y", "lifetime: 0y"), field: "certificates.lifetime", at: "lifetime: 0y", message: /1y to 100y/ },
  { what: "card cap not a boolean", text: withLine("capAtCardExpiry: true", "capAtCardExpiry: yes"), field: "certificates.capAtCardExpiry", at: "capAtCardExpiry: yes", message: /true or false/ },
  { what: "unknown algorithm", text: withLine("algorithm: p256", "algorithm: ed448"), field: "certificates.algorithm", at: "algorithm: ed448", message: /"ed448" is not one of: p256, p384, rsa2048/ },
  { what: "PIN as a number", text: withLine('transportPin: "123456"', "transportPin: 123456"), field: "card.transportPin", at: "transportPin: 123456", message: /in quotes/ },
  { what: "short PUK", text: withLine('puk: "12345678"', 'puk: "12"'), field: "card.puk", at: 'puk: "12"', message: /6 to 8 digits/ },
  { what: "bad alert duration", text: withLine("alertBefore: 30d", "alertBefore: soon"), field: "mobile.alertBefore", at: "alertBefore: soon", message: /invalid duration "soon"/ },
  { what: "unknown relying-party revocation", text: withLine("  revocation: crl", "  revocation: ldap"), field: "relyingParty.revocation", at: "revocation: ldap", message: /"ldap" is not one of: crl, ocsp/ },
  { what: "unknown renewal rule", text: withLine("renewal: revoke-superseded", "renewal: supersede"), field: "renewal", at: "renewal: supersede", message: /"supersede" is not one of: revoke-superseded, keep-until-expiry/ },
  { what: "zero lockout", text: withLine("maxFailedAttempts: 5", "maxFailedAttempts: 0"), field: "revocation.maxFailedAttempts", at: "maxFailedAttempts: 0", message: /integer >= 1/ },
  { what: "fractional lockout", text: withLine("maxFailedAttempts: 5", "maxFailedAttempts: 2.5"), field: "revocation.maxFailedAttempts", at: "maxFailedAttempts: 2.5", message: /integer >= 1/ },
  { what: "unknown role", text: withLine("    operator: [", "    auditor: [keyCompromise]\n    operator: ["), field: "revocation.reasonsByRole.auditor", at: "auditor:", message: /unknown field \(expected one of: holder, legal-representative/ },
  { what: "a role left out", text: DEFAULT_TEXT.replace(/^ {4}operator: .*\n?/m, ""), field: "revocation.reasonsByRole.operator", at: "    holder:", message: /list the reasons this role may give/ },
  { what: "reasons not a list", text: DEFAULT_TEXT.replace(/^ {4}holder: .*$/m, "    holder: keyCompromise"), field: "revocation.reasonsByRole.holder", at: "holder: keyCompromise", message: /expected a list/ },
  { what: "unknown reason", text: withLine("    holder: [unspecified,", "    holder: [stolen,"), field: "revocation.reasonsByRole.holder[0]", at: "stolen", message: /"stolen" is not one of: unspecified, keyCompromise/ },
  { what: "removeFromCRL", text: withLine("    holder: [unspecified,", "    holder: [removeFromCRL, unspecified,"), field: "revocation.reasonsByRole.holder[0]", at: "[removeFromCRL", message: /removeFromCRL is not a revocation reason/ },
  { what: "a reason twice", text: withLine("    holder: [unspecified,", "    holder: [unspecified, unspecified,"), field: "revocation.reasonsByRole.holder[1]", at: "unspecified, unspecified", message: /"unspecified" is listed twice/ },
  { what: "empty name", text: withLine("name: national-eid", 'name: ""'), field: "name", at: 'name: ""', message: /needs a name/ },
  { what: "extends another policy than the default", text: "extends: ocsp\n" + DEFAULT_TEXT, field: "extends", at: "extends: ocsp", message: /"ocsp" is not one of: default/ },
  { what: "empty extends", text: "extends:\n" + DEFAULT_TEXT, field: "extends", at: "extends:", message: /required field is missing/ },
  { what: "YAML syntax", text: withLine("pinRetries: 3", "pinRetries: [3"), field: "", at: "", message: /YAML syntax/ },
];

for (const c of BAD) {
  test(`bad policy: ${c.what} is one located line`, (t) => {
    const err = errorOf(c.text);
    t.is(err.field, c.field);
    t.regex(err.reason, c.message);
    t.is(err.file, "p.yaml");
    t.false(err.message.includes("\n"), err.message);
    t.true(err.message.startsWith(`p.yaml:${err.line}:${err.column}: `), err.message);
    if (c.at) t.is(err.line, lineOf(c.text, c.at), err.message);
  });
}

test("extends: default: a file states only its differences, the rest is the default policy's", (t) => {
  const p = parsePolicy("extends: default\nname: short\ncertificates:\n  lifetime: 1y\nrelyingParty:\n  revocation: ocsp\n", "short.yaml");
  t.deepEqual(p, { ...DEFAULT_POLICY, name: "short", lifetimeYears: 1, revocation: "ocsp" });
  // a stated value is checked as in a full file, and located in this file
  const bad = errorOf("extends: default\nname: short\ncard:\n  puk: \"12\"\n");
  t.is(bad.field, "card.puk");
  t.is(bad.line, 4);
  // an unknown key in a section is still a mistake
  t.is(errorOf("extends: default\nname: short\nmobile:\n  alertAfter: 3d\n").field, "mobile.alertAfter");
  // the name is never inherited: a policy names itself
  t.is(errorOf("extends: default\ncertificates:\n  lifetime: 1y\n").field, "name");
  // without extends, a partial file is incomplete
  const partial = errorOf(DEFAULT_TEXT.replace(/^ {2}algorithm: .*\n/m, ""));
  t.is(partial.field, "certificates.algorithm");
  t.regex(partial.reason, /required field is missing/);
});

test("an unreadable policy file is a PolicyError naming the file", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "policy-"));
  try {
    const err = t.throws(() => loadPolicy(join(dir, "missing.yaml")), { instanceOf: PolicyError });
    t.regex(err!.message, /missing\.yaml:1:1: cannot read: ENOENT/);
    // its own kind, carrying the OS's error, so a scenario can name it at its `policy:` line
    t.true(err instanceof PolicyReadError);
    t.is((err!.cause as NodeJS.ErrnoException).code, "ENOENT");
    writeFileSync(join(dir, "p.yaml"), DEFAULT_TEXT.replace("maxFailedAttempts: 5", "maxFailedAttempts: 7"));
    t.is(loadPolicy(join(dir, "p.yaml")).maxFailedAttempts, 7);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// Random YAML: policy-shaped documents with random values, random text, and mutations of the default file.
const anyValue = fc.oneof(fc.string({ maxLength: 12 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 2 }));
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const reasonish = fc.oneof(fc.constantFrom(...REVOCATION_REASONS), fc.string({ maxLength: 10 }), fc.integer());
const policyShaped = fc
  .record({
    extends: maybe(fc.oneof(anyValue, fc.constant("default"))),
    name: maybe(anyValue),
    certificates: maybe(fc.oneof(anyValue, fc.record({ lifetime: maybe(fc.oneof(anyValue, fc.constantFrom("3y", "0y", "999999999999999999999y"))), capAtCardExpiry: maybe(anyValue), algorithm: maybe(fc.oneof(anyValue, fc.constant("p256"))) }))),
    card: maybe(fc.oneof(anyValue, fc.record({ transportPin: maybe(fc.oneof(anyValue, fc.constant("123456"))), puk: maybe(anyValue), pinRetries: maybe(anyValue) }))),
    mobile: maybe(fc.oneof(anyValue, fc.record({ alertBefore: maybe(fc.oneof(anyValue, fc.constantFrom("30d", "99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999d"))) }))),
    relyingParty: maybe(fc.oneof(anyValue, fc.record({ revocation: maybe(anyValue) }))),
    renewal: maybe(fc.oneof(anyValue, fc.constant("keep-until-expiry"))),
    revocation: maybe(
      fc.oneof(
        anyValue,
        fc.record({
          maxFailedAttempts: maybe(anyValue),
          reasonsByRole: maybe(fc.oneof(anyValue, fc.dictionary(fc.oneof(fc.constantFrom(...REVOKER_ROLES), fc.string({ maxLength: 6 })), fc.oneof(anyValue, fc.array(reasonish, { maxLength: 4 })), { maxKeys: 5 }))),
        }),
      ),
    ),
  })
  .map((doc) => stringify(doc));
const mutatedDefault = fc.tuple(fc.nat(), fc.nat(40), fc.constantFrom("", ":", "- ", "[", "]", "{", "&a ", "*a", "!!binary ", "~", "\t", "\n", "  ", '"')).map(
  ([at, len, insert]) => {
    const i = at % DEFAULT_TEXT.length;
    return DEFAULT_TEXT.slice(0, i) + insert + DEFAULT_TEXT.slice(i + len);
  },
);

test("property: parsePolicy returns a policy or throws a located PolicyError, never anything else", (t) => {
  const property = fc.property(fc.oneof(policyShaped, fc.string({ maxLength: 200 }), mutatedDefault), (text) => {
    let policy: LifecyclePolicy;
    try {
      policy = parsePolicy(text, "fuzz.yaml");
    } catch (err) {
      if (!(err instanceof PolicyError)) throw new Error(`crash: ${(err as Error)?.stack ?? String(err)}\n--- input ---\n${text}`);
      if (!err.message.startsWith("fuzz.yaml:") || err.line < 1 || err.column < 1 || err.message.includes("\n")) throw new Error(`unlocated: ${err.message}`);
      return;
    }
    // A policy that loads is usable: finite numbers, known reasons.
    if (!Number.isFinite(policy.alertBeforeMs) || !Number.isInteger(policy.lifetimeYears) || !Number.isInteger(policy.maxFailedAttempts)) throw new Error(`unusable: ${JSON.stringify(policy)}`);
    for (const role of REVOKER_ROLES) for (const r of policy.reasonsByRole[role]) if (!REVOCATION_REASONS.includes(r) || r === "removeFromCRL") throw new Error(`bad reason ${r}`);
  });
  t.notThrows(() => fc.assert(property, { numRuns: Number(process.env.FUZZ_RUNS ?? 500) }));
});
