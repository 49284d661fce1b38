import type { Certificate } from "./certificate.js";
import type { Extension } from "./signed-envelope.js";
import type { Crl } from "./crl.js";
import { readTlv } from "./der.js";
import { DecodeError, type ResultCode } from "./errors.js";
import { type GeneralName, decodeGeneralNamesExtension } from "./general-name.js";
import { KeyUsage, OID } from "./oids.js";
import { publicKeyOf, verifyCached } from "./signed-data.js";

/**
 * The strict profile: the MUST / MUST NOT rules of RFC 5280 section 4
 * (certificates) and 5.2.3 (CRL numbers) that a validator can check on the
 * certificate alone, beyond what the decoders already refuse and what path
 * validation (6.1) already judges with its own codes.
 *
 * Runs on every new leaf: a conforming certificate costs Map lookups and
 * integer compares, reads only fields the view decoded in its constructor
 * (serial, validity, basicConstraints, keyUsage, extension offsets) or that
 * path validation decodes anyway (certificatePolicies), and allocates nothing
 * but the decoded subjectAltName (once per certificate, kept on the view, which
 * name constraints read too). Strings are built only for a violation.
 */

export interface ProfileViolation {
  code: ResultCode;
  detail: string;
}

/** Where a certificate stands on the path: its role decides which rules apply. */
export type PathRole = "anchor" | "ca" | "leaf";

/**
 * "strict" (the validator's default): every rule below but the four of PEDANTIC_RULES;
 * "pedantic": all of them, RFC 5280 section 4 to the letter.
 */
export type ProfileLevel = "strict" | "pedantic";

export function certificateProfile(cert: Certificate, role: PathRole, level: ProfileLevel = "strict"): ProfileViolation | undefined {
  // The anchor and intermediates come back on every validation: their verdict is kept on the view.
  const key = role === "leaf" ? "" : role + level;
  if (key !== "" && cert.profileKey === key) return cert.profileVerdict ?? undefined;
  const verdict = check(cert, role, level === "pedantic");
  if (key !== "") {
    cert.profileKey = key;
    cert.profileVerdict = verdict ?? null;
  }
  return verdict;
}

/**
 * Four MUSTs of section 4 that NIST PKITS expects a relying party to tolerate: a case expecting
 * "valid" breaks each (RFC 3280-era certificates; 4.1.2.5 itself says applications MUST process
 * either time encoding). They are rules for issuers, so only the pedantic profile applies them.
 */
export const PEDANTIC_RULES = {
  /** 4.1.2.5 GeneralizedTime before 2050: PKITS 4.2.4 (an end entity's notBefore 2002). */
  timeEncoding: "4.2.4",
  /** 4.2.1.9 basicConstraints critical in a CA: PKITS 4.6.4 (an intermediate CA's is not). */
  basicConstraintsCritical: "4.6.4",
  /** 4.2.1.11 policyConstraints critical (new in RFC 5280): intermediates of PKITS 4.8-4.12. */
  policyConstraintsCritical: "4.8.6, 4.8.10, 4.8.11, 4.8.13, 4.8.14, 4.8.18, 4.10.1.1, 4.10.3, 4.10.5, 4.10.6, 4.10.9, 4.10.11-4.10.14, 4.12.2, 4.12.3, 4.12.7, 4.12.9",
  /** 4.1.2.8 no unique identifiers in v2/v3 (in v1 they are malformed at any level): PKITS 4.3.6. */
  uniqueIdentifiers: "4.3.6",
} as const;

/** `full`: the pedantic profile (PEDANTIC_RULES too). */
function check(cert: Certificate, role: PathRole, full: boolean): ProfileViolation | undefined {
  const bc = cert.basicConstraints;
  const ku = cert.keyUsage;
  const ca = bc !== undefined && bc.ca;
  // A CA on the path that is no v3 CA with keyCertSign fails path validation with its own,
  // more telling code (basic-constraints, key-usage: 6.1.4 (k), (n), RFC 5937): leave it to it.
  // (A v1 anchor is a CA by being trusted.)
  if (role !== "leaf" && (cert.version === 3 ? !ca || (ku !== undefined && !(ku & KeyUsage.keyCertSign)) : role === "ca")) return undefined;
  const basic = serialNumber(cert) ?? (full ? validity(cert) : undefined) ?? uniqueIdentifiers(cert, full) ?? subject(cert, role, ca, ku);
  // v1 and v2 certificates carry no extensions (4.1.2.9): the extension rules are for v3.
  if (basic || cert.version < 3) return basic;
  return keyUsage(cert, role, ca, ku) ?? extensions(cert, role, ca, ku, full);
}

/** crl-number-missing, crl-number-critical (RFC 5280 5.2.3). */
export function crlProfile(crl: Crl): ProfileViolation | undefined {
  const e = crl.extensions.get(OID.crlNumber);
  if (!e) return v("crl-number-missing", "RFC 5280 5.2.3: the CRL has no cRLNumber extension (conforming CRL issuers MUST include it in all CRLs)");
  if (e.critical) return v("crl-number-critical", "RFC 5280 5.2.3: the cRLNumber extension is marked critical (it MUST be non-critical)");
  // The value is one DER INTEGER (checked when the CRL was read): header, then content octets.
  const b = e.buf;
  const len = e.end - e.start - 2; // content octets, when the length is short-form (all a 21-octet INTEGER needs)
  if (b[e.start] === 0x02 && len > 0 && len <= 21) {
    if (b[e.start + 2] & 0x80) return v("crl-number-missing", "RFC 5280 5.2.3: the cRLNumber is negative (CRLNumber ::= INTEGER (0..MAX))");
    if (len - (b[e.start + 2] === 0 ? 1 : 0) <= 20) return undefined;
  }
  return v("crl-number-missing", "RFC 5280 5.2.3: the cRLNumber is longer than 20 octets (conforming CRL issuers MUST NOT use such values)");
}

const v = (code: ResultCode, detail: string): ProfileViolation => ({ code, detail });

// ------------------------------------------------------------------ basic fields (4.1.2)

/** 4.1.2.2: positive, at most 20 octets. `serial` is the hex of the minimal INTEGER content. */
function serialNumber(cert: Certificate): ProfileViolation | undefined {
  const s = cert.serial;
  const first = s.charCodeAt(0);
  if (first >= 0x38) return v("profile-serial-number", `RFC 5280 4.1.2.2: the serial number ${s} is negative (it MUST be a positive integer)`);
  const lead = first === 0x30 && s.charCodeAt(1) === 0x30; // a 00 sign octet (or the value zero)
  if (s.length === 2 && lead) return v("profile-serial-number", "RFC 5280 4.1.2.2: the serial number is zero (it MUST be a positive integer)");
  // The value's length: a sign octet 00 in front of a high first octet is not part of it.
  const octets = (s.length >> 1) - (lead ? 1 : 0);
  if (octets > 20) return v("profile-serial-number", `RFC 5280 4.1.2.2: the serial number is ${octets} octets long (conforming CAs MUST NOT use values longer than 20 octets)`);
  return undefined;
}

const Y1950 = Date.UTC(1950, 0, 1);
const Y2050 = Date.UTC(2050, 0, 1);
/** UTCTime cannot hold 2050 or later, so the only breach is GeneralizedTime for 1950-2049. */
const utcYears = (t: number): boolean => t >= Y1950 && t < Y2050;

/** 4.1.2.5: validity dates through 2049 MUST be UTCTime, from 2050 GeneralizedTime. */
function validity(cert: Certificate): ProfileViolation | undefined {
  if (cert.notBeforeGeneralized && utcYears(cert.notBefore)) return v("profile-time-encoding", `RFC 5280 4.1.2.5: notBefore ${iso(cert.notBefore)} is GeneralizedTime (dates through 2049 MUST be UTCTime)`);
  if (cert.notAfterGeneralized && utcYears(cert.notAfter)) return v("profile-time-encoding", `RFC 5280 4.1.2.5: notAfter ${iso(cert.notAfter)} is GeneralizedTime (dates through 2049 MUST be UTCTime)`);
  return undefined;
}

const iso = (t: number): string => new Date(t).toISOString().replace(".000", "");

/**
 * 4.1.2.8: unique identifiers "MUST NOT appear if the version is 1" (X.509: "If present, version
 * MUST be v2 or v3", a syntax rule, hence `malformed`); "CAs conforming to this profile MUST NOT
 * generate certificates with unique identifiers" (v2/v3: pedantic only, see PEDANTIC_RULES).
 */
function uniqueIdentifiers(cert: Certificate, full: boolean): ProfileViolation | undefined {
  if (!cert.uniqueIdentifiers || (cert.version > 1 && !full)) return undefined;
  return v("malformed", `RFC 5280 4.1.2.8: issuerUniqueID or subjectUniqueID present in a v${cert.version} certificate (conforming CAs MUST NOT generate them${cert.version === 1 ? "; they MUST NOT appear in a v1 certificate" : ""})`);
}

/** 4.1.2.4, 4.1.2.6, 4.2.1.6: non-empty names where required; an empty subject needs a critical subjectAltName. */
function subject(cert: Certificate, role: PathRole, ca: boolean, ku: number | undefined): ProfileViolation | undefined {
  if (cert.issuerEmpty) return v("profile-empty-subject", "RFC 5280 4.1.2.4: the issuer is an empty name (it MUST contain a non-empty distinguished name)");
  if (!cert.subjectEmpty) return undefined;
  if (ca || role !== "leaf") return v("profile-empty-subject", "RFC 5280 4.1.2.6: a CA certificate has an empty subject (a CA's subject MUST be a non-empty distinguished name)");
  if (ku !== undefined && ku & KeyUsage.cRLSign) return v("profile-empty-subject", "RFC 5280 4.1.2.6: a CRL issuer (keyUsage cRLSign) has an empty subject (it MUST be a non-empty distinguished name)");
  const san = cert.extensions.get(OID.subjectAltName);
  if (!san) return v("profile-empty-subject", "RFC 5280 4.1.2.6, 4.2.1.6: the subject is empty and there is no subjectAltName (the subject's names MUST then be in a critical subjectAltName)");
  if (!san.critical) return v("profile-empty-subject", "RFC 5280 4.1.2.6, 4.2.1.6: the subject is empty and the subjectAltName is not critical (it MUST be critical)");
  return undefined;
}

// ------------------------------------------------------------------ keyUsage and basicConstraints (4.2.1.3, 4.2.1.9)

function keyUsage(cert: Certificate, role: PathRole, ca: boolean, ku: number | undefined): ProfileViolation | undefined {
  if (ku === 0) return v("profile-key-usage", "RFC 5280 4.2.1.3: keyUsage has no bit set (at least one bit MUST be set)");
  if (ku === undefined && role !== "leaf" && cert.version === 3) {
    return v("profile-key-usage", "RFC 5280 4.2.1.3: a CA certificate whose key verifies certificate signatures has no keyUsage extension (conforming CAs MUST include it)");
  }
  if (ku !== undefined && ku & KeyUsage.keyCertSign && !ca) return v("profile-key-usage", "RFC 5280 4.2.1.3, 4.2.1.9: keyUsage asserts keyCertSign but basicConstraints does not assert cA (it MUST then be asserted)");
  const bc = cert.basicConstraints;
  if (bc?.pathLen !== undefined && !(ca && ku !== undefined && ku & KeyUsage.keyCertSign)) {
    return v("profile-key-usage", "RFC 5280 4.2.1.9: pathLenConstraint without cA and a keyUsage asserting keyCertSign (CAs MUST NOT include it then)");
  }
  return undefined;
}

// ------------------------------------------------------------------ extensions (4.2)

/** What section 4 asks of one extension: SIZE (1..MAX) (or "MUST NOT be an empty sequence"), its criticality; `kind` names the ones read again below. */
interface Rule {
  section: string;
  name: string;
  notEmpty: boolean;
  critical?: boolean;
  kind: Kind;
}
const Kind = { Other: 0, BasicConstraints: 1, SubjectKeyId: 2, AuthorityKeyId: 3, AltName: 4, NameConstraints: 5, Policies: 6 } as const;
type Kind = (typeof Kind)[keyof typeof Kind];
const rule = (section: string, name: string, notEmpty: boolean, critical?: boolean, kind: Kind = Kind.Other): Rule => ({ section, name, notEmpty, critical, kind });
/** One table, one lookup per extension the certificate carries (a typical leaf has five to eight). */
const RULES = new Map<string, Rule>([
  [OID.authorityKeyIdentifier, rule("4.2.1.1", "authorityKeyIdentifier", false, false, Kind.AuthorityKeyId)],
  [OID.subjectKeyIdentifier, rule("4.2.1.2", "subjectKeyIdentifier", false, false, Kind.SubjectKeyId)],
  [OID.certificatePolicies, rule("4.2.1.4", "certificatePolicies", true, undefined, Kind.Policies)],
  [OID.policyMappings, rule("4.2.1.5", "policyMappings", true)],
  [OID.subjectAltName, rule("4.2.1.6", "subjectAltName", true, undefined, Kind.AltName)],
  [OID.issuerAltName, rule("4.2.1.7", "issuerAltName", true, undefined, Kind.AltName)],
  [OID.basicConstraints, rule("4.2.1.9", "basicConstraints", false, undefined, Kind.BasicConstraints)],
  [OID.nameConstraints, rule("4.2.1.10", "nameConstraints", true, true, Kind.NameConstraints)],
  [OID.policyConstraints, rule("4.2.1.11", "policyConstraints", true, true)],
  [OID.extKeyUsage, rule("4.2.1.12", "extKeyUsage", true)],
  [OID.crlDistributionPoints, rule("4.2.1.13", "cRLDistributionPoints", true)],
  [OID.inhibitAnyPolicy, rule("4.2.1.14", "inhibitAnyPolicy", false, true)],
  [OID.freshestCrl, rule("4.2.1.15", "freshestCRL", true, false)],
  [OID.authorityInfoAccess, rule("4.2.2.1", "authorityInfoAccess", true, false)],
  [OID.subjectInfoAccess, rule("4.2.2.2", "subjectInfoAccess", true, false)],
]);

function extensions(cert: Certificate, role: PathRole, ca: boolean, ku: number | undefined, full: boolean): ProfileViolation | undefined {
  let ski = false;
  let aki: Extension | undefined;
  let nc = false;
  let policies = false;
  for (const e of cert.extensions.values()) {
    const r = RULES.get(e.oid);
    if (r === undefined) continue;
    // A single DER element of two octets is a SEQUENCE with nothing in it.
    if (r.notEmpty && e.end - e.start === 2 && e.buf[e.start] === 0x30) return v("profile-empty-extension", `RFC 5280 ${r.section}: ${r.name} is an empty sequence (it MUST hold at least one element)`);
    if (r.critical === true && !e.critical && (full || e.oid !== OID.policyConstraints)) {
      return v("profile-extension-criticality", `RFC 5280 ${r.section}: ${r.name} is not critical (conforming CAs MUST mark it critical)`);
    }
    if (r.critical === false && e.critical) return v("profile-extension-criticality", `RFC 5280 ${r.section}: ${r.name} is critical (conforming CAs MUST mark it non-critical)`);
    switch (r.kind) {
      case Kind.BasicConstraints:
        // 4.2.1.9: critical in a CA certificate whose key verifies certificate signatures (on the path
        // above the leaf, or a leaf asserting keyCertSign); it MAY be non-critical elsewhere. Pedantic only.
        if (full && ca && !e.critical && (role !== "leaf" || (ku !== undefined && (ku & KeyUsage.keyCertSign) !== 0))) {
          return v("profile-extension-criticality", "RFC 5280 4.2.1.9: basicConstraints is not critical in a CA certificate whose key verifies certificate signatures (it MUST be critical there)");
        }
        break;
      case Kind.AltName: {
        const bad = altNames(cert, e, r);
        if (bad) return bad;
        break;
      }
      case Kind.SubjectKeyId:
        ski = true;
        break;
      case Kind.AuthorityKeyId:
        aki = e;
        break;
      case Kind.NameConstraints:
        nc = true;
        break;
      case Kind.Policies:
        policies = true;
        break;
    }
  }
  if (ca && !ski) return v("profile-missing-subject-key-id", "RFC 5280 4.2.1.2: a CA certificate (basicConstraints cA) has no subjectKeyIdentifier (it MUST appear in all conforming CA certificates)");
  const missingAki = authorityKeyId(cert, role, aki);
  if (missingAki) return missingAki;
  if (nc && !ca) return v("profile-name-constraints-in-leaf", "RFC 5280 4.2.1.10: nameConstraints in a certificate that is not a CA certificate (it MUST be used only in a CA certificate)");
  return policies ? duplicatePolicy(cert.policies!) : undefined;
}

/**
 * 4.2.1.1: the keyIdentifier field MUST be in every certificate, except that a CA
 * distributing its key as a self-signed certificate MAY omit the extension. Self-signed
 * (its own key verifies it) is only decided when the field is missing from a self-issued
 * certificate; a trust anchor's signature is never checked (RFC 5937), so there self-issued
 * is taken for self-signed.
 */
function authorityKeyId(cert: Certificate, role: PathRole, e: Extension | undefined): ProfileViolation | undefined {
  if (e && hasKeyIdentifier(e)) return undefined;
  if (cert.selfIssued && (role === "anchor" || selfSigned(cert))) return undefined;
  return v("profile-missing-authority-key-id", e
    ? "RFC 5280 4.2.1.1: authorityKeyIdentifier has no keyIdentifier field (it MUST be included in all certificates but self-signed ones)"
    : "RFC 5280 4.2.1.1: no authorityKeyIdentifier extension (its keyIdentifier MUST be included in all certificates but self-signed ones)");
}

function selfSigned(cert: Certificate): boolean {
  const pk = publicKeyOf(cert.spki, cert.spkiAlgorithm);
  return verifyCached(cert, pk, cert.signatureAlgorithm, cert.tbs, cert.signature) === "ok";
}

/**
 * AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] OPTIONAL, ... }: is [0] its first
 * element? Read in place (only the headers), not through the decoded extension.
 */
function hasKeyIdentifier(e: Extension): boolean {
  const seq = readTlv(e.buf, e.start, e.end);
  if (seq.tag !== 0x30 || seq.valueStart >= seq.end) return false;
  return readTlv(e.buf, seq.valueStart, seq.end).tag === 0x80;
}

/**
 * subjectAltName (4.2.1.6) and issuerAltName (4.2.1.7: "encoded as in 4.2.1.6"), decoded
 * whole by general-name.ts (the leaf's SAN once per certificate: the view keeps it for name
 * constraints), so a GeneralName of the wrong form or contents is `malformed` even where no
 * name constraint would read it. Then 4.2.1.6: "conforming CAs MUST NOT issue certificates
 * with subjectAltNames containing empty GeneralName fields" (an empty rfc822Name, dNSName,
 * URI, iPAddress or directoryName), "a dNSName of ' ' MUST NOT be used", and an iPAddress
 * "MUST contain exactly four octets" (IPv4) or "exactly sixteen octets" (IPv6): malformed.
 */
function altNames(cert: Certificate, e: Extension, r: Rule): ProfileViolation | undefined {
  const section = r.section === "4.2.1.6" ? "4.2.1.6" : "4.2.1.7, 4.2.1.6";
  let names: readonly GeneralName[];
  try {
    names = e.oid === OID.subjectAltName ? cert.subjectAltNames : decodeGeneralNamesExtension(e.value, r.name);
  } catch (err) {
    if (err instanceof DecodeError) return v("malformed", `RFC 5280 ${section}: ${r.name} does not decode: ${err.message}`);
    throw err;
  }
  for (const g of names) {
    let empty: string | undefined;
    switch (g.type) {
      case "rfc822Name":
      case "dNSName":
      case "uniformResourceIdentifier":
        if (g.value.length === 0) empty = `an empty ${g.type}`;
        else if (g.type === "dNSName" && g.value === " ") empty = `the dNSName " "`;
        break;
      case "iPAddress":
        if (g.value.length === 0) empty = "an empty iPAddress";
        else if (g.value.length !== 4 && g.value.length !== 16) return v("malformed", `RFC 5280 ${section}: ${r.name} holds an iPAddress of ${g.value.length} octets (it MUST be exactly 4 for IPv4 or 16 for IPv6)`);
        break;
      case "directoryName":
        if (g.name.empty) empty = "an empty directoryName";
        break;
    }
    if (empty) return v("profile-empty-extension", `RFC 5280 ${section}: ${r.name} holds ${empty} (conforming CAs MUST NOT issue empty GeneralName fields)`);
  }
  return undefined;
}

/** 4.2.1.4: "A certificate policy OID MUST NOT appear more than once". */
function duplicatePolicy(p: readonly string[]): ProfileViolation | undefined {
  if (p.length < 2) return undefined;
  if (p.length <= 16) {
    for (let i = 1; i < p.length; i++) for (let j = 0; j < i; j++) if (p[i] === p[j]) return dup(p[i]);
    return undefined;
  }
  const seen = new Set<string>();
  for (const o of p) {
    if (seen.has(o)) return dup(o);
    seen.add(o);
  }
  return undefined;
}
const dup = (o: string): ProfileViolation => v("profile-duplicate-policy", `RFC 5280 4.2.1.4: certificatePolicies lists ${o} more than once (a policy OID MUST NOT appear more than once)`);
