import { DerReader, Tag, checkMinimalInteger, ctxPrim, decodeOid, decodeSmallInt, readOne } from "./der.js";
import { DecodeError } from "./errors.js";

/**
 * Decoders of the policy extensions (RFC 5280 4.2.1.4, 4.2.1.5, 4.2.1.11, 4.2.1.14).
 * What they decode is what policy processing reads; qualifiers are walked for
 * structure and otherwise ignored (6.1.3 (d) leaves them to the application).
 */

export interface PolicyMapping {
  issuerDomainPolicy: string;
  subjectDomainPolicy: string;
}

export interface PolicyConstraints {
  requireExplicitPolicy?: number;
  inhibitPolicyMapping?: number;
}

/** certificatePolicies: the policy OIDs in order. SIZE (1..MAX); a repeated OID is left to the profile check (4.2.1.4). */
export function decodeCertificatePolicies(value: Uint8Array): string[] {
  const r = DerReader.of(value, readOne(value, Tag.Sequence, "CertificatePolicies"));
  if (r.atEnd()) throw new DecodeError("CertificatePolicies: empty (SIZE (1..MAX))", 0);
  const out: string[] = [];
  while (!r.atEnd()) {
    const info = r.enter(Tag.Sequence, "PolicyInformation");
    out.push(decodeOid(value, info.expect(Tag.Oid, "policyIdentifier")));
    const q = info.optional(Tag.Sequence);
    if (q) {
      const qr = DerReader.of(value, q);
      if (qr.atEnd()) throw new DecodeError("policyQualifiers: empty (SIZE (1..MAX))", q.start);
      while (!qr.atEnd()) {
        const pq = qr.enter(Tag.Sequence, "PolicyQualifierInfo");
        pq.expect(Tag.Oid, "policyQualifierId");
        if (!pq.atEnd()) pq.read();
        pq.done("PolicyQualifierInfo");
      }
    }
    info.done("PolicyInformation");
  }
  return out;
}

/** policyMappings: SEQUENCE SIZE (1..MAX) OF { issuerDomainPolicy, subjectDomainPolicy }. */
export function decodePolicyMappings(value: Uint8Array): PolicyMapping[] {
  const r = DerReader.of(value, readOne(value, Tag.Sequence, "PolicyMappings"));
  if (r.atEnd()) throw new DecodeError("PolicyMappings: empty (SIZE (1..MAX))", 0);
  const out: PolicyMapping[] = [];
  while (!r.atEnd()) {
    const m = r.enter(Tag.Sequence, "PolicyMapping");
    const issuerDomainPolicy = decodeOid(value, m.expect(Tag.Oid, "issuerDomainPolicy"));
    const subjectDomainPolicy = decodeOid(value, m.expect(Tag.Oid, "subjectDomainPolicy"));
    m.done("PolicyMapping");
    out.push({ issuerDomainPolicy, subjectDomainPolicy });
  }
  return out;
}

/** policyConstraints: [0] requireExplicitPolicy, [1] inhibitPolicyMapping; "MUST NOT issue ... an empty sequence" (4.2.1.11). */
export function decodePolicyConstraints(value: Uint8Array): PolicyConstraints {
  const r = DerReader.of(value, readOne(value, Tag.Sequence, "PolicyConstraints"));
  if (r.atEnd()) throw new DecodeError("PolicyConstraints: empty (at least one field is required)", 0);
  const out: PolicyConstraints = {};
  const a = r.optional(ctxPrim(0));
  if (a) out.requireExplicitPolicy = skipCerts(value, a);
  const b = r.optional(ctxPrim(1));
  if (b) out.inhibitPolicyMapping = skipCerts(value, b);
  r.done("PolicyConstraints");
  return out;
}

/** inhibitAnyPolicy: SkipCerts INTEGER (0..MAX). */
export function decodeInhibitAnyPolicy(value: Uint8Array): number {
  return skipCerts(value, readOne(value, Tag.Integer, "InhibitAnyPolicy"));
}

/** SkipCerts ::= INTEGER (0..MAX) (minimal, not negative); a count beyond any path is as good as infinite, so large values are capped. */
function skipCerts(buf: Uint8Array, t: { tag: number; start: number; valueStart: number; end: number }): number {
  if (t.end - t.valueStart > 6) {
    checkMinimalInteger(buf, t);
    if (buf[t.valueStart] & 0x80) throw new DecodeError("SkipCerts: negative", t.start);
    return Number.MAX_SAFE_INTEGER;
  }
  return decodeSmallInt(buf, t);
}
