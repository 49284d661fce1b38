import { createHash, type KeyObject } from "node:crypto";
import { softwareSigningKey, type SigningKey } from "../../pki/index.js";

/**
 * One signing key of the CA, wherever it lives (a node KeyObject or a PKCS#11
 * token): pki's SigningKey plus the key type. Synchronous on purpose: node's
 * sign and pkcs11js are synchronous, and the CRL/OCSP hot paths stay free of
 * promise overhead.
 */
export interface Signer extends SigningKey {
  readonly keyType: "ec" | "rsa";
}

/** A key held in a PKCS#8 file or in memory: SHA-256, DER ECDSA-Sig-Value or PKCS#1 v1.5. */
export class KeyObjectSigner implements Signer {
  readonly keyType: "ec" | "rsa";
  readonly spki: Uint8Array;
  readonly algorithm: Uint8Array;
  readonly sign: (data: Uint8Array) => Uint8Array;
  constructor(privateKey: KeyObject) {
    const k = softwareSigningKey(privateKey);
    this.keyType = k.keyType;
    this.spki = k.spki;
    this.algorithm = k.algorithm;
    this.sign = k.sign;
  }
}

export function sha256(data: Uint8Array): Buffer {
  return createHash("sha256").update(data).digest();
}
