import { SW, bytesEqual, encodeTlv, fromHex } from "../../core/index.js";
import type { Answer, Applet } from "./applet.js";
import type { Command } from "./command.js";

/** A proprietary AID (ISO 7816-5: a first nibble F needs no registration): F0 "cardloop". */
export const CONSTANT_AID = fromHex("f0636172646c6f6f70");

/**
 * The smallest card type, for tests only: it answers its AID and GET DATA
 * (00 CB 3F FF) with one constant. It shows what a new card type takes: one
 * class implementing Applet, handed to a CardOs beside (or instead of) PIV;
 * APDUs, chaining, GET RESPONSE and SELECT come from the OS.
 */
export class ConstantApplet implements Applet {
  readonly maxChainSize = 0;

  constructor(readonly value: Uint8Array) {}

  selects(aid: Uint8Array): boolean {
    return bytesEqual(aid, CONSTANT_AID);
  }

  select(): Uint8Array {
    return encodeTlv(0x6f, encodeTlv(0x84, CONSTANT_AID)); // FCI with the DF name
  }

  resetSession(): void {} // no security status

  acceptsChain(): boolean {
    return false;
  }

  process({ ins, p1, p2 }: Command): Answer {
    if (ins !== 0xcb) return SW.INS_NOT_SUPPORTED;
    if (p1 !== 0x3f || p2 !== 0xff) return SW.INCORRECT_P1P2;
    return this.value;
  }
}
