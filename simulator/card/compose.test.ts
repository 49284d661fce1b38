/**
 * What simulator/card/README.md promises a new card type: PIV from the public
 * face, put on one card beside an applet of one's own. Imports only the face
 * (index.ts), as code outside this folder must.
 */
import test from "ava";
import { SW, SeededRandom, fromHex, toHex } from "../../core/index.js";
import {
  CardOs,
  FIRMWARE_VERSION,
  PIV_AID,
  PivApplet,
  YubiKeyExtension,
  newPivState,
  type Answer,
  type Applet,
  type Command,
} from "./index.js";

const YOUR_AID = fromHex("f0796f7572");

/** An applet written outside the folder: INS 01 answers "hi". */
class YourApplet implements Applet {
  readonly maxChainSize = 0;
  selects(aid: Uint8Array): boolean {
    return toHex(aid) === toHex(YOUR_AID);
  }
  select(): Uint8Array {
    return new Uint8Array(0);
  }
  resetSession(): void {}
  acceptsChain(): boolean {
    return false;
  }
  process(cmd: Command): Answer {
    return cmd.ins === 0x01 ? new TextEncoder().encode("hi") : SW.INS_NOT_SUPPORTED;
  }
}

const hex = (b: Uint8Array) => toHex(b).toUpperCase();
const select = (aid: Uint8Array) => Uint8Array.of(0, 0xa4, 4, 0, aid.length, ...aid, 0);

test("PIV with its YubiKey extension and another applet on one card, built from the public face", (t) => {
  const random = new SeededRandom(7);
  const state = newPivState({ expires: new Date("2030-06-30T00:00:00Z"), serial: "00c0ffee" }, random);
  const card = new CardOs([new PivApplet(state, random, new YubiKeyExtension()), new YourApplet()]);
  card.powerOn();
  t.is(hex(card.transmit(fromHex("00fd000000"))), hex(FIRMWARE_VERSION) + "9000", "PIV is the default applet, with the YubiKey extension");
  t.is(hex(card.transmit(fromHex("00f8000000"))), "00C0FFEE9000", "GET SERIAL reads the state newPivState made");
  t.is(hex(card.transmit(select(YOUR_AID))), "9000");
  t.is(hex(card.transmit(fromHex("0001000000"))), "68699000", "your applet answers once selected");
  t.is(hex(card.transmit(fromHex("00fd000000"))), "6D00", "PIV's instructions are not your applet's");
  t.is(hex(card.transmit(select(PIV_AID))).slice(-4), "9000");
  t.is(hex(card.transmit(fromHex("0001000000"))), "6D00", "and yours are not PIV's");
});
