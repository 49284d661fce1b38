import { gunzipSync } from "node:zlib";
import { decodeTlvs, findTlv, readTlv } from "../../core/index.js";
import { certTagForSlot } from "../card/index.js";

/**
 * PIV certificate objects as a trace shows them (SP 800-73-4 part 1): which
 * key a certificate object belongs to and the certificate inside it. Shared
 * by the replay's signature check (compare.ts) and card-from-trace, which
 * both read certificates out of recorded GET DATA answers.
 */

/** The four named key references with a certificate object (9A, 9C, 9D, 9E). */
const NAMED_SLOTS = [0x9a, 0x9c, 0x9d, 0x9e];
/** Retired key management keys 82..95 and their certificate objects 5FC10D..5FC120 (table 4b). */
const RETIRED_FIRST_SLOT = 0x82;
const RETIRED_FIRST_TAG = 0x5fc10d;
const RETIRED_LAST_TAG = 0x5fc120;

/** The key reference whose certificate object has this tag; `retired` also maps 5FC10D..5FC120 to 82..95. */
export function slotOfCertificateObject(tag: number, retired = false): number | undefined {
  for (const slot of NAMED_SLOTS) if (certTagForSlot(slot) === tag) return slot;
  if (retired && tag >= RETIRED_FIRST_TAG && tag <= RETIRED_LAST_TAG) return RETIRED_FIRST_SLOT + (tag - RETIRED_FIRST_TAG);
  return undefined;
}

/** The certificate inside a PIV certificate object 53{70 cert, 71 info, FE}, gunzipped when 71 says 01. */
export function certificateInObject(object: Uint8Array): Uint8Array | undefined {
  try {
    const outer = readTlv(object, 0);
    if (outer.tag !== 0x53) return undefined;
    const items = decodeTlvs(outer.value);
    const cert = findTlv(items, 0x70);
    if (cert === undefined) return undefined;
    const info = findTlv(items, 0x71);
    const gzipped = info !== undefined && info.value.length > 0 && (info.value[0] & 0x01) === 1;
    return gzipped ? new Uint8Array(gunzipSync(cert.value, { maxOutputLength: 1 << 20 })) : Uint8Array.from(cert.value);
  } catch {
    return undefined;
  }
}
