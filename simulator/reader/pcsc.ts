import { EventEmitter } from "node:events";
import { errorMessage, type EventBus } from "../../core/index.js";
import { emitExchange } from "./memory.js";
import { MAX_RESPONSE, PcscContext, PcscError, type NativeReader } from "./pcsc-context.js";
import { waitPresence } from "./presence.js";
import type { Reader } from "./reader.js";

export type PcscProtocol = "T0" | "T1";
export type Disposition = "leave" | "reset" | "unpower";

export interface PcscReaderOptions {
  /** Protocols offered to SCardConnect; pcscd picks one the card supports. Default both. */
  protocols?: PcscProtocol[];
  share?: "shared" | "exclusive";
  /** What disconnect() does to the card. Default "unpower" (a fresh state next time). */
  disposition?: Disposition;
  /** How long open() waits for the reader to appear. */
  timeoutMs?: number;
  /** When given (and listened to), each exchange becomes an `apdu.exchange` event, secrets masked. */
  bus?: EventBus;
}

/**
 * A `Reader` over the real PC/SC stack (pcscd + libpcsclite) through the
 * `pcsclite` npm binding: any reader pcscd knows, including vpcd's virtual
 * ones. libpcsclite finds the daemon's socket through PCSCLITE_CSOCK_NAME
 * (read once per process), which is how tests talk to their private pcscd.
 */
export class PcscReader implements Reader {
  readonly name: string;
  private ctx: PcscContext | undefined;
  private readonly native: NativeReader;
  private readonly opts: Required<Omit<PcscReaderOptions, "timeoutMs" | "bus">>;
  private readonly bus: EventBus | undefined;
  private state = 0;
  /** Whether pcscd has reported this reader's state yet (until then `present` is a guess). */
  private stateKnown = false;
  private atr: Uint8Array | undefined;
  private proto: number | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly presence = new EventEmitter();
  private readonly onStatus: (s: { state: number; atr?: Buffer }) => void;

  /** Finds the reader (waiting up to `timeoutMs` for pcscd to list it). */
  static async open(name: string, opts: PcscReaderOptions = {}): Promise<PcscReader> {
    const ctx = PcscContext.acquire();
    try {
      const native = await ctx.waitForReader(name, opts.timeoutMs ?? 5000);
      return new PcscReader(ctx, native, opts);
    } catch (err) {
      ctx.release();
      throw err;
    }
  }

  private constructor(ctx: PcscContext, native: NativeReader, opts: PcscReaderOptions) {
    this.ctx = ctx;
    this.native = native;
    this.name = native.name;
    this.opts = {
      protocols: opts.protocols ?? ["T0", "T1"],
      share: opts.share ?? "shared",
      disposition: opts.disposition ?? "unpower",
    };
    this.bus = opts.bus;
    this.presence.setMaxListeners(0);
    const initial = ctx.status.get(this.name);
    this.state = initial?.state ?? 0;
    this.stateKnown = initial !== undefined;
    this.atr = initial?.atr;
    this.onStatus = (s) => {
      const was = this.present;
      this.state = s.state;
      if (!this.stateKnown) {
        this.stateKnown = true;
        this.presence.emit("known");
      }
      const now = this.present;
      this.atr = now && s.atr && s.atr.length > 0 ? new Uint8Array(s.atr) : now ? this.atr : undefined;
      if (now !== was) this.presence.emit("presence", now);
    };
    native.on("status", this.onStatus);
  }

  /** Whether pcscd last reported a card in this reader. */
  get present(): boolean {
    return (this.state & this.native.SCARD_STATE_PRESENT) !== 0;
  }

  /** The protocol negotiated by the last connect, if connected. */
  get protocol(): PcscProtocol | undefined {
    if (this.proto === undefined) return undefined;
    return this.proto === this.native.SCARD_PROTOCOL_T0 ? "T0" : "T1";
  }

  /** The ATR pcscd reported for the card now in the reader. */
  get lastAtr(): Uint8Array | undefined {
    return this.present ? this.atr : undefined;
  }

  /**
   * Resolves once pcscd has reported whether a card is in the reader. Right
   * after open() on a fresh context the first status may still be on its way,
   * and `present` would say "empty" for a reader that holds a card.
   */
  waitForState(timeoutMs = 5000): Promise<void> {
    if (this.stateKnown) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.presence.off("known", onKnown);
        reject(new PcscError(`pcscd reported no state for "${this.name}" within ${timeoutMs} ms`));
      }, timeoutMs);
      const onKnown = () => {
        clearTimeout(t);
        resolve();
      };
      this.presence.once("known", onKnown);
    });
  }

  /** Resolves when a card is present (at once if one is), with its ATR. */
  waitForCard(timeoutMs = 10000): Promise<Uint8Array> {
    return this.waitForPresence(true, timeoutMs).then(() => this.waitForAtr(timeoutMs));
  }

  /** Resolves when the reader is empty. */
  waitForRemoval(timeoutMs = 10000): Promise<void> {
    return this.waitForPresence(false, timeoutMs);
  }

  private waitForPresence(want: boolean, timeoutMs: number): Promise<void> {
    if (this.present === want) return Promise.resolve();
    return waitPresence(this, want, timeoutMs, () => new PcscError(`${want ? "no card inserted in" : "card not removed from"} "${this.name}" within ${timeoutMs} ms`));
  }

  private async waitForAtr(timeoutMs: number): Promise<Uint8Array> {
    // pcscd reports presence and ATR in one status event, but keep it robust.
    const step = 10;
    for (let waited = 0; !this.atr && waited < timeoutMs; waited += step) {
      await new Promise((r) => setTimeout(r, step));
    }
    if (!this.atr) throw new PcscError(`no ATR reported for the card in "${this.name}"`);
    return this.atr;
  }

  connect(): Promise<Uint8Array> {
    return this.serialise(async () => {
      // A handle left over from a removed card must go before a new connect.
      if (this.native.connected) await this.nativeDisconnect(this.native.SCARD_LEAVE_CARD).catch(() => undefined);
      this.proto = await this.nativeConnect();
      return this.waitForAtr(1000);
    });
  }

  transmit(command: Uint8Array): Promise<Uint8Array> {
    const bus = this.bus;
    if (bus === undefined || !bus.hasListeners) return this.serialise(() => this.rawTransmit(command));
    return this.serialise(async () => {
      const t0 = performance.now();
      const response = await this.rawTransmit(command);
      emitExchange(bus, this.name, command, response, Math.round((performance.now() - t0) * 1000));
      return response;
    });
  }

  /** Warm reset: the card is reset and reconnected; returns its ATR. */
  reset(): Promise<Uint8Array> {
    return this.serialise(async () => {
      if (this.native.connected) await this.nativeDisconnect(this.native.SCARD_RESET_CARD);
      this.proto = await this.nativeConnect();
      return this.waitForAtr(1000);
    });
  }

  disconnect(): Promise<void> {
    return this.serialise(async () => {
      this.proto = undefined;
      if (!this.native.connected) return;
      const d = this.opts.disposition;
      const n = this.native;
      await this.nativeDisconnect(d === "leave" ? n.SCARD_LEAVE_CARD : d === "reset" ? n.SCARD_RESET_CARD : n.SCARD_UNPOWER_CARD);
    });
  }

  onPresence(listener: (present: boolean) => void): () => void {
    this.presence.on("presence", listener);
    return () => this.presence.off("presence", listener);
  }

  /** Disconnects (if connected) and lets go of the PC/SC context. */
  async close(): Promise<void> {
    if (!this.ctx) return;
    try {
      await this.disconnect();
    } catch {
      // the card may already be gone; closing must still release the context
    }
    this.native.off("status", this.onStatus);
    const ctx = this.ctx;
    this.ctx = undefined;
    ctx.release();
  }

  private serialise<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.ctx) return Promise.reject(new PcscError(`reader "${this.name}" is closed`));
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private rawTransmit(command: Uint8Array): Promise<Uint8Array> {
    if (this.proto === undefined || !this.native.connected) {
      return Promise.reject(new PcscError(`not connected to a card in "${this.name}"`));
    }
    const proto = this.proto;
    return new Promise((resolve, reject) => {
      this.native.transmit(Buffer.from(command.buffer, command.byteOffset, command.byteLength), MAX_RESPONSE, proto, (err, res) => {
        if (err) reject(new PcscError(`transmit on "${this.name}": ${errorMessage(err)}`, { cause: err }));
        else resolve(new Uint8Array(res.buffer, res.byteOffset, res.byteLength));
      });
    });
  }

  private nativeConnect(): Promise<number> {
    const n = this.native;
    let protocol = 0;
    for (const p of this.opts.protocols) protocol |= p === "T0" ? n.SCARD_PROTOCOL_T0 : n.SCARD_PROTOCOL_T1;
    const share_mode = this.opts.share === "exclusive" ? n.SCARD_SHARE_EXCLUSIVE : n.SCARD_SHARE_SHARED;
    return new Promise((resolve, reject) => {
      n.connect({ share_mode, protocol }, (err, proto) => {
        if (err) reject(new PcscError(`connect to "${this.name}": ${errorMessage(err)}`, { cause: err }));
        else resolve(proto);
      });
    });
  }

  private nativeDisconnect(disposition: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.native.disconnect(disposition, (err) => {
        if (err) reject(new PcscError(`disconnect from "${this.name}": ${errorMessage(err)}`, { cause: err }));
        else resolve();
      });
    });
  }
}
