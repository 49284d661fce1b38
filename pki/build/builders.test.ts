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
import { NameError } from "./names.js";
import { buildCrl } from "./crl.js";
import { buildCsr } from "./csr.js";
import { keyIdentifier, softwareSigningKey, subjectPublicKeyBits } from "./keys.js";
import { buildOcspRequest, encodeOcspRequest, nonceExtension } from "./ocsp-request.js";
import { buildOcspResponse, errorResponse, issuerHashes } from "./ocsp-response.js";

/**
 * pki's builders against pki's readers (round trip) and against @peculiar/x509 / pkijs (independent second opinions).
 * This file is over 450 lines: one test per builder beside its second opinions, all on the same CA and leaf fixtures.
 */

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

// ---------------------------------------------------------------- name constraints, policies, subjectAltName

const P1 = "2.16.840.1.101.3.2.1.48.1";
const P2 = "2.16.840.1.101.3.2.1.48.2";
const P3 = "2.16.840.1.101.3.2.1.48.3";
const ip = (...b: number[]) => Uint8Array.from(b);
const v6 = (hex: string) => Uint8Array.from(Buffer.from(hex, "hex"));
const constrainedCa = (extensions: Uint8Array[]) =>
  buildCertificate(
    { serial: Uint8Array.of(2), issuer: caName, subject: encodeName([[OID.country, "FR"], [OID.organization, "Acme"], [OID.commonName, "Constrained CA"]]), notBefore: T0 - DAY, notAfter: T0 + 365 * DAY, spki: leafKey.spki, extensions: [ext.basicConstraints(true), ext.keyUsage([KU.keyCertSign]), ext.subjectKeyIdentifier(keyIdentifier(leafKey.spki)), ext.authorityKeyIdentifier(keyIdentifier(caKey.spki)), ...extensions] },
    caKey,
  );
const pkijsCert = (der: Uint8Array) => pkijs.Certificate.fromBER(der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength) as ArrayBuffer);
const pkijsExt = (der: Uint8Array, oid: string) => pkijsCert(der).extensions!.find((e) => e.extnID === oid)!;
/** A pkijs GeneralName as [type number, text]: strings as they are, directoryName by its attribute values, octets in hex. */
const pkijsName = (g: pkijs.GeneralName): [number, string] =>
  g.type === 4
    ? [4, (g.value as pkijs.RelativeDistinguishedNames).typesAndValues.map((tv) => `${tv.type}=${tv.value.valueBlock.value}`).join(",")]
    : g.type === 7
      ? [7, Buffer.from((g.value as { valueBlock: { valueHexView: Uint8Array } }).valueBlock.valueHexView).toString("hex")]
      : [g.type, g.value as string];

const NC = {
  permitted: {
    dNSName: ["example.com", ".example.net"],
    rfc822Name: ["alice@example.com", "example.org", ".example.org"],
    directoryName: [[[OID.country, "FR"], [OID.organization, "Acme"]] as [string, string][]],
    uniformResourceIdentifier: ["www.example.com", ".example.com"],
    iPAddress: [{ address: ip(10, 0, 0, 0), mask: ip(255, 0, 0, 0) }, { address: v6("20010db8" + "00".repeat(12)), mask: v6("ffffffff" + "00".repeat(12)) }],
  },
  excluded: { dNSName: ["bad.example.com"], iPAddress: [{ address: ip(10, 9, 0, 0), mask: ip(255, 255, 0, 0) }] },
};

test("ext.nameConstraints: critical, every form reads back through pki's getter and pkijs", (t) => {
  const der = constrainedCa([ext.nameConstraints(NC)]);
  const c = new Certificate(der);
  t.true(c.extensions.get(OID.nameConstraints)!.critical);
  const nc = c.nameConstraints!;
  const show = (g: (typeof nc.permitted)[number]) =>
    g.type === "directoryName" ? `dir:${g.name.display}` : g.type === "iPAddress" ? `ip:${Buffer.from(g.value).toString("hex")}` : "value" in g && typeof g.value === "string" ? `${g.type}:${g.value}` : g.type;
  t.deepEqual(nc.permitted.map(show), [
    "dNSName:example.com",
    "dNSName:.example.net",
    "rfc822Name:alice@example.com",
    "rfc822Name:example.org",
    "rfc822Name:.example.org",
    "dir:C=FR, O=Acme",
    "uniformResourceIdentifier:www.example.com",
    "uniformResourceIdentifier:.example.com",
    "ip:0a000000ff000000",
    "ip:20010db8000000000000000000000000ffffffff000000000000000000000000",
  ]);
  t.deepEqual(nc.excluded.map(show), ["dNSName:bad.example.com", "ip:0a090000ffff0000"]);

  const e = pkijsExt(der, OID.nameConstraints);
  t.true(e.critical);
  const parsed = e.parsedValue as pkijs.NameConstraints;
  t.deepEqual(parsed.permittedSubtrees!.map((s) => pkijsName(s.base)), [
    [2, "example.com"],
    [2, ".example.net"],
    [1, "alice@example.com"],
    [1, "example.org"],
    [1, ".example.org"],
    [4, "2.5.4.6=FR,2.5.4.10=Acme"],
    [6, "www.example.com"],
    [6, ".example.com"],
    [7, "0a000000ff000000"],
    [7, "20010db8000000000000000000000000ffffffff000000000000000000000000"],
  ]);
  t.deepEqual(parsed.excludedSubtrees!.map((s) => pkijsName(s.base)), [[2, "bad.example.com"], [7, "0a090000ffff0000"]]);
  t.true(parsed.permittedSubtrees!.every((s) => s.maximum === undefined && Number(s.minimum) === 0), "only the base: minimum 0 omitted, maximum absent");
  // only excluded, or only permitted: the other [n] is absent
  t.deepEqual(new Certificate(constrainedCa([ext.nameConstraints({ excluded: { dNSName: ["x.test"] } })])).nameConstraints!.permitted, []);
  t.deepEqual(new Certificate(constrainedCa([ext.nameConstraints({ permitted: { rfc822Name: ["x.test"] } })])).nameConstraints!.excluded, []);
});

test("ext.nameConstraints refuses what RFC 5280 4.2.1.10 does not allow, rather than write it", (t) => {
  t.throws(() => ext.nameConstraints({}), { instanceOf: RangeError, message: /empty/ });
  t.throws(() => ext.nameConstraints({ permitted: {} }), { instanceOf: RangeError, message: /empty/ });
  t.throws(() => ext.nameConstraints({ permitted: { dNSName: ["a.test"] }, excluded: { dNSName: [] } }), { instanceOf: RangeError });
  t.throws(() => ext.nameConstraints({ permitted: { iPAddress: [{ address: ip(10, 0, 0, 0), mask: ip(255, 0, 255, 0) }] } }), { message: /not contiguous/ });
  t.throws(() => ext.nameConstraints({ permitted: { iPAddress: [{ address: ip(10, 1, 0, 0), mask: ip(255, 0, 0, 0) }] } }), { message: /outside the mask/ });
  t.throws(() => ext.nameConstraints({ permitted: { iPAddress: [{ address: ip(10, 0, 0, 0), mask: v6("ff".repeat(16)) }] } }), { message: /4 or 16/ });
  t.throws(() => ext.nameConstraints({ permitted: { dNSName: ["bad host.test"] } }), { instanceOf: NameError });
  t.throws(() => ext.nameConstraints({ permitted: { uniformResourceIdentifier: ["http://a.test/"] } }), { instanceOf: NameError, message: /host or a .domain/ });
  t.throws(() => ext.nameConstraints({ permitted: { rfc822Name: ["@a.test"] } }), { instanceOf: NameError });
});

test("ext.certificatePolicies, policyMappings, policyConstraints, inhibitAnyPolicy read back through pki's getters, pkijs and @peculiar/x509", (t) => {
  const der = constrainedCa([
    ext.certificatePolicies([P1, P2, OID.anyPolicy]),
    ext.policyMappings([[P1, P2], [P2, P3]]),
    ext.policyConstraints({ requireExplicitPolicy: 0, inhibitPolicyMapping: 2 }),
    ext.inhibitAnyPolicy(1),
  ]);
  const c = new Certificate(der);
  t.deepEqual(c.policies, [P1, P2, OID.anyPolicy]);
  t.deepEqual(c.policyMappings, [{ issuerDomainPolicy: P1, subjectDomainPolicy: P2 }, { issuerDomainPolicy: P2, subjectDomainPolicy: P3 }]);
  t.deepEqual(c.policyConstraints, { requireExplicitPolicy: 0, inhibitPolicyMapping: 2 });
  t.is(c.inhibitAnyPolicy, 1);
  const crit = (oid: string) => c.extensions.get(oid)!.critical;
  t.deepEqual([crit(OID.certificatePolicies), crit(OID.policyMappings), crit(OID.policyConstraints), crit(OID.inhibitAnyPolicy)], [false, true, true, true]);
  t.deepEqual(new Certificate(constrainedCa([ext.policyConstraints({ inhibitPolicyMapping: 300 })])).policyConstraints, { inhibitPolicyMapping: 300 });
  t.true(new Certificate(constrainedCa([ext.certificatePolicies([P1], true)])).extensions.get(OID.certificatePolicies)!.critical);
  t.false(new Certificate(constrainedCa([ext.policyMappings([[P1, P3]], false)])).extensions.get(OID.policyMappings)!.critical);

  const policies = pkijsExt(der, OID.certificatePolicies).parsedValue as pkijs.CertificatePolicies;
  t.deepEqual(policies.certificatePolicies.map((p) => p.policyIdentifier), [P1, P2, OID.anyPolicy]);
  const mappings = pkijsExt(der, OID.policyMappings).parsedValue as pkijs.PolicyMappings;
  t.deepEqual(mappings.mappings.map((m) => [m.issuerDomainPolicy, m.subjectDomainPolicy]), [[P1, P2], [P2, P3]]);
  const pc = pkijsExt(der, OID.policyConstraints).parsedValue as pkijs.PolicyConstraints;
  t.deepEqual([pc.requireExplicitPolicy, pc.inhibitPolicyMapping], [0, 2]);
  const inhibit = pkijsExt(der, OID.inhibitAnyPolicy).parsedValue as { valueBlock: { valueDec: number } };
  t.is(inhibit.valueBlock.valueDec, 1);
  t.deepEqual([...new x509.X509Certificate(der).getExtension(x509.CertificatePolicyExtension)!.policies], [P1, P2, OID.anyPolicy]);
});

test("the policy builders refuse what RFC 5280 forbids", (t) => {
  t.throws(() => ext.certificatePolicies([]), { instanceOf: RangeError });
  t.throws(() => ext.certificatePolicies([P1, P1]), { message: /more than once/ });
  t.throws(() => ext.policyMappings([]), { instanceOf: RangeError });
  t.throws(() => ext.policyMappings([[OID.anyPolicy, P1]]), { message: /anyPolicy/ });
  t.throws(() => ext.policyMappings([[P1, OID.anyPolicy]]), { message: /anyPolicy/ });
  t.throws(() => ext.policyConstraints({}), { message: /empty/ });
  t.throws(() => ext.policyConstraints({ requireExplicitPolicy: -1 }), { instanceOf: RangeError });
  t.throws(() => ext.inhibitAnyPolicy(1.5), { instanceOf: RangeError });
});

test("ext.subjectAltName: dNSName, rfc822Name, iPAddress, URI and directoryName entries read back through pki and @peculiar/x509", (t) => {
  const names = [
    { dNSName: "www.example.com" },
    { dNSName: "*.example.net" },
    { rfc822Name: "alice@example.com" },
    { iPAddress: ip(192, 168, 1, 7) },
    { iPAddress: v6("20010db8" + "00".repeat(11) + "01") },
    { uniformResourceIdentifier: "https://www.example.com/x?y=1" },
    { directoryName: [[OID.country, "FR"], [OID.commonName, "Alt Name"]] as [string, string][] },
  ];
  const der = constrainedCa([ext.subjectAltName(names, true)]);
  const c = new Certificate(der);
  t.true(c.extensions.get(OID.subjectAltName)!.critical);
  t.deepEqual(
    c.subjectAltNames.map((g) => (g.type === "directoryName" ? g.name.display : g.type === "iPAddress" ? Buffer.from(g.value).toString("hex") : "value" in g ? g.value : "")),
    ["www.example.com", "*.example.net", "alice@example.com", "c0a80107", "20010db8000000000000000000000001", "https://www.example.com/x?y=1", "C=FR, CN=Alt Name"],
  );
  t.deepEqual(c.emailAltNames, ["alice@example.com"]);
  const other = new x509.X509Certificate(der).getExtension(x509.SubjectAlternativeNameExtension)!;
  t.deepEqual(
    other.names.items.map((n) => [n.type, n.value]),
    [
      ["dns", "www.example.com"],
      ["dns", "*.example.net"],
      ["email", "alice@example.com"],
      ["ip", "192.168.1.7"],
      ["ip", "2001:db8::1"],
      ["url", "https://www.example.com/x?y=1"],
      ["dn", "C=FR, CN=Alt Name"],
    ],
  );
  t.false(new Certificate(constrainedCa([ext.subjectAltName([{ dNSName: "a.test" }])])).extensions.get(OID.subjectAltName)!.critical);
});

test("ext.subjectAltName refuses values that are not of their form", (t) => {
  t.throws(() => ext.subjectAltName([]), { instanceOf: RangeError });
  t.throws(() => ext.subjectAltName([{ dNSName: ".example.com" }]), { instanceOf: NameError });
  t.throws(() => ext.subjectAltName([{ dNSName: "-bad.example" }]), { instanceOf: NameError });
  t.throws(() => ext.subjectAltName([{ rfc822Name: "example.com" }]), { instanceOf: NameError });
  t.throws(() => ext.subjectAltName([{ rfc822Name: "zoë@example.com" }]), { instanceOf: NameError, message: /SmtpUTF8Mailbox/ });
  t.throws(() => ext.subjectAltName([{ uniformResourceIdentifier: "http://a b/" }]), { instanceOf: NameError });
  t.throws(() => ext.subjectAltName([{ iPAddress: ip(1, 2, 3) }]), { message: /4 or 16/ });
  t.throws(() => ext.subjectAltName([{ iPAddress: { address: ip(10, 0, 0, 0), mask: ip(255, 0, 0, 0) } }]), { message: /not a range/ });
});

test("property: any list of generated SAN entries reads back in order through pki and pkijs (long forms included)", (t) => {
  const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/);
  const host = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join("."));
  const entry = fc.oneof(
    host.map((h) => ({ spec: { dNSName: h }, type: 2, text: h })),
    fc.tuple(fc.stringMatching(/^[a-z0-9]{1,12}$/), host).map(([l, h]) => ({ spec: { rfc822Name: `${l}@${h}` }, type: 1, text: `${l}@${h}` })),
    host.map((h) => ({ spec: { uniformResourceIdentifier: `http://${h}/` }, type: 6, text: `http://${h}/` })),
    fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => ({ spec: { iPAddress: b }, type: 7, text: Buffer.from(b).toString("hex") })),
    fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => ({ spec: { iPAddress: b }, type: 7, text: Buffer.from(b).toString("hex") })),
  );
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 40 }), (entries) => {
        const e = ext.subjectAltName(entries.map((x) => x.spec));
        const der = constrainedCa([e]);
        const mine = new Certificate(der).subjectAltNames.map((g) => (g.type === "iPAddress" ? Buffer.from(g.value).toString("hex") : "value" in g ? g.value : ""));
        const theirs = (pkijsExt(der, OID.subjectAltName).parsedValue as pkijs.AltName).altNames.map(pkijsName);
        const want = entries.map((x) => x.text);
        return JSON.stringify(mine) === JSON.stringify(want) && JSON.stringify(theirs) === JSON.stringify(entries.map((x) => [x.type, x.text]));
      }),
      { numRuns: 60 },
    ),
  );
});
