import { DerReader, Tag, decodeOid, decodeString, hexOf, latin1Of, readTlv } from "./der.js";
import { DecodeError } from "./errors.js";

/**
 * X.500 names and RFC 5280 7.1 comparison. A name is reduced once to a canonical
 * key string; two names match exactly when their keys are equal, so chaining and
 * lookups are string compares and Map hits.
 *
 * Canonical form (the RFC's "LDAP StringPrep lite", as OpenSSL also does it):
 * directory-string values (PrintableString, UTF8String, BMPString, UniversalString,
 * TeletexString, IA5String, VisibleString) are compared as text regardless of the
 * string type: NFKC, case folded, leading/trailing space removed, inner runs of
 * whitespace folded to one space. Other value types compare by their DER bytes.
 * RDN order matters; the attributes inside one multi-valued RDN are a set.
 */

const SHORT: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.5": "serialNumber",
  "2.5.4.46": "dnQualifier",
  "0.9.2342.19200300.100.1.25": "DC",
  "1.2.840.113549.1.9.1": "emailAddress",
};

const EMAIL_ADDRESS = "1.2.840.113549.1.9.1";

const isDirectoryString = (tag: number): boolean =>
  tag === Tag.PrintableString ||
  tag === Tag.Utf8String ||
  tag === Tag.BmpString ||
  tag === Tag.UniversalString ||
  tag === Tag.TeletexString ||
  tag === Tag.Ia5String ||
  tag === Tag.VisibleString;

/** Printable ASCII words separated by single spaces: only case folding can change them. */
const SIMPLE = /^[\x21-\x7e]+(?: [\x21-\x7e]+)*$/;

export function normalizeText(s: string): string {
  if (SIMPLE.test(s)) return s.toLowerCase();
  // eslint-disable-next-line no-control-regex
  return s.normalize("NFKC").toLowerCase().replace(/[\s\u0000]+/g, " ").trim();
}

/** Escapes the separators used in the canonical key so that values cannot forge structure. */
const esc = (s: string): string => s.replace(/[\\,+=]/g, (c) => "\\" + c);

export interface ParsedName {
  /** Canonical key: equal keys <=> names match under RFC 5280 7.1. */
  key: string;
  /** Readable form in DER order (C=.., O=.., CN=..), for messages only. */
  display: string;
  /** True for the empty name (zero RDNs). */
  empty: boolean;
  /** The canonical key of each RDN, in order: `key` is these joined by ","; a directoryName subtree is a prefix of them (RFC 5280 4.2.1.10). */
  rdns: readonly string[];
  /** The values of emailAddress attributes (PKCS #9), which name constraints treat as rfc822Names (RFC 5280 4.2.1.10). */
  emails: readonly string[];
  /**
   * The DER (hex) of emailAddress values that are no string type: no mailbox can be read
   * from them, so name constraints refuse them wherever rfc822Name is constrained (as
   * OpenSSL's "unsupported name syntax"); left out they would escape those constraints.
   */
  opaqueEmails: readonly string[];
}

const NO_STRINGS: readonly string[] = Object.freeze([]);

/** Parses the Name element at [start, end) of buf (the whole SEQUENCE TLV). */
export function parseName(buf: Uint8Array, start: number, end: number): ParsedName {
  const outer = readTlv(buf, start, end);
  if (outer.tag !== Tag.Sequence || outer.end !== end) throw new DecodeError("Name: expected SEQUENCE", start);
  const rdns = DerReader.of(buf, outer);
  const keyParts: string[] = [];
  const shown: string[] = [];
  let emails: string[] | undefined;
  let opaqueEmails: string[] | undefined;
  while (!rdns.atEnd()) {
    const set = rdns.enter(Tag.Set, "RelativeDistinguishedName");
    const atvs: string[] = [];
    const shownAtvs: string[] = [];
    while (!set.atEnd()) {
      const atv = set.enter(Tag.Sequence, "AttributeTypeAndValue");
      const oid = decodeOid(buf, atv.read());
      const v = atv.read();
      atv.done("AttributeTypeAndValue");
      if (isDirectoryString(v.tag)) {
        const text = decodeString(buf, v);
        if (oid === EMAIL_ADDRESS) (emails ??= []).push(text);
        atvs.push(`${oid}=${esc(normalizeText(text))}`);
        shownAtvs.push(`${SHORT[oid] ?? oid}=${text}`);
      } else {
        const hex = hexOf(buf, v.start, v.end);
        if (oid === EMAIL_ADDRESS) (opaqueEmails ??= []).push(hex);
        atvs.push(`${oid}=#${hex}`);
        shownAtvs.push(`${SHORT[oid] ?? oid}=#${hex}`);
      }
    }
    if (atvs.length === 0) throw new DecodeError("empty RelativeDistinguishedName", set.pos);
    atvs.sort();
    keyParts.push(atvs.join("+"));
    shownAtvs.sort();
    shown.push(shownAtvs.join("+"));
  }
  return { key: keyParts.join(","), display: shown.join(", "), empty: keyParts.length === 0, rdns: keyParts, emails: emails ?? NO_STRINGS, opaqueEmails: opaqueEmails ?? NO_STRINGS };
}

/**
 * parseName through a bounded cache keyed by the Name's DER: every leaf of a CA
 * carries the same issuer bytes, so a new leaf's issuer costs a string and a Map hit.
 * ParsedName is immutable, so sharing it is safe.
 */
const nameCache = new Map<string, ParsedName>();
const NAME_CACHE_MAX = 10_000;
export function parseNameCached(buf: Uint8Array, start: number, end: number): ParsedName {
  if (end - start > 1024) return parseName(buf, start, end);
  const k = latin1Of(buf.subarray(start, end));
  let n = nameCache.get(k);
  if (!n) {
    n = parseName(buf, start, end);
    if (nameCache.size >= NAME_CACHE_MAX) nameCache.clear();
    nameCache.set(k, n);
  }
  return n;
}
