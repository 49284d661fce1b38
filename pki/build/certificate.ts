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
};

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
