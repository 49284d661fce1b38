import { performance } from "node:perf_hooks";
import { CLA_CHAINING, concatBytes, isGetResponse, maskExchange, swHex, toHex, type EventBus } from "../../core/index.js";
import type { Reader } from "./reader.js";
import { dataOf, volatileParts } from "./traced-volatile.js";

export interface TracedReaderOptions {
  /** The reader's name in events (default: the wrapped reader's). */
  name?: string;
}

/**
 * Wraps any reader (memory, vpcd, PC/SC, faulty) and emits one `apdu.exchange`
 * per command as the host meant it: 61xx / GET RESPONSE continuations and
 * chained parts (CLA 0x10) folded in, the response with its status word, key
 * material and signatures marked volatile. Transport exchanges are not events
 * here: their number depends on byte lengths (an ECDSA signature is 70 to 72
 * bytes), so counting them would make two runs with one seed differ for no
 * reason that matters; a reader given a bus emits those itself.
 * Secrets are masked before they are emitted (maskExchange): PIN, PUK and key
 * command data, and the management-key witness, challenge and response both ways.
 */
export class TracedReader implements Reader {
  readonly name: string;
  /** Raw transport exchanges, continuations included (for metrics). */
  transportExchanges = 0;
  /** Logical exchanges emitted. */
  exchanges = 0;
  private pending?: { command: Uint8Array; chunks: Uint8Array[]; micros: number; chained: boolean };

  constructor(
    readonly inner: Reader,
    private readonly bus?: EventBus,
    options: TracedReaderOptions = {},
  ) {
    this.name = options.name ?? inner.name;
  }

  connect(): Promise<Uint8Array> {
    this.pending = undefined;
    return this.inner.connect();
  }

  reset(): Promise<Uint8Array> {
    this.pending = undefined;
    return this.inner.reset();
  }

  disconnect(): Promise<void> {
    this.pending = undefined;
    return this.inner.disconnect();
  }

  onPresence(listener: (present: boolean) => void): () => void {
    return this.inner.onPresence(listener);
  }

  async transmit(command: Uint8Array): Promise<Uint8Array> {
    const t0 = performance.now();
    const response = await this.inner.transmit(command);
    const micros = (performance.now() - t0) * 1000;
    this.transportExchanges++;
    this.fold(command, response, micros);
    return response;
  }

  private fold(command: Uint8Array, response: Uint8Array, micros: number): void {
    const sw = response.length >= 2 ? (response[response.length - 2] << 8) | response[response.length - 1] : 0;
    const data = response.subarray(0, Math.max(0, response.length - 2));
    const isContinuation = isGetResponse(command) && this.pending !== undefined;
    if (isContinuation || (this.pending?.chained ?? false)) {
      const p = this.pending!;
      if (!isContinuation) p.command = joinChained(p.command, command);
      p.chunks.push(data);
      p.micros += micros;
      p.chained = isChainedPart(command) && !isContinuation && sw === 0x9000;
    } else {
      // ISO 7816-4: a chain part answered other than 9000 ends the chain; the next part starts a new command.
      this.pending = { command, chunks: [data], micros, chained: isChainedPart(command) && sw === 0x9000 };
    }
    const p = this.pending!;
    // Still more to come: a chained command awaiting its last part, or 61xx bytes remaining.
    if (p.chained || sw >> 8 === 0x61) return;
    this.pending = undefined;
    this.exchanges++;
    // Only what carries key material or signatures is marked: the rest must repeat.
    const volatile = ["micros", ...volatileParts(p.command)];
    // The whole logical answer is masked at once: a management-key witness split by 61xx is whole again here.
    const masked = maskExchange(p.command, concatBytes(...p.chunks));
    this.bus?.emit(
      "apdu.exchange",
      {
        reader: this.name,
        command: toHex(masked.command).toUpperCase(),
        response: toHex(masked.response).toUpperCase() + swHex(sw),
        sw: swHex(sw),
        micros: Math.round(p.micros),
      },
      volatile,
    );
  }
}

/** The logical command: the first header (chaining bit cleared) with every part's data. */
function joinChained(first: Uint8Array, next: Uint8Array): Uint8Array {
  const head = Uint8Array.from(first.subarray(0, 4));
  head[0] &= ~CLA_CHAINING;
  const data = concatBytes(dataOf(first), dataOf(next));
  // Lc is informational here (the trace is never re-sent), so a short form is kept when it fits.
  const lc = data.length <= 255 ? Uint8Array.of(data.length) : Uint8Array.of(0, data.length >> 8, data.length & 0xff);
  return concatBytes(head, lc, data);
}

function isChainedPart(command: Uint8Array): boolean {
  return command.length >= 1 && (command[0] & CLA_CHAINING) !== 0;
}
