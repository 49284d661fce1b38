import test, { type ExecutionContext } from "ava";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UsageError, type AnyEvent } from "../core/index.js";
import { tempDir } from "../harness/processes.js";
import { parseFaultProfile, type FaultProfile } from "../simulator/reader/index.js";
import { LIBRARY_DIR, loadScenario, runFiles, ScenarioError } from "./index.js";

/**
 * Issue 15: every fault kind, injected between a library scenario's card and
 * its terminals, makes the expected step fail with evidence (an apdu.fault
 * event in the run log, inside that step, and the step's message naming the
 * fault); a clean profile changes nothing.
 */

const FULL = join(LIBRARY_DIR, "01-full-lifecycle.yaml");
const profile = (text: string): FaultProfile => parseFaultProfile(text, "test profile");

/** A run log without measured durations (an APDU's, a step's, a run's): what one seed makes byte for byte. */
function normalised(events: AnyEvent[]): string[] {
  const DURATIONS = new Set(["micros", "durationMs", "wallMs"]);
  const strip = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(strip)
    : v === null || typeof v !== "object" ? v
    : Object.fromEntries(Object.entries(v).filter(([k]) => !DURATIONS.has(k)).map(([k, x]) => [k, strip(x)]));
  return events.map((e) => {
    const copy = structuredClone(e) as { type: string; data: Record<string, unknown> };
    if (copy.type === "metric.sample" && copy.data.name === "step.wall") delete copy.data.value;
    return JSON.stringify(strip(copy));
  });
}

/** The step each apdu.fault event happened in (between its step.started and step.finished). */
function faultSteps(events: AnyEvent[]): Array<{ step: number; kind: string; detail: string }> {
  let step = -1;
  const out: Array<{ step: number; kind: string; detail: string }> = [];
  for (const e of events) {
    if (e.type === "step.started") step = e.data.index;
    if (e.type === "step.finished") step = -1;
    if (e.type === "apdu.fault") out.push({ step, kind: e.data.kind, detail: e.data.detail });
  }
  return out;
}

const KINDS: Array<{ kind: string; text: string; step: number; action: string; outcome: "fail" | "error"; message: RegExp }> = [
  {
    kind: "drop",
    text: "faults:\n  - drop: { ins: [GENERAL AUTHENTICATE], at: [4] }\n",
    step: 2,
    action: "authenticate",
    outcome: "error",
    message: /transmission failed \(injected fault "drop" at exchange \d+, GENERAL AUTHENTICATE\)/,
  },
  {
    kind: "lose-answer",
    text: "faults:\n  - lose-answer: { ins: [VERIFY], at: [1] }\n",
    step: 0,
    action: "issue",
    outcome: "error",
    message: /answer lost \(injected fault "lose-answer" at exchange \d+, VERIFY\)/,
  },
  { kind: "sw", text: "faults:\n  - sw: { sw: 6581, ins: [VERIFY], at: [1] }\n", step: 0, action: "issue", outcome: "error", message: /VERIFY PIN: memory failure \(SW 6581\)/ },
  {
    kind: "remove",
    text: "faults:\n  - remove: { ins: [SELECT], at: [2] }\n",
    step: 2,
    action: "authenticate",
    outcome: "error",
    message: /card removed \(injected fault "remove" at exchange \d+, SELECT\)/,
  },
  {
    kind: "tearing",
    text: "faults:\n  - tearing: { ins: [PUT DATA], at: [0] }\n",
    step: 0,
    action: "issue",
    outcome: "error",
    message: /card lost power during PUT DATA \(injected fault "tearing" at exchange \d+; memory kept the old state\)/,
  },
];

for (const k of KINDS) {
  test(`fault "${k.kind}": step ${k.step} (${k.action}) of the full lifecycle fails, its message names the fault, the run log holds the apdu.fault event inside it`, async (t) => {
    const run = await runFiles([FULL], { faults: profile(k.text) });
    const r = run.results[0];
    t.false(run.passed);
    const first = r.steps.find((s) => s.outcome !== "pass");
    t.is(first?.step.index, k.step);
    t.is(first?.outcome, k.outcome);
    t.regex(first?.message ?? "", k.message);
    const faults = faultSteps(run.events);
    t.is(faults.length, 1, JSON.stringify(faults));
    t.is(faults[0].step, k.step);
    t.is(faults[0].kind, k.kind);
    // the step.finished event in the log carries the same message
    const finished = run.events.find((e) => e.type === "step.finished" && e.data.index === k.step);
    t.regex(finished?.type === "step.finished" ? (finished.data.message ?? "") : "", k.message);
  });
}

test('fault "delay": past the host\'s timeout the exchange fails and the step with it, the message names the fault; within it the answer only comes late', async (t) => {
  const late = await runFiles([FULL], { faults: profile("timeout: 10\nfaults:\n  - delay: { ms: 30, ins: [GENERATE], at: [0] }\n") });
  const first = late.results[0].steps.find((s) => s.outcome !== "pass");
  t.is(first?.step.index, 0);
  t.is(first?.outcome, "error");
  t.regex(first?.message ?? "", /no answer within 10 ms \(injected fault "delay" of 30 ms at exchange \d+, GENERATE ASYMMETRIC KEY PAIR\)/);
  t.deepEqual(faultSteps(late.events), [{ step: 0, kind: "delay", detail: "GENERATE ASYMMETRIC KEY PAIR: answer delayed 30 ms, past the host's 10 ms timeout: lost" }]);
  // no timeout (no terminal has a deadline of its own): the answer comes late, every step passes, the event says so
  const slow = await runFiles([FULL], { faults: profile("faults:\n  - delay: { ms: 20, ins: [GENERATE], at: [0] }\n") });
  t.true(slow.passed);
  t.deepEqual(faultSteps(slow.events), [{ step: 0, kind: "delay", detail: "GENERATE ASYMMETRIC KEY PAIR: answer delayed 20 ms" }]);
});

test("tearing on a non-atomic card: a torn certificate write at renewal leaves a card whose authentication fails validation", async (t) => {
  const run = await runFiles([FULL], { faults: profile("tearing: non-atomic\nfaults:\n  - tearing: { ins: [PUT DATA], at: [2] }\n") });
  const steps = run.results[0].steps;
  t.is(steps.find((s) => s.outcome !== "pass")?.step.action, "renew");
  t.regex(steps[6].message ?? "", /card lost power during PUT DATA .*memory kept the partial state \(objects\.5fc105 changed\)/);
  // the half-written certificate is on the card: the relying party's check of the authentication fails
  t.regex(steps[8].message ?? "", /bad-signature/);
  t.deepEqual(faultSteps(run.events).map((f) => [f.step, f.kind]), [[6, "tearing"]]);
});

test("a clean profile (faults: []) changes nothing: the same run log byte for byte, durations apart; so does a tearing card whose tear never comes", async (t) => {
  const plain = normalised((await runFiles([FULL], { seed: 7 })).events);
  const clean = normalised((await runFiles([FULL], { seed: 7, faults: profile("faults: []\n") })).events);
  t.deepEqual(clean, plain);
  const idle = normalised((await runFiles([FULL], { seed: 7, faults: profile("faults:\n  - tearing: { at: [100000] }\n") })).events);
  t.deepEqual(idle, plain);
  t.true(plain.length > 50);
});

test("rate faults: one seed, one run (the same faults at the same exchanges); the profile's seed overrides the run's", async (t) => {
  const rated = profile("faults:\n  - drop: { rate: 0.02 }\n");
  const a = normalised((await runFiles([FULL], { seed: 3, faults: rated })).events);
  const b = normalised((await runFiles([FULL], { seed: 3, faults: rated })).events);
  t.deepEqual(a, b);
  t.true(a.some((l) => l.includes('"apdu.fault"')));
  const seeded = profile("seed: 99\nfaults:\n  - drop: { rate: 0.02 }\n");
  const faultsAt = async (seed: number) =>
    (await runFiles([FULL], { seed, faults: seeded })).events.flatMap((e) => (e.type === "apdu.fault" ? [e.data.exchange] : []));
  t.deepEqual(await faultsAt(3), await faultsAt(4));
});

function scenarioWith(t: ExecutionContext, faults: string): string {
  const dir = tempDir(t, "scenario-faults");
  const file = join(dir, "faulty.yaml");
  writeFileSync(file, readFileSync(FULL, "utf8").replace("policy: default\n", "policy: default\n" + faults));
  return file;
}

test("a scenario's faults: section is read, checked and applied; run --faults replaces it", async (t) => {
  const file = scenarioWith(t, "faults:\n  cards: [alice-card]\n  faults:\n    - sw: { sw: 6581, ins: [VERIFY], at: [1] }\n");
  const s = loadScenario(file);
  t.deepEqual(s.faults, { tearing: "atomic", cards: ["alice-card"], rules: [{ fault: { kind: "sw", sw: 0x6581 }, at: [1], ins: [0x20] }] });
  const own = await runFiles([file]);
  t.regex(own.results[0].steps[0].message ?? "", /SW 6581/);
  const replaced = await runFiles([file], { faults: profile("faults: []\n") });
  t.true(replaced.passed);
});

/** The full lifecycle with a second card, spare-card, that the first step issues; `faults` is its faults: section. */
function withSpareCard(t: ExecutionContext, faults: string): string {
  const file = scenarioWith(t, faults);
  const text = readFileSync(file, "utf8")
    .replace("    - id: alice-card\n", "    - id: alice-card\n      holder: alice\n      expires: 5y\n    - id: spare-card\n")
    .replace("steps:\n", "steps:\n  - issue: spare-card\n");
  writeFileSync(file, text);
  return file;
}

test("a faults: section for another card faults that card's steps only", async (t) => {
  const file = withSpareCard(t, "faults:\n  cards: [spare-card]\n  faults:\n    - drop: { rate: 1 }\n");
  const run = await runFiles([file]);
  const steps = run.results[0].steps;
  // spare-card's issue meets the drop at its first exchange; every alice-card step after it passes
  t.is(steps[0].outcome, "error");
  t.regex(steps[0].message ?? "", /memory:spare-card: transmission failed \(injected fault "drop" at exchange 0, /);
  t.deepEqual(steps.slice(1).map((s) => s.outcome), steps.slice(1).map(() => "pass"));
  t.true(steps.length > 10);
  t.deepEqual([...new Set(faultSteps(run.events).map((f) => f.step))], [0]);
  t.true(run.events.every((e) => e.type !== "apdu.fault" || e.data.reader === "memory:spare-card"));
});

test("run --faults: a profile's cards: naming no card of any file is a usage error naming them; one some files lack is a warning in the others", async (t) => {
  await t.throwsAsync(runFiles([FULL], { faults: profile("cards: [bob-card]\nfaults:\n  - drop: { rate: 1 }\n") }), {
    instanceOf: UsageError,
    message: /fault profile's cards: bob-card is in no scenario file of the run \(its cards: alice-card\)/,
  });
  await t.throwsAsync(runFiles([FULL], { faults: profile("cards: [alice-card, bob-card, carol-card]\nfaults: []\n") }), { instanceOf: UsageError, message: /cards: bob-card, carol-card are in no/ });
  const spare = withSpareCard(t, "");
  const run = await runFiles([FULL, spare], { faults: profile("cards: [spare-card]\nfaults:\n  - drop: { at: [0] }\n") });
  const warnings = run.events.flatMap((e) => (e.type === "log.message" && e.data.level === "warn" ? [e.data.message] : []));
  t.deepEqual(warnings, ["fault profile: card spare-card not in this scenario: it runs without faults"]);
  t.is(run.results[0].outcome, "pass");
  t.regex(run.results[1].steps[0].message ?? "", /spare-card: transmission failed \(injected fault "drop" at exchange 0/);
});

test("an sw fault the terminal takes for the card's refusal is named in the step's message and evidence", async (t) => {
  const run = await runFiles([FULL], { faults: profile("faults:\n  - sw: { sw: 6F00, ins: [GENERAL AUTHENTICATE], at: [4] }\n") });
  const step = run.results[0].steps.find((s) => s.outcome !== "pass");
  t.is(step?.step.index, 2);
  t.regex(step?.message ?? "", /refused: card-refused.* \(injected fault: "sw" at exchange \d+, GENERAL AUTHENTICATE: the answer replaced by status word 6F00\)$/);
  const finished = run.events.find((e) => e.type === "step.finished" && e.data.index === 2);
  const evidence = finished?.type === "step.finished" ? (finished.data.evidence as { faults?: unknown[] }) : undefined;
  t.like(evidence?.faults, [{ kind: "sw", ins: "87", reader: "memory:alice-card", detail: "GENERAL AUTHENTICATE: the answer replaced by status word 6F00" }]);
  // a step without a fault carries none
  const other = run.events.find((e) => e.type === "step.finished" && e.data.index === 1);
  t.false(other?.type === "step.finished" && "faults" in (other.data.evidence as object));
});

test("mistakes in a scenario's faults: section are located in the scenario file", (t) => {
  const cases: Array<[string, RegExp]> = [
    ["faults:\n  faults:\n    - explode: { at: [1] }\n", /faulty\.yaml:\d+:\d+: faults\.faults\[0\]\.explode: unknown fault kind/],
    ["faults:\n  faults:\n    - drop: { at: [1], ins: [NOPE] }\n", /faulty\.yaml:\d+:\d+: faults\.faults\[0\]\.drop\.ins\[0\]: unknown instruction "NOPE"/],
    ["faults:\n  cards: [bob-card]\n", /faulty\.yaml:\d+:\d+: faults\.cards\[0\]: no card "bob-card" in actors\.cards/],
    ["faults:\n  tearing: sometimes\n", /faulty\.yaml:\d+:\d+: faults\.tearing: expected atomic or non-atomic/],
    ["faults: [1]\n", /faulty\.yaml:\d+:\d+: faults: a fault profile is a mapping/],
  ];
  for (const [section, message] of cases) {
    const file = scenarioWith(t, section);
    const err = t.throws(() => loadScenario(file), { instanceOf: ScenarioError, message }, section);
    // the line is the offending one: the line that the field's text is on
    const line = Number(/faulty\.yaml:(\d+):/.exec(err?.message ?? "")?.[1]);
    const lines = readFileSync(file, "utf8").split("\n");
    t.true(/faults|explode|NOPE|bob-card|sometimes/.test(lines[line - 1] ?? ""), `${section} -> line ${line}: ${lines[line - 1]}`);
  }
});

test("after a remove fault, find-card puts the card back and the next step works", async (t) => {
  const dir = tempDir(t, "scenario-faults");
  const file = join(dir, "removed.yaml");
  writeFileSync(
    file,
    `name: removed mid-session and put back
seed: 5
start: 2025-01-06T09:00:00Z
actors:
  holders: [{ id: alice, name: Alice Martin, email: alice@example.org }]
  cards: [{ id: alice-card, holder: alice, expires: 5y, pin: "482913" }]
faults:
  faults:
    - remove: { ins: [SELECT], at: [1] }
steps:
  - issue: alice-card
  - authenticate: alice-card
  - find-card: alice-card
  - authenticate: alice-card
    expect: { result: ok, validation: valid }
`,
  );
  const r = (await runFiles([file])).results[0];
  t.deepEqual(r.steps.map((s) => s.outcome), ["pass", "error", "pass", "pass"]);
  t.regex(r.steps[1].message ?? "", /card removed \(injected fault "remove"/);
});
