import test from "ava";
import fc from "fast-check";
import { parseScenario, type Step } from "../format.js";
import { explorationScenario } from "./cast.js";
import { scenarioYaml, type ScenarioHeader } from "./scenario-yaml.js";

const HEADER: ScenarioHeader = {
  seed: 42,
  path: "3:1:4",
  replayPath: "AAB:qq",
  ca: "module:test/fixtures/forgetful-ca.ts",
  failing: { step: 2, label: "status of ana-card", difference: 'status: expected "revoked", got "revoked,good"' },
  firstFailure: { generated: 180, executed: 120 },
  shrunk: { steps: 2, shrinks: 9 },
  fileName: "found.yaml",
};

const STEPS: Step[] = [
  { index: 0, line: 0, action: "issue", label: "issue ana-card", args: { card: "ana-card" }, expect: { result: "ok", cappedByCard: false, validYears: 3, codeHolders: ["holder"] } },
  { index: 1, line: 0, action: "sign", args: { card: "ana-card", document: "doc-1", pin: "wrong" }, expect: { result: "refused", reason: "wrong-pin", retries: 2 } },
  { index: 2, line: 0, action: "verify-pin", args: { card: "ana-card", pin: "482913" }, expect: { result: "ok" } },
  { index: 3, line: 0, action: "advance", args: { by: 3_600_000 }, expect: { result: "ok" } },
  { index: 4, line: 0, action: "advance", args: { to: new Date("2026-01-01T00:00:00Z") }, expect: { result: "ok" } },
  { index: 5, line: 0, action: "verify-signature", args: { document: "doc-1", at: "now" }, expect: { result: "refused", reason: "no-document" } },
  { index: 6, line: 0, action: "revoke", args: { card: "ben-card", role: "legal-representative", code: "wrong", reason: "affiliationChanged" }, expect: { result: "refused", reason: "forbidden" } },
  { index: 7, line: 0, action: "unblock", args: { card: "ben-card", puk: "wrong", newPin: "564738" }, expect: { result: "refused", reason: "wrong-puk", retries: 2 } },
  { index: 8, line: 0, action: "status", args: { card: "ben-card", certificate: "both" }, expect: { result: "ok", status: "revoked,good", revocationReason: "keyCompromise" } },
  { index: 9, line: 0, action: "mobile-check", args: { card: "ben-card" }, expect: { result: "ok", stale: true, alert: false, daysLeft: 12 } },
];

test("the written scenario reads back as the same cast, steps and expectations; the header says where it came from", (t) => {
  const s = explorationScenario({ seed: 42, ca: HEADER.ca });
  const text = scenarioYaml(s, STEPS, HEADER);
  t.regex(text, /^# seed 42, counterexample path "3:1:4", commands replayPath "AAB:qq"$/m);
  t.regex(text, /^# replay: cardloop run --ca module:test\/fixtures\/forgetful-ca\.ts found\.yaml$/m);
  t.regex(text, /^# failing step 2 \(status of ana-card\): status: expected "revoked", got "revoked,good"$/m);
  // The file format has no place for a module target: it comes from the command line.
  t.notRegex(text, /^ca:/m);
  const back = parseScenario(text, "found.yaml");
  t.is(back.seed, 42);
  t.deepEqual(back.start, s.start);
  t.deepEqual(back.cards, s.cards);
  t.deepEqual(JSON.parse(JSON.stringify(back.holders)), s.holders);
  t.deepEqual(
    back.steps.map((x) => [x.action, x.args, x.expect, x.label]),
    STEPS.map((x) => [x.action, x.args, x.expect, x.label]),
  );
});

test("a target the format can name is written into the file", (t) => {
  const text = scenarioYaml(explorationScenario({ seed: 1, ca: "embedded" }), STEPS.slice(0, 1), { ...HEADER, ca: "embedded" });
  t.is(parseScenario(text, "x.yaml").ca, "embedded");
});

test("any scenario name and step label survives the round trip (quoted when YAML would read it otherwise)", (t) => {
  fc.assert(
    fc.property(fc.string({ minLength: 1, maxLength: 30 }), fc.string({ maxLength: 30 }), (name, label) => {
      const s = explorationScenario({ seed: 3, ca: "embedded", name });
      const text = scenarioYaml(s, [{ ...STEPS[0], label }], { ...HEADER, ca: "embedded", failing: { ...HEADER.failing, label } });
      const back = parseScenario(text, "x.yaml");
      t.is(back.name, name);
      // An empty label is no label.
      t.is(back.steps[0].label, label === "" ? undefined : label);
    }),
    { numRuns: 200 },
  );
});
