import test from "ava";
import fc from "fast-check";
import { FormatError, fromHex } from "../../core/index.js";
import { ATR } from "../../simulator/card/index.js";
import { parseAtr } from "./atr.js";

test("the emulated card's ATR parses: valid TCK, T=1 offered, the \"cardloop\" historical bytes", (t) => {
  const a = parseAtr(ATR);
  t.true(a.protocols.includes(1));
  t.is(Buffer.from(a.historical).toString("latin1"), "cardloop");
  t.is(a.historicalInfo.category, "proprietary");
  t.true(a.tckValid);
});

test("3B 88 80 01: TD1 names T=0 and announces TD2, which names T=1", (t) => {
  const body = [0x88, 0x80, 0x01, ...Buffer.from("cardloop")];
  const a = parseAtr(Uint8Array.from([0x3b, ...body, body.reduce((x, b) => x ^ b, 0)]));
  t.deepEqual(a.protocols, [0, 1]);
  t.true(a.tckValid);
});

test("a YubiKey 5 ATR parses: TA1, T=1 via TD1 and TD2, compact-TLV historical bytes", (t) => {
  const a = parseAtr(fromHex("3bfd1300008131fe158073c021c057597562694b657940"));
  t.is(a.convention, "direct");
  t.is(a.interfaces[0].ta, 0x13);
  t.is(a.fi, 1);
  t.is(a.di, 3);
  t.deepEqual(a.protocols, [1]);
  t.is(a.historical.length, 13);
  t.is(a.historicalInfo.category, "compact-tlv");
  t.true(a.historicalInfo.extendedLength);
  t.true(a.tckValid);
});

test("T=0 only ATR has no TCK", (t) => {
  const a = parseAtr(fromHex("3b020102"));
  t.deepEqual(a.protocols, [0]);
  t.is(a.tck, undefined);
  t.is(a.tckValid, undefined);
  t.deepEqual([...a.historical], [1, 2]);
});

test("card capabilities in the historical bytes announce extended length", (t) => {
  // category 80, tag 7 length 3: 00 00 C0 (chaining + extended)
  const hist = [0x80, 0x73, 0x00, 0x00, 0xc0];
  const body = [0x80 | hist.length, 0x80, 0x01, ...hist];
  const tck = body.reduce((x, b) => x ^ b, 0);
  const a = parseAtr(Uint8Array.from([0x3b, ...body, tck]));
  t.deepEqual(a.protocols, [0, 1]);
  t.true(a.historicalInfo.extendedLength);
  t.true(a.historicalInfo.commandChaining);
  t.true(a.tckValid);
});

test("malformed ATRs are FormatErrors", (t) => {
  t.throws(() => parseAtr(fromHex("3b")), { instanceOf: FormatError });
  t.throws(() => parseAtr(fromHex("3a00")), { instanceOf: FormatError, message: /TS/ });
  t.throws(() => parseAtr(fromHex("3b05010203")), { instanceOf: FormatError, message: /historical/ });
  t.throws(() => parseAtr(fromHex("3b808001")), { instanceOf: FormatError, message: /TCK/ });
  t.throws(() => parseAtr(fromHex("3b0001")), { instanceOf: FormatError, message: /unexpected/ });
});

test("a wrong TCK is reported, not thrown", (t) => {
  const a = parseAtr(fromHex("3b81800100ff"));
  t.false(a.tckValid);
});

/** Encodes a random well-formed ATR structure; parsing must give the structure back. */
test("property: parseAtr inverts a well-formed encoding", (t) => {
  t.notThrows(() => checkRoundTrip());
});

function checkRoundTrip(): void {
  const level = fc.record({
    ta: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
    tb: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
    tc: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
    proto: fc.integer({ min: 0, max: 14 }),
  });
  fc.assert(
    fc.property(
      fc.boolean(),
      fc.array(level, { minLength: 0, maxLength: 4 }),
      fc.uint8Array({ maxLength: 15 }),
      (inverse, levels, hist) => {
        // levels[i] carries TA/TB/TC of level i+1 and the protocol its TD announces (if a next level exists)
        const out: number[] = [];
        const ys: number[] = [];
        const bytes: number[][] = [];
        const n = levels.length;
        for (let i = 0; i <= n; i++) {
          const l = i < n ? levels[i] : { ta: undefined, tb: undefined, tc: undefined, proto: 0 };
          let y = 0;
          const b: number[] = [];
          if (l.ta !== undefined) (y |= 1), b.push(l.ta);
          if (l.tb !== undefined) (y |= 2), b.push(l.tb);
          if (l.tc !== undefined) (y |= 4), b.push(l.tc);
          ys.push(y);
          bytes.push(b);
        }
        // TDi (i < n+1) present when a further level exists: level i+1 announced by TD of level i
        const t0 = (ys[0] | (n > 0 ? 8 : 0)) << 4 | hist.length;
        out.push(inverse ? 0x3f : 0x3b, t0);
        const protos = new Set<number>();
        for (let i = 0; i <= n; i++) {
          out.push(...bytes[i]);
          if (i < n) {
            const nextY = ys[i + 1] | (i + 1 < n ? 8 : 0);
            const proto = levels[i].proto;
            protos.add(proto);
            out.push((nextY << 4) | proto);
          }
        }
        out.push(...hist);
        if (n === 0) protos.add(0);
        const needsTck = [...protos].some((p) => p !== 0);
        if (needsTck) out.push(out.slice(1).reduce((x, b) => x ^ b, 0));
        if (out.length > 33) return true; // beyond ISO's limit: not a case for this property
        const a = parseAtr(Uint8Array.from(out));
        return (
          a.convention === (inverse ? "inverse" : "direct") &&
          a.interfaces.length === n + 1 &&
          a.interfaces.every((ib, i) => ib.ta === (i < n ? levels[i].ta : undefined)) &&
          a.historical.length === hist.length &&
          a.protocols.join() === [...protos].sort((x, y) => x - y).join() &&
          (needsTck ? a.tckValid === true : a.tck === undefined)
        );
      },
    ),
  );
}
