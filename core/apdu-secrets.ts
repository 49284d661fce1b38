/**
 * Masking of the secrets an APDU exchange carries, for every place that
 * writes APDUs down (run log, traces, imported field logs). It lives in core
 * because the reader wrappers (run log) and the trace code (import, record)
 * both need the same rule, and neither may import the other.
 *
 * Masked bytes become FF and every length is kept, so a masked command still
 * decodes (TLV structure, Lc) and a replay can still tell what was sent.
 */
import { isSecretDataIns, maskCommand, tryDecodeCommand } from "./apdu.js";
import { bytesEqual } from "./bytes.js";

/** What the masked bytes stood for (the trace's `MaskedSecret`). */
export type ApduSecretKind = "pin" | "puk" | "management-key" | "private-key";

export interface MaskedExchange {
  command: Uint8Array;
  response: Uint8Array;
  /** Set when non-empty secret bytes were replaced. */
  masked?: ApduSecretKind;
}

const INS_VERIFY = 0x20;
const INS_CHANGE_REFERENCE = 0x24;
const INS_RESET_RETRY = 0x2c;
const INS_GENERAL_AUTHENTICATE = 0x87;
const INS_GET_RESPONSE = 0xc0;
const INS_YK_IMPORT_KEY = 0xfe;
const INS_YK_SET_MANAGEMENT_KEY = 0xff;
/** PIV key reference of the card management key. */
const MANAGEMENT_KEY_REF = 0x9b;
/** PIV key reference of the PUK (VERIFY / CHANGE REFERENCE DATA with P2=81). */
const PUK_REF = 0x81;
/** Dynamic authentication template and its witness / challenge / response tags (SP 800-73-4 part 2, 3.2.4). */
const TAG_DYNAMIC_AUTH = 0x7c;
const SECRET_AUTH_TAGS = new Set([0x80, 0x81, 0x82]);

/** Whether this command's exchange carries secrets that `maskExchange` hides. */
export function secretKindOf(command: Uint8Array): ApduSecretKind | undefined {
  if (command.length < 4) return undefined;
  const ins = command[1];
  if (ins === INS_VERIFY || ins === INS_CHANGE_REFERENCE) return command[3] === PUK_REF ? "puk" : "pin";
  if (ins === INS_RESET_RETRY) return "puk";
  if (ins === INS_YK_SET_MANAGEMENT_KEY) return "management-key";
  if (ins === INS_YK_IMPORT_KEY) return "private-key";
  if (ins === INS_GENERAL_AUTHENTICATE && command[3] === MANAGEMENT_KEY_REF) return "management-key";
  if (isSecretDataIns(ins)) return "pin";
  return undefined;
}

/**
 * A copy of the exchange with its secrets replaced by FF: the data of VERIFY,
 * CHANGE REFERENCE DATA, RESET RETRY COUNTER, YubiKey SET MANAGEMENT KEY and
 * IMPORT ASYMMETRIC KEY; for GENERAL AUTHENTICATE with the management key
 * (9B), the witness, challenge and response (tags 80, 81, 82) in the command
 * and in the card's answer (whoever holds a witness and its decryption can
 * attack the key). Say `responseHasSw` when the response ends in its status
 * word, which is then never touched. The inputs are never modified.
 */
export function maskExchange(command: Uint8Array, response: Uint8Array, responseHasSw = false): MaskedExchange {
  const kind = secretKindOf(command);
  if (kind === undefined) return { command, response };
  if (command[1] === INS_GENERAL_AUTHENTICATE) {
    const maskedCommand = maskAuthTemplate(commandData(command), command);
    const dataEnd = responseHasSw ? Math.max(0, response.length - 2) : response.length;
    const maskedResponse = maskAuthTemplate({ start: 0, end: dataEnd }, response);
    const changed = maskedCommand.changed || maskedResponse.changed;
    return { command: maskedCommand.bytes, response: maskedResponse.bytes, ...(changed ? { masked: kind } : {}) };
  }
  const masked = maskCommand(command);
  return { command: masked, response, ...(!bytesEqual(masked, command) || hidesBytes(command) ? { masked: kind } : {}) };
}

/**
 * Masks a GET RESPONSE continuation of a secret answer (a 61xx after a
 * management-key GENERAL AUTHENTICATE): the bytes are a piece of a template
 * that no longer decodes on its own, so all of its data is hidden. The status
 * word (last two bytes, when `withSw`) is kept.
 */
export function maskContinuation(response: Uint8Array, withSw: boolean): Uint8Array {
  const end = withSw ? Math.max(0, response.length - 2) : response.length;
  if (end === 0) return response;
  const out = Uint8Array.from(response);
  out.fill(0xff, 0, end);
  return out;
}

function isManagementKeyAuth(command: Uint8Array): boolean {
  return command.length >= 4 && command[1] === INS_GENERAL_AUTHENTICATE && command[3] === MANAGEMENT_KEY_REF;
}

/** Whether a command is a GET RESPONSE (its answer continues the previous one). */
export function isGetResponse(command: Uint8Array): boolean {
  return command.length >= 4 && command[1] === INS_GET_RESPONSE;
}

/**
 * Masks in order, across exchanges: a secret answer split by 61xx continues
 * in the GET RESPONSE answers that follow, which `maskExchange` alone cannot
 * know. Feed every transport exchange in order, each with its reader: a log
 * with several readers (pcscd, pcsc-spy threads) interleaves their
 * exchanges, and one reader's exchange must not end another's continuation.
 */
export class ExchangeMasker {
  /** Per reader (undefined: the log names none), the secret its next GET RESPONSE continues. */
  private readonly secretPending = new Map<string | undefined, ApduSecretKind>();
  /** How many exchanges had bytes masked. */
  masked = 0;

  /** `response` is the data followed by the status word; `reader` the reader it went through. */
  mask(command: Uint8Array, response: Uint8Array, reader?: string): MaskedExchange {
    const sw1 = response.length >= 2 ? response[response.length - 2] : 0;
    const continuing = isGetResponse(command) ? this.secretPending.get(reader) : undefined;
    const out: MaskedExchange =
      continuing !== undefined
        ? { command, response: maskContinuation(response, true), ...(response.length > 2 ? { masked: continuing } : {}) }
        : maskExchange(command, response, true);
    // Only the management-key authentication has a secret answer that 61xx may split.
    const secretAnswer = continuing ?? (isManagementKeyAuth(command) ? "management-key" : undefined);
    if (sw1 === 0x61 && secretAnswer !== undefined) this.secretPending.set(reader, secretAnswer);
    else this.secretPending.delete(reader);
    if (out.masked !== undefined) this.masked++;
    return out;
  }

  /** Forget the continuation pending on this reader (reset, card removed). */
  reset(reader?: string): void {
    this.secretPending.delete(reader);
  }
}

interface Span {
  start: number;
  end: number;
}

function commandData(command: Uint8Array): Span {
  const cmd = tryDecodeCommand(command);
  if (cmd === undefined) return { start: Math.min(5, command.length), end: command.length };
  const start = cmd.data.byteOffset - command.byteOffset;
  return { start, end: start + cmd.data.length };
}

/**
 * Masks the values of tags 80/81/82 inside the 7C template at `span.start`.
 * A template that does not decode (a chained part, a truncated log) is
 * hidden whole: better a useless byte than a leaked witness.
 */
function maskAuthTemplate(span: Span, bytes: Uint8Array): { bytes: Uint8Array; changed: boolean } {
  if (span.end <= span.start) return { bytes, changed: false };
  const out = Uint8Array.from(bytes);
  const outer = readHeader(bytes, span.start, span.end);
  if (outer === undefined || bytes[span.start] !== TAG_DYNAMIC_AUTH) {
    out.fill(0xff, span.start, span.end);
    return { bytes: out, changed: true };
  }
  let changed = false;
  let p = outer.valueStart;
  const end = Math.min(outer.valueEnd, span.end);
  while (p < end) {
    const inner = readHeader(bytes, p, end);
    if (inner === undefined) {
      out.fill(0xff, p, end);
      return { bytes: out, changed: true };
    }
    if (SECRET_AUTH_TAGS.has(bytes[p]) && inner.valueEnd > inner.valueStart) {
      out.fill(0xff, inner.valueStart, inner.valueEnd);
      changed = true;
    }
    p = inner.valueEnd;
  }
  return { bytes: out, changed };
}

/** A one-byte-tag BER-TLV header at p (PIV's template tags are all one byte). */
function readHeader(b: Uint8Array, p: number, limit: number): { valueStart: number; valueEnd: number } | undefined {
  if (p + 2 > limit) return undefined;
  let len = b[p + 1];
  let q = p + 2;
  if (len > 0x80) {
    const n = len & 0x7f;
    if (n > 3 || q + n > limit) return undefined;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[q++];
  } else if (len === 0x80) return undefined;
  if (q + len > limit) return undefined;
  return { valueStart: q, valueEnd: q + len };
}

/** A secret of all FF bytes is still a masked secret: the count must not depend on its value. */
function hidesBytes(command: Uint8Array): boolean {
  return command.length > 5;
}
