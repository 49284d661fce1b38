/** A command APDU as the card OS hands it to an applet. */
export interface Command {
  cla: number;
  ins: number;
  p1: number;
  p2: number;
  /** Command data; for the last part of a chain, every part joined. */
  data: Uint8Array;
  /** Expected response length (256 for a short 00, 65536 for an extended 0000); undefined when absent. */
  le: number | undefined;
  /** True when this command dropped an unfinished chain of another command header. */
  interruptsChain: boolean;
}

const EMPTY = new Uint8Array(0);

/**
 * Parses a command APDU (ISO 7816-4, 5.1: short and extended, cases 1-4)
 * without copying its data: undefined when the length bytes do not match the
 * command's size (the card answers 6700). The caller has checked n >= 4.
 */
export function parseCommand(b: Uint8Array): Command | undefined {
  const n = b.length;
  if (n === 4) return command(b, EMPTY, undefined);
  const b4 = b[4];
  if (n === 5) return command(b, EMPTY, b4 === 0 ? 256 : b4);
  if (b4 !== 0) {
    if (n === 5 + b4) return command(b, b.subarray(5), undefined);
    if (n === 6 + b4) return command(b, b.subarray(5, 5 + b4), b[5 + b4] === 0 ? 256 : b[5 + b4]);
    return undefined;
  }
  if (n === 7) {
    const le = (b[5] << 8) | b[6];
    return command(b, EMPTY, le === 0 ? 65536 : le);
  }
  if (n < 7) return undefined;
  const lc = (b[5] << 8) | b[6];
  if (lc === 0) return undefined;
  if (n === 7 + lc) return command(b, b.subarray(7), undefined);
  if (n === 9 + lc) {
    const le = (b[7 + lc] << 8) | b[8 + lc];
    return command(b, b.subarray(7, 7 + lc), le === 0 ? 65536 : le);
  }
  return undefined;
}

function command(b: Uint8Array, data: Uint8Array, le: number | undefined): Command {
  return { cla: b[0], ins: b[1], p1: b[2], p2: b[3], data, le, interruptsChain: false };
}
