import { X509Certificate } from "node:crypto";
import * as asn1js from "asn1js";
import { toHex } from "../../core/index.js";
import type { Reader } from "../reader/reader.js";
import type { KeyAlgorithm } from "./algorithms.js";
import { PivClient, PivError } from "./piv-client.js";
import { TerminalRefusal } from "./refusal.js";

/** Powers the card and selects the PIV application: the start of every terminal session. */
export async function openSession(reader: Reader): Promise<PivClient> {
  try {
    await reader.connect();
  } catch (err) {
    throw new TerminalRefusal("card-absent", `no card in ${reader.name}: ${(err as Error).message}`);
  }
  const client = new PivClient(reader);
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
  x509: X509Certificate;
  /** Lower-case hex of the DER INTEGER's content, as the CA seam spells serials. */
  serial: string;
  notAfter: Date;
  alg: KeyAlgorithm;
}

export async function readCertificate(client: PivClient, slot: number): Promise<CardCertificate | undefined> {
  const der = await client.readCertificate(slot);
  return der && der.length > 0 ? describeCertificate(der) : undefined;
}

export function describeCertificate(der: Uint8Array): CardCertificate {
  const x509 = new X509Certificate(der);
  return { der, x509, serial: serialOf(der), notAfter: new Date(x509.validTo), alg: keyAlgorithmOf(x509) };
}

/** The serial as DER encodes it (sign byte kept), lower-case hex. */
export function serialOf(der: Uint8Array): string {
  const parsed = asn1js.fromBER(der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength) as ArrayBuffer);
  const tbs = (parsed.result as asn1js.Sequence).valueBlock.value[0] as asn1js.Sequence;
  const first = tbs.valueBlock.value[0];
  const serial = (first.idBlock.tagClass === 3 ? tbs.valueBlock.value[1] : first) as asn1js.Integer;
  return toHex(serial.valueBlock.valueHexView).toLowerCase();
}

export function keyAlgorithmOf(cert: X509Certificate): KeyAlgorithm {
  const details = cert.publicKey.asymmetricKeyDetails;
  if (cert.publicKey.asymmetricKeyType === "rsa") return "rsa2048";
  return details?.namedCurve === "secp384r1" ? "p384" : "p256";
}
