import { EventEmitter } from "node:events";
import { createRequire } from "node:module";
import { errorMessage, type EventBus } from "../../core/index.js";
import { ReaderError, emitExchange } from "./memory.js";
import type { Reader } from "./reader.js";

/**
 * A `Reader` over the real PC/SC stack (pcscd + libpcsclite) through the
 * `pcsclite` npm binding: any reader pcscd knows, including vpcd's virtual
 * ones. libpcsclite finds the daemon's socket through PCSCLITE_CSOCK_NAME
 * (read once per process), which is how tests talk to their private pcscd.
 */

// The binding's own typings do not export the reader type; this is the part we use.
interface NativeReader extends EventEmitter {
  name: string;
  connected: boolean;
  SCARD_SHARE_SHARED: number;
  SCARD_SHARE_EXCLUSIVE: number;
  SCARD_PROTOCOL_T0: number;
  SCARD_PROTOCOL_T1: number;
  SCARD_STATE_PRESENT: number;
  SCARD_STATE_EMPTY: number;
  SCARD_LEAVE_CARD: number;
  SCARD_RESET_CARD: number;
  SCARD_UNPOWER_CARD: number;
  connect(opts: { share_mode?: number; protocol?: number }, cb: (err: unknown, protocol: number) => void): void;
  disconnect(disposition: number, cb: (err: unknown) => void): void;
  transmit(data: Buffer, resLen: number, protocol: number, cb: (err: unknown, res: Buffer) => void): void;
  close(): void;
}
interface NativeContext extends EventEmitter {
  start(cb: (err: unknown, data: Buffer) => void): void;
  close(): void;
  readers: Record<string, NativeReader>;
}

/** How long an unused context stays open (reused by the next open). */
const LINGER_MS = 100;
/** Close only after this long without a status event: see PcscContext.release. */
const QUIET_MS = 250;
/** ... but close within this long of the last release whatever happens. */
const MAX_CLOSE_WAIT_MS = 3000;

/**
 * Whether releasing the last reader closes the native context. A CLI that
 * exits explicitly when its command is done turns this off: the process's exit
 * ends libpcsclite's threads, and the binding's close (which can block for
 * good, see PcscContext.release) is never called.
 */
let closeWhenUnused = true;
export function keepPcscContextUntilExit(): void {
  closeWhenUnused = false;
}

/** Largest response an APDU can have: 65536 data bytes and SW1SW2. */
const MAX_RESPONSE = 65538;

/** A PC/SC failure (no daemon, no such reader, no card, transmit error): a ReaderError. */
export class PcscError extends ReaderError {}

let loaded: (() => NativeContext) | undefined;
function loadBinding(): () => NativeContext {
  if (!loaded) {
    try {
      loaded = createRequire(import.meta.url)("pcsclite") as () => NativeContext;
    } catch (err) {
      throw new PcscError(`the pcsclite binding does not load (is libpcsclite installed?): ${errorMessage(err)}`, {
        cause: err,
      });
    }
  }
  return loaded;
}

/**
 * One libpcsclite context per process, shared by every PcscReader and released
 * when the last user closes (its monitoring threads would keep Node alive).
 */
class PcscContext extends EventEmitter {
  private static current: PcscContext | undefined;
  private users = 0;
  private listed = false;
  private closeTimer: NodeJS.Timeout | undefined;
  readonly readers = new Map<string, NativeReader>();
  /** Last status pcscd reported per reader (the binding keeps no ATR). */
  readonly status = new Map<string, { state: number; atr?: Uint8Array }>();
  private lastError: unknown;
  /** When a reader last reported a status (its thread then goes back into SCardGetStatusChange). */
  private lastStatusAt = 0;
  private readonly native: NativeContext;

  static acquire(): PcscContext {
    const ctx = (PcscContext.current ??= new PcscContext());
    if (ctx.closeTimer) {
      clearTimeout(ctx.closeTimer);
      ctx.closeTimer = undefined;
    }
    ctx.users++;
    return ctx;
  }

  private constructor() {
    super();
    this.setMaxListeners(0);
    let native: NativeContext;
    try {
      native = loadBinding()();
    } catch (err) {
      if (err instanceof PcscError) throw err;
      throw new PcscError(`cannot reach pcscd: ${errorMessage(err)}`, { cause: err });
    }
    this.native = native;
    // The binding lists readers from a thread and emits one "reader" per new
    // name; wrapping start() tells us when a listing is complete (even an empty one).
    const start = native.start.bind(native);
    native.start = (cb) =>
      start((err, data) => {
        cb(err, data);
        this.listed = true;
        this.emit("listed");
      });
    native.on("reader", (r: NativeReader) => {
      r.setMaxListeners(0);
      // Status errors (e.g. the reader vanished) must not crash the process.
      r.on("error", (e: unknown) => this.emit("reader-error", r.name, e));
      r.on("status", (st: { state: number; atr?: Buffer }) => {
        const present = (st.state & r.SCARD_STATE_PRESENT) !== 0;
        this.status.set(r.name, { state: st.state, atr: present && st.atr ? new Uint8Array(st.atr) : undefined });
        this.lastStatusAt = performance.now();
      });
      r.on("end", () => {
        this.readers.delete(r.name);
        this.status.delete(r.name);
        this.emit("reader-removed", r.name);
      });
      this.readers.set(r.name, r);
      this.emit("reader", r);
    });
    native.on("error", (e: unknown) => {
      this.lastError = e;
      this.emit("context-error", e);
    });
  }

  /** Resolves after the first complete reader listing. */
  ready(timeoutMs: number): Promise<void> {
    if (this.listed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        cleanup();
        reject(new PcscError(`pcscd did not list its readers within ${timeoutMs} ms${this.lastError ? `: ${errorMessage(this.lastError)}` : ""}`));
      }, timeoutMs);
      const onListed = () => {
        cleanup();
        resolve();
      };
      const onError = (e: unknown) => {
        cleanup();
        reject(new PcscError(`pcscd: ${errorMessage(e)}`, { cause: e }));
      };
      const cleanup = () => {
        clearTimeout(t);
        this.off("listed", onListed);
        this.off("context-error", onError);
      };
      this.on("listed", onListed);
      this.on("context-error", onError);
    });
  }

  async waitForReader(name: string, timeoutMs: number): Promise<NativeReader> {
    await this.ready(timeoutMs);
    const have = this.readers.get(name);
    if (have) return have;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.off("reader", onReader);
        const known = [...this.readers.keys()].map((n) => `"${n}"`).join(", ") || "none";
        reject(new PcscError(`no PC/SC reader named "${name}" (readers: ${known})`));
      }, timeoutMs);
      const onReader = (r: NativeReader) => {
        if (r.name !== name) return;
        clearTimeout(t);
        this.off("reader", onReader);
        resolve(r);
      };
      this.on("reader", onReader);
    });
  }

  /**
   * The binding's close() cancels each monitoring thread's blocking
   * SCardGetStatusChange, retrying for 50 ms, and then joins the thread on the
   * main thread. libpcsclite drops a cancel that lands while the thread is not
   * inside that call (it has just reported a change and is on its way back),
   * and then the join blocks the process for good. So the context lingers
   * after its last user (open/close cycles reuse it) and closes only once
   * every reader has reported its first status and no status has come for
   * QUIET_MS: each thread has long been back in the blocking call. A change
   * landing in the very moment of the close can still lose the race; the CLI
   * avoids it altogether (keepPcscContextUntilExit).
   */
  release(): void {
    if (--this.users > 0) return;
    if (!closeWhenUnused) return;
    this.closeTimer = setTimeout(() => void this.closeWhenQuiet(), LINGER_MS);
  }

  private async closeWhenQuiet(): Promise<void> {
    this.closeTimer = undefined;
    const deadline = performance.now() + MAX_CLOSE_WAIT_MS;
    while (performance.now() < deadline && !(this.settled() && performance.now() - this.lastStatusAt >= QUIET_MS)) {
      await new Promise((r) => setTimeout(r, 10));
    }
    if (this.users > 0 || this.closeTimer) return; // acquired again meanwhile
    PcscContext.current = undefined;
    for (const r of this.readers.values()) r.close();
    this.readers.clear();
    this.native.close();
  }

  private settled(): boolean {
    return this.listed && [...this.readers.keys()].every((n) => this.status.has(n));
  }
}

/** Names of the readers pcscd knows now. */
export async function listPcscReaders(opts: { timeoutMs?: number } = {}): Promise<string[]> {
  const ctx = PcscContext.acquire();
  try {
    await ctx.ready(opts.timeoutMs ?? 5000);
    return [...ctx.readers.keys()];
  } finally {
    ctx.release();
  }
}

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
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        off();
        reject(new PcscError(`${want ? "no card inserted in" : "card not removed from"} "${this.name}" within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.onPresence((p) => {
        if (p !== want) return;
        clearTimeout(t);
        off();
        resolve();
      });
    });
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
