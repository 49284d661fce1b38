import { FormatError } from "./errors.js";

/**
 * ISO/IEC 7816-4 command APDU. `le` is the number of bytes expected
 * (1..256 short, 1..65536 extended) or undefined when none is expected.
 */
export interface CommandApdu {
  cla: number;
  ins: number;
  p1: number;
  p2: number;
  data: Uint8Array;
  le?: number;
  /** Force extended length encoding even when short would do. */
  extended?: boolean;
}

export interface ResponseApdu {
  data: Uint8Array;
  sw: number;
}

/** Bit 5 of CLA (0x10): more commands of this chain follow. */
export const CLA_CHAINING = 0x10;

export const SW = {
  OK: 0x9000,
  WRONG_LENGTH: 0x6700,
  SECURITY_NOT_SATISFIED: 0x6982,
  AUTH_BLOCKED: 0x6983,
  CONDITIONS_NOT_SATISFIED: 0x6985,
  COMMAND_NOT_ALLOWED: 0x6986,
  WRONG_DATA: 0x6a80,
  FUNC_NOT_SUPPORTED: 0x6a81,
  FILE_NOT_FOUND: 0x6a82,
  NOT_ENOUGH_MEMORY: 0x6a84,
  INCORRECT_P1P2: 0x6a86,
  REF_DATA_NOT_FOUND: 0x6a88,
  INS_NOT_SUPPORTED: 0x6d00,
  CLA_NOT_SUPPORTED: 0x6e00,
  LAST_CMD_EXPECTED: 0x6883,
  CHAINING_NOT_SUPPORTED: 0x6884,
  UNKNOWN: 0x6f00,
} as const;

/** Which ISO case a command is: 1 (header), 2 (Le), 3 (Lc data), 4 (both). */
export function apduCase(cmd: CommandApdu): 1 | 2 | 3 | 4 {
  const hasData = cmd.data.length > 0;
  const hasLe = cmd.le !== undefined;
  return hasData ? (hasLe ? 4 : 3) : hasLe ? 2 : 1;
}

export function needsExtended(cmd: CommandApdu): boolean {
  return cmd.extended === true || cmd.data.length > 255 || (cmd.le !== undefined && cmd.le > 256);
}

export function encodeCommand(cmd: CommandApdu): Uint8Array {
  checkByte("CLA", cmd.cla);
  checkByte("INS", cmd.ins);
  checkByte("P1", cmd.p1);
  checkByte("P2", cmd.p2);
  const lc = cmd.data.length;
  if (lc > 65535) throw new RangeError(`command data too long: ${lc} bytes (max 65535)`);
  if (cmd.le !== undefined && (!Number.isInteger(cmd.le) || cmd.le < 1 || cmd.le > 65536)) {
    throw new RangeError(`Le out of range: ${cmd.le} (1..65536)`);
  }
  // Case 1 has no length field, so it has no extended form (a lone 00 would read as case 2, Le=256).
  const ext = needsExtended(cmd) && (lc > 0 || cmd.le !== undefined);
  const out: number[] = [cmd.cla, cmd.ins, cmd.p1, cmd.p2];
  if (!ext) {
    if (lc > 0) out.push(lc);
    const head = Uint8Array.from(out);
    const le = cmd.le === undefined ? [] : [cmd.le === 256 ? 0 : cmd.le];
    const res = new Uint8Array(head.length + lc + le.length);
    res.set(head, 0);
    res.set(cmd.data, head.length);
    res.set(le, head.length + lc);
    return res;
  }
  out.push(0);
  if (lc > 0) out.push(lc >> 8, lc & 0xff);
  const le =
    cmd.le === undefined ? [] : cmd.le === 65536 ? [0, 0] : [cmd.le >> 8, cmd.le & 0xff];
  // Case 2 extended is 00 Le1 Le2 after the header; case 4 extended is Lc(3) data Le(2).
  const res = new Uint8Array(out.length + lc + le.length);
  res.set(out, 0);
  res.set(cmd.data, out.length);
  res.set(le, out.length + lc);
  return res;
}

const EMPTY = new Uint8Array(0);

/**
 * Decodes a command APDU (ISO 7816-4, 5.1: cases 1-4, short and extended)
 * without copying its data; undefined when the length bytes do not match the
 * command's size. This is the card's per-APDU path, so it neither throws nor
 * builds a message: every result has one shape (`le` and `extended` always
 * present) so the code that reads it stays monomorphic.
 */
export function tryDecodeCommand(b: Uint8Array): CommandApdu | undefined {
  const n = b.length;
  // Shorter than the header needs no test of its own (one compare less per
  // APDU, measurable here): b[4] is then undefined, and every length
  // comparison below is false, so it ends in `return undefined`.
  if (n === 4) return decoded(b, EMPTY, undefined, false);
  const b4 = b[4];
  if (n === 5) return decoded(b, EMPTY, b4 === 0 ? 256 : b4, false);
  if (b4 !== 0) {
    // short: case 3 (5+Lc) or case 4 (5+Lc+1)
    if (n === 5 + b4) return decoded(b, b.subarray(5), undefined, false);
    if (n === 6 + b4) return decoded(b, b.subarray(5, 5 + b4), b[5 + b4] === 0 ? 256 : b[5 + b4], false);
    return undefined;
  }
  // b4 === 0 and n >= 6: extended
  if (n === 7) {
    const le = (b[5] << 8) | b[6];
    return decoded(b, EMPTY, le === 0 ? 65536 : le, true);
  }
  if (n < 7) return undefined;
  const lc = (b[5] << 8) | b[6];
  if (lc === 0) return undefined;
  if (n === 7 + lc) return decoded(b, b.subarray(7), undefined, true);
  if (n === 9 + lc) {
    const le = (b[7 + lc] << 8) | b[8 + lc];
    return decoded(b, b.subarray(7, 7 + lc), le === 0 ? 65536 : le, true);
  }
  return undefined;
}

function decoded(b: Uint8Array, data: Uint8Array, le: number | undefined, extended: boolean): CommandApdu {
  return { cla: b[0], ins: b[1], p1: b[2], p2: b[3], data, le, extended };
}

/** Decodes a command APDU; throws FormatError("apdu") on a malformed length structure. */
export function decodeCommand(bytes: Uint8Array): CommandApdu {
  const cmd = tryDecodeCommand(bytes);
  if (cmd === undefined) throw new FormatError("apdu", malformation(bytes));
  return cmd;
}

/** Why `tryDecodeCommand` refused these bytes (only asked once it has). */
function malformation(b: Uint8Array): string {
  const n = b.length;
  if (n < 4) return `command shorter than its 4-byte header (${n} bytes)`;
  if (b[4] !== 0) return `Lc=${b[4]} does not match the ${n - 5} bytes after the header`;
  if (n < 7) return "truncated extended length";
  const lc = (b[5] << 8) | b[6];
  if (lc === 0) return "extended Lc of zero";
  return `extended Lc=${lc} does not match the ${n - 7} bytes after it`;
}

export function encodeResponse(res: ResponseApdu): Uint8Array {
  return responseWithSw(res.data, res.sw);
}

/** `encodeResponse` without a ResponseApdu to build: the card answers every APDU through it. */
export function responseWithSw(data: Uint8Array, sw: number): Uint8Array {
  const out = new Uint8Array(data.length + 2);
  out.set(data, 0);
  out[data.length] = sw >> 8;
  out[data.length + 1] = sw & 0xff;
  return out;
}

export function decodeResponse(bytes: Uint8Array): ResponseApdu {
  if (bytes.length < 2) throw new FormatError("apdu", `response shorter than SW1SW2 (${bytes.length} bytes)`);
  const n = bytes.length;
  return { data: bytes.subarray(0, n - 2), sw: (bytes[n - 2] << 8) | bytes[n - 1] };
}

/** Status-word only response, e.g. sw(0x6A82). */
export function swOnly(sw: number): Uint8Array {
  return Uint8Array.of(sw >> 8, sw & 0xff);
}

export function swHex(sw: number): string {
  return sw.toString(16).toUpperCase().padStart(4, "0");
}

/** INS codes whose command data carries a PIN, PUK or key: masked before any log. */
const SECRET_DATA_INS = new Set([
  0x20, // VERIFY
  0x24, // CHANGE REFERENCE DATA
  0x2c, // RESET RETRY COUNTER
  0xfe, // IMPORT ASYMMETRIC KEY (Yubico extension)
  0xff, // SET MANAGEMENT KEY (Yubico extension)
]);

/** Whether this instruction's command data is a secret (PIN, PUK, key): maskCommand hides it, and a reader of a trace knows it is masked. */
export function isSecretDataIns(ins: number): boolean {
  return SECRET_DATA_INS.has(ins);
}

/** ISO/IEC 7816-4, 5.6, as PIV uses the status words; the ranges (61xx, 6Cxx, 63Cx, ...) are in swMeaning. */
const SW_MEANING: ReadonlyMap<number, string> = new Map([
  [0x9000, "success"],
  [0x6281, "part of the data may be corrupted"],
  [0x6282, "end of data reached before Le bytes"],
  [0x6283, "selected file deactivated"],
  [0x6300, "verification failed"],
  [0x6581, "memory failure"],
  [0x6700, "wrong length"],
  [0x6800, "functions in CLA not supported"],
  [0x6881, "logical channel not supported"],
  [0x6882, "secure messaging not supported"],
  [0x6883, "last command of the chain expected"],
  [0x6884, "command chaining not supported"],
  [0x6981, "command incompatible with file structure"],
  [0x6982, "security status not satisfied"],
  [0x6983, "authentication method blocked"],
  [0x6984, "reference data not usable"],
  [0x6985, "conditions of use not satisfied"],
  [0x6986, "command not allowed"],
  [0x6987, "expected secure messaging data objects missing"],
  [0x6988, "incorrect secure messaging data objects"],
  [0x6a80, "incorrect data"],
  [0x6a81, "function not supported"],
  [0x6a82, "data object or application not found"],
  [0x6a84, "not enough memory"],
  [0x6a85, "Nc inconsistent with TLV structure"],
  [0x6a86, "incorrect P1/P2"],
  [0x6a87, "Nc inconsistent with P1/P2"],
  [0x6a88, "referenced data not found"],
  [0x6b00, "wrong parameters P1/P2"],
  [0x6d00, "instruction not supported"],
  [0x6e00, "class not supported"],
  [0x6f00, "no precise diagnosis"],
]);

/**
 * What a status word means, in a few words: the one table the terminal's
 * errors and the dashboard's trace both speak from.
 */
export function swMeaning(sw: number): string {
  const known = SW_MEANING.get(sw);
  if (known !== undefined) return known;
  const sw1 = sw >> 8;
  const low = sw & 0xff;
  if (sw1 === 0x61) return `success, ${low === 0 ? 256 : low} more bytes to GET RESPONSE`;
  if (sw1 === 0x6c) return `wrong Le: ${low === 0 ? 256 : low} bytes available`;
  if ((sw & 0xfff0) === 0x63c0) return `verification failed, ${sw & 0x0f} tries left`;
  if (sw1 === 0x62 || sw1 === 0x63) return "warning";
  if (sw1 === 0x64 || sw1 === 0x65) return "execution error";
  return "unknown status";
}

/**
 * A copy of the command with secret-bearing data replaced by 0xFF bytes of the
 * same length (the length is not secret, and keeps the trace's structure).
 */
export function maskCommand(bytes: Uint8Array): Uint8Array {
  if (bytes.length <= 5 || !isSecretDataIns(bytes[1])) return bytes;
  const out = Uint8Array.from(bytes);
  const cmd = tryDecodeCommand(bytes);
  if (cmd === undefined) {
    // Lengths that do not add up: the card will answer 6700, but the bytes may
    // still be a mistyped PIN. Hide everything after the header.
    out.fill(0xff, 5);
    return out;
  }
  if (cmd.data.length === 0) return out;
  const start = cmd.data.byteOffset - bytes.byteOffset;
  out.fill(0xff, start, start + cmd.data.length);
  return out;
}

function checkByte(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 255) throw new RangeError(`${name} must be a byte (got ${v})`);
}
