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
  [OID.organizationalUnit]: 64, // ub-organizational-unit-name
  [OID.locality]: 128, // ub-locality-name
  [OID.stateOrProvince]: 128, // ub-state-name
  [OID.serialNumber]: 64, // ub-serial-number
  [OID.country]: 2, // ub-country-name-alpha-length (exactly 2)
  [OID.emailAddress]: 255, // ub-emailaddress-length
  [OID.title]: 64, // ub-title
  [OID.surname]: 32768, // ub-name
  [OID.givenName]: 32768, // ub-name
  [OID.pseudonym]: 128, // ub-pseudonym
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

const TYPE_NAMES: Record<StringType, string> = { utf8: "UTF8String", printable: "PrintableString", ia5: "IA5String" };
/** DirectoryString (X.520): of its choices, the builders write UTF8String (the default) or PrintableString. */
const DIRECTORY_STRING: readonly StringType[] = ["utf8", "printable"];
const PRINTABLE_ONLY: readonly StringType[] = ["printable"];
const IA5_ONLY: readonly StringType[] = ["ia5"];
/** An attribute this table does not name takes any of the three (the caller knows its syntax), UTF8String by default. */
const ANY_STRING: readonly StringType[] = ["utf8", "printable", "ia5"];

/** The attributes the builders know: the name errors use, and the string types the syntax allows (the default first). */
const ATTRIBUTES: Readonly<Record<string, { name: string; types: readonly StringType[] }>> = {
  [OID.commonName]: { name: "commonName", types: DIRECTORY_STRING },
  [OID.surname]: { name: "surname", types: DIRECTORY_STRING },
  [OID.serialNumber]: { name: "serialNumber", types: PRINTABLE_ONLY },
  [OID.country]: { name: "countryName", types: PRINTABLE_ONLY },
  [OID.locality]: { name: "localityName", types: DIRECTORY_STRING },
  [OID.stateOrProvince]: { name: "stateOrProvinceName", types: DIRECTORY_STRING },
  [OID.organization]: { name: "organizationName", types: DIRECTORY_STRING },
  [OID.organizationalUnit]: { name: "organizationalUnitName", types: DIRECTORY_STRING },
  [OID.title]: { name: "title", types: DIRECTORY_STRING },
  [OID.givenName]: { name: "givenName", types: DIRECTORY_STRING },
  [OID.dnQualifier]: { name: "dnQualifier", types: PRINTABLE_ONLY },
  [OID.pseudonym]: { name: "pseudonym", types: DIRECTORY_STRING },
  [OID.domainComponent]: { name: "domainComponent", types: IA5_ONLY },
  [OID.emailAddress]: { name: "emailAddress", types: IA5_ONLY },
};

/**
 * One name attribute, checked: its NFC value and the string type it is written in,
 * the requested one or else the default of the attribute's syntax (PrintableString
 * for countryName, serialNumber and dnQualifier; IA5String for emailAddress and
 * domainComponent; UTF8String otherwise). A requested type the syntax does not
 * allow is refused (UTF8String for countryName, IA5String for commonName), as is a
 * value outside the type's alphabet: PrintableString's, or ASCII for IA5String.
 * countryName is two letters; emailAddress a mailbox (checkMailbox's rules).
 */
export function checkNameAttribute(oid: string, value: unknown, requested?: StringType): { value: string; type: StringType } {
  const attr = ATTRIBUTES[oid];
  const field = attr?.name ?? `name attribute ${oid}`;
  const allowed = attr?.types ?? ANY_STRING;
  const v = checkText(field, value, NAME_UPPER_BOUNDS[oid] ?? UB_NAME);
  const type = requested ?? allowed[0];
  if (!allowed.includes(type)) throw new NameError(field, `cannot be written as ${TYPE_NAMES[type]} (its syntax allows ${allowed.map((a) => TYPE_NAMES[a]).join(" or ")})`);
  if (type === "printable" && !isPrintableString(v)) throw new NameError(field, "has characters outside the PrintableString alphabet");
  if (type === "ia5" && !isAscii(v)) throw new NameError(field, "must be ASCII (IA5String)");
  if (oid === OID.country && !/^[A-Za-z]{2}$/.test(v)) throw new NameError(field, "must be a two-letter country code");
  if (oid === OID.emailAddress) splitMailbox(v, field); // same form as the SAN; v has passed checkText already
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
  return splitMailbox(checkText(field, email, UB_EMAIL), field);
}

/** checkMailbox on a value checkText has already passed. */
function splitMailbox(v: string, field: string): MailboxName {
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
  return { form: "smtpUtf8", address: `${local}@${toULabels(aLabels, field)}` };
}

/** A-labels back to U-labels (NFC); an A-label IDNA cannot map back is refused. */
function toULabels(aLabels: string, field: string): string {
  const u = domainToUnicode(aLabels);
  if (u === "") throw new NameError(field, "has a domain with an invalid A-label");
  return u.normalize("NFC");
}
