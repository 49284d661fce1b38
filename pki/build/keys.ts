import { createHash, createPublicKey, sign as nodeSign, type KeyObject } from "node:crypto";
import { DerReader, Tag, decodeBitString, readOne, valueOf } from "../der.js";
import { DerWriter } from "../der-writer.js";
import { OID } from "../oids.js";

/**
 * What the builders need of a signing key, wherever it lives (a node KeyObject,
 * a PKCS#11 token, a card): synchronous, because node's sign and pkcs11js are,
 * and the CRL/OCSP hot paths stay free of promise overhead.
 */
export interface SigningKey {
  /** SubjectPublicKeyInfo, DER. */
  readonly spki: Uint8Array;
  /** AlgorithmIdentifier of the signatures this key makes, DER. */
  readonly algorithm: Uint8Array;
  /** The signature over `data` in X.509 form (DER ECDSA-Sig-Value or PKCS#1 v1.5). */
  sign(data: Uint8Array): Uint8Array;
}

/** AlgorithmIdentifier DER: the OID, then NULL parameters when asked (RSA), else none (ECDSA). */
export function algorithmIdentifier(oid: string, nullParams: boolean): Uint8Array {
  const w = new DerWriter(32).begin(Tag.Sequence).oid(oid);
  if (nullParams) w.null();
  return new Uint8Array(w.end().finish());
}

/** The AlgorithmIdentifier of SHA-256 signatures by an EC or RSA key. */
export function signatureAlgorithm(keyType: "ec" | "rsa"): Uint8Array {
  return keyType === "ec" ? algorithmIdentifier(OID.ecdsaWithSha256, false) : algorithmIdentifier(OID.sha256WithRsa, true);
}

/** Raw r||s (PKCS#11 CKM_ECDSA output) to the DER ECDSA-Sig-Value X.509 wants. */
export function rawEcdsaToDer(raw: Uint8Array): Uint8Array {
  if (raw.length === 0 || raw.length % 2 !== 0) throw new RangeError(`bad raw ECDSA signature length ${raw.length}`);
  const half = raw.length / 2;
  const w = new DerWriter(raw.length + 16).begin(Tag.Sequence);
  w.integer(raw.subarray(0, half)).integer(raw.subarray(half));
  return new Uint8Array(w.end().finish());
}

/** SubjectPublicKeyInfo of a P-256 key from its uncompressed point (04 || x || y). */
export function p256Spki(point: Uint8Array): Uint8Array {
  const w = new DerWriter(128).begin(Tag.Sequence);
  w.begin(Tag.Sequence).oid(OID.ecPublicKey).oid(OID.prime256v1).end();
  w.bitString(point);
  return new Uint8Array(w.end().finish());
}

/** PKCS#11 CKA_EC_PARAMS for a P-256 key: the DER of its namedCurve OID. */
export function p256EcParams(): Uint8Array {
  return new Uint8Array(new DerWriter(16).oid(OID.prime256v1).finish());
}

/**
 * SubjectPublicKeyInfo of a P-256 key from a PKCS#11 token's CKA_EC_POINT:
 * the DER OCTET STRING around the uncompressed point (SoftHSM), or the bare
 * 65-octet point that some tokens give.
 */
export function p256SpkiFromEcPoint(ecPoint: Uint8Array): Uint8Array {
  const point = ecPoint.length === 65 && ecPoint[0] === 0x04 ? ecPoint : valueOf(ecPoint, readOne(ecPoint, Tag.OctetString, "CKA_EC_POINT"));
  return p256Spki(point);
}

/** The subjectPublicKey BIT STRING content of an SPKI (without the unused-bits octet). */
export function subjectPublicKeyBits(spki: Uint8Array): Uint8Array {
  const r = DerReader.of(spki, readOne(spki, Tag.Sequence, "SubjectPublicKeyInfo"));
  r.expect(Tag.Sequence, "SubjectPublicKeyInfo.algorithm");
  const bits = decodeBitString(spki, r.expect(Tag.BitString, "subjectPublicKey")).bytes;
  r.done("SubjectPublicKeyInfo");
  return bits;
}

/** RFC 5280 method 1 key identifier: SHA-1 of the subjectPublicKey bits. */
export function keyIdentifier(spki: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha1").update(subjectPublicKeyBits(spki)).digest());
}

/** A SigningKey over a node private key (EC or RSA), SHA-256 signatures: for software keys (tests, fixtures, the CA's files). */
export function softwareSigningKey(privateKey: KeyObject, publicKey: KeyObject = createPublicKey(privateKey)): SigningKey & { keyType: "ec" | "rsa" } {
  const keyType = privateKey.asymmetricKeyType;
  if (keyType !== "ec" && keyType !== "rsa") throw new RangeError(`unsupported signing key type ${keyType}`);
  return {
    keyType,
    spki: new Uint8Array(publicKey.export({ format: "der", type: "spki" })),
    algorithm: signatureAlgorithm(keyType),
    sign: (data) => new Uint8Array(nodeSign("sha256", data, privateKey)),
  };
}
