/**
 * The `cardloop` command on the real PC/SC stack: `apdu --reader pcsc:NAME`,
 * `run --reader pcsc...`, `card new --issue` read by middleware, and
 * `qualify-reader`'s thresholds. Every cardloop is a child process (spawned
 * asynchronously), and a card file is put into pcscd by `cardloop card serve`,
 * as a user would; this process only watches the readers.
 */
import test from "ava";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { readRunLog } from "../core/index.js";
import { EmbeddedCa } from "../simulator/ca/index.js";
import { loadCard } from "../simulator/card/index.js";
import { PcscReader } from "../simulator/reader/pcsc.js";
import { READER_0, READER_1, startPcscd, type Pcscd } from "../harness/pcscd.js";
import { finished, runTool, type Run } from "../harness/processes.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const BIN = path.join(ROOT, "bin/cardloop.js");
const LIBRARY = path.join(ROOT, "scenarios/library");

let pcscd: Pcscd;
let tmp: string;
const children = new Set<ChildProcess>();

test.before(async () => {
  pcscd = await startPcscd({ quickack: true });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cardloop-hw-cli-"));
});

test.after.always(async () => {
  for (const c of children) c.kill("SIGKILL");
  await pcscd?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** A cardloop child that reaches our pcscd (HOME private: no OpenSC cache from elsewhere). */
function cardloop(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...pcscd.env, HOME: tmp, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  child.on("close", () => children.delete(child));
  return child;
}

const cli = (args: string[], env?: NodeJS.ProcessEnv) => finished(cardloop(args, env));

/** Any other tool, against our pcscd. */
const tool = (cmd: string, args: string[]): Promise<Run> => runTool(cmd, args, { env: { ...pcscd.env, HOME: tmp } });

const vpcd = (index: 0 | 1) => pcscd.endpoints[index];
const oneLine = (r: Run) => r.stderr.trim().split("\n").length === 1;

/** Watches a reader from this process: presence changes, in order. */
async function watch(name: string): Promise<{ reader: PcscReader; seen: boolean[] }> {
  const reader = await PcscReader.open(name);
  const seen: boolean[] = [];
  reader.onPresence((p) => seen.push(p));
  await reader.waitForState(5000);
  return { reader, seen };
}

/**
 * `cardloop card serve` of a card file into vpcd reader `index`, until stop()
 * (SIGTERM, after which the card file holds the card's state). Resolves once
 * pcscd reports the card in the reader.
 */
async function serve(file: string, index: 0 | 1): Promise<{ stop(): Promise<Run> }> {
  const child = cardloop(["card", "serve", "--vpcd", vpcd(index), "--card", file]);
  const done = finished(child);
  const reader = await PcscReader.open(index === 0 ? READER_0 : READER_1);
  try {
    await reader.waitForCard(20000);
  } finally {
    await reader.close();
  }
  return {
    stop: async () => {
      child.kill("SIGTERM");
      const r = await done;
      if (r.code !== 0) throw new Error(`card serve exited ${r.code}: ${r.stderr}`);
      // pcscd must see the reader empty again before the next test uses it
      const again = await PcscReader.open(index === 0 ? READER_0 : READER_1);
      try {
        await again.waitForState(5000);
        await again.waitForRemoval(10000);
      } finally {
        await again.close();
      }
      return r;
    },
  };
}

const hex = (s: string) => Buffer.from(s, "ascii").toString("hex").toUpperCase();

// --- cardloop apdu --reader pcsc:NAME ------------------------------------------------------------

test.serial("apdu --reader pcsc:NAME: a script against the card `card serve` put into pcscd; SWs checked, PIN masked, state kept by the served card", async (t) => {
  const file = path.join(tmp, "served.json");
  const made = await cli(["card", "new", "--out", file, "--pin", "24681357", "--serial", "00C0FFEE", "--expires", "2031-05-06"]);
  t.is(made.code, 0, made.stderr);
  const served = await serve(file, 0);
  const script = path.join(tmp, "session.apdu");
  fs.writeFileSync(
    script,
    [
      "00 A4 04 00 05 A0 00 00 03 08 00 9000   # select PIV",
      "00CB3FFF055C035FC10200 9000           # CHUID",
      `00 20 00 80 08 ${hex("123456")} FF FF 63Cx  # wrong PIN`,
      "00F8000000 9000                        # serial",
      "reset",
      "00200080 63C2",
    ].join("\n"),
  );
  const ok = await cli(["apdu", "--reader", `pcsc:${READER_0}`, "--script", script]);
  t.is(ok.code, 0, ok.stdout + ok.stderr);
  t.regex(ok.stdout, /^# ATR 3B/m);
  t.regex(ok.stdout, /^> 00A4040005A00000030800$/m);
  t.regex(ok.stdout, /^< 61.* 9000$/m);
  t.regex(ok.stdout, /^> 0020008008FFFFFFFFFFFFFFFF$/m, "the VERIFY is printed with its PIN masked");
  t.false(ok.stdout.includes(hex("123456")), "no PIN digits on stdout");
  t.regex(ok.stdout, /^< 00C0FFEE 9000$/m, "the served card answered");
  t.regex(ok.stdout, /^> RESET\n< 3B/m);

  // --json and --log work the same over PC/SC; a mismatch is exit 1 and the rest still runs
  const log = path.join(tmp, "pcsc-apdu.jsonl");
  const res = await cli(["apdu", "--reader", `pcsc:${READER_0}`, "--json", "--log", log, `0020008008${hex("987654")}FFFF 9000`, "00F8000000"]);
  t.is(res.code, 1, res.stderr);
  const lines = res.stdout.trim().split("\n").map((l) => JSON.parse(l));
  t.deepEqual(lines[0], { command: "0020008008FFFFFFFFFFFFFFFF", response: "", sw: "63C1", expected: "9000", ok: false });
  t.deepEqual(lines[1], { command: "00F8000000", response: "00C0FFEE", sw: "9000" });
  const events: any[] = readRunLog(log); // the one run-log reader; loosely typed like the JSON it replaces
  const exchanges = events.filter((e) => e.type === "apdu.exchange");
  t.is(exchanges.length, 2);
  t.is(exchanges[0].data.reader, READER_0, "the exchanges went through the PC/SC reader");
  t.false(JSON.stringify(events).includes(hex("987654")), "no PIN digits in the run log");

  const stopped = await served.stop();
  t.regex(stopped.stderr, /SIGTERM: card 00c0ffee saved/);
  t.is(loadCard(file).state.pinLeft, 1, "both wrong PINs reached the served card and were saved with it");
});

test.serial("apdu --reader: no card, no such reader, or a card file with a PC/SC reader: exit 2, one line", async (t) => {
  const empty = await cli(["apdu", "--reader", `pcsc:${READER_1}`, "--timeout", "500", "00FD000000"]);
  t.is(empty.code, 2, empty.stderr);
  t.true(oneLine(empty), empty.stderr);
  t.regex(empty.stderr, /no card inserted in "Virtual PCD 00 01" within 500 ms/);
  const none = await cli(["apdu", "--reader", "pcsc:No Such Reader", "--timeout", "500", "00FD000000"]);
  t.is(none.code, 2);
  t.true(oneLine(none), none.stderr);
  t.regex(none.stderr, /no PC\/SC reader named "No Such Reader"/);
  const file = path.join(tmp, "unused.json");
  t.is((await cli(["card", "new", "--out", file])).code, 0);
  const both = await cli(["apdu", "--reader", `pcsc:${READER_0}`, "--card", file, "00FD000000"]);
  t.is(both.code, 2);
  t.true(oneLine(both), both.stderr);
  t.regex(both.stderr, /--card is for the memory reader/);
  const noCard = await cli(["apdu", "00FD000000"]);
  t.is(noCard.code, 2);
  t.regex(noCard.stderr, /memory reader needs --card/);
});

// --- cardloop run --reader pcsc ------------------------------------------------------------------

test.serial('run --reader "pcsc:Virtual PCD 00 00": the scenario card goes into vpcd and the full lifecycle passes through pcscd', async (t) => {
  const w = await watch(READER_0);
  const out = path.join(tmp, "run-pcsc");
  try {
    const r = await cli(["run", path.join(LIBRARY, "01-full-lifecycle.yaml"), "--reader", `pcsc:${READER_0}`, "--vpcd", vpcd(0), "--out", out]);
    t.is(r.code, 0, r.stdout + r.stderr);
    t.regex(r.stdout, /^PASS /m);
    t.regex(r.stdout, /1\/1 scenarios passed/);
    await w.reader.waitForRemoval(5000);
  } finally {
    await w.reader.close();
  }
  t.deepEqual(w.seen, [true, false], "pcscd saw the scenario's card arrive in the reader and leave at the end");
  const events: any[] = readRunLog(path.join(out, "run.jsonl"));
  t.is(events.find((e) => e.type === "run.started").data.meta.reader, `pcsc:${READER_0}`);
  t.true(events.filter((e) => e.type === "apdu.exchange").length > 50);
  t.is(events.find((e) => e.type === "run.finished").data.outcome, "pass");
});

test.serial("run --reader pcsc: each card takes the first free vpcd reader, skipping one a served card occupies; CARDLOOP_VPCD names the endpoint", async (t) => {
  // a served card sits in 00 00: the unnamed kind leaves it alone and uses 00 01
  const file = path.join(tmp, "occupant.json");
  t.is((await cli(["card", "new", "--out", file, "--serial", "0CC0FFEE"])).code, 0);
  const served = await serve(file, 0);
  const w1 = await watch(READER_1);
  try {
    const r = await cli(["run", path.join(LIBRARY, "07-found-card-renewed.yaml"), "--reader", "pcsc"], { CARDLOOP_VPCD: vpcd(0) });
    t.is(r.code, 0, r.stdout + r.stderr);
    t.regex(r.stdout, /1\/1 scenarios passed/);
    await w1.reader.waitForRemoval(5000);
  } finally {
    await w1.reader.close();
  }
  // lose-card and find-card took the card out of 00 01 and put it back
  t.deepEqual(w1.seen, [true, false, true, false]);

  // naming the occupied reader is refused before any scenario step: exit 2, one line
  const busy = await cli(["run", path.join(LIBRARY, "01-full-lifecycle.yaml"), "--reader", `pcsc:${READER_0}`, "--vpcd", vpcd(0)]);
  t.is(busy.code, 2, busy.stdout + busy.stderr);
  t.true(oneLine(busy), busy.stderr);
  t.regex(busy.stderr, /"Virtual PCD 00 00" already holds a card/);
  await served.stop();
  t.is(loadCard(file).state.pinLeft, 3, "the served card was not touched by the scenarios");
});

test.serial("run --reader pcsc: a two-card scenario uses both vpcd readers; one named reader cannot take two cards", async (t) => {
  const w0 = await watch(READER_0);
  const w1 = await watch(READER_1);
  try {
    const r = await cli(["run", path.join(LIBRARY, "03-employee-departure.yaml"), "--reader", "pcsc", "--vpcd", vpcd(0)]);
    t.is(r.code, 0, r.stdout + r.stderr);
    await w0.reader.waitForRemoval(5000);
    await w1.reader.waitForRemoval(5000);
  } finally {
    await w0.reader.close();
    await w1.reader.close();
  }
  t.deepEqual(w0.seen, [true, false]);
  t.deepEqual(w1.seen, [true, false]);
  const two = await cli(["run", path.join(LIBRARY, "03-employee-departure.yaml"), "--reader", `pcsc:${READER_1}`, "--vpcd", vpcd(0)]);
  t.is(two.code, 2, two.stdout + two.stderr);
  t.regex(two.stderr, /already holds another card of this run/);
});

test.serial("run --reader: readers that cannot take an emulated card, and --vpcd without pcsc, exit 2 with one line", async (t) => {
  const file = path.join(LIBRARY, "01-full-lifecycle.yaml");
  const cases: Array<[string[], RegExp]> = [
    [["--reader", "pcsc:ACME USB Reader 00 00"], /go into a vpcd reader/],
    [["--reader", "usb"], /unknown reader "usb"/],
    [["--reader", "memory", "--vpcd", vpcd(0)], /--vpcd only goes with a pcsc reader/],
    [["--reader", "pcsc", "--vpcd", "127.0.0.1:99999"], /port must be 1\.\.65535/],
  ];
  for (const [args, message] of cases) {
    const r = await cli(["run", file, ...args]);
    t.is(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    t.true(oneLine(r), r.stderr);
    t.regex(r.stderr, message);
    t.is(r.stdout, "", "nothing ran");
  }
});

// --- cardloop card new --issue -------------------------------------------------------------------

test.serial("card new --issue: keys on the card, 9A and 9C certificates from the embedded CA; middleware reads them; serials and codes printed, the PIN never", async (t) => {
  const file = path.join(tmp, "issued.json");
  const caData = path.join(tmp, "ca-data");
  const pin = "13572468";
  // two years from now: inside the 3-year cap, so the certificates end with the card
  const expires = new Date(Date.now() + 730 * 86_400_000).toISOString().slice(0, 10);
  const made = await cli([
    "card", "new", "--out", file, "--expires", expires, "--pin", pin, "--puk", "87654321",
    "--issue", "--ca-data", caData, "--holder-name", "Carla Cli", "--holder-email", "carla@example.test",
  ]);
  t.is(made.code, 0, made.stderr);
  t.is(made.stderr, "");
  const auth = new RegExp(`^authentication certificate \\(slot 9A\\): serial ([0-9a-f]+), valid \\S+ to ${expires}T00:00:00Z$`, "m").exec(made.stdout);
  const sig = new RegExp(`^signature certificate \\(slot 9C\\): serial ([0-9a-f]+), valid \\S+ to ${expires}T00:00:00Z$`, "m").exec(made.stdout);
  const code = /^cancellation code \(holder\): (\S+)$/m.exec(made.stdout);
  t.truthy(auth && sig && code, made.stdout);
  t.not(auth![1], sig![1]);
  for (const secret of [pin, hex(pin), "87654321", "0102030405060708"]) t.false(made.stdout.includes(secret), `stdout shows ${secret}`);
  t.is(fs.statSync(file).mode & 0o777, 0o600, "the card file holds secrets");
  t.true(fs.existsSync(path.join(caData, "ca.db")), "the CA lives in --ca-data");

  const served = await serve(file, 1);
  try {
    const l = await tool("pkcs15-tool", ["-r", READER_1, "--list-certificates"]);
    t.is(l.code, 0, l.stderr);
    t.regex(l.stdout, /Certificate for PIV Authentication/);
    t.regex(l.stdout, /Certificate for Digital Signature/);
    for (const [slot, serial] of [["9a", auth![1]], ["9c", sig![1]]]) {
      const pem = await tool("yubico-piv-tool", ["-r", READER_1, "-a", "read-certificate", "-s", slot]);
      t.is(pem.code, 0, pem.stderr);
      const pemFile = path.join(tmp, `${slot}.pem`);
      fs.writeFileSync(pemFile, pem.stdout);
      const x = await tool("openssl", ["x509", "-in", pemFile, "-noout", "-serial", "-subject"]);
      t.is(x.code, 0, x.stderr);
      t.is(/serial=(\S+)/.exec(x.stdout)![1].toLowerCase().replace(/^0+/, ""), serial.replace(/^0+/, ""), `slot ${slot} holds the printed certificate`);
      t.regex(x.stdout, /CN\s*=\s*Carla Cli/);
    }
    // the holder's PIN is the one given to card new
    const v = await cli(["apdu", "--reader", `pcsc:${READER_1}`, "00A4040009A0000003080000100000 9000", `0020008008${hex(pin)} 9000`]);
    t.is(v.code, 0, v.stdout + v.stderr);
  } finally {
    await served.stop();
  }

  // the CA knows both certificates, and the printed code is the real one: it revokes
  const ca = await EmbeddedCa.open({ dataDir: caData });
  try {
    t.is((await ca.status(auth![1])).status, "good");
    t.is((await ca.status(sig![1])).status, "good");
    const revoked = await ca.revoke({ serial: auth![1], reason: "keyCompromise", role: "holder", code: code![1], email: "carla@example.test", name: "Carla Cli" });
    t.is(revoked.status, "revoked");
  } finally {
    await ca.close();
  }
});

// --- cardloop qualify-reader thresholds ----------------------------------------------------------

function qualify(extra: string[]): Promise<Run> {
  return cli(["qualify-reader", "--reader", READER_0, "--emulated-card", "--vpcd", vpcd(0), "--iterations", "60", "--json", ...extra]);
}

function criteria(r: Run): Record<string, { outcome: string; message: string }> {
  return Object.fromEntries(JSON.parse(r.stdout).criteria.map((c: { id: string }) => [c.id, c]));
}

test.serial("qualify-reader: an impossible --max-p95-ms, --max-p99-ms, --min-apdus-per-sec or --thresholds fails that criterion with exit 1; loose ones pass", async (t) => {
  const impossible: Array<[string, string[], string]> = [
    ["p95", ["--max-p95-ms", "0.000001"], "latency"],
    ["p99", ["--max-p99-ms", "0.000001"], "latency"],
    ["throughput", ["--min-apdus-per-sec", "1000000000"], "throughput"],
  ];
  const file = path.join(tmp, "impossible.json");
  fs.writeFileSync(file, JSON.stringify({ maxP95Ms: 0.000001 }));
  impossible.push(["file", ["--thresholds", file], "latency"]);
  for (const [what, args, failing] of impossible) {
    const r = await qualify(args);
    t.is(r.code, 1, `${what}: ${r.stderr}`);
    const c = criteria(r);
    t.is(JSON.parse(r.stdout).outcome, "fail", what);
    t.is(c[failing].outcome, "fail", `${what}: ${c[failing].message}`);
    const other = failing === "latency" ? "throughput" : "latency";
    t.is(c[other].outcome, "pass", `${what}: only the criterion whose threshold is impossible fails (${c[other].message})`);
    t.is(c["case-4"].outcome, "pass", what);
  }
  const p99 = JSON.parse((await qualify(["--max-p99-ms", "0.000001"])).stdout);
  t.like(p99.thresholds, { maxP95Ms: 100, maxP99Ms: 0.000001 }, "the option set p99 alone");

  // loose thresholds, from a file and the options (the options win over the file)
  const loose = path.join(tmp, "loose.json");
  fs.writeFileSync(loose, JSON.stringify({ maxP95Ms: 0.000001, maxP99Ms: 5000, minApdusPerSecond: 1 }));
  const ok = await qualify(["--thresholds", loose, "--max-p95-ms", "5000", "--min-apdus-per-sec", "2"]);
  t.is(ok.code, 0, ok.stderr + ok.stdout.slice(0, 2000));
  const report = JSON.parse(ok.stdout);
  t.is(report.outcome, "pass");
  t.like(report.thresholds, { maxP95Ms: 5000, maxP99Ms: 5000, minApdusPerSecond: 2 });
  t.is(criteria(ok).latency.outcome, "pass");
  t.is(criteria(ok).throughput.outcome, "pass");
});

test.serial("qualify-reader: unusable thresholds exit 2 with one line, before touching the reader", async (t) => {
  const unknown = path.join(tmp, "unknown.json");
  fs.writeFileSync(unknown, JSON.stringify({ maxP50Ms: 1 }));
  const negative = path.join(tmp, "negative.json");
  fs.writeFileSync(negative, JSON.stringify({ maxP95Ms: -1 }));
  const cases: Array<[string[], RegExp]> = [
    [["--max-p95-ms", "0"], /--max-p95-ms must be a positive number/],
    [["--max-p99-ms", "soon"], /--max-p99-ms must be a positive number/],
    [["--min-apdus-per-sec", "-5"], /--min-apdus-per-sec must be a positive number/],
    [["--thresholds", unknown], /unknown threshold "maxP50Ms"/],
    [["--thresholds", negative], /"maxP95Ms" must be a non-negative number/],
    [["--thresholds", path.join(tmp, "missing.json")], /cannot read thresholds/],
  ];
  for (const [args, message] of cases) {
    const r = await qualify(args);
    t.is(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    t.true(oneLine(r), r.stderr);
    t.regex(r.stderr, message);
  }
});
