import { createHash, createPublicKey, sign as nodeSign, type KeyObject } from "node:crypto";
import { DerWriter } from "../../pki/der-writer.js";
import { OID } from "./oids.js";

/**
 * One signing key of the CA, wherever it lives (a node KeyObject or a PKCS#11
 * token). Synchronous on purpose: node's sign and pkcs11js are synchronous,
 * and the CRL/OCSP hot paths stay free of promise overhead.
 */
export interface Signer {
  readonly keyType: "ec" | "rsa";
  /** SubjectPublicKeyInfo, DER. */
  readonly spki: Uint8Array;
  /** AlgorithmIdentifier of the signatures this signer makes, DER. */
  readonly algorithm: Uint8Array;
  /** Signs `data` (hashing it with SHA-256); the signature in X.509 form (DER ECDSA-Sig-Value or PKCS#1 v1.5). */
  sign(data: Uint8Array): Uint8Array;
}

export function signatureAlgorithm(keyType: "ec" | "rsa"): Uint8Array {
  const w = new DerWriter(32).begin(0x30);
  if (keyType === "ec") w.oid(OID.ecdsaWithSha256);
  else w.oid(OID.sha256WithRsa).null();
  return new Uint8Array(w.end().finish());
}

export class KeyObjectSigner implements Signer {
  readonly keyType: "ec" | "rsa";
  readonly spki: Uint8Array;
  readonly algorithm: Uint8Array;
  constructor(private readonly privateKey: KeyObject) {
    const t = privateKey.asymmetricKeyType;
    if (t !== "ec" && t !== "rsa") throw new Error(`unsupported CA key type ${t}`);
    this.keyType = t;
    this.spki = new Uint8Array(createPublicKey(privateKey).export({ format: "der", type: "spki" }));
    this.algorithm = signatureAlgorithm(t);
  }
  sign(data: Uint8Array): Uint8Array {
    return new Uint8Array(nodeSign("sha256", data, this.privateKey));
  }
}

export function sha256(data: Uint8Array): Buffer {
  return createHash("sha256").update(data).digest();
}

/** Raw r||s (PKCS#11 CKM_ECDSA output) to the DER ECDSA-Sig-Value X.509 wants. */
export function rawEcdsaToDer(raw: Uint8Array): Uint8Array {
  if (raw.length === 0 || raw.length % 2 !== 0) throw new Error(`bad raw ECDSA signature length ${raw.length}`);
  const half = raw.length / 2;
  const w = new DerWriter(raw.length + 16).begin(0x30);
  w.integer(raw.subarray(0, half)).integer(raw.subarray(half));
  return new Uint8Array(w.end().finish());
}
