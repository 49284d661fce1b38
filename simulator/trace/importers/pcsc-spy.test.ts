import test from "ava";
import fc from "fast-check";
import { FormatError } from "../../../core/index.js";
import { importPcscSpy, looksLikePcscSpy } from "./pcsc-spy.js";
import { PIN_HEX, acceptsOnlyReadable, fixture } from "./fixtures.js";

const LOG = fixture("pcsc-spy.log");

test("pcsc-spy: every successful SCardTransmit imported in order, reader from SCardConnect, durations kept, PIN masked", (t) => {
  const { trace, masked } = importPcscSpy(LOG, "pcsc-spy.log");
  const apdus = trace.entries.flatMap((e) => (e.type === "apdu" ? [e] : []));
  t.is(apdus.length, [...LOG.matchAll(/^SCardTransmit$/gm)].length);
  // Independently: the lengths the spy printed in each SCardTransmit block (SCardControl has them too).
  const blocks = LOG.split(/^(?=SCar)/m).filter((b) => b.startsWith("SCardTransmit\n"));
  const sent = blocks.map((b) => Number(/^ i bSendLength 0x[0-9A-F]+ \((\d+)\)$/m.exec(b)?.[1]));
  const received = blocks.map((b) => Number(/^ o bRecvLength 0x[0-9A-F]+ \((\d+)\)$/m.exec(b)?.[1]));
  t.deepEqual(apdus.map((e) => e.command.length / 2), sent);
  t.deepEqual(apdus.map((e) => e.response.length / 2 + 2), received);
  t.deepEqual(
    apdus.slice(-5).map((e) => [e.command, e.sw]),
    [
      ["00A4040005A00000030800", "9000"],
      ["00CB3FFF035C017E00", "9000"],
      ["00CB3FFF055C035FC10200", "9000"],
      ["00CB3FFF035C017E00", "9000"],
      ["0020008008" + "FF".repeat(8), "9000"],
    ],
  );
  t.is(apdus[0].sw, "6A82");
  t.is(masked, 1);
  t.false(JSON.stringify(trace).includes(PIN_HEX));
  t.is(trace.header.reader, "Virtual PCD 00 00");
  t.true(apdus.every((e) => e.micros !== undefined && e.atMs === undefined), "durations, no time of day");
});

test("pcsc-spy: colour codes stripped, failed transmits left out, a reset kept", (t) => {
  const log = [
    "\x1b[32mSCardReconnect\x1b[0m",
    " i hCard: 0x1",
    " i dwInitialization: SCARD_RESET_CARD (0x00000001)",
    " => Command successful. (SCARD_S_SUCCESS [0x00000000])  [0.000100]",
    "SCardTransmit",
    " i hCard: 0x1",
    " i bSendLength 0x00000004 (4)",
    " i bSendBuffer",
    " i  0000 00 B0 00 00                                     ....",
    " => Card was removed. (SCARD_W_REMOVED_CARD [0x80100069])  [0.000100]",
    "SCardTransmit",
    " i hCard: 0x1",
    " i bSendLength 0x00000004 (4)",
    " i bSendBuffer",
    " i  0000 00 B0 00 01                                     ....",
    " o bRecvLength 0x00000003 (3)",
    " o bRecvBuffer",
    " o  0000 42 90 00                                        B..",
    " => Command successful. (SCARD_S_SUCCESS [0x00000000])  [0.002000]",
  ].join("\n");
  t.true(looksLikePcscSpy(log));
  const { trace } = importPcscSpy(log, "s.log");
  t.deepEqual(trace.entries.map((e) => (e.type === "apdu" ? `${e.command} ${e.response} ${e.sw} ${e.micros}` : e.event)), ["reset", "00B00001 42 9000 2000"]);
});

/** One SCardTransmit block as pcsc-spy prints it for a thread with this line prefix. */
function transmit(prefix: string, hCard: string, command: string, response: string, seconds: string): string[] {
  const dump = (dir: string, hex: string) => `${prefix} ${dir}  0000 ${hex.replace(/(..)/g, "$1 ")}`;
  return [
    `${prefix}SCardTransmit`,
    `${prefix} i hCard: ${hCard}`,
    `${prefix} i bSendLength 0x0000000${command.length / 2} (${command.length / 2})`,
    `${prefix} i bSendBuffer`,
    dump("i", command),
    `${prefix} o bRecvLength 0x0000000${response.length / 2} (${response.length / 2})`,
    `${prefix} o bRecvBuffer`,
    dump("o", response),
    `${prefix} => Command successful. (SCARD_S_SUCCESS [0x00000000])  [${seconds}]`,
  ];
}

test("pcsc-spy: two threads (indented, or -t's (tN) prefix) are read apart even when their lines interleave", (t) => {
  for (const [p0, p1] of [["", "    "], [" (t0) ", "     (t1) "]]) {
    const a = transmit(p0, "0x1", "00A40400", "9000", "0.000100");
    const b = transmit(p1, "0x2", "00B00000", "AB9000", "0.000200");
    // Thread 1's call starts after thread 0's, and their lines alternate from there.
    const lines = [a[0], a[1], b[0], a[2], b[1], a[3], b[2], a[4], b[3], a[5], b[4], a[6], b[5], a[7], b[6], a[8], b[7], b[8]];
    const text = lines.join("\n");
    t.true(looksLikePcscSpy(text), JSON.stringify(p0));
    const { trace } = importPcscSpy(text, "threads.log");
    t.deepEqual(trace.entries.map((e) => (e.type === "apdu" ? `${e.command} ${e.response} ${e.sw} ${e.line}` : "")), ["00A40400  9000 1", "00B00000 AB 9000 3"]);
  }
});

test("pcsc-spy detection: the fixture yes, the other fixtures no", (t) => {
  t.true(looksLikePcscSpy(LOG));
  for (const other of ["pcscd.log", "opensc-debug.log", "scriptor.out", "cardloop-apdu.out"]) t.false(looksLikePcscSpy(fixture(other)), other);
});

test("pcsc-spy: a length beyond any APDU is refused as a FormatError, before anything is allocated", (t) => {
  for (const n of ["99999999999", "70000", "900000000"]) {
    const log = transmit("", "0x1", "00A40400", "9000", "0.000100").map((l) => l.replace(/bSendLength 0x\w+ \(\d+\)/, `bSendLength 0x00000004 (${n})`));
    t.throws(() => importPcscSpy(log.join("\n"), "big.log"), { instanceOf: FormatError, message: new RegExp(`big\\.log:3: bSendLength ${n}: length out of range`) });
  }
});

test("pcsc-spy: a management-key answer split by 61xx is masked in its GET RESPONSE even when another thread's transmit comes between", (t) => {
  const connect = (prefix: string, reader: string, handle: string): string[] => [
    `${prefix}SCardConnect`,
    `${prefix} i szReader: ${reader}`,
    `${prefix} o phCard ${handle}`,
    `${prefix} => Command successful. (SCARD_S_SUCCESS [0x00000000])  [0.000100]`,
  ];
  const log = [
    ...connect("", "Reader A", "0x1"),
    ...connect("    ", "Reader B", "0x2"),
    ...transmit("", "0x1", "0087039B047C028000", "7C0A80086108", "0.000100"),
    ...transmit("    ", "0x2", "00CB3FFF055C035FC10200", "53009000", "0.000100"),
    ...transmit("", "0x1", "00C0000008", "11223344556677889000", "0.000100"),
  ].join("\n");
  const { trace } = importPcscSpy(log, "two.log");
  t.like(trace.entries[2], { type: "apdu", command: "00C0000008", response: "FF".repeat(8), masked: "management-key", reader: "Reader A" });
  t.false(JSON.stringify(trace).includes("1122334455667788"));
});

test("fuzz: the pcsc-spy importer throws nothing but FormatError on any text, with any lengths and durations; what it accepts reads back", (t) => {
  const length = fc.oneof(fc.nat({ max: 20 }), fc.nat(), fc.bigInt({ min: 0n, max: 10n ** 25n }));
  const whole = fc.oneof(fc.stringMatching(/^\d{1,8}$/), fc.integer({ min: 300, max: 400 }).map((n) => "9".repeat(n)));
  const seconds = fc.tuple(whole, fc.stringMatching(/^\d{1,8}$/)).map(([a, b]) => `${a}.${b}`);
  const line = fc.oneof(
    fc.string(),
    fc.constantFrom("SCardTransmit", "SCardConnect", "SCardReconnect", " i bSendBuffer", " o bRecvBuffer", " i hCard: 0x1", " i szReader: r", " o phCard 0x1"),
    fc.tuple(fc.constantFrom(" i bSendLength", " o bRecvLength"), length).map(([name, n]) => `${name} 0x${n.toString(16)} (${n})`),
    seconds.map((s) => ` => Command successful. (SCARD_S_SUCCESS [0x00000000])  [${s}]`),
    fc.stringMatching(/^ [io]  [0-9]{4} ([0-9A-F]{2} ){0,17}$/),
  );
  // Whole transmits with free lengths and durations: stray lines alone seldom make one.
  const hex = fc.uint8Array({ minLength: 2, maxLength: 12 }).map((b) => Buffer.from(b).toString("hex").toUpperCase());
  const transmits = fc.tuple(fc.constantFrom("", "    "), hex, hex, seconds).map(([prefix, c, r, s]) => transmit(prefix, "0x1", c, r, s));
  fc.assert(
    fc.property(fc.array(fc.oneof(line.map((l) => [l]), transmits), { maxLength: 12 }), (pieces) => acceptsOnlyReadable(() => importPcscSpy(pieces.flat().join("\n"), "fuzz"))),
    { numRuns: 1000 },
  );
  t.true(importPcscSpy(LOG, "x").trace.entries.length > 0);
});
