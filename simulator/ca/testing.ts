import { KeyObject, webcrypto } from "node:crypto";
import { buildCsr, encodeName, encodePem, OID, softwareSigningKey } from "../../pki/index.js";

/**
 * PKCS#10 requests for tests, demos and benchmarks when no emulated card is
 * at hand (the card produces its own in real runs).
 */
export interface CsrOptions {
  keyType?: "ec" | "rsa";
  /** RSA modulus length (tests use 1024 to check the CA refuses it). */
  rsaBits?: number;
  /** The subject's commonName (default "card"). */
  commonName?: string;
  /** Corrupt the signature so that it no longer verifies. */
  badSignature?: boolean;
}

export async function makeCsr(opts: CsrOptions = {}): Promise<{ pem: string; keys: webcrypto.CryptoKeyPair }> {
  const subtle = webcrypto.subtle;
  const rsa = opts.keyType === "rsa";
  const alg = rsa
    ? { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256", publicExponent: new Uint8Array([1, 0, 1]), modulusLength: opts.rsaBits ?? 2048 }
    : { name: "ECDSA", namedCurve: "P-256" };
  const keys = (await subtle.generateKey(alg, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const key = softwareSigningKey(KeyObject.from(keys.privateKey), KeyObject.from(keys.publicKey));
  let der = buildCsr(encodeName([[OID.commonName, opts.commonName ?? "card"]]), key);
  if (opts.badSignature) {
    der = der.slice();
    // The signature's last octet: still well-formed DER, no longer a valid signature.
    der[der.length - 1] ^= 0x01;
  }
  return { pem: encodePem(der, "CERTIFICATE REQUEST"), keys };
}

export { proveRenewal } from "./renewal-proof.js";
