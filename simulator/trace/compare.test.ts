import test from "ava";
import fc from "fast-check";
import { constants, generateKeyPairSync, privateDecrypt } from "node:crypto";
import { gzipSync } from "node:zlib";
import { p256 } from "@noble/curves/nist.js";
import { encodeTlv, fromHex, generateEcKeyPair } from "../../core/index.js";
import { buildCertificate, encodeName, ext, KU, p256SpkiFromEcPoint, softwareSigningKey } from "../../pki/index.js";
import { CertificateBook, compareExchange, volatileKind } from "./compare.js";
import { certificateInObject } from "./piv-objects.js";
import { certificateFor, getData, signDigest } from "./testing.js";

const ok = (response: Uint8Array) => ({ response, sw: 0x9000 });
const sigAnswer = (sig: Uint8Array) => encodeTlv(0x7c, encodeTlv(0x82, sig));
const certObject = (cert: Uint8Array, gzip = false) =>
  encodeTlv(0x53, [encodeTlv(0x70, gzip ? new Uint8Array(gzipSync(cert)) : cert), encodeTlv(0x71, Uint8Array.of(gzip ? 1 : 0)), encodeTlv(0xfe, new Uint8Array(0))]);

function ecKey() {
  const priv = p256.utils.randomSecretKey();
  const point = p256.getPublicKey(priv, false);
  return { priv, spki: p256SpkiFromEcPoint(point) };
}

const digest = new Uint8Array(32).fill(0x42);
/** Randomised (extra entropy), as a card's ECDSA is: two signatures of one digest differ. */
const sign = (priv: Uint8Array, d = digest) => p256.sign(d, priv, { prehash: false, format: "der", extraEntropy: true });

test("same bytes and status word: same; another status word or other data: diverged", (t) => {
  const cmd = getData(0x5fc102);
  t.is(compareExchange(cmd, ok(fromHex("5301AA")), ok(fromHex("5301AA"))).verdict, "same");
  t.deepEqual(compareExchange(cmd, ok(fromHex("5301AA")), { response: new Uint8Array(0), sw: 0x6a82 }), { verdict: "diverged", reason: "the status word differs" });
  const d = compareExchange(cmd, ok(fromHex("5303340101")), ok(fromHex("5303340102")));
  t.is(d.verdict, "diverged");
  t.deepEqual(d.difference!.path, ["53", "34"]);
});

test("an ECDSA signature is verified with the certificate the trace read for its key, over the digest sent", (t) => {
  const key = ecKey();
  const book = new CertificateBook();
  book.note(getData(0x5fc10a), ok(certObject(certificateFor(key.spki, "Signer"))));
  const cmd = signDigest(0x9c, digest);
  t.is(volatileKind(cmd), "signature");
  const recorded = ok(sigAnswer(sign(key.priv)));
  const good = compareExchange(cmd, recorded, ok(sigAnswer(sign(key.priv))), book);
  t.deepEqual(good, { verdict: "equivalent", reason: "signature verifies with the certificate the trace read for key 9C" });

  const other = ecKey();
  const bad = compareExchange(cmd, recorded, ok(sigAnswer(sign(other.priv))), book);
  t.deepEqual(bad, { verdict: "diverged", reason: "signature does not verify with the certificate the trace read for key 9C" });
  const otherDigest = compareExchange(cmd, recorded, ok(sigAnswer(sign(key.priv, new Uint8Array(32).fill(1)))), book);
  t.is(otherDigest.verdict, "diverged", "a signature over another digest does not verify");

  const noCert = compareExchange(signDigest(0x9a, digest), recorded, ok(sigAnswer(sign(other.priv))), book);
  t.is(noCert.verdict, "equivalent");
  t.regex(noCert.reason!, /no certificate for key 9A: not verified/);

  const malformed = compareExchange(cmd, recorded, ok(sigAnswer(fromHex("3006020101020101ff"))), book);
  t.is(malformed.verdict, "diverged");
  t.regex(malformed.reason!, /not a DER ECDSA-Sig-Value of two P-256 integers/);
  const notTemplate = compareExchange(cmd, recorded, ok(fromHex("9000")), book);
  t.is(notTemplate.verdict, "diverged");
});

test("a gzip-compressed certificate object (71 = 01) is read for the check", (t) => {
  const key = ecKey();
  const cert = certificateFor(key.spki, "Zipped");
  t.deepEqual(certificateInObject(certObject(cert, true)), cert);
  const book = new CertificateBook();
  book.note(getData(0x5fc105), ok(certObject(cert, true)));
  const cmd = signDigest(0x9a, digest);
  t.is(compareExchange(cmd, ok(sigAnswer(sign(key.priv))), ok(sigAnswer(sign(key.priv))), book).verdict, "equivalent");
  t.is(compareExchange(cmd, ok(sigAnswer(sign(key.priv))), ok(sigAnswer(sign(ecKey().priv))), book).verdict, "diverged");
  const junk = new CertificateBook();
  junk.note(getData(0x5fc105), ok(fromHex("5303700100")));
  t.is(junk.get(0x9a), undefined, "what pki cannot read as a certificate is no certificate");
  t.is(certificateInObject(fromHex("53037101FF")), undefined, "an object without 70 holds none");
  t.is(certificateInObject(encodeTlv(0x53, [encodeTlv(0x70, fromHex("00112233")), encodeTlv(0x71, Uint8Array.of(1))])), undefined, "a 71=01 object that is not gzip holds none");
});

test("an RSA signature is a block of the modulus's length whose public operation gives back what was sent", (t) => {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const spki = new Uint8Array(publicKey.export({ format: "der", type: "spki" }));
  const ca = softwareSigningKey(generateEcKeyPair("P-256").privateKey);
  const cert = buildCertificate(
    { serial: Uint8Array.of(7), issuer: encodeName([["2.5.4.3", "CA"]]), subject: encodeName([["2.5.4.3", "RSA"]]), notBefore: Date.UTC(2026, 0, 1), notAfter: Date.UTC(2027, 0, 1), spki, extensions: [ext.keyUsage([KU.digitalSignature])] },
    ca,
  );
  const book = new CertificateBook();
  book.note(getData(0x5fc105), ok(certObject(cert)));
  const block = new Uint8Array(256).fill(0xff);
  block[0] = 0;
  block[1] = 1;
  block[200] = 0;
  block.fill(0x33, 201);
  const raw = (b: Uint8Array) => new Uint8Array(privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, b));
  const body = encodeTlv(0x7c, [encodeTlv(0x82, new Uint8Array(0)), encodeTlv(0x81, block)]);
  const full = Uint8Array.from([0, 0x87, 0x07, 0x9a, 0, body.length >> 8, body.length & 0xff, ...body, 0, 0]);
  t.is(volatileKind(full), "signature");
  const recorded = ok(sigAnswer(raw(block)));
  const other = block.slice();
  other[255] ^= 1;
  t.is(compareExchange(full, recorded, ok(sigAnswer(raw(block))), book).verdict, "same", "raw RSA is deterministic");
  t.is(compareExchange(full, recorded, ok(sigAnswer(raw(other))), book).verdict, "diverged");
  t.regex(compareExchange(full, recorded, ok(sigAnswer(new Uint8Array(128))), book).reason!, /has 128 bytes, not the modulus's 256/);
});

test("generated keys, management-key proofs and GET CHALLENGE answers are compared by structure and length", (t) => {
  const gen = fromHex("0047009A05AC0380011100");
  const point = (fill: number, n = 65) => encodeTlv(0x7f49, encodeTlv(0x86, new Uint8Array(n).fill(fill)));
  t.is(compareExchange(gen, ok(point(1)), ok(point(2))).verdict, "equivalent");
  t.regex(compareExchange(gen, ok(point(1)), ok(point(2, 97))).reason!, /differs in structure: recorded 7F49\{86:65\}, replayed 7F49\{86:97\}/);

  const witness = fromHex("0087039B047C02800000");
  const w = (fill: number) => encodeTlv(0x7c, encodeTlv(0x80, new Uint8Array(8).fill(fill)));
  t.is(compareExchange(witness, ok(w(0xff)), ok(w(1))).verdict, "equivalent", "a masked recorded witness against the card's new one");
  t.is(compareExchange(witness, ok(w(0xff)), ok(encodeTlv(0x7c, encodeTlv(0x80, new Uint8Array(16))))).verdict, "diverged");

  const challenge = fromHex("0084000008");
  t.is(compareExchange(challenge, ok(new Uint8Array(8).fill(1)), ok(new Uint8Array(8).fill(2))).verdict, "equivalent");
  t.is(compareExchange(challenge, ok(new Uint8Array(8)), ok(new Uint8Array(16))).verdict, "diverged");

  // key agreement is deterministic: byte for byte
  const agreement = encodeTlv(0x7c, [encodeTlv(0x82, new Uint8Array(0)), encodeTlv(0x85, new Uint8Array(65).fill(4))]);
  const ecdh = Uint8Array.from([0, 0x87, 0x11, 0x9d, agreement.length, ...agreement, 0]);
  t.is(volatileKind(ecdh), undefined);
  t.is(compareExchange(ecdh, ok(sigAnswer(new Uint8Array(32).fill(1))), ok(sigAnswer(new Uint8Array(32).fill(2)))).verdict, "diverged");
});

test("fuzz: compareExchange never throws, and equal answers are always the same", (t) => {
  const commands = fc.oneof(
    fc.uint8Array({ maxLength: 80 }),
    fc.uint8Array({ minLength: 1, maxLength: 60 }).map((d) => Uint8Array.from([0, 0x87, 0x11, 0x9a, d.length, ...d, 0])),
    fc.uint8Array({ minLength: 1, maxLength: 60 }).map((d) => Uint8Array.from([0, 0x87, 0x03, 0x9b, d.length, ...d, 0])),
    fc.constant(signDigest(0x9a, digest)),
    fc.constant(fromHex("0047009A05AC0380011100")),
  );
  const book = new CertificateBook();
  t.notThrows(() =>
    fc.assert(
      fc.property(commands, fc.uint8Array({ maxLength: 120 }), fc.uint8Array({ maxLength: 120 }), fc.integer({ min: 0, max: 0xffff }), (cmd, a, b, sw) => {
        book.note(cmd, { response: a, sw });
        const same = compareExchange(cmd, { response: a, sw }, { response: a, sw }, book);
        const other = compareExchange(cmd, { response: a, sw }, { response: b, sw }, book);
        return same.verdict === "same" && ["same", "equivalent", "diverged"].includes(other.verdict);
      }),
      { numRuns: 1500 },
    ),
  );
});
