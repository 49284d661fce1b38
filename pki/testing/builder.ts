import { type KeyObject, createHash, generateKeyPairSync, sign } from "node:crypto";
import { generateEcKeyPair, generateEd25519KeyPair } from "../../core/index.js";
import { utcParts } from "../time.js";

/**
 * Test-only builders for certificates, CRLs and OCSP responses with exact control
 * over every field the validator judges (validity, basicConstraints, pathLen,
 * keyUsage, critical extensions, revocation entries). Signs with node:crypto.
 * Not used by the validator itself.
 */

// ------------------------------------------------------------------ DER encoding

function lenBytes(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  while (n > 0) {
    out.unshift(n & 0xff);
    n = Math.floor(n / 256);
  }
  return [0x80 | out.length, ...out];
}
export function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const len = parts.reduce((n, p) => n + p.length, 0);
  const head = [tag, ...lenBytes(len)];
  const out = new Uint8Array(head.length + len);
  out.set(head);
  let o = head.length;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
export const seq = (...p: Uint8Array[]) => tlv(0x30, ...p);
export const set = (...p: Uint8Array[]) => tlv(0x31, ...p);
export const octets = (b: Uint8Array) => tlv(0x04, b);
export const explicit = (n: number, ...p: Uint8Array[]) => tlv(0xa0 | n, ...p);
export const NULL = new Uint8Array([0x05, 0x00]);
export const bool = (b: boolean) => tlv(0x01, new Uint8Array([b ? 0xff : 0]));
export const utf8 = (s: string) => tlv(0x0c, new TextEncoder().encode(s));
export const printable = (s: string) => tlv(0x13, new TextEncoder().encode(s));
export const bitString = (b: Uint8Array, unused = 0) => tlv(0x03, new Uint8Array([unused]), b);
export const enumerated = (n: number) => tlv(0x0a, new Uint8Array([n]));

export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map(Number);
  const bytes: number[] = [];
  const push = (v: number) => {
    const tmp = [v & 0x7f];
    v = Math.floor(v / 128);
    while (v > 0) {
      tmp.unshift((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    bytes.push(...tmp);
  };
  push(arcs[0] * 40 + arcs[1]);
  for (const a of arcs.slice(2)) push(a);
  return tlv(0x06, new Uint8Array(bytes));
}

/** INTEGER from a bigint (two's complement, minimal). */
export function integer(v: bigint | number): Uint8Array {
  const n = BigInt(v);
  let k = 1;
  while (n >= 1n << BigInt(8 * k - 1) || n < -(1n << BigInt(8 * k - 1))) k++;
  let u = n < 0n ? n + (1n << BigInt(8 * k)) : n;
  const out = new Uint8Array(k);
  for (let i = k - 1; i >= 0; i--) {
    out[i] = Number(u & 0xffn);
    u >>= 8n;
  }
  return tlv(0x02, out);
}

export function time(ms: number): Uint8Array {
  const d = utcParts(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  const rest = `${p(d.month)}${p(d.day)}${p(d.hour)}${p(d.minute)}${p(d.second)}Z`;
  if (d.year >= 1950 && d.year < 2050) return tlv(0x17, new TextEncoder().encode(`${p(d.year % 100)}${rest}`));
  return generalizedTime(ms);
}
export function generalizedTime(ms: number): Uint8Array {
  const d = utcParts(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return tlv(0x18, new TextEncoder().encode(`${p(d.year, 4)}${p(d.month)}${p(d.day)}${p(d.hour)}${p(d.minute)}${p(d.second)}Z`));
}

/** A Name from [shortName, value] pairs, most significant first. */
export function name(...rdns: Array<[string, string]>): Uint8Array {
  const OIDS: Record<string, string> = { C: "2.5.4.6", O: "2.5.4.10", OU: "2.5.4.11", CN: "2.5.4.3", L: "2.5.4.7", serialNumber: "2.5.4.5" };
  return seq(...rdns.map(([k, v]) => set(seq(oid(OIDS[k] ?? k), k === "C" ? printable(v) : utf8(v)))));
}

// ------------------------------------------------------------------ keys and signing

export type KeyType = "p256" | "p384" | "ed25519" | "rsa" | "rsa-pss";

export interface TestKey {
  type: KeyType;
  privateKey: KeyObject;
  publicKey: KeyObject;
  spki: Uint8Array;
}

export function newKey(type: KeyType = "p256"): TestKey {
  const kp =
    type === "p256"
      ? generateEcKeyPair("P-256")
      : type === "p384"
        ? generateEcKeyPair("P-384")
        : type === "ed25519"
          ? generateEd25519KeyPair()
          : generateKeyPairSync("rsa", { modulusLength: 2048 }); // exported just below; see core/keygen.ts
  return { type, ...kp, spki: new Uint8Array(kp.publicKey.export({ type: "spki", format: "der" })) };
}

export function algorithmFor(k: TestKey): Uint8Array {
  switch (k.type) {
    case "p256":
      return seq(oid("1.2.840.10045.4.3.2"));
    case "p384":
      return seq(oid("1.2.840.10045.4.3.3"));
    case "ed25519":
      return seq(oid("1.3.101.112"));
    case "rsa":
      return seq(oid("1.2.840.113549.1.1.11"), NULL);
    case "rsa-pss": {
      const sha256 = seq(oid("2.16.840.1.101.3.4.2.1"), NULL);
      return seq(oid("1.2.840.113549.1.1.10"), seq(explicit(0, sha256), explicit(1, seq(oid("1.2.840.113549.1.1.8"), sha256)), explicit(2, integer(32))));
    }
  }
}

export function signWith(k: TestKey, data: Uint8Array): Uint8Array {
  switch (k.type) {
    case "p256":
      return new Uint8Array(sign("sha256", data, k.privateKey));
    case "p384":
      return new Uint8Array(sign("sha384", data, k.privateKey));
    case "ed25519":
      return new Uint8Array(sign(null, data, k.privateKey));
    case "rsa":
      return new Uint8Array(sign("sha256", data, k.privateKey));
    case "rsa-pss":
      return new Uint8Array(sign("sha256", data, { key: k.privateKey, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 }));
  }
}

export const keyId = (spki: Uint8Array): Uint8Array => new Uint8Array(createHash("sha1").update(spki).digest());

// ------------------------------------------------------------------ certificates

export interface ExtensionSpec {
  oid: string;
  critical?: boolean;
  value: Uint8Array;
}

export interface CertSpec {
  serial: bigint | number;
  issuer: Uint8Array;
  subject: Uint8Array;
  notBefore: number;
  notAfter: number;
  subjectKey: TestKey;
  issuerKey: TestKey;
  /** undefined = no basicConstraints extension. */
  ca?: boolean;
  pathLen?: number;
  /** KeyUsage bits (bit 0 = digitalSignature); undefined = no extension. */
  keyUsage?: number;
  eku?: string[];
  extra?: ExtensionSpec[];
  /** Adds SKI/AKI (default true). */
  keyIds?: boolean;
  crlDp?: string;
  /** basicConstraints marked critical (default true). */
  bcCritical?: boolean;
  /** notBefore and notAfter as GeneralizedTime whatever the year (default: UTCTime for 1950-2049, as RFC 5280 4.1.2.5 asks). */
  generalizedTimes?: boolean;
  /** Version (default 3). A v1 certificate has no version field; v1 and v2 carry no extensions. */
  version?: 1 | 2 | 3;
  /** issuerUniqueID / subjectUniqueID BIT STRING contents (RFC 5280 4.1.2.8). */
  issuerUniqueId?: Uint8Array;
  subjectUniqueId?: Uint8Array;
}

function ext(e: ExtensionSpec): Uint8Array {
  return seq(oid(e.oid), ...(e.critical ? [bool(true)] : []), octets(e.value));
}

export function keyUsageValue(bits: number): Uint8Array {
  const bytes: number[] = [];
  let highest = -1;
  for (let i = 0; i < 16; i++) if (bits & (1 << i)) highest = i;
  if (highest < 0) return bitString(new Uint8Array(0));
  const nBytes = Math.floor(highest / 8) + 1;
  for (let i = 0; i < nBytes; i++) bytes.push(0);
  for (let i = 0; i <= highest; i++) if (bits & (1 << i)) bytes[Math.floor(i / 8)] |= 0x80 >> i % 8;
  const unused = nBytes * 8 - (highest + 1);
  return bitString(new Uint8Array(bytes), unused);
}

export function buildCert(s: CertSpec): Uint8Array {
  const exts: Uint8Array[] = [];
  if (s.ca !== undefined) {
    const inner: Uint8Array[] = [];
    if (s.ca) inner.push(bool(true));
    if (s.pathLen !== undefined) inner.push(integer(s.pathLen));
    exts.push(ext({ oid: "2.5.29.19", critical: s.bcCritical ?? true, value: seq(...inner) }));
  }
  if (s.keyUsage !== undefined) exts.push(ext({ oid: "2.5.29.15", critical: true, value: keyUsageValue(s.keyUsage) }));
  if (s.eku) exts.push(ext({ oid: "2.5.29.37", value: seq(...s.eku.map(oid)) }));
  if (s.keyIds !== false) {
    exts.push(ext({ oid: "2.5.29.14", value: octets(keyId(s.subjectKey.spki)) }));
    exts.push(ext({ oid: "2.5.29.35", value: seq(tlv(0x80, keyId(s.issuerKey.spki))) }));
  }
  if (s.crlDp) exts.push(ext({ oid: "2.5.29.31", value: seq(seq(explicit(0, explicit(0, tlv(0x86, new TextEncoder().encode(s.crlDp)))))) }));
  for (const e of s.extra ?? []) exts.push(ext(e));
  const alg = algorithmFor(s.issuerKey);
  const version = s.version ?? 3;
  const t = s.generalizedTimes ? generalizedTime : time;
  const tbs = seq(
    ...(version > 1 ? [explicit(0, integer(version - 1))] : []),
    integer(s.serial),
    alg,
    s.issuer,
    seq(t(s.notBefore), t(s.notAfter)),
    s.subject,
    s.subjectKey.spki,
    ...(s.issuerUniqueId ? [tlv(0x81, new Uint8Array([0]), s.issuerUniqueId)] : []),
    ...(s.subjectUniqueId ? [tlv(0x82, new Uint8Array([0]), s.subjectUniqueId)] : []),
    ...(exts.length && version === 3 ? [explicit(3, seq(...exts))] : []),
  );
  return seq(tbs, alg, bitString(signWith(s.issuerKey, tbs)));
}

// ------------------------------------------------------------------ CRLs

export interface CrlEntrySpec {
  serial: bigint | number;
  date: number;
  reason?: number;
  invalidity?: number;
  extra?: ExtensionSpec[];
}

export interface CrlSpec {
  issuer: Uint8Array;
  issuerKey: TestKey;
  thisUpdate: number;
  nextUpdate?: number;
  entries: CrlEntrySpec[];
  /** 1 when not given; null leaves the extension out (`extra` may then carry a malformed one). */
  crlNumber?: number | null;
  extra?: ExtensionSpec[];
}

export function buildCrl(s: CrlSpec): Uint8Array {
  const entries = s.entries.map((e) => {
    const ex: Uint8Array[] = [];
    if (e.reason !== undefined) ex.push(ext({ oid: "2.5.29.21", value: enumerated(e.reason) }));
    if (e.invalidity !== undefined) ex.push(ext({ oid: "2.5.29.24", value: generalizedTime(e.invalidity) }));
    for (const x of e.extra ?? []) ex.push(ext(x));
    return seq(integer(e.serial), time(e.date), ...(ex.length ? [seq(...ex)] : []));
  });
  const crlExts = [ext({ oid: "2.5.29.35", value: seq(tlv(0x80, keyId(s.issuerKey.spki))) })];
  if (s.crlNumber !== null) crlExts.push(ext({ oid: "2.5.29.20", value: integer(s.crlNumber ?? 1) }));
  for (const x of s.extra ?? []) crlExts.push(ext(x));
  const alg = algorithmFor(s.issuerKey);
  const tbs = seq(
    integer(1),
    alg,
    s.issuer,
    time(s.thisUpdate),
    ...(s.nextUpdate !== undefined ? [time(s.nextUpdate)] : []),
    ...(entries.length ? [seq(...entries)] : []),
    explicit(0, seq(...crlExts)),
  );
  return seq(tbs, alg, bitString(signWith(s.issuerKey, tbs)));
}

// ------------------------------------------------------------------ OCSP

export interface OcspSingleSpec {
  /** The certificate's issuer Name DER and the issuer's public key BIT STRING content. */
  issuerName: Uint8Array;
  issuerKey: TestKey;
  serial: bigint | number;
  status: "good" | "revoked" | "unknown";
  revocationTime?: number;
  reason?: number;
  thisUpdate: number;
  nextUpdate?: number;
}

export interface OcspSpec {
  responderName?: Uint8Array;
  /** Used when responderName is absent: responder by key hash. */
  responderKey?: TestKey;
  signer: TestKey;
  producedAt: number;
  responses: OcspSingleSpec[];
  certs?: Uint8Array[];
  nonce?: Uint8Array;
  /** Echo the nonce as the bare extnValue, without RFC 8954's OCTET STRING around it (some responders do). */
  bareNonce?: boolean;
  /** Corrupt the signature. */
  badSignature?: boolean;
}

/** The BIT STRING content of an SPKI's subjectPublicKey. */
export function publicKeyBits(spki: Uint8Array): Uint8Array {
  // SEQ { SEQ alg, BIT STRING } : walk just enough.
  const skip = (p: number): [number, number, number] => {
    let len = spki[p + 1];
    let h = 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + spki[p + 2 + i];
      h += n;
    }
    return [p, p + h, p + h + len];
  };
  const outer = skip(0);
  const alg = skip(outer[1]);
  const bits = skip(alg[2]);
  return spki.subarray(bits[1] + 1, bits[2]);
}

export function buildOcsp(s: OcspSpec): Uint8Array {
  const sha1 = (b: Uint8Array) => new Uint8Array(createHash("sha1").update(b).digest());
  const singles = s.responses.map((r) => {
    const certId = seq(seq(oid("1.3.14.3.2.26"), NULL), octets(sha1(r.issuerName)), octets(sha1(publicKeyBits(r.issuerKey.spki))), integer(r.serial));
    const status =
      r.status === "good"
        ? tlv(0x80)
        : r.status === "unknown"
          ? tlv(0x82)
          : tlv(0xa1, generalizedTime(r.revocationTime!), ...(r.reason !== undefined ? [explicit(0, enumerated(r.reason))] : []));
    return seq(certId, status, generalizedTime(r.thisUpdate), ...(r.nextUpdate !== undefined ? [explicit(0, generalizedTime(r.nextUpdate))] : []));
  });
  const rid = s.responderName ? explicit(1, s.responderName) : tlv(0xa2, octets(sha1(publicKeyBits(s.responderKey!.spki))));
  const exts = s.nonce ? [explicit(1, seq(seq(oid("1.3.6.1.5.5.7.48.1.2"), octets(s.bareNonce ? s.nonce : octets(s.nonce)))))] : [];
  const tbs = seq(rid, generalizedTime(s.producedAt), seq(...singles), ...exts);
  const alg = algorithmFor(s.signer);
  const sig = signWith(s.signer, tbs);
  if (s.badSignature) sig[sig.length - 3] ^= 1;
  const basic = seq(tbs, alg, bitString(sig), ...(s.certs?.length ? [explicit(0, seq(...s.certs))] : []));
  return seq(enumerated(0), explicit(0, seq(oid("1.3.6.1.5.5.7.48.1.1"), octets(basic))));
}

export const KU = {
  digitalSignature: 1,
  nonRepudiation: 2,
  keyEncipherment: 4,
  keyCertSign: 32,
  cRLSign: 64,
} as const;

// ------------------------------------------------------------------ a ready hierarchy

const DAY_MS = 86_400_000;

/**
 * The hierarchy most tests and the validation bench start from: a P-256 root
 * and an issuing CA under it (pathLen 0, keyCertSign and cRLSign), both valid
 * well around `now`, the root's empty CRL, and end-entity specs under the CA
 * (digitalSignature, valid now +-100 days; a new key unless one is given).
 */
export function twoLevelPki(label: string, now: number) {
  const rootKey = newKey("p256");
  const caKey = newKey("p256");
  const rootName = name(["C", "XX"], ["O", label], ["CN", "Root"]);
  const caName = name(["C", "XX"], ["O", label], ["CN", "Issuing CA"]);
  const root = buildCert({ serial: 1, issuer: rootName, subject: rootName, notBefore: now - 900 * DAY_MS, notAfter: now + 900 * DAY_MS, subjectKey: rootKey, issuerKey: rootKey, ca: true, keyUsage: KU.keyCertSign | KU.cRLSign });
  const ca = buildCert({ serial: 2, issuer: rootName, subject: caName, notBefore: now - 800 * DAY_MS, notAfter: now + 800 * DAY_MS, subjectKey: caKey, issuerKey: rootKey, ca: true, pathLen: 0, keyUsage: KU.keyCertSign | KU.cRLSign });
  const rootCrl = buildCrl({ issuer: rootName, issuerKey: rootKey, thisUpdate: now - DAY_MS, nextUpdate: now + 30 * DAY_MS, entries: [] });
  const leafSpec = (serial: bigint | number, subject = name(["C", "XX"], ["CN", `Holder ${serial}`]), subjectKey = newKey("p256")): CertSpec => ({
    serial,
    issuer: caName,
    subject,
    notBefore: now - 100 * DAY_MS,
    notAfter: now + 100 * DAY_MS,
    subjectKey,
    issuerKey: caKey,
    ca: false,
    keyUsage: KU.digitalSignature,
  });
  return { rootKey, caKey, rootName, caName, root, ca, rootCrl, leafSpec };
}
