import "reflect-metadata";
import test from "ava";
import fc from "fast-check";
import { createHash, createPublicKey, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import * as pkijs from "pkijs";
import { generateEcKeyPair } from "../../core/index.js";
import { CertificationRequest } from "../csr.js";
import { Certificate } from "../certificate.js";
import { Crl } from "../crl.js";
import { DecodeError } from "../errors.js";
import { OcspResponse, OcspStatus } from "../ocsp.js";
import { parseOcspRequest } from "../ocsp-request.js";
import { KeyUsage, OID, KU } from "../oids.js";
import { decodePem, encodePem, pemToDer } from "../pem.js";
import { publicKeyOf, verifySignature } from "../signed-data.js";
import { buildCertificate, encodeName, ext, extension } from "./certificate.js";
import { buildCrl } from "./crl.js";
import { buildCsr } from "./csr.js";
import { keyIdentifier, softwareSigningKey, subjectPublicKeyBits } from "./keys.js";
import { buildOcspRequest, encodeOcspRequest, nonceExtension } from "./ocsp-request.js";
import { buildOcspResponse, errorResponse, issuerHashes } from "./ocsp-response.js";

/** pki's builders against pki's readers (round trip) and against @peculiar/x509 / pkijs (independent second opinions). */

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
pkijs.setEngine("node", new pkijs.CryptoEngine({ name: "node", crypto: webcrypto as unknown as ConstructorParameters<typeof pkijs.CryptoEngine>[0]["crypto"] }));

const T0 = Date.UTC(2026, 2, 1, 10, 0, 0);
const DAY = 86_400_000;
const caKey = softwareSigningKey(generateEcKeyPair("P-256").privateKey);
const leafKey = softwareSigningKey(generateEcKeyPair("P-256").privateKey);
const caName = encodeName([[OID.commonName, "Builder CA"], [OID.organization, "cardloop"], [OID.country, "FR"]]);
const caCert = buildCertificate(
  { serial: Uint8Array.of(1), issuer: caName, subject: caName, notBefore: T0 - DAY, notAfter: T0 + 3650 * DAY, spki: caKey.spki, extensions: [ext.basicConstraints(true, 0), ext.keyUsage([KU.keyCertSign, KU.cRLSign]), ext.subjectKeyIdentifier(keyIdentifier(caKey.spki))] },
  caKey,
);
const leafName = encodeName([[OID.commonName, "Zoë Holder"], [OID.serialNumber, "NID-7", "printable"], [OID.emailAddress, "zoe@example.org", "ia5"]]);
const leafSerial = Buffer.from("80a1b2c3d4e5f60718293a4b5c6d7e8f", "hex"); // high bit set: the writer adds a sign octet
const leafCert = buildCertificate(
  {
    serial: leafSerial,
    issuer: caName,
    subject: leafName,
    notBefore: T0,
    notAfter: Date.UTC(2051, 0, 1), // GeneralizedTime from 2050
    spki: leafKey.spki,
    extensions: [
      ext.keyUsage([KU.digitalSignature, KU.nonRepudiation]),
      ext.extKeyUsage([OID.kpClientAuth]),
      ext.subjectKeyIdentifier(keyIdentifier(leafKey.spki)),
      ext.authorityKeyIdentifier(keyIdentifier(caKey.spki)),
      ext.ocspAccess("http://127.0.0.1:8440/ocsp"),
      ext.crlDistributionPoint("http://127.0.0.1:8440/crl"),
      ext.emailAltName("zoe@example.org"),
    ],
  },
  caKey,
);

test("a built certificate reads back with pki's view, and its signature verifies", (t) => {
  const c = new Certificate(leafCert);
  t.is(c.version, 3);
  t.is(c.serial, "00" + leafSerial.toString("hex"));
  t.is(c.notBefore, T0);
  t.is(c.notAfter, Date.UTC(2051, 0, 1));
  t.is(c.issuer.display, "CN=Builder CA, O=cardloop, C=FR");
  t.is(c.subject.display, "CN=Zoë Holder, serialNumber=NID-7, emailAddress=zoe@example.org");
  t.is(c.keyUsage, KeyUsage.digitalSignature | KeyUsage.nonRepudiation);
  t.true(c.extensions.get(OID.keyUsage)!.critical);
  t.deepEqual(c.extKeyUsage, [OID.kpClientAuth]);
  t.is(c.subjectKeyId, Buffer.from(keyIdentifier(leafKey.spki)).toString("hex"));
  t.is(c.authorityKeyId?.keyId, new Certificate(caCert).subjectKeyId);
  t.deepEqual(c.authorityInfoAccess.ocsp, ["http://127.0.0.1:8440/ocsp"]);
  t.deepEqual(c.crlDistributionPoints, ["http://127.0.0.1:8440/crl"]);
  t.deepEqual(Buffer.from(c.spki), Buffer.from(leafKey.spki));
  t.deepEqual(c.basicConstraints, undefined);
  t.deepEqual(new Certificate(caCert).basicConstraints, { ca: true, pathLen: 0 });
  t.is(verifySignature(publicKeyOf(caKey.spki), c.signatureAlgorithm, c.tbs, c.signature), "ok");
});

test("second opinion: @peculiar/x509 reads the same certificate and verifies it", async (t) => {
  const c = new x509.X509Certificate(leafCert);
  t.is(c.serialNumber.toLowerCase(), leafSerial.toString("hex")); // @peculiar/x509 drops the sign octet
  t.is(c.notAfter.getTime(), Date.UTC(2051, 0, 1));
  t.regex(c.subject, /CN=Zoë Holder/);
  t.regex(c.issuer, /CN=Builder CA/);
  t.true(c.getExtension(x509.KeyUsagesExtension)!.critical);
  t.deepEqual([...c.getExtension(x509.ExtendedKeyUsageExtension)!.usages].map(String), [OID.kpClientAuth]);
  t.deepEqual(c.getExtension(x509.CRLDistributionPointsExtension)!.distributionPoints[0].distributionPoint!.fullName![0].uniformResourceIdentifier, "http://127.0.0.1:8440/crl");
  t.true(await c.verify({ publicKey: new x509.X509Certificate(caCert).publicKey, signatureOnly: true }));
});

test("a built CRL reads back with pki's view (reason codes as carried), and @peculiar/x509 agrees", async (t) => {
  const entries: Array<[string, number, number | null]> = [
    ["0abc", T0 - DAY, 1],
    ["80ff", T0 - 2 * DAY, 0],
    ["1234", T0, null],
  ];
  const der = buildCrl({ issuerName: caName, issuerKeyId: keyIdentifier(caKey.spki), signer: caKey, crlNumber: 7n, thisUpdate: T0, nextUpdate: T0 + DAY, entries });
  const crl = new Crl(der);
  t.is(crl.thisUpdate, T0);
  t.is(crl.nextUpdate, T0 + DAY);
  t.is(crl.issuer.display, "CN=Builder CA, O=cardloop, C=FR");
  t.is(crl.authorityKeyId?.keyId, Buffer.from(keyIdentifier(caKey.spki)).toString("hex"));
  t.is(crl.crlNumber, 7n);
  const got = [...crl.entries()].map((e) => [e.serial, e.revocationDate, e.reasonCode ?? null, e.reason]);
  t.deepEqual(got, [
    ["0abc", T0 - DAY, 1, "keyCompromise"],
    ["0080ff", T0 - 2 * DAY, null, "unspecified"],
    ["1234", T0, null, "unspecified"],
  ]);
  t.is(verifySignature(publicKeyOf(caKey.spki), crl.signatureAlgorithm, crl.tbs, crl.signature), "ok");
  const other = new x509.X509Crl(der);
  t.is(other.entries.length, 3);
  t.is(other.entries[0].reason, 1);
  t.true(await other.verify({ publicKey: await new x509.X509Certificate(caCert).publicKey.export() }));
});

test("an OCSP request round-trips through pki's reader, and pkijs reads the same serials and nonce", (t) => {
  const ca = new Certificate(caCert);
  const nonce = Uint8Array.from({ length: 16 }, (_, i) => i * 7);
  const req = buildOcspRequest(ca, ["0abc", "80:FF", new Uint8Array([0x7f])], nonce);
  const parsed = parseOcspRequest(req);
  t.deepEqual(parsed.certIds.map((c) => c.serialHex), ["0abc", "80ff", "7f"]);
  const h = issuerHashes(ca.subjectDer, ca.spki).get(OID.sha1)!;
  t.true(parsed.certIds.every((c) => c.hashAlgorithm === OID.sha1 && h.name.equals(c.issuerNameHash) && h.key.equals(c.issuerKeyHash)));
  t.truthy(parsed.nonceExtension);
  t.true(Buffer.from(parsed.nonceExtension!).includes(Buffer.from(nonce)));
  t.deepEqual(parsed.extensions.map((e) => Buffer.from(e)), [Buffer.from(parsed.nonceExtension!)]);
  const stripped = parseOcspRequest(encodeOcspRequest(parsed.certIds.map((c) => c.der)));
  t.is(stripped.nonceExtension, undefined);
  t.deepEqual(stripped.extensions, []);
  t.is(stripped.certIds.length, 3);

  const other = pkijs.OCSPRequest.fromBER(req);
  t.deepEqual(
    other.tbsRequest.requestList.map((r) => Buffer.from(r.reqCert.serialNumber.valueBlock.valueHexView).toString("hex")),
    ["0abc", "0080ff", "7f"],
  );
  t.is(other.tbsRequest.requestExtensions?.[0].extnID, OID.ocspNonce);
});

test("a request's other extensions are listed on demand, in order; an extension twice is malformed", (t) => {
  const ids = parseOcspRequest(buildOcspRequest(new Certificate(caCert), ["0abc"])).certIds.map((c) => c.der);
  const nonce = nonceExtension(Uint8Array.of(1, 2, 3, 4));
  const other = extension("1.3.6.1.5.5.7.48.1.4", false, (w) => w.null()); // id-pkix-ocsp-response (acceptable response types)
  const req = parseOcspRequest(encodeOcspRequest(ids, [other, nonce]));
  t.deepEqual(Buffer.from(req.nonceExtension!), Buffer.from(nonce));
  t.deepEqual(req.extensions.map((e) => Buffer.from(e)), [Buffer.from(other), Buffer.from(nonce)]);
  t.is(req.extensions[1], req.nonceExtension!, "the nonce is listed as the very nonceExtension");
  t.is(parseOcspRequest(encodeOcspRequest(ids, [other])).nonceExtension, undefined);
  t.throws(() => parseOcspRequest(encodeOcspRequest(ids, [nonce, other, nonce])), { instanceOf: DecodeError, message: /duplicate extension/ });
  t.throws(() => parseOcspRequest(encodeOcspRequest(ids, [Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x00)])), { instanceOf: DecodeError });
});

test("a request's nonce: the OCTET STRING in its extnValue; a bare one throws DecodeError on reading; critical FALSE encoded is malformed", (t) => {
  const ids = parseOcspRequest(buildOcspRequest(new Certificate(caCert), ["0abc"])).certIds.map((c) => c.der);
  const nonce = nonceExtension(Uint8Array.of(1, 2, 3, 4));
  t.deepEqual(Buffer.from(parseOcspRequest(encodeOcspRequest(ids, [nonce])).nonce!), Buffer.from([1, 2, 3, 4]));
  t.is(parseOcspRequest(encodeOcspRequest(ids)).nonce, undefined);
  // extnValue 04 03 01 02 03 holding the octets bare (no inner OCTET STRING): parsed, but `nonce` refuses it
  const oid = nonce.subarray(2, 2 + 2 + nonce[3]);
  const bare = Uint8Array.from([0x30, oid.length + 5, ...oid, 0x04, 0x03, 0x01, 0x02, 0x03]);
  const parsed = parseOcspRequest(encodeOcspRequest(ids, [bare]));
  t.is(parsed.nonceExtension?.length, bare.length);
  t.throws(() => parsed.nonce, { instanceOf: DecodeError });
  t.throws(() => parseOcspRequest(encodeOcspRequest(ids, [Uint8Array.from([0x30, oid.length + 5, ...oid, 0x04, 0x03, 0x01, 0x01, 0xff])])).nonce, { instanceOf: DecodeError, message: /^nonce: expected tag 0x4/ });
  // a DEFAULT FALSE encoded: the response would echo it, and pki reads responses as DER
  const falseCritical = Uint8Array.from([0x30, nonce[1] + 3, ...oid, 0x01, 0x01, 0x00, ...nonce.subarray(2 + oid.length)]);
  t.throws(() => parseOcspRequest(encodeOcspRequest(ids, [falseCritical])), { instanceOf: DecodeError, message: /critical FALSE encoded/ });
  const trueCritical = Uint8Array.from([0x30, nonce[1] + 3, ...oid, 0x01, 0x01, 0xff, ...nonce.subarray(2 + oid.length)]);
  t.deepEqual(Buffer.from(parseOcspRequest(encodeOcspRequest(ids, [trueCritical])).nonce!), Buffer.from([1, 2, 3, 4]));
});

test("issuerHashes: SHA-1, SHA-256, SHA-384 and SHA-512 of the issuer's Name DER and public key bits", (t) => {
  const ca = new Certificate(caCert);
  const hashes = issuerHashes(ca.subjectDer, ca.spki);
  const algs = [
    [OID.sha1, "sha1"],
    [OID.sha256, "sha256"],
    [OID.sha384, "sha384"],
    [OID.sha512, "sha512"],
  ] as const;
  t.deepEqual([...hashes.keys()], algs.map(([oid]) => oid));
  for (const [oid, alg] of algs) {
    t.true(hashes.get(oid)!.name.equals(createHash(alg).update(ca.subjectDer).digest()), `${alg} name`);
    t.true(hashes.get(oid)!.key.equals(createHash(alg).update(ca.publicKeyBits).digest()), `${alg} key`);
  }
});

test("property: pki's request reader answers any mutation of a request with a parse or a DecodeError, nothing else", (t) => {
  const ca = new Certificate(caCert);
  const seed = buildOcspRequest(ca, ["0abc"], Uint8Array.of(1, 2, 3, 4));
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.nat(seed.length - 1), fc.integer({ min: 0, max: 255 }), (at, byte) => {
        const b = Uint8Array.from(seed);
        b[at] = byte;
        try {
          parseOcspRequest(b);
          return true;
        } catch (err) {
          return err instanceof DecodeError;
        }
      }),
      { numRuns: 500 },
    ),
  );
});

test("a built OCSP response reads back with pki's view and pkijs; the nonce is echoed; error responses are bare", async (t) => {
  const ca = new Certificate(caCert);
  const nonce = Uint8Array.of(9, 8, 7, 6, 5, 4, 3, 2);
  const req = parseOcspRequest(buildOcspRequest(ca, ["0abc", "0def", "0123"], nonce));
  const [a, b, c] = req.certIds;
  const der = buildOcspResponse(
    { signer: caKey, certificate: caCert },
    T0,
    [
      { certId: a.der, status: { kind: "good" }, thisUpdate: T0, nextUpdate: T0 + DAY },
      { certId: b.der, status: { kind: "revoked", at: T0 - DAY, reason: 1 }, thisUpdate: T0, nextUpdate: T0 + DAY },
      { certId: c.der, status: { kind: "unknown" }, thisUpdate: T0, nextUpdate: T0 + DAY },
    ],
    req.nonceExtension,
  );
  const r = new OcspResponse(der);
  t.is(r.status, "successful");
  t.is(r.statusCode, 0);
  t.is(r.producedAt, T0);
  t.deepEqual(r.responses.map((s) => [s.certId.serial, s.status, s.revocationTime, s.revocationReasonCode, s.nextUpdate]), [
    ["0abc", "good", undefined, undefined, T0 + DAY],
    ["0def", "revoked", T0 - DAY, 1, T0 + DAY],
    ["0123", "unknown", undefined, undefined, T0 + DAY],
  ]);
  t.deepEqual(r.responderId, { byKeyHash: createHash("sha1").update(subjectPublicKeyBits(caKey.spki)).digest("hex") });
  t.is(r.nonce, Buffer.from(nonce).toString("hex"), "the view unwraps the nonce's OCTET STRING (RFC 8954)");
  t.deepEqual(Buffer.from(r.certs[0].der), Buffer.from(caCert));
  t.is(verifySignature(publicKeyOf(caKey.spki), r.signatureAlgorithm, r.tbs, r.signature), "ok");

  const other = pkijs.OCSPResponse.fromBER(der);
  t.is(other.responseStatus.valueBlock.valueDec, 0);
  const basic = pkijs.BasicOCSPResponse.fromBER(other.responseBytes!.response.valueBlock.valueHexView);
  t.deepEqual(basic.tbsResponseData.responses.map((s) => (s.certStatus as { idBlock: { tagNumber: number } }).idBlock.tagNumber), [0, 1, 2]);
  t.is(basic.tbsResponseData.producedAt.getTime(), T0);

  t.is(new OcspResponse(errorResponse(OcspStatus.malformedRequest)).status, "malformedRequest");
  t.is(new OcspResponse(errorResponse(OcspStatus.unauthorized)).statusCode, 6);
  t.is(new OcspResponse(errorResponse(4)).status, "status-4", "4 is not a status RFC 6960 defines");
});

test("a nonce echoed without its OCTET STRING wrapping reads as the bare value", (t) => {
  const ca = new Certificate(caCert);
  const nonce = Uint8Array.of(0xca, 0xfe, 0xba, 0xbe);
  const [id] = parseOcspRequest(buildOcspRequest(ca, ["0abc"])).certIds;
  const bare = extension(OID.ocspNonce, false, (w) => w.raw(nonce)); // extnValue is the nonce itself
  const der = buildOcspResponse({ signer: caKey, certificate: caCert }, T0, [{ certId: id.der, status: { kind: "good" }, thisUpdate: T0, nextUpdate: T0 + DAY }], bare);
  t.is(new OcspResponse(der).nonce, "cafebabe");
  const none = buildOcspResponse({ signer: caKey, certificate: caCert }, T0, [{ certId: id.der, status: { kind: "good" }, thisUpdate: T0, nextUpdate: T0 + DAY }]);
  t.is(new OcspResponse(none).nonce, undefined);
});

test("a built CSR verifies with pki's view and with @peculiar/x509; a flipped signature bit does not", async (t) => {
  const der = buildCsr(leafName, leafKey);
  const csr = new CertificationRequest(der);
  t.true(csr.verify());
  t.deepEqual(Buffer.from(csr.spki), Buffer.from(leafKey.spki));
  t.is(csr.subject.display, new Certificate(leafCert).subject.display);
  const other = new x509.Pkcs10CertificateRequest(der);
  t.true(await other.verify());
  t.deepEqual(Buffer.from(other.publicKey.rawData), Buffer.from(leafKey.spki));
  const broken = der.slice();
  broken[broken.length - 2] ^= 1;
  t.false(new CertificationRequest(broken).verify());
  t.false(await new x509.Pkcs10CertificateRequest(broken).verify());
  // node's own parser (a third opinion) sees the same key
  t.is(createPublicKey({ key: Buffer.from(csr.spki), format: "der", type: "spki" }).asymmetricKeyType, "ec");
});

test("PEM: pki's writer and reader round-trip any bytes, in 64-column lines; @peculiar/x509 reads pki's PEM", (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fc.constantFrom("CERTIFICATE", "X509 CRL", "CERTIFICATE REQUEST"), (bytes, label) => {
      const pem = encodePem(bytes, label);
      const lines = pem.trimEnd().split("\n");
      return (
        Buffer.from(pemToDer(pem, label)).equals(Buffer.from(bytes)) &&
        lines[0] === `-----BEGIN ${label}-----` &&
        lines.at(-1) === `-----END ${label}-----` &&
        lines.slice(1, -1).every((l) => l.length <= 64) &&
        pem.endsWith("\n")
      );
    }),
  );
  const chain = encodePem(leafCert, "CERTIFICATE") + encodePem(caCert, "CERTIFICATE");
  t.is(decodePem(chain, "CERTIFICATE").length, 2);
  t.deepEqual(Buffer.from(pemToDer(chain)), Buffer.from(leafCert));
  t.throws(() => pemToDer("no pem here"), { instanceOf: DecodeError });
  t.is(new x509.X509Certificate(encodePem(caCert, "CERTIFICATE")).subject, new x509.X509Certificate(caCert).subject);
});
