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
    w.begin(Tag.Sequence).integer(Buffer.from(serialHex, "hex")).time(at);
    if (reason !== null && reason !== 0) w.raw(reasonExtensions(reason));
    w.end();
  }
  if (any) w.end();
  w.begin(0xa0).begin(Tag.Sequence);
  w.raw(extension(OID.authorityKeyIdentifier, false, (x) => x.begin(Tag.Sequence).primitive(0x80, input.issuerKeyId).end()));
  w.raw(extension(OID.crlNumber, false, (x) => x.integer(input.crlNumber)));
  // IssuingDistributionPoint { onlyContainsCACerts [2] IMPLICIT BOOLEAN TRUE }
  if (input.onlyCaCerts) w.raw(extension(OID.issuingDistributionPoint, true, (x) => x.begin(Tag.Sequence).primitive(0x82, Uint8Array.of(0xff)).end()));
  w.end().end();
  w.end();
  const signature = input.signer.sign(w.slice(tbsStart, w.length));
  w.raw(input.signer.algorithm).bitString(signature);
  w.end();
  return w.finish();
}
