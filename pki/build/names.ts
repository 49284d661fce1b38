import { domainToASCII, domainToUnicode } from "node:url";
import { CardloopError } from "../../core/index.js";
import { OID } from "../oids.js";

/**
 * The rules a name value must meet before a builder writes it (RFC 5280 4.1.2.4,
 * 4.2.1.6 and Appendix A, X.520, RFC 9598): NFC, no control characters, the
 * X.520 upper bounds, and the string type the value's alphabet allows. Values
 * that break a rule are refused with a NameError, never written as other bytes.
 */

/** A name value a builder refuses to write: which field, and why. */
export class NameError extends CardloopError {
  constructor(
    readonly field: string,
    readonly why: string,
  ) {
    super("bad-name", `${field} ${why}`);
  }
}

/** X.520 / RFC 5280 Appendix A upper bounds, in characters, by attribute OID. */
export const NAME_UPPER_BOUNDS: Readonly<Record<string, number>> = {
  [OID.commonName]: 64, // ub-common-name
  [OID.organization]: 64, // ub-organization-name
  "2.5.4.11": 64, // ub-organizational-unit-name
  "2.5.4.7": 128, // ub-locality-name
  "2.5.4.8": 128, // ub-state-name
  [OID.serialNumber]: 64, // ub-serial-number
  [OID.country]: 2, // ub-country-name-alpha-length (exactly 2)
  [OID.emailAddress]: 255, // ub-emailaddress-length
  "2.5.4.12": 64, // title: ub-title
  "2.5.4.4": 32768, // surname: ub-name
  "2.5.4.42": 32768, // givenName: ub-name
  "2.5.4.65": 128, // pseudonym: ub-pseudonym
};
/** ub-name, for any other directory string. */
const UB_NAME = 32768;
/** ub-emailaddress-length, for a SAN mailbox as well. */
export const UB_EMAIL = 255;

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/; // C0, DEL, C1
const LONE_SURROGATE = /\p{Cs}/u;
const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/; // X.680 PrintableString
const ASCII = /^[\x00-\x7f]*$/;

/** Characters, not UTF-16 units: X.680 SIZE on a character string counts characters. */
const charCount = (s: string): number => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

/** NFC of a text value, refused if empty, with a control character or a lone surrogate, or above `max` characters. */
export function checkText(field: string, value: unknown, max: number): string {
  if (typeof value !== "string") throw new NameError(field, "must be a string");
  if (LONE_SURROGATE.test(value)) throw new NameError(field, "contains an unpaired surrogate (not Unicode text)");
  const v = value.normalize("NFC");
  if (CONTROL.test(v)) throw new NameError(field, "contains a control character");
  if (v.trim() === "") throw new NameError(field, "is empty");
  const n = charCount(v);
  if (n > max) throw new NameError(field, `is ${n} characters long, above the upper bound ${max}`);
  return v;
}

export const isPrintableString = (s: string): boolean => PRINTABLE.test(s);
export const isAscii = (s: string): boolean => ASCII.test(s);

export type StringType = "utf8" | "printable" | "ia5";

const ATTR_NAMES: Record<string, string> = {
  [OID.commonName]: "commonName",
  [OID.organization]: "organizationName",
  [OID.country]: "countryName",
  [OID.serialNumber]: "serialNumber",
  [OID.emailAddress]: "emailAddress",
};

/** Attributes whose X.520 syntax is PrintableString only (no DirectoryString choice). */
const PRINTABLE_ONLY = new Set<string>([OID.country, OID.serialNumber, "2.5.4.46" /* dnQualifier */]);
/** Attributes whose syntax is IA5String (emailAddress, domainComponent). */
const IA5_ONLY = new Set<string>([OID.emailAddress, "0.9.2342.19200300.100.1.25"]);

/**
 * One name attribute, checked: its NFC value and the string type it is written in.
 * countryName, serialNumber and dnQualifier are PrintableString and refuse other
 * characters; emailAddress and domainComponent are IA5String and refuse non-ASCII;
 * any other attribute is UTF8String unless the caller asks for PrintableString
 * (only if the value is in its alphabet) or IA5String (only if ASCII).
 */
export function checkNameAttribute(oid: string, value: unknown, requested?: StringType, field = ATTR_NAMES[oid] ?? `name attribute ${oid}`): { value: string; type: StringType } {
  const v = checkText(field, value, NAME_UPPER_BOUNDS[oid] ?? UB_NAME);
  let type: StringType = requested ?? (PRINTABLE_ONLY.has(oid) ? "printable" : IA5_ONLY.has(oid) ? "ia5" : "utf8");
  if (PRINTABLE_ONLY.has(oid)) type = "printable";
  if (IA5_ONLY.has(oid)) type = "ia5";
  if (oid === OID.country && !/^[A-Za-z]{2}$/.test(v)) throw new NameError(field, "must be a two-letter country code");
  if (type === "printable" && !isPrintableString(v)) throw new NameError(field, "has characters outside the PrintableString alphabet");
  if (type === "ia5" && !isAscii(v)) throw new NameError(field, "must be ASCII (IA5String)");
  if (oid === OID.emailAddress) checkMailbox(v, field); // same form as the SAN
  return { value: v, type };
}

/** How a mailbox goes into a subjectAltName (RFC 9598 section 3 / RFC 5280 4.2.1.6). */
export type MailboxName =
  /** [1] rfc822Name IA5String: an ASCII local part, the domain in A-labels. */
  | { form: "rfc822"; address: string }
  /** [0] otherName id-on-SmtpUTF8Mailbox UTF8String: a non-ASCII local part, the domain in U-labels (NFC). */
  | { form: "smtpUtf8"; address: string };

// RFC 5322 atext, plus (RFC 6532) any non-ASCII character; dot-atom: no leading, trailing or double dot.
const ATEXT_ASCII = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+(?:\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)*$/;
const ATEXT_UTF8 = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\u{10ffff}]+(?:\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\u{10ffff}]+)*$/u;
const LDH_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

/**
 * A mailbox checked and split the way RFC 9598 writes it: NFC, no control
 * characters, at most 255 characters, a dot-atom local part of at most 64
 * octets (RFC 5321 4.5.3.1.1), a domain of LDH labels. A non-ASCII domain is
 * converted with IDNA (node:url domainToASCII) and refused if that fails. An
 * ASCII local part gives an rfc822Name with the domain's A-labels; a
 * non-ASCII one an SmtpUTF8Mailbox with the domain's U-labels (as RFC 9598
 * section 3 has it; A-labels are converted back with domainToUnicode).
 */
export function checkMailbox(email: unknown, field = "email"): MailboxName {
  const v = checkText(field, email, UB_EMAIL);
  const at = v.lastIndexOf("@");
  if (at <= 0 || at === v.length - 1) throw new NameError(field, "is not a mailbox (local@domain)");
  const local = v.slice(0, at);
  const domain = v.slice(at + 1);
  if (Buffer.byteLength(local, "utf8") > 64) throw new NameError(field, "has a local part above 64 octets");
  const asciiLocal = isAscii(local);
  if (!(asciiLocal ? ATEXT_ASCII : ATEXT_UTF8).test(local)) throw new NameError(field, "has a local part that is not a dot-atom");
  const aLabels = isAscii(domain) ? domain : domainToASCII(domain);
  if (aLabels === "" || aLabels.length > 253 || !aLabels.split(".").every((l) => LDH_LABEL.test(l))) {
    throw new NameError(field, "has a domain that is not a valid (IDNA) host name");
  }
  if (asciiLocal) return { form: "rfc822", address: `${local}@${aLabels}` };
  return { form: "smtpUtf8", address: `${local}@${toULabels(aLabels)}` };
}

/** A-labels back to U-labels (NFC); an A-label IDNA cannot map back is refused. */
function toULabels(aLabels: string): string {
  const u = domainToUnicode(aLabels);
  if (u === "") throw new NameError("email", "has a domain with an invalid A-label");
  return u.normalize("NFC");
}
