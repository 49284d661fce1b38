import { createHash, type KeyObject } from "node:crypto";
import { algorithmIdentifier, assembleCsr, checkMailbox, csrInfo, encodeName, encodePem, isPrintableString, OID, type NameAttr } from "../../pki/index.js";
import type { KeyAlgorithm } from "./algorithms.js";

/** What the terminal needs from the card to sign a request: the card keeps the key. */
export interface CardSigner {
  signDigest(slot: number, alg: KeyAlgorithm, digest: Uint8Array): Promise<Uint8Array>;
}

export interface CsrSubject {
  commonName: string;
  email?: string;
  organisation?: string;
  /** The holder's identifier (X.520 serialNumber attribute). */
  serialNumber?: string;
}

/** Digest and signature algorithm used for a key: P-384 pairs with SHA-384 (SP 800-78-4). */
export function signatureScheme(alg: KeyAlgorithm): { hash: "sha256" | "sha384"; oid: string; nullParams: boolean } {
  switch (alg) {
    case "p384":
      return { hash: "sha384", oid: OID.ecdsaWithSha384, nullParams: false };
    case "rsa2048":
      return { hash: "sha256", oid: OID.sha256WithRsa, nullParams: true };
    default:
      return { hash: "sha256", oid: OID.ecdsaWithSha256, nullParams: false };
  }
}

/**
 * Builds a PKCS#10 CertificationRequest (RFC 2986) whose signature the card
 * makes: the CertificationRequestInfo is hashed here and only the digest goes
 * to the card (GENERAL AUTHENTICATE), so the private key never leaves it.
 */
export async function buildCsr(
  card: CardSigner,
  slot: number,
  alg: KeyAlgorithm,
  publicKey: KeyObject,
  subject: CsrSubject,
): Promise<{ der: Uint8Array; pem: string }> {
  const scheme = signatureScheme(alg);
  const spki = new Uint8Array(publicKey.export({ type: "spki", format: "der" }));
  const info = csrInfo(subjectName(subject), spki);
  const digest = new Uint8Array(createHash(scheme.hash).update(info).digest());
  const signature = await card.signDigest(slot, alg, digest);
  const der = assembleCsr(info, algorithmIdentifier(scheme.oid, scheme.nullParams), signature);
  return { der, pem: encodePem(der, "CERTIFICATE REQUEST") };
}

function subjectName(s: CsrSubject): Uint8Array {
  const rdns: NameAttr[] = [];
  if (s.organisation) rdns.push([OID.organization, s.organisation, "utf8"]);
  rdns.push([OID.commonName, s.commonName, "utf8"]);
  // X.520 serialNumber is a PrintableString: omitted when the id does not fit that alphabet.
  if (s.serialNumber && isPrintableString(s.serialNumber)) rdns.push([OID.serialNumber, s.serialNumber, "printable"]);
  if (s.email) {
    // emailAddress is an IA5String: pki's mailbox rules give the ASCII form (an IDN domain in A-labels) when the local
    // part is ASCII. A non-ASCII local part cannot be written there (RFC 9598 puts it in the SAN, which the CA writes
    // from the registration), so the request leaves it out rather than mangle it. A malformed mailbox is a NameError.
    const m = checkMailbox(s.email);
    if (m.form === "rfc822") rdns.push([OID.emailAddress, m.address, "ia5"]);
  }
  return encodeName(rdns);
}
