/** What every reader offers: in-memory, vpcd-backed, real PC/SC, and wrappers (fault, trace). */
export interface Reader {
  readonly name: string;
  /** Powers the card and returns its ATR; throws ReaderError when no card is present. */
  connect(): Promise<Uint8Array>;
  transmit(command: Uint8Array): Promise<Uint8Array>;
  /** Warm reset; returns the ATR. */
  reset(): Promise<Uint8Array>;
  disconnect(): Promise<void>;
  /** Card insertion / removal notifications. Returns an unsubscribe function. */
  onPresence(listener: (present: boolean) => void): () => void;
}
