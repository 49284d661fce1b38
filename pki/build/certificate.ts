import { Tag } from "../der.js";
import { DerWriter } from "../der-writer.js";
import { OID } from "../oids.js";
import type { SigningKey } from "./keys.js";
import { checkMailbox, checkNameAttribute, NameError } from "./names.js";

/**
 * X.509 v3 certificates and their parts (names, extensions), written in one
 * pass with the DER writer and signed by a SigningKey, so certificates, CRLs
 * and OCSP responses share one signing path.
 */

/**
 * One name attribute. The string type defaults to PrintableString for
 * countryName, serialNumber and dnQualifier, IA5String for emailAddress and
 * domainComponent, else UTF8String; a requested type the attribute's syntax
 * does not allow, or the value does not fit, is refused (names.ts), never
 * written as other bytes.
 */
export type NameAttr = [oid: string, value: string, type?: "utf8" | "printable" | "ia5"];

/** A Name of single-valued RDNs, in the order given; values NFC, checked by names.ts (NameError). */
export function encodeName(attrs: NameAttr[]): Uint8Array {
  const w = new DerWriter(128).begin(Tag.Sequence);
  for (const [oid, raw, requested] of attrs) {
    const { value, type: t } = checkNameAttribute(oid, raw, requested);
    w.begin(Tag.Set).begin(Tag.Sequence).oid(oid);
    if (t === "printable") w.printableString(value);
    else if (t === "ia5") w.ia5String(value);
    else w.utf8String(value);
    w.end().end();
  }
  return new Uint8Array(w.end().finish());
}

/** A URI for an IA5String GeneralName: ASCII without controls or spaces (RFC 5280 4.2.1.6; IRIs are mapped to URIs first). */
function uri(url: string): string {
  if (!/^[\x21-\x7e]+$/.test(url)) throw new NameError("uniformResourceIdentifier", "must be printable ASCII (an IA5String URI)");
  return url;
}

/** One Extension, DER: SEQUENCE { extnID, critical?, extnValue OCTET STRING { value } }. */
export function extension(oid: string, critical: boolean, value: (w: DerWriter) => void): Uint8Array {
  const inner = new DerWriter(64);
  value(inner);
  const w = new DerWriter(inner.length + 32).begin(Tag.Sequence).oid(oid);
  if (critical) w.boolean(true);
  w.octetString(inner.finish());
  return new Uint8Array(w.end().finish());
}

/** The extensions the CA profiles use, each as its Extension DER. */
export const ext = {
  basicConstraints(ca: boolean, pathLen?: number): Uint8Array {
    return extension(OID.basicConstraints, true, (w) => {
      w.begin(Tag.Sequence);
      if (ca) w.boolean(true);
      if (ca && pathLen !== undefined) w.integer(pathLen);
      w.end();
    });
  },
  keyUsage(bits: number[]): Uint8Array {
    return extension(OID.keyUsage, true, (w) => w.namedBits(bits));
  },
  extKeyUsage(oids: string[]): Uint8Array {
    return extension(OID.extKeyUsage, false, (w) => {
      w.begin(Tag.Sequence);
      for (const o of oids) w.oid(o);
      w.end();
    });
  },
  subjectKeyIdentifier(keyId: Uint8Array): Uint8Array {
    return extension(OID.subjectKeyIdentifier, false, (w) => w.octetString(keyId));
  },
  authorityKeyIdentifier(keyId: Uint8Array): Uint8Array {
    return extension(OID.authorityKeyIdentifier, false, (w) => w.begin(Tag.Sequence).primitive(0x80, keyId).end());
  },
  ocspAccess(url: string): Uint8Array {
    return extension(OID.authorityInfoAccess, false, (w) =>
      w.begin(Tag.Sequence).begin(Tag.Sequence).oid(OID.adOcsp).primitive(0x86, Buffer.from(uri(url), "latin1")).end().end(),
    );
  },
  crlDistributionPoint(url: string): Uint8Array {
    // DistributionPoint { distributionPoint [0] { fullName [0] { uniformResourceIdentifier [6] } } }
    return extension(OID.crlDistributionPoints, false, (w) =>
      w.begin(Tag.Sequence).begin(Tag.Sequence).begin(0xa0).begin(0xa0).primitive(0x86, Buffer.from(uri(url), "latin1")).end().end().end().end(),
    );
  },
  /**
   * subjectAltName with one mailbox (RFC 9598): an ASCII local part as [1]
   * rfc822Name (IA5String, domain in A-labels); a non-ASCII one as [0]
   * otherName id-on-SmtpUTF8Mailbox, [0] EXPLICIT UTF8String (domain in U-labels).
   * A mailbox names.ts refuses throws NameError.
   */
  emailAltName(email: string): Uint8Array {
    const m = checkMailbox(email);
    return extension(OID.subjectAltName, false, (w) => {
      w.begin(Tag.Sequence);
      if (m.form === "rfc822") w.primitive(0x81, Buffer.from(m.address, "latin1"));
      else w.begin(0xa0).oid(OID.smtpUtf8Mailbox).begin(0xa0).utf8String(m.address).end().end();
      w.end();
    });
  },
  ocspNoCheck(): Uint8Array {
    return extension(OID.ocspNoCheck, false, (w) => w.null());
  },
  /**
   * subjectAltName from GeneralNames (RFC 5280 4.2.1.6), in the order given. Critical when
   * asked: a certificate with an empty subject MUST mark it critical.
   */
  subjectAltName(names: GeneralNameSpec[], critical = false): Uint8Array {
    if (names.length === 0) throw new RangeError("subjectAltName: at least one name (SIZE (1..MAX))");
    return extension(OID.subjectAltName, critical, (w) => {
      w.begin(Tag.Sequence);
      for (const g of names) generalName(w, g, false);
      w.end();
    });
  },
  /**
   * nameConstraints (RFC 5280 4.2.1.10): always critical ("Conforming CAs MUST mark this
   * extension as critical"); each subtree is its base only (minimum 0 and maximum absent,
   * as the profile requires). At least one of permitted/excluded, none empty.
   */
  nameConstraints(nc: { permitted?: Subtrees; excluded?: Subtrees }): Uint8Array {
    const p = nc.permitted && subtreeList(nc.permitted);
    const x = nc.excluded && subtreeList(nc.excluded);
    if (p?.length === 0 || x?.length === 0 || (!p && !x)) throw new RangeError("nameConstraints: empty (RFC 5280 4.2.1.10: not an empty sequence, subtrees SIZE (1..MAX))");
    return extension(OID.nameConstraints, true, (w) => {
      w.begin(Tag.Sequence);
      for (const [tag, list] of [[0xa0, p], [0xa1, x]] as const) {
        if (!list) continue;
        w.begin(tag);
        for (const g of list) generalName(w.begin(Tag.Sequence), g, true).end();
        w.end();
      }
      w.end();
    });
  },
  /** certificatePolicies (4.2.1.4): policy OIDs without qualifiers; non-critical unless asked. */
  certificatePolicies(oids: string[], critical = false): Uint8Array {
    if (oids.length === 0) throw new RangeError("certificatePolicies: at least one policy (SIZE (1..MAX))");
    if (new Set(oids).size !== oids.length) throw new RangeError("certificatePolicies: a policy OID more than once (RFC 5280 4.2.1.4)");
    return extension(OID.certificatePolicies, critical, (w) => {
      w.begin(Tag.Sequence);
      for (const o of oids) w.begin(Tag.Sequence).oid(o).end();
      w.end();
    });
  },
  /**
   * policyMappings (4.2.1.5), [issuerDomainPolicy, subjectDomainPolicy] pairs. Critical by
   * default: "Conforming CAs SHOULD mark this extension as critical"; a relying party that
   * cannot map would otherwise read the subject's policies as the issuer's. Mapping to or
   * from anyPolicy is refused (4.2.1.5 MUST NOT).
   */
  policyMappings(pairs: Array<[issuer: string, subject: string]>, critical = true): Uint8Array {
    if (pairs.length === 0) throw new RangeError("policyMappings: at least one mapping (SIZE (1..MAX))");
    if (pairs.some(([i, s]) => i === OID.anyPolicy || s === OID.anyPolicy)) throw new RangeError("policyMappings: anyPolicy cannot be mapped (RFC 5280 4.2.1.5)");
    return extension(OID.policyMappings, critical, (w) => {
      w.begin(Tag.Sequence);
      for (const [i, s] of pairs) w.begin(Tag.Sequence).oid(i).oid(s).end();
      w.end();
    });
  },
  /** policyConstraints (4.2.1.11): critical (MUST), at least one field (MUST NOT be empty). */
  policyConstraints(pc: { requireExplicitPolicy?: number; inhibitPolicyMapping?: number }): Uint8Array {
    if (pc.requireExplicitPolicy === undefined && pc.inhibitPolicyMapping === undefined) throw new RangeError("policyConstraints: empty (RFC 5280 4.2.1.11)");
    return extension(OID.policyConstraints, true, (w) => {
      w.begin(Tag.Sequence);
      if (pc.requireExplicitPolicy !== undefined) w.primitive(0x80, skipCerts(pc.requireExplicitPolicy));
      if (pc.inhibitPolicyMapping !== undefined) w.primitive(0x81, skipCerts(pc.inhibitPolicyMapping));
      w.end();
    });
  },
  /** inhibitAnyPolicy (4.2.1.14): SkipCerts, critical (MUST). */
  inhibitAnyPolicy(skip: number): Uint8Array {
    return extension(OID.inhibitAnyPolicy, true, (w) => w.primitive(Tag.Integer, skipCerts(skip)));
  },
};

/**
 * One GeneralName (RFC 5280 4.2.1.6), by form. iPAddress: 4 or 16 octets in a name; in a
 * name constraint `{ address, mask }` of equal length (CIDR: contiguous mask, no host bits).
 * directoryName: attributes for encodeName, or a Name's DER.
 */
export type GeneralNameSpec =
  | { dNSName: string }
  | { rfc822Name: string }
  | { uniformResourceIdentifier: string }
  | { iPAddress: Uint8Array | { address: Uint8Array; mask: Uint8Array } }
  | { directoryName: NameAttr[] | Uint8Array };

/** The subtrees of one side of a NameConstraints extension, by form (written in this order). */
export interface Subtrees {
  dNSName?: string[];
  rfc822Name?: string[];
  directoryName?: Array<NameAttr[] | Uint8Array>;
  uniformResourceIdentifier?: string[];
  iPAddress?: Array<{ address: Uint8Array; mask: Uint8Array }>;
}

function subtreeList(s: Subtrees): GeneralNameSpec[] {
  return [
    ...(s.dNSName ?? []).map((dNSName) => ({ dNSName })),
    ...(s.rfc822Name ?? []).map((rfc822Name) => ({ rfc822Name })),
    ...(s.directoryName ?? []).map((directoryName) => ({ directoryName })),
    ...(s.uniformResourceIdentifier ?? []).map((uniformResourceIdentifier) => ({ uniformResourceIdentifier })),
    ...(s.iPAddress ?? []).map((iPAddress) => ({ iPAddress })),
  ];
}

// LDH labels (RFC 1034 preferred name syntax); a SAN may start with a "*" label, a constraint with a dot (a domain, as many CAs write it).
const DNS_NAME = /^(?:\*\.)?(?:(?!-)[A-Za-z0-9-]{1,63}(?<!-)\.)*(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;
const DNS_CONSTRAINT = /^\.?(?:(?!-)[A-Za-z0-9-]{1,63}(?<!-)\.)*(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

/** Writes one GeneralName; `constraint`: as the base of a GeneralSubtree (the forms 4.2.1.10 gives a constraint). */
function generalName(w: DerWriter, g: GeneralNameSpec, constraint: boolean): DerWriter {
  if ("dNSName" in g) {
    if (!(constraint ? DNS_CONSTRAINT : DNS_NAME).test(g.dNSName)) throw new NameError("dNSName", "must be a host name of LDH labels");
    return w.primitive(0x82, Buffer.from(g.dNSName, "latin1"));
  }
  if ("rfc822Name" in g) {
    // A constraint is a mailbox, a host, or a domain with a leading dot (4.2.1.10); a name is a mailbox.
    const v = g.rfc822Name;
    if (!constraint || v.includes("@")) {
      const m = checkMailbox(v, "rfc822Name");
      if (m.form !== "rfc822") throw new NameError("rfc822Name", "has a non-ASCII local part (use emailAltName: an SmtpUTF8Mailbox)");
      return w.primitive(0x81, Buffer.from(m.address, "latin1"));
    }
    if (!DNS_CONSTRAINT.test(v)) throw new NameError("rfc822Name", "constraint must be a mailbox, a host or a .domain");
    return w.primitive(0x81, Buffer.from(v, "latin1"));
  }
  if ("uniformResourceIdentifier" in g) {
    const v = g.uniformResourceIdentifier;
    // A URI constraint is a host or a .domain (4.2.1.10), never a URI.
    if (constraint && !DNS_CONSTRAINT.test(v)) throw new NameError("uniformResourceIdentifier", "constraint must be a host or a .domain");
    return w.primitive(0x86, Buffer.from(constraint ? v : uri(v), "latin1"));
  }
  if ("iPAddress" in g) return w.primitive(0x87, ipOctets(g.iPAddress, constraint));
  const name = g.directoryName instanceof Uint8Array ? g.directoryName : encodeName(g.directoryName);
  if (name[0] !== Tag.Sequence) throw new RangeError("directoryName: not a Name");
  return w.begin(0xa4).raw(name).end(); // [4] EXPLICIT: Name is a CHOICE
}

function ipOctets(ip: Uint8Array | { address: Uint8Array; mask: Uint8Array }, constraint: boolean): Uint8Array {
  if (ip instanceof Uint8Array) {
    if (constraint) throw new RangeError("iPAddress constraint: an address and a mask (RFC 5280 4.2.1.10)");
    if (ip.length !== 4 && ip.length !== 16) throw new RangeError(`iPAddress: ${ip.length} octets (4 or 16)`);
    return ip;
  }
  if (!constraint) throw new RangeError("iPAddress: a subjectAltName holds an address, not a range");
  const { address, mask } = ip;
  if ((address.length !== 4 && address.length !== 16) || mask.length !== address.length) throw new RangeError("iPAddress constraint: address and mask of 4 or 16 octets each");
  let ended = false;
  for (let i = 0; i < mask.length; i++) {
    for (let b = 7; b >= 0; b--) {
      const on = (mask[i] >> b) & 1;
      if (on && ended) throw new RangeError("iPAddress constraint: mask not contiguous (CIDR)");
      if (!on) ended = true;
    }
    if (address[i] & ~mask[i]) throw new RangeError("iPAddress constraint: address has bits outside the mask");
  }
  const out = new Uint8Array(address.length * 2);
  out.set(address);
  out.set(mask, address.length);
  return out;
}

/** INTEGER content of a SkipCerts (0..MAX). */
function skipCerts(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`SkipCerts: ${n} is not an integer >= 0`);
  const der = new DerWriter(16).integer(n).finish();
  return new Uint8Array(der.subarray(2)); // tag and one length octet: at most 8 content octets
}

export interface CertificateSpec {
  /** Unsigned big-endian serial number (a sign octet is added when needed). */
  serial: Uint8Array;
  /** Name DER (e.g. from encodeName, or an issuer certificate's subject). */
  issuer: Uint8Array;
  subject: Uint8Array;
  notBefore: number;
  notAfter: number;
  spki: Uint8Array;
  /** Extension DERs (e.g. from `ext`), in order. */
  extensions: Uint8Array[];
}

/** A signed X.509 v3 certificate; UTCTime through 2049, GeneralizedTime after (RFC 5280 4.1.2.5). */
export function buildCertificate(spec: CertificateSpec, signer: Pick<SigningKey, "algorithm" | "sign">): Uint8Array {
  const w = new DerWriter(1024).begin(Tag.Sequence);
  const tbsStart = w.length;
  w.begin(Tag.Sequence);
  w.begin(0xa0).integer(2).end(); // v3
  w.integer(spec.serial);
  w.raw(signer.algorithm);
  w.raw(spec.issuer);
  w.begin(Tag.Sequence).time(spec.notBefore).time(spec.notAfter).end();
  w.raw(spec.subject);
  w.raw(spec.spki);
  w.begin(0xa3).begin(Tag.Sequence);
  for (const e of spec.extensions) w.raw(e);
  w.end().end();
  w.end();
  const sig = signer.sign(w.slice(tbsStart, w.length));
  w.raw(signer.algorithm).bitString(sig);
  return new Uint8Array(w.end().finish());
}
