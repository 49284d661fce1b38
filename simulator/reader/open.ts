import { UsageError } from "../../core/index.js";
import type { EventBus } from "../../core/index.js";
import type { Card } from "../card/card.js";
import { MemoryReader, ReaderError } from "./memory.js";
import { PcscReader, type PcscReaderOptions } from "./pcsc.js";
import type { Reader } from "./reader.js";
import { VpcdBridge, parseVpcdEndpoint } from "./vpcd.js";

/** A reader chosen by name, and how to let go of it (a PC/SC context keeps the process alive). */
export interface OpenedReader {
  reader: Reader;
  close(): Promise<void>;
}

export interface OpenReaderOptions {
  /** The card for a "memory" reader. */
  card?: Card;
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
    const reader = new MemoryReader(opts.card, { bus: opts.bus });
    return { reader, close: () => reader.disconnect() };
  }
  if (spec.startsWith("pcsc:")) {
    const name = spec.slice("pcsc:".length);
    if (!name) throw new UsageError('"pcsc:" needs a reader name, e.g. pcsc:Virtual PCD 00 00');
    const reader = await PcscReader.open(name, { ...opts.pcsc, bus: opts.bus });
    return { reader, close: () => reader.close() };
  }
  throw new UsageError(`unknown reader "${spec}": use "memory" or "pcsc:NAME"`);
}

/** A card in a reader that can be taken out and put back (the scenario engine's CardSlot shape). */
export interface VpcdCardSlot {
  reader: Reader;
  insert(): Promise<void>;
  remove(): Promise<void>;
  close(): Promise<void>;
}

const VPCD_NAMES = ["Virtual PCD 00 00", "Virtual PCD 00 01"];
const busySlots = new Set<number>();

/**
 * The emulated card behind the real pcscd: the card goes into vpcd (reader
 * "Virtual PCD 00 00" on `port`, "... 00 01" on `port + 1`; `opts.reader`
 * picks one, otherwise the first free) and the host side talks to it through
 * pcsclite. The endpoint defaults to CARDLOOP_VPCD (HOST:PORT) or
 * 127.0.0.1:35963.
 */
export async function openVpcdCardSlot(
  card: Card,
  opts: { vpcd?: string; reader?: string; timeoutMs?: number } = {},
): Promise<VpcdCardSlot> {
  const { host, port } = parseVpcdEndpoint(opts.vpcd ?? process.env.CARDLOOP_VPCD);
  let index: number | undefined;
  if (opts.reader !== undefined) {
    index = VPCD_NAMES.indexOf(opts.reader);
    if (index < 0) throw new UsageError(`an emulated card can only go into a vpcd reader (${VPCD_NAMES.join(", ")}), not "${opts.reader}"`);
    if (busySlots.has(port + index)) throw new ReaderError(`"${opts.reader}" already holds a card`);
  } else {
    index = [0, 1].find((i) => !busySlots.has(port + i));
    if (index === undefined) throw new ReaderError("both vpcd readers are in use (vpcd offers two slots)");
  }
  busySlots.add(port + index);
  const timeoutMs = opts.timeoutMs ?? 10000;
  const bridge = new VpcdBridge(card, { host, port: port + index });
  let reader: PcscReader | undefined;
  try {
    reader = await PcscReader.open(VPCD_NAMES[index], { timeoutMs });
    const r = reader;
    const insert = async () => {
      await bridge.insert();
      await r.waitForCard(timeoutMs);
    };
    const remove = async () => {
      await bridge.remove();
      await r.waitForRemoval(timeoutMs);
    };
    await insert();
    return {
      reader: r,
      insert,
      remove,
      close: async () => {
        await r.close();
        await bridge.close();
        busySlots.delete(port + index);
      },
    };
  } catch (err) {
    await reader?.close();
    await bridge.close();
    busySlots.delete(port + index);
    throw err;
  }
}

/**
 * The scenario engine's "pcsc" reader kind: `--reader pcsc` (first free vpcd
 * reader) or `--reader "pcsc:Virtual PCD 00 01"`. Register it with
 * `registerReader("pcsc", vpcdSlotFactory)` from scenarios/readers.ts.
 */
export function vpcdSlotFactory(card: Card, _name: string, spec: string): Promise<VpcdCardSlot> {
  const reader = spec.startsWith("pcsc:") ? spec.slice("pcsc:".length) : undefined;
  return openVpcdCardSlot(card, { reader: reader || undefined });
}
