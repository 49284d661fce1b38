/**
 * `cardloop replay` as a user runs it, on card files (the memory reader):
 * exit 0 same, 1 diverged, 2 unusable input with one line on stderr; the PIN
 * given never printed; `--faults` between the replay and the card.
 */
import test, { type ExecutionContext } from "ava";
import fs from "node:fs";
import path from "node:path";
import { toHex } from "../core/index.js";
import { lockCardFile, saveCard } from "../simulator/card/index.js";
import { MemoryReader } from "../simulator/reader/index.js";
import { formatTrace } from "../simulator/trace/index.js";
import { RecordingReader, SELECT_PIV, TEST_PIN, authenticate, certificateFor, copyCard, hostSession, issuedCard, putCertificate, send } from "../simulator/trace/testing.js";
import { spawnGroup, tempDir } from "../harness/processes.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const BIN = path.join(ROOT, "bin/cardloop.js");
const PIN_HEX = toHex(new TextEncoder().encode(TEST_PIN)).toUpperCase();

async function cardloop(t: ExecutionContext, args: string[], env?: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const g = spawnGroup(t, process.execPath, [BIN, ...args], { cwd: ROOT, ...(env ? { env: { ...process.env, ...env } } : {}) });
  const exit = await g.wait(60_000);
  return { code: exit.code, stdout: g.stdout, stderr: g.stderr };
}

/** A recorded session (trace.jsonl), the card it ran on (card.json) and the same card with another 9A certificate (other.json). */
async function files(t: ExecutionContext): Promise<{ dir: string; trace: string; card: string; other: string }> {
  const dir = tempDir(t, "replay-cli");
  const { card, spki } = issuedCard();
  const rec = new RecordingReader(new MemoryReader(card));
  await hostSession(rec);
  const trace = path.join(dir, "trace.jsonl");
  fs.writeFileSync(trace, formatTrace(rec.trace()));
  const cardFile = path.join(dir, "card.json");
  saveCard(card, cardFile);
  const other = copyCard(card);
  other.powerOn();
  send(other, SELECT_PIV);
  authenticate(other);
  putCertificate(other, 0x5fc105, certificateFor(spki, "Someone Else", 5));
  other.powerOff();
  const otherFile = path.join(dir, "other.json");
  saveCard(other, otherFile);
  return { dir, trace, card: cardFile, other: otherFile };
}

test("same card: exit 0, one line per exchange, the summary; the PIN given appears nowhere", async (t) => {
  const f = await files(t);
  const r = await cardloop(t, ["replay", f.trace, "--card", f.card, "--pin", TEST_PIN]);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.is(r.stderr, "");
  t.regex(r.stdout, /^~ +\d+ GENERAL AUTHENTICATE .*key 9A .* -> 9000 \(signature verifies with the certificate the trace read for key 9A\)$/m);
  t.regex(r.stdout, /^ +\d+ VERIFY .*PIV PIN -> 9000$/m);
  t.regex(r.stdout, /^# no divergence: \d+ same, 3 equivalent, 0 diverged$/m);
  for (const secret of [TEST_PIN, PIN_HEX]) t.false(r.stdout.includes(secret), `stdout shows ${secret}`);
});

test("another certificate: exit 1, the exchange, both answers and the certificate named as what differs", async (t) => {
  const f = await files(t);
  const r = await cardloop(t, ["replay", f.trace, "--card", f.other, "--pin", TEST_PIN]);
  t.is(r.code, 1, r.stdout + r.stderr);
  t.regex(r.stdout, /^! +3 GET DATA .*5FC105 X\.509 Certificate for PIV Authentication \(9A\) -> 9000$/m);
  t.regex(r.stdout, /^ {2}diverged \[line \d+\]: the answer differs$/m);
  t.regex(r.stdout, /^ {2}command {3}00CB3FFF055C035FC10500$/m);
  t.regex(r.stdout, /^ {2}recorded {2}53.* 9000 \(success\)$/m);
  t.regex(r.stdout, /^ {2}replayed {2}53.* 9000 \(success\)$/m);
  t.regex(r.stdout, /^ {2}differs {3}53\/70 certificate differs at byte \d+ of \d+/m);
  t.regex(r.stdout, /^# 1 divergence: 2 same, 0 equivalent, 1 diverged, stopped after 3 of \d+/m);
});

test("a wrong PIN: exit 1 at VERIFY, 63C2 decoded, the wrong PIN not printed; --json gives one object per exchange and a summary", async (t) => {
  const f = await files(t);
  const r = await cardloop(t, ["replay", f.trace, "--card", f.card, "--pin", "55667788", "--json"]);
  t.is(r.code, 1, r.stderr);
  const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
  const last = lines.pop();
  t.deepEqual(Object.keys(last), ["summary"]);
  t.is(last.summary.outcome, "diverged");
  const verify = lines[lines.length - 1];
  t.is(verify.command, "0020008008FFFFFFFFFFFFFFFF", "shown as recorded, masked");
  t.is(verify.replayedSw, "63C2 (verification failed, 2 tries left)");
  t.false(r.stdout.includes("55667788") || r.stdout.includes(toHex(new TextEncoder().encode("55667788"))));
});

test("unusable input: exit 2, one line on stderr, the card untouched", async (t) => {
  const f = await files(t);
  const before = fs.readFileSync(f.card, "utf8");
  const notJson = path.join(f.dir, "bad.jsonl");
  fs.writeFileSync(notJson, "hello\n");
  const cases: Array<[string[], RegExp]> = [
    [["replay", f.trace, "--card", f.card], /^cardloop: the trace masked a PIN \(line \d+\): give --pin$/],
    [["replay", path.join(f.dir, "missing.jsonl"), "--card", f.card, "--pin", TEST_PIN], /^cardloop: cannot read .*missing\.jsonl: ENOENT$/],
    [["replay", notJson, "--card", f.card, "--pin", TEST_PIN], /not a log cardloop can import/],
    [["replay", f.trace, "--pin", TEST_PIN], /^cardloop: give one of --card FILE or --reader pcsc:NAME$/],
    [["replay", f.trace, "--card", f.card, "--reader", "pcsc:X", "--pin", TEST_PIN], /^cardloop: give one of --card FILE or --reader pcsc:NAME$/],
    [["replay", f.trace, "--card", f.card, "--pin", TEST_PIN, "--management-key", "zz"], /^cardloop: --management-key must be hex$/],
    [["replay", f.trace, "--card", f.card, "--pin", "123456789"], /^cardloop: the PIN given must be 1 to 8 characters$/],
  ];
  for (const [args, message] of cases) {
    const r = await cardloop(t, args);
    t.is(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    t.is(r.stderr.trim().split("\n").length, 1, r.stderr);
    t.regex(r.stderr.trim(), message);
    t.is(r.stdout, "", "nothing was replayed");
    t.false(r.stderr.includes("123456789"), "a PIN given is not quoted");
  }
  t.is(fs.readFileSync(f.card, "utf8"), before, "no PIN try was spent");
  const lock = lockCardFile(f.card);
  try {
    const busy = await cardloop(t, ["replay", f.trace, "--card", f.card, "--pin", TEST_PIN]);
    t.is(busy.code, 2);
    t.regex(busy.stderr, /^cardloop: card file .*card\.json is in use by pid \d+\n$/);
  } finally {
    lock.release();
  }
});

test("--faults: a status word injected at an exchange makes the replay diverge there; a profile without faults changes nothing", async (t) => {
  const f = await files(t);
  const faulty = path.join(f.dir, "faults.yaml");
  fs.writeFileSync(faulty, "faults:\n  - sw: { sw: 6F00, at: [1] }\n");
  const r = await cardloop(t, ["replay", f.trace, "--card", f.card, "--pin", TEST_PIN, "--faults", faulty]);
  t.is(r.code, 1, r.stdout + r.stderr);
  t.regex(r.stdout, /^! +2 GET DATA .*5FC102 CHUID -> 6F00$/m);
  const clean = path.join(f.dir, "clean.yaml");
  fs.writeFileSync(clean, "faults: []\n");
  const c = await cardloop(t, ["replay", f.trace, "--card", f.card, "--pin", TEST_PIN, "--faults", clean]);
  t.is(c.code, 0, c.stdout + c.stderr);
});

test("--faults drop, lose-answer, remove: the exchange diverges with \"transmission failed\", exit 1 with the summary; --keep-going connects again and goes on", async (t) => {
  const f = await files(t);
  for (const kind of ["drop", "lose-answer", "remove"]) {
    const profile = path.join(f.dir, `${kind}.yaml`);
    fs.writeFileSync(profile, `faults:\n  - ${kind}: { at: [1] }\n`);
    const r = await cardloop(t, ["replay", f.trace, "--card", f.card, "--pin", TEST_PIN, "--faults", profile]);
    t.is(r.code, 1, `${kind}: ${r.stdout}${r.stderr}`);
    t.is(r.stderr, "", kind);
    t.regex(r.stdout, /^! +2 GET DATA .*5FC102 CHUID -> $/m, kind);
    t.regex(r.stdout, /^ {2}diverged \[line \d+\]: transmission failed: .*injected fault/m, kind);
    t.regex(r.stdout, /^ {2}replayed {2}no answer$/m, kind);
    t.regex(r.stdout, /^# 1 divergence: 1 same, 0 equivalent, 1 diverged, stopped after 2 of \d+/m, kind);
    const j = await cardloop(t, ["replay", f.trace, "--card", f.card, "--pin", TEST_PIN, "--faults", profile, "--json"]);
    t.is(j.code, 1, `${kind} --json: ${j.stderr}`);
    const objects = j.stdout.trim().split("\n").map((l) => JSON.parse(l));
    t.deepEqual(Object.keys(objects[objects.length - 1]), ["summary"]);
    t.regex(objects[objects.length - 2].reason, /^transmission failed: /);
  }
  // a drop: the card is still there, the replay goes on past it
  const drop = await cardloop(t, ["replay", f.trace, "--card", f.card, "--pin", TEST_PIN, "--faults", path.join(f.dir, "drop.yaml"), "--keep-going"]);
  t.is(drop.code, 1, drop.stdout + drop.stderr);
  t.regex(drop.stdout, /^# 1 divergence: \d+ same, 3 equivalent, 1 diverged$/m, "every other exchange replayed as recorded");
  // a remove: the card stays out, so nothing after it can be replayed
  const removed = await cardloop(t, ["replay", f.trace, "--card", f.card, "--pin", TEST_PIN, "--faults", path.join(f.dir, "remove.yaml"), "--keep-going"]);
  t.is(removed.code, 1, removed.stdout + removed.stderr);
  t.regex(removed.stdout, /^! +3 .*\n {2}diverged \[line \d+\]: transmission failed: cannot connect again: .*no card present/m);
  t.regex(removed.stdout, /^# 2 divergences: 1 same, 0 equivalent, 2 diverged, stopped after 3 of \d+ \(the card cannot be connected again\)$/m);
});

test("--faults tearing: the card loses power during the VERIFY's PIN try; the replay diverges there, and the card file keeps the try counted (the atomic model)", async (t) => {
  const f = await files(t);
  const profile = path.join(f.dir, "tear.yaml");
  fs.writeFileSync(profile, "faults:\n  - tearing: { ins: [VERIFY], at: [0] }\n");
  const before = JSON.parse(fs.readFileSync(f.card, "utf8")) as { pinLeft: number };
  const r = await cardloop(t, ["replay", f.trace, "--card", f.card, "--pin", TEST_PIN, "--faults", profile]);
  t.is(r.code, 1, r.stdout + r.stderr);
  t.regex(r.stdout, /^! +\d+ VERIFY .*\n {2}diverged \[line \d+\]: transmission failed: .*lost power during VERIFY/m);
  t.false(r.stdout.includes(TEST_PIN), "the PIN given is not printed");
  const after = JSON.parse(fs.readFileSync(f.card, "utf8")) as { pinLeft: number };
  t.is(after.pinLeft, before.pinLeft, "a tear before the commit keeps the memory as it was: no try lost, none given back");
});

test("a trace naming two readers is refused (exit 2, naming both) unless --trace-reader picks one, whose exchanges alone are replayed", async (t) => {
  const f = await files(t);
  const lines = fs.readFileSync(f.trace, "utf8").trim().split("\n");
  const entries = lines.slice(1).map((l) => ({ ...JSON.parse(l), reader: "Reader A" }));
  // Reader B's card answered a GET DATA this card has never seen: replayed, it would diverge
  const intruder = { type: "apdu", seq: 0, reader: "Reader B", command: "00CB3FFF055C035FC10900", response: "5300", sw: "9000" };
  const mixed = [entries[0], entries[1], intruder, ...entries.slice(2)].map((e, i) => ({ ...e, seq: i }));
  const two = path.join(f.dir, "two.jsonl");
  fs.writeFileSync(two, [lines[0], ...mixed.map((e) => JSON.stringify(e))].join("\n") + "\n");
  const refused = await cardloop(t, ["replay", two, "--card", f.card, "--pin", TEST_PIN]);
  t.is(refused.code, 2, refused.stdout + refused.stderr);
  t.regex(refused.stderr, /^cardloop: the trace names 2 readers \("Reader A", "Reader B"\): pick one with --trace-reader NAME\n$/);
  t.is(refused.stdout, "");
  const a = await cardloop(t, ["replay", two, "--card", f.card, "--pin", TEST_PIN, "--trace-reader", "Reader A"]);
  t.is(a.code, 0, a.stdout + a.stderr);
  t.false(a.stdout.includes("5FC109"), "Reader B's exchange is not sent");
  const unknown = await cardloop(t, ["replay", two, "--card", f.card, "--pin", TEST_PIN, "--trace-reader", "Reader C"]);
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /^cardloop: --trace-reader "Reader C" is not in the trace \(it names "Reader A", "Reader B"\)\n$/);
});

test("the PIN from CARDLOOP_PIN: no --pin on the command line, the same replay, and the PIN printed nowhere", async (t) => {
  const f = await files(t);
  const r = await cardloop(t, ["replay", f.trace, "--card", f.card], { CARDLOOP_PIN: TEST_PIN });
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /^ +\d+ VERIFY .*PIV PIN -> 9000$/m);
  for (const secret of [TEST_PIN, PIN_HEX]) t.false(r.stdout.includes(secret) || r.stderr.includes(secret));
  const wrong = await cardloop(t, ["replay", f.trace, "--card", f.card, "--pin", "55667788"], { CARDLOOP_PIN: TEST_PIN });
  t.is(wrong.code, 1, "--pin wins over the environment");
});
