import { bytesEqual, insFullName, swHex, swMeaning, toHex, tryDecodeCommand } from "../../core/index.js";

/**
 * What a replay divergence prints, decoded for a person: the instruction's
 * name, what P1/P2 select (key reference, algorithm), the data object named
 * in a GET DATA / PUT DATA, the status word's meaning, and where two answers
 * differ as a path of BER-TLV tags ("53/70: certificate differs at byte 412
 * of 742"). Pure functions of bytes; none throws on any input.
 */

/** SP 800-73-4 part 1, table 3 (and Yubico's admin objects), by tag. */
const OBJECT_NAMES: ReadonlyMap<number, string> = new Map([
  [0x5fc107, "Card Capability Container"],
  [0x5fc102, "CHUID"],
  [0x5fc105, "X.509 Certificate for PIV Authentication (9A)"],
  [0x5fc10a, "X.509 Certificate for Digital Signature (9C)"],
  [0x5fc10b, "X.509 Certificate for Key Management (9D)"],
  [0x5fc101, "X.509 Certificate for Card Authentication (9E)"],
  [0x5fc103, "Cardholder Fingerprints"],
  [0x5fc106, "Security Object"],
  [0x5fc108, "Cardholder Facial Image"],
  [0x5fc109, "Printed Information"],
  [0x5fc10c, "Key History Object"],
  [0x5fc121, "Cardholder Iris Images"],
  [0x5fc122, "Biometric Information Templates Group Template"],
  [0x5fc123, "Secure Messaging Certificate Signer"],
  [0x5fc10e, "Pairing Code Reference Data"],
  [0x7e, "Discovery Object"],
  [0x7f61, "Biometric Information Templates Group Template"],
  [0x5fff00, "Yubico admin data"],
  [0x5fff01, "Yubico attestation certificate"],
]);

const KEY_REFERENCES: ReadonlyMap<number, string> = new Map([
  [0x00, "global PIN"],
  [0x80, "PIV PIN"],
  [0x81, "PUK"],
  [0x9a, "key 9A (PIV Authentication)"],
  [0x9b, "key 9B (card management)"],
  [0x9c, "key 9C (Digital Signature)"],
  [0x9d, "key 9D (Key Management)"],
  [0x9e, "key 9E (Card Authentication)"],
  [0xf9, "key F9 (attestation)"],
]);

const ALGORITHMS: ReadonlyMap<number, string> = new Map([
  [0x00, "3DES (default)"],
  [0x03, "3DES"],
  [0x05, "RSA 3072"],
  [0x06, "RSA 1024"],
  [0x07, "RSA 2048"],
  [0x08, "AES-128"],
  [0x0a, "AES-192"],
  [0x0c, "AES-256"],
  [0x11, "ECC P-256"],
  [0x14, "ECC P-384"],
]);

/** Tags inside PIV data objects and templates, for the TLV paths a divergence names. */
const TAG_NAMES: ReadonlyMap<number, string> = new Map([
  [0x53, "object"],
  [0x70, "certificate"],
  [0x71, "certificate info"],
  [0x72, "MSCUID"],
  [0xfe, "error detection code"],
  [0x30, "FASC-N"],
  [0x34, "GUID"],
  [0x35, "expiration date"],
  [0x36, "cardholder UUID"],
  [0x3e, "issuer asymmetric signature"],
  [0x32, "organizational identifier"],
  [0x33, "DUNS"],
  [0x7c, "dynamic authentication template"],
  [0x80, "witness"],
  [0x81, "challenge"],
  [0x82, "response"],
  [0x85, "exponentiation"],
  [0x7f49, "public key"],
  [0x86, "EC point"],
  [0x61, "application property template"],
  [0x4f, "AID"],
  [0x50, "application label"],
  [0xac, "cryptographic algorithms"],
  [0x7e, "discovery object"],
  [0x5f2f, "PIN usage policy"],
  [0xf0, "card identifier"],
  [0xf1, "capability container version"],
]);

/** The instruction's name with its vendor ("GET SERIAL (YubiKey)"): core's one table of instruction names. */
export function insName(ins: number): string {
  return insFullName(ins);
}

export function objectName(tag: number): string {
  return OBJECT_NAMES.get(tag) ?? "data object";
}

export function tagName(tag: number): string | undefined {
  return TAG_NAMES.get(tag);
}

/** The tag a GET DATA / PUT DATA names (5C tag list), when the command has one. */
export function dataObjectTag(command: Uint8Array): number | undefined {
  const cmd = tryDecodeCommand(command);
  if (cmd === undefined || (cmd.ins !== 0xcb && cmd.ins !== 0xdb) || cmd.data.length < 2 || cmd.data[0] !== 0x5c) return undefined;
  const len = cmd.data[1];
  if (len < 1 || len > 3 || cmd.data.length < 2 + len) return undefined;
  let tag = 0;
  for (let i = 0; i < len; i++) tag = tag * 256 + cmd.data[2 + i];
  return tag;
}

/** One line naming a command: instruction, what P1/P2 select, the object; never its data (it may be a secret). */
export function describeCommand(command: Uint8Array): string {
  if (command.length < 4) return `${command.length}-byte command (shorter than a header)`;
  const [cla, ins, p1, p2] = command;
  const name = insName(ins);
  const chained = (cla & 0x10) !== 0 ? ", chained" : "";
  const head = `${name} (CLA ${hex2(cla)} INS ${hex2(ins)} P1 ${hex2(p1)} P2 ${hex2(p2)}${chained})`;
  const ref = (b: number) => KEY_REFERENCES.get(b) ?? `reference ${hex2(b)}`;
  const alg = (b: number) => ALGORITHMS.get(b) ?? `algorithm ${hex2(b)}`;
  switch (ins) {
    case 0xa4:
      return `${head}: ${p1 === 0x04 ? "by AID" : "select"} ${selectedAid(command)}`;
    case 0xcb:
    case 0xdb: {
      const tag = dataObjectTag(command);
      return tag === undefined ? head : `${head}: ${tagHex(tag)} ${objectName(tag)}`;
    }
    case 0x20:
    case 0x24:
    case 0x2c:
      return `${head}: ${ref(p2)}`;
    case 0x87:
      return `${head}: ${ref(p2)}, ${alg(p1)}`;
    case 0x47:
      return `${head}: ${ref(p2)}`;
    default:
      return head;
  }
}

function selectedAid(command: Uint8Array): string {
  const cmd = tryDecodeCommand(command);
  if (cmd === undefined) return "(malformed)";
  const aid = toHex(cmd.data).toUpperCase();
  return aid.startsWith("A000000308") ? `${aid} (PIV)` : aid === "" ? "(none)" : aid;
}

/** "63C2 (verification failed, 2 tries left)". */
export function describeSw(sw: number): string {
  return `${swHex(sw)} (${swMeaning(sw)})`;
}

/** Where two answers' data first differ. */
export interface TlvDifference {
  /** Tags from the outermost, e.g. ["53", "70"]; empty when the answers are not BER-TLV. */
  path: string[];
  /** One line: "53/70 certificate differs at byte 412 of 742". */
  text: string;
}

/**
 * Where `recorded` and `replayed` first differ, walking both as BER-TLV
 * (constructed tags entered) as far as both parse; bytes otherwise.
 * Undefined when they are equal.
 */
export function diffAnswers(recorded: Uint8Array, replayed: Uint8Array): TlvDifference | undefined {
  if (bytesEqual(recorded, replayed)) return undefined;
  return diffLevel(recorded, replayed, [], 0);
}

const MAX_DEPTH = 8;

function diffLevel(a: Uint8Array, b: Uint8Array, path: string[], depth: number, partialA = depth === 0, partialB = depth === 0): TlvDifference {
  const as = depth < MAX_DEPTH ? tlvsOf(a, partialA) : undefined;
  const bs = depth < MAX_DEPTH ? tlvsOf(b, partialB) : undefined;
  if (as === undefined || bs === undefined) return bytesDiffer(a, b, path);
  const n = Math.max(as.length, bs.length);
  for (let i = 0; i < n; i++) {
    const x = as[i];
    const y = bs[i];
    if (x === undefined || y === undefined) {
      const extra = (x ?? y)!;
      const where = x === undefined ? "only in the replayed answer" : "only in the recorded answer";
      const p = [...path, tagHex(extra.tag)];
      return { path: p, text: `${label(p, extra.tag)} ${where}` };
    }
    if (x.tag !== y.tag) {
      const p = [...path, tagHex(x.tag)];
      return { path: p, text: `${label(p, x.tag)} recorded where the card now answers ${tagHex(y.tag)}${tagName(y.tag) ? ` ${tagName(y.tag)}` : ""}` };
    }
    if (x.length === y.length && bytesEqual(x.value, y.value)) continue;
    const p = [...path, tagHex(x.tag)];
    if (isConstructed(x.tag)) {
      const inner = diffLevel(x.value, y.value, p, depth + 1, x.partial, y.partial);
      if (inner.path.length > p.length) return inner;
    }
    // A partial read (a host that read only the first bytes) shows the lengths the headers declare.
    if ((x.partial || y.partial) && x.length !== y.length) {
      return { path: p, text: `${label(p, x.tag)} is ${x.length} bytes in the recorded answer, ${y.length} in the replayed one (from the first bytes read)` };
    }
    return bytesDiffer(x.value, y.value, p, x.tag);
  }
  return bytesDiffer(a, b, path);
}

function bytesDiffer(a: Uint8Array, b: Uint8Array, path: string[], tag?: number): TlvDifference {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const name = path.length === 0 ? "answer" : label(path, tag);
  const lengths = a.length === b.length ? `${a.length}` : `${a.length} (the card now answers ${b.length} bytes)`;
  const text =
    i === a.length || i === b.length
      ? `${name} differs in length: recorded ${a.length} bytes, replayed ${b.length}`
      : `${name} differs at byte ${i} of ${lengths}`;
  return { path, text };
}

function label(path: string[], tag?: number): string {
  const name = tag === undefined ? undefined : tagName(tag);
  return `${path.join("/")}${name ? ` ${name}` : ""}`;
}

interface LenientTlv {
  tag: number;
  /** The length its header declares. */
  length: number;
  /** The value bytes present (fewer than `length` when the answer was read in part). */
  value: Uint8Array;
  partial: boolean;
}

/**
 * The answer as a sequence of BER-TLVs, or undefined. When `partial` may be,
 * the last one may run past the end (a host that read only the first bytes
 * of an object): its value is what is there, marked partial. Its tag must
 * then be one PIV knows, or any short answer would read as a truncated TLV.
 */
function tlvsOf(buf: Uint8Array, mayBePartial: boolean): LenientTlv[] | undefined {
  if (buf.length === 0) return undefined;
  const out: LenientTlv[] = [];
  let p = 0;
  while (p < buf.length) {
    const h = header(buf, p);
    if (h === undefined) return undefined;
    const end = h.valueStart + h.length;
    const partial = end > buf.length;
    if (partial && (!mayBePartial || tagName(h.tag) === undefined)) return undefined;
    out.push({ tag: h.tag, length: h.length, value: buf.subarray(h.valueStart, Math.min(end, buf.length)), partial });
    if (partial) break;
    p = end;
  }
  return out;
}

/** A BER-TLV header (tag of up to 4 bytes, definite length of up to 4 bytes) at p. */
function header(buf: Uint8Array, p: number): { tag: number; length: number; valueStart: number } | undefined {
  let q = p;
  let tag = buf[q++];
  if ((tag & 0x1f) === 0x1f) {
    for (let count = 0; ; count++) {
      if (q >= buf.length || count >= 3) return undefined;
      const b = buf[q++];
      tag = tag * 256 + b;
      if ((b & 0x80) === 0) break;
    }
  }
  if (q >= buf.length) return undefined;
  let length = buf[q++];
  if (length === 0x80 || length > 0x84) return undefined;
  if (length > 0x80) {
    const n = length & 0x7f;
    if (q + n > buf.length) return undefined;
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + buf[q++];
  }
  return { tag, length, valueStart: q };
}

/** Tags whose value is data, not TLVs, inside a PIV object, though their tag byte says constructed (a certificate's DER, the FASC-N). */
const LEAVES = new Set([0x70, 0x71, 0x30, 0x3e, 0x34, 0x35, 0x36, 0xfe]);

/** Bit 6 of the tag's first byte: a constructed data object, whose value is TLVs again. */
function isConstructed(tag: number): boolean {
  if (LEAVES.has(tag)) return false;
  let first = tag;
  while (first > 0xff) first = Math.floor(first / 256);
  // 53 (PIV object) is primitive by its tag but always carries TLVs.
  return (first & 0x20) !== 0 || tag === 0x53;
}

/** A tag in upper-case hex, whole bytes ("5FC105", "7E"). */
export function tagHex(tag: number): string {
  const h = tag.toString(16).toUpperCase();
  return h.length % 2 === 0 ? h : `0${h}`;
}

/** A byte as two upper-case hex digits. */
export function hex2(b: number): string {
  return b.toString(16).toUpperCase().padStart(2, "0");
}
