import "reflect-metadata";
import test from "ava";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import * as pkijs from "pkijs";
import { VirtualClock } from "../../core/index.js";
import { CaError } from "../../simulator/ca/index.js";
import { breakSignature, buildOcspRequest, certSignedBy, crlSignedBy, makeCsr, ocspSignedBy, parseCrl, parseOcspResponse, singleFor } from "../pkix.js";
import { InstantCa } from "./instant.js";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const holder = (i: number) => ({ id: `H-${i}`, name: `Holder ${i}`, email: `h${i}@example.org` });

async function issued(n: number, clock = new VirtualClock("2026-03-01T10:00:00Z")) {
  const ca = await InstantCa.create({ clock });
  const csr = await makeCsr("load");
  const raToken = ca.credentials().raToken;
  const certs = [];
  for (let i = 0; i < n; i++) certs.push(await ca.issue({ csrPem: csr.pem, profile: "authentication", holder: holder(i), raToken }));
  return { ca, csr, certs, clock };
}

test("issues real certificates for the CSR's key, signed by its issuing CA, chained to its anchor", async (t) => {
  const { ca, csr, certs } = await issued(3);
  t.teardown(() => ca.close());
  t.is(new Set(certs.map((c) => c.serial)).size, 3, "a fresh serial each time, even for one CSR");
  const [anchor] = await ca.anchors();
  for (const c of certs) {
    t.regex(c.serial, /^[4-7][0-9a-f]{31}$/, "16 octets, positive, no leading zero octet");
    t.true(await certSignedBy(c.certificatePem, c.chainPem[0]));
    t.true(await certSignedBy(c.chainPem[0], anchor));
    t.truthy(c.cancellationCodes?.holder);
    // second opinion: @peculiar/x509 reads the same serial and key, and verifies the signature
    const other = new x509.X509Certificate(c.certificatePem);
    t.is(other.serialNumber.toLowerCase(), c.serial);
    t.is(Buffer.from(other.publicKey.rawData).toString("hex"), csr.spkiHex);
    t.true(await other.verify({ publicKey: new x509.X509Certificate(c.chainPem[0]).publicKey, signatureOnly: true }));
  }
});

test("issuing needs the RA token and a request whose signature verifies", async (t) => {
  const ca = await InstantCa.create();
  t.teardown(() => ca.close());
  const csr = await makeCsr("x");
  const e1 = await t.throwsAsync(ca.issue({ csrPem: csr.pem, profile: "authentication", holder: holder(1) }), { instanceOf: CaError });
  t.is(e1.status, 401);
  const e2 = await t.throwsAsync(ca.issue({ csrPem: csr.pem, profile: "authentication", holder: holder(1), raToken: "wrong" }), { instanceOf: CaError });
  t.is(e2.status, 401);
  const broken = breakSignature(csr.pem);
  const e3 = await t.throwsAsync(ca.issue({ csrPem: broken, profile: "authentication", holder: holder(1), raToken: ca.credentials().raToken }), { instanceOf: CaError });
  t.is(e3.status, 400);
  t.regex(e3.message, /signature/);
});

test("revocation by the holder's code and by the operator; refusals with the embedded CA's statuses", async (t) => {
  const { ca, certs } = await issued(4);
  t.teardown(() => ca.close());
  const [a, b, c] = certs;
  await t.throwsAsync(ca.revoke({ serial: a.serial, reason: "keyCompromise", role: "holder", code: "wrong" }), { instanceOf: CaError, message: /credentials/ });
  const r = await ca.revoke({ serial: a.serial, reason: "keyCompromise", role: "holder", code: a.cancellationCodes!.holder });
  t.deepEqual([r.serial, r.status, r.reason], [a.serial, "revoked", "keyCompromise"]);
  t.is((await t.throwsAsync(ca.revoke({ serial: a.serial, reason: "keyCompromise", role: "holder", code: a.cancellationCodes!.holder }), { instanceOf: CaError })).status, 409);
  t.is((await t.throwsAsync(ca.revoke({ serial: b.serial, reason: "superseded", role: "operator", operatorToken: "nope" }), { instanceOf: CaError })).status, 401);
  await ca.revoke({ serial: b.serial, reason: "superseded", role: "operator", operatorToken: ca.credentials().operatorToken });
  t.is((await t.throwsAsync(ca.revoke({ serial: "01", reason: "superseded", role: "operator", operatorToken: ca.credentials().operatorToken }), { instanceOf: CaError })).status, 404);
  t.is((await t.throwsAsync(ca.revoke({ serial: c.serial, reason: "certificateHold", role: "holder", code: c.cancellationCodes!.holder }), { instanceOf: CaError })).status, 400);
  t.is((await ca.status(a.serial)).status, "revoked");
  t.is((await ca.status(c.serial)).status, "good");
  t.is((await ca.status("01")).status, "unknown");
});

test("bulk revocation: one operator call, unknown and already revoked serials listed, not errors", async (t) => {
  const { ca, certs } = await issued(5);
  t.teardown(() => ca.close());
  const token = ca.credentials().operatorToken!;
  await t.throwsAsync(ca.revokeMany(certs.map((c) => c.serial), "cessationOfOperation", "bad"), { instanceOf: CaError });
  await ca.revokeMany([certs[0].serial], "keyCompromise", token);
  const r = await ca.revokeMany([...certs.map((c) => c.serial), "0abc"], "cessationOfOperation", token);
  t.is(r.revoked, 4);
  t.deepEqual(r.unknown, ["0abc"]);
  t.deepEqual(r.alreadyRevoked, [certs[0].serial]);
  t.is((await ca.status(certs[4].serial)).reason, "cessationOfOperation");
});

test("CRL and OCSP round trip: pki's parsers and pkijs / @peculiar/x509 agree on entries, reasons and statuses", async (t) => {
  const { ca, certs } = await issued(4);
  t.teardown(() => ca.close());
  const token = ca.credentials().operatorToken!;
  const issuerPem = certs[0].chainPem[0];
  await ca.revoke({ serial: certs[0].serial, reason: "keyCompromise", role: "operator", operatorToken: token });
  await ca.revokeMany([certs[1].serial], "unspecified", token);

  const der = await ca.crl();
  t.true(await crlSignedBy(der, issuerPem));
  const crl = parseCrl(der);
  t.deepEqual([...crl.entries.keys()].sort(), [certs[0].serial, certs[1].serial].sort());
  t.is(crl.entries.get(certs[0].serial)?.reason, 1);
  t.is(crl.entries.get(certs[1].serial)?.reason, undefined, "unspecified is written without a reasonCode (RFC 5280 5.3.1)");
  const other = new x509.X509Crl(der);
  t.deepEqual(other.entries.map((e) => e.serialNumber.toLowerCase()).sort(), [certs[0].serial, certs[1].serial].sort());
  t.true(await other.verify({ publicKey: new x509.X509Certificate(issuerPem).publicKey }));
  t.is(parseCrl(await ca.crl()).number, crl.number, "nothing revoked since: the same CRL");
  await ca.revoke({ serial: certs[3].serial, reason: "superseded", role: "operator", operatorToken: token });
  const next = parseCrl(await ca.crl());
  t.true(next.number! > crl.number!, "a new CRL number once something was revoked");
  t.is(next.entries.size, 3);

  const asked = [certs[0].serial, certs[1].serial, certs[2].serial, "0abc", certs[3].serial];
  const resp = await ca.ocsp(buildOcspRequest(issuerPem, asked, Uint8Array.of(1, 2, 3, 4)));
  const info = parseOcspResponse(resp);
  t.is(info.responseStatus, 0);
  t.true(ocspSignedBy(info, issuerPem));
  t.is(info.nonce, "01020304");
  t.deepEqual(
    asked.map((s) => [singleFor(info, issuerPem, s)?.status, singleFor(info, issuerPem, s)?.reason]),
    [["revoked", 1], ["revoked", 0], ["good", undefined], ["unknown", undefined], ["revoked", 4]],
  );
  const pk = pkijs.OCSPResponse.fromBER(resp);
  const basic = pkijs.BasicOCSPResponse.fromBER(pk.responseBytes!.response.valueBlock.valueHexView);
  t.deepEqual(
    basic.tbsResponseData.responses.map((s) => (s.certStatus as { idBlock: { tagNumber: number } }).idBlock.tagNumber),
    [1, 1, 0, 2, 1],
    "pkijs reads revoked, revoked, good, unknown, revoked",
  );

  // a CertID naming another issuer is unknown, not good
  const stranger = await InstantCa.create();
  t.teardown(() => stranger.close());
  const foreign = parseOcspResponse(await ca.ocsp(buildOcspRequest((await stranger.anchors())[0], [certs[2].serial])));
  t.is(foreign.responses[0].status, "unknown");
  // garbage is malformedRequest, never a throw
  t.is(parseOcspResponse(await ca.ocsp(Uint8Array.of(0x30, 0x03, 1, 2, 3))).responseStatus, 1);
});

test("a serial in another spelling (upper case, leading zeros, colons) finds the same certificate; answers give it canonical", async (t) => {
  const { ca, certs } = await issued(3);
  t.teardown(() => ca.close());
  const token = ca.credentials().operatorToken!;
  const [a, b, c] = certs;
  const colons = (s: string) => s.toUpperCase().match(/../g)!.join(":");
  const r = await ca.revoke({ serial: "00" + a.serial.toUpperCase(), reason: "superseded", role: "operator", operatorToken: token });
  t.is(r.serial, a.serial);
  const bulk = await ca.revokeMany([colons(b.serial), "00" + a.serial, "0"], "keyCompromise", token);
  t.deepEqual([bulk.revoked, bulk.alreadyRevoked, bulk.unknown], [1, ["00" + a.serial], ["0"]], "listed as the caller spelt them");
  t.deepEqual([(await ca.status(colons(b.serial))).serial, (await ca.status(colons(b.serial))).reason], [b.serial, "keyCompromise"]);
  t.is((await ca.status(c.serial.toUpperCase())).status, "good");
  t.is((await t.throwsAsync(ca.revoke({ serial: "0" + "f".repeat(32), reason: "superseded", role: "operator", operatorToken: token }), { instanceOf: CaError })).status, 404);
});

test("the CRL grows with each revocation, in revocation order, each entry as first written; with none it lists none", async (t) => {
  const { ca, certs, clock } = await issued(6);
  t.teardown(() => ca.close());
  const token = ca.credentials().operatorToken!;
  const issuerPem = certs[0].chainPem[0];
  const empty = await ca.crl();
  t.true(await crlSignedBy(empty, issuerPem));
  t.is(parseCrl(empty).entries.size, 0);
  t.is(new x509.X509Crl(empty).entries.length, 0, "second opinion: no revokedCertificates");
  const reasons = ["keyCompromise", "affiliationChanged", "superseded", "unspecified", "cessationOfOperation", "privilegeWithdrawn"] as const;
  const seen: string[] = [];
  for (let i = 0; i < certs.length; i++) {
    clock.advance(1000);
    await ca.revokeMany([certs[i].serial], reasons[i], token);
    seen.push(certs[i].serial);
    const der = await ca.crl();
    t.true(await crlSignedBy(der, issuerPem));
    const other = new x509.X509Crl(der);
    t.deepEqual(other.entries.map((e) => e.serialNumber.toLowerCase()), seen, "revocation order, nothing lost, nothing doubled");
    t.is(other.entries[i].revocationDate.getTime(), Math.floor(clock.nowMs() / 1000) * 1000);
  }
  const crl = parseCrl(await ca.crl());
  t.deepEqual(
    certs.map((c) => crl.entries.get(c.serial)?.reason),
    [1, 3, 4, undefined, 5, 9],
  );
});

test("revocation times come from the injected clock; the card's expiry caps the certificate", async (t) => {
  const { ca, certs, clock } = await issued(1);
  t.teardown(() => ca.close());
  clock.advance(60_000);
  const r = await ca.revoke({ serial: certs[0].serial, reason: "superseded", role: "operator", operatorToken: ca.credentials().operatorToken });
  t.is(r.revokedAt.getTime(), clock.nowMs());
  const csr = await makeCsr("cap");
  const cardExpiry = new Date(clock.nowMs() + 86_400_000);
  const c = await ca.issue({ csrPem: csr.pem, profile: "signature", holder: holder(9), raToken: ca.credentials().raToken, cardExpiry });
  t.is(c.notAfter.getTime(), cardExpiry.getTime());
  const first = parseCrl(await ca.crl());
  t.is(first.thisUpdate.getTime(), Math.floor(clock.nowMs() / 1000) * 1000);
  clock.advance(13 * 3_600_000);
  const later = parseCrl(await ca.crl());
  t.true(later.thisUpdate > first.thisUpdate, "reissued past half its validity with nothing new");
});

test("a closed CA answers 503", async (t) => {
  const ca = await InstantCa.create();
  await ca.close();
  t.is((await t.throwsAsync(ca.crl(), { instanceOf: CaError })).status, 503);
});
