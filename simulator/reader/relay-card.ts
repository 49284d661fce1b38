import { errorMessage } from "../../core/index.js";
import type { Reader } from "./reader.js";
import { CardWithdrawn, type BridgedCard } from "./vpcd.js";

export interface RelayCardOptions {
  /** How long a card that left the real reader stays out of vpcd before the bridge tries again. */
  absentPauseMs?: number;
}

/**
 * The card in another reader, as a card the vpcd bridge can serve (like
 * vsmartcard's relay): every command goes to the real card through `reader`
 * and its answer comes back unchanged. vpcd's power controls map to the
 * reader's: power on = a cold start (disconnect unpowering the card, then
 * connect), reset = the reader's warm reset, power off = disconnect. The ATR
 * is the one the real card gives.
 *
 * When the real card cannot be reached (taken out of its reader, or the
 * reader gone) the relayed card leaves vpcd (`CardWithdrawn`): the host's
 * command fails as it would with the card pulled, and pcscd sees a removal
 * instead of a card answering 6F00 that is not there.
 */
export class RelayCard implements BridgedCard {
  private connected = false;
  private readonly absentPauseMs: number;

  constructor(
    readonly reader: Reader,
    opts: RelayCardOptions = {},
  ) {
    this.absentPauseMs = opts.absentPauseMs ?? 500;
  }

  async powerOn(): Promise<Uint8Array> {
    if (this.connected) await this.powerOff();
    return this.attempt("power on", async () => {
      const atr = await this.reader.connect();
      this.connected = true;
      return atr;
    });
  }

  async reset(): Promise<Uint8Array> {
    if (!this.connected) return this.powerOn();
    return this.attempt("reset", () => this.reader.reset());
  }

  async powerOff(): Promise<void> {
    if (!this.connected) return;
    this.connected = false;
    try {
      await this.reader.disconnect();
    } catch {
      // a card already gone is powered off
    }
  }

  async transmit(command: Uint8Array): Promise<Uint8Array> {
    // pcscd powers a card before it sends to it; a relay that lost its connection reconnects first.
    if (!this.connected) await this.powerOn();
    return this.attempt("transmit", () => this.reader.transmit(command));
  }

  private async attempt<T>(what: string, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      this.connected = false;
      throw new CardWithdrawn(`relay: ${what} on "${this.reader.name}" failed (${errorMessage(err)})`, this.absentPauseMs, { cause: err });
    }
  }
}

// What a user of RelayCard (or of any card that answers later) meets at the bridge, on the same line of index.ts.
export { CardWithdrawn, type BridgedCard, type VpcdPowerEvent } from "./vpcd.js";
