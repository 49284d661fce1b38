import "reflect-metadata";
import { webcrypto } from "node:crypto";
import { Pkcs10CertificateRequestGenerator } from "@peculiar/x509";

/**
 * PKCS#10 requests for tests, demos and benchmarks when no emulated card is
 * at hand (the card produces its own in real runs).
 */
export interface CsrOptions {
  keyType?: "ec" | "rsa";
  /** RSA modulus length (tests use 1024 to check the CA refuses it). */
  rsaBits?: number;
  subject?: string;
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
  const csr = await Pkcs10CertificateRequestGenerator.create({
    name: opts.subject ?? "CN=card",
    keys: keys as never,
    signingAlgorithm: rsa ? { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } : { name: "ECDSA", hash: "SHA-256" },
  });
  let der = new Uint8Array(csr.rawData);
  if (opts.badSignature) {
    der = der.slice();
    // The signature's last octet: still well-formed DER, no longer a valid signature.
    der[der.length - 1] ^= 0x01;
  }
  const b64 = Buffer.from(der).toString("base64").replace(/(.{64})/g, "$1\n").replace(/\n$/, "");
  return { pem: `-----BEGIN CERTIFICATE REQUEST-----\n${b64}\n-----END CERTIFICATE REQUEST-----\n`, keys };
}

export { proveRenewal } from "./renewal-proof.js";
