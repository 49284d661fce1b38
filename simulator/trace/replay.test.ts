import test from "ava";
import fc from "fast-check";
import { UsageError, toHex } from "../../core/index.js";
import { MemoryReader } from "../reader/index.js";
import { ManagementAuthHost } from "./management-auth.js";
import { replayTrace, type ReplayedExchange } from "./replay.js";
import {
  RecordingReader,
  SELECT_PIV,
  TEST_PIN,
  apdu,
  authenticate,
  authenticateVia,
  certificateFor,
  copyCard,
  generateKey,
  getData,
  hostSession,
  issuedCard,
  putCertificate,
  putCertificateVia,
  send,
  whole,
} from "./testing.js";
import type { Trace, TraceApdu } from "./types.js";

/** A session recorded from a freshly issued card, and the card (as it was after the session). */
async function recorded(): Promise<{ trace: Trace; card: ReturnType<typeof issuedCard>["card"]; spki: Uint8Array }> {
  const { card, spki } = issuedCard();
  const rec = new RecordingReader(new MemoryReader(card));
  await hostSession(rec);
  return { trace: rec.trace(), card, spki };
}

async function replayOn(trace: Trace, card: ReturnType<typeof issuedCard>["card"], opts: Parameters<typeof replayTrace>[2] = {}) {
  const seen: ReplayedExchange[] = [];
  const report = await replayTrace(trace, new MemoryReader(card), { pin: TEST_PIN, ...opts, onExchange: (r) => seen.push(r) });
  return { report, seen };
}

test("the recorded trace masks the PIN and the management-key proofs, and keeps every exchange", async (t) => {
  const { trace } = await recorded();
  const text = JSON.stringify(trace);
  t.false(text.includes(toHex(new TextEncoder().encode(TEST_PIN)).toUpperCase()), "no PIN bytes in the trace");
  const apdus = trace.entries.filter((e): e is TraceApdu => e.type === "apdu");
  t.true(apdus.some((e) => e.command.startsWith("00200080") && e.masked === "pin"));
  t.true(apdus.some((e) => e.command.startsWith("0087039B") && e.masked === "management-key"));
  t.true(apdus.some((e) => e.sw.startsWith("61")), "the certificate read took GET RESPONSEs");
});

test("replay against the same card: no divergence; the signature verified with the certificate the trace read", async (t) => {
  const { trace, card } = await recorded();
  const { report, seen } = await replayOn(trace, card);
  t.is(report.outcome, "same", JSON.stringify(report.divergences));
  t.is(report.diverged, 0);
  t.is(report.replayed, report.steps);
  const sign = seen.find((r) => r.command.startsWith("0087119A"))!;
  t.is(sign.verdict, "equivalent");
  t.regex(sign.reason!, /verifies with the certificate the trace read for key 9A/);
  const mgm = seen.filter((r) => r.command.startsWith("0087039B"));
  t.is(mgm.length, 2);
  t.true(mgm.every((r) => r.verdict === "equivalent" && r.replayed.sw === "9000"), "the management-key authentication was worked out again");
  t.true(seen.some((r) => r.kind === "event" && r.event === "reset" && r.verdict === "same"), "the reset was replayed, ATR as recorded");
  t.false(JSON.stringify(seen).includes(toHex(new TextEncoder().encode(TEST_PIN)).toUpperCase()), "the PIN given never reaches a report");
});

test("a card with a different certificate diverges at that GET DATA, decoded as the certificate", async (t) => {
  const { trace, card, spki } = await recorded();
  const other = copyCard(card);
  other.powerOn();
  send(other, SELECT_PIV);
  authenticate(other);
  putCertificate(other, 0x5fc105, certificateFor(spki, "Someone Else", 2));
  other.powerOff();
  const { report } = await replayOn(trace, other);
  t.is(report.outcome, "diverged");
  t.is(report.divergences.length, 1);
  const d = report.divergences[0];
  t.regex(d.description, /^GET DATA .*5FC105 X\.509 Certificate for PIV Authentication/);
  t.deepEqual(d.difference!.path, ["53", "70"]);
  t.regex(d.difference!.text, /^53\/70 certificate differs at byte \d+ of \d+/);
  t.true(report.replayed < report.steps, "stopped at the first divergence");
});

test("--keep-going goes past a divergence; a wrong PIN diverges at VERIFY with 63Cx decoded", async (t) => {
  const { trace, card } = await recorded();
  const { report } = await replayOn(trace, card, { pin: "11112222", keepGoing: true });
  t.is(report.replayed, report.steps);
  const verify = report.divergences.find((d) => d.command.startsWith("00200080") && d.command.length > 10)!;
  t.truthy(verify, JSON.stringify(report.divergences.map((d) => d.description)));
  t.regex(verify.description, /^VERIFY .*PIV PIN/);
  t.regex(verify.replayedSw, /^63C2 \(verification failed, 2 tries left\)$/);
  t.is(verify.reason, "the status word differs");
  t.true(report.divergences.some((d) => d.command.startsWith("0087119A") && d.replayed.sw === "6982"), "the signature then needs the PIN");
});

test("a card that now signs with another key: the signature does not verify with the certificate the trace read", async (t) => {
  const { trace, card } = await recorded();
  const other = copyCard(card);
  other.powerOn();
  send(other, SELECT_PIV);
  authenticate(other);
  generateKey(other, 0x9a); // a new key; the old certificate stays
  other.powerOff();
  const { report } = await replayOn(trace, other);
  t.is(report.divergences.length, 1);
  const d = report.divergences[0];
  t.regex(d.description, /^GENERAL AUTHENTICATE .*key 9A/);
  t.is(d.reason, "signature does not verify with the certificate the trace read for key 9A");
});

test("a masked PIN without one given: unusable input before anything is sent", async (t) => {
  const { trace, card } = await recorded();
  const reader = new MemoryReader(card);
  let sent = 0;
  const counting = Object.assign(Object.create(reader), { transmit: (c: Uint8Array) => (sent++, reader.transmit(c)) });
  const err = await t.throwsAsync(replayTrace(trace, counting, {}), { instanceOf: UsageError });
  t.regex(err!.message, /^the trace masked a PIN \(line \d+\): give --pin$/);
  t.is(sent, 0);
});

test("a wrong management key: the card's answer to our challenge is refused, a divergence at the authentication", async (t) => {
  const { trace, card } = await recorded();
  const { report } = await replayOn(trace, card, { managementKey: new Uint8Array(24).fill(7), keepGoing: true });
  const mgm = report.divergences.find((d) => d.command.startsWith("0087039B"));
  t.truthy(mgm);
  t.is(mgm!.replayed.sw, "6982", "the card refused the witness decrypted with the wrong key");
});

test("a chained command is sent in its parts and its whole answer gathered (PUT DATA chain, 61xx reads)", async (t) => {
  const { card, spki } = issuedCard();
  const before = copyCard(card);
  const rec = new RecordingReader(new MemoryReader(card));
  await rec.connect();
  await whole(rec, SELECT_PIV);
  await authenticateVia(rec);
  await putCertificateVia(rec, 0x5fc10a, certificateFor(spki, "Chained", 3));
  await whole(rec, getData(0x5fc10a));
  const trace = rec.trace();
  t.true(trace.entries.filter((e) => e.type === "apdu" && e.command.startsWith("10DB")).length >= 1, "the PUT DATA went as a chain");
  const { report, seen } = await replayOn(trace, before);
  t.is(report.outcome, "same", JSON.stringify(report.divergences));
  const put = seen.find((r) => r.command.startsWith("00DB"))!;
  t.regex(put.description, /^PUT DATA .*5FC10A X\.509 Certificate for Digital Signature/);
  t.is(put.replayed.sw, "9000");
  const read = seen.find((r) => r.command.startsWith("00CB3FFF055C035FC10A"))!;
  t.is(read.verdict, "same", "the certificate written by the chain reads back as recorded");
});

test("the card's own 61xx is followed, not the recorded Le: a longer object is still read whole", async (t) => {
  const { card, spki } = issuedCard();
  const rec = new RecordingReader(new MemoryReader(copyCard(card)));
  await rec.connect();
  await whole(rec, SELECT_PIV);
  await whole(rec, getData(0x5fc105));
  // the card now holds a longer certificate (a longer subject) for 9A
  const other = copyCard(card);
  other.powerOn();
  send(other, SELECT_PIV);
  authenticate(other);
  putCertificate(other, 0x5fc105, certificateFor(spki, "A much longer common name for the holder of this card", 4));
  other.powerOff();
  const { seen } = await replayOn(rec.trace(), other);
  const read = seen.find((r) => r.command.startsWith("00CB"))!;
  t.is(read.verdict, "diverged");
  t.is(read.replayed.sw, "9000");
  t.true(read.replayed.response.length > read.recorded.response.length, "the whole, longer object was read");
  t.regex(read.difference!.text, /^53\/70 certificate differs/);
});

test("a host that left a 61xx unanswered (a probe of the first bytes) is followed no further than it went", async (t) => {
  const { card } = issuedCard();
  const rec = new RecordingReader(new MemoryReader(copyCard(card)));
  await rec.connect();
  await whole(rec, SELECT_PIV);
  const probe = await rec.transmit(apdu(0, 0xcb, 0x3f, 0xff, Uint8Array.of(0x5c, 1, 0x7e), 8));
  t.is(probe[probe.length - 2], 0x61, "the card had more to say");
  await whole(rec, getData(0x5fc102));
  const { report, seen } = await replayOn(rec.trace(), card);
  t.is(report.outcome, "same", JSON.stringify(report.divergences));
  const replayedProbe = seen.find((r) => r.command.startsWith("00CB3FFF035C017E"))!;
  t.is(replayedProbe.replayed.sw, replayedProbe.recorded.sw);
  t.is(replayedProbe.replayed.response.length, 16, "8 bytes, as the host read them");
});

test("a management key of the wrong length for the trace's algorithm: unusable input before anything is sent", async (t) => {
  const { trace, card } = await recorded();
  const err = await t.throwsAsync(replayTrace(trace, new MemoryReader(card), { pin: TEST_PIN, managementKey: new Uint8Array(16) }), { instanceOf: UsageError });
  t.regex(err!.message, /management key by algorithm 03 .*--management-key has 16 bytes/);
});

test("fuzz: the management-key host side never throws on any command or answer, and what it sends is still a 9B GENERAL AUTHENTICATE", (t) => {
  const template = fc.uint8Array({ maxLength: 40 }).map((v) => Uint8Array.from([0x7c, v.length, ...v]));
  const commandOf = (alg: number, data: Uint8Array) => Uint8Array.from([0, 0x87, alg, 0x9b, data.length, ...data, 0]);
  t.notThrows(() =>
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(0x03, 0x00, 0x11), fc.oneof(template, fc.uint8Array({ minLength: 1, maxLength: 40 })), fc.oneof(template, fc.uint8Array({ maxLength: 40 })), fc.integer({ min: 0, max: 0xffff })), { maxLength: 6 }),
        (steps) => {
          const host = new ManagementAuthHost(new Uint8Array(24).fill(3));
          for (const [alg, data, answer, sw] of steps) {
            const sent = host.rewrite(commandOf(alg, data));
            if (sent.length < 4 || sent[1] !== 0x87 || sent[3] !== 0x9b) return false;
            host.observe(sent, answer, sw);
          }
          return true;
        },
      ),
      { numRuns: 1500 },
    ),
  );
});

test("reader events: an insert's ATR is compared with the card's; a reset is sent to the reader", async (t) => {
  const { card } = issuedCard();
  const atr = toHex(card.powerOn()).toUpperCase();
  card.powerOff();
  const trace = (insertAtr: string): Trace => ({
    header: { cardloopTrace: 1, format: "cardloop", masked: 0 },
    entries: [
      { type: "event", seq: 0, event: "insert", atr: insertAtr },
      { type: "apdu", seq: 1, command: "00A404000BA00000030800001000010000", response: "", sw: "6A82" },
      { type: "event", seq: 2, event: "reset", atr },
    ],
  });
  const { report, seen } = await replayOn(trace(atr), card, { keepGoing: true });
  t.deepEqual(seen.map((r) => [r.kind, r.verdict]), [["event", "same"], ["apdu", "diverged"], ["event", "same"]]);
  t.is(report.diverged, 1, "only the made-up SELECT answer differs");
  const other = await replayOn(trace("3B00"), card, { keepGoing: true });
  t.is(other.seen[0].verdict, "diverged");
  t.is(other.seen[0].reason, "the ATR differs");
});
