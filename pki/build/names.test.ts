import "reflect-metadata";
import test from "ava";
import fc from "fast-check";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as asn1js from "asn1js";
import { generateEcKeyPair } from "../../core/index.js";
import { Certificate } from "../certificate.js";
import { OID, KU } from "../oids.js";
import { encodePem } from "../pem.js";
import { buildCertificate, encodeName, ext, type NameAttr } from "./certificate.js";
import { softwareSigningKey } from "./keys.js";
import { checkMailbox, NameError } from "./names.js";

/**
 * Defect 10: names encoded as X.509 says. UTF8String for non-ASCII, PrintableString
 * and IA5String only for values in their alphabets, a non-ASCII mailbox as
 * RFC 9598 SmtpUTF8Mailbox (UTF-8, never latin1 bytes), IDNA A-labels for a
 * non-ASCII mail domain in an rfc822Name, no control characters, the X.520
 * upper bounds, NFC. Read back with pki's view, asn1js and real `openssl x509`.
 */

const T = Date.UTC(2026, 2, 1);
const DAY = 86_400_000;
const key = softwareSigningKey(generateEcKeyPair("P-256").privateKey);

function cert(subject: NameAttr[], email?: string): Uint8Array {
  const name = encodeName(subject);
  return buildCertificate(
    { serial: Uint8Array.of(5), issuer: name, subject: name, notBefore: T - DAY, notAfter: T + DAY, spki: key.spki, extensions: [ext.keyUsage([KU.digitalSignature]), ...(email ? [ext.emailAltName(email)] : [])] },
    key,
  );
}

const has = (der: Uint8Array, bytes: number[]) => Buffer.from(der).includes(Buffer.from(bytes));

/** The string types of the subject's attribute values, in order, read with asn1js (an independent reader). */
function subjectTypes(der: Uint8Array): Array<{ type: number; text: string }> {
  const asn = asn1js.fromBER(Uint8Array.from(der).buffer);
  const tbs = (asn.result as asn1js.Sequence).valueBlock.value[0] as asn1js.Sequence;
  const subject = tbs.valueBlock.value[5] as asn1js.Sequence;
  return subject.valueBlock.value.map((rdn) => {
    const atv = (rdn as asn1js.Set).valueBlock.value[0] as asn1js.Sequence;
    const v = atv.valueBlock.value[1] as asn1js.BaseStringBlock;
    return { type: v.idBlock.tagNumber, text: (v as unknown as { getValue(): string }).getValue() };
  });
}

test("a SAN mailbox with a non-ASCII local part is an SmtpUTF8Mailbox in UTF-8, not latin1 bytes; pki and asn1js read it back", (t) => {
  const der = cert([[OID.commonName, "Élodie"]], "élodie@bücher.example");
  const view = new Certificate(der);
  t.deepEqual(view.emailAltNames, ["élodie@bücher.example"], "U-labels in the domain (RFC 9598 section 3)");
  t.true(has(der, [0xc3, 0xa9, 0x6c, 0x6f]), "é as UTF-8 (c3 a9)");
  t.false(has(der, [0xe9, 0x6c, 0x6f, 0x64]), "no latin1 é (e9)");
  t.true(has(der, [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x08, 0x09]), "id-on-SmtpUTF8Mailbox 1.3.6.1.5.5.7.8.9");
  // asn1js: SAN -> [0] otherName { OID, [0] { UTF8String } }
  const ext = view.extensions.get(OID.subjectAltName)!;
  const san = asn1js.fromBER(Uint8Array.from(ext.value).buffer).result as asn1js.Sequence;
  const other = san.valueBlock.value[0] as asn1js.Constructed;
  t.is(other.idBlock.tagClass, 3);
  t.is(other.idBlock.tagNumber, 0);
  t.is((other.valueBlock.value[0] as asn1js.ObjectIdentifier).valueBlock.toString(), "1.3.6.1.5.5.7.8.9");
  const inner = (other.valueBlock.value[1] as asn1js.Constructed).valueBlock.value[0] as asn1js.Utf8String;
  t.is(inner.getValue(), "élodie@bücher.example");
});

test("an ASCII local part with a non-ASCII domain is an rfc822Name with the domain in A-labels (IA5String, ASCII only)", (t) => {
  const der = cert([[OID.commonName, "Carol"]], "carol@bücher.example");
  t.deepEqual(new Certificate(der).emailAltNames, ["carol@xn--bcher-kva.example"]);
  t.deepEqual(checkMailbox("carol@BÜCHER.example"), { form: "rfc822", address: "carol@xn--bcher-kva.example" });
  t.deepEqual(new Certificate(cert([[OID.commonName, "Carol"]], "carol@example.org")).emailAltNames, ["carol@example.org"]);
});

test("refused with NameError: NUL and other control characters in CN and email, a 65-character CN, bad mailboxes, non-ASCII URIs", (t) => {
  const refuses = (f: () => unknown, why: RegExp) => {
    const err = t.throws(f, { instanceOf: NameError });
    t.regex(err?.message ?? "", why);
    t.is(err?.code, "bad-name");
  };
  refuses(() => encodeName([[OID.commonName, "Car\u0000ol"]]), /commonName contains a control character/);
  refuses(() => encodeName([[OID.commonName, "Car\u0085ol"]]), /control character/);
  refuses(() => encodeName([[OID.commonName, "Car\u007fol"]]), /control character/);
  refuses(() => encodeName([[OID.commonName, "x".repeat(65)]]), /commonName is 65 characters long, above the upper bound 64/);
  t.notThrows(() => encodeName([[OID.commonName, "x".repeat(64)]]));
  refuses(() => encodeName([[OID.commonName, "x".repeat(256)]]), /upper bound 64/);
  refuses(() => encodeName([[OID.organization, "o".repeat(65)]]), /organizationName .* upper bound 64/);
  refuses(() => encodeName([[OID.country, "FRA"]]), /countryName/);
  refuses(() => encodeName([[OID.serialNumber, "NID_7"]]), /PrintableString/);
  refuses(() => encodeName([[OID.commonName, "Zoë", "printable"]]), /PrintableString/);
  refuses(() => encodeName([[OID.emailAddress, "zoë@example.org"]]), /ASCII \(IA5String\)/);
  refuses(() => ext.emailAltName("car\u0000ol@example.org"), /email contains a control character/);
  refuses(() => ext.emailAltName("carol"), /not a mailbox/);
  refuses(() => ext.emailAltName("carol@exa mple.org"), /domain/);
  refuses(() => ext.emailAltName(`${"a".repeat(250)}@b.org`), /upper bound 255/);
  refuses(() => ext.ocspAccess("http://ca.exämple/ocsp"), /uniformResourceIdentifier/);
  refuses(() => ext.crlDistributionPoint("http://ca.example/crl\n"), /uniformResourceIdentifier/);
});

test("a requested string type the attribute's syntax does not allow is refused, never written as another type", (t) => {
  const refuses = (attr: NameAttr, why: RegExp) => {
    const err = t.throws(() => encodeName([attr]), { instanceOf: NameError });
    t.regex(err?.message ?? "", why);
  };
  refuses([OID.country, "FR", "utf8"], /countryName cannot be written as UTF8String \(its syntax allows PrintableString\)/);
  refuses([OID.serialNumber, "NID-7", "ia5"], /serialNumber cannot be written as IA5String/);
  refuses([OID.dnQualifier, "q1", "utf8"], /dnQualifier cannot be written as UTF8String/);
  refuses([OID.emailAddress, "zoe@example.org", "utf8"], /emailAddress cannot be written as UTF8String \(its syntax allows IA5String\)/);
  refuses([OID.domainComponent, "example", "printable"], /domainComponent cannot be written as PrintableString/);
  refuses([OID.commonName, "Zoe", "ia5"], /commonName cannot be written as IA5String \(its syntax allows UTF8String or PrintableString\)/);
  refuses([OID.organizationalUnit, "Ops", "ia5"], /organizationalUnitName cannot be written as IA5String/);
  // what the syntax allows is written as asked
  const der = cert([[OID.country, "FR", "printable"], [OID.commonName, "Zoe", "printable"], [OID.domainComponent, "example"], [OID.locality, "Paris"], [OID.emailAddress, "zoe@example.org", "ia5"], ["1.2.3.4", "x", "ia5"]]);
  t.deepEqual(
    subjectTypes(der).map((v) => v.type),
    [19, 19, 22, 12, 22, 22],
  );
  // the X.520 bounds of the attributes named in oids.ts
  refuses([OID.locality, "l".repeat(129)], /localityName is 129 characters long, above the upper bound 128/);
  refuses([OID.title, "t".repeat(65)], /title .* upper bound 64/);
  refuses([OID.emailAddress, "zoe"], /emailAddress is not a mailbox/);
});

test("string types: PrintableString for countryName and serialNumber, IA5String for emailAddress, UTF8String otherwise (asn1js reads them)", (t) => {
  const der = cert([[OID.country, "FR"], [OID.serialNumber, "NID-7"], [OID.commonName, "Zoë Holder"], [OID.organization, "Acme"], [OID.emailAddress, "zoe@example.org"]]);
  t.deepEqual(subjectTypes(der), [
    { type: 19, text: "FR" },
    { type: 19, text: "NID-7" },
    { type: 12, text: "Zoë Holder" },
    { type: 12, text: "Acme" },
    { type: 22, text: "zoe@example.org" },
  ]);
});

test("NFD names come out NFC (one code point for ë, not e + U+0308)", (t) => {
  const der = cert([[OID.commonName, "Zoe\u0308 Me\u0301nard"]], "zoe\u0308@example.org");
  const view = new Certificate(der);
  t.is(view.subject.display, "CN=Zo\u00eb M\u00e9nard");
  t.deepEqual(view.emailAltNames, ["zo\u00eb@example.org"]);
  t.true(has(der, [0x5a, 0x6f, 0xc3, 0xab]), "Zo + ë as c3 ab");
  t.false(has(der, [0xcc, 0x88]), "no combining diaeresis (cc 88)");
});

/** openssl in its own process group, the group killed at teardown. */
function openssl(t: import("ava").ExecutionContext, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn("openssl", args, { detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString("utf8")));
    p.stderr.on("data", (d: Buffer) => (out += d.toString("utf8")));
    const kill = () => {
      try {
        if (p.pid !== undefined) process.kill(-p.pid, "SIGKILL");
      } catch {
        // gone
      }
    };
    const timer = setTimeout(kill, 20_000);
    t.teardown(() => {
      clearTimeout(timer);
      kill();
    });
    p.on("error", reject);
    p.on("close", () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

test("real openssl x509 -text reads the UTF-8 subject and the SmtpUTF8Mailbox / A-label SAN as written", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "pki-names-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const a = join(dir, "a.pem");
  const b = join(dir, "b.pem");
  writeFileSync(a, encodePem(cert([[OID.commonName, "Zoe\u0308 Ménard"], [OID.country, "FR"]], "élodie@bücher.example"), "CERTIFICATE"));
  writeFileSync(b, encodePem(cert([[OID.commonName, "Carol"]], "carol@bücher.example"), "CERTIFICATE"));
  const outA = await openssl(t, ["x509", "-in", a, "-noout", "-text", "-nameopt", "utf8,sep_comma_plus"]);
  t.regex(outA, /Subject: CN=Zoë Ménard,C=FR/, "NFC: ë is one character");
  t.regex(outA, /othername: SmtpUTF8Mailbox:+élodie@bücher\.example/);
  const outB = await openssl(t, ["x509", "-in", b, "-noout", "-ext", "subjectAltName"]);
  t.regex(outB, /email:carol@xn--bcher-kva\.example/);
});

const controlChar = fc.constantFrom(...[...Array.from({ length: 32 }, (_, i) => i), 0x7f, ...Array.from({ length: 32 }, (_, i) => 0x80 + i)].map((c) => String.fromCharCode(c)));

test("property: any NFC-normalisable text without controls up to 64 characters is a CN that reads back as its NFC form; one control character anywhere is a NameError", (t) => {
  const text = fc.string({ minLength: 1, maxLength: 64, unit: "grapheme" }).filter((s) => s.trim() !== "" && !/[\u0000-\u001f\u007f-\u009f]/.test(s) && [...s.normalize("NFC")].length <= 64);
  t.notThrows(() =>
    fc.assert(
      fc.property(text, (s) => {
        const view = new Certificate(cert([[OID.commonName, s]]));
        return view.subject.display === `CN=${s.normalize("NFC")}`;
      }),
      { numRuns: 200 },
    ),
  );
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), controlChar, fc.string({ maxLength: 20 }), (pre, c, post) => {
        try {
          encodeName([[OID.commonName, `x${pre}${c}${post}`]]);
          return false;
        } catch (err) {
          return err instanceof NameError;
        }
      }),
      { numRuns: 200 },
    ),
  );
});
