import { UsageError, errorMessage } from "../../core/index.js";
import type { Card } from "../card/index.js";
import { ReaderError } from "./memory.js";
import { PcscReader } from "./pcsc.js";
import type { Reader } from "./reader.js";
import { VpcdBridge, formatVpcdEndpoint, parseVpcdEndpoint, vpcdEndpointAt, type VpcdEndpoint } from "./vpcd.js";

/** vpcd's two readers: "... 00 00" listens on the vpcd port, "... 00 01" on the next one. */
export const VPCD_READERS = ["Virtual PCD 00 00", "Virtual PCD 00 01"] as const;

/** A card in a reader that can be taken out and put back (the scenario engine's CardSlot shape). */
export interface VpcdCardSlot {
  reader: Reader;
  insert(): Promise<void>;
  remove(): Promise<void>;
  close(): Promise<void>;
}

export interface VpcdSlotOptions {
  /**
   * vpcd endpoint of "Virtual PCD 00 00", HOST:PORT or unix:PATH (reader 1 is
   * the next port, or the socket numbered one up); default CARDLOOP_VPCD, then 127.0.0.1:35963.
   */
  vpcd?: string;
  /** One of VPCD_READERS; omitted: the first one that is free. */
  reader?: string;
  /** How long to wait for pcscd, vpcd and the card to show up. */
  timeoutMs?: number;
}

/**
 * How long a card already in the reader may take to leave before we call the
 * reader occupied: pcscd polls vpcd, so a card whose bridge just closed (the
 * previous scenario's, or a run that just ended) is reported gone a moment later.
 */
const LEAVE_GRACE_MS = 3000;

/** vpcd endpoints (formatted) this process has put a card into. */
const busyPorts = new Set<string>();

/** The reader holds a card that is not ours: a choice of reader, not a fault of the run. */
class OccupiedError extends UsageError {}

/**
 * The emulated card behind the real pcscd: the card goes into vpcd (the
 * bridge is a TCP client of pcscd's vpcd driver) and the host side talks to
 * it through pcsclite. Everything that can go wrong before the card is in
 * (no pcscd, no such reader, vpcd not listening, a foreign card in the
 * reader) is a UsageError: the run cannot start, and the CLI says why in one line.
 */
export async function openVpcdCardSlot(card: Card, opts: VpcdSlotOptions = {}): Promise<VpcdCardSlot> {
  const endpoint = parseVpcdEndpoint(opts.vpcd ?? process.env.CARDLOOP_VPCD);
  const timeoutMs = opts.timeoutMs ?? 10000;
  let candidates = [0, 1];
  if (opts.reader !== undefined) {
    const index = (VPCD_READERS as readonly string[]).indexOf(opts.reader);
    if (index < 0) {
      throw new UsageError(`an emulated card can only go into a vpcd reader (${VPCD_READERS.join(", ")}), not "${opts.reader}"`);
    }
    if (busyPorts.has(formatVpcdEndpoint(vpcdEndpointAt(endpoint, index)))) {
      throw new UsageError(`"${opts.reader}" already holds another card of this run (use --reader pcsc to spread the cards over both vpcd readers)`);
    }
    candidates = [index];
  }
  let occupied: OccupiedError | undefined;
  for (const index of candidates) {
    const at = vpcdEndpointAt(endpoint, index);
    const port = formatVpcdEndpoint(at);
    if (busyPorts.has(port)) continue;
    busyPorts.add(port);
    try {
      return await attach(card, VPCD_READERS[index], at, timeoutMs, () => busyPorts.delete(port));
    } catch (err) {
      busyPorts.delete(port);
      // Without a reader named, a foreign card in one vpcd reader sends us to the other.
      if (err instanceof OccupiedError && opts.reader === undefined) {
        occupied = err;
        continue;
      }
      throw err;
    }
  }
  throw occupied ?? new UsageError("both vpcd readers already hold cards of this run (vpcd offers two)");
}

async function attach(card: Card, name: string, endpoint: VpcdEndpoint, timeoutMs: number, release: () => void): Promise<VpcdCardSlot> {
  let reader: PcscReader;
  try {
    reader = await PcscReader.open(name, { timeoutMs });
  } catch (err) {
    throw new UsageError(`cannot use "${name}" for an emulated card: ${errorMessage(err)}`, { cause: err });
  }
  const bridge = new VpcdBridge(card, endpoint);
  try {
    await reader.waitForState(timeoutMs);
    // vpcd serves one card connection at a time and queues a second one; the
    // host side would then talk to the card already there, not to ours.
    if (reader.present) {
      await reader.waitForRemoval(LEAVE_GRACE_MS).catch(() => {
        throw new OccupiedError(`"${name}" already holds a card (a \`cardloop card serve\` on it?); an emulated card needs an empty vpcd reader`);
      });
    }
    const insert = async () => {
      await insertWithin(bridge, timeoutMs);
      await reader.waitForCard(timeoutMs);
    };
    const remove = async () => {
      await bridge.remove();
      await reader.waitForRemoval(timeoutMs);
    };
    try {
      await insert();
    } catch (err) {
      throw new UsageError(`cannot put the emulated card into "${name}": ${errorMessage(err)}`, { cause: err });
    }
    return {
      reader,
      insert,
      remove,
      close: async () => {
        // Card out and seen out before letting go: the next slot on this reader must find it empty.
        await reader.disconnect().catch(() => undefined);
        await bridge.close();
        await reader.waitForRemoval(LEAVE_GRACE_MS).catch(() => undefined);
        await reader.close();
        release();
      },
    };
  } catch (err) {
    await bridge.close();
    await reader.close();
    throw err;
  }
}

/** The bridge retries a refused connection for ever; a slot gives up after `timeoutMs`. */
async function insertWithin(bridge: VpcdBridge, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      void bridge.remove(); // cancels the pending insert
      reject(new ReaderError(`vpcd at ${bridge.endpoint} did not take the card within ${timeoutMs} ms (is pcscd running with vpcd there? see --vpcd)`));
    }, timeoutMs);
  });
  const inserted = bridge.insert();
  inserted.catch(() => undefined); // rejected by the cancellation above; the timeout error is the one reported
  try {
    await Promise.race([inserted, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A scenario reader factory (scenarios/readers.ts `ReaderFactory`) for the
 * "pcsc" kind: `pcsc` puts each card into the first free vpcd reader,
 * `pcsc:Virtual PCD 00 01` into that one.
 */
export function makeVpcdSlotFactory(opts: Omit<VpcdSlotOptions, "reader"> = {}) {
  return (card: Card, _name: string, spec: string): Promise<VpcdCardSlot> => {
    const reader = spec.startsWith("pcsc:") ? spec.slice("pcsc:".length) : undefined;
    return openVpcdCardSlot(card, { ...opts, reader: reader || undefined });
  };
}
