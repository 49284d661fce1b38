import { concatBytes, fromHex, type Random } from "../../core/index.js";
import { ALG, SYM_KEY_LENGTH, type CardKey, type SymAlg } from "./crypto.js";
import { encodeFascn } from "./fascn.js";
import { TAG, buildCcc, buildChuid, buildDiscovery, buildKeyHistory } from "./objects.js";

/** The PIV card's secure memory (what its file holds) and how a new card gets it. */

export type ManagementAlg = "3des" | "aes128" | "aes192" | "aes256";

export const MANAGEMENT_ALG_ID: Record<ManagementAlg, SymAlg> = {
  "3des": ALG.TDES,
  aes128: ALG.AES128,
  aes192: ALG.AES192,
  aes256: ALG.AES256,
};

export const DEFAULT_PIN = "123456";
export const DEFAULT_PUK = "12345678";
/** The well-known default management key of PIV test cards and YubiKeys. */
export const DEFAULT_MANAGEMENT_KEY = fromHex("010203040506070801020304050607080102030405060708");

/** Largest data object PUT DATA accepts (a YubiKey 5 takes 3052 bytes; we allow more). */
export const MAX_OBJECT_SIZE = 8192;

/** The objects a card is born with, and keeps through a YubiKey RESET. */
export const IDENTITY_OBJECTS: readonly number[] = [TAG.CHUID, TAG.CARD_CAPABILITY_CONTAINER, TAG.DISCOVERY, TAG.KEY_HISTORY];

export interface PivCardOptions {
  /** Card serial, hex (GET SERIAL answers its last 4 bytes). Random when absent. */
  serial?: string;
  /** The card's own expiry: CHUID tag 35 and `card.expires`. */
  expires: Date;
  pin?: string;
  puk?: string;
  managementKey?: Uint8Array;
  managementAlg?: ManagementAlg;
  pinRetries?: number;
  pukRetries?: number;
  random?: Random;
}

/** The persistent part of the card: what its file holds. */
export interface PivCardState {
  serial: Uint8Array;
  expires: Date;
  pin: Uint8Array; // 8 bytes, FF-padded
  puk: Uint8Array;
  pinMax: number;
  pukMax: number;
  pinLeft: number;
  pukLeft: number;
  managementAlg: SymAlg;
  managementKey: Uint8Array;
  /** Tag -> the object exactly as GET DATA returns it (53 {...} or 7E {...}). */
  objects: Map<number, Uint8Array>;
  keys: Map<number, CardKey>;
  /** The ATR to answer at power-on instead of the cardloop one (a card rebuilt from a field trace). */
  atr?: Uint8Array;
  /** What YubiKey GET VERSION answers instead of FIRMWARE_VERSION (3 bytes). */
  firmware?: Uint8Array;
}

/**
 * Where a card keeps its memory, as a card keeps it in EEPROM: `save` returns
 * once the state is durable and throws when it could not be written. The PIV
 * applet calls it before the answer that reports a change leaves the card, and
 * counts a PIN or PUK try with it before it compares (piv-applet.ts). A card
 * without a store keeps its memory in the process only.
 */
export interface CardStore {
  save(state: PivCardState): void;
}

/** A new card's memory: its identity objects (CHUID, CCC, Discovery, key history), no keys. */
export function newPivState(opts: PivCardOptions, random: Random): PivCardState {
  const serial = opts.serial !== undefined ? parseSerial(opts.serial) : random.bytes(4);
  if (!(opts.expires instanceof Date) || !Number.isFinite(opts.expires.getTime())) {
    throw new RangeError("a card needs a valid expiry date");
  }
  const alg = MANAGEMENT_ALG_ID[opts.managementAlg ?? "3des"];
  if (alg === undefined) throw new RangeError(`unknown management key algorithm ${opts.managementAlg}`);
  const mgmKey = opts.managementKey ?? DEFAULT_MANAGEMENT_KEY;
  if (mgmKey.length !== SYM_KEY_LENGTH[alg]) {
    throw new RangeError(`management key must be ${SYM_KEY_LENGTH[alg]} bytes for ${opts.managementAlg ?? "3des"}`);
  }
  const pin = padReference(opts.pin ?? DEFAULT_PIN, "PIN");
  const puk = padReference(opts.puk ?? DEFAULT_PUK, "PUK");
  const pinMax = checkRetries(opts.pinRetries ?? 3, "PIN");
  const pukMax = checkRetries(opts.pukRetries ?? 3, "PUK");
  const guid = random.bytes(16);
  const serialNumber = serialToNumber(serial);
  const fascn = encodeFascn({
    agency: "9999",
    system: "9999",
    credential: String(serialNumber % 1_000_000).padStart(6, "0"),
    series: "1",
    issue: "1",
    person: String(serialNumber).padStart(10, "0").slice(-10),
    orgCategory: "1",
    org: "9999",
    association: "1",
  });
  const objects = new Map<number, Uint8Array>([
    [TAG.CHUID, buildChuid(fascn, guid, opts.expires)],
    [TAG.CARD_CAPABILITY_CONTAINER, buildCcc(concatBytes(serial, guid).subarray(0, 14))],
    [TAG.DISCOVERY, buildDiscovery()],
    [TAG.KEY_HISTORY, buildKeyHistory()],
  ]);
  return {
    serial,
    expires: new Date(opts.expires.getTime()),
    pin,
    puk,
    pinMax,
    pukMax,
    pinLeft: pinMax,
    pukLeft: pukMax,
    managementAlg: alg,
    managementKey: Uint8Array.from(mgmKey),
    objects,
    keys: new Map(),
  };
}

/** A PIN or PUK as the card stores and compares it: 6..8 bytes padded with FF to 8. */
export function padReference(value: string, what: string): Uint8Array {
  const bytes = new TextEncoder().encode(value);
  if (bytes.length < 6 || bytes.length > 8 || bytes.includes(0xff)) {
    throw new RangeError(`${what} must be 6 to 8 characters`);
  }
  const out = new Uint8Array(8).fill(0xff);
  out.set(bytes, 0);
  return out;
}

/** GET SERIAL's 4 bytes: the serial's last 4 bytes, left-padded with zeros. */
export function serial32(serial: Uint8Array): Uint8Array {
  const out = new Uint8Array(4);
  const tail = serial.subarray(-4);
  out.set(tail, 4 - tail.length);
  return out;
}

function checkRetries(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 1 || n > 15) throw new RangeError(`${what} retries must be 1..15`);
  return n;
}

function parseSerial(hex: string): Uint8Array {
  const b = fromHex(hex);
  if (b.length < 1 || b.length > 20) throw new RangeError("serial must be 1 to 20 bytes of hex");
  return b;
}

function serialToNumber(serial: Uint8Array): number {
  let v = 0;
  for (const b of serial32(serial)) v = v * 256 + b;
  return v;
}
