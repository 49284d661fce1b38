import test from "ava";
import fc from "fast-check";
import { FormatError } from "../../../core/index.js";
import { formatTrace, parseTrace } from "../format.js";
import { importOpensc, looksLikeOpensc } from "./opensc.js";
import { PIN_HEX, acceptsOnlyReadable, fixture } from "./fixtures.js";

const LOG = fixture("opensc-debug.log");

test("OpenSC debug log: every Outgoing/Incoming pair imported in order; the opensc-tool -s session at the end; PIN masked", (t) => {
  const { trace, masked } = importOpensc(LOG, "opensc-debug.log");
  const apdus = trace.entries.flatMap((e) => (e.type === "apdu" ? [e] : []));
  t.is(apdus.length, [...LOG.matchAll(/^Outgoing APDU \(\d+ bytes\):$/gm)].length);
  // Each Incoming title's byte count, independently: data + SW.
  const incoming = [...LOG.matchAll(/^Incoming APDU \((\d+) bytes\):$/gm)].map((m) => Number(m[1]));
  t.deepEqual(apdus.map((e) => e.response.length / 2 + 2), incoming);
  // What the test sent with opensc-tool -s (after OpenSC's own probing), as the log's dumps show it.
  t.deepEqual(
    apdus.slice(-5).map((e) => [e.command, e.sw]),
    [
      ["00CB3FFF055C035FC10200", "9000"],
      ["00CB3FFF035C017E00", "9000"],
      ["0020008008" + "FF".repeat(8), "9000"],
      ["00CB3FFF035C017E00", "9000"],
      ["00200080", "9000"],
    ],
  );
  t.is(masked, 1);
  t.is(apdus[apdus.length - 3].masked, "pin");
  t.false(JSON.stringify(trace).includes(PIN_HEX));
  t.is(trace.header.reader, "Virtual PCD 00 00");
  t.like(trace.entries[0], { type: "event", event: "power-on" });
  t.true(apdus.every((e) => e.atMs !== undefined && e.micros !== undefined));
  // A 17-byte command spans two dump lines (16 + 1): the ASCII column is not read as hex.
  t.is(apdus[2].command, "00A404000BE82B0601040181C31F020100");
});

test("OpenSC: the older dump title (0.15..0.19) is read too; a short dump is refused naming its line", (t) => {
  const old = [
    "Outgoing APDU data [    5 bytes] =====================================",
    "00 CA 01 00 00 .....",
    "======================================================================",
    "Incoming APDU data [    4 bytes] =====================================",
    "AB CD 90 00 ....",
    "======================================================================",
  ].join("\n");
  t.true(looksLikeOpensc(old));
  const { trace } = importOpensc(old, "old.log");
  t.like(trace.entries[0], { type: "apdu", command: "00CA010000", response: "ABCD", sw: "9000", line: 1 });
  t.throws(() => importOpensc("Outgoing APDU (5 bytes):\n00 CA\n\nIncoming APDU (2 bytes):\n90 00\n", "s.log"), {
    instanceOf: FormatError,
    message: /s\.log:3: dump ends after 2 of 5 bytes/,
  });
});

test("OpenSC detection: the fixture yes, the other fixtures no", (t) => {
  t.true(looksLikeOpensc(LOG));
  for (const other of ["pcscd.log", "pcsc-spy.log", "scriptor.out", "cardloop-apdu.out"]) t.false(looksLikeOpensc(fixture(other)), other);
});

test("OpenSC: a log that crosses midnight keeps counting up, and the trace reads back", (t) => {
  const exchange = (time: string): string[] => [
    `P:1; T:0x1 ${time} [opensc-tool] reader-pcsc.c:326:pcsc_transmit:`,
    "Outgoing APDU (5 bytes):",
    "00 CA 01 00 00 .....",
    `P:1; T:0x1 ${time} [opensc-tool] reader-pcsc.c:335:pcsc_transmit:`,
    "Incoming APDU (2 bytes):",
    "90 00 ..",
  ];
  const { trace } = importOpensc([...exchange("23:59:59.990"), ...exchange("00:00:00.010")].join("\n"), "midnight.log");
  t.deepEqual(
    trace.entries.map((e) => e.atMs),
    [0, 20],
  );
  t.deepEqual(parseTrace(formatTrace(trace)).entries, trace.entries);
});

test("fuzz: the OpenSC importer throws nothing but FormatError on any text, with any times and byte counts; what it accepts reads back", (t) => {
  const two = (max: number) => fc.integer({ min: 0, max }).map((n) => String(n).padStart(2, "0"));
  const time = fc.tuple(two(99), two(99), two(99), fc.integer({ min: 0, max: 999 }).map((n) => String(n).padStart(3, "0"))).map(([h, m, s, ms]) => `${h}:${m}:${s}.${ms}`);
  const count = fc.oneof(fc.nat({ max: 20 }), fc.nat(), fc.bigInt({ min: 0n, max: 10n ** 25n }));
  const line = fc.oneof(
    fc.string(),
    fc.tuple(fc.constantFrom("Outgoing", "Incoming"), count).map(([dir, n]) => `${dir} APDU (${n} bytes):`),
    fc.tuple(time, fc.constantFrom("pcsc_transmit: reader 'r'", "pcsc_transmit:", "pcsc_connect: called", "pcsc_reset: called")).map(([at, what]) => `P:1; T:0x1 ${at} [x] reader-pcsc.c:1:${what}`),
    fc.stringMatching(/^([0-9A-F]{2} ){0,17}.{0,5}$/),
  );
  // Whole exchanges at random times too: stray lines alone seldom make one.
  const bytes = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, "0").toUpperCase()).join(" ");
  const exchange = fc.tuple(time, time, fc.uint8Array({ minLength: 4, maxLength: 20 }), fc.uint8Array({ minLength: 2, maxLength: 20 })).map(([t1, t2, cmd, resp]) => [
    `P:1; T:0x1 ${t1} [x] reader-pcsc.c:1:pcsc_transmit:`,
    `Outgoing APDU (${cmd.length} bytes):`,
    bytes(cmd.subarray(0, 16)),
    ...(cmd.length > 16 ? [bytes(cmd.subarray(16))] : []),
    `P:1; T:0x1 ${t2} [x] reader-pcsc.c:1:pcsc_transmit:`,
    `Incoming APDU (${resp.length} bytes):`,
    bytes(resp.subarray(0, 16)),
    ...(resp.length > 16 ? [bytes(resp.subarray(16))] : []),
  ]);
  const piece = fc.oneof(line.map((l) => [l]), exchange);
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 12 }), (pieces) => acceptsOnlyReadable(() => importOpensc(pieces.flat().join("\n"), "fuzz"))),
    { numRuns: 1000 },
  );
  t.true(importOpensc(LOG, "x").trace.entries.length > 0);
});
