import { CryptoRandom, FormatError, decodeTlvs, findTlv, insName, readTlv, toHex, tryDecodeCommand, type Random } from "../../core/index.js";
import { Certificate, publicKeyOf } from "../../pki/index.js";
import { ALG, DEFAULT_PIN, PIV_AID, PivCard, TAG, certTagForSlot, isKeySlot, newPivState, type PivCardOptions } from "../card/index.js";
import { hex2, objectName, tagHex } from "./decode.js";
import { certificateInObject, slotOfCertificateObject } from "./piv-objects.js";
import { foldExchanges } from "./fold.js";
import type { LogicalExchange, Trace } from "./types.js";

/**
 * An emulated card that answers a trace's reads as the field card did, so a
 * middleware bug triggered by one card's contents is reproduced without it.
 *
 * Taken from the trace, in order (the latest answer wins): every GET DATA the
 * field card answered (the object byte for byte; 6A82 makes it absent), every
 * PUT DATA it accepted, the key references and algorithms (from GENERATE,
 * GENERAL AUTHENTICATE, YubiKey GET METADATA, and the certificates' public
 * keys), GET SERIAL, GET VERSION, the ATR of the reader events, and the
 * expiry in the CHUID. Only what the card answered while PIV was selected
 * counts. Made fresh: every key pair (a trace never holds a private key), the
 * PIN, PUK and management key (masked or never sent), and what the trace
 * never read (the new card's own CHUID, CCC, ... then stay).
 */

export interface CardFromTraceOptions {
  /** The new card's PIN (default the well-known 123456). */
  pin?: string;
  puk?: string;
  managementKey?: Uint8Array;
  /** The expiry when the trace's CHUID has none. */
  expires?: Date;
  random?: Random;
}

/** What the card got from the trace and what was made for it: one line each, no secret in any. */
export interface CardFromTraceReport {
  taken: string[];
  fresh: string[];
  /** What the trace showed but the card could not take (a PIN-protected object never read, an unsupported key). */
  skipped: string[];
}

/** A trace a card cannot be made from: no PIV SELECT, or nothing read under it. */
export class UnusableTrace extends FormatError {
  constructor(message: string) {
    super("trace", message);
  }
}

const INS = { SELECT: 0xa4, GENERATE: 0x47, GENERAL_AUTHENTICATE: 0x87, GET_DATA: 0xcb, PUT_DATA: 0xdb, GET_METADATA: 0xf7, GET_SERIAL: 0xf8, GET_VERSION: 0xfd };
const SW_OK = 0x9000;
const SW_NOT_FOUND = 0x6a82;
const SW_SECURITY = 0x6982;
const MANAGEMENT_KEY = 0x9b;
const ALG_NAME: Record<number, string> = { [ALG.RSA2048]: "RSA 2048", [ALG.P256]: "P-256", [ALG.P384]: "P-384" };
const IDENTITY_TAGS = [TAG.CHUID, TAG.CARD_CAPABILITY_CONTAINER, TAG.DISCOVERY, TAG.KEY_HISTORY];

interface Seen {
  /** tag -> the object's bytes, or null once the card said 6A82; with where it was learnt. */
  objects: Map<number, { value: Uint8Array | null; from: string }>;
  /** key reference -> algorithm, with where it was learnt. */
  keys: Map<number, { alg: number; from: string }>;
  protectedUnread: Set<number>;
  serial?: { value: Uint8Array; from: string };
  firmware?: { value: Uint8Array; from: string };
  atr?: { value: Uint8Array; from: string };
  reads: number;
}

export function cardFromTrace(trace: Trace, opts: CardFromTraceOptions = {}): { card: PivCard; report: CardFromTraceReport } {
  const seen = collect(trace);
  const report: CardFromTraceReport = { taken: [], fresh: [], skipped: [] };
  const chuid = seen.objects.get(TAG.CHUID)?.value ?? undefined;
  const chuidExpiry = chuid ? expiryOf(chuid) : undefined;
  const expires = chuidExpiry ?? opts.expires;
  if (expires === undefined) throw new UnusableTrace("the trace's CHUID has no expiry date (tag 35): give one (--expires)");
  const cardOpts: PivCardOptions = {
    expires,
    pin: opts.pin ?? DEFAULT_PIN,
    ...(opts.puk !== undefined ? { puk: opts.puk } : {}),
    ...(opts.managementKey !== undefined ? { managementKey: opts.managementKey } : {}),
    ...(seen.serial ? { serial: toHex(seen.serial.value) } : {}),
  };
  const state = newPivState(cardOpts, opts.random ?? new CryptoRandom());
  // The ATR and firmware version are the card's from its making (PivCard reads them once).
  if (seen.firmware) state.firmware = Uint8Array.from(seen.firmware.value);
  if (seen.atr) state.atr = Uint8Array.from(seen.atr.value);
  const card = new PivCard(state, opts.random);

  for (const [tag, { value, from }] of [...seen.objects].sort((a, b) => a[0] - b[0])) {
    if (value === null) {
      state.objects.delete(tag);
      report.taken.push(`object ${tagHex(tag)} (${objectName(tag)}): absent, as the field card said (6A82, ${from})`);
    } else {
      state.objects.set(tag, Uint8Array.from(value));
      report.taken.push(`object ${tagHex(tag)} (${objectName(tag)}): ${value.length} bytes as the field card answered (${from})`);
    }
  }
  for (const tag of IDENTITY_TAGS) {
    if (!seen.objects.has(tag)) report.fresh.push(`object ${tagHex(tag)} (${objectName(tag)}): the new card's own (the trace never read it)`);
  }
  for (const tag of seen.protectedUnread) {
    if (!seen.objects.has(tag)) report.skipped.push(`object ${tagHex(tag)} (${objectName(tag)}): the field card asked for the PIN (6982) and the trace never read it, so the new card has none`);
  }

  const slots = keySlots(seen, report);
  card.generateKeys(new Map([...slots].map(([slot, k]) => [slot, k.alg])));
  for (const [slot, { alg, from }] of [...slots].sort((a, b) => a[0] - b[0])) {
    report.taken.push(`key ${hex2(slot)}: ${ALG_NAME[alg]} (${from})`);
    const certTag = certTagForSlot(slot);
    const cert = certTag !== undefined && state.objects.has(certTag);
    report.fresh.push(
      `key ${hex2(slot)}: a new ${ALG_NAME[alg]} key pair generated on the card (the field card's private key cannot be known)` +
        (cert ? `; the certificate in ${tagHex(certTag!)} keeps the field card's public key, so the new key's signatures do not verify against it (check them with the key GENERATE or GET METADATA returns)` : ""),
    );
  }

  if (seen.serial) report.taken.push(`serial ${toHex(seen.serial.value).toUpperCase()} (${seen.serial.from})`);
  else report.fresh.push(`serial ${card.serial.toUpperCase()}: random (the trace has no GET SERIAL answer)`);
  if (seen.firmware) {
    report.taken.push(`firmware version ${[...seen.firmware.value].join(".")} (${seen.firmware.from})`);
  } else report.fresh.push("firmware version: cardloop's (the trace has no GET VERSION answer)");
  if (seen.atr) {
    report.taken.push(`ATR ${toHex(seen.atr.value).toUpperCase()} (${seen.atr.from})`);
  } else report.fresh.push("ATR: cardloop's (the trace has no reader event with an ATR)");
  const day = expires.toISOString().slice(0, 10);
  if (chuidExpiry) report.taken.push(`expiry ${day} (CHUID tag 35)`);
  else report.fresh.push(`expiry ${day} (given; the trace's CHUID has ${chuid ? "no expiry date" : "not been read"})`);
  report.fresh.push(opts.pin !== undefined ? "PIN: the one given" : "PIN: the well-known default PIN, as `card new` sets it (a trace's PIN is masked)");
  report.fresh.push(opts.puk !== undefined ? "PUK: the one given" : "PUK: the well-known test PUK, as `card new` sets it");
  report.fresh.push(opts.managementKey !== undefined ? "management key: the one given" : "management key: the well-known 0102...08 test key (3DES)");
  return { card, report };
}

/** Walks the trace's logical exchanges, keeping what the field card said while PIV was selected. */
function collect(trace: Trace): Seen {
  const seen: Seen = { objects: new Map(), keys: new Map(), protectedUnread: new Set(), reads: 0 };
  let pivSelects = 0;
  let piv = false;
  for (const e of trace.entries) {
    if (e.type === "event" && e.atr !== undefined && /^([0-9A-Fa-f]{2}){2,33}$/.test(e.atr)) {
      seen.atr = { value: Uint8Array.from(Buffer.from(e.atr, "hex")), from: `${e.event} at entry ${e.seq}` };
    }
  }
  for (const x of foldExchanges(trace.entries)) {
    const cmd = tryDecodeCommand(x.command);
    if (cmd === undefined || cmd.cla & 0x80) continue; // proprietary classes are another application's
    const where = `${insName(cmd.ins)} at entry ${x.seq}`;
    if (cmd.ins === INS.SELECT && cmd.p1 === 0x04) {
      if (x.sw !== SW_OK && x.sw >> 8 !== 0x61) continue; // a failed SELECT keeps the selection
      piv = isPivAid(cmd.data);
      if (piv) pivSelects++;
      continue;
    }
    if (!piv) continue;
    take(seen, x, cmd, where);
  }
  if (pivSelects === 0) throw new UnusableTrace("no successful SELECT of the PIV application in the trace: there is no PIV card to rebuild");
  if (seen.reads === 0) throw new UnusableTrace("nothing was read from the PIV application in the trace (no GET DATA, key or serial answer)");
  return seen;
}

function take(seen: Seen, x: LogicalExchange, cmd: NonNullable<ReturnType<typeof tryDecodeCommand>>, where: string): void {
  const ok = x.sw === SW_OK;
  switch (cmd.ins) {
    case INS.GET_DATA: {
      const tag = tagListed(cmd.data);
      if (tag === undefined || cmd.p1 !== 0x3f || cmd.p2 !== 0xff) return;
      if (ok && x.response.length > 0) {
        seen.objects.set(tag, { value: x.response, from: where });
        seen.reads++;
        takeCertificateKey(seen, tag, x.response, where);
      } else if (x.sw === SW_NOT_FOUND) {
        seen.objects.set(tag, { value: null, from: where });
        seen.reads++;
      } else if (x.sw === SW_SECURITY) seen.protectedUnread.add(tag);
      return;
    }
    case INS.PUT_DATA: {
      if (!ok || x.masked !== undefined) return;
      const object = putDataObject(cmd.data);
      if (object === undefined) return;
      seen.objects.set(object.tag, { value: object.value.length > 2 ? object.value : null, from: where });
      takeCertificateKey(seen, object.tag, object.value, where);
      return;
    }
    case INS.GENERATE: {
      const alg = generateAlg(cmd.data);
      if (ok && alg !== undefined && isKeySlot(cmd.p2)) seen.keys.set(cmd.p2, { alg, from: `${where}, its algorithm` });
      if (ok) seen.reads++;
      return;
    }
    case INS.GENERAL_AUTHENTICATE:
      if (ok && cmd.p2 !== MANAGEMENT_KEY && isKeySlot(cmd.p2) && ALG_NAME[cmd.p1] !== undefined) {
        seen.keys.set(cmd.p2, { alg: cmd.p1, from: `${where}, its algorithm` });
        seen.reads++;
      }
      return;
    case INS.GET_METADATA: {
      if (!ok || !isKeySlot(cmd.p2)) return;
      const alg = metadataAlg(x.response);
      if (alg !== undefined) {
        seen.keys.set(cmd.p2, { alg, from: where });
        seen.reads++;
      }
      return;
    }
    case INS.GET_SERIAL:
      if (ok && x.response.length === 4) {
        seen.serial = { value: x.response, from: where };
        seen.reads++;
      }
      return;
    case INS.GET_VERSION:
      if (ok && x.response.length === 3) seen.firmware = { value: x.response, from: where };
      return;
  }
}

/** A certificate object's public key says which key its slot holds, unless a later exchange said otherwise. */
function takeCertificateKey(seen: Seen, tag: number, object: Uint8Array, where: string): void {
  const slot = slotOfCertificateObject(tag, true);
  if (slot === undefined) return;
  const der = certificateInObject(object);
  if (der === undefined) return;
  const alg = certificateAlg(der);
  if (alg !== undefined) seen.keys.set(slot, { alg, from: `the certificate's public key in ${tagHex(tag)}, ${where}` });
}

/** Keys whose algorithm the emulated card has, with a line for any other. */
function keySlots(seen: Seen, report: CardFromTraceReport): Map<number, { alg: number; from: string }> {
  const out = new Map<number, { alg: number; from: string }>();
  for (const [slot, k] of seen.keys) {
    if (ALG_NAME[k.alg] !== undefined) out.set(slot, k);
    else report.skipped.push(`key ${hex2(slot)}: algorithm ${hex2(k.alg)} (${k.from}) is not one the emulated card has (RSA 2048, P-256, P-384): no key made`);
  }
  return out;
}

export function certificateAlg(der: Uint8Array): number | undefined {
  try {
    const cert = new Certificate(der);
    const key = publicKeyOf(cert.spki).key;
    const details = key?.asymmetricKeyDetails;
    if (key?.asymmetricKeyType === "ec") {
      if (details?.namedCurve === "prime256v1") return ALG.P256;
      if (details?.namedCurve === "secp384r1") return ALG.P384;
      return 0xff; // another curve: reported as unsupported
    }
    if (key?.asymmetricKeyType === "rsa") return details?.modulusLength === 2048 ? ALG.RSA2048 : 0xfe;
    return undefined;
  } catch {
    return undefined; // not a certificate pki can read: its slot's key stays unknown
  }
}

/** The CHUID's expiration date (tag 35, YYYYMMDD), when it has a valid one. */
function expiryOf(chuid: Uint8Array): Date | undefined {
  try {
    const outer = readTlv(chuid, 0);
    const field = findTlv(decodeTlvs(outer.value), 0x35);
    if (field === undefined) return undefined;
    const m = /^(\d{4})(\d{2})(\d{2})$/.exec(Buffer.from(field.value).toString("latin1"));
    if (!m) return undefined;
    const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
    return d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3]) ? d : undefined;
  } catch {
    return undefined;
  }
}

function isPivAid(aid: Uint8Array): boolean {
  // SP 800-73-4 allows a right-truncated AID down to the NIST RID with the PIX's first bytes.
  return aid.length >= 5 && aid.length <= PIV_AID.length && aid.every((b, i) => b === PIV_AID[i]);
}

/** The one tag of a GET DATA tag list 5C (1 to 3 bytes). */
function tagListed(data: Uint8Array): number | undefined {
  if (data.length < 3 || data[0] !== 0x5c || data[1] < 1 || data[1] > 3 || data.length !== 2 + data[1]) return undefined;
  let tag = 0;
  for (let i = 0; i < data[1]; i++) tag = tag * 256 + data[2 + i];
  return tag;
}

/** PUT DATA 5C {tag} 53 {...}: the object as the card will answer it. */
function putDataObject(data: Uint8Array): { tag: number; value: Uint8Array } | undefined {
  try {
    const list = readTlv(data, 0);
    if (list.tag !== 0x5c) return undefined;
    const tag = tagListed(data.subarray(0, list.end));
    if (tag === undefined) return undefined;
    const body = readTlv(data, list.end);
    if (body.tag !== 0x53 || body.end !== data.length) return undefined;
    return { tag, value: data.subarray(list.end, body.end) };
  } catch {
    return undefined;
  }
}

function generateAlg(data: Uint8Array): number | undefined {
  try {
    const ac = readTlv(data, 0);
    if (ac.tag !== 0xac) return undefined;
    const alg = findTlv(decodeTlvs(ac.value), 0x80);
    return alg?.value.length === 1 ? alg.value[0] : undefined;
  } catch {
    return undefined;
  }
}

function metadataAlg(response: Uint8Array): number | undefined {
  try {
    const alg = findTlv(decodeTlvs(response), 0x01);
    return alg?.value.length === 1 ? alg.value[0] : undefined;
  } catch {
    return undefined;
  }
}
