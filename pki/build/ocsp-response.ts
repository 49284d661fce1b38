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
  const tbs = ocspResponseData(responder, producedAt, responses, nonceExtension);
  return signedOcspResponse(responder, tbs, responder.signer.sign(tbs));
}

/**
 * The ResponseData (what is signed) of a response: the first half of
 * buildOcspResponse, for a caller that signs elsewhere (off the event loop)
 * and completes it with signedOcspResponse.
 */
export function ocspResponseData(responder: ResponderIdentity, producedAt: number, responses: SingleResponseSpec[], nonceExtension?: Uint8Array): Buffer {
  const w = new DerWriter(256 + responses.length * 128);
  w.begin(Tag.Sequence); // ResponseData
  w.raw(responderIdByKey(responder.signer.spki));
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
  return w.finish();
}

/** The OCSPResponse around a ResponseData and its signature by `responder`. */
export function signedOcspResponse(responder: ResponderIdentity, tbs: Uint8Array, signature: Uint8Array): Uint8Array {
  const certs = certsField(responder.certificate);
  const w = new DerWriter(tbs.length + signature.length + certs.length + 96);
  w.begin(Tag.Sequence); // BasicOCSPResponse
  w.raw(tbs);
  w.raw(responder.signer.algorithm).bitString(signature);
  w.raw(certs);
  w.end();
  const basic = w.finish();

  const out = new DerWriter(basic.length + 64).begin(Tag.Sequence).enumerated(OcspStatus.successful);
  out.begin(0xa0).begin(Tag.Sequence).oid(OID.ocspBasic).octetString(basic).end().end();
  return new Uint8Array(out.end().finish());
}

const certsCache = new WeakMap<Uint8Array, Uint8Array>();

/** certs [0] EXPLICIT SEQUENCE OF Certificate, with the one responder certificate: encoded once per certificate. */
function certsField(certificate: Uint8Array): Uint8Array {
  let v = certsCache.get(certificate);
  if (!v) {
    v = new Uint8Array(new DerWriter(certificate.length + 16).begin(0xa0).begin(Tag.Sequence).raw(certificate).end().end().finish());
    certsCache.set(certificate, v);
  }
  return v;
}

const responderIdCache = new WeakMap<Uint8Array, Uint8Array>();

/** responderID byKey [2] EXPLICIT KeyHash: encoded once per key. */
function responderIdByKey(spki: Uint8Array): Uint8Array {
  let v = responderIdCache.get(spki);
  if (!v) {
    v = new Uint8Array(new DerWriter(32).begin(0xa2).octetString(responderKeyHash(spki)).end().finish());
    responderIdCache.set(spki, v);
  }
  return v;
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
