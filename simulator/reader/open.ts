import { UsageError } from "../../core/index.js";
import type { EventBus } from "../../core/index.js";
import type { Card } from "../card/index.js";
import { MemoryReader } from "./memory.js";
import { PcscReader, type PcscReaderOptions } from "./pcsc.js";
import type { Reader } from "./reader.js";

/** A reader chosen by name, and how to let go of it (a PC/SC context keeps the process alive). */
export interface OpenedReader {
  reader: Reader;
  /** Resolves when a card is in the reader (a PC/SC reader may be empty when opened). */
  waitForCard(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export interface OpenReaderOptions {
  /** The card for a "memory" reader. */
  card?: Card;
  /** The memory reader's name (in events); a PC/SC reader is named by pcscd. */
  name?: string;
  bus?: EventBus;
  pcsc?: PcscReaderOptions;
}

/**
 * Opens the reader a `--reader` option names:
 *   "memory"     an in-process reader holding `opts.card`
 *   "pcsc:NAME"  the PC/SC reader NAME through pcscd (e.g. "pcsc:Virtual PCD 00 00")
 */
export async function openReader(spec: string, opts: OpenReaderOptions = {}): Promise<OpenedReader> {
  if (spec === "memory") {
    if (!opts.card) throw new UsageError('the "memory" reader needs a card (e.g. --card card.json)');
    const reader = new MemoryReader(opts.card, { name: opts.name, bus: opts.bus });
    return { reader, waitForCard: async () => undefined, close: () => reader.disconnect() };
  }
  if (spec.startsWith("pcsc:")) {
    const name = spec.slice("pcsc:".length);
    if (!name) throw new UsageError('"pcsc:" needs a reader name, e.g. pcsc:Virtual PCD 00 00');
    const reader = await PcscReader.open(name, { ...opts.pcsc, bus: opts.bus });
    return {
      reader,
      waitForCard: async (timeoutMs) => {
        await reader.waitForCard(timeoutMs);
      },
      close: () => reader.close(),
    };
  }
  throw new UsageError(`unknown reader "${spec}": use "memory" or "pcsc:NAME"`);
}
