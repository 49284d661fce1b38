import { createCipheriv, createDecipheriv } from "node:crypto";
import { encodeTlv, fromHex, readTlv, decodeTlvs, findTlv, toHex } from "../../core/index.js";
import type { Card } from "./card.js";
import { PivCard } from "./piv-card.js";
import { DEFAULT_MANAGEMENT_KEY, type PivCardOptions } from "./piv-state.js";

/**
 * Helpers for tests that talk to a PivCard directly in APDUs (no client in
 * between), so that every status word is visible.
 */
export interface Reply {
  data: string; // upper-case hex
  sw: string; // e.g. "9000"
  bytes: Uint8Array;
}

export function tx(card: Card, hex: string | Uint8Array): Reply {
  const res = card.transmit(typeof hex === "string" ? fromHex(hex) : hex);
  const n = res.length;
  return {
    data: toHex(res.subarray(0, n - 2)).toUpperCase(),
    sw: toHex(res.subarray(n - 2)).toUpperCase(),
    bytes: res.subarray(0, n - 2),
  };
}

export function newCard(opts: Partial<PivCardOptions> = {}): PivCard {
  const card = PivCard.create({ expires: new Date("2030-06-30T00:00:00Z"), serial: "00c0ffee", ...opts });
  card.powerOn();
  return card;
}

/** A short APDU in hex: header, Lc+data when data is non-empty, Le when given. */
export function apdu(cla: number, ins: number, p1: number, p2: number, data: Uint8Array = new Uint8Array(0), le?: number): Uint8Array {
  const head = [cla, ins, p1, p2];
  const lc = data.length > 0 ? [data.length] : [];
  const tail = le === undefined ? [] : [le & 0xff];
  return Uint8Array.from([...head, ...lc, ...data, ...tail]);
}

export function pinBlock(pin: string): Uint8Array {
  const out = new Uint8Array(8).fill(0xff);
  out.set(new TextEncoder().encode(pin), 0);
  return out;
}

function cipherName(key: Uint8Array, alg: number): string {
  return alg === 0x03 ? "des-ede3" : `aes-${key.length * 8}-ecb`;
}

export function ecbEncrypt(alg: number, key: Uint8Array, block: Uint8Array): Uint8Array {
  const c = createCipheriv(cipherName(key, alg), key, null);
  c.setAutoPadding(false);
  return new Uint8Array(Buffer.concat([c.update(block), c.final()]));
}

export function ecbDecrypt(alg: number, key: Uint8Array, block: Uint8Array): Uint8Array {
  const c = createDecipheriv(cipherName(key, alg), key, null);
  c.setAutoPadding(false);
  return new Uint8Array(Buffer.concat([c.update(block), c.final()]));
}

/** Value of `tag` inside a 7C response. */
export function dyn(reply: Reply, tag: number): Uint8Array {
  const outer = readTlv(reply.bytes);
  const item = findTlv(decodeTlvs(outer.value), tag);
  if (!item) throw new Error(`no ${tag.toString(16)} in 7C`);
  return item.value;
}

/** Mutual management-key authentication in raw APDUs; returns the final reply. */
export function mgmAuth(card: Card, key: Uint8Array = DEFAULT_MANAGEMENT_KEY, alg = 0x03): Reply {
  const block = alg === 0x03 ? 8 : 16;
  const r1 = tx(card, apdu(0, 0x87, alg, 0x9b, encodeTlv(0x7c, encodeTlv(0x80, new Uint8Array(0))), 0));
  if (r1.sw !== "9000") return r1;
  const witness = ecbDecrypt(alg, key, dyn(r1, 0x80));
  const challenge = new Uint8Array(block).fill(0x5a);
  return tx(card, apdu(0, 0x87, alg, 0x9b, encodeTlv(0x7c, [encodeTlv(0x80, witness), encodeTlv(0x81, challenge)]), 0));
}

export const MGM = DEFAULT_MANAGEMENT_KEY;
export { fromHex, toHex, encodeTlv };
