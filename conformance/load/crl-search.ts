import { normSerial } from "../pkix.js";
import type { Certificate, Crl } from "../../pki/index.js";

/*
 * Finding watched serials in a CRL without decoding every entry (the
 * propagation watcher's CRL channel, propagation.ts), and the checks it needs
 * on the CRL and on serials.
 */

/** Header occurrences examined between two yields to the event loop (a few ms of work). */
const YIELD_EVERY = 20_000;

/**
 * The watched serials (each with its DER INTEGER) a CRL lists, found as bytes: every occurrence of the
 * DER INTEGER header of their length ("02 10" for 16 octets) is looked up by
 * its next four octets, then compared whole. One pass over the CRL whatever
 * the number of pending serials (about 0.5 s for a 44 MB CRL of a million
 * entries, where pki's full index takes 7 s and a search per serial 13 ms),
 * yielding to the event loop as it goes, so that the watcher's own work does
 * not delay the acknowledgements and OCSP answers it measures.
 *
 * Sound for serials of 8 octets or more (a CA's are 16 random octets): such
 * an encoding does not occur elsewhere in the CRL by chance (about
 * size * 2^-64 at worst); the CRL was checked to decode and to be the
 * issuer's; and the final completeness check decodes every entry (parseCrl).
 */
export async function searchCrl<W extends { integer: Buffer }>(bytes: Buffer, pending: W[]): Promise<W[]> {
  const found = new Set<W>();
  const byHeader = new Map<number, Map<number, W[]>>();
  for (const w of pending) {
    const header = w.integer.readUInt16BE(0);
    let byKey = byHeader.get(header);
    if (!byKey) byHeader.set(header, (byKey = new Map()));
    const key = w.integer.readUInt32BE(2);
    byKey.set(key, [...(byKey.get(key) ?? []), w]);
  }
  let steps = 0;
  for (const [header, byKey] of byHeader) {
    const pattern = Buffer.of(header >> 8, header & 0xff);
    for (let at = bytes.indexOf(pattern); at >= 0 && at + 6 <= bytes.length; at = bytes.indexOf(pattern, at + 1)) {
      if (++steps % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve));
      const candidates = byKey.get(bytes.readUInt32BE(at + 2));
      if (!candidates) continue;
      for (const w of candidates) {
        const end = at + w.integer.length;
        if (end <= bytes.length && bytes.compare(w.integer, 0, w.integer.length, at, end) === 0) found.add(w);
      }
    }
  }
  return [...found];
}

/**
 * Whether a CRL is the issuing CA's: its issuer name, and its authority key
 * identifier against the CA's subject key identifier where both are given
 * (two CAs may share a name; a test CA's always do).
 */
export function crlOfIssuer(crl: Crl, issuer: Certificate): boolean {
  if (crl.issuer.key !== issuer.subject.key) return false;
  const aki = crl.authorityKeyId?.keyId;
  const ski = issuer.subjectKeyId;
  return aki === undefined || ski === undefined || aki.toLowerCase() === ski.toLowerCase();
}

/** The DER INTEGER of a non-negative serial given as hex: a leading zero octet when the top bit is set. */
export function derInteger(serialHex: string): Buffer {
  let h = normSerial(serialHex);
  if (h.length % 2) h = "0" + h;
  let content = Buffer.from(h, "hex");
  if (content[0] & 0x80) content = Buffer.concat([Buffer.of(0), content]);
  if (content.length > 127) throw new RangeError("serial too long");
  return Buffer.concat([Buffer.of(0x02, content.length), content]);
}
