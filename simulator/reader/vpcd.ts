import { EventEmitter } from "node:events";
import net from "node:net";
import { errorMessage, swOnly, SW } from "../../core/index.js";
import type { Card } from "../card/index.js";
import { FrameDecoder, VpcdError, encodeFrame } from "./vpcd-frames.js";

export { FrameDecoder, VpcdError, encodeFrame } from "./vpcd-frames.js";

/**
 * Attaches an emulated `Card` to vsmartcard's vpcd driver inside pcscd, so the
 * real PC/SC stack (and any middleware on it) sees it as a card in the reader
 * "Virtual PCD 00 00" (port 35963) or "... 00 01" (35964).
 *
 * vpcd is the TCP server; the card is the client. Every frame, both ways, is a
 * 2-byte big-endian length then the payload. A 1-byte payload from vpcd is a
 * control (a real APDU is at least 4 bytes): 0 power off, 1 power on, 2 reset,
 * 4 get ATR (the only control that is answered). Anything else is an APDU and
 * is answered with the card's response. A card is "inserted" while the TCP
 * connection is up; vpcd polls presence with GET ATR, so closing the
 * connection is a removal.
 *
 * The card may answer later than at once (`BridgedCard`: a card behind
 * another reader, relay-card.ts): frames are then handled strictly in the
 * order vpcd sent them, each after the previous one's answer; a card that
 * answers at once is served synchronously, as before.
 *
 * The endpoint may also be a unix socket (`unix:/path`): a relay that pipes
 * each connection to vpcd's TCP port, as the test harness runs inside pcscd's
 * private network namespace (harness/pcscd.ts); the frames are the same.
 */
export const VPCD_DEFAULT_HOST = "127.0.0.1";
export const VPCD_DEFAULT_PORT = 35963;

const CTRL_OFF = 0;
const CTRL_ON = 1;
const CTRL_RESET = 2;
const CTRL_ATR = 4;

export interface VpcdBridgeOptions {
  host?: string;
  port?: number;
  /** A unix socket relaying to vpcd; when given, host and port are not used. */
  path?: string;
  /** First reconnect delay; doubles on each failure up to `maxBackoffMs`. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface VpcdStats {
  apdus: number;
  controls: number;
  connects: number;
}

/**
 * A card as the bridge serves it: a `Card`, or one whose answers take time
 * (each method may return a promise). `reset`, when present, is a warm
 * reset (vpcd's reset control); without it a reset is a power-on.
 */
export interface BridgedCard {
  powerOn(): Uint8Array | Promise<Uint8Array>;
  transmit(command: Uint8Array): Uint8Array | Promise<Uint8Array>;
  powerOff(): void | Promise<void>;
  reset?(): Uint8Array | Promise<Uint8Array>;
}

/**
 * Thrown (or rejected with) by a bridged card's transmit or power-on to make
 * the card leave vpcd there and then, leaving the command unanswered: the
 * bridge closes the connection, so vpcd's host gets a transport error
 * (SCardTransmit: SCARD_E_NOT_TRANSACTED) and pcscd sees the card removed;
 * the card comes back after `pauseMs` (at least the bridge's backoff). What a
 * card behind a relay does when the real card goes, and what the remove,
 * drop and lose-answer faults do.
 */
export class CardWithdrawn extends VpcdError {
  constructor(
    message: string,
    readonly pauseMs = 0,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface VpcdTcpEndpoint {
  host: string;
  port: number;
}
export interface VpcdUnixEndpoint {
  path: string;
}
export type VpcdEndpoint = VpcdTcpEndpoint | VpcdUnixEndpoint;

/** "HOST:PORT", "HOST", ":PORT", "PORT" or "unix:PATH" -> endpoint with defaults filled in. */
export function parseVpcdEndpoint(spec: string | undefined): VpcdEndpoint {
  if (spec === undefined || spec === "" ) return { host: VPCD_DEFAULT_HOST, port: VPCD_DEFAULT_PORT };
  if (spec.startsWith("unix:")) {
    const path = spec.slice("unix:".length);
    if (path === "") throw new VpcdError(`bad vpcd endpoint "${spec}": unix: needs a socket path`);
    return { path };
  }
  let host = VPCD_DEFAULT_HOST;
  let portText: string | undefined;
  if (/^\d+$/.test(spec)) portText = spec;
  else {
    const i = spec.lastIndexOf(":");
    if (i < 0) host = spec;
    else {
      host = spec.slice(0, i) || VPCD_DEFAULT_HOST;
      portText = spec.slice(i + 1);
    }
  }
  const port = portText === undefined ? VPCD_DEFAULT_PORT : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new VpcdError(`bad vpcd endpoint "${spec}": the port must be 1..65535`);
  }
  return { host, port };
}

/** "HOST:PORT" or "unix:PATH", as parseVpcdEndpoint reads it. */
export function formatVpcdEndpoint(e: VpcdEndpoint): string {
  return "path" in e ? `unix:${e.path}` : `${e.host}:${e.port}`;
}

/**
 * The endpoint of vpcd's reader `index` when `e` is reader 0's: the next TCP
 * port(s), or for a unix socket the last number in its name counted up
 * (vpcd0.sock -> vpcd1.sock).
 */
export function vpcdEndpointAt(e: VpcdEndpoint, index: number): VpcdEndpoint {
  if (index === 0) return e;
  if (!("path" in e)) return { host: e.host, port: e.port + index };
  const m = /^(.*?)(\d+)(\D*)$/.exec(e.path);
  if (!m) throw new VpcdError(`vpcd endpoint unix:${e.path} has no reader number in its name (like vpcd0.sock), so reader ${index}'s socket is unknown`);
  return { path: `${m[1]}${Number(m[2]) + index}${m[3]}` };
}

/** What the card went through on a power control: for a trace's reader events. */
export type VpcdPowerEvent = "power-on" | "reset" | "power-off";

/** One connection to vpcd and the frames waiting for the card (in order). */
interface Session {
  socket: net.Socket;
  queue: Buffer[];
  /** A frame (or the insertion's power-on) is with a card that answers later. */
  busy: boolean;
  /** The card is powered and answering: set once the insertion's power-on returned. */
  ready: boolean;
}

const isPromise = <T>(v: T | Promise<T>): v is Promise<T> => typeof (v as { then?: unknown } | undefined)?.then === "function";

/**
 * Events: "inserted" (connected to vpcd, card powered; its ATR), "removed" (connection gone),
 * "control" (code), "power" (VpcdPowerEvent, ATR for power-on/reset) once the card
 * has been through it, "apdu" (command, response, micros), "withdrawn" (CardWithdrawn),
 * "card-error" (VpcdError). "error" is never emitted:
 * connection failures are retried with backoff and reported as "retry" (error, delayMs).
 */
export class VpcdBridge<C extends BridgedCard = Card> extends EventEmitter {
  readonly host: string;
  readonly port: number;
  /** The unix socket dialled instead of host:port, if any. */
  readonly path: string | undefined;
  readonly stats: VpcdStats = { apdus: 0, controls: 0, connects: 0 };
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private card: C | undefined;
  private atr: Uint8Array | undefined;
  private socket: net.Socket | undefined;
  private session: Session | undefined;
  /** A withdrawn card stays out at least this long before the next dial. */
  private pauseMs = 0;
  private wanted = false;
  private backoffMs: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly decoder = new FrameDecoder();

  constructor(card: C | undefined, opts: VpcdBridgeOptions = {}) {
    super();
    this.card = card;
    this.host = opts.host ?? VPCD_DEFAULT_HOST;
    this.port = opts.port ?? VPCD_DEFAULT_PORT;
    this.path = opts.path;
    this.initialBackoffMs = opts.initialBackoffMs ?? 50;
    this.maxBackoffMs = opts.maxBackoffMs ?? 2000;
    this.backoffMs = this.initialBackoffMs;
  }

  /** Where this bridge dials: "HOST:PORT" or "unix:PATH". */
  get endpoint(): string {
    return this.path !== undefined ? `unix:${this.path}` : `${this.host}:${this.port}`;
  }

  /** True while the card sits in the virtual reader (the connection is up and the card powered). */
  get inserted(): boolean {
    return this.socket !== undefined && !this.socket.connecting && !this.socket.destroyed && this.session?.ready === true;
  }

  /**
   * Inserts the card (optionally a different one): connects to vpcd, retrying
   * with backoff until it succeeds or `remove()`/`close()` is called.
   * Resolves once connected.
   */
  insert(card?: C): Promise<void> {
    if (card) {
      if (this.wanted) return Promise.reject(new VpcdError("a card is already inserted; remove it first"));
      this.card = card;
    }
    if (!this.card) return Promise.reject(new VpcdError("no card to insert"));
    if (this.inserted) return Promise.resolve();
    this.wanted = true;
    this.backoffMs = this.initialBackoffMs;
    const done = new Promise<void>((resolve, reject) => {
      const onInserted = () => {
        this.off("cancelled", onCancelled);
        resolve();
      };
      const onCancelled = () => {
        this.off("inserted", onInserted);
        reject(new VpcdError("insertion cancelled"));
      };
      this.once("inserted", onInserted);
      this.once("cancelled", onCancelled);
    });
    if (!this.socket && !this.retryTimer) this.dial();
    return done;
  }

  /** Removes the card: powers it off and closes the connection; no reconnect. */
  async remove(): Promise<void> {
    const wasWanted = this.wanted;
    this.wanted = false;
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    if (wasWanted) this.emit("cancelled");
    const s = this.socket;
    if (s && !s.destroyed) {
      await new Promise<void>((resolve) => {
        s.once("close", () => resolve());
        s.end();
        // A peer that never acknowledges the FIN must not hold us up.
        setTimeout(() => s.destroy(), 1000).unref();
      });
    }
    this.socket = undefined;
    this.session = undefined;
    if (this.card) {
      try {
        await this.card.powerOff();
      } catch (err) {
        this.emit("card-error", new VpcdError(`card power-off failed: ${errorMessage(err)}`, { cause: err }));
      }
    }
  }

  /** Removes the card and returns it (for saving its state). */
  async close(): Promise<C | undefined> {
    await this.remove();
    return this.card;
  }

  private dial(): void {
    this.retryTimer = undefined;
    if (!this.wanted) return;
    const s = this.path !== undefined ? net.connect({ path: this.path }) : net.connect({ host: this.host, port: this.port });
    if (this.path === undefined) s.setNoDelay(true); // TCP: each response is one write; no reason to wait for more
    this.socket = s;
    this.decoder.reset();
    const session: Session = { socket: s, queue: [], busy: false, ready: false };
    this.session = session;
    let connected = false;
    s.on("connect", () => {
      connected = true;
      this.stats.connects++;
      // The ATR is what the card answers to vpcd's presence polls; frames wait for it.
      this.step(session, () => this.insertion(session));
    });
    s.on("data", (chunk: Buffer) => {
      for (const frame of this.decoder.push(chunk)) {
        if (session.busy || !session.ready) session.queue.push(frame);
        else this.step(session, () => this.onFrame(session, frame));
      }
    });
    s.on("error", (err) => {
      if (!connected) this.emit("retry", err, this.backoffMs);
    });
    s.on("close", () => {
      if (this.socket === s) this.socket = undefined;
      if (this.session === session) this.session = undefined;
      session.queue.length = 0;
      if (session.ready) this.emit("removed");
      if (this.wanted) this.scheduleRetry();
    });
  }

  /** Powers the card for a new connection; the card counts as inserted once it answered. */
  private insertion(session: Session): void | Promise<void> {
    const done = (atr: Uint8Array) => {
      this.atr = atr;
      this.backoffMs = this.initialBackoffMs;
      session.ready = true;
      this.emit("inserted", atr);
    };
    let atr: Uint8Array | Promise<Uint8Array>;
    try {
      atr = this.card!.powerOn();
    } catch (err) {
      return this.failed(session, err);
    }
    if (!isPromise(atr)) return done(atr);
    return atr.then(done, (err) => this.failed(session, err));
  }

  /**
   * Runs one piece of work on a session; work that returns a promise holds
   * the session's later frames until it settles, then they run in order.
   */
  private step(session: Session, work: () => void | Promise<void>): void {
    for (let next: (() => void | Promise<void>) | undefined = work; next; ) {
      if (this.session !== session) return;
      const pending = next();
      next = undefined;
      if (pending !== undefined) {
        session.busy = true;
        const onDone = () => {
          session.busy = false;
          const frame = session.queue.shift();
          if (frame !== undefined && session.ready) this.step(session, () => this.onFrame(session, frame));
        };
        // A listener ("inserted", "apdu", "power") that throws inside the async path must not become an
        // unhandled rejection (Node ends the process) nor leave the session busy for good: the card is
        // taken out of vpcd as for any card failure, and the bridge dials again.
        pending.then(onDone, (err: unknown) => {
          session.busy = false;
          this.failed(session, err);
        });
        return;
      }
      const frame = session.ready ? session.queue.shift() : undefined;
      if (frame !== undefined) next = () => this.onFrame(session, frame);
    }
  }

  /** The card left (CardWithdrawn) or could not be powered: the connection goes, unanswered. */
  private failed(session: Session, err: unknown): void {
    if (err instanceof CardWithdrawn) {
      this.pauseMs = Math.max(this.pauseMs, err.pauseMs);
      this.emit("withdrawn", err);
    } else {
      this.emit("card-error", new VpcdError(`card failed, taken out of vpcd: ${errorMessage(err)}`, { cause: err }));
    }
    session.queue.length = 0;
    // Destroyed, not ended: vpcd must see the card gone now, not after the peer acknowledges.
    session.socket.destroy();
  }

  private scheduleRetry(): void {
    if (this.retryTimer || !this.wanted) return;
    const delay = Math.max(this.backoffMs, this.pauseMs);
    this.pauseMs = 0;
    this.backoffMs = Math.min(this.backoffMs * 2, this.maxBackoffMs);
    this.retryTimer = setTimeout(() => this.dial(), delay);
  }

  private onFrame(session: Session, frame: Buffer): void | Promise<void> {
    const card = this.card!;
    const s = session.socket;
    if (frame.length === 1) {
      this.stats.controls++;
      const code = frame[0];
      this.emit("control", code);
      switch (code) {
        case CTRL_OFF:
          return this.power(session, "power-off", () => card.powerOff());
        case CTRL_ON:
          return this.power(session, "power-on", () => card.powerOn());
        case CTRL_RESET:
          return this.power(session, "reset", () => (card.reset ? card.reset() : card.powerOn()));
        case CTRL_ATR: {
          if (this.atr !== undefined) {
            s.write(encodeFrame(this.atr));
            return;
          }
          return this.power(session, "power-on", () => card.powerOn(), () => s.write(encodeFrame(this.atr!)));
        }
        default:
          return; // unknown control: vpcd expects no answer
      }
    }
    this.stats.apdus++;
    const t0 = performance.now();
    let response: Uint8Array | Promise<Uint8Array>;
    try {
      response = card.transmit(frame);
    } catch (err) {
      if (err instanceof CardWithdrawn) return this.failed(session, err);
      response = this.cardThrew(err);
    }
    if (!isPromise(response)) return this.answer(session, frame, response, t0);
    return response.then(
      (r) => this.answer(session, frame, r, t0),
      (err) => (err instanceof CardWithdrawn ? this.failed(session, err) : this.answer(session, frame, this.cardThrew(err), t0)),
    );
  }

  private cardThrew(err: unknown): Uint8Array {
    // The Card contract says never throw; if one does, the host still gets a status word.
    this.emit("card-error", new VpcdError(`card threw: ${errorMessage(err)}`, { cause: err }));
    return swOnly(SW.UNKNOWN);
  }

  private answer(session: Session, frame: Buffer, response: Uint8Array, t0: number): void {
    if (this.session !== session || session.socket.destroyed) return;
    // vpcd treats an empty answer as a dead card; a status word is always due.
    if (response.length === 0) response = swOnly(SW.UNKNOWN);
    this.emit("apdu", frame, response, Math.round((performance.now() - t0) * 1000));
    session.socket.write(encodeFrame(response));
  }

  /** A power control: the card goes through it, then "power" is emitted (and `then` runs). */
  private power(session: Session, what: VpcdPowerEvent, act: () => Uint8Array | void | Promise<Uint8Array | void>, then?: () => void): void | Promise<void> {
    const done = (atr: Uint8Array | void) => {
      if (atr instanceof Uint8Array) this.atr = atr;
      this.emit("power", what, atr instanceof Uint8Array ? atr : undefined);
      then?.();
    };
    let out: Uint8Array | void | Promise<Uint8Array | void>;
    try {
      out = act();
    } catch (err) {
      return this.failed(session, err);
    }
    if (!isPromise(out)) return done(out);
    return out.then(done, (err) => this.failed(session, err));
  }
}
