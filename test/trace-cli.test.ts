/**
 * `cardloop trace import` and `cardloop trace show` as a user runs them: the
 * real fixtures in, a trace out (mode 0600, secrets masked), one summary
 * line; bad input is one line on stderr and exit 2, naming the file and line.
 */
import test, { type ExecutionContext } from "ava";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { spawnGroup, tempDir } from "../harness/processes.js";
import { readTrace } from "../simulator/trace/index.js";

const BIN = fileURLToPath(new URL("../bin/cardloop.js", import.meta.url));
const FIXTURES = fileURLToPath(new URL("../simulator/trace/fixtures/", import.meta.url));
const PIN_HEX = Buffer.from("24681357", "ascii").toString("hex").toUpperCase();

/** The CLI in a process group of its own, stopped with the test however it ends. */
async function cardloop(t: ExecutionContext, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const g = spawnGroup(t, process.execPath, [BIN, ...args], { label: `cardloop ${args.slice(0, 2).join(" ")}` });
  const exit = await g.wait(60_000);
  return { code: exit.code, stdout: g.stdout, stderr: g.stderr };
}

const oneLine = (s: string) => s.trim().split("\n").length === 1;

test("trace import: a pcscd log becomes a trace; one summary line; the PIN masked; mode 0600", async (t) => {
  const dir = tempDir(t, "trace-cli");
  const out = join(dir, "field.jsonl");
  const r = await cardloop(t, ["trace", "import", join(FIXTURES, "pcscd.log"), "--out", out]);
  t.is(r.code, 0, r.stderr);
  t.true(oneLine(r.stdout));
  t.regex(r.stdout, /: 45 exchanges \(45 logical\), 1 reader event, 3 masked, from .*pcscd\.log \(pcscd\)$/m);
  t.is(r.stderr, "");
  t.is(statSync(out).mode & 0o777, 0o600);
  const trace = readTrace(out);
  t.is(trace.header.format, "pcscd");
  t.is(trace.header.masked, 3);
  t.false(readFileSync(out, "utf8").includes(PIN_HEX));

  const again = await cardloop(t, ["trace", "import", join(FIXTURES, "pcscd.log"), "--out", out]);
  t.is(again.code, 2, "an existing --out is not overwritten");
  t.regex(again.stderr, /exists \(use --force/);
  t.is((await cardloop(t, ["trace", "import", join(FIXTURES, "pcscd.log"), "--out", out, "--force"])).code, 0);
});

test("trace import --format: each fixture with its format; a wrong --format or an unknown one is exit 2", async (t) => {
  const dir = tempDir(t, "trace-cli-format");
  for (const [name, format] of [["opensc-debug.log", "opensc"], ["pcsc-spy.log", "pcsc-spy"], ["scriptor.out", "scriptor"], ["cardloop-apdu.runlog.jsonl", "runlog"]]) {
    const r = await cardloop(t, ["trace", "import", join(FIXTURES, name), "--format", format, "--out", join(dir, `${name}.jsonl`)]);
    t.is(r.code, 0, `${name}: ${r.stderr}`);
    t.regex(r.stdout, new RegExp(`\\(${format}\\)\\n$`));
  }
  const wrong = await cardloop(t, ["trace", "import", join(FIXTURES, "pcscd.log"), "--format", "opensc", "--out", join(dir, "w.jsonl")]);
  t.is(wrong.code, 2);
  t.true(oneLine(wrong.stderr));
  t.regex(wrong.stderr, /^cardloop: opensc: .*pcscd\.log:\d+: /);
  const unknown = await cardloop(t, ["trace", "import", join(FIXTURES, "pcscd.log"), "--format", "wireshark", "--out", join(dir, "u.jsonl")]);
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /unknown --format "wireshark"/);
});

test("trace import: unreadable, undetectable and bare-script input is one line on stderr, exit 2, naming the file and line", async (t) => {
  const dir = tempDir(t, "trace-cli-bad");
  const junk = join(dir, "junk.log");
  writeFileSync(junk, "this is not an APDU log\n");
  const cases: [string, RegExp][] = [
    [join(dir, "missing.log"), /cannot read .*missing\.log/],
    [junk, /junk\.log:1: not a log cardloop can import/],
    [join(FIXTURES, "session.apdu"), /session\.apdu: an APDU script without answers/],
  ];
  for (const [file, message] of cases) {
    const r = await cardloop(t, ["trace", "import", file, "--out", join(dir, "t.jsonl")]);
    t.is(r.code, 2, file);
    t.true(oneLine(r.stderr), r.stderr);
    t.regex(r.stderr, message);
    t.is(r.stdout, "");
  }
  const bad = join(dir, "bad.log");
  writeFileSync(bad, "00000010 APDU: 00 A4 04 00\n00000010 SW: 9Z 00\n");
  const r = await cardloop(t, ["trace", "import", bad, "--out", join(dir, "t.jsonl")]);
  t.is(r.code, 2);
  t.regex(r.stderr, /bad\.log:2: SW line is not hex/);
  const noOut = await cardloop(t, ["trace", "import", junk]);
  t.is(noOut.code, 2, "--out is required");
});

test("trace show: the logical exchanges named, with SW meanings, masks and reader events; a bad trace is exit 2", async (t) => {
  const dir = tempDir(t, "trace-cli-show");
  const out = join(dir, "s.jsonl");
  t.is((await cardloop(t, ["trace", "import", join(FIXTURES, "cardloop-apdu.out"), "--out", out])).code, 0);
  const r = await cardloop(t, ["trace", "show", out]);
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  t.is(lines[0], "# scriptor cardloop-apdu.out");
  t.regex(lines[1], /^\s+0 {2}-- power-on ATR 3BF8/);
  t.regex(lines[2], /SELECT .*A000000308 \(PIV\) -> 58 bytes, 9000 \(success\)$/);
  t.regex(lines[4], /VERIFY .* -> 9000 \(success\) \[pin masked\]$/);
  t.regex(lines[5], /GENERAL AUTHENTICATE .*key 9B.* \[management-key masked\]$/);
  t.regex(lines[6], /-- reset ATR/);
  t.regex(lines[7], /VERIFY .* -> 63C3 \(verification failed, 3 tries left\)$/);
  t.is(lines.length, 9);

  const broken = join(dir, "broken.jsonl");
  writeFileSync(broken, readFileSync(out, "utf8").replace('"sw":"63C3"', '"sw":"63C"'));
  const b = await cardloop(t, ["trace", "show", broken]);
  t.is(b.code, 2);
  t.true(oneLine(b.stderr));
  t.regex(b.stderr, /broken\.jsonl:8: sw must be/);
});

test("trace import: a cardloop trace with no exchange is refused; an OpenSC log across midnight imports into a trace `trace show` reads", async (t) => {
  const dir = tempDir(t, "trace-cli-edges");
  const empty = join(dir, "empty.jsonl");
  writeFileSync(empty, '{"cardloopTrace":1,"format":"cardloop","masked":0}\n');
  const r = await cardloop(t, ["trace", "import", empty, "--out", join(dir, "e.jsonl")]);
  t.is(r.code, 2);
  t.true(oneLine(r.stderr), r.stderr);
  t.regex(r.stderr, /empty\.jsonl: no exchange in this trace/);

  const exchange = (time: string): string[] => [
    `P:1; T:0x1 ${time} [opensc-tool] reader-pcsc.c:326:pcsc_transmit:`,
    "Outgoing APDU (5 bytes):",
    "00 CA 01 00 00 .....",
    `P:1; T:0x1 ${time} [opensc-tool] reader-pcsc.c:335:pcsc_transmit:`,
    "Incoming APDU (2 bytes):",
    "90 00 ..",
  ];
  const log = join(dir, "midnight.log");
  writeFileSync(log, [...exchange("23:59:59.990"), ...exchange("00:00:00.010")].join("\n") + "\n");
  const out = join(dir, "midnight.jsonl");
  const imported = await cardloop(t, ["trace", "import", log, "--out", out]);
  t.is(imported.code, 0, imported.stderr);
  t.deepEqual(
    readTrace(out).entries.map((e) => e.atMs),
    [0, 20],
  );
  const shown = await cardloop(t, ["trace", "show", out]);
  t.is(shown.code, 0, shown.stderr);
});
