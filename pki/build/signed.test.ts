import test from "ava";
import { generateEcKeyPair } from "../../core/index.js";
import { Certificate } from "../certificate.js";
import { CertificationRequest } from "../csr.js";
import { OID } from "../oids.js";
import { publicKeyOf, verifySignature } from "../signed-data.js";
import { buildCertificate, encodeName, ext } from "./certificate.js";
import { assembleCsr, csrInfo } from "./csr.js";
import { softwareSigningKey } from "./keys.js";
import { assembleSigned } from "./signed.js";

const key = softwareSigningKey(generateEcKeyPair("P-256").privateKey);
const name = encodeName([[OID.commonName, "Signed CA"]]);
const T0 = Date.UTC(2026, 11, 7);
const spec = { serial: Uint8Array.of(0x42), issuer: name, subject: name, notBefore: T0, notAfter: T0 + 86_400_000, spki: key.spki, extensions: [ext.basicConstraints(true)] };

test("assembleSigned joins a TBS signed elsewhere into buildCertificate's octets, and pki's view verifies it", (t) => {
  // Capture the TBS and a signature the way the CA does (simulator/ca/issuance.ts signs on the thread pool).
  let tbs: Uint8Array | undefined;
  let signature: Uint8Array | undefined;
  const whole = buildCertificate(spec, {
    algorithm: key.algorithm,
    sign: (data) => {
      tbs = Uint8Array.from(data);
      return (signature = key.sign(data));
    },
  });
  const apart = assembleSigned(tbs!, key.algorithm, signature!);
  t.deepEqual(Buffer.from(apart), Buffer.from(whole));
  const c = new Certificate(apart);
  t.deepEqual(Buffer.from(c.tbs), Buffer.from(tbs!));
  t.is(verifySignature(publicKeyOf(key.spki), c.signatureAlgorithm, c.tbs, c.signature), "ok");
});

test("assembleCsr is assembleSigned over a CertificationRequestInfo, and the CSR verifies", (t) => {
  const info = csrInfo(name, key.spki);
  const signature = key.sign(info);
  const csr = assembleCsr(info, key.algorithm, signature);
  t.deepEqual(Buffer.from(csr), Buffer.from(assembleSigned(info, key.algorithm, signature)));
  const parsed = new CertificationRequest(csr);
  t.deepEqual(Buffer.from(parsed.spki), Buffer.from(key.spki));
  t.true(parsed.verify());
});
