import { maskCommand, type EventBus } from "../../core/index.js";
import { emitExchange } from "./memory.js";
import type { Reader } from "./reader.js";

/** One recorded exchange; the command is already masked. */
export interface TraceEntry {
  command: Uint8Array;
  response: Uint8Array;
}

/**
 * Wraps any reader (memory, vpcd, PC/SC) and records every exchange, masked,
 * in memory and as `apdu.exchange` events when a bus is given.
 */
export class TracingReader implements Reader {
  readonly trace: TraceEntry[] = [];
  constructor(
    readonly inner: Reader,
    private readonly bus?: EventBus,
  ) {}

  get name(): string {
    return this.inner.name;
  }

  connect(): Promise<Uint8Array> {
    return this.inner.connect();
  }

  reset(): Promise<Uint8Array> {
    return this.inner.reset();
  }

  disconnect(): Promise<void> {
    return this.inner.disconnect();
  }

  onPresence(listener: (present: boolean) => void): () => void {
    return this.inner.onPresence(listener);
  }

  async transmit(command: Uint8Array): Promise<Uint8Array> {
    const t0 = performance.now();
    const response = await this.inner.transmit(command);
    const micros = Math.round((performance.now() - t0) * 1000);
    this.trace.push({ command: Uint8Array.from(maskCommand(command)), response: Uint8Array.from(response) });
    if (this.bus?.hasListeners) emitExchange(this.bus, this.name, command, response, micros);
    return response;
  }
}
