import test, { type ExecutionContext } from "ava";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { tempDir } from "../harness/processes.js";
import { loadCard } from "../simulator/card/index.js";

/**
 * `cardloop run --faults` and `cardloop apdu --faults`: the fault profile
 * from the command line, its evidence in the run log, its mistakes one line
 * and exit 2.
 */

const ROOT = resolve(import.meta.dirname, "..");
const FULL = join(ROOT, "scenarios", "library", "01-full-lifecycle.yaml");

function cardloop(...args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, "bin", "cardloop.js"), ...args], { cwd: ROOT, encoding: "utf8", timeout: 90_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tmp(t: ExecutionContext): string {
  return tempDir(t, "faults");
}

function write(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const events = (runLog: string) =>
  readFileSync(runLog, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { type: string; data: Record<string, unknown> });

test("run --faults: the faulted step fails (exit 1), the run log holds the apdu.fault event; a clean profile passes (exit 0)", (t) => {
  const dir = tmp(t);
  const faults = write(dir, "faults.yaml", "faults:\n  - sw: { sw: 6F00, ins: [GENERAL AUTHENTICATE], at: [4] }\n");
  const r = cardloop("run", FULL, "--faults", faults, "--out", join(dir, "out"));
  t.is(r.code, 1, r.stdout + r.stderr);
  const log = events(join(dir, "out", "run.jsonl"));
  const fault = log.find((e) => e.type === "apdu.fault");
  t.like(fault?.data, { kind: "sw", ins: "87", reader: "memory:alice-card", detail: "GENERAL AUTHENTICATE: the answer replaced by status word 6F00" });
  const step = log.find((e) => e.type === "step.finished" && e.data.outcome !== "pass");
  t.like(step?.data, { index: 2, action: "authenticate", outcome: "fail" });
  t.regex(String(step?.data.message), /refused: card-refused/);
  // the card's answer as the terminal got it is in the trace
  t.true(log.some((e) => e.type === "apdu.exchange" && e.data.sw === "6F00"));

  const dropped = write(dir, "drop.yaml", "faults:\n  - drop: { ins: [GENERAL AUTHENTICATE], at: [4] }\n");
  const d = cardloop("run", FULL, "--faults", dropped);
  t.is(d.code, 1, d.stdout + d.stderr);
  t.regex(d.stdout, /step 3 authenticate: ReaderError: memory:alice-card: transmission failed \(injected fault "drop" at exchange \d+, GENERAL AUTHENTICATE\)/);

  const clean = write(dir, "clean.yaml", "faults: []\n");
  const ok = cardloop("run", FULL, "--faults", clean);
  t.is(ok.code, 0, ok.stdout + ok.stderr);
});

test("run --faults and apdu --faults: a bad profile is one line naming file and line, exit 2, before anything runs", (t) => {
  const dir = tmp(t);
  const bad = write(dir, "bad.yaml", "faults:\n  - drop: { at: [1] }\n  - sw: { sw: 6F0, at: [2] }\n");
  for (const args of [["run", FULL, "--faults", bad], ["apdu", "--card", join(dir, "none.json"), "--faults", bad, "00A4040000"]]) {
    const r = cardloop(...args);
    t.is(r.code, 2, r.stderr);
    t.is(r.stderr.trim().split("\n").length, 1, r.stderr);
    t.regex(r.stderr, /bad\.yaml:3: faults\[1\]\.sw\.sw: expected 4 hex digits/);
  }
  // a profile for a card no file of the run has would inject nothing: a typo, not a clean run
  const typo = cardloop("run", FULL, "--faults", write(dir, "typo.yaml", "cards: [bob-card]\nfaults:\n  - drop: { rate: 1 }\n"));
  t.is(typo.code, 2, typo.stdout + typo.stderr);
  t.is(typo.stderr.trim(), "cardloop: the fault profile's cards: bob-card is in no scenario file of the run (its cards: alice-card)");
  // a card only some files have: the others run without faults, and say so
  const spare = write(dir, "spare.yaml", readFileSync(FULL, "utf8").replace("    - id: alice-card\n", "    - id: alice-card\n      holder: alice\n      expires: 5y\n    - id: spare-card\n"));
  const some = cardloop("run", FULL, spare, "--faults", write(dir, "spare-faults.yaml", "cards: [spare-card]\nfaults: []\n"));
  t.is(some.code, 0, some.stdout + some.stderr);
  t.is(some.stderr, "cardloop: warning: fault profile: card spare-card not in this scenario: it runs without faults\n");
  const missing = cardloop("run", FULL, "--faults", join(dir, "nope.yaml"));
  t.is(missing.code, 2);
  t.regex(missing.stderr, /cannot read fault profile .*nope\.yaml: ENOENT/);
});

const CHANGE_PIN = "0024008010313233343536FFFF3837363534333231"; // 123456 -> 87654321
const VERIFY_OLD = "0020008008313233343536FFFF";
const VERIFY_NEW = "00200080083837363534333231";

test("apdu --faults on a card file: a torn CHANGE REFERENCE DATA on a non-atomic card leaves neither PIN working, in the file too", (t) => {
  const dir = tmp(t);
  const card = join(dir, "card.json");
  t.is(cardloop("card", "new", "--out", card, "--expires", "2031-05-06", "--serial", "00C0FFEE").code, 0);
  const faults = write(dir, "tear.yaml", "tearing: non-atomic\nfaults:\n  - tearing: { ins: [CHANGE REFERENCE DATA], at: [0], write: 1 }\n");
  const script = write(dir, "s.apdu", `${CHANGE_PIN}\nreset\n00A4040009A00000030800001000\n${VERIFY_OLD} 9000\n${VERIFY_NEW} 9000\n`);
  const log = join(dir, "log.jsonl");
  const r = cardloop("apdu", "--card", card, "--faults", faults, "--script", script, "--log", log);
  t.is(r.code, 1, r.stdout + r.stderr);
  t.regex(r.stdout, /! cardloop apdu: card lost power during CHANGE REFERENCE DATA \(injected fault "tearing" at exchange 0; memory kept the partial state \(pin, pinLeft changed\)\)/);
  t.regex(r.stdout, /! expected 9000, got 63C1/);
  t.regex(r.stdout, /! expected 9000, got 63C0/);
  // the card file is the card's memory: the torn PIN is in it
  const saved = loadCard(card).state;
  // the new PIN's first 4 bytes, the old one's last 4: 8765 + 56 FF FF
  t.is(Buffer.from(saved.pin).toString("hex"), "383736353536ffff");
  t.is(saved.pinLeft, 0);
  const logged = readFileSync(log, "utf8");
  t.regex(logged, /"apdu\.fault"/);
  // the PINs typed (123456, 87654321) appear nowhere: commands are masked, fault details name fields only
  t.false(logged.includes("313233343536"));
  t.false(logged.includes("3837363534333231"));
  t.false(r.stdout.includes("3837363534333231"));
});

test("apdu --faults: a status word fault meets the script's expectation (exit 1); --json shows a failed exchange; tearing on a PC/SC reader is a usage error", (t) => {
  const dir = tmp(t);
  const card = join(dir, "card.json");
  t.is(cardloop("card", "new", "--out", card, "--expires", "2031-05-06").code, 0);
  const sw = write(dir, "sw.yaml", "faults:\n  - sw: { sw: 6A82, ins: [GET DATA], at: [1] }\n  - drop: { ins: [VERIFY], at: [0] }\n");
  const r = cardloop("apdu", "--card", card, "--faults", sw, "--json", "00CB3FFF055C035FC102 9000", "00CB3FFF055C035FC102 9000", "0020008000");
  t.is(r.code, 1, r.stderr);
  const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  t.like(lines[0], { sw: "9000", ok: true });
  t.like(lines[1], { sw: "6A82", expected: "9000", ok: false });
  t.like(lines[2], { command: "0020008000" });
  t.regex(String(lines[2].error), /transmission failed \(injected fault "drop" at exchange 2, VERIFY\)/);

  const tear = write(dir, "tear.yaml", "faults:\n  - tearing: { at: [0] }\n");
  const p = cardloop("apdu", "--reader", "pcsc:Some Reader 00 00", "--faults", tear, "00A4040000");
  t.is(p.code, 2);
  t.regex(p.stderr, /tearing needs an emulated card/);
});

test("apdu --faults --log: the log holds what the host got (the replaced status word), a torn command as its fault, PINs masked", (t) => {
  const dir = tmp(t);
  const card = join(dir, "card.json");
  t.is(cardloop("card", "new", "--out", card, "--expires", "2031-05-06").code, 0);
  const faults = write(dir, "f.yaml", "faults:\n  - sw: { sw: 6A82, ins: [SELECT], at: [0] }\n  - tearing: { ins: [CHANGE REFERENCE DATA], at: [0] }\n");
  const log = join(dir, "log.jsonl");
  const r = cardloop("apdu", "--card", card, "--faults", faults, "--log", log, "00A4040009A00000030800001000", `${VERIFY_OLD} 9000`, CHANGE_PIN);
  t.is(r.code, 1, r.stdout + r.stderr);
  t.regex(r.stdout, /< 6A82/);
  const logged = events(log);
  const exchanges = logged.filter((e) => e.type === "apdu.exchange").map((e) => e.data);
  // the SELECT as the host got it (the card answered 9000, the fault replaced it)
  t.like(exchanges[0], { command: "00A4040009A00000030800001000", sw: "6A82", reader: "cardloop apdu" });
  // the VERIFY went through, its PIN masked
  t.like(exchanges[1], { command: "0020008008FFFFFFFFFFFFFFFF", sw: "9000" });
  // the torn CHANGE REFERENCE DATA never completed: its trace is the fault
  t.is(exchanges.length, 2);
  t.deepEqual(
    logged.filter((e) => e.type === "apdu.fault").map((e) => [e.data.kind, e.data.ins, e.data.exchange]),
    [["sw", "A4", 0], ["tearing", "24", 2]],
  );
  const text = readFileSync(log, "utf8");
  t.false(text.includes("313233343536"));
  t.false(text.includes("3837363534333231"));
});
