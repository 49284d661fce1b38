import { createHash } from "node:crypto";
import { Tag } from "../der.js";
import { DerWriter } from "../der-writer.js";
import { OcspStatus } from "../ocsp.js";
import { OID } from "../oids.js";
import { subjectPublicKeyBits, type SigningKey } from "./keys.js";

/**
 * Signed OCSP responses (RFC 6960 4.2). This is the responder's hot path: one
 * writer per response, the responder's key hash computed once per key, no
 * intermediate objects per SingleResponse.
 */

/** An unsuccessful OCSPResponse: just the status (RFC 6960 4.2.1). */
export function errorResponse(status: number): Uint8Array {
  return Uint8Array.of(0x30, 0x03, 0x0a, 0x01, status);
}

export type CertStatusSpec = { kind: "good" } | { kind: "unknown" } | { kind: "revoked"; at: number; reason: number | null };

export interface SingleResponseSpec {
  /** The CertID DER exactly as the request carried it (echoed). */
  certId: Uint8Array;
  status: CertStatusSpec;
  thisUpdate: number;
  nextUpdate: number;
}

/** The responder: its signing key and the certificate sent along (a delegated responder's). */
export interface ResponderIdentity {
  signer: SigningKey;
  certificate: Uint8Array;
}

/** Builds and signs a successful OCSPResponse; the responderID is byKey. */
export function buildOcspResponse(
  responder: ResponderIdentity,
  producedAt: number,
  responses: SingleResponseSpec[],
  nonceExtension?: Uint8Array,
): Uint8Array {
  const w = new DerWriter(1024);
  w.begin(Tag.Sequence); // BasicOCSPResponse
  const tbsStart = w.length;
  w.begin(Tag.Sequence); // ResponseData
  w.begin(0xa2).octetString(responderKeyHash(responder.signer.spki)).end(); // responderID byKey
  w.generalizedTime(producedAt);
  w.begin(Tag.Sequence);
  for (const r of responses) {
    w.begin(Tag.Sequence).raw(r.certId);
    if (r.status.kind === "good") w.primitive(0x80, EMPTY);
    else if (r.status.kind === "unknown") w.primitive(0x82, EMPTY);
    else {
      w.begin(0xa1).generalizedTime(r.status.at);
      if (r.status.reason !== null) w.begin(0xa0).enumerated(r.status.reason).end();
      w.end();
    }
    w.generalizedTime(r.thisUpdate);
    w.begin(0xa0).generalizedTime(r.nextUpdate).end();
    w.end();
  }
  w.end();
  if (nonceExtension) w.begin(0xa1).begin(Tag.Sequence).raw(nonceExtension).end().end();
  w.end();
  const sig = responder.signer.sign(w.slice(tbsStart, w.length));
  w.raw(responder.signer.algorithm).bitString(sig);
  w.begin(0xa0).begin(Tag.Sequence).raw(responder.certificate).end().end();
  w.end();
  const basic = w.finish();

  const out = new DerWriter(basic.length + 64).begin(Tag.Sequence).enumerated(OcspStatus.successful);
  out.begin(0xa0).begin(Tag.Sequence).oid(OID.ocspBasic).octetString(basic).end().end();
  return new Uint8Array(out.end().finish());
}

const EMPTY = new Uint8Array(0);
const keyHashCache = new WeakMap<Uint8Array, Uint8Array>();

function responderKeyHash(spki: Uint8Array): Uint8Array {
  let h = keyHashCache.get(spki);
  if (!h) {
    h = new Uint8Array(createHash("sha1").update(subjectPublicKeyBits(spki)).digest());
    keyHashCache.set(spki, h);
  }
  return h;
}

/**
 * The issuer hashes a CertID may carry for one issuer, by hash algorithm OID: SHA-1 and
 * SHA-256 (what RFC 6960 and RFC 5019 clients send) and SHA-384 and SHA-512, so that a
 * responder's `unauthorized` means "another issuer" (or a hash nobody should use), not
 * "a stronger hash than expected". The same four the validator matches (ocsp-check.ts).
 */
export function issuerHashes(issuerName: Uint8Array, issuerSpki: Uint8Array): Map<string, { name: Buffer; key: Buffer }> {
  const bits = subjectPublicKeyBits(issuerSpki);
  const m = new Map<string, { name: Buffer; key: Buffer }>();
  for (const [oid, alg] of [
    [OID.sha1, "sha1"],
    [OID.sha256, "sha256"],
    [OID.sha384, "sha384"],
    [OID.sha512, "sha512"],
  ] as const) {
    m.set(oid, { name: createHash(alg).update(issuerName).digest(), key: createHash(alg).update(bits).digest() });
  }
  return m;
}
