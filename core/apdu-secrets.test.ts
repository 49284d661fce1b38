import test from "ava";
import fc from "fast-check";
import { ExchangeMasker, maskExchange, secretKindOf } from "./apdu-secrets.js";
import { fromHex, toHex } from "./hex.js";

const hex = (b: Uint8Array): string => toHex(b).toUpperCase();

test("VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER: data FF, header and length kept, kind named", (t) => {
  const verify = maskExchange(fromHex("0020008008313233343536FFFF"), fromHex("9000"));
  t.is(hex(verify.command), "0020008008FFFFFFFFFFFFFFFF");
  t.is(verify.masked, "pin");
  const change = maskExchange(fromHex("002400811031323334353637383132333435363738"), fromHex("9000"));
  t.is(hex(change.command), "0024008110" + "FF".repeat(16));
  t.is(change.masked, "puk");
  const reset = maskExchange(fromHex("002C008010" + "31".repeat(16)), fromHex("63C2"));
  t.is(hex(reset.command), "002C008010" + "FF".repeat(16));
  t.is(reset.masked, "puk");
  t.is(hex(reset.response), "63C2", "the status word of a secret exchange is no secret");
});

test("a VERIFY without data (PIN status) masks nothing and is not counted", (t) => {
  const m = maskExchange(fromHex("00200080"), fromHex("63C3"));
  t.is(hex(m.command), "00200080");
  t.is(m.masked, undefined);
});

test("YubiKey SET MANAGEMENT KEY and IMPORT ASYMMETRIC KEY: the key bytes are masked", (t) => {
  const set = maskExchange(fromHex("00FFFFFF1B039B18" + "0102030405060708".repeat(3)), fromHex("9000"));
  t.is(hex(set.command), "00FFFFFF1B" + "FF".repeat(27));
  t.is(set.masked, "management-key");
  const imp = maskExchange(fromHex("10FE119A0A0603AABBCC0703DDEEFF"), fromHex("9000"));
  t.is(hex(imp.command), "10FE119A0A" + "FF".repeat(10));
  t.is(imp.masked, "private-key");
});

test("GENERAL AUTHENTICATE 9B: witness, challenge and response masked both ways, TLV structure kept", (t) => {
  const step1 = maskExchange(fromHex("0087039B047C028000"), fromHex("7C0A80081122334455667788" + "9000"));
  t.is(hex(step1.command), "0087039B047C028000", "an empty witness request has nothing to hide");
  t.is(hex(step1.response), "7C0A8008" + "FF".repeat(8) + "9000");
  t.is(step1.masked, "management-key");
  const step2 = maskExchange(
    fromHex("0087039B147C1280081122334455667788" + "8106A1A2A3A4A5A6"),
    fromHex("7C0A8208CAFEBABEDEADBEEF"),
  );
  t.is(hex(step2.command), "0087039B147C128008" + "FF".repeat(8) + "8106" + "FF".repeat(6));
  t.is(hex(step2.response), "7C0A8208" + "FF".repeat(8));
});

test("GENERAL AUTHENTICATE with a signing key (9C) is not masked: the digest and signature are no secret", (t) => {
  const cmd = fromHex("0087119C0A7C0882008106AABBCCDDEEFF");
  const m = maskExchange(cmd, fromHex("7C04820201029000"));
  t.is(m.command, cmd);
  t.is(m.masked, undefined);
  t.is(secretKindOf(cmd), undefined);
});

test("a management-key template that does not decode is hidden whole", (t) => {
  const m = maskExchange(fromHex("1087039B047C0A8008"), fromHex("9000"));
  t.is(hex(m.command), "1087039B04FFFFFFFF");
  t.is(m.masked, "management-key");
});

test("ExchangeMasker hides a management-key answer split by 61xx in the GET RESPONSE that follows", (t) => {
  const m = new ExchangeMasker();
  const first = m.mask(fromHex("0087039B047C028000"), fromHex("7C0A80086108"));
  t.is(hex(first.response), "FFFFFFFF6108", "the partial template does not decode: hidden whole, SW kept");
  const cont = m.mask(fromHex("00C0000008"), fromHex("11223344556677889000"));
  t.is(hex(cont.response), "FF".repeat(8) + "9000");
  t.is(cont.masked, "management-key");
  const next = m.mask(fromHex("00C0000008"), fromHex("AABB9000"));
  t.is(hex(next.response), "AABB9000", "after the secret answer ended, GET RESPONSE is ordinary again");
  t.is(m.masked, 2);
});

test("ExchangeMasker keeps a continuation pending per reader: another reader's exchange in between does not end it", (t) => {
  const m = new ExchangeMasker();
  m.mask(fromHex("0087039B047C028000"), fromHex("7C0A80086108"), "A");
  const other = m.mask(fromHex("00CB3FFF055C035FC10200"), fromHex("53009000"), "B");
  t.is(other.masked, undefined);
  const cont = m.mask(fromHex("00C0000008"), fromHex("11223344556677889000"), "A");
  t.is(hex(cont.response), "FF".repeat(8) + "9000");
  t.is(cont.masked, "management-key");
  // A GET RESPONSE on B is not A's continuation, and an event on B leaves A's pending.
  m.mask(fromHex("0087039B047C028000"), fromHex("7C0A80086108"), "A");
  m.reset("B");
  t.is(hex(m.mask(fromHex("00C0000002"), fromHex("AABB9000"), "B").response), "AABB9000");
  t.is(hex(m.mask(fromHex("00C0000002"), fromHex("AABB9000"), "A").response), "FFFF9000");
  m.mask(fromHex("0087039B047C028000"), fromHex("7C0A80086108"), "A");
  m.reset("A");
  t.is(hex(m.mask(fromHex("00C0000002"), fromHex("AABB9000"), "A").response), "AABB9000", "a reset on A ends A's continuation");
});

test("property: with interleaved readers, no continuation of a management-key answer survives unmasked", (t) => {
  const readers = ["A", "B", "C"];
  // Steps: a 9B authentication answered 61xx, a GET RESPONSE (61xx or 9000), or another exchange, on some reader.
  const step = fc.record({
    reader: fc.constantFrom(...readers),
    kind: fc.constantFrom("auth", "get-response", "other"),
    more: fc.boolean(),
    data: fc.uint8Array({ minLength: 1, maxLength: 16 }),
  });
  fc.assert(
    fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
      const m = new ExchangeMasker();
      // Model: per reader, whether a secret answer is still owed.
      const owed = new Map<string, boolean>();
      for (const s of steps) {
        const sw = s.more ? [0x61, s.data.length] : [0x90, 0x00];
        if (s.kind === "auth") {
          m.mask(fromHex("0087039B047C028000"), Uint8Array.from([...s.data, ...sw]), s.reader);
          owed.set(s.reader, s.more);
        } else if (s.kind === "get-response") {
          const out = m.mask(fromHex("00C0000000"), Uint8Array.from([...s.data, ...sw]), s.reader);
          if (owed.get(s.reader) === true) {
            if (!out.response.subarray(0, s.data.length).every((b) => b === 0xff) || out.masked !== "management-key") return false;
            owed.set(s.reader, s.more);
          }
        } else {
          m.mask(fromHex("00CB3FFF055C035FC10200"), Uint8Array.from([...s.data, ...sw]), s.reader);
          owed.set(s.reader, false);
        }
      }
      return true;
    }),
    { numRuns: 500 },
  );
  t.is(new ExchangeMasker().mask(fromHex("00C0000002"), fromHex("AABB9000"), "A").masked, undefined);
});

const SECRET_INS = [0x20, 0x24, 0x2c, 0xfe, 0xff];

test("property: a masked secret command never holds the PIN bytes, and every length is kept", (t) => {
  fc.assert(
    fc.property(
      fc.constantFrom(...SECRET_INS),
      fc.constantFrom(0x80, 0x81, 0x00, 0x9b),
      fc.uint8Array({ minLength: 4, maxLength: 8 }).map((b) => b.map((x) => 0x30 + (x % 10))),
      fc.uint8Array({ maxLength: 8 }),
      (ins, p2, pin, extra) => {
        const data = Uint8Array.from([...pin, ...extra]);
        const cmd = Uint8Array.from([0x00, ins, 0x00, p2, data.length, ...data]);
        const m = maskExchange(cmd, fromHex("9000"));
        const out = hex(m.command);
        return m.command.length === cmd.length && !out.slice(10).includes(hex(pin)) && m.masked !== undefined;
      },
    ),
    { numRuns: 500 },
  );
  t.is(maskExchange(fromHex("00200080083132333435363738"), fromHex("9000")).command.length, 13);
});

test("property: maskExchange never throws, never changes a length, and never touches a non-secret instruction", (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }), (cmd, resp) => {
      const m = maskExchange(cmd, resp);
      if (m.command.length !== cmd.length || m.response.length !== resp.length) return false;
      if (secretKindOf(cmd) === undefined) return m.command === cmd && m.response === resp && m.masked === undefined;
      return true;
    }),
    { numRuns: 1000 },
  );
  t.is(secretKindOf(fromHex("00A40400")), undefined);
});
