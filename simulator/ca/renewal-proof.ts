import { KeyObject, sign, verify, type webcrypto } from "node:crypto";
import { Certificate, publicKeyOf } from "../../pki/index.js";
import { renewalStatement, type CaAdapter, type RenewRequest } from "./api.js";

/**
 * Renewal authorisation by proof of possession: the old certificate's key
 * signs `renewalStatement(serial, challenge)`. SHA-256 whatever the key, then
 * ECDSA with a DER signature or RSA PKCS#1 v1.5: what a PIV card makes from a
 * digest, and what node's sign/verify do by default for those key types.
 */

/** True when `proof` is the old certificate's key's signature over the statement. */
export function proofVerifies(oldCertificateDer: Uint8Array, serial: string, challenge: string, proof: Uint8Array): boolean {
  try {
    const key = publicKeyOf(new Certificate(oldCertificateDer).spki).key;
    if (!key) return false; // a key node cannot load verifies nothing
    return verify("sha256", renewalStatement(serial, challenge), key, proof);
  } catch {
    // a signature that is not even well-formed for this key type proves nothing
    return false;
  }
}

/** The proof made with a software key (tests, certify's fixtures); a card makes it with its slot's key. */
export function signRenewal(oldPrivateKey: KeyObject, serial: string, challenge: string): Uint8Array {
  return new Uint8Array(sign("sha256", renewalStatement(serial, challenge), oldPrivateKey));
}

/**
 * What a card does at the renewal kiosk, with a software key: fetch the CA's
 * challenge for `serial` and sign it with the old certificate's private key.
 */
export async function proveRenewal(ca: CaAdapter, serial: string, oldKey: webcrypto.CryptoKey | KeyObject): Promise<Pick<RenewRequest, "challenge" | "proof">> {
  if (!ca.renewalChallenge) throw new Error(`${ca.name} hands out no renewal challenges`);
  const ch = await ca.renewalChallenge(serial);
  const key = oldKey instanceof KeyObject ? oldKey : KeyObject.from(oldKey);
  return { challenge: ch.challenge, proof: signRenewal(key, ch.serial, ch.challenge) };
}
