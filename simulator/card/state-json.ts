import { FormatError } from "../../core/index.js";
import { CardKey, isAsymAlg, isSymAlg, SYM_KEY_LENGTH } from "./crypto.js";
import type { PivCardState } from "./piv-state.js";

// A card rebuilt from a field card's trace (simulator/trace/card-from-trace.ts) keeps
// that card's ATR and firmware version: optional parts of its memory, absent on a
// card made here (which answers the cardloop ATR and FIRMWARE_VERSION). They live in
// the state so that every save of the card file keeps them.
/**
 * The card file: the card's secure memory as JSON (PIN, PUK, management key,
 * private keys as PKCS#8). It is never logged; traces and events carry none of it.
 */
export interface PivCardJson {
  format: "cardloop-piv-card";
  version: 1;
  serial: string;
  expires: string;
  pin: string;
  puk: string;
  pinRetries: number;
  pukRetries: number;
  pinLeft: number;
  pukLeft: number;
  managementAlg: number;
  managementKey: string;
  /** tag (hex) -> object bytes (base64), as GET DATA returns them */
  objects: Record<string, string>;
  /** key reference (hex) -> algorithm id and PKCS#8 (base64) */
  keys: Record<string, { alg: number; pkcs8: string }>;
  /** The ATR (hex), when not the cardloop one: a card rebuilt from a trace keeps the field card's. */
  atr?: string;
  /** GET VERSION's answer (hex, 3 bytes), when not FIRMWARE_VERSION. */
  firmware?: string;
}

/** An ATR is TS T0 and at most 31 more bytes (ISO 7816-3). */
const ATR_LENGTH = { min: 2, max: 33 };

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");

export function stateToJson(s: PivCardState): PivCardJson {
  const objects: Record<string, string> = {};
  for (const [tag, v] of s.objects) objects[tag.toString(16)] = b64(v);
  const keys: Record<string, { alg: number; pkcs8: string }> = {};
  for (const [slot, k] of s.keys) keys[slot.toString(16)] = { alg: k.alg, pkcs8: b64(k.toPkcs8()) };
  return {
    format: "cardloop-piv-card",
    version: 1,
    serial: hex(s.serial),
    expires: s.expires.toISOString(),
    pin: hex(s.pin),
    puk: hex(s.puk),
    pinRetries: s.pinMax,
    pukRetries: s.pukMax,
    pinLeft: s.pinLeft,
    pukLeft: s.pukLeft,
    managementAlg: s.managementAlg,
    managementKey: hex(s.managementKey),
    objects,
    keys,
    ...(s.atr !== undefined ? { atr: hex(s.atr) } : {}),
    ...(s.firmware !== undefined ? { firmware: hex(s.firmware) } : {}),
  };
}

export function stateFromJson(obj: unknown): PivCardState {
  const bad = (what: string): never => {
    throw new FormatError("card file", what);
  };
  if (!obj || typeof obj !== "object") bad("not a JSON object");
  const j = obj as Partial<PivCardJson>;
  if (j.format !== "cardloop-piv-card" || j.version !== 1) bad('not a cardloop PIV card (format "cardloop-piv-card", version 1)');
  const bytes = (v: unknown, what: string, enc: "hex" | "base64"): Uint8Array => {
    if (typeof v !== "string") bad(`${what} missing`);
    const re = enc === "hex" ? /^([0-9a-fA-F]{2})*$/ : /^[A-Za-z0-9+/]*={0,2}$/;
    if (!re.test(v as string)) bad(`${what} is not ${enc}`);
    return new Uint8Array(Buffer.from(v as string, enc));
  };
  const count = (v: unknown, what: string, max: number): number => {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) bad(`${what} must be 0..${max}`);
    return v as number;
  };
  const expires = new Date(String(j.expires));
  if (!Number.isFinite(expires.getTime())) bad("expires is not a date");
  const pin = bytes(j.pin, "pin", "hex");
  const puk = bytes(j.puk, "puk", "hex");
  if (pin.length !== 8 || puk.length !== 8) bad("pin and puk must be 8 bytes");
  const pinMax = count(j.pinRetries, "pinRetries", 15);
  const pukMax = count(j.pukRetries, "pukRetries", 15);
  const alg = j.managementAlg as number;
  if (!isSymAlg(alg)) bad("managementAlg is not 03, 08, 0A or 0C");
  const managementKey = bytes(j.managementKey, "managementKey", "hex");
  if (managementKey.length !== SYM_KEY_LENGTH[alg as 3]) bad("managementKey has the wrong length");
  const objects = new Map<number, Uint8Array>();
  for (const [tag, v] of Object.entries(j.objects ?? {})) {
    if (!/^[0-9a-f]{1,6}$/i.test(tag)) bad(`object tag ${tag}`);
    objects.set(parseInt(tag, 16), bytes(v, `object ${tag}`, "base64"));
  }
  const keys = new Map<number, CardKey>();
  for (const [slot, k] of Object.entries(j.keys ?? {})) {
    if (!/^[0-9a-f]{2}$/i.test(slot) || !k || !isAsymAlg(k.alg)) bad(`key ${slot}`);
    try {
      keys.set(parseInt(slot, 16), CardKey.fromPkcs8(k.alg as 7, bytes(k.pkcs8, `key ${slot}`, "base64")));
    } catch (err) {
      if (err instanceof FormatError) throw err;
      bad(`key ${slot} is not a PKCS#8 private key`);
    }
  }
  const serial = bytes(j.serial, "serial", "hex");
  if (serial.length < 1) bad("serial is empty");
  const atr = j.atr === undefined ? undefined : bytes(j.atr, "atr", "hex");
  if (atr !== undefined && (atr.length < ATR_LENGTH.min || atr.length > ATR_LENGTH.max)) bad(`atr must be ${ATR_LENGTH.min} to ${ATR_LENGTH.max} bytes`);
  const firmware = j.firmware === undefined ? undefined : bytes(j.firmware, "firmware", "hex");
  if (firmware !== undefined && firmware.length !== 3) bad("firmware must be 3 bytes");
  return {
    serial,
    expires,
    pin,
    puk,
    pinMax,
    pukMax,
    pinLeft: Math.min(count(j.pinLeft, "pinLeft", 15), pinMax),
    pukLeft: Math.min(count(j.pukLeft, "pukLeft", 15), pukMax),
    managementAlg: alg as 3,
    managementKey,
    objects,
    keys,
    ...(atr !== undefined ? { atr } : {}),
    ...(firmware !== undefined ? { firmware } : {}),
  };
}
