/**
 * A card as a reader sees it. An implementation never throws from `transmit`:
 * every byte string gets a response ending in a status word.
 */
export interface Card {
  /** Cold reset: returns the ATR. */
  powerOn(): Uint8Array;
  transmit(command: Uint8Array): Uint8Array;
  powerOff(): void;
}
