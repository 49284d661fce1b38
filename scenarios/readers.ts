import { UsageError } from "../core/index.js";
import type { Card } from "../simulator/card/index.js";
import { MemoryReader } from "../simulator/reader/index.js";
import type { Reader } from "../simulator/reader/index.js";

/**
 * A reader with one card that a scenario can take out (lose-card) and put
 * back (find-card). Each reader kind is one factory; the hardware helper adds
 * "pcsc" (a vpcd-backed card seen through pcscd) with `registerReader`.
 */
export interface CardSlot {
  reader: Reader;
  insert(): Promise<void>;
  remove(): Promise<void>;
  close(): Promise<void>;
}

/** `spec` is the whole reader option, e.g. "pcsc:Virtual PCD 00 00" for kind "pcsc". */
export type ReaderFactory = (card: Card, name: string, spec: string) => Promise<CardSlot>;

const FACTORIES = new Map<string, ReaderFactory>([
  [
    "memory",
    async (card, name) => {
      const reader = new MemoryReader(card, { name });
      return {
        reader,
        insert: async () => reader.insert(card),
        remove: async () => reader.remove(),
        close: async () => reader.remove(),
      };
    },
  ],
]);

export function registerReader(kind: string, factory: ReaderFactory): void {
  FACTORIES.set(kind, factory);
}

export function readerKinds(): string[] {
  return [...FACTORIES.keys()];
}

/** Opens a slot for `card` in a reader of the kind `spec` names ("memory", or "kind:details"). */
export function openCardSlot(spec: string, card: Card, name: string): Promise<CardSlot> {
  const kind = spec.split(":")[0];
  const factory = FACTORIES.get(kind);
  if (!factory) throw new UsageError(`unknown reader kind "${kind}" (available: ${readerKinds().join(", ")})`);
  return factory(card, name, spec);
}
