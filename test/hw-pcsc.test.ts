/**
 * The emulated card behind the real PC/SC stack: a private pcscd with
 * vsmartcard's vpcd, the vpcd bridge on the card side, pcsclite on the host
 * side, and unmodified middleware (OpenSC, yubico-piv-tool, openssl) on top.
 * Every pcscd-dependent test lives in this one file: one daemon per run.
 * Child tools are spawned asynchronously: the card answers from this
 * process's event loop, so a synchronous spawn would deadlock.
 */
import test from "ava";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { EventBus, SystemClock, readRunLog, type AnyEvent } from "../core/index.js";
import { qualifyReader } from "../conformance/qualify/index.js";
import { buildQualificationReport } from "../reports/index.js";
import { EmbeddedCa } from "../simulator/ca/index.js";
import { ATR, PivCard, loadCard, saveCard } from "../simulator/card/index.js";
import type { Card } from "../simulator/card/card.js";
import { openReader } from "../simulator/reader/open.js";
import { makeVpcdSlotFactory, openVpcdCardSlot } from "../simulator/reader/vpcd-slot.js";
import { PcscReader, listPcscReaders } from "../simulator/reader/index.js";
import { VpcdBridge, parseVpcdEndpoint } from "../simulator/reader/vpcd.js";
import { IssuanceStation, PivClient } from "../simulator/terminal/index.js";
import { runFiles } from "../scenarios/index.js";
import { registerReader } from "../scenarios/readers.js";
import { READER_0, READER_1, startPcscd, type Pcscd } from "../harness/pcscd.js";
import { finished, runTool, type Run } from "../harness/processes.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const PKCS11 = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so";
const MGM_KEY = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8]);

let pcscd: Pcscd;
let tmp: string;
/** The host's local routing table before any harness of this file ran. */
let hostRoutesBefore: string;
const cleanups: Array<() => Promise<unknown> | unknown> = [];

test.before(async () => {
  hostRoutesBefore = (await runTool("ip", ["route", "show", "table", "local"])).stdout;
  pcscd = await startPcscd({ quickack: true });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cardloop-hw-"));
});

test.after.always(async () => {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  await pcscd?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** Runs a tool against our pcscd (HOME is private: no OpenSC cache from elsewhere). */
function run(cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return runTool(cmd, args, { env: { ...pcscd.env, HOME: tmp, ...opts.env }, timeoutMs: opts.timeoutMs, cwd: ROOT });
}

/** A card that echoes the command back with 9000 (a transport test needs no applet). */
function echoCard(atr: Uint8Array): Card & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    powerOn: () => (log.push("on"), atr),
    powerOff: () => void log.push("off"),
    transmit: (c) => {
      const out = new Uint8Array(c.length + 2);
      out.set(c);
      out.set([0x90, 0x00], c.length);
      return out;
    },
  };
}

test.serial("pcscd lists both virtual readers; a card inserted through vpcd is seen, exchanged with, reset and removed", async (t) => {
  const routes = await run("nsenter", ["-t", String(pcscd.pid), "-n", "ip", "route", "show", "table", "local"]);
  t.regex(routes.stdout, /local 127\.0\.0\.1 .*quickack 1/, "loopback quickack is on in pcscd's namespace");
  const names = await listPcscReaders();
  t.true(names.includes(READER_0) && names.includes(READER_1), names.join(", "));

  const card = echoCard(ATR);
  const bridge = new VpcdBridge(card, parseVpcdEndpoint(pcscd.endpoints[0]));
  const reader = await PcscReader.open(READER_0);
  cleanups.push(() => reader.close(), () => bridge.close());
  const presence: boolean[] = [];
  reader.onPresence((p) => presence.push(p));
  t.false(reader.present);

  await bridge.insert();
  t.deepEqual([...(await reader.waitForCard(5000))], [...ATR]);
  t.deepEqual([...(await reader.connect())], [...ATR]);
  t.is(reader.protocol, "T1");

  // case 1..4, and an extended case 4 with 4 KB each way
  for (const cmd of [[0, 0xa4, 4, 0], [0, 0xb0, 0, 0, 0x10], [0, 0xa4, 4, 0, 2, 0x3f, 0], [0, 0xa4, 4, 0, 2, 0x3f, 0, 0]]) {
    const res = await reader.transmit(Uint8Array.from(cmd));
    t.deepEqual([...res], [...cmd, 0x90, 0x00]);
  }
  const big = new Uint8Array(7 + 4096 + 2);
  big.set([0x00, 0xdb, 0x3f, 0xff, 0x00, 0x10, 0x00]);
  for (let i = 0; i < 4096; i++) big[7 + i] = i & 0xff;
  const echoed = await reader.transmit(big);
  t.is(echoed.length, big.length + 2);
  t.deepEqual([...echoed.subarray(0, big.length)], [...big]);

  const before = bridge.stats.controls;
  card.log.length = 0;
  t.deepEqual([...(await reader.reset())], [...ATR]);
  t.true(bridge.stats.controls > before);
  t.true(card.log.includes("on"), "the reset reached the card");

  await bridge.remove();
  await reader.waitForRemoval(5000);
  t.false(reader.present);
  await t.throwsAsync(() => reader.transmit(Uint8Array.of(0, 0xa4, 4, 0)));
  await bridge.insert();
  await reader.waitForCard(5000);
  await reader.connect();
  t.deepEqual([...(await reader.transmit(Uint8Array.of(0, 0xa4, 4, 0)))], [0, 0xa4, 4, 0, 0x90, 0]);
  t.deepEqual(presence, [true, false, true]);
  await reader.close();
  await bridge.close();
});

test.serial("a T=0-only card is connected with T=0; asking for T=1 only is refused", async (t) => {
  const t0Atr = Uint8Array.of(0x3b, 0x02, 0x14, 0x50); // no TD1: T=0 only, two historical bytes
  const bridge = new VpcdBridge(echoCard(t0Atr), parseVpcdEndpoint(pcscd.endpoints[0]));
  cleanups.push(() => bridge.close());
  await bridge.insert();
  const only1 = await PcscReader.open(READER_0, { protocols: ["T1"] });
  const any = await PcscReader.open(READER_0, { protocols: ["T0", "T1"] });
  try {
    t.deepEqual([...(await any.waitForCard(5000))], [...t0Atr]);
    await t.throwsAsync(() => only1.connect(), { message: /connect to "Virtual PCD 00 00"/ });
    await any.connect();
    t.is(any.protocol, "T0");
    t.deepEqual([...(await any.transmit(Uint8Array.of(0x00, 0xb0, 0x00, 0x00, 0x08)))], [0x00, 0xb0, 0x00, 0x00, 0x08, 0x90, 0x00]);
  } finally {
    await only1.close();
    await any.close();
    await bridge.close();
  }
});

test.serial("openReader: pcsc:NAME reaches the PIV card through pcscd; memory needs a card; unknown kinds are usage errors", async (t) => {
  const card = PivCard.create({ expires: new Date("2031-06-30T00:00:00Z") });
  const bridge = new VpcdBridge(card, parseVpcdEndpoint(pcscd.endpoints[0]));
  cleanups.push(() => bridge.close());
  await bridge.insert();
  const bus = new EventBus(new SystemClock());
  const exchanges: AnyEvent[] = [];
  bus.on((e) => exchanges.push(e));
  const { reader, close } = await openReader(`pcsc:${READER_0}`, { bus });
  try {
    await (reader as PcscReader).waitForCard(5000);
    await reader.connect();
    const client = new PivClient(reader);
    await client.select();
    const chuid = await client.readChuid();
    t.is(chuid.expires.toISOString().slice(0, 10), "2031-06-30");
    t.is(await client.pinRetries(), 3);
    await t.throwsAsync(() => client.verifyPin("000000"));
    const verify = exchanges.find((e) => e.type === "apdu.exchange" && e.data.command.startsWith("00200080") && e.data.command.length > 10);
    t.truthy(verify, "exchanges are events");
    t.regex((verify!.data as { command: string }).command, /^0020008008F{16}$/, "the PIN is masked");
  } finally {
    await close();
    await bridge.close();
  }
  await t.throwsAsync(() => openReader("memory"), { message: /needs a card/ });
  await t.throwsAsync(() => openReader("pcsc:"), { message: /reader name/ });
  await t.throwsAsync(() => openReader("usb:1"), { message: /unknown reader/ });
  await t.throwsAsync(() => openReader("pcsc:No Such Reader", { pcsc: { timeoutMs: 300 } }), { message: /no PC\/SC reader named "No Such Reader"/ });
});

/**
 * Qualifies Virtual PCD 00 00 with a fresh emulated PIV card. The card leaves the
 * reader whatever happens: a failure must not leave it there for the tests after.
 */
async function qualifyEmulated(options: Omit<Parameters<typeof qualifyReader>[1], "authenticate" | "bus">, removable = false) {
  const card = PivCard.create({ expires: new Date("2031-01-01T00:00:00Z") });
  const bridge = new VpcdBridge(card, parseVpcdEndpoint(pcscd.endpoints[0]));
  cleanups.push(() => bridge.close());
  const reader = await PcscReader.open(READER_0);
  cleanups.push(() => reader.close());
  try {
    await bridge.insert();
    await reader.waitForCard(5000);
    // the report as qualify-reader makes it: rebuilt from the run's events
    const bus = new EventBus(new SystemClock());
    const events: AnyEvent[] = [];
    bus.on((e) => events.push(e));
    await qualifyReader(reader, {
      ...options,
      bus,
      ...(removable ? { actuator: { remove: () => bridge.remove(), insert: () => bridge.insert() } } : {}),
      authenticate: (r) => new PivClient(r).authenticate(MGM_KEY),
    });
    return { card, report: buildQualificationReport(events) };
  } finally {
    await reader.close();
    await bridge.close();
  }
}

test.serial("qualification of Virtual PCD 00 00 with the emulated PIV card passes every criterion", async (t) => {
  const { card, report } = await qualifyEmulated({ iterations: 300 }, true);
  const byId = Object.fromEntries(report.criteria.map((c) => [c.id, c]));
  for (const id of [
    "atr", "protocol", "case-1", "case-2", "case-3", "case-4", "command-chaining", "large-read-1k", "large-read-2k",
    "large-read-4k", "get-response-chain", "warm-reset", "removal", "long-run", "latency", "throughput",
  ]) {
    t.is(byId[id]?.outcome, "pass", `${id}: ${byId[id]?.message}`);
  }
  // the card answers extended APDUs and vpcd carries them
  t.is(byId["extended-length"].outcome, "pass", byId["extended-length"].message);
  t.is(report.outcome, "pass");
  t.is(report.protocol, "T1");
  t.deepEqual(report.atrInfo?.protocols, [1]);
  t.true(report.latency.case4.count >= 100);
  t.true(report.latency.case4.p50Ms <= report.latency.case4.p95Ms && report.latency.case4.p95Ms <= report.latency.case4.p99Ms);
  t.is(report.throughput?.apdus, 300);
  // the test objects are gone again: the reference card is left as found
  t.false(card.state.objects.has(0x5fc10d) || card.state.objects.has(0x5fc10e) || card.state.objects.has(0x5fc10f));
});

test.serial("qualification fails a criterion when a threshold is not met, and says which", async (t) => {
  const { report } = await qualifyEmulated({ iterations: 30, thresholds: { maxP95Ms: 0.000001, minApdusPerSecond: 1e9 } });
  const byId = Object.fromEntries(report.criteria.map((c) => [c.id, c]));
  t.is(byId.latency.outcome, "fail");
  t.regex(byId.latency.message, /over threshold: .*case4 p95/);
  t.is(byId.throughput.outcome, "fail");
  t.is(byId.removal.outcome, "skip", "no actuator: removal cannot be tried");
  t.is(byId["case-4"].outcome, "pass");
  t.is(report.outcome, "fail");
});

/** Spawns the CLI (async; our pcscd's socket in its environment). */
function cardloop(args: string[]) {
  return spawn(process.execPath, [path.join(ROOT, "bin/cardloop.js"), ...args], {
    cwd: ROOT,
    env: { ...pcscd.env, HOME: tmp },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

test.serial("cardloop card serve: the card file's card appears in pcscd until SIGTERM, then its state is saved", async (t) => {
  const file = path.join(tmp, "serve-card.json");
  saveCard(PivCard.create({ expires: new Date("2030-03-03T00:00:00Z") }), file);
  const child = cardloop(["card", "serve", "--vpcd", pcscd.endpoints[0], "--card", file]);
  const done = finished(child);
  cleanups.push(() => child.kill("SIGKILL"));
  const reader = await PcscReader.open(READER_0);
  try {
    await reader.waitForCard(20000);
    await reader.connect();
    const client = new PivClient(reader);
    await client.select();
    t.is((await client.readChuid()).expires.toISOString().slice(0, 10), "2030-03-03");
    await t.throwsAsync(() => client.verifyPin("999999"));
    t.is(await client.pinRetries(), 2);
  } finally {
    await reader.close();
  }
  child.kill("SIGTERM");
  const r = await done;
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /SIGTERM: card \w+ saved/);
  t.is(loadCard(file).state.pinLeft, 2, "the wrong PIN is remembered in the card file");
});

test.serial("cardloop card serve with a bad endpoint or no card file exits 2 with one line", async (t) => {
  const a = await finished(cardloop(["card", "serve", "--vpcd", "127.0.0.1:99999", "--card", path.join(tmp, "none.json")]));
  t.is(a.code, 2);
  t.is(a.stderr.trim().split("\n").length, 1);
  const file = path.join(tmp, "c.json");
  saveCard(PivCard.create({ expires: new Date("2030-01-01") }), file);
  const b = await finished(cardloop(["card", "serve", "--vpcd", "127.0.0.1:99999", "--card", file]));
  t.is(b.code, 2);
  t.regex(b.stderr, /port must be 1\.\.65535/);
});

test.serial("cardloop qualify-reader --emulated-card qualifies Virtual PCD 00 00: JSON, JUnit, self-contained HTML", async (t) => {
  const out = path.join(tmp, "qualify");
  const r = await finished(
    cardloop(["qualify-reader", "--reader", READER_0, "--emulated-card", "--vpcd", pcscd.endpoints[0], "--iterations", "200", "--json", "--out", out]),
  );
  t.is(r.code, 0, r.stderr + r.stdout.slice(0, 2000));
  const json = JSON.parse(r.stdout);
  t.is(json.outcome, "pass");
  t.is(json.reader, READER_0);
  t.true(json.criteria.length >= 17);
  const saved = JSON.parse(fs.readFileSync(path.join(out, "qualification.json"), "utf8"));
  t.is(saved.outcome, "pass");
  const junit = fs.readFileSync(path.join(out, "junit.xml"), "utf8");
  t.is((junit.match(/<testcase /g) ?? []).length, json.criteria.length);
  t.false(junit.includes("<failure"));
  const html = fs.readFileSync(path.join(out, "report.html"), "utf8");
  t.true(html.includes("new Chart("));
  t.true(html.includes("Chart.js v"), "chart.js is inlined");
  t.false(/<script[^>]+src=|<link[^>]+href=/.test(html), "no external resources");
  const log = readRunLog(path.join(out, "run.jsonl"));
  t.is(log.filter((e) => e.type === "check.finished").length, json.criteria.length);
});

test.serial("cardloop qualify-reader: an unknown reader or bad flags exit 2 with one line", async (t) => {
  const a = await finished(cardloop(["qualify-reader", "--reader", "No Such Reader", "--timeout", "500"]));
  t.is(a.code, 2);
  t.regex(a.stderr, /no PC\/SC reader named "No Such Reader"/);
  t.is(a.stderr.trim().split("\n").length, 1);
  const b = await finished(cardloop(["qualify-reader", "--reader", READER_0, "--iterations", "0"]));
  t.is(b.code, 2);
  t.regex(b.stderr, /--iterations must be a positive integer/);
});

// --- interop with real middleware -----------------------------------------------------------

interface Personalised {
  card: PivCard;
  bridge: VpcdBridge;
  authPem: string;
  pin: string;
}
let personalised: Promise<Personalised> | undefined;

/** A card personalised by the issuance station over pcsclite (keys on the card, certificates from the embedded CA). */
function personalisedCard(): Promise<Personalised> {
  personalised ??= (async () => {
    const card = PivCard.create({ expires: new Date("2032-12-31T00:00:00Z") });
    const bridge = new VpcdBridge(card, parseVpcdEndpoint(pcscd.endpoints[1]));
    cleanups.push(() => bridge.close());
    await bridge.insert();
    const reader = await PcscReader.open(READER_1);
    const ca = await EmbeddedCa.open({ kdfLog2N: 10 });
    try {
      await reader.waitForCard(5000);
      const station = new IssuanceStation({ ca, clock: new SystemClock() });
      const pin = "654321";
      const res = await station.personalise(reader, {
        holder: { id: "hw-1", name: "Alice Interop", email: "alice@example.test" },
        pin,
      });
      return { card, bridge, authPem: res.authentication.certificatePem, pin };
    } finally {
      await reader.close();
      await ca.close();
    }
  })();
  return personalised;
}

test.serial("OpenSC: opensc-tool names the card PIV; pkcs15-tool lists both certificates", async (t) => {
  await personalisedCard();
  const n = await run("opensc-tool", ["-r", READER_1, "-n"]);
  t.is(n.code, 0, n.stderr);
  t.regex(n.stdout, /Personal Identity Verification Card/);
  const l = await run("pkcs15-tool", ["-r", READER_1, "--list-certificates"]);
  t.is(l.code, 0, l.stderr);
  t.regex(l.stdout, /Certificate for PIV Authentication/);
  t.regex(l.stdout, /Certificate for Digital Signature/);
});

test.serial("OpenSC PKCS#11: pkcs11-tool logs in and signs with the authentication key; openssl verifies it against the certificate", async (t) => {
  const p = await personalisedCard();
  const data = path.join(tmp, "challenge.txt");
  const sig = path.join(tmp, "challenge.sig");
  const pem = path.join(tmp, "auth.pem");
  const pub = path.join(tmp, "auth-pub.pem");
  fs.writeFileSync(data, "cardloop interop challenge\n");
  fs.writeFileSync(pem, p.authPem);
  const s = await run("pkcs11-tool", [
    "--module", PKCS11, "--login", "--pin", p.pin, "--sign", "--id", "01",
    "--mechanism", "ECDSA-SHA256", "--signature-format", "openssl", "-i", data, "-o", sig,
  ]);
  t.is(s.code, 0, s.stderr);
  t.true(fs.statSync(sig).size > 60);
  const k = await run("openssl", ["x509", "-in", pem, "-pubkey", "-noout", "-out", pub]);
  t.is(k.code, 0, k.stderr);
  const v = await run("openssl", ["dgst", "-sha256", "-verify", pub, "-signature", sig, data]);
  t.is(v.code, 0, v.stderr);
  t.regex(v.stdout, /Verified OK/);
  // a signature over other data does not verify: the check is real
  fs.writeFileSync(data, "something else\n");
  const bad = await run("openssl", ["dgst", "-sha256", "-verify", pub, "-signature", sig, data]);
  t.not(bad.code, 0);
});

test.serial("OpenSC PKCS#11: a wrong PIN is refused and decrements the card's retry counter", async (t) => {
  const p = await personalisedCard();
  const before = p.card.state.pinLeft;
  const r = await run("pkcs11-tool", ["--module", PKCS11, "--login", "--pin", "000000", "--list-objects"]);
  t.not(r.code, 0);
  t.regex(r.stdout + r.stderr, /CKR_PIN_INCORRECT/);
  t.is(p.card.state.pinLeft, before - 1);
  // and the right PIN restores it
  const ok = await run("pkcs11-tool", ["--module", PKCS11, "--login", "--pin", p.pin, "--list-objects"]);
  t.is(ok.code, 0, ok.stderr);
  t.is(p.card.state.pinLeft, p.card.state.pinMax);
});

test.serial("yubico-piv-tool: status shows both slots, read-certificate returns 9A's certificate, verify-pin behaves", async (t) => {
  const p = await personalisedCard();
  // A fresh insertion, as a holder plugs the token in: the earlier OpenSC login
  // left the PIN verified, and this card (unlike a YubiKey) keeps it across a
  // re-SELECT, which yubico-piv-tool's retry query relies on.
  const reader = await PcscReader.open(READER_1);
  try {
    await p.bridge.remove();
    await reader.waitForRemoval(5000);
    await p.bridge.insert();
    await reader.waitForCard(5000);
    // pcscd reports "present" before it has finished powering the card: one exchange
    // of our own makes sure the card answers before yubico-piv-tool connects.
    await reader.connect();
    await reader.transmit(Uint8Array.of(0x00, 0xa4, 0x04, 0x00, 0x09, 0xa0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x00));
    await reader.disconnect();
  } finally {
    await reader.close();
  }
  const st = await run("yubico-piv-tool", ["-r", READER_1, "-a", "status"]);
  t.is(st.code, 0, st.stderr);
  t.regex(st.stdout, /Slot 9a:[\s\S]*CN=Alice Interop/);
  t.regex(st.stdout, /Slot 9c:[\s\S]*CN=Alice Interop/);
  t.regex(st.stdout, /PIN tries left:\s+3/);
  const rc = await run("yubico-piv-tool", ["-r", READER_1, "-a", "read-certificate", "-s", "9a"]);
  t.is(rc.code, 0, rc.stderr);
  t.is(rc.stdout.trim(), p.authPem.trim());
  const ok = await run("yubico-piv-tool", ["-r", READER_1, "-a", "verify-pin", "-P", p.pin]);
  t.is(ok.code, 0, ok.stderr);
  t.regex(ok.stdout + ok.stderr, /Successfully verified PIN/);
  const bad = await run("yubico-piv-tool", ["-r", READER_1, "-a", "verify-pin", "-P", "111111"]);
  t.not(bad.code, 0);
  t.regex(bad.stdout + bad.stderr, /2 tries left/);
  t.is(p.card.state.pinLeft, 2);
  const again = await run("yubico-piv-tool", ["-r", READER_1, "-a", "verify-pin", "-P", p.pin]);
  t.is(again.code, 0);
  t.is(p.card.state.pinLeft, 3, "a right PIN resets the counter (SP 800-73-4)");
});

test.serial("openVpcdCardSlot: the emulated card behind pcscd as a removable card slot", async (t) => {
  const card = PivCard.create({ expires: new Date("2030-01-01") });
  const slot = await openVpcdCardSlot(card, { vpcd: pcscd.endpoints[0] });
  try {
    t.is(slot.reader.name, READER_0);
    await slot.reader.connect();
    await new PivClient(slot.reader).select();
    await slot.remove();
    await t.throwsAsync(() => slot.reader.transmit(Uint8Array.of(0, 0x20, 0, 0x80)));
    await slot.insert();
    await slot.reader.connect();
    t.is(await new PivClient(slot.reader).pinRetries(), 3);
  } finally {
    await slot.close();
  }
  await t.throwsAsync(() => openVpcdCardSlot(card, { vpcd: pcscd.endpoints[0], reader: "ACME USB Reader 00 00" }), {
    message: /only go into a vpcd reader/,
  });
});

test.serial("the full lifecycle scenarios pass with the cards behind pcscd and the host side on pcsclite", async (t) => {
  registerReader("pcsc", makeVpcdSlotFactory({ vpcd: pcscd.endpoints[0] }));
  const lib = path.join(ROOT, "scenarios/library");
  // 07 loses and finds the card: removal and reinsertion through vpcd and pcscd
  const run = await runFiles([path.join(lib, "01-full-lifecycle.yaml"), path.join(lib, "07-found-card-renewed.yaml")], { reader: `pcsc:${READER_0}` });
  for (const r of run.results) {
    t.is(r.outcome, "pass", `${r.name}: ${r.error ?? r.steps.filter((s) => s.outcome !== "pass").map((s) => s.message).join("; ")}`);
  }
  const started = run.events.find((e) => e.type === "run.started");
  t.is((started?.data as { meta?: { reader?: string } }).meta?.reader, `pcsc:${READER_0}`);
  const exchanges = run.events.filter((e) => e.type === "apdu.exchange");
  t.true(exchanges.length > 50, `${exchanges.length} APDUs went through pcscd`);
});

// --- the harness leaves the machine as it found it ----------------------------------------------

/** Listening TCP sockets (`ss -ltnpH`) in the host's network namespace, or in pid's with nsenter. */
async function listeners(pid?: number): Promise<string[]> {
  const ss = ["ss", "-ltnpH"];
  const r = pid === undefined ? await run(ss[0], ss.slice(1)) : await run("nsenter", ["-t", String(pid), "-n", ...ss]);
  if (r.code !== 0) throw new Error(`ss failed: ${r.stderr}`);
  return r.stdout.split("\n").filter((l) => l.trim() !== "");
}

test.serial("while the harness's pcscd runs, nothing of ours listens in the host's network namespace beyond 127.0.0.1", async (t) => {
  t.true(pcscd.isolated, "pcscd runs in its own namespaces on this machine");
  const ours = [pcscd.pid, pcscd.relayPid, process.pid];
  const host = await listeners();
  t.deepEqual(host.filter((l) => l.includes(`pid=${pcscd.pid},`) || l.includes(`pid=${pcscd.relayPid},`)), [], "pcscd and the relay listen on no host TCP port");
  const wide = host.filter((l) => ours.some((p) => l.includes(`pid=${p},`)) && !/^\S+\s+\d+\s+\d+\s+(127\.0\.0\.1|\[::1\]):\d+\s/.test(l));
  t.deepEqual(wide, [], "whatever this process listens on is on loopback");
  // the control: ss does show vpcd's wildcard listeners, inside pcscd's namespace
  const inside = await listeners(pcscd.pid);
  for (const port of pcscd.ports) t.true(inside.some((l) => l.includes(`:${port} `) && l.includes(`pid=${pcscd.pid},`)), `vpcd listens on ${port} in the namespace: ${inside.join(" / ")}`);
});

test.serial("the pcscd harness never touches the host's routes: quickack is on only in pcscd's namespace; stop() ends pcscd and the relay", async (t) => {
  const hostRoutes = async () => (await run("ip", ["route", "show", "table", "local"])).stdout;
  t.is(await hostRoutes(), hostRoutesBefore, "the host's local table is as before, with this file's pcscd running");
  // a second harness beside this file's: isolated runs share nothing, so no lock holds it up
  const other = await startPcscd({ quickack: true, timeoutMs: 20000 });
  process.env.PCSCLITE_CSOCK_NAME = pcscd.socket; // startPcscd set it to the other's (this process's pcsclite has read it already)
  let stopped = false;
  try {
    const inside = await run("nsenter", ["-t", String(other.pid), "-n", "ip", "route", "show", "table", "local"]);
    t.is(inside.code, 0, inside.stderr);
    t.regex(inside.stdout, /^local 127\.0\.0\.1 .*quickack 1/m);
    t.regex(inside.stdout, /^local 127\.0\.0\.0\/8 .*quickack 1/m);
    t.is(await hostRoutes(), hostRoutesBefore, "the host's local table is untouched while it runs");
    await other.stop();
    stopped = true;
  } finally {
    if (!stopped) await other.stop();
  }
  t.is(await hostRoutes(), hostRoutesBefore, "and after it stopped");
  for (const pid of [other.pid, other.relayPid]) t.throws(() => process.kill(pid, 0), undefined, `pid ${pid} is gone after stop()`);
  t.false(fs.existsSync(other.dir), "its temp dir (run dir, relay sockets) is removed");
});
