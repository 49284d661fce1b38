import { bytesEqual } from "../core/index.js";
import { DerReader, Tag, type Tlv, ctx, ctxPrim, decodeOid, decodeString, readOne, readTlv } from "./der.js";
import { DecodeError } from "./errors.js";
import { type ParsedName, parseNameCached } from "./name.js";

/**
 * GeneralName (RFC 5280 4.2.1.6), the one decoder for subjectAltName, name
 * constraints, distribution points, cRLIssuer and certificateIssuer.
 * Strings are kept as their octets read as Latin-1 (IA5String is ASCII): name
 * constraints compare them case-insensitively where the RFC says so.
 */
export type GeneralName =
  | { type: "otherName"; oid: string; /** the [0] EXPLICIT value element's DER */ value: Uint8Array }
  | { type: "rfc822Name"; value: string }
  | { type: "dNSName"; value: string }
  | { type: "x400Address"; value: Uint8Array }
  | { type: "directoryName"; name: ParsedName }
  | { type: "ediPartyName"; value: Uint8Array }
  | { type: "uniformResourceIdentifier"; value: string }
  | { type: "iPAddress"; /** 4 or 16 octets in a name; 8 or 32 (address then mask) in a constraint */ value: Uint8Array }
  | { type: "registeredID"; oid: string };

export type GeneralNameType = GeneralName["type"];

const ascii = (buf: Uint8Array, t: Tlv): string => {
  let s = "";
  for (let i = t.valueStart; i < t.end; i++) {
    const c = buf[i];
    if (c > 0x7f) throw new DecodeError("IA5String GeneralName with a non-ASCII octet", i);
    s += String.fromCharCode(c);
  }
  return s;
};

const NAMES = ["otherName", "rfc822Name", "dNSName", "x400Address", "directoryName", "ediPartyName", "uniformResourceIdentifier", "iPAddress", "registeredID"];

/** The one element inside an EXPLICIT tag `t`. */
function explicitOne(buf: Uint8Array, t: Tlv, what: string): Tlv {
  if (t.valueStart === t.end) throw new DecodeError(`${what}: nothing inside its explicit tag`, t.start);
  const inner = readTlv(buf, t.valueStart, t.end);
  if (inner.end !== t.end) throw new DecodeError(`${what}: more than one element inside its explicit tag`, inner.end);
  return inner;
}

/** DirectoryString (X.520): a CHOICE of five string types, decoded to check it. */
function directoryString(buf: Uint8Array, t: Tlv, what: string): void {
  const s = explicitOne(buf, t, what);
  if (s.tag !== Tag.TeletexString && s.tag !== Tag.PrintableString && s.tag !== Tag.UniversalString && s.tag !== Tag.Utf8String && s.tag !== Tag.BmpString) {
    throw new DecodeError(`${what}: not a DirectoryString`, s.start);
  }
  decodeString(buf, s);
}

/**
 * The shapes of the two SEQUENCE forms compared by nothing (so kept as octets), IMPLICIT
 * as in RFC 5280's module: ORAddress ::= SEQUENCE { BuiltInStandardAttributes (a
 * SEQUENCE), BuiltInDomainDefinedAttributes (SEQUENCE OF) OPTIONAL, ExtensionAttributes
 * (SET OF) OPTIONAL }; EDIPartyName ::= SEQUENCE { nameAssigner [0] DirectoryString
 * OPTIONAL, partyName [1] DirectoryString } (DirectoryString a CHOICE: tagged explicitly).
 */
function checkX400(buf: Uint8Array, t: Tlv): void {
  const r = DerReader.of(buf, t);
  r.expect(Tag.Sequence, "x400Address built-in-standard-attributes");
  r.optional(Tag.Sequence);
  r.optional(Tag.Set);
  r.done("x400Address");
}
function checkEdi(buf: Uint8Array, t: Tlv): void {
  const r = DerReader.of(buf, t);
  const assigner = r.optional(ctx(0));
  if (assigner) directoryString(buf, assigner, "ediPartyName nameAssigner");
  directoryString(buf, r.expect(ctx(1), "ediPartyName partyName"), "ediPartyName partyName");
  r.done("ediPartyName");
}

/**
 * One GeneralName element (`t`, inside `buf`), in the form its CHOICE alternative takes
 * (RFC 5280 4.2.1.6, IMPLICIT tags): [0], [3], [4], [5] constructed (otherName and the
 * SEQUENCEs; directoryName is EXPLICIT, Name being a CHOICE), the others primitive.
 */
export function decodeGeneralName(buf: Uint8Array, t: Tlv): GeneralName {
  switch (t.tag) {
    case ctx(0): {
      const r = DerReader.of(buf, t);
      const oid = decodeOid(buf, r.expect(Tag.Oid, "otherName type-id"));
      const v = explicitOne(buf, r.expect(ctx(0), "otherName value"), "otherName value");
      r.done("otherName");
      return { type: "otherName", oid, value: buf.subarray(v.start, v.end) };
    }
    case ctxPrim(1):
      return { type: "rfc822Name", value: ascii(buf, t) };
    case ctxPrim(2):
      return { type: "dNSName", value: ascii(buf, t) };
    case ctx(3):
      checkX400(buf, t);
      return { type: "x400Address", value: buf.subarray(t.valueStart, t.end) };
    case ctx(4): {
      // [4] EXPLICIT Name
      const inner = readTlv(buf, t.valueStart, t.end);
      if (inner.tag !== Tag.Sequence || inner.end !== t.end) throw new DecodeError("directoryName: expected one Name", t.start);
      return { type: "directoryName", name: parseNameCached(buf, inner.start, inner.end) };
    }
    case ctx(5):
      checkEdi(buf, t);
      return { type: "ediPartyName", value: buf.subarray(t.valueStart, t.end) };
    case ctxPrim(6):
      return { type: "uniformResourceIdentifier", value: ascii(buf, t) };
    case ctxPrim(7):
      return { type: "iPAddress", value: buf.subarray(t.valueStart, t.end) };
    case ctxPrim(8):
      return { type: "registeredID", oid: decodeOid(buf, { ...t, tag: Tag.Oid }) };
    default: {
      const n = t.tag & 0x1f;
      if (t.tag <= 0xff && (t.tag & 0xc0) === 0x80 && n < NAMES.length) throw new DecodeError(`GeneralName ${NAMES[n]} [${n}] in ${t.tag & 0x20 ? "constructed" : "primitive"} form (RFC 5280 4.2.1.6)`, t.start);
      throw new DecodeError(`unknown GeneralName tag 0x${t.tag.toString(16)}`, t.start);
    }
  }
}

/** GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName, as the element `t` (or the contents of an implicitly tagged one). */
export function decodeGeneralNames(buf: Uint8Array, t: Tlv, what: string): GeneralName[] {
  const r = DerReader.of(buf, t);
  if (r.atEnd()) throw new DecodeError(`${what}: empty GeneralNames (SIZE (1..MAX))`, t.start);
  const out: GeneralName[] = [];
  while (!r.atEnd()) out.push(decodeGeneralName(buf, r.read()));
  return out;
}

/** An extension whose value is GeneralNames (subjectAltName, issuerAltName, certificateIssuer). */
export function decodeGeneralNamesExtension(value: Uint8Array, what: string): GeneralName[] {
  return decodeGeneralNames(value, readOne(value, Tag.Sequence, what), what);
}

/** A readable form, for details and messages. */
export function showGeneralName(g: GeneralName): string {
  switch (g.type) {
    case "rfc822Name":
    case "dNSName":
    case "uniformResourceIdentifier":
      return `${g.type}:${g.value}`;
    case "directoryName":
      return `directoryName:${g.name.display}`;
    case "iPAddress":
      return `iPAddress:${showIp(g.value)}`;
    case "registeredID":
      return `registeredID:${g.oid}`;
    case "otherName":
      return `otherName:${g.oid}`;
    default:
      return g.type;
  }
}

function showIp(b: Uint8Array): string {
  const part = (x: Uint8Array) => (x.length === 4 ? Array.from(x).join(".") : x.length === 16 ? Array.from({ length: 8 }, (_, i) => ((x[2 * i] << 8) | x[2 * i + 1]).toString(16)).join(":") : Buffer.from(x).toString("hex"));
  if (b.length === 8 || b.length === 32) return `${part(b.subarray(0, b.length / 2))}/${part(b.subarray(b.length / 2))}`;
  return part(b);
}

/** Two names the same (for distribution point and cRLIssuer matching, RFC 5280 6.3.3 (b)). */
export function sameGeneralName(a: GeneralName, b: GeneralName): boolean {
  if (a.type !== b.type) return false;
  switch (a.type) {
    case "directoryName":
      return a.name.key === (b as typeof a).name.key;
    case "dNSName":
    case "rfc822Name":
      return a.value.toLowerCase() === (b as typeof a).value.toLowerCase();
    case "uniformResourceIdentifier":
      return a.value === (b as typeof a).value;
    case "registeredID":
      return a.oid === (b as typeof a).oid;
    case "otherName":
      return a.oid === (b as typeof a).oid && bytesEqual(a.value, (b as typeof a).value);
    default:
      return bytesEqual(a.value, (b as { value: Uint8Array }).value);
  }
}

/**
 * The mailbox in an id-on-SmtpUTF8Mailbox otherName value (RFC 9598 section 3: a UTF8String);
 * undefined when the value is not one. Callers decide: name constraints refuse it, a view throws.
 */
export function smtpUtf8Mailbox(value: Uint8Array): string | undefined {
  try {
    const t = readTlv(value, 0, value.length);
    return t.tag === Tag.Utf8String && t.end === value.length ? decodeString(value, t) : undefined;
  } catch (err) {
    if (err instanceof DecodeError) return undefined;
    throw err;
  }
}
