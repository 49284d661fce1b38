import test from "ava";
import fc from "fast-check";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Owner, tempDir } from "../harness/processes.js";
import { runOpenssl } from "../test/support/pki-tools.js";
import { encodeOcspRequest, encodePem, extension, nonceExtension, parseOcspRequest } from "../pki/index.js";
import { buildCert, buildCrl, buildOcsp, integer, name, newKey, tlv } from "../pki/testing/builder.js";
import { breakSignature, buildOcspRequest, makeCsr, normSerial, ocspRequestSerials, ocspSignedBy, parseCrl, parseOcspResponse, stripOcspNonce } from "./pkix.js";
import { MALFORMED_REQUEST } from "./adapters/loopback-http.js";

/** A CA made with pki's test builder, for the tests that need no openssl. */
const NOW = Date.UTC(2026, 3, 1);
const caKey = newKey("p256");
const caName = name(["CN", "pkix test CA"]);
const caSpec = { serial: 1, issuer: caName, subject: caName, notBefore: NOW - 86_400_000, notAfter: NOW + 86_400_000, subjectKey: caKey, issuerKey: caKey, ca: true };
const caCert = buildCert(caSpec);

test("normSerial compares serials as integers", (t) => {
  fc.assert(
    fc.property(fc.bigInt({ min: 1n, max: (1n << 159n) - 1n }), fc.nat({ max: 4 }), (n, pad) => {
      const hex = n.toString(16);
      return normSerial("0".repeat(pad) + hex.toUpperCase()) === hex && normSerial(hex.replace(/(..)/g, "$1:")) === hex;
    }),
  );
  t.is(normSerial(""), "0");
});

// openssl runs in a process group the test owns (stopped however the test ends) and writes into a
// directory removed when it ends: a hung openssl fails its test, and no run leaves files behind.
const dirs: string[] = [];
const opensslDir = (t: Owner): string => {
  const dir = tempDir(t, "pkix");
  dirs.push(dir);
  return dir;
};
test.after.always("the openssl tests' directories are gone once they have ended", (t) => {
  for (const dir of dirs) t.false(existsSync(dir), dir);
});

test("an OCSP request names the serials asked, carries the nonce, and loses it when stripped", async (t) => {
  const dir = opensslDir(t);
  const key = join(dir, "k.pem");
  const ca = join(dir, "ca.pem");
  const made = await runOpenssl(t, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", ca, "-subj", "/CN=t", "-days", "1"]);
  t.is(made.code, 0, made.stderr);
  const issuer = readFileSync(ca, "utf8");
  const serials = ["0a1b2c", "ff00ff00ff00ff00", "1"];
  const req = buildOcspRequest(issuer, serials, new Uint8Array([1, 2, 3, 4]));
  t.deepEqual(ocspRequestSerials(req), ["a1b2c", "ff00ff00ff00ff00", "1"]);
  // the openssl CLI reads what we build
  const file = join(dir, "req.der");
  writeFileSync(file, req);
  const text = await runOpenssl(t, ["ocsp", "-reqin", file, "-req_text"]);
  t.is(text.code, 0, text.stderr);
  t.regex(text.stdout, /Serial Number: FF00FF00FF00FF00/);
  t.regex(text.stdout, /OCSP Nonce/);
  writeFileSync(file, stripOcspNonce(req));
  const stripped = await runOpenssl(t, ["ocsp", "-reqin", file, "-req_text"]);
  t.is(stripped.code, 0, stripped.stderr);
  t.notRegex(stripped.stdout, /OCSP Nonce/);
});

test("a malformedRequest response parses as such; a broken CSR no longer verifies", async (t) => {
  t.is(parseOcspResponse(MALFORMED_REQUEST).responseStatusName, "malformedRequest");
  const csr = await makeCsr("X");
  const dir = opensslDir(t);
  writeFileSync(join(dir, "good.csr"), csr.pem);
  writeFileSync(join(dir, "bad.csr"), breakSignature(csr.pem));
  // openssl 3.0 exits 0 either way: its verdict is in the text
  const verdict = async (f: string) => (await runOpenssl(t, ["req", "-in", join(dir, f), "-verify", "-noout"])).stderr;
  t.regex(await verdict("good.csr"), /verify OK/);
  t.regex(await verdict("bad.csr"), /verify failure/);
});

test("stripOcspNonce drops the nonce and keeps every other request extension, in order", (t) => {
  const ids = parseOcspRequest(buildOcspRequest(encodePem(caCert, "CERTIFICATE"), ["0abc"])).certIds.map((c) => c.der);
  const other = extension("1.3.6.1.5.5.7.48.1.4", false, (w) => w.null());
  const later = extension("1.3.6.1.5.5.7.48.1.6", false, (w) => w.null());
  const stripped = parseOcspRequest(stripOcspNonce(encodeOcspRequest(ids, [other, nonceExtension(Uint8Array.of(1, 2)), later])));
  t.is(stripped.nonceExtension, undefined);
  t.deepEqual(stripped.extensions.map((e) => Buffer.from(e)), [Buffer.from(other), Buffer.from(later)]);
});

test("parseCrl: the CRL number from pki's view; none, or a malformed one, is undefined", (t) => {
  const crl = (over: Partial<Parameters<typeof buildCrl>[0]>) => parseCrl(buildCrl({ issuer: caName, issuerKey: caKey, thisUpdate: NOW, entries: [], ...over }));
  t.is(crl({ crlNumber: 7 }).number, 7n);
  t.is(crl({ crlNumber: null }).number, undefined);
  t.is(crl({ crlNumber: null, extra: [{ oid: "2.5.29.20", value: integer(1n << 160n) }] }).number, 1n << 160n, "too long for RFC 5280, still read: CRL-NUMBER judges it");
  t.is(crl({ crlNumber: null, extra: [{ oid: "2.5.29.20", value: tlv(0x04, Uint8Array.of(1)) }] }).number, undefined);
});

test("parseOcspResponse: the nonce unwrapped (or bare), the signature checked with the view's algorithm", (t) => {
  const single = { issuerName: caName, issuerKey: caKey, serial: 5, status: "good" as const, thisUpdate: NOW };
  const nonce = Uint8Array.of(0xab, 0xcd, 0xef);
  const wrapped = parseOcspResponse(buildOcsp({ responderName: caName, signer: caKey, producedAt: NOW, responses: [single], nonce }));
  t.is(wrapped.nonce, "abcdef");
  t.is(wrapped.responseStatusName, "successful");
  t.is(wrapped.responderByName, "CN=pkix test CA");
  t.true(ocspSignedBy(wrapped, encodePem(caCert, "CERTIFICATE")));
  t.false(ocspSignedBy(wrapped, encodePem(buildCert({ ...caSpec, subjectKey: newKey("p256") }), "CERTIFICATE")));
  t.is(parseOcspResponse(buildOcsp({ responderName: caName, signer: caKey, producedAt: NOW, responses: [single], nonce, bareNonce: true })).nonce, "abcdef");
  t.is(parseOcspResponse(buildOcsp({ responderName: caName, signer: caKey, producedAt: NOW, responses: [single] })).nonce, undefined);
  t.false(ocspSignedBy(parseOcspResponse(MALFORMED_REQUEST), encodePem(caCert, "CERTIFICATE")));
});
