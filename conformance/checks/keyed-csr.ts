import "reflect-metadata";
import { KeyObject, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { toHex, type Csr } from "../pkix.js";

/**
 * A P-256 key and a request signed by it, keeping the private key (in this
 * process only, never in evidence): a certificate that certify will renew
 * needs its old key to prove the renewal. pkix.makeCsr drops its key.
 */
export async function keyedCsr(commonName: string): Promise<Csr & { key: KeyObject }> {
  const keys = (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${commonName.replace(/[,+="\\<>;#]/g, " ")}`,
    keys: keys as unknown as Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>[0]["keys"],
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
  });
  const spki = await webcrypto.subtle.exportKey("spki", keys.publicKey);
  return { pem: csr.toString("pem"), spkiHex: toHex(spki), key: KeyObject.from(keys.privateKey) };
}
