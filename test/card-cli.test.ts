import test from "ava";
import { execFile, spawn } from "node:child_process";
import { createServer, type AddressInfo } from "node:net";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { UsageError, encodeCommand, fromHex, toHex } from "../core/index.js";
import { parseScript } from "../cli/apdu.js";
import { CardFile, DEFAULT_MANAGEMENT_KEY, loadCard, lockCardFile } from "../simulator/card/index.js";
import { mgmAuth } from "../simulator/card/testing.js";

const BIN = fileURLToPath(new URL("../bin/cardloop.js", import.meta.url));

function run(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** A card file with a syntax error right after its PIN (V8 would quote the text around it). */
function damagedCard(dir: string): string {
  const file = join(dir, "damaged.json");
  const text = JSON.stringify({ format: "cardloop-piv-card", version: 1, pin: "3132333435363738", puk: "3132333435363738" });
  writeFileSync(file, text.replace('"pin":', '"pin" '));
  return file;
}

/** Whether nobody holds the card file now: its lock can be taken (and is given back at once). */
function free(path: string): boolean {
  try {
    lockCardFile(path).release();
    return true;
  } catch {
    return false;
  }
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "cardloop-cli-"));
}

test("card new writes a card file; apdu runs a script, checks SWs and saves the state back", async (t) => {
  const dir = tmp();
  const path = join(dir, "card.json");
  const made = await run(["card", "new", "--out", path, "--expires", "2031-05-06", "--pin", "24681357", "--serial", "00C0FFEE"]);
  t.is(made.code, 0, made.stderr);
  t.regex(made.stdout, /card 00c0ffee expires 2031-05-06/);
  const file = JSON.parse(readFileSync(path, "utf8"));
  t.is(file.format, "cardloop-piv-card");
  t.is(file.expires, "2031-05-06T00:00:00.000Z");

  const script = join(dir, "session.apdu");
  writeFileSync(
    script,
    [
      "# select the PIV application",
      "00 A4 04 00 05 A0 00 00 03 08 00 9000",
      "00CB3FFF055C035FC10200   9000   # CHUID",
      "00 20 00 80 08 31 32 33 34 35 36 FF FF 63Cx  # wrong PIN",
      "00F8000000 9000",
      "reset",
      "00200080 63C2",
    ].join("\n"),
  );
  const ok = await run(["apdu", "--card", path, "--script", script]);
  t.is(ok.code, 0, ok.stdout + ok.stderr);
  t.regex(ok.stdout, /^# ATR 3BF81300008131FE15/m);
  t.regex(ok.stdout, /^> 00A4040005A00000030800$/m);
  t.regex(ok.stdout, /^< 61.* 9000$/m);
  t.regex(ok.stdout, /^> 0020008008FFFFFFFFFFFFFFFF$/m, "the VERIFY is printed with its PIN bytes masked");
  t.false(ok.stdout.includes("313233343536"), "no PIN digits on stdout");
  t.regex(ok.stdout, /^< 00C0FFEE 9000$/m);
  t.regex(ok.stdout, /^> RESET$/m);
  t.is(JSON.parse(readFileSync(path, "utf8")).pinLeft, 2, "the wrong PIN was saved back to the card file");

  // an expectation that does not hold: exit 1, the rest still runs
  const bad = await run(["apdu", "--card", path, "00200080 9000", "00FD000000"]);
  t.is(bad.code, 1);
  t.regex(bad.stdout, /^! expected 9000, got 63C2$/m);
  t.regex(bad.stdout, /^< 050207 9000$/m);
});

test("apdu --json prints one object per exchange; stdout and the run log mask the PIN", async (t) => {
  const dir = tmp();
  const path = join(dir, "card.json");
  t.is((await run(["card", "new", "--out", path])).code, 0);
  const log = join(dir, "run.jsonl");
  // the second VERIFY has a wrong Lc (04 for 8 bytes): the card answers 6700, and the log must still hide the digits
  const res = await run(["apdu", "--card", path, "--json", "--log", log, "002000800831323334353600FF 63C2", "00FD000000", "00200080043938373635343332"]);
  t.is(res.code, 0, res.stderr);
  const lines = res.stdout.trim().split("\n").map((l) => JSON.parse(l));
  // --json output is as much a log as --log: the same masking
  t.deepEqual(lines[0], { command: "0020008008FFFFFFFFFFFFFFFF", response: "", sw: "63C2", expected: "63C2", ok: true });
  t.deepEqual(lines[1], { command: "00FD000000", response: "050207", sw: "9000" }, "commands without secrets are printed as sent");
  t.like(lines[2], { command: "0020008004FFFFFFFFFFFFFFFF", sw: "6700" });
  t.false(res.stdout.includes("3132333435") || res.stdout.includes("39383736"), "no PIN digits on stdout");
  const text = readFileSync(log, "utf8");
  t.regex(text, /"type":"apdu.exchange"/);
  t.regex(text, /0020008008FFFFFFFFFFFFFFFF/);
  t.regex(text, /0020008004FFFFFFFFFFFFFFFF/);
  t.false(text.includes("3132333435"), "no PIN digits in the run log");
  t.false(text.includes("39383736") || text.includes("35343332"), "no digits of the malformed VERIFY either");
});

test("scripts from stdin", async (t) => {
  const dir = tmp();
  const path = join(dir, "card.json");
  await run(["card", "new", "--out", path]);
  const res = await run(["apdu", "--card", path, "--script", "-"], "00FD000000 9000\n");
  t.is(res.code, 0, res.stderr);
  t.regex(res.stdout, /< 050207 9000/);
});

test("bad arguments and unreadable files: one stderr line, exit 2", async (t) => {
  const dir = tmp();
  const path = join(dir, "card.json");
  await run(["card", "new", "--out", path]);
  const cases: Array<[string, string[]]> = [
    ["existing card file", ["card", "new", "--out", path]],
    ["bad date", ["card", "new", "--out", join(dir, "x.json"), "--expires", "2031-02-30"]],
    ["short PIN", ["card", "new", "--out", join(dir, "y.json"), "--pin", "12"]],
    ["bad serial", ["card", "new", "--out", join(dir, "z.json"), "--serial", "xyz"]],
    ["missing card", ["apdu", "--card", join(dir, "nope.json"), "00FD0000"]],
    ["not hex", ["apdu", "--card", path, "00GG"]],
    ["nothing to send", ["apdu", "--card", path]],
    ["missing script", ["apdu", "--card", path, "--script", join(dir, "nope.apdu")]],
    ["not a card file", ["apdu", "--card", BIN, "00FD0000"]],
    // secrets in bad input: the error names the fault, never the secret
    ["bad management key", ["card", "new", "--out", join(dir, "k.json"), "--management-key", "0102030405060708090A0B0C0D0E0F10111213141516zz"]],
    ["mistyped VERIFY", ["apdu", "--card", path, "0020008008 3938373635343332 Q"]],
    ["damaged card file", ["apdu", "--card", damagedCard(dir), "00FD0000"]],
    // reader choice: checked before any reader is opened, so no pcscd is needed here
    ["memory reader without a card", ["apdu", "00FD0000"]],
    ["memory reader named, without a card", ["apdu", "--reader", "memory", "00FD0000"]],
    ["unknown reader kind", ["apdu", "--reader", "usb:1", "--card", path, "00FD0000"]],
    ["a card file with a PC/SC reader", ["apdu", "--reader", "pcsc:Virtual PCD 00 00", "--card", path, "00FD0000"]],
    ["bad timeout", ["apdu", "--reader", "pcsc:Virtual PCD 00 00", "--timeout", "soon", "00FD0000"]],
    // card new --issue: issue-only options need --issue, and --issue needs a holder
    ["--ca-data without --issue", ["card", "new", "--out", join(dir, "i1.json"), "--ca-data", dir]],
    ["--holder-name without --issue", ["card", "new", "--out", join(dir, "i2.json"), "--holder-name", "A B"]],
    ["--issue without a holder", ["card", "new", "--out", join(dir, "i3.json"), "--issue"]],
    ["--issue with a bad email", ["card", "new", "--out", join(dir, "i4.json"), "--issue", "--holder-name", "A B", "--holder-email", "nobody"]],
    ["--ca-data not a directory", ["card", "new", "--out", join(dir, "i5.json"), "--issue", "--holder-name", "A B", "--holder-email", "a@b.test", "--ca-data", BIN]],
    // an issued card never keeps the well-known PUK or management key
    ["--issue with the default PUK", ["card", "new", "--out", join(dir, "i6.json"), "--issue", "--holder-name", "A B", "--holder-email", "a@b.test", "--puk", "12345678"]],
    ["--issue with the default management key", ["card", "new", "--out", join(dir, "i7.json"), "--issue", "--holder-name", "A B", "--holder-email", "a@b.test", "--management-key", "010203040506070801020304050607080102030405060708"]],
    ["card file in a missing directory", ["card", "new", "--out", join(dir, "nowhere", "c.json")]],
  ];
  const results = await Promise.all(cases.map(([, args]) => run(args)));
  results.forEach((r, i) => {
    t.is(r.code, 2, cases[i][0]);
    t.is(r.stderr.trim().split("\n").length, 1, `${cases[i][0]}: ${r.stderr}`);
    t.regex(r.stderr, /\S/, cases[i][0]);
    for (const secret of ["0102030405060708", "3938373635343332", "3132333435363738", '"pin"']) {
      t.false(r.stderr.toUpperCase().includes(secret.toUpperCase()), `${cases[i][0]} quotes a secret: ${r.stderr}`);
    }
  });
  for (const n of [1, 2, 3, 4, 5, 6, 7]) t.false(existsSync(join(dir, `i${n}.json`)), "a refused card new writes no card file");
  for (const n of [6, 7]) t.regex(results[cases.findIndex(([, a]) => a.includes(join(dir, `i${n}.json`)))].stderr, /must not keep the well-known/);
});

test("script parser: generated scripts read back exactly; any text parses or fails with a one-line UsageError", (t) => {
  const command = fc
    .record({
      ins: fc.integer({ min: 0, max: 255 }),
      p1: fc.integer({ min: 0, max: 255 }),
      data: fc.uint8Array({ maxLength: 300 }),
      le: fc.option(fc.integer({ min: 1, max: 65536 }), { nil: undefined }),
    })
    .map((c) => encodeCommand({ cla: 0, ins: c.ins, p1: c.p1, p2: 0, data: c.data, le: c.le }));
  const line = fc.record({
    bytes: command,
    spaced: fc.boolean(),
    expect: fc.option(fc.stringMatching(/^[0-9A-F]{2}[0-9A-Fx]{2}$/), { nil: undefined }),
    comment: fc.option(fc.string({ maxLength: 20 }).map((c) => c.replace(/[\r\n]/g, "")), { nil: undefined }),
    reset: fc.boolean(),
  });
  fc.assert(
    fc.property(fc.array(line, { minLength: 1, maxLength: 8 }), (lines) => {
      const text = lines
        .map((l) => {
          if (l.reset) return "RESET";
          const hex = toHex(l.bytes);
          // Without an expectation the bytes go as one token: a final 4-digit group would read as an SW.
          const apdu = l.spaced && l.expect !== undefined ? hex.replace(/(..)/g, "$1 ").trim() : hex;
          return `  ${apdu}${l.expect !== undefined ? ` ${l.expect}` : ""}${l.comment !== undefined ? ` # ${l.comment}` : ""}`;
        })
        .join("\r\n");
      const steps = parseScript(text);
      if (steps.length !== lines.length) return false;
      return steps.every((s, i) => {
        const l = lines[i];
        if (l.reset) return s.kind === "reset";
        return s.kind === "apdu" && toHex(s.command) === toHex(l.bytes) && s.expect === l.expect?.toUpperCase() && s.line === i + 1;
      });
    }),
    { numRuns: 500 },
  );
  let refused = 0;
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.string({ maxLength: 30 }), fc.stringMatching(/^[0-9a-fA-F x#\n]{0,40}$/)), { maxLength: 6 }), (parts) => {
      try {
        for (const s of parseScript(parts.join("\n"))) if (s.kind === "apdu" && s.command.length === 0) return false;
      } catch (err) {
        refused++;
        return err instanceof UsageError && !err.message.includes("\n");
      }
      return true;
    }),
    { numRuns: 3000 },
  );
  t.true(refused > 0, "the fuzzer produced invalid scripts too");
});

const ascii = (s: string) => Buffer.from(s, "ascii").toString("hex").toUpperCase();
/** A PIN or PUK as PIV sends it: its characters, FF-padded to 8 bytes. */
const block = (secret: string) => ascii(secret) + "FF".repeat(8 - secret.length);
const rrc = (puk: string, pin: string) => `002C008010${block(puk)}${block(pin)}`;

test("card new --issue: a random PUK and management key, printed once on stdout only; they work and the defaults do not", async (t) => {
  const dir = tmp();
  const path = join(dir, "issued.json");
  const made = await run(["card", "new", "--out", path, "--issue", "--ca-data", join(dir, "ca"), "--holder-name", "Ida Issued", "--holder-email", "ida@example.test"]);
  t.is(made.code, 0, made.stderr);
  t.is(made.stderr, "", "nothing (and so no secret) on stderr");
  const puk = /^PUK \(holder\): (\d{8})$/m.exec(made.stdout)?.[1];
  const key = /^management key \(issuer, 3des\): ([0-9a-f]{48})$/m.exec(made.stdout)?.[1];
  t.truthy(puk && key, made.stdout);
  t.not(puk, "12345678");
  t.not(key, toHex(DEFAULT_MANAGEMENT_KEY));
  t.is(made.stdout.split(puk!).length, 2, "the PUK is printed once");
  t.is(made.stdout.split(key!).length, 2, "the management key is printed once");
  t.regex(made.stdout, /^cancellation code \(holder\): \S+$/m, "beside the cancellation code");
  t.regex(made.stdout, /neither is shown again/);

  // the PUK: the well-known one is refused, the printed one unblocks a blocked PIN
  const wrongPin = `0020008008${block("999999")}`;
  const script = join(dir, "unblock.apdu");
  writeFileSync(
    script,
    [
      "00A4040005A000000308 9000",
      `${rrc("12345678", "24681357")} 63C2   # the default PUK`,
      `${wrongPin} 63C2`,
      `${wrongPin} 63C1`,
      `${wrongPin} 63C0`,
      `0020008008${block("123456")} 6983   # blocked`,
      `${rrc(puk!, "24681357")} 9000   # the printed PUK`,
      `0020008008${block("24681357")} 9000`,
    ].join("\n"),
  );
  const unblocked = await run(["apdu", "--card", path, "--script", script]);
  t.is(unblocked.code, 0, unblocked.stdout + unblocked.stderr);
  t.false(unblocked.stdout.includes(ascii(puk!)), "the PUK is masked in apdu's output");

  // the management key: the printed one authenticates, the well-known one does not
  t.is(mgmAuth(loadCard(path), fromHex(key!)).sw, "9000");
  t.is(mgmAuth(loadCard(path), DEFAULT_MANAGEMENT_KEY).sw, "6982");
});

test("card new without --issue keeps the blank test card's defaults, and --help says so", async (t) => {
  const dir = tmp();
  const path = join(dir, "blank.json");
  const made = await run(["card", "new", "--out", path]);
  t.is(made.code, 0, made.stderr);
  t.notRegex(made.stdout, /PUK|management key/, "a blank card prints no secret");
  const state = loadCard(path).state;
  t.is(Buffer.from(state.puk).toString("latin1"), "12345678");
  t.deepEqual(state.managementKey, DEFAULT_MANAGEMENT_KEY);
  const help = await run(["card", "new", "--help"]);
  t.regex(help.stdout, /Without --issue the card is a blank test card/);
  t.regex(help.stdout, /With --issue the card gets a random PUK/);
});

test("a card file held by a session: apdu and card new --force are refused with one line naming the holder, exit 2; free again once closed", async (t) => {
  const dir = tmp();
  const path = join(dir, "held.json");
  t.is((await run(["card", "new", "--out", path])).code, 0);
  const held = CardFile.open(path);
  t.teardown(() => held.close());
  for (const args of [["apdu", "--card", path, "00FD000000"], ["card", "new", "--out", path, "--force"]]) {
    const r = await run(args);
    t.is(r.code, 2, args.join(" "));
    t.is(r.stderr, `cardloop: card file ${path} is in use by pid ${process.pid}\n`);
  }
  t.is(loadCard(path).serial, held.card.serial, "card new --force did not replace the held card");
  held.close();
  const r = await run(["apdu", "--card", path, "00FD000000 9000"]);
  t.is(r.code, 0, r.stderr);
  t.true(free(path), "apdu released the card file at exit");
  t.false(existsSync(`${path}.lock.pid`), "apdu closed it (its pid file is gone)");
});

test("card serve holds its card file until SIGTERM or SIGINT, then releases it", async (t) => {
  const dir = tmp();
  const path = join(dir, "served.json");
  t.is((await run(["card", "new", "--out", path])).code, 0);
  // a loopback port nobody listens on: the served card waits for vpcd, holding its file
  const port = await new Promise<number>((resolve) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const p = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    const child = spawn(process.execPath, [BIN, "card", "serve", "--card", path, "--vpcd", `127.0.0.1:${port}`], { detached: true, stdio: ["ignore", "ignore", "pipe"] });
    t.teardown(() => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // gone
      }
    });
    let stderr = "";
    const waiting = new Promise<void>((resolve) =>
      child.stderr!.setEncoding("utf8").on("data", (c: string) => {
        stderr += c;
        if (/not reachable/.test(stderr)) resolve();
      }),
    );
    const closed = new Promise<number | null>((resolve) => child.once("close", resolve));
    await waiting;
    const busy = await run(["apdu", "--card", path, "00FD000000"]);
    t.is(busy.code, 2);
    t.is(busy.stderr, `cardloop: card file ${path} is in use by pid ${child.pid}\n`);
    process.kill(-child.pid!, signal);
    t.is(await closed, 0, stderr);
    t.regex(stderr, new RegExp(`${signal}: card [0-9a-f]+ saved to .* and released\\n$`));
    t.true(free(path), `${signal}: released`);
    t.false(existsSync(`${path}.lock.pid`), `${signal}: closed after vpcd, not only dropped by the kernel at exit`);
  }
});
