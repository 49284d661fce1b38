import { Tag } from "../der.js";
import { DerWriter } from "../der-writer.js";
import { OID } from "../oids.js";
import { extension } from "./certificate.js";
import type { SigningKey } from "./keys.js";

/**
 * Full CRL (RFC 5280 5.1, v2) written in one pass with the DER writer:
 * entries are appended straight from the caller's iterator (a store's row
 * cursor), so a million entries cost one buffer, not a million objects.
 */
export interface CrlSpec {
  issuerName: Uint8Array;
  issuerKeyId: Uint8Array;
  signer: Pick<SigningKey, "algorithm" | "sign">;
  crlNumber: bigint;
  thisUpdate: number;
  nextUpdate: number;
  /** [serial hex, revocation time ms, reason code]; code 0 (unspecified) is written without a reasonCode, as RFC 5280 recommends. */
  entries: Iterable<[string, number, number | null]>;
  /**
   * An authority revocation list: a critical IssuingDistributionPoint with
   * onlyContainsCACerts, so no relying party takes it as evidence for an
   * end-entity certificate.
   */
  onlyCaCerts?: boolean;
  /** Size hint for the output buffer. */
  expectedEntries?: number;
}

const reasonExtCache = new Map<number, Uint8Array>();

/** crlEntryExtensions holding one reasonCode, precomputed per code. */
function reasonExtensions(code: number): Uint8Array {
  let v = reasonExtCache.get(code);
  if (!v) {
    const e = extension(OID.crlReason, false, (w) => w.enumerated(code));
    v = new Uint8Array(new DerWriter(e.length + 4).begin(Tag.Sequence).raw(e).end().finish());
    reasonExtCache.set(code, v);
  }
  return v;
}

export function buildCrl(input: CrlSpec): Buffer {
  const w = new DerWriter(1024 + (input.expectedEntries ?? 0) * 48);
  w.begin(Tag.Sequence);
  const tbsStart = w.length;
  w.begin(Tag.Sequence);
  w.integer(1); // v2
  w.raw(input.signer.algorithm);
  w.raw(input.issuerName);
  w.time(input.thisUpdate);
  w.time(input.nextUpdate);
  let any = false;
  for (const [serialHex, at, reason] of input.entries) {
    if (!any) {
      w.begin(Tag.Sequence); // revokedCertificates: present only when non-empty
      any = true;
    }
    writeCrlEntry(w, serialHex, at, reason);
  }
  if (any) w.end();
  writeCrlExtensions(w, input);
  w.end();
  const signature = input.signer.sign(w.slice(tbsStart, w.length));
  w.raw(input.signer.algorithm).bitString(signature);
  w.end();
  return w.finish();
}

/** One revokedCertificates entry: serial, revocationDate, and a reasonCode unless unspecified. */
export function writeCrlEntry(w: DerWriter, serialHex: string, at: number, reason: number | null): void {
  w.begin(Tag.Sequence).integer(Buffer.from(serialHex, "hex")).time(at);
  if (reason !== null && reason !== 0) w.raw(reasonExtensions(reason));
  w.end();
}

/** crlExtensions [0]: authorityKeyIdentifier, cRLNumber, and for an ARL the IssuingDistributionPoint. */
function writeCrlExtensions(w: DerWriter, input: Omit<CrlSpec, "entries" | "signer">): void {
  w.begin(0xa0).begin(Tag.Sequence);
  w.raw(extension(OID.authorityKeyIdentifier, false, (x) => x.begin(Tag.Sequence).primitive(0x80, input.issuerKeyId).end()));
  w.raw(extension(OID.crlNumber, false, (x) => x.integer(input.crlNumber)));
  // IssuingDistributionPoint { onlyContainsCACerts [2] IMPLICIT BOOLEAN TRUE }
  if (input.onlyCaCerts) w.raw(extension(OID.issuingDistributionPoint, true, (x) => x.begin(Tag.Sequence).primitive(0x82, Uint8Array.of(0xff)).end()));
  w.end().end();
}

/** A DER tag and definite length. */
export function derHeader(tag: number, length: number): Buffer {
  if (length < 0x80) return Buffer.of(tag, length);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.of(tag, 0x80 | bytes.length, ...bytes);
}

/**
 * A CRL's TBSCertList around entries encoded elsewhere (writeCrlEntry, kept
 * pre-encoded by the CA): TBS = head + entries + tail, for `entriesLength`
 * octets of entries. Lets a CRL be assembled and signed without re-encoding a
 * million entries per issue (simulator/ca/crl-entries.ts).
 */
export function crlFrame(input: Omit<CrlSpec, "entries" | "signer"> & { algorithm: Uint8Array }, entriesLength: number): { head: Buffer; tail: Buffer } {
  const fields = new DerWriter(512);
  fields.integer(1).raw(input.algorithm).raw(input.issuerName).time(input.thisUpdate).time(input.nextUpdate);
  const tail = new DerWriter(256);
  writeCrlExtensions(tail, input);
  const f = fields.finish();
  const t = tail.finish();
  const revoked = entriesLength > 0 ? derHeader(Tag.Sequence, entriesLength) : Buffer.alloc(0);
  const tbsLength = f.length + revoked.length + entriesLength + t.length;
  return { head: Buffer.concat([derHeader(Tag.Sequence, tbsLength), f, revoked]), tail: Buffer.from(t) };
}

/** The CertificateList after the TBS: its AlgorithmIdentifier and the signature as a BIT STRING; and the outer header for `tbsLength`. */
export function crlSignatureParts(algorithm: Uint8Array, signature: Uint8Array, tbsLength: number): { header: Buffer; trailer: Buffer } {
  const bits = Buffer.concat([derHeader(Tag.BitString, signature.length + 1), Buffer.of(0), signature]);
  const trailer = Buffer.concat([algorithm, bits]);
  return { header: derHeader(Tag.Sequence, tbsLength + trailer.length), trailer };
}
