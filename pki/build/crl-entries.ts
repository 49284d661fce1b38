import { DerWriter } from "../der-writer.js";
import { writeCrlEntry } from "./crl.js";

/**
 * revokedCertificates entries encoded on their own, back to back, for a
 * caller that keeps them encoded and frames them later (crlFrame): the CA's
 * CRL entries are written once, at revocation, not once per CRL (issue 13).
 * The same octets buildCrl writes for the same entry.
 */
export class CrlEntryWriter {
  private w: DerWriter;

  /** `expectedEntries`: a size hint (about 48 octets an entry); the buffer grows past it. */
  constructor(expectedEntries = 0) {
    this.w = new DerWriter(64 + expectedEntries * 48);
  }

  /** Appends one entry: serial (hex), revocationDate, and a reasonCode unless the code is null or 0 (unspecified). */
  add(serialHex: string, at: number, reason: number | null): void {
    writeCrlEntry(this.w, serialHex, at, reason);
  }

  /** Octets written so far. */
  get length(): number {
    return this.w.length;
  }

  /** The entries written; the writer is spent afterwards (make a new one). */
  finish(): Buffer {
    return this.w.finish();
  }
}

/** One CRL entry's DER (a template, a test): what CrlEntryWriter.add appends. */
export function crlEntry(serialHex: string, at: number, reason: number | null): Buffer {
  const w = new CrlEntryWriter(1);
  w.add(serialHex, at, reason);
  return Buffer.from(w.finish());
}
