import { createHash } from "node:crypto";
import { Tag } from "../der.js";
import { DerWriter } from "../der-writer.js";
import { OID } from "../oids.js";
import { subjectPublicKeyBits } from "./keys.js";

/** The issuer a CertID names: its subject Name DER and its SubjectPublicKeyInfo DER (a pki Certificate is one). */
export interface OcspIssuer {
  readonly subjectDer: Uint8Array;
  readonly spki: Uint8Array;
}

/**
 * The one OCSPRequest builder (RFC 6960 4.1.1): one SHA-1 CertID per serial (what
 * every responder accepts) and, with a nonce, the nonce extension so that a
 * replayed answer is caught. Serials are hex (any case, separators ignored) or
 * unsigned big-endian bytes.
 */
export function buildOcspRequest(issuer: OcspIssuer, serials: ReadonlyArray<string | Uint8Array>, nonce?: Uint8Array): Uint8Array {
  const nameHash = createHash("sha1").update(issuer.subjectDer).digest();
  const keyHash = createHash("sha1").update(subjectPublicKeyBits(issuer.spki)).digest();
  const certIds = serials.map((s) => {
    const w = new DerWriter(96).begin(Tag.Sequence);
    w.begin(Tag.Sequence).oid(OID.sha1).null().end();
    w.octetString(nameHash).octetString(keyHash).integer(typeof s === "string" ? serialBytes(s) : s);
    return w.end().finish();
  });
  return encodeOcspRequest(certIds, nonce ? [nonceExtension(nonce)] : []);
}

/** An OCSPRequest from CertID DERs and requestExtensions DERs (e.g. a parsed request re-sent without its nonce). */
export function encodeOcspRequest(certIds: ReadonlyArray<Uint8Array>, extensions: ReadonlyArray<Uint8Array> = []): Uint8Array {
  const w = new DerWriter(64 + certIds.length * 80).begin(Tag.Sequence).begin(Tag.Sequence); // OCSPRequest / TBSRequest
  w.begin(Tag.Sequence); // requestList
  for (const id of certIds) w.begin(Tag.Sequence).raw(id).end(); // Request { reqCert }
  w.end();
  if (extensions.length > 0) {
    w.begin(0xa2).begin(Tag.Sequence);
    for (const e of extensions) w.raw(e);
    w.end().end();
  }
  return new Uint8Array(w.end().end().finish());
}

/** The nonce Extension: extnValue is an OCTET STRING wrapping the nonce (RFC 8954). */
export function nonceExtension(nonce: Uint8Array): Uint8Array {
  const w = new DerWriter(nonce.length + 24).begin(Tag.Sequence).oid(OID.ocspNonce);
  w.octetString(new DerWriter(nonce.length + 4).octetString(nonce).finish());
  return new Uint8Array(w.end().finish());
}

function serialBytes(hex: string): Uint8Array {
  let h = hex.replace(/[^0-9a-fA-F]/g, "");
  if (h.length === 0) h = "00";
  if (h.length % 2) h = "0" + h;
  return Buffer.from(h, "hex");
}
