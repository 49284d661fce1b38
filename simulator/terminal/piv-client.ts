import {
  createCipheriv,
  createDecipheriv,
  createPublicKey,
  type KeyObject,
} from "node:crypto";
import { gunzipSync } from "node:zlib";
import {
  CardloopError,
  CryptoRandom,
  bytesEqual,
  concatBytes,
  decodeResponse,
  decodeTlvs,
  encodeCommand,
  encodeTlv,
  findTlv,
  readTlv,
  swHex,
  swMeaning,
  type CommandApdu,
  type Random,
} from "../../core/index.js";
import type { Reader } from "../reader/index.js";

export type PivSlot = 0x9a | 0x9c | 0x9d | 0x9e;
export type PivKeyAlg = "p256" | "p384" | "rsa2048";
export type PivManagementAlg = "3des" | "aes128" | "aes192" | "aes256";

const PIV_AID = Uint8Array.of(0xa0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00);
const KEY_ALG_ID: Record<PivKeyAlg, number> = { rsa2048: 0x07, p256: 0x11, p384: 0x14 };
const MGM_ALG_ID: Record<PivManagementAlg, number> = { "3des": 0x03, aes128: 0x08, aes192: 0x0a, aes256: 0x0c };
const CERT_TAG: Record<number, number> = { 0x9a: 0x5fc105, 0x9c: 0x5fc10a, 0x9d: 0x5fc10b, 0x9e: 0x5fc101 };
const CURVE: Record<string, string> = { p256: "P-256", p384: "P-384" };
const FIELD: Record<string, number> = { p256: 32, p384: 48 };

/** DigestInfo prefixes (RFC 8017, 9.2 note 1) by digest length. */
const DIGEST_INFO_PREFIX: Record<number, string> = {
  20: "3021300906052b0e03021a05000414",
  32: "3031300d060960864801650304020105000420",
  48: "3041300d060960864801650304020205000430",
  64: "3051300d060960864801650304020305000440",
};

/** A status word other than 9000 (or a reply the client cannot use). */
export class PivError extends CardloopError {
  constructor(
    readonly sw: number,
    message: string,
    readonly retriesLeft?: number,
  ) {
    super("piv", message);
  }

  static fromSw(what: string, sw: number): PivError {
    if ((sw & 0xfff0) === 0x63c0) return new PivError(sw, `${what}: wrong, ${sw & 0x0f} tries left (SW ${swHex(sw)})`, sw & 0x0f);
    if (sw === 0x6983) return new PivError(sw, `${what}: blocked (SW 6983)`, 0);
    return new PivError(sw, `${what}: ${swMeaning(sw)} (SW ${swHex(sw)})`);
  }
}

/**
 * The host side of PIV: turns calls into APDUs, hides 61xx/GET RESPONSE and
 * command chaining, and turns status words into PivErrors. Short APDUs only,
 * so that it works through every reader and middleware path.
 */
export class PivClient {
  /** `random`: where the host's challenges come from (the management-key challenge); a seeded run passes its stream. */
  constructor(
    readonly reader: Reader,
    private readonly random: Random = new CryptoRandom(),
  ) {}

  /** SELECT the PIV application; returns the application property template (61 ...). */
  async select(): Promise<Uint8Array> {
    const r = await this.send(0xa4, 0x04, 0x00, PIV_AID);
    if (r.sw !== 0x9000) throw PivError.fromSw("SELECT PIV", r.sw);
    return r.data;
  }

  async verifyPin(pin: string): Promise<void> {
    const r = await this.send(0x20, 0x00, 0x80, padPin(pin), false);
    if (r.sw !== 0x9000) throw PivError.fromSw("VERIFY PIN", r.sw);
  }

  /**
   * Tries left for the PIN (0 when blocked). An empty VERIFY says so, except
   * while the PIN is verified (9000): then GET METADATA answers, where supported.
   */
  async pinRetries(): Promise<number> {
    const r = await this.send(0x20, 0x00, 0x80, new Uint8Array(0), false);
    if ((r.sw & 0xfff0) === 0x63c0) return r.sw & 0x0f;
    if (r.sw === 0x6983) return 0;
    if (r.sw !== 0x9000) throw PivError.fromSw("VERIFY (retries)", r.sw);
    const m = await this.send(0xf7, 0x00, 0x80, new Uint8Array(0));
    if (m.sw === 0x9000) {
      const retries = findTlv(decodeTlvs(m.data), 0x06);
      if (retries && retries.value.length === 2) return retries.value[1];
    }
    throw new PivError(r.sw, "the PIN is verified and the card does not report its retry counter");
  }

  async changePin(oldPin: string, newPin: string): Promise<void> {
    const r = await this.send(0x24, 0x00, 0x80, concatBytes(padPin(oldPin), padPin(newPin)), false);
    if (r.sw !== 0x9000) throw PivError.fromSw("CHANGE PIN", r.sw);
  }

  async changePuk(oldPuk: string, newPuk: string): Promise<void> {
    const r = await this.send(0x24, 0x00, 0x81, concatBytes(padPin(oldPuk), padPin(newPuk)), false);
    if (r.sw !== 0x9000) throw PivError.fromSw("CHANGE PUK", r.sw);
  }

  /** RESET RETRY COUNTER: the PUK sets a new PIN and unblocks it. */
  async unblockPin(puk: string, newPin: string): Promise<void> {
    const r = await this.send(0x2c, 0x00, 0x80, concatBytes(padPin(puk), padPin(newPin)), false);
    if (r.sw !== 0x9000) throw PivError.fromSw("RESET RETRY COUNTER", r.sw);
  }

  /**
   * Mutual authentication with the management key (9B): the card proves it
   * holds the key too, so a host never trusts a card that merely says 9000.
   */
  async authenticate(managementKey: Uint8Array, alg: PivManagementAlg = "3des"): Promise<void> {
    const algId = MGM_ALG_ID[alg];
    if (algId === undefined) throw new PivError(0, `unknown management key algorithm ${alg}`);
    const block = alg === "3des" ? 8 : 16;
    const step1 = await this.send(0x87, algId, 0x9b, encodeTlv(0x7c, encodeTlv(0x80, new Uint8Array(0))));
    if (step1.sw !== 0x9000) throw PivError.fromSw("GENERAL AUTHENTICATE (witness)", step1.sw);
    const encWitness = dynamicItem(step1.data, 0x80);
    if (!encWitness || encWitness.length !== block) throw new PivError(step1.sw, "card sent no usable witness");
    const witness = ecb(alg, managementKey, encWitness, false);
    const challenge = this.random.bytes(block);
    const step2 = await this.send(
      0x87,
      algId,
      0x9b,
      encodeTlv(0x7c, [encodeTlv(0x80, witness), encodeTlv(0x81, challenge)]),
    );
    if (step2.sw !== 0x9000) throw PivError.fromSw("GENERAL AUTHENTICATE (management key)", step2.sw);
    const answer = dynamicItem(step2.data, 0x82);
    if (!answer || !bytesEqual(answer, ecb(alg, managementKey, challenge, true))) {
      throw new PivError(step2.sw, "the card's answer to our challenge is wrong: it does not hold this management key");
    }
  }

  /** GENERATE ASYMMETRIC KEY PAIR in `slot`; returns the public key from the 7F49 template. */
  async generateKey(slot: PivSlot, alg: PivKeyAlg): Promise<KeyObject> {
    const algId = KEY_ALG_ID[alg];
    if (algId === undefined) throw new PivError(0, `unknown key algorithm ${alg}`);
    const r = await this.send(0x47, 0x00, slot, encodeTlv(0xac, encodeTlv(0x80, Uint8Array.of(algId))));
    if (r.sw !== 0x9000) throw PivError.fromSw(`GENERATE ${slotName(slot)}`, r.sw);
    return publicKeyFromTemplate(r.data, alg);
  }

  /**
   * A signature with the key in `slot`. ECDSA: the digest goes in, a DER
   * ECDSA-Sig-Value comes out. RSA: the client builds the PKCS#1 v1.5
   * DigestInfo block (SHA-1/256/384/512 by digest length) and gets s = m^d mod n.
   * Slot 9C (PIN always): call verifyPin() right before, with no other call
   * in between; the card refuses (6982) if anything else came after the
   * VERIFY. This method sends only the GENERAL AUTHENTICATE (chained parts)
   * and its GET RESPONSEs, which the card counts as one operation.
   */
  async signDigest(slot: PivSlot, alg: PivKeyAlg, digest: Uint8Array): Promise<Uint8Array> {
    let input: Uint8Array;
    if (alg === "rsa2048") {
      const prefix = DIGEST_INFO_PREFIX[digest.length];
      if (!prefix) throw new PivError(0, `no DigestInfo for a ${digest.length}-byte digest`);
      input = pkcs1v15Block(concatBytes(Buffer.from(prefix, "hex"), digest), 256);
    } else {
      input = digest.length > FIELD[alg] ? digest.subarray(0, FIELD[alg]) : digest;
    }
    const r = await this.send(
      0x87,
      KEY_ALG_ID[alg],
      slot,
      encodeTlv(0x7c, [encodeTlv(0x82, new Uint8Array(0)), encodeTlv(0x81, input)]),
    );
    if (r.sw !== 0x9000) throw PivError.fromSw(`SIGN with ${slotName(slot)}`, r.sw);
    const sig = dynamicItem(r.data, 0x82);
    if (!sig) throw new PivError(r.sw, "the card's signature response has no 82 item");
    return sig;
  }

  /** The slot's certificate (DER), or undefined when the card holds none. */
  async readCertificate(slot: number): Promise<Uint8Array | undefined> {
    const tag = CERT_TAG[slot];
    if (tag === undefined) throw new PivError(0, `no certificate object for slot ${slotName(slot)}`);
    let value: Uint8Array;
    try {
      value = await this.getData(tag);
    } catch (err) {
      if (err instanceof PivError && err.sw === 0x6a82) return undefined;
      throw err;
    }
    const items = safeTlvs(value);
    const cert = items && findTlv(items, 0x70);
    if (!cert) return undefined;
    const info = findTlv(items, 0x71);
    // CertInfo bit 0 set: the certificate is gzip-compressed (YubiKey practice)
    if (info && info.value.length === 1 && info.value[0] & 1) return new Uint8Array(gunzipSync(cert.value));
    return Uint8Array.from(cert.value);
  }

  /** Writes the slot's certificate object {70 cert, 71 00, FE}; needs a prior authenticate(). */
  async writeCertificate(slot: number, der: Uint8Array): Promise<void> {
    const tag = CERT_TAG[slot];
    if (tag === undefined) throw new PivError(0, `no certificate object for slot ${slotName(slot)}`);
    await this.putData(
      tag,
      concatBytes(encodeTlv(0x70, der), encodeTlv(0x71, Uint8Array.of(0)), encodeTlv(0xfe, new Uint8Array(0))),
    );
  }

  /**
   * GET DATA (00 CB 3F FF, 5C tag). Returns the object's content: the value
   * inside its 53 container (or inside 7E for the Discovery object).
   */
  async getData(tag: number): Promise<Uint8Array> {
    const r = await this.send(0xcb, 0x3f, 0xff, encodeTlv(0x5c, tagBytes(tag)));
    if (r.sw !== 0x9000) throw PivError.fromSw(`GET DATA ${tag.toString(16).toUpperCase()}`, r.sw);
    try {
      const outer = readTlv(r.data, 0);
      return Uint8Array.from(outer.value);
    } catch {
      throw new PivError(r.sw, `GET DATA ${tag.toString(16).toUpperCase()}: the card's answer is not a TLV`);
    }
  }

  /** PUT DATA of `value` (the content; the client wraps it in 53). Needs a prior authenticate(). */
  async putData(tag: number, value: Uint8Array): Promise<void> {
    const r = await this.send(0xdb, 0x3f, 0xff, concatBytes(encodeTlv(0x5c, tagBytes(tag)), encodeTlv(0x53, value)), false);
    if (r.sw !== 0x9000) throw PivError.fromSw(`PUT DATA ${tag.toString(16).toUpperCase()}`, r.sw);
  }

  /** The CHUID's FASC-N, GUID and expiration date (tag 35, YYYYMMDD, returned as 00:00 UTC of that day). */
  async readChuid(): Promise<{ fascn?: Uint8Array; guid: Uint8Array; expires: Date }> {
    const items = safeTlvs(await this.getData(0x5fc102));
    if (!items) throw new PivError(0x9000, "CHUID is not BER-TLV");
    const guid = findTlv(items, 0x34);
    const exp = findTlv(items, 0x35);
    const fascn = findTlv(items, 0x30);
    const m = exp && /^(\d{4})(\d{2})(\d{2})$/.exec(new TextDecoder().decode(exp.value));
    if (!guid || !m) throw new PivError(0x9000, "CHUID lacks a GUID (34) or an expiration date (35)");
    const expires = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
    return { ...(fascn ? { fascn: Uint8Array.from(fascn.value) } : {}), guid: Uint8Array.from(guid.value), expires };
  }

  /**
   * One logical command: chained in 255-byte pieces when long, answers
   * gathered across 61xx/GET RESPONSE, a 6Cxx answered by resending with that Le.
   */
  async send(
    ins: number,
    p1: number,
    p2: number,
    data: Uint8Array,
    expectData = true,
  ): Promise<{ data: Uint8Array; sw: number }> {
    let off = 0;
    while (data.length - off > 255) {
      const r = await this.exchange({ cla: 0x10, ins, p1, p2, data: data.subarray(off, off + 255) });
      if (r.sw !== 0x9000) return { data: new Uint8Array(0), sw: r.sw };
      off += 255;
    }
    const last: CommandApdu = { cla: 0x00, ins, p1, p2, data: data.subarray(off) };
    if (expectData) last.le = 256;
    let r = await this.exchange(last);
    if (r.sw >> 8 === 0x6c) r = await this.exchange({ ...last, le: r.sw & 0xff || 256 });
    const parts = [r.data];
    let guard = 0;
    while (r.sw >> 8 === 0x61 && guard++ < 1024) {
      r = await this.exchange({ cla: 0x00, ins: 0xc0, p1: 0, p2: 0, data: new Uint8Array(0), le: r.sw & 0xff || 256 });
      parts.push(r.data);
    }
    return { data: parts.length === 1 ? parts[0] : concatBytes(...parts), sw: r.sw };
  }

  private async exchange(cmd: CommandApdu): Promise<{ data: Uint8Array; sw: number }> {
    const res = await this.reader.transmit(encodeCommand(cmd));
    if (res.length < 2) throw new PivError(0, `the card answered ${res.length} bytes, no status word`);
    return decodeResponse(res);
  }
}

function slotName(slot: number): string {
  return slot.toString(16).toUpperCase();
}

/** PIN/PUK as PIV sends them: the characters, padded with FF to 8 bytes. */
function padPin(value: string): Uint8Array {
  const bytes = new TextEncoder().encode(value);
  if (bytes.length > 8) throw new PivError(0, "a PIN or PUK has at most 8 characters");
  const out = new Uint8Array(8).fill(0xff);
  out.set(bytes, 0);
  return out;
}

function tagBytes(tag: number): Uint8Array {
  if (tag <= 0xff) return Uint8Array.of(tag);
  if (tag <= 0xffff) return Uint8Array.of(tag >> 8, tag & 0xff);
  return Uint8Array.of(tag >> 16, (tag >> 8) & 0xff, tag & 0xff);
}

function safeTlvs(buf: Uint8Array) {
  try {
    return decodeTlvs(buf);
  } catch {
    return undefined;
  }
}

/** The value of `tag` inside a 7C dynamic authentication template. */
function dynamicItem(data: Uint8Array, tag: number): Uint8Array | undefined {
  try {
    const outer = readTlv(data, 0);
    if (outer.tag !== 0x7c) return undefined;
    return findTlv(decodeTlvs(outer.value), tag)?.value;
  } catch {
    return undefined;
  }
}

function ecb(alg: PivManagementAlg, key: Uint8Array, block: Uint8Array, encrypt: boolean): Uint8Array {
  const name = alg === "3des" ? "des-ede3" : `aes-${key.length * 8}-ecb`;
  const c = encrypt ? createCipheriv(name, key, null) : createDecipheriv(name, key, null);
  c.setAutoPadding(false);
  return new Uint8Array(Buffer.concat([c.update(block), c.final()]));
}

/** EMSA-PKCS1-v1_5: 00 01 FF..FF 00 DigestInfo. */
function pkcs1v15Block(digestInfo: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size).fill(0xff);
  out[0] = 0x00;
  out[1] = 0x01;
  out[size - digestInfo.length - 1] = 0x00;
  out.set(digestInfo, size - digestInfo.length);
  return out;
}

function publicKeyFromTemplate(data: Uint8Array, alg: PivKeyAlg): KeyObject {
  let items;
  try {
    const outer = readTlv(data, 0);
    if (outer.tag !== 0x7f49) throw new Error("no 7F49");
    items = decodeTlvs(outer.value);
  } catch {
    throw new PivError(0x9000, "GENERATE answered no public key template (7F49)");
  }
  const b64 = (v: Uint8Array) => Buffer.from(v).toString("base64url");
  if (alg === "rsa2048") {
    const n = findTlv(items, 0x81);
    const e = findTlv(items, 0x82);
    if (!n || !e) throw new PivError(0x9000, "RSA public key template lacks 81/82");
    return createPublicKey({ key: { kty: "RSA", n: b64(n.value), e: b64(e.value) }, format: "jwk" });
  }
  const point = findTlv(items, 0x86);
  const size = FIELD[alg];
  if (!point || point.value.length !== 1 + 2 * size || point.value[0] !== 4) {
    throw new PivError(0x9000, "EC public key template lacks an uncompressed point (86)");
  }
  return createPublicKey({
    key: {
      kty: "EC",
      crv: CURVE[alg],
      x: b64(point.value.subarray(1, 1 + size)),
      y: b64(point.value.subarray(1 + size)),
    },
    format: "jwk",
  });
}
