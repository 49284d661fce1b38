import { type KeyObject, constants, createPublicKey, verify as cryptoVerify } from "node:crypto";
import type { AlgorithmId } from "./signed-envelope.js";
import { DerReader, Tag, ctx, decodeOid, decodeSmallInt, latin1Of, readOne } from "./der.js";

/**
 * All signature checking happens here (webpki's signed_data.rs): one place that maps
 * an AlgorithmIdentifier + a public key to node:crypto, with two caches:
 *  - SPKI bytes -> KeyObject (createPublicKey is as dear as a verify),
 *  - (signed object, key) -> result, so a certificate or CRL already verified under a
 *    key is never verified again.
 */

export type VerifyResult = "ok" | "bad" | "unsupported";

export interface PublicKey {
  /** Small integer identity, for cache keys. */
  id: number;
  key?: KeyObject;
  /** asymmetricKeyType of the key, or "unsupported". */
  type: string;
  /** The SPKI this key came from (DSA parameter inheritance needs the original). */
  spki: Uint8Array;
  /** For DSA keys whose SPKI omits the domain parameters (RFC 5280 6.1.4 (f)). */
  needsParams?: boolean;
  /** For EC keys: the curve is one we accept (read once: asymmetricKeyDetails is a costly getter). */
  curveOk?: boolean;
}

const DSA_OID = "1.2.840.10040.4.1";
const MAX_KEYS = 4096;
let nextKeyId = 1;
const keysBySpki = new Map<string, PublicKey>();
const keysByArray = new WeakMap<Uint8Array, PublicKey>();

/** The key in a SubjectPublicKeyInfo, cached by the SPKI array identity and by its bytes. */
export function publicKeyOf(spki: Uint8Array, spkiAlgorithm?: AlgorithmId): PublicKey {
  const hit = keysByArray.get(spki);
  if (hit) return hit;
  const k = latin1Of(spki);
  let pk = keysBySpki.get(k);
  if (!pk) {
    if (keysBySpki.size >= MAX_KEYS) keysBySpki.clear();
    pk = loadKey(spki, spkiAlgorithm);
    keysBySpki.set(k, pk);
  }
  keysByArray.set(spki, pk);
  return pk;
}

function loadKey(spki: Uint8Array, alg?: AlgorithmId): PublicKey {
  const id = nextKeyId++;
  if (alg && alg.oid === DSA_OID && (!alg.params || (alg.params.length === 2 && alg.params[0] === Tag.Null))) {
    return { id, type: "dsa", spki, needsParams: true };
  }
  try {
    const key = createPublicKey({ key: Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength), format: "der", type: "spki" });
    const type = key.asymmetricKeyType ?? "unsupported";
    return { id, key, type, spki, curveOk: type === "ec" && EC_CURVES.has(key.asymmetricKeyDetails?.namedCurve ?? "") };
  } catch {
    return { id, type: "unsupported", spki };
  }
}

/** A DSA key whose SPKI lacks parameters, completed with the issuer's (PKITS 4.1.5). */
export function inheritDsaParams(child: PublicKey, childBits: Uint8Array, issuerAlg: AlgorithmId): PublicKey {
  if (!child.needsParams || !issuerAlg.params || issuerAlg.oid !== DSA_OID) return child;
  const spki = seq(seq(oidDsa, issuerAlg.params), tlv(Tag.BitString, new Uint8Array([0]), childBits));
  return publicKeyOf(spki);
}

const oidDsa = new Uint8Array([0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01]);
function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const len = parts.reduce((n, p) => n + p.length, 0);
  const head = len < 0x80 ? [tag, len] : len < 0x100 ? [tag, 0x81, len] : len < 0x10000 ? [tag, 0x82, len >> 8, len & 0xff] : [tag, 0x83, len >> 16, (len >> 8) & 0xff, len & 0xff];
  const out = new Uint8Array(head.length + len);
  out.set(head, 0);
  let o = head.length;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
const seq = (...parts: Uint8Array[]): Uint8Array => tlv(Tag.Sequence, ...parts);

const HASHES: Record<string, string> = {
  "1.3.14.3.2.26": "sha1",
  "2.16.840.1.101.3.4.2.4": "sha224",
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
};

interface Scheme {
  keyTypes: string[];
  hash: string | null;
  /** PKCS#1 v1.5 RSA algorithms carry NULL or absent parameters; others none at all. */
  nullParamsOk: boolean;
}

const SCHEMES: Record<string, Scheme> = {
  "1.2.840.113549.1.1.5": { keyTypes: ["rsa"], hash: "sha1", nullParamsOk: true },
  "1.2.840.113549.1.1.14": { keyTypes: ["rsa"], hash: "sha224", nullParamsOk: true },
  "1.2.840.113549.1.1.11": { keyTypes: ["rsa"], hash: "sha256", nullParamsOk: true },
  "1.2.840.113549.1.1.12": { keyTypes: ["rsa"], hash: "sha384", nullParamsOk: true },
  "1.2.840.113549.1.1.13": { keyTypes: ["rsa"], hash: "sha512", nullParamsOk: true },
  "1.2.840.10045.4.1": { keyTypes: ["ec"], hash: "sha1", nullParamsOk: false },
  "1.2.840.10045.4.3.1": { keyTypes: ["ec"], hash: "sha224", nullParamsOk: false },
  "1.2.840.10045.4.3.2": { keyTypes: ["ec"], hash: "sha256", nullParamsOk: false },
  "1.2.840.10045.4.3.3": { keyTypes: ["ec"], hash: "sha384", nullParamsOk: false },
  "1.2.840.10045.4.3.4": { keyTypes: ["ec"], hash: "sha512", nullParamsOk: false },
  "1.3.101.112": { keyTypes: ["ed25519"], hash: null, nullParamsOk: false },
  "1.3.101.113": { keyTypes: ["ed448"], hash: null, nullParamsOk: false },
  "1.2.840.10040.4.3": { keyTypes: ["dsa"], hash: "sha1", nullParamsOk: true },
  "2.16.840.1.101.3.4.3.1": { keyTypes: ["dsa"], hash: "sha224", nullParamsOk: false },
  "2.16.840.1.101.3.4.3.2": { keyTypes: ["dsa"], hash: "sha256", nullParamsOk: false },
};
const RSA_PSS = "1.2.840.113549.1.1.10";
const EC_CURVES = new Set(["prime256v1", "secp384r1", "secp521r1"]);

/** Verifies `sig` over `data` under `pk` with the algorithm `alg`. Never throws. */
export function verifySignature(pk: PublicKey, alg: AlgorithmId, data: Uint8Array, sig: Uint8Array): VerifyResult {
  if (!pk.key) return "unsupported";
  try {
    if (alg.oid === RSA_PSS) return verifyPss(pk, alg, data, sig);
    const s = SCHEMES[alg.oid];
    if (!s) return "unsupported";
    if (alg.params && !(s.nullParamsOk && isNull(alg.params))) return "bad";
    if (!s.keyTypes.includes(pk.type)) return "bad";
    if (pk.type === "ec" && !pk.curveOk) return "unsupported";
    return cryptoVerify(s.hash, data, pk.key, sig) ? "ok" : "bad";
  } catch {
    return "bad";
  }
}

const isNull = (p: Uint8Array): boolean => p.length === 2 && p[0] === Tag.Null && p[1] === 0;

function verifyPss(pk: PublicKey, alg: AlgorithmId, data: Uint8Array, sig: Uint8Array): VerifyResult {
  if (pk.type !== "rsa" && pk.type !== "rsa-pss") return "bad";
  // RSASSA-PSS-params (RFC 4055): every field has a SHA-1 default.
  let hash = "sha1";
  let mgfHash = "sha1";
  let saltLength = 20;
  if (alg.params) {
    const r = DerReader.of(alg.params, readOne(alg.params, Tag.Sequence, "RSASSA-PSS-params"));
    const h = r.optional(ctx(0));
    if (h) hash = hashOfAlgId(alg.params, DerReader.of(alg.params, h)) ?? "";
    const m = r.optional(ctx(1));
    if (m) {
      const mr = DerReader.of(alg.params, m).enter(Tag.Sequence, "maskGenAlgorithm");
      if (decodeOid(alg.params, mr.read()) !== "1.2.840.113549.1.1.8") return "unsupported";
      mgfHash = hashOfAlgId(alg.params, mr) ?? "";
    }
    const s = r.optional(ctx(2));
    if (s) saltLength = decodeSmallInt(alg.params, DerReader.of(alg.params, s).expect(Tag.Integer, "saltLength"));
    const t = r.optional(ctx(3));
    if (t && decodeSmallInt(alg.params, DerReader.of(alg.params, t).expect(Tag.Integer, "trailerField")) !== 1) return "unsupported";
  }
  if (!hash || hash !== mgfHash) return "unsupported"; // node:crypto uses the message hash for MGF1
  const ok = cryptoVerify(hash, data, { key: pk.key!, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }, sig);
  return ok ? "ok" : "bad";
}

function hashOfAlgId(buf: Uint8Array, r: DerReader): string | undefined {
  const a = r.enter(Tag.Sequence, "hashAlgorithm");
  return HASHES[decodeOid(buf, a.read())];
}

/**
 * Anything signed that can remember its last verification: parsed certificates,
 * CRLs and OCSP responses carry these two fields, so the common case (one issuer
 * key per object) is a field compare instead of a WeakMap and a Map.
 */
export interface SignedObject {
  verifiedKeyId: number;
  verifiedResult: VerifyResult | undefined;
}

/** Further keys tried on the same object (path building with several candidate issuers). */
const moreResults = new WeakMap<object, Map<number, VerifyResult>>();

/**
 * Process-wide tallies of verifyCached: signatures actually checked, and answers
 * taken from the cache. Plain integer increments (this is the hot path); the
 * Validator turns them into its own stats by difference around each validation
 * (validation is synchronous, so nothing else runs in between).
 */
export const signatureCounters = { verifications: 0, cacheHits: 0 };

/** verifySignature, remembered against the identity of `signed` (a parsed cert/CRL/response) and the key. */
export function verifyCached(signed: SignedObject, pk: PublicKey, alg: AlgorithmId, data: Uint8Array, sig: Uint8Array): VerifyResult {
  if (signed.verifiedKeyId === pk.id) {
    signatureCounters.cacheHits++;
    return signed.verifiedResult!;
  }
  const m = moreResults.get(signed);
  const hit = m?.get(pk.id);
  if (hit) {
    signatureCounters.cacheHits++;
    return hit;
  }
  signatureCounters.verifications++;
  const r = verifySignature(pk, alg, data, sig);
  if (signed.verifiedKeyId === 0) {
    signed.verifiedKeyId = pk.id;
    signed.verifiedResult = r;
  } else if (m) m.set(pk.id, r);
  else moreResults.set(signed, new Map([[pk.id, r]]));
  return r;
}

/**
 * The result verifyCached would take from its cache for (`signed`, `pk`), without counting it;
 * undefined when a real verification would be made. Budgets charge only those.
 */
export function cachedVerification(signed: SignedObject, pk: PublicKey): VerifyResult | undefined {
  if (signed.verifiedKeyId === pk.id) return signed.verifiedResult;
  return moreResults.get(signed)?.get(pk.id);
}
