import test from "ava";
import fc from "fast-check";
import {
  apduCase,
  decodeCommand,
  decodeResponse,
  encodeCommand,
  encodeResponse,
  isSecretDataIns,
  maskCommand,
  needsExtended,
  swHex,
  swMeaning,
  swOnly,
  tryDecodeCommand,
  type CommandApdu,
} from "./apdu.js";
import { FormatError } from "./errors.js";
import { concatBytes, fromHex, toHex } from "./hex.js";

const byte = fc.integer({ min: 0, max: 255 });

/** Commands of every case, with short and extended lengths (data up to a few KB, Le up to 65536). */
const commandArb: fc.Arbitrary<CommandApdu> = fc
  .record({
    cla: byte,
    ins: byte,
    p1: byte,
    p2: byte,
    data: fc.oneof(
      { weight: 3, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 300 }) },
      { weight: 1, arbitrary: fc.uint8Array({ minLength: 250, maxLength: 4000 }) },
    ),
    le: fc.option(fc.oneof(fc.integer({ min: 1, max: 256 }), fc.integer({ min: 1, max: 65536 })), { nil: undefined }),
    extended: fc.boolean(),
  })
  .map((c) => (c.le === undefined ? { ...c, le: undefined } : c));

test("APDU encode/decode round trip over all cases, short and extended", (t) => {
  const seen = new Set<string>();
  fc.assert(
    fc.property(commandArb, (cmd) => {
      const bytes = encodeCommand(cmd);
      const back = decodeCommand(bytes);
      const kase = apduCase(cmd);
      const ext = needsExtended(cmd) && kase !== 1;
      seen.add(`${kase}${ext ? "E" : "S"}`);
      return (
        back.cla === cmd.cla &&
        back.ins === cmd.ins &&
        back.p1 === cmd.p1 &&
        back.p2 === cmd.p2 &&
        toHex(back.data) === toHex(cmd.data) &&
        back.le === cmd.le &&
        (back.extended === true) === ext &&
        apduCase(back) === kase &&
        // and the encoding is canonical: re-encoding gives the same bytes
        toHex(encodeCommand(back)) === toHex(bytes)
      );
    }),
    { numRuns: 3000 },
  );
  // all four cases in both length forms (case 1 has no length) were exercised
  t.deepEqual([...seen].sort(), ["1S", "2E", "2S", "3E", "3S", "4E", "4S"]);
});

test("APDU encodings match ISO 7816-4 examples", (t) => {
  const empty = new Uint8Array(0);
  t.is(toHex(encodeCommand({ cla: 0, ins: 0xa4, p1: 4, p2: 0, data: empty })), "00a40400");
  t.is(toHex(encodeCommand({ cla: 0, ins: 0xc0, p1: 0, p2: 0, data: empty, le: 256 })), "00c0000000");
  t.is(toHex(encodeCommand({ cla: 0, ins: 0xcb, p1: 0x3f, p2: 0xff, data: fromHex("5c017e"), le: 256 })), "00cb3fff035c017e00");
  t.is(toHex(encodeCommand({ cla: 0, ins: 0xb0, p1: 0, p2: 0, data: empty, le: 65536 })), "00b00000000000");
  t.is(toHex(encodeCommand({ cla: 0, ins: 0xb0, p1: 0, p2: 0, data: empty, le: 257 })), "00b00000000101");
  t.is(
    toHex(encodeCommand({ cla: 0, ins: 0xdb, p1: 0, p2: 0, data: fromHex("0102"), le: 300, extended: true })),
    "00db0000000002010201" + "2c",
  );
  // a forced-extended case 1 has no length field to extend
  t.is(toHex(encodeCommand({ cla: 0, ins: 0x20, p1: 0, p2: 0x80, data: empty, extended: true })), "00200080");
});

test("APDU encoder rejects out-of-range fields", (t) => {
  const empty = new Uint8Array(0);
  t.throws(() => encodeCommand({ cla: 256, ins: 0, p1: 0, p2: 0, data: empty }), { instanceOf: RangeError });
  t.throws(() => encodeCommand({ cla: 0, ins: 0, p1: 0, p2: 0, data: empty, le: 0 }), { instanceOf: RangeError });
  t.throws(() => encodeCommand({ cla: 0, ins: 0, p1: 0, p2: 0, data: empty, le: 65537 }), { instanceOf: RangeError });
  t.throws(() => encodeCommand({ cla: 0, ins: 0, p1: 0, p2: 0, data: new Uint8Array(65536) }), { instanceOf: RangeError });
});

test("APDU decoder: malformed lengths are FormatErrors, never other exceptions", (t) => {
  for (const hex of ["", "00", "00a404", "00a40400020a", "00a4040000", "00a404000000", "00a40400000002aa", "00a4040000000001aabbcc"]) {
    const bytes = fromHex(hex);
    if (hex === "00a4040000") {
      t.is(decodeCommand(bytes).le, 256); // 5 bytes: case 2 short, Le=00 means 256
      continue;
    }
    t.throws(() => decodeCommand(bytes), { instanceOf: FormatError }, hex);
  }
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
      try {
        decodeCommand(b);
      } catch (err) {
        return err instanceof FormatError;
      }
      return true;
    }),
    { numRuns: 5000 },
  );
});

test("tryDecodeCommand answers undefined exactly where decodeCommand throws, and the same command otherwise", (t) => {
  for (const short of ["", "00", "00a404"]) t.is(tryDecodeCommand(fromHex(short)), undefined, `${short.length / 2} bytes: no header`);
  t.is(tryDecodeCommand(fromHex("00a40400020a")), undefined);
  t.is(tryDecodeCommand(fromHex("00a4040000000001aabbcc")), undefined);
  t.is(tryDecodeCommand(fromHex("00a4040000"))?.le, 256);
  t.throws(() => decodeCommand(fromHex("00a40400020a")), { instanceOf: FormatError, message: "apdu: Lc=2 does not match the 1 bytes after the header" });
  t.throws(() => decodeCommand(fromHex("00a40400000002aa")), { instanceOf: FormatError, message: "apdu: extended Lc=2 does not match the 1 bytes after it" });
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 600 }), commandArb.map(encodeCommand)), (b) => {
      const quiet = tryDecodeCommand(b);
      let loud: CommandApdu | undefined;
      try {
        loud = decodeCommand(b);
      } catch (err) {
        return quiet === undefined && err instanceof FormatError;
      }
      return (
        quiet !== undefined &&
        quiet.cla === loud.cla &&
        quiet.ins === loud.ins &&
        quiet.p1 === loud.p1 &&
        quiet.p2 === loud.p2 &&
        toHex(quiet.data) === toHex(loud.data) &&
        quiet.le === loud.le &&
        quiet.extended === loud.extended
      );
    }),
    { numRuns: 3000 },
  );
});

test("response encode/decode and SW helpers", (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 0xffff }), (data, sw) => {
      const back = decodeResponse(encodeResponse({ data, sw }));
      return back.sw === sw && toHex(back.data) === toHex(data);
    }),
  );
  t.throws(() => decodeResponse(Uint8Array.of(0x90)), { instanceOf: FormatError });
  t.is(toHex(swOnly(0x6a82)), "6a82");
  t.is(swHex(0x63c2), "63C2");
  t.is(swHex(0x0100), "0100");
});

test("maskCommand hides PIN, PUK and key data but keeps structure", (t) => {
  const verify = fromHex("002000800831323334353637ff");
  t.is(toHex(maskCommand(verify)), "0020008008ffffffffffffffff");
  t.is(toHex(verify), "002000800831323334353637ff", "the original is untouched");
  const change = fromHex("0024008010" + "3132333435363738".repeat(2));
  t.is(toHex(maskCommand(change)), "0024008010" + "ff".repeat(16));
  const reset = fromHex("002c008010" + "31".repeat(16));
  t.is(toHex(maskCommand(reset)), "002c008010" + "ff".repeat(16));
  const extended = fromHex("00fffffe00000b039b08" + "0102030405060708" + "0000");
  t.is(toHex(maskCommand(extended)), "00fffffe00000b" + "ff".repeat(11) + "0000");
  const getData = fromHex("00cb3fff055c035fc10200");
  t.is(toHex(maskCommand(getData)), toHex(getData));
  t.is(toHex(maskCommand(fromHex("00200080"))), "00200080", "empty VERIFY has nothing to hide");
  // Lengths that do not add up still hide everything after the header: a mistyped Lc must not leak PIN digits.
  t.is(toHex(maskCommand(fromHex("002000800431323334353637ff"))), "0020008004" + "ff".repeat(8));
  t.is(toHex(maskCommand(fromHex("002000800031"))), "0020008000ff");
  t.is(toHex(maskCommand(fromHex("0020008008313233343536ffff00"))), "0020008008" + "ff".repeat(8) + "00", "case 4: Le stays");
  // Property: for a secret-bearing INS no byte after the header survives unless it is a length field or Le.
  fc.assert(
    fc.property(fc.constantFrom(0x20, 0x24, 0x2c, 0xfe, 0xff), fc.uint8Array({ minLength: 1, maxLength: 300 }), (ins, body) => {
      const cmd = concatBytes(Uint8Array.of(0, ins, 0, 0x80), body);
      const masked = maskCommand(cmd);
      let data: Uint8Array = new Uint8Array(0);
      try {
        data = decodeCommand(cmd).data;
      } catch {
        return masked.subarray(5).every((b) => b === 0xff);
      }
      const start = data.byteOffset - cmd.byteOffset;
      return masked.subarray(start, start + data.length).every((b) => b === 0xff);
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (b) => maskCommand(b).length === b.length),
  );
});

test("swMeaning: the table, then the 61xx, 6Cxx and 63Cx ranges, then the classes of SW1", (t) => {
  const cases: Array<[number, string]> = [
    [0x9000, "success"],
    [0x6a82, "data object or application not found"],
    [0x6983, "authentication method blocked"],
    [0x6110, "success, 16 more bytes to GET RESPONSE"],
    [0x6100, "success, 256 more bytes to GET RESPONSE"],
    [0x6c08, "wrong Le: 8 bytes available"],
    [0x63c0, "verification failed, 0 tries left"],
    [0x63c2, "verification failed, 2 tries left"],
    [0x6300, "verification failed"],
    [0x6284, "warning"],
    [0x6400, "execution error"],
    [0x6a89, "unknown status"],
  ];
  for (const [sw, meaning] of cases) t.is(swMeaning(sw), meaning, sw.toString(16));
});

test("isSecretDataIns names exactly the instructions maskCommand masks", (t) => {
  t.deepEqual(
    Array.from({ length: 256 }, (_, ins) => ins).filter(isSecretDataIns),
    [0x20, 0x24, 0x2c, 0xfe, 0xff],
  );
  const masked = Array.from({ length: 256 }, (_, ins) => ins).filter((ins) => {
    const cmd = Uint8Array.of(0, ins, 0, 0, 2, 0x31, 0x32);
    return toHex(maskCommand(cmd)) !== toHex(cmd);
  });
  t.deepEqual(masked, [0x20, 0x24, 0x2c, 0xfe, 0xff]);
});
