import test from "ava";
import fc from "fast-check";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CARD_REVOCATION_REASONS, DEFAULT_POLICY } from "../core/index.js";
import { resolvePolicyRef } from "../policies/index.js";
import { libraryFiles } from "./runner.js";
import { loadScenario, parseScenario, ACTIONS } from "./format.js";
import { ScenarioError } from "./source.js";

const GOOD = `name: tiny
seed: 7
start: 2025-01-01T00:00:00Z
actors:
  holders:
    - id: ann
      name: Ann
      email: ann@example.org
  cards:
    - id: ann-card
      holder: ann
      expires: 4y
steps:
  - issue: ann-card
  - advance: 30d
  - authenticate: { card: ann-card, pin: wrong }
    expect: { result: refused, reason: wrong-pin, retries: 2 }
`;

function errorOf(text: string): ScenarioError {
  const err = (() => {
    try {
      parseScenario(text, "bad.yaml");
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  if (!(err instanceof ScenarioError)) throw new Error(`expected a ScenarioError, got ${String(err)}`);
  return err;
}

test("a good scenario parses with defaults, lines and expectations", (t) => {
  const s = parseScenario(GOOD, "good.yaml");
  t.is(s.name, "tiny");
  t.is(s.seed, 7);
  t.is(s.ca, "embedded");
  t.is(s.reader, "memory");
  t.is(s.policy.lifetimeYears, 3);
  t.is(s.cards[0].expires.toISOString(), "2029-01-01T00:00:00.000Z");
  t.deepEqual(
    s.steps.map((x) => [x.action, x.line]),
    [
      ["issue", 14],
      ["advance", 15],
      ["authenticate", 16],
    ],
  );
  t.is(s.steps[1].args.by, 30 * 86_400_000);
  t.deepEqual(s.steps[0].expect, { result: "ok" });
  t.deepEqual(s.steps[2].expect, { result: "refused", reason: "wrong-pin", retries: 2 });
  t.is(s.steps[2].args.pin, "wrong");
});

test("errors name the file, line and field", (t) => {
  const typo = errorOf(GOOD.replace("  - advance: 30d", "  - advanse: 30d"));
  t.is(typo.file, "bad.yaml");
  t.is(typo.line, 15);
  t.regex(typo.message, /^bad\.yaml:15:\d+: steps\[1\]\.advanse: unknown action/);

  const role = errorOf(GOOD + "  - revoke: { card: ann-card, role: janitor }\n");
  t.is(role.line, 18);
  t.is(role.field, "steps[3].revoke.role");
  t.regex(role.message, /"janitor" is not one of: holder, legal-representative/);

  const card = errorOf(GOOD.replace("  - issue: ann-card", "  - issue: bob-card"));
  t.is(card.line, 14);
  t.regex(card.message, /no card "bob-card"/);

  const pin = errorOf(GOOD.replace("expires: 4y", "expires: 4y\n      pin: 1234"));
  t.is(pin.line, 13);
  t.regex(pin.message, /actors\.cards\[0\]\.pin: write PINs in quotes/);

  const field = errorOf(GOOD.replace("expect: { result: refused", "expect: { colour: red, result: refused"));
  t.is(field.field, "steps[2].expect.colour");

  const missing = errorOf(GOOD.replace("start: 2025-01-01T00:00:00Z\n", ""));
  t.is(missing.field, "start");
  t.regex(missing.message, /required field is missing/);

  const doc = errorOf(GOOD + "  - verify-signature: contract\n");
  t.regex(doc.message, /no earlier sign step made document "contract"/);

  const syntax = errorOf(GOOD + "  - issue: [unclosed\n");
  t.is(syntax.line >= 18, true);
  t.regex(syntax.message, /YAML syntax/);
});

test("property: any unknown top-level field is refused at its own line", (t) => {
  const known = new Set(["name", "description", "seed", "start", "policy", "ca", "reader", "actors", "steps"]);
  const property = fc.property(
    fc.stringMatching(/^[a-z][a-z_]{0,11}$/).filter((k) => !known.has(k)),
    fc.integer({ min: 0, max: 3 }),
    (key, at) => {
      const lines = GOOD.split("\n");
      lines.splice(at, 0, `${key}: 1`);
      const err = errorOf(lines.join("\n"));
      return err.line === at + 1 && err.field === key;
    },
  );
  t.notThrows(() => fc.assert(property));
});

test("property: a step's line is where its action is written, whatever comes before", (t) => {
  const head = GOOD.split("steps:\n")[0] + "steps:\n";
  const first = head.split("\n").length;
  const property = fc.property(
    fc.array(fc.constantFrom<(typeof ACTIONS)[number]>("lose-card", "find-card", "mobile-sync"), { minLength: 1, maxLength: 8 }),
    (actions) => {
      const s = parseScenario(head + actions.map((a) => `  - ${a}: ann-card\n`).join(""), "p.yaml");
      return s.steps.every((st, i) => st.line === first + i && st.action === actions[i]);
    },
  );
  t.notThrows(() => fc.assert(property));
});

test("every library file loads", (t) => {
  const files = libraryFiles();
  t.is(files.length, 11);
  for (const f of files) t.truthy(loadScenario(f).steps.length > 0, f);
});

/** Parses or fails with a located ScenarioError: anything else (a TypeError, a RangeError, an invalid Date) is a crash. */
function locatedOrParsed(text: string): string | undefined {
  let s;
  try {
    s = parseScenario(text, "fuzz.yaml");
  } catch (err) {
    if (!(err instanceof ScenarioError)) return `crash: ${(err as Error)?.stack ?? String(err)}`;
    const lines = text.split("\n").length;
    if (!err.message.startsWith("fuzz.yaml:") || err.line < 1 || err.line > lines + 1 || err.column < 1) return `unlocated: ${err.message}`;
    return undefined;
  }
  // A file that loads is fully usable: every date in it is a real date.
  const dates = [s.start, ...s.cards.map((c) => c.expires), ...s.steps.flatMap((st) => (st.args.to ? [st.args.to] : []))];
  if (dates.some((d) => !Number.isFinite(d.getTime()))) return "loaded with an invalid date";
  if (s.steps.some((st) => st.args.by !== undefined && !Number.isFinite(st.args.by))) return "loaded with an infinite duration";
  return undefined;
}

// Mutations of real scenario files: the shapes authors actually get wrong.
const LIBRARY_TEXTS = libraryFiles().map((f) => readFileSync(f, "utf8"));
const TOKENS = ["", " ", "  ", "\n", "-", ":", ": ", "{", "}", "[", "]", ",", "'", '"', "#", "&a", "*a", "!!str", "!!binary", "<<: *a", "|", ">", "? ", "%YAML 1.2\n---\n", "---\n", "...", "\t", "null", "~", "99999y", "1e999d", "-1d", "0x1F", "2025-13-45", "9999999-01-01", "NaN", ".inf", "@", "\u0000", "\uFEFF", "é"];
const mutation = fc.oneof(
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), len: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), text: fc.oneof(fc.constantFrom(...TOKENS), fc.string({ maxLength: 6 })) }),
  fc.record({ kind: fc.constant("swap-lines" as const), a: fc.nat(), b: fc.nat() }),
  fc.record({ kind: fc.constant("replace-value" as const), at: fc.nat(), text: fc.constantFrom(...TOKENS) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(text: string, m: Mutation): string {
  switch (m.kind) {
    case "delete": {
      const at = m.at % (text.length + 1);
      return text.slice(0, at) + text.slice(at + m.len);
    }
    case "insert": {
      const at = m.at % (text.length + 1);
      return text.slice(0, at) + m.text + text.slice(at);
    }
    case "swap-lines": {
      const lines = text.split("\n");
      const a = m.a % lines.length;
      const b = m.b % lines.length;
      [lines[a], lines[b]] = [lines[b], lines[a]];
      return lines.join("\n");
    }
    case "replace-value": {
      // Replace what follows one "key: " with a token: wrong types, aliases, tags, huge numbers.
      const spots = [...text.matchAll(/: /g)].map((x) => x.index! + 2);
      if (spots.length === 0) return text;
      const at = spots[m.at % spots.length];
      const end = text.slice(at).search(/[,}\n]/);
      return text.slice(0, at) + m.text + (end < 0 ? "" : text.slice(at + end));
    }
  }
}

test("property: mutated library files either load or fail with file, line and column, never a crash", (t) => {
  const property = fc.property(fc.nat(LIBRARY_TEXTS.length - 1), fc.array(mutation, { minLength: 1, maxLength: 4 }), (i, ms) => {
    const text = ms.reduce(mutate, LIBRARY_TEXTS[i]);
    const problem = locatedOrParsed(text);
    if (problem) throw new Error(`${problem}\n--- input ---\n${text}`);
  });
  t.notThrows(() => fc.assert(property, { numRuns: Number(process.env.FUZZ_RUNS ?? 600) }));
});

test("property: random text and random YAML values fail with a located error, never a crash", (t) => {
  const yamlish = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    fc.array(fc.constantFrom(...TOKENS, "name: x\n", "steps:\n", "  - issue: c\n", "actors:\n", "  cards:\n", "    - id: c\n"), { maxLength: 12 }).map((a) => a.join("")),
  );
  t.notThrows(() => fc.assert(fc.property(yamlish, (text) => {
    const problem = locatedOrParsed(text);
    if (problem) throw new Error(`${problem}\n--- input ---\n${text}`);
  }), { numRuns: 400 }));
});

test("edge cases found by the mutation property stay located errors", (t) => {
  const card = (expires: string) => GOOD.replace("expires: 4y", `expires: ${expires}`);
  for (const text of [card("99999999y"), card("275760-09-14"), GOOD.replace("advance: 30d", "advance: 1e999d"), GOOD.replace("start: 2025-01-01T00:00:00Z", "start: 2025-01-01T99:00:00Z")]) {
    t.is(locatedOrParsed(text), undefined, text);
  }
  t.is(errorOf(card("99999999y")).field, "actors.cards[0].expires");
});

test("a scenario's policy comes from core: shipped by name, or a file beside the scenario", (t) => {
  const withPolicy = (ref: string) => GOOD.replace("start: 2025-01-01T00:00:00Z", `start: 2025-01-01T00:00:00Z\npolicy: ${ref}`);
  t.deepEqual(parseScenario(GOOD, "s.yaml").policy, DEFAULT_POLICY);
  t.is(parseScenario(withPolicy("ocsp"), "s.yaml").policy.revocation, "ocsp");
  const dir = mkdtempSync(join(tmpdir(), "scenario-policy-"));
  try {
    const policyText = readFileSync(resolvePolicyRef("default", dir), "utf8");
    writeFileSync(join(dir, "short.yaml"), policyText.replace("lifetime: 3y", "lifetime: 1y").replace("maxFailedAttempts: 5", "maxFailedAttempts: 2"));
    const s = parseScenario(withPolicy("./short.yaml"), join(dir, "s.yaml"));
    t.like(s.policy, { lifetimeYears: 1, maxFailedAttempts: 2 });
    // a mistake in the policy file is a ScenarioError located in the policy file
    writeFileSync(join(dir, "bad.yaml"), policyText.replace("maxFailedAttempts: 5", "maxFailedAttempts: many"));
    const err = t.throws(() => parseScenario(withPolicy("bad.yaml"), join(dir, "s.yaml")), { instanceOf: ScenarioError });
    t.is(err!.file, join(dir, "bad.yaml"));
    t.is(err!.field, "revocation.maxFailedAttempts");
    t.regex(err!.message, /bad\.yaml:\d+:\d+: revocation\.maxFailedAttempts: expected a number, got "many"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // an unknown name or a missing file is located at the scenario's `policy:`
  const unknown = errorOf(withPolicy("strict"));
  t.is(unknown.field, "policy");
  t.is(unknown.line, 4);
  t.regex(unknown.reason, /cannot load policy "strict": no shipped policy named "strict"/);
  t.regex(errorOf(withPolicy("./nowhere.yaml")).reason, /cannot load policy "\.\/nowhere\.yaml": ENOENT/);
});

test("revoke steps take the roles and a card's reasons from core's one vocabulary", (t) => {
  const revoke = (args: string) => GOOD.replace("  - advance: 30d\n", `  - revoke: { card: ann-card, ${args} }\n`);
  const step = parseScenario(revoke("role: holder, code: wrong, reason: privilegeWithdrawn"), "s.yaml").steps[1];
  t.like(step.args, { role: "holder", reason: "privilegeWithdrawn" });
  t.regex(errorOf(revoke("role: auditor")).reason, /"auditor" is not one of: holder, legal-representative, authorised-representative, operator/);
  // a CA-level reason, a hold and removeFromCRL are not a card's reasons
  for (const reason of ["cACompromise", "certificateHold", "removeFromCRL"]) {
    t.regex(errorOf(revoke(`role: operator, reason: ${reason}`)).reason, new RegExp(`"${reason}" is not one of: ${CARD_REVOCATION_REASONS.join(", ")}`));
  }
});

test("ca: module:PATH names a CaAdapter module, a relative PATH the scenario file's; an empty PATH is located", (t) => {
  const withCa = (ca: string) => GOOD.replace("seed: 7\n", `seed: 7\nca: ${ca}\n`);
  t.is(parseScenario(withCa("module:./adapters/my-ca.mjs"), "/work/s/found.yaml").ca, "module:/work/s/adapters/my-ca.mjs");
  t.is(parseScenario(withCa("module:/opt/ca/adapter.mjs"), "rel/found.yaml").ca, "module:/opt/ca/adapter.mjs");
  t.is(parseScenario(withCa("http://127.0.0.1:8080/"), "x.yaml").ca, "http://127.0.0.1:8080/");
  const err = errorOf(withCa('"module:"'));
  t.is(err.line, 3);
  t.regex(err.message, /module: needs the path of a CaAdapter module/);
  t.regex(errorOf(withCa("Not A Target")).message, /expected "embedded", another target name, an http\(s\) URL or module:PATH/);
});
