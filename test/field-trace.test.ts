/**
 * Issue 15's first "done when": a trace recorded from OpenSC (`pkcs15-tool`,
 * `pkcs11-tool --sign`) against the emulated card through pcscd's APDU log
 * imports (every exchange, the PIN masked), replays against the same card
 * with no divergence (the signature verified with the certificate the trace
 * read), and against a card with a different certificate diverges at the
 * certificate read and says so. Everything real: pcscd with vpcd, `cardloop
 * card serve`, OpenSC's tools, `cardloop trace import` and `cardloop replay`
 * as child processes.
 */
import test, { type ExecutionContext } from "ava";
import fs from "node:fs";
import path from "node:path";
import { fromHex, toHex } from "../core/index.js";
import { Certificate } from "../pki/index.js";
import { loadCard, saveCard } from "../simulator/card/index.js";
import { PcscReader } from "../simulator/reader/pcsc.js";
import { certificateInObject, readTrace } from "../simulator/trace/index.js";
import { SELECT_PIV, authenticate, certificateFor, getData, putCertificate, send } from "../simulator/trace/testing.js";
import { READER_0, startPcscd, type Pcscd } from "../harness/pcscd.js";
import { spawnGroup, tempDir, type Group } from "../harness/processes.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const BIN = path.join(ROOT, "bin/cardloop.js");
const PKCS11_MODULE = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so";
const PIN = "13572468";
/** The issued card's management key (card new --issue refuses the well-known one). */
const MANAGEMENT_KEY = "111213141516171821222324252627283132333435363738";
const hexOf = (s: string) => toHex(new TextEncoder().encode(s)).toUpperCase();

interface Done {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A command to its end, in a process group of its own (stopped with the test however it ends). */
async function run(t: ExecutionContext, pcscd: Pcscd, home: string, command: string, args: string[]): Promise<Done> {
  const g = spawnGroup(t, command, args, { cwd: ROOT, env: { ...pcscd.env, HOME: home } });
  const exit = await g.wait(60_000);
  return { code: exit.code, stdout: g.stdout, stderr: g.stderr };
}

const cardloop = (t: ExecutionContext, pcscd: Pcscd, home: string, args: string[]) => run(t, pcscd, home, process.execPath, [BIN, ...args]);

/** `cardloop card serve` of a card file into vpcd reader 0; resolves once pcscd sees the card. */
async function serve(t: ExecutionContext, pcscd: Pcscd, home: string, file: string): Promise<Group> {
  const g = spawnGroup(t, process.execPath, [BIN, "card", "serve", "--vpcd", pcscd.endpoints[0], "--card", file], { cwd: ROOT, env: { ...pcscd.env, HOME: home } });
  const reader = await PcscReader.open(READER_0);
  try {
    await reader.waitForCard(20_000);
  } finally {
    await reader.close();
  }
  return g;
}

/** Stops `card serve` (SIGTERM: it saves the card and exits 0) and waits until pcscd sees the reader empty. */
async function stopServing(t: ExecutionContext, g: Group): Promise<void> {
  g.signal("SIGTERM");
  const exit = await g.wait(20_000);
  t.is(exit.code, 0, g.report("card serve did not end cleanly"));
  const reader = await PcscReader.open(READER_0);
  try {
    await reader.waitForState(5000);
    await reader.waitForRemoval(10_000);
  } finally {
    await reader.close();
  }
}

/** The same card with another certificate (same key, another serial and subject) in 9A. */
function withOtherCertificate(from: string, to: string): void {
  const card = loadCard(from);
  card.powerOn();
  send(card, SELECT_PIV);
  const der = certificateInObject(send(card, getData(0x5fc105)).data);
  if (der === undefined) throw new Error("the issued card has no 9A certificate");
  authenticate(card, fromHex(MANAGEMENT_KEY));
  putCertificate(card, 0x5fc105, certificateFor(new Certificate(der).spki, "Not The Same Holder", 77));
  card.powerOff();
  saveCard(card, to);
}

test("an OpenSC session recorded in pcscd's APDU log imports (every exchange, PIN masked) and replays: same card same, other certificate diverges at its read", async (t) => {
  t.timeout(180_000);
  for (const tool of ["pkcs15-tool", "pkcs11-tool"]) t.true(fs.existsSync(`/usr/bin/${tool}`), `${tool} is installed (opensc)`);
  t.true(fs.existsSync(PKCS11_MODULE), "opensc-pkcs11 is installed");
  const pcscd = await startPcscd({ debug: true, quickack: true });
  t.teardown(() => pcscd.stop());
  const dir = tempDir(t, "field-trace");
  const home = path.join(dir, "home");
  fs.mkdirSync(home);
  const card = path.join(dir, "card.json");
  const expires = new Date(Date.now() + 700 * 86_400_000).toISOString().slice(0, 10);
  const made = await cardloop(t, pcscd, home, [
    "card", "new", "--out", card, "--expires", expires, "--pin", PIN, "--puk", "87654321", "--management-key", MANAGEMENT_KEY,
    "--issue", "--ca-data", path.join(dir, "ca"), "--holder-name", "Fiona Field", "--holder-email", "fiona@example.test",
  ]);
  t.is(made.code, 0, made.stderr);

  // The field session: middleware reads the card, then signs with the signature key (9C, id 02).
  const logStart = pcscd.log().length;
  const served = await serve(t, pcscd, home, card);
  const dump = await run(t, pcscd, home, "pkcs15-tool", ["-r", READER_0, "-D"]);
  t.is(dump.code, 0, dump.stderr);
  t.regex(dump.stdout, /Digital Signature/);
  const certOut = path.join(dir, "cert.pem");
  const readCert = await run(t, pcscd, home, "pkcs15-tool", ["-r", READER_0, "--read-certificate", "02", "-o", certOut]);
  t.is(readCert.code, 0, readCert.stderr);
  const data = path.join(dir, "data.bin");
  fs.writeFileSync(data, Buffer.alloc(32, 0x5a));
  const signature = path.join(dir, "data.sig");
  const signed = await run(t, pcscd, home, "pkcs11-tool", ["--module", PKCS11_MODULE, "--slot-index", "0", "--login", "--pin", PIN, "--sign", "--mechanism", "ECDSA", "--id", "02", "-i", data, "-o", signature]);
  t.is(signed.code, 0, signed.stdout + signed.stderr);
  t.true(fs.statSync(signature).size > 0, "pkcs11-tool wrote a signature");
  await stopServing(t, served);

  // Import pcscd's log: every exchange it logged, the PIN masked.
  const log = path.join(dir, "pcscd.log");
  const logText = pcscd.log().slice(logStart);
  fs.writeFileSync(log, logText);
  const loggedExchanges = logText.split("\n").filter((l) => /^\d{8} SW: /.test(l)).length;
  t.true(loggedExchanges > 20, `pcscd logged the session's APDUs (${loggedExchanges})`);
  t.true(logText.includes(hexOf(PIN).replace(/(..)/g, "$1 ").trim()), "the raw log does hold the PIN (what the import must hide)");
  const tracePath = path.join(dir, "field.jsonl");
  const imported = await cardloop(t, pcscd, home, ["trace", "import", log, "--out", tracePath]);
  t.is(imported.code, 0, imported.stderr);
  const trace = readTrace(tracePath);
  t.is(trace.header.format, "pcscd");
  const apdus = trace.entries.filter((e) => e.type === "apdu");
  t.is(apdus.length, loggedExchanges, "every exchange pcscd logged is in the trace");
  t.true(trace.header.masked > 0, "the import masked the PIN");
  t.true(apdus.some((e) => e.type === "apdu" && e.command.startsWith("00200080") && e.masked === "pin"));
  const traceText = fs.readFileSync(tracePath, "utf8");
  t.false(traceText.includes(hexOf(PIN)), "no PIN bytes in the trace file");

  // Replay against the same card: no divergence, the signature checked against the certificate read.
  const same = await cardloop(t, pcscd, home, ["replay", tracePath, "--card", card, "--pin", PIN, "--json"]);
  t.is(same.code, 0, same.stdout.split("\n").filter((l) => l.includes('"diverged"')).join("\n") + same.stderr);
  const lines = same.stdout.trim().split("\n").map((l) => JSON.parse(l));
  const summary = lines.pop().summary;
  t.is(summary.outcome, "same");
  t.is(summary.replayed, summary.steps);
  t.log(`pcscd logged ${loggedExchanges} exchanges, ${trace.header.masked} masked; replay: ${summary.steps} steps, ${summary.same} same, ${summary.equivalent} equivalent`);
  const signatures = lines.filter((r) => r.command.startsWith("0087119C") || r.command.startsWith("1087119C"));
  t.true(signatures.length >= 1, "the trace holds the 9C signature");
  t.true(signatures.some((r) => r.reason === "signature verifies with the certificate the trace read for key 9C"), JSON.stringify(signatures.map((r) => r.reason)));
  t.false(same.stdout.includes(hexOf(PIN)) || same.stdout.includes(PIN), "the PIN given is never printed");
  // pcscd's log itself is accepted too (imported on the fly, masked the same way)
  const raw = await cardloop(t, pcscd, home, ["replay", log, "--card", card, "--pin", PIN]);
  t.is(raw.code, 0, raw.stdout.slice(-2000) + raw.stderr);
  t.regex(raw.stdout, /^# no divergence: \d+ same, \d+ equivalent, 0 diverged$/m);

  // The same card served again, replayed through pcscd (--reader): the same, over the real PC/SC stack.
  const again = await serve(t, pcscd, home, card);
  const viaPcsc = await cardloop(t, pcscd, home, ["replay", tracePath, "--reader", `pcsc:${READER_0}`, "--pin", PIN]);
  await stopServing(t, again);
  t.is(viaPcsc.code, 0, viaPcsc.stdout.slice(-2000) + viaPcsc.stderr);
  t.regex(viaPcsc.stdout, /^# no divergence: \d+ same, 1 equivalent, 0 diverged$/m);

  // Against a card that differs only in its 9A certificate: diverges at that read, and says so.
  const other = path.join(dir, "other.json");
  withOtherCertificate(card, other);
  const diverged = await cardloop(t, pcscd, home, ["replay", tracePath, "--card", other, "--pin", PIN]);
  t.is(diverged.code, 1, diverged.stdout + diverged.stderr);
  const firstDivergence = diverged.stdout.split("\n").find((l) => l.startsWith("!"));
  t.regex(firstDivergence ?? "", /GET DATA .*5FC105 X\.509 Certificate for PIV Authentication \(9A\)/);
  t.regex(diverged.stdout, /^ {2}differs {3}53\/70 certificate /m);
  t.regex(diverged.stdout, /^# 1 divergence: .*stopped after/m);

  // Going on: every divergence is a read of that certificate; the 9C signature still verifies.
  const all = await cardloop(t, pcscd, home, ["replay", tracePath, "--card", other, "--pin", PIN, "--keep-going", "--json"]);
  t.is(all.code, 1, all.stderr);
  const results = all.stdout.trim().split("\n").map((l) => JSON.parse(l));
  const divergences = results.filter((r) => r.verdict === "diverged");
  t.true(divergences.length >= 1);
  t.deepEqual([...new Set(divergences.map((r) => r.description))], ["GET DATA (CLA 00 INS CB P1 3F P2 FF): 5FC105 X.509 Certificate for PIV Authentication (9A)"]);
  t.true(divergences.some((r) => /^53\/70 certificate differs at byte \d+ of \d+/.test(r.difference?.text ?? "")), "a whole read names the byte where the certificates part");
  t.true(results.some((r) => r.reason === "signature verifies with the certificate the trace read for key 9C"));
});
