import test from "ava";
import fc from "fast-check";
import { DecodeError } from "./errors.js";
import { decodePem, encodePem, splitPem } from "./pem.js";

test("splitPem: one canonical PEM per block, in order, filtered by label; same errors as decodePem", (t) => {
  const a = Uint8Array.from([0x30, 3, 2, 1, 1]);
  const b = Uint8Array.from({ length: 100 }, (_, i) => i);
  const crl = Uint8Array.from([0x30, 0]);
  // A chain as CAs send it: text around the blocks, CRLF, unwrapped base64.
  const unwrapped = `-----BEGIN CERTIFICATE-----\r\n${Buffer.from(b).toString("base64")}\r\n-----END CERTIFICATE-----\r\n`;
  const text = `subject=CN=a\n${encodePem(a, "CERTIFICATE")}${encodePem(crl, "X509 CRL")}junk\n${unwrapped}`;
  t.deepEqual(splitPem(text, "CERTIFICATE"), [encodePem(a, "CERTIFICATE"), encodePem(b, "CERTIFICATE")]);
  t.deepEqual(splitPem(text), [encodePem(a, "CERTIFICATE"), encodePem(crl, "X509 CRL"), encodePem(b, "CERTIFICATE")]);
  t.deepEqual(splitPem("no pem here"), []);
  t.throws(() => splitPem("-----BEGIN CERTIFICATE-----\nAAAA\n"), { instanceOf: DecodeError, message: /without its END/ });
  t.throws(() => splitPem("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"), { instanceOf: DecodeError, message: /bad base64/ });
});

test("property: splitPem of concatenated PEMs gives back each PEM, and decodePem reads each to its bytes", (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 5 }), (ders) => {
        const pems = ders.map((d) => encodePem(d, "CERTIFICATE"));
        const split = splitPem(pems.join(""), "CERTIFICATE");
        return (
          split.length === pems.length &&
          split.every((p, i) => p === pems[i] && decodePem(p, "CERTIFICATE").length === 1 && Buffer.from(decodePem(p)[0]).equals(Buffer.from(ders[i])))
        );
      }),
    ),
  );
});

test("encodePem writes lines of 64 base64 characters (RFC 7468), the last shorter, for any length", (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (der) => {
        const b64 = Buffer.from(der).toString("base64");
        const lines = encodePem(der, "X").split("\n");
        const body = lines.slice(1, -2);
        return (
          lines[0] === "-----BEGIN X-----" &&
          lines.at(-2) === "-----END X-----" &&
          lines.at(-1) === "" &&
          body.join("") === b64 &&
          body.slice(0, -1).every((l) => l.length === 64) &&
          (body.at(-1) ?? "").length <= 64
        );
      }),
    ),
  );
});
