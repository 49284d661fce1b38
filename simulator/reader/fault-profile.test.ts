import test from "ava";
import fc from "fast-check";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { EventBus, FormatError, INSTRUCTIONS, SeededRandom, UsageError, VirtualClock, insName, type AnyEvent } from "../../core/index.js";
import { tempDir } from "../../harness/processes.js";
import { PivCard, TearingCard } from "../card/index.js";
import { instructionName } from "./fault.js";
import { applyFaults, faultPlanOf, faultProfileFrom, loadFaultProfile, parseFaultProfile } from "./fault-profile.js";
import { MemoryReader, ReaderError } from "./memory.js";

const EXAMPLE = `seed: 7                 # the rate draws
tearing: non-atomic
timeout: 1000
cards: [alice-card]
faults:
  - drop: { at: [3, 7] }
  - sw: { sw: 6F00, rate: 0.01, ins: [GENERAL AUTHENTICATE] }
  - delay: { ms: 50, at: [2] }
  - lose-answer: { rate: 0.1 }
  - remove: { at: [10] }
  - tearing: { ins: [PUT DATA], at: [0], write: 1 }
`;

test("the documented example: each kind, with its options", (t) => {
  const p = parseFaultProfile(EXAMPLE, "example.yaml");
  t.deepEqual(p, {
    seed: 7,
    tearing: "non-atomic",
    timeout: 1000,
    cards: ["alice-card"],
    rules: [
      { fault: { kind: "drop" }, at: [3, 7] },
      { fault: { kind: "sw", sw: 0x6f00 }, rate: 0.01, ins: [0x87] },
      { fault: { kind: "delay", ms: 50 }, at: [2] },
      { fault: { kind: "lose-answer" }, rate: 0.1 },
      { fault: { kind: "remove" }, at: [10] },
      { fault: { kind: "tearing", write: 1 }, at: [0], ins: [0xdb] },
    ],
  });
});

test("defaults: an empty profile, and `faults: []`, inject nothing on an atomic card", (t) => {
  t.deepEqual(parseFaultProfile("", "empty.yaml"), { tearing: "atomic", rules: [] });
  t.deepEqual(parseFaultProfile("faults: []\n", "clean.yaml"), { tearing: "atomic", rules: [] });
  t.deepEqual(faultProfileFrom({ faults: [] }, "scenario faults"), { tearing: "atomic", rules: [] });
});

test("instructions by name (any case, spaces, dashes), hex text or number; status words as written", (t) => {
  const p = parseFaultProfile(
    `faults:
  - drop: { at: 0, ins: [verify, get-response, Generate Asymmetric Key Pair, "0xCB", DB, 0x2C, 36, SET MANAGEMENT KEY] }
  - sw: { sw: 6E00, at: [1] }
  - sw: { sw: "0x6A82", at: [1] }
  - sw: { sw: 9000, at: [1] }
`,
    "ins.yaml",
  );
  t.deepEqual(p.rules[0].ins, [0x20, 0xc0, 0x47, 0xcb, 0xdb, 0x2c, 36, 0xff]);
  t.deepEqual(p.rules[0].at, [0]);
  t.deepEqual(p.rules.slice(1).map((r) => (r.fault.kind === "sw" ? r.fault.sw : -1)), [0x6e00, 0x6a82, 0x9000]);
});

test("each mistake names the file, the line and the field", (t) => {
  const cases: Array<[string, RegExp]> = [
    ["faults:\n  - explode: { at: [1] }\n", /^bad\.yaml:2: faults\[0\]\.explode: unknown fault kind/],
    ["faults:\n  - drop: { at: [1] }\n    sw: { sw: 6F00, at: [1] }\n", /^bad\.yaml:2: faults\[0\]: a fault has exactly one kind .* found drop, sw/],
    ["faults:\n  - drop:\n      at: [1, -2]\n", /^bad\.yaml:3: faults\[0\]\.drop\.at\[1\]: expected a whole number/],
    ["faults:\n  - drop: {}\n", /^bad\.yaml:2: faults\[0\]\.drop: drop needs "at".*or "rate"/],
    ["faults:\n  - sw: { sw: 6F00, rate: }\n", /^bad\.yaml:2: faults\[0\]\.sw: sw needs "at".*or "rate"/],
    ["faults:\n  - drop: { at: [1, \"\"] }\n", /^bad\.yaml:2: faults\[0\]\.drop\.at\[1\]: expected a whole number/],
    ["faults:\n  - delay: { ms: 99999999999, at: [0] }\n", /^bad\.yaml:2: faults\[0\]\.delay\.ms: expected a whole number 0\.\.60000/],
    ["faults:\n  - lose-answer: { rate: 1.5 }\n", /^bad\.yaml:2: faults\[0\]\.lose-answer\.rate: expected a probability 0\.\.1/],
    ["faults:\n  - sw: { at: [1] }\n", /^bad\.yaml:2: faults\[0\]\.sw: sw needs "sw"/],
    ["faults:\n  - sw: { sw: 6F0, at: [1] }\n", /^bad\.yaml:2: faults\[0\]\.sw\.sw: expected 4 hex digits/],
    ["faults:\n  - delay: { at: [1] }\n", /^bad\.yaml:2: faults\[0\]\.delay: delay needs "ms"/],
    ["faults:\n  - delay: { ms: 600000, at: [1] }\n", /^bad\.yaml:2: faults\[0\]\.delay\.ms: expected a whole number 0\.\.60000/],
    ["faults:\n  - remove: { at: [1], ms: 3 }\n", /^bad\.yaml:2: faults\[0\]\.remove\.ms: unknown field/],
    ["faults:\n  - tearing: { at: [1], write: -1 }\n", /^bad\.yaml:2: faults\[0\]\.tearing\.write: expected a whole number 0\.\.16/],
    ["faults:\n  - drop: { at: [1], ins: [FLY] }\n", /^bad\.yaml:2: faults\[0\]\.drop\.ins\[0\]: unknown instruction "FLY"/],
    ["faults:\n  - drop: { at: [1], ins: [] }\n", /^bad\.yaml:2: faults\[0\]\.drop\.ins: expected instructions/],
    ["faults:\n  - drop: { at: [1], ins: [300] }\n", /^bad\.yaml:2: faults\[0\]\.drop\.ins\[0\]: expected an instruction byte/],
    ["tearing: half\n", /^bad\.yaml:1: tearing: expected atomic or non-atomic/],
    ["seed: [1]\n", /^bad\.yaml:1: seed: expected a whole number or a text/],
    ["timeout: 0\n", /^bad\.yaml:1: timeout: expected a whole number 1\.\.60000/],
    ["cards: [\"a b\"]\n", /^bad\.yaml:1: cards\[0\]: expected a card id/],
    ["faults: { drop: 1 }\n", /^bad\.yaml:1: faults: expected a list/],
    ["fault: []\n", /^bad\.yaml:1: fault: unknown field \(expected one of: seed, tearing, timeout, cards, faults\)/],
    ["- drop\n", /^bad\.yaml:1: fault profile: a fault profile is a mapping/],
    ["faults:\n  - drop\n", /^bad\.yaml:2: faults\[0\]: a fault is a mapping/],
  ];
  for (const [text, message] of cases) t.throws(() => parseFaultProfile(text, "bad.yaml"), { instanceOf: UsageError, message }, text);
});

test("YAML that does not parse is a FormatError with the line; a missing file a UsageError", (t) => {
  t.throws(() => parseFaultProfile("faults:\n  - drop: { at: [1\n", "broken.yaml"), { instanceOf: FormatError, message: /broken\.yaml:\d+/ });
  t.throws(() => parseFaultProfile("a: 1\na: 2\n", "dup.yaml"), { instanceOf: FormatError, message: /dup\.yaml/ });
  t.throws(() => loadFaultProfile("/nonexistent/faults.yaml"), { instanceOf: UsageError, message: /cannot read fault profile \/nonexistent\/faults\.yaml: ENOENT/ });
  const dir = tempDir(t, "fault-profile");
  writeFileSync(join(dir, "f.yaml"), "faults:\n  - drop: { at: [2] }\n");
  t.deepEqual(loadFaultProfile(join(dir, "f.yaml")).rules, [{ fault: { kind: "drop" }, at: [2] }]);
});

test("faultProfileFrom: a value already read names its place, or reports through the caller's fail", (t) => {
  t.throws(() => faultProfileFrom({ faults: [{ drop: { at: ["x"] } }] }, "s.yaml:12 faults"), {
    instanceOf: UsageError,
    message: 's.yaml:12 faults: faults[0].drop.at[0]: expected a whole number 0..9007199254740991, got "x"',
  });
  const seen: unknown[] = [];
  t.throws(() =>
    faultProfileFrom({ tearing: 3 }, "here", (path, reason) => {
      seen.push(path, reason);
      throw new UsageError("reported");
    }),
  );
  t.deepEqual(seen, [["tearing"], "expected atomic or non-atomic, got 3"]);
});

test("fuzz: any text is a profile, a UsageError or a FormatError, never another error", (t) => {
  const fragments = fc.constantFrom("faults:", "\n  - ", "drop", "sw", "tearing", "delay", ": ", "{ at: [", "1", "-3", "]", " }", "rate: ", "0.5", "ins: [", "PUT DATA", "ms: ", "x", "seed: ", "&a", "*a", "[", "{", "\t", "'", "\"", "write: ", "cards:");
  let n = 0;
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.array(fragments, { maxLength: 40 }).map((a) => a.join(""))), (text) => {
      n++;
      try {
        parseFaultProfile(text, "fuzz.yaml");
      } catch (err) {
        return err instanceof UsageError || err instanceof FormatError;
      }
      return true;
    }),
    { numRuns: 3000, seed: 15 },
  );
  t.is(n, 3000);
});

test("fuzz: any value is a profile or a UsageError", (t) => {
  const kind = fc.constantFrom("drop", "lose-answer", "sw", "delay", "remove", "tearing", "other");
  const args = fc.dictionary(fc.constantFrom("at", "rate", "ins", "sw", "ms", "write", "z"), fc.anything({ maxDepth: 2 }), { maxKeys: 4 });
  const rule = fc.oneof(fc.anything({ maxDepth: 2 }), fc.tuple(kind, args).map(([k, a]) => ({ [k]: a })));
  const profile = fc.oneof(
    fc.anything({ maxDepth: 3 }),
    fc.record({ seed: fc.anything({ maxDepth: 1 }), tearing: fc.anything({ maxDepth: 1 }), timeout: fc.anything({ maxDepth: 1 }), faults: fc.array(rule, { maxLength: 4 }) }, { requiredKeys: [] }),
  );
  let n = 0;
  fc.assert(
    fc.property(profile, (v) => {
      n++;
      try {
        faultProfileFrom(v, "fuzz");
      } catch (err) {
        return err instanceof UsageError;
      }
      return true;
    }),
    { numRuns: 3000, seed: 15 },
  );
  t.is(n, 3000);
});

const VERIFY_STATUS = Uint8Array.of(0x00, 0x20, 0x00, 0x80);

test("applyFaults: the profile's faults on a reader, an apdu.fault event for each, and the plan a card-side server would use agrees", async (t) => {
  const profile = parseFaultProfile("seed: 3\nfaults:\n  - sw: { sw: 6A82, at: [1] }\n  - drop: { rate: 0.3 }\n", "p.yaml");
  const bus = new EventBus(new VirtualClock(new Date("2030-01-01T00:00:00Z")));
  const events: AnyEvent[] = [];
  bus.on((e) => events.push(e));
  const reader = applyFaults(new MemoryReader(PivCard.create({ expires: new Date("2031-01-01T00:00:00Z") }), { name: "r" }), profile, { bus });
  await reader.connect();
  const seen: string[] = [];
  for (let i = 0; i < 40; i++) {
    seen.push(
      await reader.transmit(VERIFY_STATUS).then(
        (r) => Buffer.from(r).toString("hex"),
        (e: ReaderError) => (e instanceof ReaderError ? "error" : "?"),
      ),
    );
  }
  t.is(seen[1], "6a82");
  t.true(seen.filter((s) => s === "error").length > 3);
  const faults = events.filter((e) => e.type === "apdu.fault");
  t.is(faults.length, reader.injected.length);
  t.deepEqual(faults[0]?.data, { reader: "r", exchange: 1, kind: "sw", ins: "20", detail: "VERIFY: the answer replaced by status word 6A82" });
  // the same profile and seed decide the same exchanges on the card's side
  const plan = faultPlanOf(profile);
  const decided = Array.from({ length: 40 }, () => plan.next(VERIFY_STATUS)).flatMap((d) => (d ? [[d.exchange, d.fault.kind]] : []));
  t.deepEqual(decided, reader.injected.map((i) => [i.exchange, i.fault.kind]));
  // another Random draws other exchanges: the plan's decisions are the Random's
  const other = faultPlanOf(profile, new SeededRandom(4));
  const otherDecided = Array.from({ length: 40 }, () => other.next(VERIFY_STATUS)).flatMap((d) => (d ? [[d.exchange, d.fault.kind]] : []));
  t.true(otherDecided.length > 3);
  t.notDeepEqual(otherDecided, decided);
});

test("applyFaults: a profile that tears needs an emulated card", (t) => {
  const profile = parseFaultProfile("faults:\n  - tearing: { at: [0] }\n", "p.yaml");
  const card = PivCard.create({ expires: new Date("2031-01-01T00:00:00Z") });
  t.throws(() => applyFaults(new MemoryReader(card), profile), { instanceOf: UsageError, message: /tearing needs an emulated card/ });
  const tearing = new TearingCard(card.state);
  t.notThrows(() => applyFaults(new MemoryReader(tearing), profile, { tear: tearing }));
});

test("instruction names come from core's one table: every name there is accepted, with GENERATE and GENERATE KEY, and a fault names the instruction as core does", (t) => {
  for (const i of INSTRUCTIONS) {
    const p = parseFaultProfile(`faults:\n  - drop: { at: 0, ins: [${i.name.toLowerCase()}] }\n`, "names.yaml");
    t.is(insName(p.rules[0].ins![0]), i.name, i.name);
  }
  const aliases = parseFaultProfile("faults:\n  - drop: { at: 0, ins: [GENERATE, generate-key, IMPORT KEY] }\n", "aliases.yaml");
  t.deepEqual(aliases.rules[0].ins, [0x47, 0x47, 0xfe]);
  t.is(instructionName(0x47), "GENERATE ASYMMETRIC KEY PAIR");
  t.is(instructionName(0xf8), "GET SERIAL");
  t.is(instructionName(0x12), "INS 12");
  t.is(instructionName(-1), "a short command");
});
