import { constants, createPublicKey, publicEncrypt } from "node:crypto";
import { p256, p384 } from "@noble/curves/nist.js";
import { bytesEqual, decodeTlvs, findTlv, readTlv, tryDecodeCommand, type Tlv } from "../../core/index.js";
import { Certificate } from "../../pki/index.js";
import { dataObjectTag, diffAnswers, type TlvDifference } from "./decode.js";
import { certificateInObject, slotOfCertificateObject } from "./piv-objects.js";

/**
 * Whether a replayed answer is the recorded one. Byte for byte, except the
 * answers a card may not repeat: a signature, a management-key witness or
 * challenge, a generated key, GET CHALLENGE's random. Those are compared by
 * structure and length, and a signature must verify with the certificate the
 * trace read for that key (GET DATA of the key's certificate object), over
 * what the command sent: a card that now holds another key diverges even when
 * its signature is well formed.
 */

export type Verdict = "same" | "equivalent" | "diverged";

export interface Comparison {
  verdict: Verdict;
  /** Why it diverged (or how it was found equivalent), one line. */
  reason?: string;
  /** Where the data differ, for a byte-for-byte divergence. */
  difference?: TlvDifference;
}

export interface Answer {
  response: Uint8Array;
  sw: number;
}

const EC_CURVES: Record<number, { curve: typeof p256; size: number; name: string }> = {
  0x11: { curve: p256, size: 32, name: "P-256" },
  0x14: { curve: p384, size: 48, name: "P-384" },
};
const RSA_BYTES: Record<number, number> = { 0x06: 128, 0x07: 256, 0x05: 384, 0x16: 512 };

/**
 * The certificates a trace read, by key reference: taken in as the replay
 * goes (from the recorded answers), so a signature later in the trace is
 * checked against what the trace showed for its key.
 */
export class CertificateBook {
  private readonly bySlot = new Map<number, Certificate>();

  /** Takes in a GET DATA of a certificate object (9A/9C/9D/9E) and its answer; anything else is ignored. */
  note(command: Uint8Array, answer: Answer): void {
    if (answer.sw !== 0x9000) return;
    const tag = dataObjectTag(command);
    const slot = tag === undefined ? undefined : slotOfCertificateObject(tag);
    if (slot === undefined || command[1] !== 0xcb) return;
    const der = certificateInObject(answer.response);
    if (der === undefined) return;
    try {
      this.bySlot.set(slot, new Certificate(der));
    } catch {
      // not a certificate pki can read: the signature is then checked for structure only
    }
  }

  get(slot: number): Certificate | undefined {
    return this.bySlot.get(slot);
  }
}

/** Compares the replayed answer with the recorded one for `command` (the logical command as recorded). */
export function compareExchange(command: Uint8Array, recorded: Answer, replayed: Answer, book?: CertificateBook): Comparison {
  if (recorded.sw !== replayed.sw) return { verdict: "diverged", reason: "the status word differs" };
  if (bytesEqual(recorded.response, replayed.response)) return { verdict: "same" };
  const kind = volatileKind(command);
  if (kind === undefined) return { verdict: "diverged", reason: "the answer differs", difference: diffAnswers(recorded.response, replayed.response) };
  const cmd = tryDecodeCommand(command)!;
  switch (kind) {
    case "challenge":
      return recorded.response.length === replayed.response.length
        ? { verdict: "equivalent", reason: `random answer of ${replayed.response.length} bytes` }
        : { verdict: "diverged", reason: `random answer of ${replayed.response.length} bytes, recorded ${recorded.response.length}` };
    case "generate":
      return compareTemplate(0x7f49, recorded.response, replayed.response, "generated public key");
    case "signature":
      return compareSignature(cmd.p1, cmd.p2, cmd.data, recorded.response, replayed.response, book);
    case "authentication":
      return compareTemplate(0x7c, recorded.response, replayed.response, "authentication answer");
  }
}

type VolatileKind = "challenge" | "generate" | "signature" | "authentication";

/** Which answers a card may not repeat, by the command that asked for them. */
export function volatileKind(command: Uint8Array): VolatileKind | undefined {
  const cmd = tryDecodeCommand(command);
  if (cmd === undefined) return undefined;
  if (cmd.ins === 0x84) return "challenge";
  if (cmd.ins === 0x47) return "generate";
  if (cmd.ins !== 0x87) return undefined;
  const items = templateItems(cmd.data);
  // A masked management-key step may have lost its template: its answer is still a 7C of proofs.
  if (items === undefined) return cmd.p2 === 0x9b ? "authentication" : undefined;
  if (cmd.p2 === 0x9b) return "authentication";
  const challenge = findTlv(items, 0x81);
  const response = findTlv(items, 0x82);
  // 7C{82 00, 85 point} is key agreement: the same key and point give the same secret, byte for byte.
  if (findTlv(items, 0x85) !== undefined) return undefined;
  if (challenge !== undefined && challenge.value.length > 0 && response?.value.length === 0) return "signature";
  return "authentication";
}

/** Same outer tag, the same inner tags in order, each value of the same length. */
function compareTemplate(tag: number, recorded: Uint8Array, replayed: Uint8Array, what: string): Comparison {
  const a = outerItems(recorded, tag);
  const b = outerItems(replayed, tag);
  const hex = tag.toString(16).toUpperCase();
  if (b === undefined) return { verdict: "diverged", reason: `the ${what} is not a ${hex} template` };
  if (a === undefined) return { verdict: "diverged", reason: `the recorded ${what} is not a ${hex} template; the card now answers one` };
  const shape = (items: Tlv[]) => items.map((i) => `${i.tag.toString(16).toUpperCase()}:${i.value.length}`).join(" ");
  if (shape(a) !== shape(b)) return { verdict: "diverged", reason: `the ${what} differs in structure: recorded ${hex}{${shape(a)}}, replayed ${hex}{${shape(b)}}` };
  return { verdict: "equivalent", reason: `${what}: same structure ${hex}{${shape(b)}}` };
}

function compareSignature(alg: number, slot: number, data: Uint8Array, recorded: Uint8Array, replayed: Uint8Array, book?: CertificateBook): Comparison {
  const a = outerItems(recorded, 0x7c);
  const b = outerItems(replayed, 0x7c);
  const sig = b === undefined || b.length !== 1 || b[0].tag !== 0x82 ? undefined : b[0].value;
  if (sig === undefined) return { verdict: "diverged", reason: "the signature answer is not 7C{82 signature}" };
  if (a === undefined || a.length !== 1 || a[0].tag !== 0x82) return { verdict: "diverged", reason: "the recorded signature answer is not 7C{82 signature}; the card now answers one" };
  const input = findTlv(templateItems(data) ?? [], 0x81)?.value ?? new Uint8Array(0);
  const ec = EC_CURVES[alg];
  const rsa = RSA_BYTES[alg];
  if (ec === undefined && rsa === undefined) return compareTemplate(0x7c, recorded, replayed, "signature answer");
  if (ec !== undefined && !wellFormedEcdsa(ec.curve, sig)) {
    return { verdict: "diverged", reason: `the signature is not a DER ECDSA-Sig-Value of two ${ec.name} integers` };
  }
  if (rsa !== undefined && sig.length !== rsa) return { verdict: "diverged", reason: `the RSA signature has ${sig.length} bytes, not the modulus's ${rsa}` };
  const cert = book?.get(slot);
  const slotHex = slot.toString(16).toUpperCase();
  if (cert === undefined) return { verdict: "equivalent", reason: `a well-formed signature (the trace read no certificate for key ${slotHex}: not verified)` };
  const ok = ec !== undefined ? verifyEcdsa(ec.curve, cert, input, sig) : verifyRsaRaw(cert, input, sig);
  return ok
    ? { verdict: "equivalent", reason: `signature verifies with the certificate the trace read for key ${slotHex}` }
    : { verdict: "diverged", reason: `signature does not verify with the certificate the trace read for key ${slotHex}` };
}

function wellFormedEcdsa(curve: typeof p256, der: Uint8Array): boolean {
  try {
    curve.Signature.fromBytes(der, "der");
    return true;
  } catch {
    return false;
  }
}

/** ECDSA over the digest the card was given (PIV signs what it is sent, no hashing). */
function verifyEcdsa(curve: typeof p256, cert: Certificate, digest: Uint8Array, der: Uint8Array): boolean {
  try {
    return curve.verify(der, digest, cert.publicKeyBits, { prehash: false, lowS: false, format: "der" });
  } catch {
    return false;
  }
}

/** RSA in PIV is the raw private operation on a block the host padded: the public operation must give that block back. */
function verifyRsaRaw(cert: Certificate, block: Uint8Array, sig: Uint8Array): boolean {
  try {
    const key = createPublicKey({ key: Buffer.from(cert.spki), format: "der", type: "spki" });
    const back = publicEncrypt({ key, padding: constants.RSA_NO_PADDING }, Buffer.from(sig));
    return bytesEqual(new Uint8Array(back), block);
  } catch {
    return false;
  }
}

function outerItems(answer: Uint8Array, tag: number): Tlv[] | undefined {
  try {
    const outer = readTlv(answer, 0);
    if (outer.tag !== tag || outer.end !== answer.length) return undefined;
    return decodeTlvs(outer.value);
  } catch {
    return undefined;
  }
}

function templateItems(data: Uint8Array): Tlv[] | undefined {
  return outerItems(data, 0x7c);
}
