import test from "ava";
import { createHash } from "node:crypto";
import { SW, SeededRandom, concatBytes, encodeTlv, fromHex, readTlv, toHex } from "../../core/index.js";
import { CardOs, CardStatusError, PIV_AID, PivCard, type Answer, type Applet, type Command } from "./index.js";
import { PivApplet } from "./piv-applet.js";
import { newPivState } from "./piv-state.js";
import { CONSTANT_AID, ConstantApplet } from "./testing-applet.js";
import { YubiKeyExtension } from "./yubikey-extension.js";
import { apdu, mgmAuth, pinBlock, tx } from "./testing.js";

const E = new Uint8Array(0);
const CONSTANT = new Uint8Array(300).map((_, i) => i & 0xff);
const selectConstant = apdu(0, 0xa4, 4, 0, CONSTANT_AID, 0);
const selectPiv = apdu(0, 0xa4, 4, 0, PIV_AID, 0);
const getDiscovery = fromHex("00cb3fff035c017e00");
const getPrinted = fromHex("00cb3fff055c035fc10900");
const getConstant = fromHex("00cb3fff00");

function pivState(seed: number) {
  return newPivState({ expires: new Date("2030-06-30T00:00:00Z"), serial: "00c0ffee" }, new SeededRandom(seed));
}

/** PIV (the default applet) and the constant applet on one card. */
function twoApplets(seed = 1): CardOs {
  const card = new CardOs([new PivApplet(pivState(seed), new SeededRandom(seed), new YubiKeyExtension()), new ConstantApplet(CONSTANT)]);
  card.powerOn();
  return card;
}

/** A tiny applet built inline: INS 01 echoes its (joined) data, 02 throws a status, 03 throws a bug. */
function probeApplet(): Applet & { resets: number } {
  return {
    resets: 0,
    maxChainSize: 600,
    selects: (aid) => toHex(aid) === "f0aa",
    select: () => E,
    resetSession() {
      this.resets++;
    },
    acceptsChain: (ins) => ins === 0x01,
    process(cmd: Command): Answer {
      if (cmd.ins === 0x01) return Uint8Array.from(cmd.data);
      if (cmd.ins === 0x02) throw new CardStatusError(SW.WRONG_DATA);
      if (cmd.ins === 0x03) throw new TypeError("a bug");
      return SW.INS_NOT_SUPPORTED;
    },
  };
}

test("the OS dispatches by AID: PIV is selected at power-on, SELECT switches applets and back", (t) => {
  const card = twoApplets();
  t.is(tx(card, getDiscovery).sw, "9000", "PIV answers without a SELECT: the default applet");

  const fci = tx(card, selectConstant);
  t.is(fci.sw, "9000");
  t.is(readTlv(fci.bytes).tag, 0x6f);
  const first = tx(card, getConstant);
  t.is(first.sw, "612C", "300 bytes: the OS keeps the rest for GET RESPONSE");
  const rest = tx(card, apdu(0, 0xc0, 0, 0, E, 0));
  t.is(rest.sw, "9000");
  t.is(toHex(concatBytes(first.bytes, rest.bytes)), toHex(CONSTANT));
  t.is(tx(card, getDiscovery).sw, "612C", "GET DATA now reaches the constant applet");
  t.is(tx(card, apdu(0, 0x20, 0, 0x80, pinBlock("123456"))).sw, "6D00", "VERIFY is PIV's, not the constant applet's");
  t.is(tx(card, apdu(0x10, 0xcb, 0x3f, 0xff, E)).sw, "6884", "the constant applet takes no chains");

  t.is(tx(card, apdu(0, 0xa4, 4, 0, fromHex("f0ff"), 0)).sw, "6A82");
  t.is(toHex(tx(card, getConstant).bytes.subarray(0, 4)), "00010203", "a failed SELECT keeps the selection");

  const apt = tx(card, apdu(0, 0xa4, 4, 0, PIV_AID.subarray(0, 5), 0));
  t.is(apt.sw, "9000");
  t.is(readTlv(apt.bytes).tag, 0x61, "PIV's application property template");
  t.is(tx(card, getDiscovery).sw, "9000");

  tx(card, selectConstant);
  card.powerOn();
  t.is(tx(card, getDiscovery).sw, "9000", "power-on selects the default applet again");
});

test("selecting another applet ends PIV's session; re-selecting PIV does not", (t) => {
  const card = twoApplets();
  t.is(tx(card, apdu(0, 0x20, 0, 0x80, pinBlock("123456"))).sw, "9000");
  t.is(tx(card, selectPiv).sw, "9000");
  t.is(tx(card, getPrinted).sw, "6A82", "still verified after SELECT PIV: absent, not 6982");
  t.is(tx(card, selectConstant).sw, "9000");
  t.is(tx(card, selectPiv).sw, "9000");
  t.is(tx(card, getPrinted).sw, "6982", "PIN status ended when PIV was deselected");
  t.is(tx(card, apdu(0, 0x20, 0, 0x80)).sw, "63C3", "the retry counter is untouched");
});

test("the PIV applet answers the same with or without a second applet beside it", (t) => {
  const alone = new PivCard(pivState(7), new SeededRandom(7));
  alone.powerOn();
  const shared = twoApplets(7);
  const digest = createHash("sha256").update("doc").digest();
  const body = concatBytes(fromHex("5c035fc10a"), encodeTlv(0x53, new Uint8Array(400).fill(0x42)));
  const script: Uint8Array[] = [
    selectPiv,
    getDiscovery,
    fromHex("00cb3fff055c035fc10200"),
    getPrinted,
    apdu(0, 0x20, 0, 0x80, pinBlock("000000")),
    apdu(0, 0x20, 0, 0x80, pinBlock("123456")),
    getPrinted,
    fromHex("00fd000000"),
    fromHex("00f8000000"),
    fromHex("00f7008000"),
    apdu(0x10, 0xdb, 0x3f, 0xff, body.subarray(0, 200)),
    apdu(0, 0xdb, 0x3f, 0xff, body.subarray(200)),
    apdu(0, 0x87, 0x11, 0x9a, encodeTlv(0x7c, [encodeTlv(0x82, E), encodeTlv(0x81, digest)]), 0),
    fromHex("00cb3fff055c035fc10a10"),
    apdu(0, 0xc0, 0, 0, E, 0),
    fromHex("80cb3fff00"),
    fromHex("00a4"),
  ];
  for (const command of script) t.is(tx(shared, command).sw, tx(alone, command).sw, toHex(command));
  // the same again, byte for byte, with the management key and the witness from the same seed
  const a = new PivCard(pivState(8), new SeededRandom(8));
  const b = twoApplets(8);
  a.powerOn();
  t.is(mgmAuth(b).sw, "9000");
  t.is(mgmAuth(a).sw, "9000");
  for (const command of script) t.is(toHex(b.transmit(command)), toHex(a.transmit(command)), toHex(command));
});

test("the OS boundary: a thrown CardStatusError is its status word, anything else 6F00; protocol state is dropped", (t) => {
  const probe = probeApplet();
  const card = new CardOs([probe]);
  card.powerOn();
  t.is(probe.resets, 1);
  t.is(tx(card, apdu(0, 0x02, 0, 0)).sw, "6A80");
  t.is(tx(card, apdu(0, 0x03, 0, 0)).sw, "6F00");
  t.is(tx(card, apdu(0, 0x04, 0, 0)).sw, "6D00");
  // a long answer pending for GET RESPONSE is gone after a throwing command
  t.is(tx(card, apdu(0, 0x01, 0, 0, new Uint8Array(200).fill(7), 0x10)).sw, "61B8");
  t.is(tx(card, apdu(0, 0x03, 0, 0)).sw, "6F00");
  t.is(tx(card, apdu(0, 0xc0, 0, 0, E, 0)).sw, "6985");
});

test("the OS joins chains for any applet, within the applet's limit", (t) => {
  const card = new CardOs([probeApplet()]);
  card.powerOn();
  t.is(tx(card, apdu(0x10, 0x01, 0, 0, fromHex("0102"))).sw, "9000");
  t.is(tx(card, apdu(0x10, 0x01, 0, 0, fromHex("03"))).sw, "9000");
  const joined = tx(card, apdu(0, 0x01, 0, 0, fromHex("04"), 0));
  t.is(joined.data, "01020304");
  // a part with another header restarts the chain; another command drops it
  tx(card, apdu(0x10, 0x01, 0, 0, fromHex("aa")));
  tx(card, apdu(0x10, 0x01, 0, 1, fromHex("bb")));
  t.is(tx(card, apdu(0, 0x01, 0, 1, fromHex("cc"), 0)).data, "BBCC");
  tx(card, apdu(0x10, 0x01, 0, 0, fromHex("aa")));
  t.is(tx(card, apdu(0, 0x04, 0, 0)).sw, "6D00");
  t.is(tx(card, apdu(0, 0x01, 0, 0, fromHex("cc"), 0)).data, "CC");
  t.is(tx(card, apdu(0x10, 0x02, 0, 0, fromHex("aa"))).sw, "6884", "the applet takes chains of INS 01 only");
  t.is(tx(card, apdu(0x10, 0xa4, 4, 0, fromHex("f0aa"))).sw, "6884", "nor of SELECT");
  t.is(tx(card, apdu(0x10, 0x01, 0, 0, new Uint8Array(255))).sw, "9000");
  t.is(tx(card, apdu(0x10, 0x01, 0, 0, new Uint8Array(255))).sw, "9000");
  t.is(tx(card, apdu(0x10, 0x01, 0, 0, new Uint8Array(255))).sw, "6A84", "over 600 bytes");
});

test("a card needs an applet", (t) => {
  t.throws(() => new CardOs([]), { instanceOf: RangeError });
});
