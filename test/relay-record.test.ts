/**
 * Recording through a relay (issue #15): `cardloop card serve --relay
 * pcsc:READER --record T` puts the card of another PC/SC reader behind vpcd's
 * first reader. Here the "real" card is an issued emulated card served in
 * vpcd's second reader ("Virtual PCD 00 01") by `card serve --card --record`,
 * so the two traces (what the middleware sent and got through the relay, and
 * what the card itself answered) can be compared; then `card from-trace`
 * rebuilds the card from the relay's trace.
 */
import test, { type ExecutionContext } from "ava";
import fs from "node:fs";
import path from "node:path";
import { READER_0, READER_1, startPcscd, type Pcscd } from "../harness/pcscd.js";
import { spawnGroup, tempDir, runTool, type Group } from "../harness/processes.js";
import { loadCard } from "../simulator/card/index.js";
import { PcscReader } from "../simulator/reader/index.js";
import { readTrace, type TraceApdu } from "../simulator/trace/index.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const BIN = path.join(ROOT, "bin/cardloop.js");
const PIN = "13572468";
const hex = (s: string) => Buffer.from(s, "ascii").toString("hex").toUpperCase();

let pcscd: Pcscd;

test.before(async () => {
  pcscd = await startPcscd({ quickack: true });
});

test.after.always(async () => {
  await pcscd?.stop();
});

function cardloop(t: ExecutionContext, dir: string, args: string[]): Group {
  return spawnGroup(t, process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...pcscd.env, HOME: dir }, label: `cardloop ${args.slice(0, 2).join(" ")}` });
}

async function finished(g: Group): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const exit = await g.wait(90_000);
  return { code: exit.code, stdout: g.stdout, stderr: g.stderr };
}

/** Resolves once pcscd reports a card in `reader`. */
async function seen(reader: string): Promise<void> {
  const r = await PcscReader.open(reader);
  try {
    await r.waitForCard(20_000);
  } finally {
    await r.close();
  }
}

/** Stops a served card (SIGTERM) and waits until pcscd sees its reader empty. */
async function stopServing(g: Group, reader: string): Promise<void> {
  g.signal("SIGTERM");
  const exit = await g.wait(30_000);
  if (exit.code !== 0) throw new Error(g.report(`exited ${exit.code}`));
  const r = await PcscReader.open(reader);
  try {
    await r.waitForState(5000);
    await r.waitForRemoval(10_000);
  } finally {
    await r.close();
  }
}

const apdus = (file: string) => readTrace(file).entries.filter((e): e is TraceApdu => e.type === "apdu");

test.serial("card serve --relay --record: the middleware gets the real card's answers, the trace holds every exchange with the PIN masked, and card from-trace rebuilds the card's objects", async (t) => {
  const dir = tempDir(t, "relay-record");
  const cardFile = path.join(dir, "card.json");
  const expires = new Date(Date.now() + 700 * 86_400_000).toISOString().slice(0, 10);
  const made = await finished(
    cardloop(t, dir, [
      "card", "new", "--out", cardFile, "--expires", expires, "--pin", PIN, "--serial", "0A1B2C3D",
      "--issue", "--ca-data", path.join(dir, "ca"), "--holder-name", "Rene Relay", "--holder-email", "rene@example.test",
    ]),
  );
  t.is(made.code, 0, made.stderr);

  // the "real" card, in the second vpcd reader, recording what it answers
  const cardTrace = path.join(dir, "card.jsonl");
  const served = cardloop(t, dir, ["card", "serve", "--vpcd", pcscd.endpoints[1], "--card", cardFile, "--record", cardTrace]);
  await served.waitFor("stderr", /inserted in vpcd/);
  await seen(READER_1);
  // the relay, in the first
  const relayTrace = path.join(dir, "relay.jsonl");
  const relay = cardloop(t, dir, ["card", "serve", "--vpcd", pcscd.endpoints[0], "--relay", `pcsc:${READER_1}`, "--record", relayTrace]);
  await relay.waitFor("stderr", /relayed card in "Virtual PCD 00 01" inserted in vpcd .* \(ATR 3B/);
  await seen(READER_0);

  const env = { env: { ...pcscd.env, HOME: dir } };
  const sent = await runTool(
    "opensc-tool",
    ["-r", READER_0, "-s", "00A4040009A0000003080000100000", "-s", "00F8000000", "-s", `0020008008${hex(PIN)}`, "-s", "0020008000"],
    env,
  );
  t.is(sent.code, 0, sent.stderr);
  t.regex(sent.stdout, /0A 1B 2C 3D/, "GET SERIAL answered by the relayed card");
  t.is(sent.stdout.match(/SW1=0x90, SW2=0x00/g)?.length, 4, sent.stdout);
  const dump = await runTool("pkcs15-tool", ["--reader", "0", "-D"], env);
  t.is(dump.code, 0, dump.stderr);
  t.regex(dump.stdout, /Certificate for PIV Authentication/);
  t.regex(dump.stdout, /Certificate for Digital Signature/);

  await stopServing(relay, READER_0);
  t.regex(relay.stderr, /trace .*relay\.jsonl: \d+ entries, 1 exchanges with secrets masked/);
  await stopServing(served, READER_1);

  const relayed = apdus(relayTrace);
  const answered = apdus(cardTrace);
  t.true(relayed.length > 20, `${relayed.length} exchanges relayed`);
  const text = fs.readFileSync(relayTrace, "utf8");
  t.false(text.includes(hex(PIN)), "no PIN in the relay's trace");
  t.false(fs.readFileSync(cardTrace, "utf8").includes(hex(PIN)), "nor in the card's");
  const verify = relayed.filter((e) => e.command.startsWith("00200080"));
  t.deepEqual(verify.map((e) => [e.command, e.masked, e.sw]), [["0020008008FFFFFFFFFFFFFFFF", "pin", "9000"], ["0020008000", undefined, "9000"]]);
  // every exchange through the relay is the one the card answered, in order
  const strip = (e: TraceApdu) => ({ command: e.command, response: e.response, sw: e.sw, masked: e.masked });
  t.deepEqual(relayed.map(strip), answered.map(strip));
  t.true(relayed.every((e) => typeof e.micros === "number" && typeof e.atMs === "number"), "every exchange timed");
  t.is(readTrace(relayTrace).header.source, READER_1, "a relay's trace names the relayed reader as its source");
  const events = readTrace(relayTrace).entries.filter((e) => e.type === "event");
  t.true(events.some((e) => e.type === "event" && e.event === "insert" && e.atr?.startsWith("3B")), "the insertion and the real card's ATR");

  // the card rebuilt from the relay's trace holds the served card's objects
  const rebuilt = path.join(dir, "rebuilt.json");
  const from = await finished(cardloop(t, dir, ["card", "from-trace", relayTrace, "--out", rebuilt]));
  t.is(from.code, 0, from.stderr);
  t.regex(from.stdout, /^taken: object 5FC105 .* as the field card answered/m);
  t.regex(from.stdout, /^taken: serial 0A1B2C3D/m);
  t.regex(from.stdout, /^fresh: key 9A: a new P-256 key pair generated on the card/m);
  t.is(fs.statSync(rebuilt).mode & 0o777, 0o600);
  const original = loadCard(cardFile);
  const copy = loadCard(rebuilt);
  t.is(copy.serial, original.serial);
  t.is(copy.expires.toISOString(), original.expires.toISOString());
  const read = [...copy.state.objects.keys()];
  for (const tag of [0x5fc102, 0x7e, 0x5fc105, 0x5fc10a]) t.true(read.includes(tag), `object ${tag.toString(16)} was taken`);
  for (const tag of read) t.deepEqual(copy.state.objects.get(tag), original.state.objects.get(tag), `object ${tag.toString(16)}`);
  t.deepEqual([...original.state.objects.keys()].sort(), read.sort(), "the same objects");
  t.deepEqual(new Map([...copy.state.keys].map(([s, k]) => [s, k.alg])), new Map([...original.state.keys].map(([s, k]) => [s, k.alg])));
});

test.serial("card serve: --card and --relay exclude each other; a bad --relay, a missing reader or an existing trace; card from-trace on an unusable trace: exit 2, one line", async (t) => {
  const dir = tempDir(t, "relay-usage");
  const file = path.join(dir, "c.json");
  t.is((await finished(cardloop(t, dir, ["card", "new", "--out", file]))).code, 0);
  const existing = path.join(dir, "exists.jsonl");
  fs.writeFileSync(existing, "");
  const cases: Array<[string[], RegExp]> = [
    [["--card", file, "--relay", `pcsc:${READER_1}`], /--card FILE or --relay pcsc:READER \(one of them\)/],
    [[], /--card FILE or --relay/],
    [["--relay", "usb:x"], /--relay takes pcsc:READER/],
    [["--relay", "pcsc:No Such Reader"], /No Such Reader/],
    [["--card", file, "--record", existing], /exists \(use --force/],
  ];
  for (const [args, message] of cases) {
    const r = await finished(cardloop(t, dir, ["card", "serve", "--vpcd", pcscd.endpoints[0], ...args]));
    t.is(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    t.is(r.stderr.trim().split("\n").length, 1, r.stderr);
    t.regex(r.stderr, message);
  }
  // card from-trace: a trace with no PIV in it, or no trace at all
  const noPiv = path.join(dir, "no-piv.jsonl");
  fs.writeFileSync(noPiv, '{"cardloopTrace":1,"format":"cardloop","masked":0}\n{"type":"apdu","seq":0,"command":"00A4040006A00000000101","response":"","sw":"6A82"}\n');
  for (const [args, message] of [
    [[noPiv, "--out", path.join(dir, "x.json")], /no successful SELECT of the PIV application/],
    [[file, "--out", path.join(dir, "y.json")], /trace/],
    [[path.join(dir, "none.jsonl"), "--out", path.join(dir, "z.json")], /no trace/],
  ] as const) {
    const r = await finished(cardloop(t, dir, ["card", "from-trace", ...args]));
    t.is(r.code, 2, r.stderr);
    t.is(r.stderr.trim().split("\n").length, 1, r.stderr);
    t.regex(r.stderr, message);
    t.false(fs.existsSync(args[2]), "no card file written");
  }
});

test.serial("card serve --faults: each fault kind as the middleware meets it through pcscd, said on stderr; a torn VERIFY costs no PIN try", async (t) => {
  const dir = tempDir(t, "serve-faults");
  const cardFile = path.join(dir, "card.json");
  t.is((await finished(cardloop(t, dir, ["card", "new", "--out", cardFile, "--serial", "0A1B2C3D"]))).code, 0);
  const profile = path.join(dir, "faults.yaml");
  fs.writeFileSync(
    profile,
    [
      "faults:",
      "  - sw: { sw: 6F00, at: [0], ins: [GET SERIAL] }",
      "  - drop: { at: [1], ins: [GET SERIAL] }",
      "  - remove: { at: [2], ins: [GET SERIAL] }",
      "  - delay: { ms: 200, at: [3], ins: [GET SERIAL] }",
      "  - lose-answer: { at: [4], ins: [GET SERIAL] }",
      "  - tearing: { at: [0], ins: [VERIFY] }",
      "",
    ].join("\n"),
  );
  const served = cardloop(t, dir, ["card", "serve", "--vpcd", pcscd.endpoints[0], "--card", cardFile, "--faults", profile]);
  await served.waitFor("stderr", /inserted in vpcd/);
  const watcher = await PcscReader.open(READER_0);
  t.teardown(() => watcher.close());
  const presence: boolean[] = [];
  watcher.onPresence((p) => presence.push(p));
  await watcher.waitForCard(20_000);
  /** pcscd saw the card leave and come back since `from` (an index into `presence`). */
  const back = async (from: number) => {
    for (let waited = 0; !presence.slice(from).join(",").includes("false,true"); waited += 50) {
      if (waited > 15_000) throw new Error(`pcscd did not see the card leave and come back: ${presence.slice(from).join(",")}\n${served.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const env = { env: { ...pcscd.env, HOME: dir } };
  const serial = () => runTool("opensc-tool", ["-r", READER_0, "-s", "00A4040009A0000003080000100000", "-s", "00F8000000"], env);

  const sw = await serial();
  t.is(sw.code, 0, sw.stderr);
  t.regex(sw.stdout, /Sending: 00 F8 00 00 00 \nReceived \(SW1=0x6F, SW2=0x00\)/);
  t.regex(served.stderr, /fault: exchange \d+ \(GET SERIAL\): the answer replaced by status word 6F00/);

  for (const [kind, said] of [
    ["drop", /the command never reached the card; the card left vpcd/],
    ["remove", /card removed before the command; back after 1000 ms/],
  ] as const) {
    const from = presence.length;
    const r = await serial();
    t.not(r.code, 0, `${kind}: ${r.stdout}`);
    t.regex(r.stderr, /transmit failed/, kind);
    t.regex(served.stderr, said);
    await back(from);
  }
  const slow = await serial();
  t.is(slow.code, 0, slow.stderr);
  t.regex(slow.stdout, /0A 1B 2C 3D/, "the delayed answer arrives");
  t.regex(served.stderr, /answer delayed 200 ms/);
  let from = presence.length;
  const lost = await serial();
  t.not(lost.code, 0);
  t.regex(served.stderr, /the card ran the command; its answer was lost/);
  await back(from);

  from = presence.length;
  const wrong = await runTool("opensc-tool", ["-r", READER_0, "-s", "00A4040009A0000003080000100000", "-s", `0020008008${hex("99999999")}`], env);
  t.not(wrong.code, 0);
  t.regex(served.stderr, /fault: exchange \d+ \(VERIFY\): the card lost power during the command; its memory kept the old state/);
  await back(from);
  const left = await runTool("opensc-tool", ["-r", READER_0, "-s", "00A4040009A0000003080000100000", "-s", "0020008000"], env);
  t.regex(left.stdout, /SW1=0x63, SW2=0xC3/, `3 tries left: the torn VERIFY counted none\n${left.stderr}\n${served.stderr}`);
  await watcher.close();
  await stopServing(served, READER_0);
  t.is(loadCard(cardFile).state.pinLeft, 3);
});

test.serial("card serve --faults: tearing with --relay, or a bad profile, is refused with one line", async (t) => {
  const dir = tempDir(t, "serve-faults-usage");
  const tearing = path.join(dir, "tear.yaml");
  fs.writeFileSync(tearing, "faults:\n  - tearing: { at: [0] }\n");
  const bad = path.join(dir, "bad.yaml");
  fs.writeFileSync(bad, "faults:\n  - explode: { at: [0] }\n");
  const file = path.join(dir, "c.json");
  t.is((await finished(cardloop(t, dir, ["card", "new", "--out", file]))).code, 0);
  for (const [args, message] of [
    [["--relay", `pcsc:${READER_1}`, "--faults", tearing], /tearing needs an emulated card \(--card\)/],
    [["--card", file, "--faults", bad], /bad\.yaml/],
    [["--card", file, "--faults", path.join(dir, "none.yaml")], /cannot read fault profile/],
  ] as const) {
    const r = await finished(cardloop(t, dir, ["card", "serve", "--vpcd", pcscd.endpoints[0], ...args]));
    t.is(r.code, 2, r.stderr);
    t.is(r.stderr.trim().split("\n").length, 1, r.stderr);
    t.regex(r.stderr, message);
  }
});

test.serial("card serve --faults with the profile's timeout: a longer delay fails the host's transmit after the timeout; --record names the card file as the source", async (t) => {
  const dir = tempDir(t, "serve-timeout");
  const cardFile = path.join(dir, "card.json");
  t.is((await finished(cardloop(t, dir, ["card", "new", "--out", cardFile, "--serial", "0A1B2C3D"]))).code, 0);
  const profile = path.join(dir, "faults.yaml");
  fs.writeFileSync(profile, ["timeout: 300", "faults:", "  - delay: { ms: 60000, at: [0], ins: [GET SERIAL] }", ""].join("\n"));
  const trace = path.join(dir, "served.jsonl");
  const served = cardloop(t, dir, ["card", "serve", "--vpcd", pcscd.endpoints[0], "--card", cardFile, "--faults", profile, "--record", trace]);
  await served.waitFor("stderr", /inserted in vpcd/);
  await seen(READER_0);
  const env = { env: { ...pcscd.env, HOME: dir } };
  const r = await runTool("opensc-tool", ["-r", READER_0, "-s", "00A4040009A0000003080000100000", "-s", "00F8000000"], env);
  t.not(r.code, 0, `the 60 s delay is not waited out: ${r.stdout}`);
  t.regex(r.stderr, /transmit failed/);
  t.regex(served.stderr, /fault: exchange \d+ \(GET SERIAL\): answer delayed 60000 ms, longer than the profile's timeout of 300 ms/);
  await stopServing(served, READER_0);
  t.is(readTrace(trace).header.source, "card.json", "the source is the served card file, not the trace's own name");
});
