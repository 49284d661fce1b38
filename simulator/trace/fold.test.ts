import test from "ava";
import fc from "fast-check";
import { toHex } from "../../core/index.js";
import { foldExchanges } from "./fold.js";
import type { TraceApdu, TraceEntry } from "./types.js";

let seq = 0;
function x(command: string, response: string, sw: string, extra: Partial<TraceApdu> = {}): TraceApdu {
  return { type: "apdu", seq: seq++, command, response, sw, ...extra };
}
const hex = (b: Uint8Array): string => toHex(b).toUpperCase();

test("61xx and the GET RESPONSE answers after it make one exchange with the whole response", (t) => {
  const folded = foldExchanges([
    x("00CB3FFF055C035FC10200", "AABB", "6104", { line: 7 }),
    x("00C0000004", "CCDD", "6102"),
    x("00C0000002", "EEFF", "9000"),
    x("00A4040005A000000308", "", "9000"),
  ]);
  t.is(folded.length, 2);
  t.is(hex(folded[0].command), "00CB3FFF055C035FC10200");
  t.is(hex(folded[0].response), "AABBCCDDEEFF");
  t.is(folded[0].sw, 0x9000);
  t.is(folded[0].parts.length, 3);
  t.is(folded[0].line, 7);
  t.is(folded[1].parts.length, 1);
});

test("a chain (CLA 10) is one command: first header without the chaining bit, all the data, the last Le", (t) => {
  const folded = foldExchanges([
    x("10DB3FFF03AABBCC", "", "9000"),
    x("10DB3FFF02DDEE", "", "9000"),
    x("00DB3FFF01FF", "", "9000"),
  ]);
  t.is(folded.length, 1);
  t.is(hex(folded[0].command), "00DB3FFF06AABBCCDDEEFF");
  t.is(folded[0].parts.length, 3);
  t.is(folded[0].seq, folded[0].parts[0].seq);
});

test("6Cxx: the re-send with the right Le replaces the refused command; the refused one stays a part", (t) => {
  const folded = foldExchanges([
    x("00CA010000", "", "6C05"),
    x("00CA010005", "0102030405", "9000"),
    x("00CA010000", "", "6C02"),
    x("00B0000000", "", "6986"),
  ]);
  t.is(folded.length, 3);
  t.is(hex(folded[0].command), "00CA010005");
  t.is(hex(folded[0].response), "0102030405");
  t.is(folded[0].parts.length, 2);
  t.is(folded[1].sw, 0x6c02, "a 6Cxx not followed by its re-send stands alone");
  t.is(hex(folded[2].command), "00B0000000");
});

test("6Cxx then 61xx: re-send and continuation fold together", (t) => {
  const folded = foldExchanges([x("00CA010000", "", "6C03"), x("00CA010003", "01", "6102"), x("00C0000002", "0203", "9000")]);
  t.is(folded.length, 1);
  t.is(hex(folded[0].response), "010203");
  t.is(folded[0].parts.length, 3);
});

test("reader events are skipped and end an exchange still open; masked carries over", (t) => {
  const entries: TraceEntry[] = [
    x("00200080083132333435363738".replace(/3\d/g, "FF"), "", "9000", { masked: "pin" }),
    x("00CB3FFF00", "AA", "6102"),
    { type: "event", seq: seq++, event: "reset", atr: "3B00" },
    x("00C0000002", "BBCC", "9000"),
  ];
  const folded = foldExchanges(entries);
  t.is(folded.length, 3);
  t.is(folded[0].masked, "pin");
  t.is(folded[1].sw, 0x6102, "the reset abandoned the continuation");
  t.is(hex(folded[2].command), "00C0000002");
});

test("property: every transport exchange lands in exactly one logical exchange, in order", (t) => {
  const apdu = fc.record({
    cla: fc.constantFrom(0x00, 0x10),
    ins: fc.constantFrom(0xc0, 0xcb, 0xdb, 0xa4),
    lc: fc.integer({ min: 0, max: 3 }),
    sw: fc.constantFrom("9000", "6102", "6C02", "6A82", "6982"),
  });
  fc.assert(
    fc.property(fc.array(apdu, { maxLength: 30 }), (list) => {
      const entries = list.map((a, i): TraceApdu => ({
        type: "apdu",
        seq: i,
        command: toHex(Uint8Array.from([a.cla, a.ins, 0, 0, ...(a.lc > 0 ? [a.lc, ...new Array<number>(a.lc).fill(1)] : [])])).toUpperCase(),
        response: "",
        sw: a.sw,
      }));
      const folded = foldExchanges(entries);
      const seqs = folded.flatMap((e) => e.parts.map((p) => p.seq));
      // An error on a part ends the exchange: only 9000, 61xx (more to get) and 6Cxx (send again) lead on.
      const leadsOn = (sw: string): boolean => sw === "9000" || sw.startsWith("61") || sw.startsWith("6C");
      const errorsEnd = folded.every((e) => e.parts.slice(0, -1).every((p) => leadsOn(p.sw)));
      return errorsEnd && JSON.stringify(seqs) === JSON.stringify(entries.map((e) => e.seq));
    }),
    { numRuns: 500 },
  );
  t.is(foldExchanges([]).length, 0);
});

test("a chained IMPORT ASYMMETRIC KEY, masked part by part, folds into one masked command of the full length", (t) => {
  const folded = foldExchanges([
    x("10FE119A03" + "FF".repeat(3), "", "9000", { masked: "private-key" }),
    x("00FE119A02" + "FF".repeat(2), "", "9000", { masked: "private-key" }),
  ]);
  t.is(folded.length, 1);
  t.is(hex(folded[0].command), "00FE119A05" + "FF".repeat(5));
  t.is(folded[0].masked, "private-key");
});

test("a chain part the card refused ends the chain: the next chain folds alone, the data is not doubled", (t) => {
  const folded = foldExchanges([
    x("10DB3FFF03AABBCC", "", "6982"),
    x("10DB3FFF03AABBCC", "", "9000"),
    x("00DB3FFF02DDEE", "", "9000"),
  ]);
  t.is(folded.length, 2);
  t.is(folded[0].sw, 0x6982);
  t.is(folded[0].parts.length, 1);
  t.is(hex(folded[1].command), "00DB3FFF05AABBCCDDEE");
  t.is(folded[1].sw, 0x9000);
});

test("two readers interleaving 61xx and GET RESPONSE fold into two whole exchanges, in the trace's order", (t) => {
  const folded = foldExchanges([
    x("00CB3FFF055C035FC10200", "AABB", "6102", { reader: "A" }),
    x("00CB3FFF055C035FC10500", "1122", "6102", { reader: "B" }),
    x("00C0000002", "CCDD", "9000", { reader: "A" }),
    { type: "event", seq: seq++, event: "reset", reader: "C" },
    x("00C0000002", "3344", "9000", { reader: "B" }),
  ]);
  t.is(folded.length, 2);
  t.is(hex(folded[0].response), "AABBCCDD");
  t.deepEqual(folded[0].parts.map((p) => p.reader), ["A", "A"]);
  t.is(hex(folded[1].response), "11223344");
  t.deepEqual(folded[1].parts.map((p) => p.reader), ["B", "B"]);

  const unplaced = foldExchanges([x("00CB3FFF00", "AA", "6102", { reader: "A" }), { type: "event", seq: seq++, event: "reset" }, x("00C0000002", "BBCC", "9000", { reader: "A" })]);
  t.is(unplaced.length, 2, "an event on no named reader ends every open exchange");
});

test("property: with interleaved readers, each reader folds as if it were alone", (t) => {
  const apdu = fc.record({
    reader: fc.constantFrom("A", "B"),
    cla: fc.constantFrom(0x00, 0x10),
    ins: fc.constantFrom(0xc0, 0xcb, 0xdb),
    sw: fc.constantFrom("9000", "6102", "6C02", "6A82"),
  });
  fc.assert(
    fc.property(fc.array(apdu, { maxLength: 30 }), (list) => {
      const entries = list.map((a, i): TraceApdu => ({
        type: "apdu",
        seq: i,
        reader: a.reader,
        command: toHex(Uint8Array.from([a.cla, a.ins, 0, 0, 1, 1])).toUpperCase(),
        response: "",
        sw: a.sw,
      }));
      const together = foldExchanges(entries);
      for (const r of ["A", "B"]) {
        const mine = together.filter((e) => e.parts[0].reader === r).map((e) => e.parts.map((p) => p.seq));
        const alone = foldExchanges(entries.filter((e) => e.reader === r)).map((e) => e.parts.map((p) => p.seq));
        if (JSON.stringify(mine) !== JSON.stringify(alone)) return false;
        if (together.some((e) => e.parts.some((p) => p.reader !== e.parts[0].reader))) return false;
      }
      return true;
    }),
    { numRuns: 300 },
  );
  t.is(foldExchanges([x("00C0000002", "", "9000", { reader: "A" })]).length, 1);
});
