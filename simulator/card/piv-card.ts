import {
  CLA_CHAINING,
  CryptoRandom,
  SW,
  bytesEqual,
  concatBytes,
  decodeTlvs,
  encodeTlv,
  fromHex,
  readTlv,
  type Random,
  type Tlv,
} from "../../core/index.js";
import type { Card } from "./card.js";
import { ATR } from "./atr.js";
import {
  ALG,
  CardKey,
  SYM_KEY_LENGTH,
  encryptBlock,
  isAsymAlg,
  isSymAlg,
  symBlockSize,
  type SymAlg,
} from "./crypto.js";
import { encodeFascn } from "./fascn.js";
import { stateFromJson, stateToJson, type PivCardJson } from "./state-json.js";
import {
  PIN_PROTECTED_OBJECTS,
  PIV_AID,
  TAG,
  applicationPropertyTemplate,
  buildCcc,
  buildChuid,
  buildDiscovery,
  buildKeyHistory,
  isKeySlot,
  isWritableTag,
} from "./objects.js";

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

/** Reported by GET VERSION (00 FD): a YubiKey 5 firmware level without the metadata command. */
export const FIRMWARE_VERSION = Uint8Array.of(5, 2, 7);

/** Largest data object PUT DATA accepts (a YubiKey 5 takes 3052 bytes; we allow more). */
export const MAX_OBJECT_SIZE = 8192;
const MAX_CHAIN_SIZE = MAX_OBJECT_SIZE + 64;
const SUPPORTED_ALGS = [ALG.RSA2048, ALG.P256, ALG.P384, ALG.TDES, ALG.AES128, ALG.AES192, ALG.AES256];
const INS = {
  VERIFY: 0x20,
  CHANGE_REFERENCE_DATA: 0x24,
  RESET_RETRY_COUNTER: 0x2c,
  GENERATE: 0x47,
  GENERAL_AUTHENTICATE: 0x87,
  SELECT: 0xa4,
  GET_RESPONSE: 0xc0,
  GET_DATA: 0xcb,
  PUT_DATA: 0xdb,
  YK_GET_METADATA: 0xf7,
  YK_GET_SERIAL: 0xf8,
  YK_RESET: 0xfb,
  YK_GET_VERSION: 0xfd,
  YK_SET_MANAGEMENT_KEY: 0xff,
} as const;
const MANAGEMENT_KEY_REF = 0x9b;
/** The digital signature key: PIN always. */
const SIGNATURE_KEY_REF = 0x9c;
const PIN_REF = 0x80;
const PUK_REF = 0x81;

const OK = Uint8Array.of(0x90, 0x00);
const EMPTY = new Uint8Array(0);

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
}

/**
 * A PIV card application (SP 800-73-4 part 2) with the YubiKey extensions
 * middleware asks for. `transmit` never throws: every input gets a status word.
 */
export class PivCard implements Card {
  // Security status and protocol state of the current session (lost on reset).
  private pinVerified = false;
  /**
   * PIN always (9C): true only between a successful VERIFY and the next
   * command. `dispatch` clears it on every command that is not the 9C
   * signature itself or a chained part of it; see `dispatch` for why.
   */
  private pinAlways = false;
  private mgmAuthenticated = false;
  private witness?: Uint8Array;
  private challenge?: Uint8Array;
  private chain?: { ins: number; p1: number; p2: number; parts: Uint8Array[]; size: number };
  private pending?: Uint8Array;

  constructor(
    /** The card's secure memory. Exposed for persistence and tests, never for logging. */
    readonly state: PivCardState,
    private readonly random: Random = new CryptoRandom(),
  ) {}

  static create(opts: PivCardOptions): PivCard {
    const random = opts.random ?? new CryptoRandom();
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
    return new PivCard(
      {
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
      },
      random,
    );
  }

  /** The card file's content (secrets included: the file is the card's secure memory). */
  toJSON(): PivCardJson {
    return stateToJson(this.state);
  }

  static fromJSON(obj: unknown, random?: Random): PivCard {
    return new PivCard(stateFromJson(obj), random);
  }

  get expires(): Date {
    return new Date(this.state.expires.getTime());
  }

  /** Serial as lower-case hex. */
  get serial(): string {
    return Buffer.from(this.state.serial).toString("hex");
  }

  powerOn(): Uint8Array {
    this.resetSession();
    return ATR;
  }

  powerOff(): void {
    this.resetSession();
  }

  transmit(command: Uint8Array): Uint8Array {
    try {
      return this.dispatch(command);
    } catch {
      // A bug in an instruction must still look like a card: "no precise diagnosis".
      this.chain = undefined;
      this.pending = undefined;
      return sw(SW.UNKNOWN);
    }
  }

  private resetSession(): void {
    this.pinVerified = false;
    this.pinAlways = false;
    this.mgmAuthenticated = false;
    this.witness = undefined;
    this.challenge = undefined;
    this.chain = undefined;
    this.pending = undefined;
  }

  private dispatch(bytes: Uint8Array): Uint8Array {
    // PIN always: SP 800-73-4 wants the PIN "verified every time immediately
    // before a digital signature key operation". So a VERIFY's grant lives for
    // one command: any other command in between (GET DATA, a 9A signature,
    // an empty VERIFY, SELECT...) ends it. Only the parts of a chained 9C
    // GENERAL AUTHENTICATE carry it to the part that signs; a GET RESPONSE
    // can only follow the signature, which has consumed it already.
    // Real middleware fits: OpenSC's PIV driver keeps the card locked from
    // its context-specific VERIFY to the signature and sends nothing between
    // (it unlocks after "the next card command that should be a crypto
    // operation"), and YubiKeys behave the same way (yubico-piv-tool #430).
    const pinAlways = this.pinAlways;
    this.pinAlways = false;

    const n = bytes.length;
    if (n < 4) return sw(SW.WRONG_LENGTH);
    const cla = bytes[0];
    const ins = bytes[1];
    const p1 = bytes[2];
    const p2 = bytes[3];
    if ((cla & ~CLA_CHAINING) !== 0) return sw(SW.CLA_NOT_SUPPORTED);
    const parsed = parseBody(bytes);
    if (parsed === undefined) return sw(SW.WRONG_LENGTH);
    let { data } = parsed;
    const { le } = parsed;

    if (ins !== INS.GET_RESPONSE) this.pending = undefined;

    if (cla & CLA_CHAINING) {
      if (ins !== INS.PUT_DATA && ins !== INS.GENERAL_AUTHENTICATE) {
        this.chain = undefined;
        return sw(SW.CHAINING_NOT_SUPPORTED);
      }
      let c = this.chain;
      const restarted = c !== undefined && (c.ins !== ins || c.p1 !== p1 || c.p2 !== p2);
      if (c === undefined || restarted) {
        c = this.chain = { ins, p1, p2, parts: [], size: 0 };
      }
      c.parts.push(Uint8Array.from(data));
      c.size += data.length;
      if (c.size > MAX_CHAIN_SIZE) {
        this.chain = undefined;
        return sw(SW.NOT_ENOUGH_MEMORY);
      }
      // the first or a next part of one 9C signature: the grant waits for the last part
      if (ins === INS.GENERAL_AUTHENTICATE && p2 === SIGNATURE_KEY_REF && !restarted) this.pinAlways = pinAlways;
      return sw(SW.OK);
    }
    let continues = true;
    if (this.chain !== undefined) {
      const c = this.chain;
      this.chain = undefined;
      continues = c.ins === ins && c.p1 === p1 && c.p2 === p2;
      if (continues) data = concatBytes(...c.parts, data);
    }

    switch (ins) {
      case INS.GET_DATA:
        return this.getData(p1, p2, data, le);
      case INS.SELECT:
        return this.select(p1, p2, data, le);
      case INS.GET_RESPONSE:
        return this.getResponse(p1, p2, le);
      case INS.VERIFY:
        return this.verify(p1, p2, data);
      case INS.CHANGE_REFERENCE_DATA:
        return this.changeReferenceData(p1, p2, data);
      case INS.RESET_RETRY_COUNTER:
        return this.resetRetryCounter(p1, p2, data);
      case INS.GENERAL_AUTHENTICATE:
        // a chain left unfinished for another operation is not "immediately before"
        return this.generalAuthenticate(p1, p2, data, le, pinAlways && continues);
      case INS.GENERATE:
        return this.generate(p1, p2, data, le);
      case INS.PUT_DATA:
        return this.putData(p1, p2, data);
      case INS.YK_GET_VERSION:
        return p1 === 0 && p2 === 0 ? this.respond(FIRMWARE_VERSION, le) : sw(SW.INCORRECT_P1P2);
      case INS.YK_GET_SERIAL:
        return p1 === 0 && p2 === 0 ? this.respond(serial32(this.state.serial), le) : sw(SW.INCORRECT_P1P2);
      case INS.YK_GET_METADATA:
        return this.metadata(p1, p2, le);
      case INS.YK_SET_MANAGEMENT_KEY:
        return this.setManagementKey(p1, p2, data);
      case INS.YK_RESET:
        return this.factoryReset(p1, p2);
      default:
        return sw(SW.INS_NOT_SUPPORTED);
    }
  }

  /** Data plus SW; when longer than Le the rest waits for GET RESPONSE behind 61xx. */
  private respond(data: Uint8Array, le: number | undefined, status: number = SW.OK): Uint8Array {
    const max = le ?? 256;
    if (data.length <= max) return withSw(data, status);
    const rest = data.subarray(max);
    this.pending = rest;
    return withSw(data.subarray(0, max), 0x6100 | (rest.length >= 256 ? 0 : rest.length));
  }

  private getResponse(p1: number, p2: number, le: number | undefined): Uint8Array {
    if (p1 !== 0 || p2 !== 0) {
      this.pending = undefined;
      return sw(SW.INCORRECT_P1P2);
    }
    const data = this.pending;
    this.pending = undefined;
    if (data === undefined) return sw(SW.CONDITIONS_NOT_SATISFIED);
    return this.respond(data, le);
  }

  private select(p1: number, p2: number, data: Uint8Array, le: number | undefined): Uint8Array {
    if (p1 === 0x00) return sw(SW.FILE_NOT_FOUND); // by file id: PIV has no files
    if (p1 !== 0x04 || (p2 !== 0x00 && p2 !== 0x0c)) return sw(SW.INCORRECT_P1P2);
    // full AID, or a right-truncated one down to the NIST RID (A0 00 00 03 08)
    if (data.length < 5 || data.length > PIV_AID.length || !bytesEqual(data, PIV_AID.subarray(0, data.length))) {
      return sw(SW.FILE_NOT_FOUND);
    }
    if (p2 === 0x0c) return sw(SW.OK);
    return this.respond(applicationPropertyTemplate(SUPPORTED_ALGS), le);
  }

  private getData(p1: number, p2: number, data: Uint8Array, le: number | undefined): Uint8Array {
    if (p1 !== 0x3f || p2 !== 0xff) return sw(SW.INCORRECT_P1P2);
    const tag = tagList(data);
    if (tag === undefined) return sw(SW.WRONG_DATA);
    // The access rule comes before the lookup: without the PIN a protected object's
    // absence is not revealed either (YubiKeys answer 6982 here, and ykman relies on it).
    if (PIN_PROTECTED_OBJECTS.has(tag) && !this.pinVerified) return sw(SW.SECURITY_NOT_SATISFIED);
    const obj = this.state.objects.get(tag);
    if (obj === undefined) return sw(SW.FILE_NOT_FOUND);
    return this.respond(obj, le);
  }

  private putData(p1: number, p2: number, data: Uint8Array): Uint8Array {
    if (p1 !== 0x3f || p2 !== 0xff) return sw(SW.INCORRECT_P1P2);
    if (!this.mgmAuthenticated) return sw(SW.SECURITY_NOT_SATISFIED);
    let first: Tlv;
    let body: Tlv;
    try {
      first = readTlv(data, 0);
      if (first.tag !== 0x5c) return sw(SW.WRONG_DATA);
      body = readTlv(data, first.end);
    } catch {
      return sw(SW.WRONG_DATA);
    }
    const tag = tagValue(first.value);
    if (tag === undefined || body.end !== data.length || body.tag !== 0x53) return sw(SW.WRONG_DATA);
    if (!isWritableTag(tag)) return sw(SW.WRONG_DATA);
    if (body.end - body.start > MAX_OBJECT_SIZE) return sw(SW.NOT_ENOUGH_MEMORY);
    // an empty container deletes the object (what YubiKeys do)
    if (body.value.length === 0) this.state.objects.delete(tag);
    else this.state.objects.set(tag, Uint8Array.from(data.subarray(body.start, body.end)));
    return sw(SW.OK);
  }

  private verify(p1: number, p2: number, data: Uint8Array): Uint8Array {
    const s = this.state;
    if (p1 === 0xff) {
      // reset the security status of the PIN (SP 800-73-4, 3.2.1)
      if (p2 !== PIN_REF || data.length !== 0) return sw(data.length ? SW.WRONG_DATA : SW.REF_DATA_NOT_FOUND);
      this.pinVerified = false;
      return sw(SW.OK);
    }
    if (p1 !== 0x00) return sw(SW.INCORRECT_P1P2);
    if (p2 !== PIN_REF) return sw(SW.REF_DATA_NOT_FOUND);
    if (s.pinLeft === 0) return sw(SW.AUTH_BLOCKED);
    if (data.length === 0) return sw(this.pinVerified ? SW.OK : 0x63c0 | s.pinLeft);
    if (data.length !== 8) return sw(SW.WRONG_DATA);
    if (bytesEqual(data, s.pin)) {
      s.pinLeft = s.pinMax;
      this.pinVerified = true;
      this.pinAlways = true;
      return OK;
    }
    s.pinLeft--;
    this.pinVerified = false;
    return sw(0x63c0 | s.pinLeft);
  }

  private changeReferenceData(p1: number, p2: number, data: Uint8Array): Uint8Array {
    if (p1 !== 0x00) return sw(SW.INCORRECT_P1P2);
    if (p2 !== PIN_REF && p2 !== PUK_REF) return sw(SW.REF_DATA_NOT_FOUND);
    const s = this.state;
    const isPin = p2 === PIN_REF;
    if ((isPin ? s.pinLeft : s.pukLeft) === 0) return sw(SW.AUTH_BLOCKED);
    if (data.length !== 16 || !isWellFormedReference(data.subarray(8))) return sw(SW.WRONG_DATA);
    const old = data.subarray(0, 8);
    if (!bytesEqual(old, isPin ? s.pin : s.puk)) {
      if (isPin) {
        s.pinLeft--;
        this.pinVerified = false;
        return sw(0x63c0 | s.pinLeft);
      }
      s.pukLeft--;
      return sw(0x63c0 | s.pukLeft);
    }
    if (isPin) {
      s.pin = Uint8Array.from(data.subarray(8));
      s.pinLeft = s.pinMax;
    } else {
      s.puk = Uint8Array.from(data.subarray(8));
      s.pukLeft = s.pukMax;
    }
    return OK;
  }

  private resetRetryCounter(p1: number, p2: number, data: Uint8Array): Uint8Array {
    if (p1 !== 0x00) return sw(SW.INCORRECT_P1P2);
    if (p2 !== PIN_REF) return sw(SW.REF_DATA_NOT_FOUND);
    const s = this.state;
    if (s.pukLeft === 0) return sw(SW.AUTH_BLOCKED);
    if (data.length !== 16 || !isWellFormedReference(data.subarray(8))) return sw(SW.WRONG_DATA);
    if (!bytesEqual(data.subarray(0, 8), s.puk)) {
      s.pukLeft--;
      return sw(0x63c0 | s.pukLeft);
    }
    s.pukLeft = s.pukMax;
    s.pin = Uint8Array.from(data.subarray(8));
    s.pinLeft = s.pinMax;
    return OK;
  }

  private generate(p1: number, p2: number, data: Uint8Array, le: number | undefined): Uint8Array {
    if (p1 !== 0x00 || !isKeySlot(p2)) return sw(SW.INCORRECT_P1P2);
    if (!this.mgmAuthenticated) return sw(SW.SECURITY_NOT_SATISFIED);
    let alg: number | undefined;
    try {
      const outer = readTlv(data, 0);
      if (outer.tag !== 0xac || outer.end !== data.length) return sw(SW.WRONG_DATA);
      const a = decodeTlvs(outer.value).find((t) => t.tag === 0x80);
      if (a && a.value.length === 1) alg = a.value[0];
    } catch {
      return sw(SW.WRONG_DATA);
    }
    if (alg === undefined || !isAsymAlg(alg)) return sw(SW.WRONG_DATA);
    const key = CardKey.generate(alg);
    this.state.keys.set(p2, key);
    const pub = key.publicParts();
    const template =
      pub.point !== undefined
        ? encodeTlv(0x7f49, encodeTlv(0x86, pub.point))
        : encodeTlv(0x7f49, [encodeTlv(0x81, pub.modulus!), encodeTlv(0x82, pub.exponent!)]);
    return this.respond(template, le);
  }

  private generalAuthenticate(p1: number, p2: number, data: Uint8Array, le: number | undefined, pinAlways: boolean): Uint8Array {
    let items: Tlv[];
    try {
      const outer = readTlv(data, 0);
      if (outer.tag !== 0x7c || outer.end !== data.length) return sw(SW.WRONG_DATA);
      items = decodeTlvs(outer.value);
    } catch {
      return sw(SW.WRONG_DATA);
    }
    const get = (tag: number) => items.find((t) => t.tag === tag);
    if (p2 === MANAGEMENT_KEY_REF) return this.managementAuthenticate(p1, get(0x80), get(0x81), get(0x82), le);
    if (!isKeySlot(p2)) return sw(SW.INCORRECT_P1P2);
    const key = this.state.keys.get(p2);
    if (!isAsymAlg(p1)) return sw(SW.INCORRECT_P1P2);
    if (key === undefined) return sw(SW.REF_DATA_NOT_FOUND);
    if (key.alg !== p1) return sw(SW.INCORRECT_P1P2);
    const response = get(0x82);
    const challenge = get(0x81);
    const exponentiation = get(0x85);
    if (response === undefined || response.value.length !== 0) return sw(SW.WRONG_DATA);
    if ((challenge === undefined) === (exponentiation === undefined)) return sw(SW.WRONG_DATA);
    // access rules: 9E none; 9C PIN always; every other key PIN once per session
    // (the 9C grant is gone after this command whatever it answers: see dispatch)
    if (p2 === SIGNATURE_KEY_REF) {
      if (!pinAlways) return sw(SW.SECURITY_NOT_SATISFIED);
    } else if (p2 !== 0x9e && !this.pinVerified) {
      return sw(SW.SECURITY_NOT_SATISFIED);
    }
    const result = challenge !== undefined ? key.sign(challenge.value) : key.agree(exponentiation!.value);
    if (result === undefined) return sw(SW.WRONG_DATA);
    return this.respond(encodeTlv(0x7c, encodeTlv(0x82, result)), le);
  }

  /**
   * 9B challenge-response (SP 800-73-4 part 2, appendix A):
   *  - mutual: 7C{80 00} -> 7C{80 E(W)}; 7C{80 W, 81 C} -> 7C{82 E(C)}
   *  - external: 7C{81 00} -> 7C{81 C}; 7C{82 E(C)} -> 9000
   *  - internal (host checks the card): 7C{81 C, 82 00} -> 7C{82 E(C)}
   */
  private managementAuthenticate(
    alg: number,
    witness: Tlv | undefined,
    challenge: Tlv | undefined,
    response: Tlv | undefined,
    le: number | undefined,
  ): Uint8Array {
    const s = this.state;
    if (!isSymAlg(alg) || alg !== s.managementAlg) return sw(SW.INCORRECT_P1P2);
    const block = symBlockSize(alg);
    const enc = (b: Uint8Array) => encryptBlock(alg, s.managementKey, b);
    const reply = (tag: number, v: Uint8Array) => this.respond(encodeTlv(0x7c, encodeTlv(tag, v)), le);

    if (witness !== undefined && witness.value.length === 0 && challenge === undefined && response === undefined) {
      this.mgmAuthenticated = false;
      this.challenge = undefined;
      this.witness = this.random.bytes(block);
      return reply(0x80, enc(this.witness));
    }
    if (witness !== undefined && challenge !== undefined && challenge.value.length > 0) {
      const expected = this.witness;
      this.witness = undefined;
      if (expected === undefined) return sw(SW.CONDITIONS_NOT_SATISFIED);
      if (challenge.value.length !== block || (response !== undefined && response.value.length !== 0)) {
        return sw(SW.WRONG_DATA);
      }
      if (!bytesEqual(witness.value, expected)) return sw(SW.SECURITY_NOT_SATISFIED);
      this.mgmAuthenticated = true;
      return reply(0x82, enc(challenge.value));
    }
    if (witness !== undefined) return sw(SW.WRONG_DATA);
    if (challenge !== undefined && challenge.value.length === 0 && response === undefined) {
      this.mgmAuthenticated = false;
      this.witness = undefined;
      this.challenge = this.random.bytes(block);
      return reply(0x81, this.challenge);
    }
    if (challenge === undefined && response !== undefined && response.value.length > 0) {
      const expected = this.challenge;
      this.challenge = undefined;
      if (expected === undefined) return sw(SW.CONDITIONS_NOT_SATISFIED);
      if (response.value.length !== block) return sw(SW.WRONG_DATA);
      if (!bytesEqual(response.value, enc(expected))) return sw(SW.SECURITY_NOT_SATISFIED);
      this.mgmAuthenticated = true;
      return sw(SW.OK);
    }
    if (challenge !== undefined && challenge.value.length === block && response?.value.length === 0) {
      return reply(0x82, enc(challenge.value));
    }
    return sw(SW.WRONG_DATA);
  }

  /**
   * YubiKey GET METADATA (00 F7 00 ref): 01 algorithm, 02 policy, 03 origin,
   * 04 public key, 05 default value, 06 retries {total, left}. Lets a host
   * read the PIN counter even while the PIN is verified.
   */
  private metadata(p1: number, p2: number, le: number | undefined): Uint8Array {
    if (p1 !== 0) return sw(SW.INCORRECT_P1P2);
    const s = this.state;
    const b = (...v: number[]) => Uint8Array.from(v);
    if (p2 === PIN_REF || p2 === PUK_REF) {
      const isPin = p2 === PIN_REF;
      const value = isPin ? s.pin : s.puk;
      const isDefault = bytesEqual(value, padReference(isPin ? DEFAULT_PIN : DEFAULT_PUK, "PIN"));
      return this.respond(
        concatBytes(
          encodeTlv(0x01, b(0xff)),
          encodeTlv(0x02, b(0x00, 0x00)),
          encodeTlv(0x05, b(isDefault ? 1 : 0)),
          encodeTlv(0x06, b(isPin ? s.pinMax : s.pukMax, isPin ? s.pinLeft : s.pukLeft)),
        ),
        le,
      );
    }
    if (p2 === MANAGEMENT_KEY_REF) {
      const isDefault = s.managementAlg === ALG.TDES && bytesEqual(s.managementKey, DEFAULT_MANAGEMENT_KEY);
      return this.respond(
        concatBytes(encodeTlv(0x01, b(s.managementAlg)), encodeTlv(0x02, b(0x00, 0x01)), encodeTlv(0x05, b(isDefault ? 1 : 0))),
        le,
      );
    }
    if (!isKeySlot(p2)) return sw(SW.INCORRECT_P1P2);
    const key = s.keys.get(p2);
    if (key === undefined) return sw(SW.REF_DATA_NOT_FOUND);
    const pinPolicy = p2 === 0x9c ? 0x03 : p2 === 0x9e ? 0x01 : 0x02; // always / never / once
    const pub = key.publicParts();
    const pubTlvs = pub.point ? encodeTlv(0x86, pub.point) : concatBytes(encodeTlv(0x81, pub.modulus!), encodeTlv(0x82, pub.exponent!));
    return this.respond(
      concatBytes(encodeTlv(0x01, b(key.alg)), encodeTlv(0x02, b(pinPolicy, 0x01)), encodeTlv(0x03, b(0x01)), encodeTlv(0x04, pubTlvs)),
      le,
    );
  }

  /** YubiKey SET MANAGEMENT KEY: 00 FF FF FF|FE { alg 9B len key }. */
  private setManagementKey(p1: number, p2: number, data: Uint8Array): Uint8Array {
    if (p1 !== 0xff || (p2 !== 0xff && p2 !== 0xfe)) return sw(SW.INCORRECT_P1P2);
    if (!this.mgmAuthenticated) return sw(SW.SECURITY_NOT_SATISFIED);
    if (data.length < 3 || data[1] !== MANAGEMENT_KEY_REF) return sw(SW.WRONG_DATA);
    const alg = data[0];
    if (!isSymAlg(alg) || data[2] !== SYM_KEY_LENGTH[alg] || data.length !== 3 + data[2]) return sw(SW.WRONG_DATA);
    this.state.managementAlg = alg;
    this.state.managementKey = Uint8Array.from(data.subarray(3));
    return OK;
  }

  /** YubiKey RESET: only once both PIN and PUK are blocked; back to factory values. */
  private factoryReset(p1: number, p2: number): Uint8Array {
    if (p1 !== 0 || p2 !== 0) return sw(SW.INCORRECT_P1P2);
    const s = this.state;
    if (s.pinLeft !== 0 || s.pukLeft !== 0) return sw(SW.CONDITIONS_NOT_SATISFIED);
    s.pin = padReference(DEFAULT_PIN, "PIN");
    s.puk = padReference(DEFAULT_PUK, "PUK");
    s.pinLeft = s.pinMax;
    s.pukLeft = s.pukMax;
    s.managementAlg = ALG.TDES;
    s.managementKey = Uint8Array.from(DEFAULT_MANAGEMENT_KEY);
    s.keys.clear();
    const keep = [TAG.CHUID, TAG.CARD_CAPABILITY_CONTAINER, TAG.DISCOVERY, TAG.KEY_HISTORY] as number[];
    for (const tag of [...s.objects.keys()]) if (!keep.includes(tag)) s.objects.delete(tag);
    this.resetSession();
    return OK;
  }
}

function sw(status: number): Uint8Array {
  return Uint8Array.of(status >> 8, status & 0xff);
}

function withSw(data: Uint8Array, status: number): Uint8Array {
  const out = new Uint8Array(data.length + 2);
  out.set(data, 0);
  out[data.length] = status >> 8;
  out[data.length + 1] = status & 0xff;
  return out;
}

/**
 * Body of a command APDU without allocating a CommandApdu: undefined when the
 * length bytes do not match the command's size (the card answers 6700).
 */
function parseBody(b: Uint8Array): { data: Uint8Array; le: number | undefined } | undefined {
  const n = b.length;
  if (n === 4) return { data: EMPTY, le: undefined };
  const b4 = b[4];
  if (n === 5) return { data: EMPTY, le: b4 === 0 ? 256 : b4 };
  if (b4 !== 0) {
    if (n === 5 + b4) return { data: b.subarray(5), le: undefined };
    if (n === 6 + b4) return { data: b.subarray(5, 5 + b4), le: b[5 + b4] === 0 ? 256 : b[5 + b4] };
    return undefined;
  }
  if (n === 7) {
    const le = (b[5] << 8) | b[6];
    return { data: EMPTY, le: le === 0 ? 65536 : le };
  }
  if (n < 7) return undefined;
  const lc = (b[5] << 8) | b[6];
  if (lc === 0) return undefined;
  if (n === 7 + lc) return { data: b.subarray(7), le: undefined };
  if (n === 9 + lc) {
    const le = (b[7 + lc] << 8) | b[8 + lc];
    return { data: b.subarray(7, 7 + lc), le: le === 0 ? 65536 : le };
  }
  return undefined;
}

/** GET DATA's tag list: exactly one 5C of 1..3 bytes. */
function tagList(data: Uint8Array): number | undefined {
  const n = data.length;
  if (n < 3 || data[0] !== 0x5c || data[1] !== n - 2) return undefined;
  return tagValue(data.subarray(2));
}

function tagValue(v: Uint8Array): number | undefined {
  if (v.length < 1 || v.length > 3) return undefined;
  let t = 0;
  for (let i = 0; i < v.length; i++) t = t * 256 + v[i];
  return t;
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

/** 6..8 non-FF bytes, then FF padding to 8: what a new PIN/PUK must look like. */
function isWellFormedReference(v: Uint8Array): boolean {
  let len = 0;
  while (len < 8 && v[len] !== 0xff) len++;
  for (let i = len; i < 8; i++) if (v[i] !== 0xff) return false;
  return len >= 6;
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

/** GET SERIAL's 4 bytes: the serial's last 4 bytes, left-padded with zeros. */
function serial32(serial: Uint8Array): Uint8Array {
  const out = new Uint8Array(4);
  const tail = serial.subarray(-4);
  out.set(tail, 4 - tail.length);
  return out;
}

function serialToNumber(serial: Uint8Array): number {
  let v = 0;
  for (const b of serial32(serial)) v = v * 256 + b;
  return v;
}
