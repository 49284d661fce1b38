import { EventEmitter } from "node:events";
import net from "node:net";
import { CardloopError, errorMessage, swOnly, SW } from "../../core/index.js";
import type { Card } from "../card/index.js";

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

export class VpcdError extends CardloopError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("vpcd", message, options);
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

/** Splits a TCP byte stream into length-prefixed frames. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const frames: Buffer[] = [];
    while (this.buf.length >= 2) {
      const len = this.buf.readUInt16BE(0);
      if (this.buf.length < 2 + len) break;
      frames.push(this.buf.subarray(2, 2 + len));
      this.buf = this.buf.subarray(2 + len);
    }
    return frames;
  }
  reset(): void {
    this.buf = Buffer.alloc(0);
  }
}

export function encodeFrame(payload: Uint8Array): Buffer {
  if (payload.length > 0xffff) throw new VpcdError(`frame too long: ${payload.length} bytes`);
  const out = Buffer.allocUnsafe(2 + payload.length);
  out.writeUInt16BE(payload.length, 0);
  out.set(payload, 2);
  return out;
}

/**
 * Events: "inserted" (connected to vpcd), "removed" (connection gone),
 * "control" (code), "apdu" (command, response), "error" is never emitted:
 * connection failures are retried with backoff and reported as "retry" (error, delayMs).
 */
export class VpcdBridge extends EventEmitter {
  readonly host: string;
  readonly port: number;
  /** The unix socket dialled instead of host:port, if any. */
  readonly path: string | undefined;
  readonly stats: VpcdStats = { apdus: 0, controls: 0, connects: 0 };
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private card: Card | undefined;
  private atr: Uint8Array | undefined;
  private socket: net.Socket | undefined;
  private wanted = false;
  private backoffMs: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly decoder = new FrameDecoder();

  constructor(card: Card | undefined, opts: VpcdBridgeOptions = {}) {
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

  /** True while the card sits in the virtual reader (the connection is up). */
  get inserted(): boolean {
    return this.socket !== undefined && !this.socket.connecting && !this.socket.destroyed;
  }

  /**
   * Inserts the card (optionally a different one): connects to vpcd, retrying
   * with backoff until it succeeds or `remove()`/`close()` is called.
   * Resolves once connected.
   */
  insert(card?: Card): Promise<void> {
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
    if (this.card) this.card.powerOff();
  }

  /** Removes the card and returns it (for saving its state). */
  async close(): Promise<Card | undefined> {
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
    let connected = false;
    s.on("connect", () => {
      connected = true;
      this.stats.connects++;
      this.backoffMs = this.initialBackoffMs;
      // The ATR is what the card answers to vpcd's presence polls.
      this.atr = this.card!.powerOn();
      this.emit("inserted");
    });
    s.on("data", (chunk: Buffer) => {
      for (const frame of this.decoder.push(chunk)) this.onFrame(s, frame);
    });
    s.on("error", (err) => {
      if (!connected) this.emit("retry", err, this.backoffMs);
    });
    s.on("close", () => {
      if (this.socket === s) this.socket = undefined;
      if (connected) this.emit("removed");
      if (this.wanted) this.scheduleRetry();
    });
  }

  private scheduleRetry(): void {
    if (this.retryTimer || !this.wanted) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.maxBackoffMs);
    this.retryTimer = setTimeout(() => this.dial(), delay);
  }

  private onFrame(s: net.Socket, frame: Buffer): void {
    const card = this.card!;
    if (frame.length === 1) {
      this.stats.controls++;
      const code = frame[0];
      this.emit("control", code);
      switch (code) {
        case CTRL_OFF:
          card.powerOff();
          return;
        case CTRL_ON:
        case CTRL_RESET:
          this.atr = card.powerOn();
          return;
        case CTRL_ATR:
          s.write(encodeFrame(this.atr ?? (this.atr = card.powerOn())));
          return;
        default:
          return; // unknown control: vpcd expects no answer
      }
    }
    this.stats.apdus++;
    let response: Uint8Array;
    try {
      response = card.transmit(frame);
    } catch (err) {
      // The Card contract says never throw; if one does, the host still gets a status word.
      this.emit("card-error", new VpcdError(`card threw: ${errorMessage(err)}`, { cause: err }));
      response = swOnly(SW.UNKNOWN);
    }
    // vpcd treats an empty answer as a dead card; a status word is always due.
    if (response.length === 0) response = swOnly(SW.UNKNOWN);
    this.emit("apdu", frame, response);
    s.write(encodeFrame(response));
  }
}
