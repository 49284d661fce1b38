import { CardloopError, maskExchange, toHex, type EventBus } from "../../core/index.js";
import type { Card } from "../card/index.js";
import type { Reader } from "./reader.js";

/** No card, no power, or a reader that was asked for something it cannot do. */
export class ReaderError extends CardloopError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("reader", message, options);
  }
}

export interface MemoryReaderOptions {
  name?: string;
  /** When given (and listened to), each exchange becomes an `apdu.exchange` event with secrets masked. */
  bus?: EventBus;
}

/**
 * A reader in the same process as its card: the fastest path to a card, used
 * by simulated runs, tests and benchmarks.
 */
export class MemoryReader implements Reader {
  readonly name: string;
  private card?: Card;
  private powered = false;
  private readonly bus?: EventBus;
  private readonly listeners = new Set<(present: boolean) => void>();

  constructor(card?: Card, opts: MemoryReaderOptions = {}) {
    this.name = opts.name ?? "cardloop memory reader";
    this.bus = opts.bus;
    this.card = card;
  }

  get present(): boolean {
    return this.card !== undefined;
  }

  /** Puts a card in the reader (removing any card already there). */
  insert(card: Card): void {
    if (this.card) this.remove();
    this.card = card;
    for (const l of [...this.listeners]) l(true);
  }

  /** Takes the card out: it loses power and its session state. */
  remove(): void {
    if (!this.card) return;
    if (this.powered) this.card.powerOff();
    this.card = undefined;
    this.powered = false;
    for (const l of [...this.listeners]) l(false);
  }

  async connect(): Promise<Uint8Array> {
    const card = this.requireCard();
    this.powered = true;
    return card.powerOn();
  }

  async reset(): Promise<Uint8Array> {
    const card = this.requireCard();
    this.powered = true;
    return card.powerOn();
  }

  async disconnect(): Promise<void> {
    if (this.card && this.powered) this.card.powerOff();
    this.powered = false;
  }

  async transmit(command: Uint8Array): Promise<Uint8Array> {
    const card = this.requireCard();
    if (!this.powered) throw new ReaderError(`${this.name}: not connected (call connect() first)`);
    const bus = this.bus;
    // Only pay for timing and hex formatting when someone listens.
    if (bus === undefined || !bus.hasListeners) return card.transmit(command);
    const t0 = performance.now();
    const response = card.transmit(command);
    const micros = Math.round((performance.now() - t0) * 1000);
    emitExchange(bus, this.name, command, response, micros);
    return response;
  }

  onPresence(listener: (present: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private requireCard(): Card {
    if (!this.card) throw new ReaderError(`${this.name}: no card present`);
    return this.card;
  }
}

/**
 * The one place an exchange becomes an event: the command is masked
 * (PIN, PUK, keys; the management key's witness and response both ways), the response split into data and status word.
 */
export function emitExchange(bus: EventBus, reader: string, command: Uint8Array, response: Uint8Array, micros: number): void {
  const n = response.length;
  const sw = n >= 2 ? toHex(response.subarray(n - 2)).toUpperCase() : "";
  // The management key's witness and response are hidden in the answer too (core/apdu-secrets.ts).
  const masked = maskExchange(command, response, n >= 2);
  bus.emit(
    "apdu.exchange",
    {
      reader,
      command: toHex(masked.command).toUpperCase(),
      response: toHex(masked.response.subarray(0, Math.max(0, n - 2))).toUpperCase(),
      sw,
      micros,
    },
    ["micros"],
  );
}
