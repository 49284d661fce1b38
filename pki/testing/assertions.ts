import { DerReader, Tag, decodeBoolean, decodeOid, readOne, valueOf } from "../der.js";
import type { ValidationResult } from "../validator.js";
import type { ExtensionSpec } from "./builder.js";

/**
 * Small helpers the validator's tests share (test-only): how a result reads in an
 * assertion, and the production extension encoders (pki/build) as the test builder's
 * `extra`, so that a test never re-encodes an extension the product already writes.
 */

/** "valid", or `code@position` (0 = the leaf): what the table-driven assertions compare. */
export function codeAt(r: ValidationResult): string {
  return r.valid ? "valid" : `${r.code}@${r.position}`;
}

/** codeAt with the detail, for a failure message. */
export function explain(r: ValidationResult): string {
  return r.valid ? "valid" : `${r.code}@${r.position}: ${r.detail}`;
}

/**
 * An Extension's DER (as `ext.*` of pki/build/certificate.ts writes it) as the test
 * builder's ExtensionSpec: its OID, criticality and the octets inside extnValue.
 */
export function extensionSpec(der: Uint8Array): ExtensionSpec {
  const r = DerReader.of(der, readOne(der, Tag.Sequence, "Extension"));
  const oid = decodeOid(der, r.expect(Tag.Oid, "extnID"));
  const flag = r.optional(Tag.Boolean);
  const value = valueOf(der, r.expect(Tag.OctetString, "extnValue")).slice();
  r.done("Extension");
  return { oid, critical: flag ? decodeBoolean(der, flag) : false, value };
}
