import { INS_NAMES, isSecretDataIns, swMeaning, tryDecodeCommand } from "./browser-safe.js";

/**
 * One logged APDU exchange as a person reads it: the instruction's name, the
 * status word and what it means (ISO/IEC 7816-4, 5.6, and PIV's use of it),
 * and the data as the run log holds it (PINs and keys already masked there:
 * the page shows what it was given, it never unmasks or guesses).
 */

export interface DecodedExchange {
  ins: string;
  insName: string;
  header: string;
  /** Command data, hex, as logged. */
  data: string;
  le?: number;
  /** Response data without the status word, hex. */
  responseData: string;
  sw: string;
  swMeaning: string;
  ok: boolean;
  micros?: number;
  /** The command data is masked in the log (all FF), as VERIFY, CHANGE REFERENCE DATA and RESET RETRY COUNTER's are. */
  masked: boolean;
}

/** The meaning of a status word as the log writes it (4 hex digits): core's one table, which the terminal's errors use too. */
export function swText(sw: string): string {
  return /^[0-9A-F]{4}$/i.test(sw) ? swMeaning(parseInt(sw, 16)) : "unknown status";
}

/**
 * The instruction's name for its byte as logged ("A4"): core's one table (core/instructions.ts) through the
 * reports' INS_NAMES, so the page names an instruction as the report files do; a vendor's, or one the table
 * does not know, is "INS XX".
 */
export function insName(ins: string): string {
  const i = ins.toUpperCase();
  return INS_NAMES[i] ?? `INS ${i}`;
}

export function decodeExchange(x: { command?: unknown; response?: unknown; sw?: unknown; micros?: unknown }): DecodedExchange {
  const command = typeof x.command === "string" ? x.command.toUpperCase() : "";
  const response = typeof x.response === "string" ? x.response.toUpperCase() : "";
  const sw = typeof x.sw === "string" && x.sw !== "" ? x.sw.toUpperCase() : response.slice(-4);
  const ins = command.slice(2, 4) || "??";
  const bytes = hexBytes(command);
  const cmd = bytes ? tryDecodeCommand(bytes) : undefined;
  const data = cmd ? hexOf(cmd.data) : command.slice(10);
  return {
    ins,
    insName: insName(ins),
    header: command.slice(0, 8),
    data,
    ...(cmd?.le !== undefined ? { le: cmd.le } : {}),
    responseData: response.length >= 4 ? response.slice(0, -4) : "",
    sw,
    swMeaning: swText(sw),
    ok: sw === "9000" || sw.startsWith("61"),
    ...(typeof x.micros === "number" ? { micros: x.micros } : {}),
    masked: /^[0-9A-F]{2}$/.test(ins) && isSecretDataIns(parseInt(ins, 16)) && /^(FF)+$/.test(data),
  };
}

/** Hex shortened for a table cell: the first `max` bytes and how many more. */
export function shortHex(hex: string, max = 32): string {
  if (hex.length <= max * 2) return hex;
  return `${hex.slice(0, max * 2)}… (+${hex.length / 2 - max} bytes)`;
}

function hexBytes(hex: string): Uint8Array | undefined {
  if (hex.length % 2 !== 0 || !/^[0-9A-F]*$/.test(hex)) return undefined;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function hexOf(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).toUpperCase().padStart(2, "0");
  return s;
}
