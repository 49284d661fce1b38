import type { KeyObject } from "node:crypto";
import type { Random } from "../../core/index.js";
import { Certificate, DecodeError, publicKeyOf } from "../../pki/index.js";
import type { Reader } from "../reader/index.js";
import type { KeyAlgorithm } from "./algorithms.js";
import { PivClient, PivError } from "./piv-client.js";
import { TerminalRefusal } from "./refusal.js";

/**
 * Powers the card and selects the PIV application: the start of every
 * terminal session. `random`: the terminal's stream for host challenges
 * (default: the platform CSPRNG).
 */
export async function openSession(reader: Reader, random?: Random): Promise<PivClient> {
  try {
    await reader.connect();
  } catch (err) {
    throw new TerminalRefusal("card-absent", `no card in ${reader.name}: ${(err as Error).message}`);
  }
  const client = new PivClient(reader, random);
  await client.select();
  return client;
}

export async function closeSession(reader: Reader): Promise<void> {
  await reader.disconnect().catch(() => undefined);
}

/** VERIFY PIN; a card's refusal becomes a TerminalRefusal with the retries left. */
export async function verifyPin(client: PivClient, pin: string): Promise<void> {
  try {
    await client.verifyPin(pin);
  } catch (err) {
    throw pinRefusal(err, "PIN");
  }
}

/** Maps the card's status word to a refusal: 63Cx wrong (x tries left), 6983 blocked. */
export function pinRefusal(err: unknown, what: "PIN" | "PUK"): unknown {
  if (!(err instanceof PivError)) return err;
  const kind = what === "PIN" ? "pin" : "puk";
  const retries = err.retriesLeft ?? ((err.sw & 0xfff0) === 0x63c0 ? err.sw & 0x0f : undefined);
  if (err.sw === 0x6983 || retries === 0) return new TerminalRefusal(`${kind}-blocked`, `${what} blocked`, { retries: 0 });
  if ((err.sw & 0xfff0) === 0x63c0 || retries !== undefined) {
    return new TerminalRefusal(`wrong-${kind}`, `wrong ${what} (${retries} tries left)`, { retries });
  }
  return err;
}

export interface CardCertificate {
  der: Uint8Array;
  /** pki's view of the certificate (subject, validity, extensions). */
  certificate: Certificate;
  /** The subject public key, loaded by pki (once per SPKI). */
  publicKey: KeyObject;
  /** Lower-case hex of the DER INTEGER's content, as the CA seam spells serials. */
  serial: string;
  notAfter: Date;
  alg: KeyAlgorithm;
}

export async function readCertificate(client: PivClient, slot: number): Promise<CardCertificate | undefined> {
  const der = await client.readCertificate(slot);
  return der && der.length > 0 ? describeCertificate(der) : undefined;
}

/** Reads a certificate with pki; DecodeError when it is not one or its key cannot be loaded. */
export function describeCertificate(der: Uint8Array): CardCertificate {
  const certificate = new Certificate(der);
  const publicKey = publicKeyOf(certificate.spki).key;
  if (!publicKey) throw new DecodeError("certificate: unsupported subject public key");
  return { der, certificate, publicKey, serial: certificate.serial, notAfter: new Date(certificate.notAfter), alg: keyAlgorithmOf(publicKey) };
}

function keyAlgorithmOf(key: KeyObject): KeyAlgorithm {
  if (key.asymmetricKeyType === "rsa") return "rsa2048";
  return key.asymmetricKeyDetails?.namedCurve === "secp384r1" ? "p384" : "p256";
}
