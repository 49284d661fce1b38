import test from "ava";
import fc from "fast-check";
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
