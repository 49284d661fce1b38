import { createHash } from "node:crypto";
import { DerWriter } from "../../pki/der-writer.js";
import { children, content, decodeOid, DerError, expect, readTlv, readWhole, unsignedInteger, whole } from "./der-reader.js";
import { OID } from "./oids.js";
import type { Signer } from "./signer.js";
import { subjectPublicKeyBits } from "./x509.js";

/**
 * OCSP (RFC 6960): request parsing with our own strict DER reader (requests
 * come from anyone, so nothing in here may throw past `handle`), and signed
 * BasicOCSPResponses from the delegated responder.
 */

export const OcspStatus = {
  successful: 0,
  malformedRequest: 1,
  internalError: 2,
  tryLater: 3,
  sigRequired: 5,
  unauthorized: 6,
} as const;

export interface OcspCertId {
  /** The CertID exactly as received: echoed in the response. */
  der: Uint8Array;
  hashAlgorithm: string;
  issuerNameHash: Uint8Array;
  issuerKeyHash: Uint8Array;
  serialHex: string;
}

export interface OcspRequest {
  certIds: OcspCertId[];
  /** The whole nonce Extension from the request, echoed byte for byte. */
  nonceExtension?: Uint8Array;
}

export function parseOcspRequest(der: Uint8Array): OcspRequest {
  const top = readWhole(der, 0x30);
  const tbs = expect(readTlv(der, top.contentStart, top.end), 0x30, "tbsRequest");
  let certIds: OcspCertId[] | undefined;
  let nonceExtension: Uint8Array | undefined;
  for (const f of children(der, tbs)) {
    if (f.tag === 0xa0 || f.tag === 0xa1) continue; // version, requestorName
    if (f.tag === 0x30) {
      certIds = children(der, f).map((req) => {
        expect(req, 0x30, "Request");
        const [certId] = children(der, req);
        expect(certId, 0x30, "CertID");
        const [alg, nameHash, keyHash, serial] = children(der, certId);
        expect(alg, 0x30, "hashAlgorithm");
        const [algOid] = children(der, alg);
        const serialBytes = unsignedInteger(content(der, expect(serial, 0x02, "serialNumber")));
        return {
          der: whole(der, certId),
          hashAlgorithm: decodeOid(content(der, expect(algOid, 0x06, "hash OID"))),
          issuerNameHash: content(der, expect(nameHash, 0x04, "issuerNameHash")),
          issuerKeyHash: content(der, expect(keyHash, 0x04, "issuerKeyHash")),
          serialHex: Buffer.from(serialBytes).toString("hex"),
        };
      });
    } else if (f.tag === 0xa2) {
      const exts = expect(readTlv(der, f.contentStart, f.end), 0x30, "requestExtensions");
      for (const e of children(der, exts)) {
        const [oid] = children(der, expect(e, 0x30, "Extension"));
        if (decodeOid(content(der, expect(oid, 0x06, "extnID"))) === OID.ocspNonce) nonceExtension = whole(der, e);
      }
    } else throw new DerError(`unexpected field 0x${f.tag.toString(16)} in tbsRequest`);
  }
  if (!certIds || certIds.length === 0) throw new DerError("no requests in OCSPRequest");
  return { certIds, nonceExtension };
}

export function errorResponse(status: number): Uint8Array {
  return Uint8Array.of(0x30, 0x03, 0x0a, 0x01, status);
}

export type SingleStatus =
  | { kind: "good" }
  | { kind: "unknown" }
  | { kind: "revoked"; at: number; reason: number | null };

export interface SingleResponse {
  certId: Uint8Array;
  status: SingleStatus;
  thisUpdate: number;
  nextUpdate: number;
}

export interface ResponderIdentity {
  signer: Signer;
  certificate: Uint8Array;
}

/** Builds and signs a successful OCSPResponse. */
export function buildOcspResponse(
  responder: ResponderIdentity,
  producedAt: number,
  responses: SingleResponse[],
  nonceExtension?: Uint8Array,
): Uint8Array {
  const w = new DerWriter(1024);
  w.begin(0x30); // BasicOCSPResponse
  const tbsStart = w.length;
  w.begin(0x30); // ResponseData
  w.begin(0xa2).octetString(responderKeyHash(responder)).end(); // responderID byKey
  w.generalizedTime(producedAt);
  w.begin(0x30);
  for (const r of responses) {
    w.begin(0x30).raw(r.certId);
    if (r.status.kind === "good") w.primitive(0x80, new Uint8Array(0));
    else if (r.status.kind === "unknown") w.primitive(0x82, new Uint8Array(0));
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
  if (nonceExtension) w.begin(0xa1).begin(0x30).raw(nonceExtension).end().end();
  w.end();
  const sig = responder.signer.sign(w.slice(tbsStart, w.length));
  w.raw(responder.signer.algorithm).bitString(sig);
  w.begin(0xa0).begin(0x30).raw(responder.certificate).end().end();
  w.end();
  const basic = w.finish();

  const out = new DerWriter(basic.length + 64).begin(0x30).enumerated(OcspStatus.successful);
  out.begin(0xa0).begin(0x30).oid(OID.ocspBasic).octetString(basic).end().end();
  return new Uint8Array(out.end().finish());
}

const keyHashCache = new WeakMap<Uint8Array, Uint8Array>();

function responderKeyHash(r: ResponderIdentity): Uint8Array {
  let h = keyHashCache.get(r.signer.spki);
  if (!h) {
    h = new Uint8Array(createHash("sha1").update(subjectPublicKeyBits(r.signer.spki)).digest());
    keyHashCache.set(r.signer.spki, h);
  }
  return h;
}

/** The issuer hashes a CertID may carry for our issuing CA, per supported hash algorithm. */
export function issuerHashes(issuerName: Uint8Array, issuerSpki: Uint8Array): Map<string, { name: Buffer; key: Buffer }> {
  const bits = subjectPublicKeyBits(issuerSpki);
  const m = new Map<string, { name: Buffer; key: Buffer }>();
  for (const [oid, alg] of [
    [OID.sha1, "sha1"],
    [OID.sha256, "sha256"],
  ] as const) {
    m.set(oid, { name: createHash(alg).update(issuerName).digest(), key: createHash(alg).update(bits).digest() });
  }
  return m;
}

/**
 * Reads back the certStatus of each SingleResponse (no signature check): for
 * load tests and benchmarks that only need to know what the responder said.
 */
export function readOcspStatuses(der: Uint8Array): { responseStatus: number; statuses: Array<"good" | "revoked" | "unknown"> } {
  const top = readWhole(der, 0x30);
  const [st, rb] = children(der, top);
  const responseStatus = content(der, expect(st, 0x0a, "responseStatus"))[0];
  if (!rb) return { responseStatus, statuses: [] };
  const bytes = expect(readTlv(der, rb.contentStart, rb.end), 0x30, "ResponseBytes");
  const [, octets] = children(der, bytes);
  const basicDer = content(der, expect(octets, 0x04, "response"));
  const basic = readWhole(basicDer, 0x30);
  const tbs = readTlv(basicDer, basic.contentStart, basic.end);
  const responses = children(basicDer, tbs).find((f, i) => f.tag === 0x30 && i > 0);
  const statuses = children(basicDer, expect(responses, 0x30, "responses")).map((single) => {
    const tag = children(basicDer, single)[1]?.tag;
    return tag === 0x80 ? "good" : tag === 0xa1 ? "revoked" : "unknown";
  });
  return { responseStatus, statuses };
}

/** A minimal OCSPRequest (SHA-1 CertID, as RFC 6960 clients send), optionally with a nonce. */
export function buildOcspRequest(issuerName: Uint8Array, issuerSpki: Uint8Array, serialHex: string, nonce?: Uint8Array): Uint8Array {
  const h = issuerHashes(issuerName, issuerSpki).get(OID.sha1)!;
  const w = new DerWriter(160).begin(0x30).begin(0x30);
  w.begin(0x30).begin(0x30).begin(0x30); // requestList / Request / CertID
  w.begin(0x30).oid(OID.sha1).null().end();
  w.octetString(h.name).octetString(h.key).integer(Buffer.from(serialHex, "hex"));
  w.end().end().end();
  if (nonce) {
    w.begin(0xa2).begin(0x30).begin(0x30).oid(OID.ocspNonce);
    w.octetString(new DerWriter(nonce.length + 2).octetString(nonce).finish());
    w.end().end().end();
  }
  return new Uint8Array(w.end().end().finish());
}
