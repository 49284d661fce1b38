import { CLA_CHAINING, SW, concatBytes, responseWithSw, swOnly, tryDecodeCommand } from "../../core/index.js";
import { CardStatusError, type Answer, type Applet } from "./applet.js";
import type { Card } from "./card.js";
import { ATR } from "./atr.js";
import type { Command } from "./command.js";

const INS_SELECT = 0xa4;
const INS_GET_RESPONSE = 0xc0;

/**
 * The card OS: the ISO 7816-4 layer between a reader and the applets, like
 * vsmartcard's virtualsmartcard card OS. It parses APDUs, joins command
 * chains, keeps long responses for GET RESPONSE behind 61xx, dispatches
 * SELECT by AID and everything else to the selected applet, and turns every
 * outcome into a status word: `transmit` never throws. It knows no applet's
 * instructions.
 */
export class CardOs implements Card {
  private selected: Applet;
  private chain?: { ins: number; p1: number; p2: number; parts: Uint8Array[]; size: number };
  private pending?: Uint8Array;

  /** The first applet is the default one, selected at power-on (implicit selection, ISO 7816-4 8.2.1.2). */
  constructor(
    private readonly applets: readonly Applet[],
    private readonly atr: Uint8Array = ATR,
  ) {
    if (applets.length === 0) throw new RangeError("a card needs at least one applet");
    this.selected = applets[0];
  }

  powerOn(): Uint8Array {
    this.resetSession();
    return this.atr;
  }

  powerOff(): void {
    this.resetSession();
  }

  transmit(command: Uint8Array): Uint8Array {
    try {
      return this.dispatch(command);
    } catch (err) {
      // A failed command leaves no protocol state behind; a bug in an
      // instruction must still look like a card: "no precise diagnosis".
      this.chain = undefined;
      this.pending = undefined;
      return swOnly(err instanceof CardStatusError ? err.sw : SW.UNKNOWN);
    }
  }

  private resetSession(): void {
    this.chain = undefined;
    this.pending = undefined;
    for (const a of this.applets) a.resetSession();
    this.selected = this.applets[0];
  }

  private dispatch(bytes: Uint8Array): Uint8Array {
    const applet = this.selected;
    applet.beforeCommand?.();
    if (bytes.length < 4) return swOnly(SW.WRONG_LENGTH);
    const cla = bytes[0];
    if ((cla & ~CLA_CHAINING) !== 0) return swOnly(SW.CLA_NOT_SUPPORTED);
    const cmd: Command | undefined = tryDecodeCommand(bytes);
    if (cmd === undefined) return swOnly(SW.WRONG_LENGTH);
    const ins = cmd.ins;
    if (ins !== INS_GET_RESPONSE) this.pending = undefined;
    if (cla & CLA_CHAINING) return this.chainPart(applet, cmd);
    if (this.chain !== undefined) this.joinChain(cmd);
    if (ins === INS_SELECT) return this.select(cmd);
    if (ins === INS_GET_RESPONSE) return this.getResponse(cmd);
    return this.answer(applet.process(cmd), cmd.le);
  }

  /** A part of a chain but the last: kept until the last part comes (ISO 7816-4, 5.3.3). */
  private chainPart(applet: Applet, cmd: Command): Uint8Array {
    const { ins, p1, p2 } = cmd;
    if (ins === INS_SELECT || ins === INS_GET_RESPONSE || !applet.acceptsChain(ins)) {
      this.chain = undefined;
      return swOnly(SW.CHAINING_NOT_SUPPORTED);
    }
    let c = this.chain;
    const restarted = c !== undefined && (c.ins !== ins || c.p1 !== p1 || c.p2 !== p2);
    if (c === undefined || restarted) {
      c = this.chain = { ins, p1, p2, parts: [], size: 0 };
    }
    c.parts.push(Uint8Array.from(cmd.data));
    c.size += cmd.data.length;
    if (c.size > applet.maxChainSize) {
      this.chain = undefined;
      return swOnly(SW.NOT_ENOUGH_MEMORY);
    }
    applet.onChainPart?.(cmd, restarted);
    return swOnly(SW.OK);
  }

  /** The last part completes the chain of its own header; any other command drops the chain. */
  private joinChain(cmd: Command): void {
    const c = this.chain!;
    this.chain = undefined;
    if (c.ins === cmd.ins && c.p1 === cmd.p1 && c.p2 === cmd.p2) cmd.data = concatBytes(...c.parts, cmd.data);
    else cmd.interruptsChain = true;
  }

  private select(cmd: Command): Uint8Array {
    const { p1, p2, data } = cmd;
    if (p1 === 0x00) return swOnly(SW.FILE_NOT_FOUND); // by file id: this card has no files
    if (p1 !== 0x04 || (p2 !== 0x00 && p2 !== 0x0c)) return swOnly(SW.INCORRECT_P1P2);
    const next = this.applets.find((a) => a.selects(data));
    // a failed SELECT keeps the current selection
    if (next === undefined) return swOnly(SW.FILE_NOT_FOUND);
    if (next !== this.selected) {
      this.selected.resetSession();
      this.selected = next;
    }
    const fci = next.select();
    return p2 === 0x0c ? swOnly(SW.OK) : this.respond(fci, cmd.le);
  }

  private getResponse(cmd: Command): Uint8Array {
    if (cmd.p1 !== 0 || cmd.p2 !== 0) {
      this.pending = undefined;
      return swOnly(SW.INCORRECT_P1P2);
    }
    const data = this.pending;
    this.pending = undefined;
    if (data === undefined) return swOnly(SW.CONDITIONS_NOT_SATISFIED);
    return this.respond(data, cmd.le);
  }

  private answer(a: Answer, le: number | undefined): Uint8Array {
    return typeof a === "number" ? swOnly(a) : this.respond(a, le);
  }

  /** Data plus 9000; when longer than Le the rest waits for GET RESPONSE behind 61xx. */
  private respond(data: Uint8Array, le: number | undefined): Uint8Array {
    const max = le ?? 256;
    if (data.length <= max) return responseWithSw(data, SW.OK);
    const rest = data.subarray(max);
    this.pending = rest;
    return responseWithSw(data.subarray(0, max), 0x6100 | (rest.length >= 256 ? 0 : rest.length));
  }
}
