import { concatBytes, encodeTlv } from "../../core/index.js";

/** PIV AID (SP 800-73-4 part 1, 2.2): RID A0 00 00 03 08, PIX 00 00 10 00 01 00. */
export const PIV_AID = Uint8Array.of(0xa0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00);
export const PIV_PIX = PIV_AID.subarray(5);
export const NIST_RID = PIV_AID.subarray(0, 5);

/** Data object tags (BER-TLV tag values as numbers). */
export const TAG = {
  CARD_CAPABILITY_CONTAINER: 0x5fc107,
  CHUID: 0x5fc102,
  CERT_PIV_AUTH: 0x5fc105, // 9A
  CERT_DIGITAL_SIGNATURE: 0x5fc10a, // 9C
  CERT_KEY_MANAGEMENT: 0x5fc10b, // 9D
  CERT_CARD_AUTH: 0x5fc101, // 9E
  FINGERPRINTS: 0x5fc103,
  SECURITY_OBJECT: 0x5fc106,
  FACIAL_IMAGE: 0x5fc108,
  PRINTED_INFO: 0x5fc109,
  KEY_HISTORY: 0x5fc10c,
  IRIS_IMAGES: 0x5fc121,
  BIOMETRIC_GROUP_TEMPLATE: 0x5fc122,
  SM_CERT_SIGNER: 0x5fc123,
  PAIRING_CODE_REF: 0x5fc10e,
  DISCOVERY: 0x7e,
  BIT_GROUP_TEMPLATE: 0x7f61,
} as const;

/** Key reference -> certificate object (retired slots 82..95 -> 5FC10D..5FC120). */
export function certTagForSlot(slot: number): number | undefined {
  switch (slot) {
    case 0x9a:
      return TAG.CERT_PIV_AUTH;
    case 0x9c:
      return TAG.CERT_DIGITAL_SIGNATURE;
    case 0x9d:
      return TAG.CERT_KEY_MANAGEMENT;
    case 0x9e:
      return TAG.CERT_CARD_AUTH;
  }
  if (slot >= 0x82 && slot <= 0x95) return 0x5fc10d + (slot - 0x82);
  return undefined;
}

export function isKeySlot(slot: number): boolean {
  return certTagForSlot(slot) !== undefined;
}

/** Objects that SP 800-73-4 protects with the PIN for reading. */
export const PIN_PROTECTED_OBJECTS = new Set<number>([
  TAG.FINGERPRINTS,
  TAG.FACIAL_IMAGE,
  TAG.PRINTED_INFO,
  TAG.IRIS_IMAGES,
]);

/**
 * Tags PUT DATA may write: the 5FC1xx container family and Yubico's 5FFFxx
 * vendor objects (the admin data and printed PIN-protected data that
 * yubico-piv-tool stores).
 */
export function isWritableTag(tag: number): boolean {
  return (tag >= 0x5fc101 && tag <= 0x5fc123) || (tag >= 0x5fff00 && tag <= 0x5fff15);
}

const APP_LABEL = new TextEncoder().encode("cardloop PIV");

/** The application property template SELECT answers (part 2, 3.1.1). */
export function applicationPropertyTemplate(algs: number[]): Uint8Array {
  return encodeTlv(0x61, [
    encodeTlv(0x4f, PIV_PIX),
    encodeTlv(0x79, encodeTlv(0x4f, NIST_RID)),
    encodeTlv(0x50, APP_LABEL),
    encodeTlv(0xac, [...algs.map((a) => encodeTlv(0x80, Uint8Array.of(a))), encodeTlv(0x06, new Uint8Array(0))]),
  ]);
}

function yyyymmdd(d: Date): Uint8Array {
  const s =
    d.getUTCFullYear().toString().padStart(4, "0") +
    (d.getUTCMonth() + 1).toString().padStart(2, "0") +
    d.getUTCDate().toString().padStart(2, "0");
  return new TextEncoder().encode(s);
}

/** The container every 5FC1xx object travels in: 53 { ... }. */
export function container(...fields: Uint8Array[]): Uint8Array {
  return encodeTlv(0x53, fields);
}

/**
 * CHUID (part 1, table 9): FASC-N, GUID, expiration date YYYYMMDD, an empty
 * issuer signature (3E), error detection code (FE).
 */
export function buildChuid(fascn: Uint8Array, guid: Uint8Array, expires: Date): Uint8Array {
  return container(
    encodeTlv(0x30, fascn),
    encodeTlv(0x34, guid),
    encodeTlv(0x35, yyyymmdd(expires)),
    encodeTlv(0x3e, new Uint8Array(0)),
    encodeTlv(0xfe, new Uint8Array(0)),
  );
}

/** Card Capability Container (part 1, table 8) with a card identifier from the serial. */
export function buildCcc(cardId: Uint8Array): Uint8Array {
  const id = new Uint8Array(21);
  // GSC-RID A0 00 00 01 16, manufacturer id FF, card type 02 (Java card class), then 14 bytes of id
  id.set([0xa0, 0x00, 0x00, 0x01, 0x16, 0xff, 0x02], 0);
  id.set(cardId.subarray(0, 14), 7);
  const b = (v: number[]) => Uint8Array.from(v);
  return container(
    encodeTlv(0xf0, id),
    encodeTlv(0xf1, b([0x21])),
    encodeTlv(0xf2, b([0x21])),
    encodeTlv(0xf3, new Uint8Array(0)),
    encodeTlv(0xf4, b([0x00])),
    encodeTlv(0xf5, b([0x10])),
    encodeTlv(0xf6, new Uint8Array(0)),
    encodeTlv(0xf7, new Uint8Array(0)),
    encodeTlv(0xfa, new Uint8Array(0)),
    encodeTlv(0xfb, new Uint8Array(0)),
    encodeTlv(0xfc, new Uint8Array(0)),
    encodeTlv(0xfd, new Uint8Array(0)),
    encodeTlv(0xfe, new Uint8Array(0)),
  );
}

/** Discovery object (part 1, 3.3.2): PIV AID and PIN usage policy 40 00 (PIV PIN only). */
export function buildDiscovery(): Uint8Array {
  return encodeTlv(0x7e, [encodeTlv(0x4f, PIV_AID), encodeTlv(0x5f2f, Uint8Array.of(0x40, 0x00))]);
}

/** Key history object: no retired keys on or off card. */
export function buildKeyHistory(): Uint8Array {
  return container(
    encodeTlv(0xc1, Uint8Array.of(0)),
    encodeTlv(0xc2, Uint8Array.of(0)),
    encodeTlv(0xf3, new Uint8Array(0)),
    encodeTlv(0xfe, new Uint8Array(0)),
  );
}

/**
 * A public key's data objects (part 2, table 14): 86 point for EC, 81 modulus
 * and 82 exponent for RSA. GENERATE answers them inside 7F49; YubiKey's GET
 * METADATA inside its tag 04.
 */
export function publicKeyObjects(pub: { point?: Uint8Array; modulus?: Uint8Array; exponent?: Uint8Array }): Uint8Array {
  return pub.point !== undefined ? encodeTlv(0x86, pub.point) : concatBytes(encodeTlv(0x81, pub.modulus!), encodeTlv(0x82, pub.exponent!));
}
