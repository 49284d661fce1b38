import { createHash } from "node:crypto";
import { DerWriter } from "../../pki/der-writer.js";
import { children, content, expect, readWhole, whole, readTlv, unsignedInteger } from "./der-reader.js";
import { OID } from "./oids.js";
import type { Signer } from "./signer.js";

/**
 * Certificate building with the DER writer: the CA signs through its own
 * Signer (node key or PKCS#11 token) so there is one signing path for
 * certificates, CRLs and OCSP responses.
 */

export type NameAttr = [oid: string, value: string];

export function encodeName(attrs: NameAttr[]): Uint8Array {
  const w = new DerWriter(128).begin(0x30);
  for (const [oid, value] of attrs) {
    w.begin(0x31).begin(0x30).oid(oid);
    if (oid === OID.country) w.printableString(value);
    else w.utf8String(value);
    w.end().end();
  }
  return new Uint8Array(w.end().finish());
}

/** One Extension, DER: SEQUENCE { extnID, critical?, extnValue OCTET STRING { value } }. */
export function extension(oid: string, critical: boolean, value: (w: DerWriter) => void): Uint8Array {
  const inner = new DerWriter(64);
  value(inner);
  const w = new DerWriter(inner.length + 32).begin(0x30).oid(oid);
  if (critical) w.boolean(true);
  w.octetString(inner.finish());
  return new Uint8Array(w.end().finish());
}

export const ext = {
  basicConstraints(ca: boolean, pathLen?: number): Uint8Array {
    return extension(OID.basicConstraints, true, (w) => {
      w.begin(0x30);
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
      w.begin(0x30);
      for (const o of oids) w.oid(o);
      w.end();
    });
  },
  subjectKeyIdentifier(keyId: Uint8Array): Uint8Array {
    return extension(OID.subjectKeyIdentifier, false, (w) => w.octetString(keyId));
  },
  authorityKeyIdentifier(keyId: Uint8Array): Uint8Array {
    return extension(OID.authorityKeyIdentifier, false, (w) => w.begin(0x30).primitive(0x80, keyId).end());
  },
  ocspAccess(url: string): Uint8Array {
    return extension(OID.authorityInfoAccess, false, (w) =>
      w.begin(0x30).begin(0x30).oid(OID.adOcsp).primitive(0x86, Buffer.from(url, "latin1")).end().end(),
    );
  },
  crlDistributionPoint(url: string): Uint8Array {
    // DistributionPoint { distributionPoint [0] { fullName [0] { uniformResourceIdentifier [6] } } }
    return extension(OID.crlDistributionPoints, false, (w) =>
      w.begin(0x30).begin(0x30).begin(0xa0).begin(0xa0).primitive(0x86, Buffer.from(url, "latin1")).end().end().end().end(),
    );
  },
  emailAltName(email: string): Uint8Array {
    return extension(OID.subjectAltName, false, (w) => w.begin(0x30).primitive(0x81, Buffer.from(email, "latin1")).end());
  },
  ocspNoCheck(): Uint8Array {
    return extension(OID.ocspNoCheck, false, (w) => w.null());
  },
};

export interface CertificateSpec {
  serial: Uint8Array;
  issuer: Uint8Array;
  subject: Uint8Array;
  notBefore: number;
  notAfter: number;
  spki: Uint8Array;
  extensions: Uint8Array[];
}

export function buildCertificate(spec: CertificateSpec, signer: Signer): Uint8Array {
  const w = new DerWriter(1024).begin(0x30);
  const tbsStart = w.length;
  w.begin(0x30);
  w.begin(0xa0).integer(2).end(); // v3
  w.integer(spec.serial);
  w.raw(signer.algorithm);
  w.raw(spec.issuer);
  w.begin(0x30).time(spec.notBefore).time(spec.notAfter).end();
  w.raw(spec.subject);
  w.raw(spec.spki);
  w.begin(0xa3).begin(0x30);
  for (const e of spec.extensions) w.raw(e);
  w.end().end();
  w.end();
  const sig = signer.sign(w.slice(tbsStart, w.length));
  w.raw(signer.algorithm).bitString(sig);
  return new Uint8Array(w.end().finish());
}

/** RFC 5280 method 1 key identifier: SHA-1 of the subjectPublicKey bits. */
export function keyIdentifier(spki: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha1").update(subjectPublicKeyBits(spki)).digest());
}

export function subjectPublicKeyBits(spki: Uint8Array): Uint8Array {
  const top = readWhole(spki, 0x30);
  const [, bits] = children(spki, top);
  expect(bits, 0x03, "subjectPublicKey");
  return content(spki, bits).subarray(1);
}

/** The parts of a certificate the CA needs back (its own certificates: issuer name, subject, serial). */
export interface CertificateParts {
  serial: Uint8Array;
  issuer: Uint8Array;
  subject: Uint8Array;
  spki: Uint8Array;
}

export function certificateParts(der: Uint8Array): CertificateParts {
  const top = readWhole(der, 0x30);
  const tbs = expect(readTlv(der, top.contentStart, top.end), 0x30, "tbsCertificate");
  const f = children(der, tbs);
  let i = f[0]?.tag === 0xa0 ? 1 : 0;
  const serial = unsignedInteger(content(der, expect(f[i++], 0x02, "serial")));
  i++; // signature algorithm
  const issuer = whole(der, expect(f[i++], 0x30, "issuer"));
  i++; // validity
  const subject = whole(der, expect(f[i++], 0x30, "subject"));
  const spki = whole(der, expect(f[i++], 0x30, "subjectPublicKeyInfo"));
  return { serial, issuer, subject, spki };
}

export function toPem(der: Uint8Array, label = "CERTIFICATE"): string {
  const b64 = Buffer.from(der).toString("base64");
  return `-----BEGIN ${label}-----\n${b64.replace(/(.{64})/g, "$1\n").replace(/\n$/, "")}\n-----END ${label}-----\n`;
}

export function fromPem(pem: string, label = "CERTIFICATE"): Uint8Array {
  const m = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`).exec(pem);
  if (!m) throw new Error(`no ${label} PEM block`);
  return new Uint8Array(Buffer.from(m[1].replace(/\s+/g, ""), "base64"));
}
