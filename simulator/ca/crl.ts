import { DerWriter } from "../../pki/der-writer.js";
import { OID } from "./oids.js";
import type { Signer } from "./signer.js";
import { extension } from "./x509.js";

/**
 * Full CRL (RFC 5280 5.1, v2) written in one pass with the DER writer:
 * entries are appended straight from the store's row iterator, so a million
 * entries cost one buffer, not a million objects.
 */
export interface CrlInput {
  issuerName: Uint8Array;
  issuerKeyId: Uint8Array;
  signer: Signer;
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
    v = new Uint8Array(new DerWriter(e.length + 4).begin(0x30).raw(e).end().finish());
    reasonExtCache.set(code, v);
  }
  return v;
}

export function buildCrl(input: CrlInput): Buffer {
  const w = new DerWriter(1024 + (input.expectedEntries ?? 0) * 48);
  w.begin(0x30);
  const tbsStart = w.length;
  w.begin(0x30);
  w.integer(1); // v2
  w.raw(input.signer.algorithm);
  w.raw(input.issuerName);
  w.time(input.thisUpdate);
  w.time(input.nextUpdate);
  let any = false;
  for (const [serialHex, at, reason] of input.entries) {
    if (!any) {
      w.begin(0x30); // revokedCertificates: present only when non-empty
      any = true;
    }
    w.begin(0x30).integer(Buffer.from(serialHex, "hex")).time(at);
    if (reason !== null && reason !== 0) w.raw(reasonExtensions(reason));
    w.end();
  }
  if (any) w.end();
  w.begin(0xa0).begin(0x30);
  w.raw(extension(OID.authorityKeyIdentifier, false, (x) => x.begin(0x30).primitive(0x80, input.issuerKeyId).end()));
  w.raw(extension(OID.crlNumber, false, (x) => x.integer(input.crlNumber)));
  // IssuingDistributionPoint { onlyContainsCACerts [2] IMPLICIT BOOLEAN TRUE }
  if (input.onlyCaCerts) w.raw(extension(OID.issuingDistributionPoint, true, (x) => x.begin(0x30).primitive(0x82, Uint8Array.of(0xff)).end()));
  w.end().end();
  w.end();
  const signature = input.signer.sign(w.slice(tbsStart, w.length));
  w.raw(input.signer.algorithm).bitString(signature);
  w.end();
  return w.finish();
}
