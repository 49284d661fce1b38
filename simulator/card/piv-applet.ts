import { CryptoRandom, SW, bytesEqual, isDeterministic, decodeTlvs, encodeTlv, readTlv, type Random, type Tlv } from "../../core/index.js";
import { CardStatusError, type Answer, type Applet } from "./applet.js";
import type { Command } from "./command.js";
import { ALG, CardKey, isAsymAlg } from "./crypto.js";
import { ManagementAuth } from "./piv-management-auth.js";
import { MAX_OBJECT_SIZE, type CardStore, type PivCardState } from "./piv-state.js";
import {
  PIN_PROTECTED_OBJECTS,
  PIV_AID,
  applicationPropertyTemplate,
  isKeySlot,
  isWritableTag,
  publicKeyObjects,
} from "./objects.js";

const INS = {
  VERIFY: 0x20,
  CHANGE_REFERENCE_DATA: 0x24,
  RESET_RETRY_COUNTER: 0x2c,
  GENERATE: 0x47,
  GENERAL_AUTHENTICATE: 0x87,
  GET_DATA: 0xcb,
  PUT_DATA: 0xdb,
} as const;
export const MANAGEMENT_KEY_REF = 0x9b;
/** The digital signature key: PIN always. */
const SIGNATURE_KEY_REF = 0x9c;
/** The card authentication key: no PIN. */
const CARD_AUTH_KEY_REF = 0x9e;
export const PIN_REF = 0x80;
export const PUK_REF = 0x81;

/** ISO 7816-4 "memory failure": the card's memory could not be written (the store threw). */
export const SW_MEMORY_FAILURE = 0x6581;

const SUPPORTED_ALGS = [ALG.RSA2048, ALG.P256, ALG.P384, ALG.TDES, ALG.AES128, ALG.AES192, ALG.AES256];
const PROPERTIES = applicationPropertyTemplate(SUPPORTED_ALGS);
/** Room for the 5C tag list and 53 header around the largest object. */
const MAX_CHAIN_SIZE = MAX_OBJECT_SIZE + 64;

/** What a PIV extension may use of the applet it extends. */
export interface PivContext {
  readonly state: PivCardState;
  /** The session's 9B management key authentication. */
  readonly managementAuthenticated: boolean;
  /** Ends the session's security status (PIN, management key). */
  resetSession(): void;
}

/**
 * Vendor instructions under the PIV AID (YubiKey's, say): they share the PIV
 * applet's memory and security status, so they extend it instead of being an
 * applet of their own. An extension changes `state` freely: the applet saves
 * any change to its CardStore after the instruction, before the answer leaves
 * the card (PivApplet.process).
 */
export interface PivExtension {
  /** The answer, or undefined when the instruction is not the extension's (6D00). */
  process(cmd: Command, piv: PivContext): Answer | undefined;
}

/**
 * The PIV card application, NIST SP 800-73-4 part 2: data objects (GET/PUT
 * DATA), PIN and PUK (VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER),
 * on-card keys (GENERATE ASYMMETRIC KEY PAIR, GENERAL AUTHENTICATE) and the
 * management key. It runs on the card OS (card-os.ts), which owns APDUs,
 * chaining, GET RESPONSE and SELECT.
 */
export class PivApplet implements Applet, PivContext {
  readonly maxChainSize = MAX_CHAIN_SIZE;
  // Security status of the current session (lost on reset).
  private pinVerified = false;
  /** PIN always (9C): granted by a successful VERIFY, for the next command only (see beforeCommand). */
  private pinAlways = false;
  /** The PIN-always grant the command being processed holds. */
  private pinAlwaysNow = false;
  private readonly management: ManagementAuth;
  /** Set when the card's Random is seeded: keys come from it and ECDSA is RFC 6979 (one seed, one run). */
  private readonly seeded?: Random;
  /**
   * Set once a write failed: memory and store may now disagree, so the card
   * answers every command with 6581 until it is loaded again from its store
   * (which holds the last state it reported).
   */
  private memoryFailed = false;
  /** What the store holds, shallowly (see memoryStamp). */
  private saved: readonly unknown[];

  constructor(
    /** The card's secure memory. Exposed for persistence and tests, never for logging. */
    readonly state: PivCardState,
    random: Random = new CryptoRandom(),
    private readonly extension?: PivExtension,
    /** Where the memory is kept (a card file): written before an answer reports a change. None: in memory only. */
    private readonly store?: CardStore,
  ) {
    this.management = new ManagementAuth(state, random);
    if (isDeterministic(random)) this.seeded = random;
    this.saved = memoryStamp(state);
  }

  /**
   * Makes the card's memory durable (its CardStore). A failed write throws
   * CardStatusError(6581) and leaves the card mute (memoryFailed).
   */
  private save(): void {
    if (this.store === undefined) return;
    try {
      this.store.save(this.state);
      this.saved = memoryStamp(this.state);
    } catch {
      this.memoryFailed = true;
      this.resetSession();
      throw new CardStatusError(SW_MEMORY_FAILURE);
    }
  }

  get managementAuthenticated(): boolean {
    return this.management.authenticated;
  }

  /** The full AID, or a right-truncated one down to the NIST RID (A0 00 00 03 08). */
  selects(aid: Uint8Array): boolean {
    return aid.length >= 5 && aid.length <= PIV_AID.length && bytesEqual(aid, PIV_AID.subarray(0, aid.length));
  }

  select(): Uint8Array {
    return PROPERTIES;
  }

  resetSession(): void {
    this.pinVerified = false;
    this.pinAlways = false;
    this.pinAlwaysNow = false;
    this.management.reset();
  }

  acceptsChain(ins: number): boolean {
    return ins === INS.PUT_DATA || ins === INS.GENERAL_AUTHENTICATE;
  }

  beforeCommand(): void {
    // PIN always: SP 800-73-4 wants the PIN "verified every time immediately
    // before a digital signature key operation". So a VERIFY's grant lives for
    // one command: any other command in between (GET DATA, a 9A signature,
    // an empty VERIFY, SELECT...) ends it. Only the parts of a chained 9C
    // GENERAL AUTHENTICATE carry it to the part that signs (onChainPart); a
    // GET RESPONSE can only follow the signature, which has consumed it already.
    // Real middleware fits: OpenSC's PIV driver keeps the card locked from
    // its context-specific VERIFY to the signature and sends nothing between
    // (it unlocks after "the next card command that should be a crypto
    // operation"), and YubiKeys behave the same way (yubico-piv-tool #430).
    this.pinAlwaysNow = this.pinAlways;
    this.pinAlways = false;
  }

  onChainPart(cmd: Command, restarted: boolean): void {
    // the first or a next part of one 9C signature: the grant waits for the last part
    if (cmd.ins === INS.GENERAL_AUTHENTICATE && cmd.p2 === SIGNATURE_KEY_REF && !restarted) this.pinAlways = this.pinAlwaysNow;
  }

  /**
   * The answer leaves the card only once the store holds what it reports, by
   * two saves and no others: a PIN or PUK try is saved inside its instruction,
   * before the comparison (durability: see verify), and every other change of
   * the memory, by an instruction here or by the extension (a right PIN's
   * counter back to its maximum included), is saved here, after the
   * instruction, so that none can be forgotten. The check costs a few dozen
   * reference comparisons and allocates nothing; the instructions that never
   * change the memory (GET DATA, GENERAL AUTHENTICATE) skip it.
   */
  process(cmd: Command): Answer {
    if (this.memoryFailed) return SW_MEMORY_FAILURE;
    try {
      return this.dispatch(cmd);
    } finally {
      if (this.store !== undefined && !this.memoryFailed && !READS_ONLY.has(cmd.ins) && !sameMemory(this.saved, this.state)) this.save();
    }
  }

  private dispatch(cmd: Command): Answer {
    switch (cmd.ins) {
      case INS.GET_DATA:
        return this.getData(cmd);
      case INS.VERIFY:
        return this.verify(cmd);
      case INS.CHANGE_REFERENCE_DATA:
        return this.changeReferenceData(cmd);
      case INS.RESET_RETRY_COUNTER:
        return this.resetRetryCounter(cmd);
      case INS.GENERAL_AUTHENTICATE:
        return this.generalAuthenticate(cmd);
      case INS.GENERATE:
        return this.generate(cmd);
      case INS.PUT_DATA:
        return this.putData(cmd);
      default:
        return this.extension?.process(cmd, this) ?? SW.INS_NOT_SUPPORTED;
    }
  }

  private getData({ p1, p2, data }: Command): Answer {
    if (p1 !== 0x3f || p2 !== 0xff) return SW.INCORRECT_P1P2;
    const tag = tagList(data);
    if (tag === undefined) return SW.WRONG_DATA;
    // The access rule comes before the lookup: without the PIN a protected object's
    // absence is not revealed either (YubiKeys answer 6982 here, and ykman relies on it).
    if (PIN_PROTECTED_OBJECTS.has(tag) && !this.pinVerified) return SW.SECURITY_NOT_SATISFIED;
    return this.state.objects.get(tag) ?? SW.FILE_NOT_FOUND;
  }

  private putData({ p1, p2, data }: Command): Answer {
    if (p1 !== 0x3f || p2 !== 0xff) return SW.INCORRECT_P1P2;
    if (!this.management.authenticated) return SW.SECURITY_NOT_SATISFIED;
    const first = parseTlv(data, 0);
    if (first.tag !== 0x5c) return SW.WRONG_DATA;
    const body = parseTlv(data, first.end);
    const tag = tagValue(first.value);
    if (tag === undefined || body.end !== data.length || body.tag !== 0x53) return SW.WRONG_DATA;
    if (!isWritableTag(tag)) return SW.WRONG_DATA;
    if (body.end - body.start > MAX_OBJECT_SIZE) return SW.NOT_ENOUGH_MEMORY;
    // an empty container deletes the object (what YubiKeys do)
    if (body.value.length === 0) this.state.objects.delete(tag);
    else this.state.objects.set(tag, Uint8Array.from(data.subarray(body.start, body.end)));
    return SW.OK;
  }

  private verify({ p1, p2, data }: Command): Answer {
    const s = this.state;
    if (p1 === 0xff) {
      // reset the security status of the PIN (SP 800-73-4, 3.2.1)
      if (p2 !== PIN_REF || data.length !== 0) return data.length ? SW.WRONG_DATA : SW.REF_DATA_NOT_FOUND;
      this.pinVerified = false;
      return SW.OK;
    }
    if (p1 !== 0x00) return SW.INCORRECT_P1P2;
    if (p2 !== PIN_REF) return SW.REF_DATA_NOT_FOUND;
    if (s.pinLeft === 0) return SW.AUTH_BLOCKED;
    if (data.length === 0) return this.pinVerified ? SW.OK : 0x63c0 | s.pinLeft;
    if (data.length !== 8) return SW.WRONG_DATA;
    // Counted before compared, as a card does: the try is on disk before anyone
    // (the host, or whoever watches the process write) can learn the outcome,
    // so cutting the power (kill -9) then cannot take it back.
    s.pinLeft--;
    this.save();
    if (!bytesEqual(data, s.pin)) {
      this.pinVerified = false;
      return 0x63c0 | s.pinLeft;
    }
    // saved by process before the answer; a failed write there takes this grant back (resetSession)
    s.pinLeft = s.pinMax;
    this.pinVerified = true;
    this.pinAlways = true;
    return SW.OK;
  }

  private changeReferenceData({ p1, p2, data }: Command): Answer {
    if (p1 !== 0x00) return SW.INCORRECT_P1P2;
    if (p2 !== PIN_REF && p2 !== PUK_REF) return SW.REF_DATA_NOT_FOUND;
    const s = this.state;
    const isPin = p2 === PIN_REF;
    if ((isPin ? s.pinLeft : s.pukLeft) === 0) return SW.AUTH_BLOCKED;
    if (data.length !== 16 || !isWellFormedReference(data.subarray(8))) return SW.WRONG_DATA;
    const old = data.subarray(0, 8);
    // counted before compared (see verify)
    if (isPin) s.pinLeft--;
    else s.pukLeft--;
    this.save();
    if (!bytesEqual(old, isPin ? s.pin : s.puk)) {
      if (isPin) this.pinVerified = false;
      return 0x63c0 | (isPin ? s.pinLeft : s.pukLeft);
    }
    if (isPin) {
      s.pin = Uint8Array.from(data.subarray(8));
      s.pinLeft = s.pinMax;
    } else {
      s.puk = Uint8Array.from(data.subarray(8));
      s.pukLeft = s.pukMax;
    }
    return SW.OK; // saved by process
  }

  private resetRetryCounter({ p1, p2, data }: Command): Answer {
    if (p1 !== 0x00) return SW.INCORRECT_P1P2;
    if (p2 !== PIN_REF) return SW.REF_DATA_NOT_FOUND;
    const s = this.state;
    if (s.pukLeft === 0) return SW.AUTH_BLOCKED;
    if (data.length !== 16 || !isWellFormedReference(data.subarray(8))) return SW.WRONG_DATA;
    // counted before compared (see verify)
    s.pukLeft--;
    this.save();
    if (!bytesEqual(data.subarray(0, 8), s.puk)) return 0x63c0 | s.pukLeft;
    s.pukLeft = s.pukMax;
    s.pin = Uint8Array.from(data.subarray(8));
    s.pinLeft = s.pinMax;
    return SW.OK; // saved by process
  }

  private generate({ p1, p2, data }: Command): Answer {
    if (p1 !== 0x00 || !isKeySlot(p2)) return SW.INCORRECT_P1P2;
    if (!this.management.authenticated) return SW.SECURITY_NOT_SATISFIED;
    const a = template(data, 0xac).find((t) => t.tag === 0x80);
    const alg = a && a.value.length === 1 ? a.value[0] : undefined;
    if (alg === undefined || !isAsymAlg(alg)) return SW.WRONG_DATA;
    const key = CardKey.generate(alg, this.seeded);
    this.state.keys.set(p2, key);
    return encodeTlv(0x7f49, publicKeyObjects(key.publicParts()));
  }

  private generalAuthenticate(cmd: Command): Answer {
    const { p1, p2 } = cmd;
    const items = template(cmd.data, 0x7c);
    const get = (tag: number) => items.find((t) => t.tag === tag);
    if (p2 === MANAGEMENT_KEY_REF) return this.management.step(p1, get(0x80), get(0x81), get(0x82));
    if (!isKeySlot(p2)) return SW.INCORRECT_P1P2;
    const key = this.state.keys.get(p2);
    if (!isAsymAlg(p1)) return SW.INCORRECT_P1P2;
    if (key === undefined) return SW.REF_DATA_NOT_FOUND;
    if (key.alg !== p1) return SW.INCORRECT_P1P2;
    const response = get(0x82);
    const challenge = get(0x81);
    const exponentiation = get(0x85);
    if (response === undefined || response.value.length !== 0) return SW.WRONG_DATA;
    if ((challenge === undefined) === (exponentiation === undefined)) return SW.WRONG_DATA;
    // access rules: 9E none; 9C PIN always; every other key PIN once per session
    // (the 9C grant is gone after this command whatever it answers: see beforeCommand;
    // a chain left unfinished for another operation is not "immediately before")
    if (p2 === SIGNATURE_KEY_REF) {
      if (!this.pinAlwaysNow || cmd.interruptsChain) return SW.SECURITY_NOT_SATISFIED;
    } else if (p2 !== CARD_AUTH_KEY_REF && !this.pinVerified) {
      return SW.SECURITY_NOT_SATISFIED;
    }
    const result = challenge !== undefined ? key.sign(challenge.value, this.seeded !== undefined) : key.agree(exponentiation!.value);
    if (result === undefined) return SW.WRONG_DATA;
    return encodeTlv(0x7c, encodeTlv(0x82, result));
  }
}

/** The instructions that never change the card's memory: process does not look for a change after them. */
const READS_ONLY: ReadonlySet<number> = new Set([INS.GET_DATA, INS.GENERAL_AUTHENTICATE]);

/**
 * The card's memory, shallowly: every field and every object and key by
 * identity. The card's code replaces values (Uint8Array.from, Map.set), never
 * edits bytes in place, so a changed stamp is a changed memory. Built once
 * per save; sameMemory compares without building one.
 */
function memoryStamp(s: PivCardState): unknown[] {
  const stamp: unknown[] = [s.serial, s.expires, s.pin, s.puk, s.pinMax, s.pukMax, s.pinLeft, s.pukLeft, s.managementAlg, s.managementKey];
  stamp.push(s.objects.size);
  for (const [tag, v] of s.objects) stamp.push(tag, v);
  stamp.push(s.keys.size);
  for (const [slot, k] of s.keys) stamp.push(slot, k);
  return stamp;
}

/** Whether the memory is still what `st` (memoryStamp, same order) saw: a few dozen reference checks, no allocation. */
function sameMemory(st: readonly unknown[], s: PivCardState): boolean {
  if (st[0] !== s.serial || st[1] !== s.expires || st[2] !== s.pin || st[3] !== s.puk || st[4] !== s.pinMax) return false;
  if (st[5] !== s.pukMax || st[6] !== s.pinLeft || st[7] !== s.pukLeft || st[8] !== s.managementAlg || st[9] !== s.managementKey) return false;
  let i = 10;
  if (st[i++] !== s.objects.size) return false;
  for (const [tag, v] of s.objects) if (st[i++] !== tag || st[i++] !== v) return false;
  if (st[i++] !== s.keys.size) return false;
  for (const [slot, k] of s.keys) if (st[i++] !== slot || st[i++] !== k) return false;
  return true;
}

/** A TLV of the command data; malformed data answers 6A80. */
function parseTlv(data: Uint8Array, offset: number): Tlv {
  try {
    return readTlv(data, offset);
  } catch {
    throw new CardStatusError(SW.WRONG_DATA);
  }
}

/** The items of a constructed template (7C, AC) that must be the whole command data; else 6A80. */
function template(data: Uint8Array, tag: number): Tlv[] {
  const outer = parseTlv(data, 0);
  if (outer.tag !== tag || outer.end !== data.length) throw new CardStatusError(SW.WRONG_DATA);
  try {
    return decodeTlvs(outer.value);
  } catch {
    throw new CardStatusError(SW.WRONG_DATA);
  }
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

/** 6..8 non-FF bytes, then FF padding to 8: what a new PIN/PUK must look like. */
function isWellFormedReference(v: Uint8Array): boolean {
  let len = 0;
  while (len < 8 && v[len] !== 0xff) len++;
  for (let i = len; i < 8; i++) if (v[i] !== 0xff) return false;
  return len >= 6;
}
