/**
 * Real APDU logs from the real PC/SC stack, imported: a private pcscd with
 * APDU logging (-a), an emulated PIV card put into it through vpcd, and the
 * tools a field engineer would run (opensc-tool, pkcs15-tool,
 * yubico-piv-tool, scriptor), each leaving the log its format keeps: pcscd's
 * own output, OpenSC's debug file, pcsc-spy's dump, scriptor's output. Each
 * is imported and checked against what was sent. With
 * CARDLOOP_UPDATE_TRACE_FIXTURES=1 the logs are also saved as the fixtures of
 * simulator/trace/fixtures (the unit tests' input).
 */
import test from "ava";
import fs from "node:fs";
import path from "node:path";
import { startPcscd, READER_0, type Pcscd } from "../harness/pcscd.js";
import { runTool, spawnGroup, tempDir, type Run } from "../harness/processes.js";
import { PivCard } from "../simulator/card/index.js";
import { PcscReader, VpcdBridge, parseVpcdEndpoint } from "../simulator/reader/index.js";
import { detectFormat, foldExchanges, importTrace } from "../simulator/trace/index.js";

const FIXTURES = path.resolve(import.meta.dirname, "../simulator/trace/fixtures");
const UPDATE = process.env.CARDLOOP_UPDATE_TRACE_FIXTURES === "1";
/** A test PIN: the importer must mask it wherever the log shows it. */
const PIN = "24681357";
const PIN_HEX = Buffer.from(PIN, "ascii").toString("hex").toUpperCase();
const PIN_SPACED = PIN_HEX.replace(/(..)(?!$)/g, "$1 ");
const VERIFY = `00 20 00 80 08 ${PIN_SPACED}`;
const SELECT = "00 A4 04 00 05 A0 00 00 03 08 00";
const CHUID = "00 CB 3F FF 05 5C 03 5F C1 02 00";

let pcscd: Pcscd;
let bridge: VpcdBridge;
let pcscdLog = "";

test.before(async () => {
  pcscd = await startPcscd({ debug: true });
  bridge = new VpcdBridge(PivCard.create({ expires: new Date("2031-06-30T00:00:00Z"), pin: PIN }), parseVpcdEndpoint(pcscd.endpoints[0]));
  await bridge.insert();
  // pcscd must see the card before a tool looks for it.
  const reader = await PcscReader.open(READER_0);
  try {
    await reader.waitForCard(20000);
  } finally {
    await reader.close();
  }
});

test.after.always(async () => {
  await bridge?.close();
  await pcscd?.stop();
});

function save(name: string, text: string): void {
  if (UPDATE) fs.writeFileSync(path.join(FIXTURES, name), text);
}

function ok(t: { is(a: unknown, b: unknown, m?: string): void }, r: Run, what: string): void {
  t.is(r.code, 0, `${what}: ${r.stdout.slice(0, 400)} ${r.stderr.slice(0, 400)}`);
}

/**
 * pcscd's log from `mark` on, once its last exchange has come through the
 * pipe (a little after the tool ended): at least `minAnswers` SW lines and
 * one for every APDU line. Polled, bounded at 10 s; the caller's assertions
 * say what is missing if it never comes.
 */
async function pcscdLogSince(mark: number, minAnswers: number): Promise<string> {
  for (let tries = 0; ; tries++) {
    const log = pcscd.log().slice(mark);
    const apdus = [...log.matchAll(/APDU: [0-9A-F]/g)].length;
    const answers = [...log.matchAll(/SW: [0-9A-F]/g)].length;
    if ((answers >= minAnswers && answers === apdus) || tries >= 400) return log;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** opensc-tool -s: the APDUs in hex with colons, as OpenSC takes them. */
const send = (apdu: string): string[] => ["-s", apdu.replace(/ /g, ":")];

test.serial("pcscd -a: every APDU of opensc-tool, pkcs15-tool and yubico-piv-tool imported in order, PIN and management-key witness masked", async (t) => {
  const home = tempDir(t, "trace-capture-pcscd");
  const env = { ...pcscd.env, HOME: home };
  const mark = pcscd.log().length;
  ok(t, await runTool("opensc-tool", ["-r", "0", "-a"], { env }), "opensc-tool -a");
  ok(t, await runTool("pkcs15-tool", ["-r", "0", "-D"], { env }), "pkcs15-tool -D");
  ok(t, await runTool("yubico-piv-tool", ["-r", READER_0, "-a", "verify-pin", "-P", PIN, "-a", "set-chuid"], { env }), "yubico-piv-tool");
  pcscdLog = await pcscdLogSince(mark, 41);
  save("pcscd.log", pcscd.log());
  const sent = [...pcscdLog.matchAll(/APDU: ([0-9A-F ]+)/g)].length;
  t.true(sent > 40, `pcscd logged ${sent} APDUs`);
  t.true(pcscdLog.includes(PIN_SPACED), "the raw log holds the PIN: the importer has something to mask");
  t.is(detectFormat(pcscdLog), "pcscd");
  const { trace, masked } = importTrace(pcscdLog, { source: "pcscd.log" });
  const apdus = trace.entries.filter((e) => e.type === "apdu");
  t.is(apdus.length, sent, "every exchange imported");
  t.true(masked >= 3, "the VERIFY and both management-key steps are masked");
  const text = JSON.stringify(trace);
  t.false(text.includes(PIN_HEX));
  const auth = apdus.filter((e) => e.command.startsWith("0087039B"));
  t.is(auth.length, 2);
  for (const a of auth) t.is(a.masked, "management-key");
  t.regex(auth[0].response, /^7C0A8008F{16}$/, "the card's witness is masked");
  t.true(foldExchanges(trace.entries).length > 0);
});

test.serial("OpenSC debug log (debug = 3 in opensc.conf): APDUs sent with opensc-tool -s imported, PIN masked", async (t) => {
  const home = tempDir(t, "trace-capture-opensc");
  const file = path.join(home, "opensc-debug.log");
  const conf = path.join(home, "opensc.conf");
  fs.writeFileSync(conf, `app default {\n  debug = 3;\n  debug_file = ${file};\n}\n`);
  const env = { ...pcscd.env, HOME: home, OPENSC_CONF: conf };
  ok(t, await runTool("opensc-tool", ["-r", "0", ...send(SELECT), ...send(CHUID), ...send(VERIFY), ...send("00 20 00 80")], { env }), "opensc-tool -s");
  const log = fs.readFileSync(file, "utf8");
  save("opensc-debug.log", log);
  t.true(log.includes(PIN_SPACED), "opensc-tool -s logs the PIN in clear");
  t.is(detectFormat(log), "opensc");
  const { trace, masked } = importTrace(log);
  const apdus = trace.entries.filter((e) => e.type === "apdu");
  const sent = [...log.matchAll(/Outgoing APDU/g)].length;
  t.is(apdus.length, sent);
  t.is(masked, 1);
  const verify = apdus.find((e) => e.command.startsWith("0020008008"));
  t.is(verify?.command, "0020008008" + "FF".repeat(8));
  t.is(verify?.sw, "9000");
  t.is(apdus[apdus.length - 1].sw, "9000", "PIN status after the verification");
  t.is(trace.header.reader, READER_0);
});

test.serial("pcsc-spy (libpcscspy as OpenSC's PC/SC provider): SCardTransmit buffers imported, PIN masked", async (t) => {
  const home = tempDir(t, "trace-capture-spy");
  const fifo = path.join(home, "pcsc-spy");
  ok(t, await runTool("mkfifo", [fifo]), "mkfifo");
  const spy = spawnGroup(t, "pcsc-spy", ["-n", fifo], { label: "pcsc-spy" });
  const conf = path.join(home, "opensc.conf");
  fs.writeFileSync(conf, `app default {\n  reader_driver pcsc {\n    provider_library = libpcscspy.so.0;\n  }\n}\n`);
  const env = { ...pcscd.env, HOME: home, OPENSC_CONF: conf };
  ok(t, await runTool("opensc-tool", ["-r", "0", ...send(SELECT), ...send(CHUID), ...send(VERIFY)], { env }), "opensc-tool through the spy");
  // The spy ends when the writer closes the FIFO.
  await spy.wait(10000);
  const log = spy.stdout;
  save("pcsc-spy.log", log);
  t.true(log.includes("SCardTransmit"), spy.report("no SCardTransmit"));
  t.is(detectFormat(log), "pcsc-spy");
  const { trace, masked } = importTrace(log);
  const apdus = trace.entries.filter((e) => e.type === "apdu");
  t.is(apdus.length, [...log.matchAll(/^SCardTransmit/gm)].length, "every transmit imported (OpenSC probes other applets first)");
  const ours = ["00A4040005A00000030800", "00CB3FFF055C035FC10200", "0020008008" + "FF".repeat(8)];
  const at = ours.map((c) => apdus.findIndex((e) => e.command === c));
  t.true(at.every((i, k) => i >= 0 && (k === 0 || i > at[k - 1])), `our three APDUs, in order: ${at.join(",")}`);
  t.deepEqual(at.map((i) => apdus[i].sw), ["9000", "9000", "9000"]);
  t.is(trace.header.reader, READER_0);
  t.is(masked, 1);
  t.false(JSON.stringify(trace).includes(PIN_HEX));
});

test.serial("scriptor output: every exchange with its answer, the reset as an event, PIN masked", async (t) => {
  const home = tempDir(t, "trace-capture-scriptor");
  const script = path.join(home, "session.script");
  fs.writeFileSync(script, ["# select PIV", SELECT, CHUID, VERIFY, "reset", "00 20 00 80", "00 CB 3F FF 05 5C 03 5F C1 07 00", ""].join("\n"));
  const mark = pcscd.log().length;
  const r = await runTool("scriptor", ["-r", READER_0, "-p", "T=1", script], { env: { ...pcscd.env, HOME: home } });
  ok(t, r, "scriptor");
  // pcscd saw the same session: its log has the reset too (SCardReconnect), with the ATR.
  // (A power-on may come first: pcscd unpowers an unused card after a grace period.)
  const seen = importTrace(await pcscdLogSince(mark, 5), { format: "pcscd" }).trace.entries.filter((e) => e.type === "apdu" || e.event !== "power-on");
  t.deepEqual(
    seen.map((e) => (e.type === "apdu" ? e.sw : e.event)),
    ["9000", "9000", "9000", "reset", "63C3", "9000"],
  );
  save("scriptor.out", r.stdout);
  t.is(detectFormat(r.stdout), "scriptor");
  const { trace, masked } = importTrace(r.stdout);
  const kinds = trace.entries.map((e) => (e.type === "apdu" ? e.sw : e.event));
  t.deepEqual(kinds, ["9000", "9000", "9000", "reset", "63C3", "9000"]);
  t.is(masked, 1);
  t.false(JSON.stringify(trace).includes(PIN_HEX));
});
