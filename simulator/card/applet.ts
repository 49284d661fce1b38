import { CardloopError } from "../../core/index.js";
import type { Command } from "./command.js";

/**
 * What an applet answers to one command: response data (sent with 9000, in
 * 61xx pieces when longer than Le) or a status word alone.
 */
export type Answer = Uint8Array | number;

/**
 * A status word thrown from inside an applet (a parser deep in a helper, say).
 * The card OS turns it into that status word; anything else thrown becomes
 * 6F00. Nothing reaches the reader as an exception.
 */
export class CardStatusError extends CardloopError {
  constructor(readonly sw: number) {
    super("card-status", `card status ${sw.toString(16).padStart(4, "0")}`);
  }
}

/**
 * A card application on the card OS (card-os.ts), like a Java Card applet or
 * a vsmartcard card type. The OS owns the transport concerns (APDU parsing,
 * chaining, 61xx/GET RESPONSE, SELECT, status words); an applet sees whole
 * commands. A new card type is one class implementing this.
 */
export interface Applet {
  /** Whether SELECT by this AID (as sent, possibly right-truncated) picks this applet. */
  selects(aid: Uint8Array): boolean;
  /** The applet is selected (by SELECT, or at power-on as the card's default): the data SELECT answers. */
  select(): Uint8Array;
  /** Power cycle, or another applet selected: the session's security status and protocol state end. */
  resetSession(): void;
  /** Whether commands with this INS may come in chained parts (ISO 7816-4, 5.3.3). */
  acceptsChain(ins: number): boolean;
  /** Largest command data a chain may join to; a longer chain is refused with 6A84. */
  readonly maxChainSize: number;
  /** One whole command (chained parts already joined). */
  process(cmd: Command): Answer;
  /**
   * Called first for every APDU the selected applet's card receives, before
   * the OS even parses it: a security status that lasts one command ends here.
   */
  beforeCommand?(): void;
  /** Called for each accepted part of a chain but the last (`restarted`: it replaced a chain of another header). */
  onChainPart?(cmd: Command, restarted: boolean): void;
}
