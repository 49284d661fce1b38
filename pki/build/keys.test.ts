import test from "ava";
import { createPublicKey } from "node:crypto";
import { generateEcKeyPair } from "../../core/index.js";
import { DerWriter } from "../der-writer.js";
import { OID } from "../oids.js";
import { p256EcParams, p256SpkiFromEcPoint, subjectPublicKeyBits } from "./keys.js";

/** What a PKCS#11 token (simulator/ca/softhsm.ts) hands over for a P-256 key, turned into what X.509 wants. */
test("a token's CKA_EC_POINT, wrapped in an OCTET STRING (SoftHSM) or bare, gives the key's SPKI", (t) => {
  const { publicKey } = generateEcKeyPair("P-256");
  const spki = new Uint8Array(publicKey.export({ format: "der", type: "spki" }));
  const point = subjectPublicKeyBits(spki);
  t.is(point.length, 65);
  const wrapped = new Uint8Array(new DerWriter(80).octetString(point).finish());
  t.deepEqual(p256SpkiFromEcPoint(wrapped), spki);
  t.deepEqual(p256SpkiFromEcPoint(point), spki);
  t.true(createPublicKey({ key: Buffer.from(p256SpkiFromEcPoint(wrapped)), format: "der", type: "spki" }).equals(publicKey));
  t.throws(() => p256SpkiFromEcPoint(point.subarray(0, 40)), undefined, "neither a point nor an OCTET STRING around one");
});

test("CKA_EC_PARAMS for P-256 is the DER of the prime256v1 OID", (t) => {
  t.is(Buffer.from(p256EcParams()).toString("hex"), "06082a8648ce3d030107");
  t.deepEqual(p256EcParams(), new Uint8Array(new DerWriter(16).oid(OID.prime256v1).finish()));
});
