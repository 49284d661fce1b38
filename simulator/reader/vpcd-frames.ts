import { CardloopError } from "../../core/index.js";

/** vpcd's wire: every frame, both ways, is a 2-byte big-endian length then the payload (vpcd.ts). */

export class VpcdError extends CardloopError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("vpcd", message, options);
  }
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
