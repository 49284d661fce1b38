import { createDecipheriv } from "node:crypto";
import { ExchangeMasker, concatBytes, generateEcKeyPair, decodeTlvs, encodeTlv, findTlv, readTlv, swHex, toHex } from "../../core/index.js";
import { buildCertificate, encodeName, ext, KU, p256SpkiFromEcPoint, softwareSigningKey } from "../../pki/index.js";
import { DEFAULT_MANAGEMENT_KEY, PivCard, type Card } from "../card/index.js";
import type { Reader } from "../reader/index.js";
import { TRACE_VERSION, type Trace, type TraceApdu, type TraceEntry } from "./types.js";

/**
 * Test helpers for replay: an emulated card with keys and certificates put
 * on it in APDUs (as an issuance station would), and a reader wrapper that
 * records a session into a trace, masked as an import would mask it. Only
 * tests use this file.
 */

export const TEST_PIN = "24681357";
const CA_KEY = generateEcKeyPair("P-256").privateKey;

export function apdu(cla: number, ins: number, p1: number, p2: number, data: Uint8Array = new Uint8Array(0), le?: number): Uint8Array {
  const lc = data.length > 0 ? [data.length] : [];
  return Uint8Array.from([cla, ins, p1, p2, ...lc, ...data, ...(le === undefined ? [] : [le & 0xff])]);
}

export const SELECT_PIV = apdu(0, 0xa4, 4, 0, Uint8Array.of(0xa0, 0, 0, 3, 8, 0, 0, 0x10, 0, 1, 0), 0);
export const getData = (tag: number) => apdu(0, 0xcb, 0x3f, 0xff, concatBytes(Uint8Array.of(0x5c, 3), Uint8Array.of(tag >> 16, (tag >> 8) & 0xff, tag & 0xff)), 0);
export const verifyPin = (pin: string) => {
  const block = new Uint8Array(8).fill(0xff);
  block.set(new TextEncoder().encode(pin), 0);
  return apdu(0, 0x20, 0, 0x80, block);
};
export const signDigest = (slot: number, digest: Uint8Array) =>
  apdu(0, 0x87, 0x11, slot, encodeTlv(0x7c, [encodeTlv(0x82, new Uint8Array(0)), encodeTlv(0x81, digest)]), 0);

/** Whole answer of a command sent straight to a card, 61xx followed. */
export function send(card: Card, command: Uint8Array): { data: Uint8Array; sw: number } {
  let res = card.transmit(command);
  const chunks: Uint8Array[] = [];
  for (;;) {
    const sw = (res[res.length - 2] << 8) | res[res.length - 1];
    chunks.push(res.subarray(0, res.length - 2));
    if (sw >> 8 !== 0x61) return { data: concatBytes(...chunks), sw };
    res = card.transmit(Uint8Array.of(0, 0xc0, 0, 0, sw & 0xff));
  }
}

function ok(card: Card, command: Uint8Array, what: string): Uint8Array {
  const r = send(card, command);
  if (r.sw !== 0x9000) throw new Error(`${what}: SW ${swHex(r.sw)}`);
  return r.data;
}

/** Mutual authentication with the management key (3DES; default: the well-known one), in APDUs. */
export function authenticate(card: Card, key: Uint8Array = DEFAULT_MANAGEMENT_KEY): void {
  const step1 = ok(card, apdu(0, 0x87, 3, 0x9b, encodeTlv(0x7c, encodeTlv(0x80, new Uint8Array(0))), 0), "witness");
  const enc = findTlv(decodeTlvs(readTlv(step1).value), 0x80)!.value;
  const d = createDecipheriv("des-ede3", key, null);
  d.setAutoPadding(false);
  const witness = new Uint8Array(Buffer.concat([d.update(enc), d.final()]));
  ok(card, apdu(0, 0x87, 3, 0x9b, encodeTlv(0x7c, [encodeTlv(0x80, witness), encodeTlv(0x81, new Uint8Array(8).fill(0x5a))]), 0), "authentication");
}

/** GENERATE a P-256 key in `slot`; returns the SPKI of its public key. */
export function generateKey(card: Card, slot: number): Uint8Array {
  const answer = ok(card, apdu(0, 0x47, 0, slot, encodeTlv(0xac, encodeTlv(0x80, Uint8Array.of(0x11))), 0), "generate");
  const point = findTlv(decodeTlvs(readTlv(answer).value), 0x86)!.value;
  return p256SpkiFromEcPoint(point);
}

/** A certificate for `spki`, signed by the test CA; `serial` makes two certificates of one key differ. */
export function certificateFor(spki: Uint8Array, cn: string, serial = 1): Uint8Array {
  const ca = softwareSigningKey(CA_KEY);
  return buildCertificate(
    {
      serial: Uint8Array.of(0x10, serial & 0xff),
      issuer: encodeName([["2.5.4.3", "cardloop trace test CA"]]),
      subject: encodeName([["2.5.4.3", cn]]),
      notBefore: Date.UTC(2026, 0, 1),
      notAfter: Date.UTC(2029, 0, 1),
      spki,
      extensions: [ext.keyUsage([KU.digitalSignature])],
    },
    ca,
  );
}

/** PUT DATA of a certificate object, sent as a command chain (a certificate is longer than one short APDU). */
export function putCertificate(card: Card, tag: number, cert: Uint8Array): void {
  for (const part of certificateChain(tag, cert)) ok(card, part, "put data");
}

function certificateChain(tag: number, cert: Uint8Array): Uint8Array[] {
  const body = concatBytes(Uint8Array.of(0x5c, 3, tag >> 16, (tag >> 8) & 0xff, tag & 0xff), encodeTlv(0x53, [encodeTlv(0x70, cert), encodeTlv(0x71, Uint8Array.of(0)), encodeTlv(0xfe, new Uint8Array(0))]));
  const parts: Uint8Array[] = [];
  for (let off = 0; off < body.length; off += 255) {
    const last = off + 255 >= body.length;
    parts.push(apdu(last ? 0x00 : 0x10, 0xdb, 0x3f, 0xff, body.subarray(off, Math.min(off + 255, body.length))));
  }
  return parts;
}

/** A new card with the test PIN, a P-256 key in 9A and its certificate (5FC105). */
export function issuedCard(cn = "Trace Tester"): { card: PivCard; spki: Uint8Array } {
  const card = PivCard.create({ expires: new Date("2030-06-30T00:00:00Z"), serial: "00c0ffee", pin: TEST_PIN });
  card.powerOn();
  ok(card, SELECT_PIV, "select");
  authenticate(card);
  const spki = generateKey(card, 0x9a);
  putCertificate(card, 0x5fc105, certificateFor(spki, cn));
  card.powerOff();
  return { card, spki };
}

/** A copy of a card, keys and all (its JSON form, as the card file holds it). */
export function copyCard(card: PivCard): PivCard {
  return PivCard.fromJSON(JSON.parse(JSON.stringify(card.toJSON())));
}

/** Wraps a reader and writes every transport exchange into a trace, masked as `cardloop trace import` masks. */
export class RecordingReader implements Reader {
  readonly entries: TraceEntry[] = [];
  private readonly masker = new ExchangeMasker();
  constructor(private readonly inner: Reader) {}
  get name(): string {
    return this.inner.name;
  }
  connect(): Promise<Uint8Array> {
    return this.inner.connect();
  }
  async reset(): Promise<Uint8Array> {
    const atr = await this.inner.reset();
    this.masker.reset();
    this.entries.push({ type: "event", seq: this.entries.length, event: "reset", atr: toHex(atr).toUpperCase() });
    return atr;
  }
  disconnect(): Promise<void> {
    return this.inner.disconnect();
  }
  onPresence(listener: (present: boolean) => void): () => void {
    return this.inner.onPresence(listener);
  }
  async transmit(command: Uint8Array): Promise<Uint8Array> {
    const res = await this.inner.transmit(command);
    const m = this.masker.mask(command, res);
    const n = m.response.length;
    const e: TraceApdu = {
      type: "apdu",
      seq: this.entries.length,
      command: toHex(m.command).toUpperCase(),
      response: toHex(m.response.subarray(0, n - 2)).toUpperCase(),
      sw: toHex(m.response.subarray(n - 2)).toUpperCase(),
      line: this.entries.length + 2,
    };
    if (m.masked !== undefined) e.masked = m.masked;
    this.entries.push(e);
    return res;
  }
  trace(): Trace {
    return { header: { cardloopTrace: TRACE_VERSION, format: "cardloop", masked: this.entries.filter((e) => e.type === "apdu" && e.masked).length }, entries: this.entries };
  }
}

/** A command's whole answer through a reader, 61xx followed with GET RESPONSE. */
export async function whole(reader: Reader, command: Uint8Array): Promise<Uint8Array> {
  let res = await reader.transmit(command);
  while (res[res.length - 2] === 0x61) res = await reader.transmit(Uint8Array.of(0, 0xc0, 0, 0, res[res.length - 1]));
  return res;
}

/** Mutual authentication with the default management key, through a reader. */
export async function authenticateVia(reader: Reader): Promise<void> {
  const step1 = await whole(reader, apdu(0, 0x87, 3, 0x9b, encodeTlv(0x7c, encodeTlv(0x80, new Uint8Array(0))), 0));
  const enc = findTlv(decodeTlvs(readTlv(step1.subarray(0, step1.length - 2)).value), 0x80)!.value;
  const d = createDecipheriv("des-ede3", DEFAULT_MANAGEMENT_KEY, null);
  d.setAutoPadding(false);
  const witness = new Uint8Array(Buffer.concat([d.update(enc), d.final()]));
  await whole(reader, apdu(0, 0x87, 3, 0x9b, encodeTlv(0x7c, [encodeTlv(0x80, witness), encodeTlv(0x81, new Uint8Array(8).fill(0x33))]), 0));
}

/** PUT DATA of a certificate object as a command chain, through a reader. */
export async function putCertificateVia(reader: Reader, tag: number, cert: Uint8Array): Promise<void> {
  for (const part of certificateChain(tag, cert)) await whole(reader, part);
}

/**
 * A host session as middleware runs one: select, read CHUID and the 9A
 * certificate (61xx continuations), authenticate with the management key,
 * verify the PIN, sign a digest with 9A, reset, ask the PIN status. Through
 * `reader`, so a RecordingReader writes it down.
 */
export async function hostSession(reader: Reader, pin = TEST_PIN, digest: Uint8Array = new Uint8Array(32).fill(0x42)): Promise<void> {
  await reader.connect();
  await whole(reader, SELECT_PIV);
  await whole(reader, getData(0x5fc102));
  await whole(reader, getData(0x5fc105));
  await authenticateVia(reader);
  await whole(reader, verifyPin(pin));
  await whole(reader, signDigest(0x9a, digest));
  await reader.reset();
  await whole(reader, SELECT_PIV);
  await whole(reader, apdu(0, 0x20, 0, 0x80));
}
