import { EventEmitter } from "node:events";
import { createRequire } from "node:module";
import { errorMessage } from "../../core/index.js";
import { ReaderError } from "./memory.js";

/**
 * The process's one libpcsclite context (through the `pcsclite` binding): the
 * reader list, waiting for a reader, and when it is safe to close. PcscReader
 * (pcsc.ts) is built on it.
 */

// The binding's own typings do not export the reader type; this is the part we use.
export interface NativeReader extends EventEmitter {
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
export const MAX_RESPONSE = 65538;

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
export class PcscContext extends EventEmitter {
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
