import { buildOcspRequest as buildPkiOcspRequest, Certificate } from "../../pki/index.js";

/**
 * An OCSPRequest (RFC 6960 4.1.1) for one certificate, CertID over SHA-1 as
 * responders expect, with a nonce extension so a replayed answer is caught
 * (pki's one request builder; the serial is sent as the leaf carries it).
 */
export function buildOcspRequest(leafDer: Uint8Array, issuerDer: Uint8Array, nonce: Uint8Array): Uint8Array {
  const leaf = new Certificate(leafDer);
  const issuer = new Certificate(issuerDer);
  return buildPkiOcspRequest({ name: issuer.subjectDer, spki: issuer.spki }, [leaf.serial], nonce);
}
