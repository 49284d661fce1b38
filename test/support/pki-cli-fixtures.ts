import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodePem, ext } from "../../pki/index.js";
import { KU, buildCert, buildCrl, buildOcsp, name, newKey, oid, seq, set, tlv } from "../../pki/testing/builder.js";
import { extensionSpec } from "../../pki/testing/assertions.js";

/**
 * The files test/pki-cli.test.ts runs `cardloop validate` on, written once into `dir`:
 * a root, a CA and leaves (good, revoked, PEM and DER), CRLs and OCSP responses, JSONL
 * batch files; a policy hierarchy with extendedKeyUsage; an expired anchor.
 */

const DAY = 86_400_000;
export const NOW = Date.UTC(2031, 5, 1);
export const AT = new Date(NOW).toISOString();
export const P1 = "2.16.840.1.101.3.2.1.48.1";
export const P2 = "2.16.840.1.101.3.2.1.48.2";
export const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

const pem = (label: string, der: Uint8Array) => encodePem(der, label);

export function writeValidateFixtures(dir: string): void {
  const f = (n: string) => join(dir, n);
  {
    const rootKey = newKey("p256");
    const caKey = newKey("p256");
    const rootName = name(["CN", "CLI Root"]);
    const caName = name(["CN", "CLI CA"]);
    const root = buildCert({ serial: 1, issuer: rootName, subject: rootName, notBefore: NOW - 900 * DAY, notAfter: NOW + 900 * DAY, subjectKey: rootKey, issuerKey: rootKey, ca: true, keyUsage: KU.keyCertSign | KU.cRLSign });
    const ca = buildCert({ serial: 2, issuer: rootName, subject: caName, notBefore: NOW - 800 * DAY, notAfter: NOW + 800 * DAY, subjectKey: caKey, issuerKey: rootKey, ca: true, keyUsage: KU.keyCertSign | KU.cRLSign });
    const leaf = (serial: number) => buildCert({ serial, issuer: caName, subject: name(["CN", `holder ${serial}`]), notBefore: NOW - 10 * DAY, notAfter: NOW + 10 * DAY, subjectKey: newKey("p256"), issuerKey: caKey, keyUsage: KU.nonRepudiation });
    writeFileSync(f("root.der"), root);
    writeFileSync(f("ca.pem"), pem("CERTIFICATE", ca));
    writeFileSync(f("good.pem"), pem("CERTIFICATE", leaf(10)));
    writeFileSync(f("revoked.der"), leaf(11));
    writeFileSync(f("root.crl"), buildCrl({ issuer: rootName, issuerKey: rootKey, thisUpdate: NOW - DAY, nextUpdate: NOW + DAY, entries: [] }));
    writeFileSync(f("ca.crl.pem"), pem("X509 CRL", buildCrl({ issuer: caName, issuerKey: caKey, thisUpdate: NOW - DAY, nextUpdate: NOW + DAY, entries: [{ serial: 11, date: NOW - 2 * DAY, reason: 1 }] })));
    writeFileSync(f("good.ocsp"), buildOcsp({ responderName: caName, signer: caKey, producedAt: NOW, responses: [{ issuerName: caName, issuerKey: caKey, serial: 10, status: "good", thisUpdate: NOW - 3600_000, nextUpdate: NOW + DAY }] }));
    writeFileSync(f("good.ocsp.pem"), pem("OCSP RESPONSE", new Uint8Array(readFileSync(f("good.ocsp")))));
    writeFileSync(f("garbage.pem"), "hello\n");
    writeFileSync(f("ok.jsonl"), [{ id: "a", leaf: "good.pem", intermediates: ["ca.pem"], anchors: ["root.der"], crls: ["root.crl", "ca.crl.pem"], at: AT }].map((x) => JSON.stringify(x)).join("\n") + "\n");
    writeFileSync(
      f("mixed.jsonl"),
      [
        JSON.stringify({ id: "good", leaf: "good.pem", intermediates: ["ca.pem"], anchors: ["root.der"], crls: ["root.crl", "ca.crl.pem"], at: AT, usage: "signature" }),
        JSON.stringify({ id: "revoked", leaf: "revoked.der", intermediates: "ca.pem", anchors: "root.der", crls: ["root.crl", "ca.crl.pem"], at: AT }),
        "{not json",
        JSON.stringify({ id: "missing", leaf: "nope.pem", anchors: ["root.der"], at: AT }),
        JSON.stringify({ id: "auth", leaf: "good.pem", intermediates: ["ca.pem"], anchors: ["root.der"], at: AT, usage: "authentication" }),
        // mistakes that must not turn into a verdict: a misspelt field, impossible or zone-less times, wrong types
        JSON.stringify({ id: "typo", leaf: "good.pem", intermediate: ["ca.pem"], anchors: ["root.der"], at: AT }),
        JSON.stringify({ id: "feb30", leaf: "good.pem", intermediates: ["ca.pem"], anchors: ["root.der"], at: "2031-02-30T00:00:00Z" }),
        JSON.stringify({ id: "local", leaf: "good.pem", intermediates: ["ca.pem"], anchors: ["root.der"], at: "2031-06-01T00:00:00" }),
        JSON.stringify({ id: "numeric-at", leaf: "good.pem", intermediates: ["ca.pem"], anchors: ["root.der"], at: NOW }),
        JSON.stringify({ id: "date-only", leaf: "good.pem", intermediates: ["ca.pem"], anchors: ["root.der"], at: AT.slice(0, 10), usage: "signature" }),
      ].join("\n") + "\n",
    );
  }

  {
    // Root (no policies) -> "Policy CA" (P1, P2) -> a leaf with P1 and extendedKeyUsage clientAuth.
    const rootKey = newKey("p256");
    const caKey = newKey("p256");
    const rootName = name(["CN", "Policy Root"]);
    const caName = name(["CN", "Policy CA"]);
    const policies = (...oids: string[]) => extensionSpec(ext.certificatePolicies(oids));
    const root = buildCert({ serial: 1, issuer: rootName, subject: rootName, notBefore: NOW - 900 * DAY, notAfter: NOW + 900 * DAY, subjectKey: rootKey, issuerKey: rootKey, ca: true, keyUsage: KU.keyCertSign | KU.cRLSign });
    const ca = buildCert({ serial: 2, issuer: rootName, subject: caName, notBefore: NOW - 800 * DAY, notAfter: NOW + 800 * DAY, subjectKey: caKey, issuerKey: rootKey, ca: true, keyUsage: KU.keyCertSign | KU.cRLSign, extra: [policies(P1, P2)] });
    const leaf = (serial: number) => buildCert({ serial, issuer: caName, subject: name(["CN", `policy holder ${serial}`]), notBefore: NOW - 10 * DAY, notAfter: NOW + 10 * DAY, subjectKey: newKey("p256"), issuerKey: caKey, keyUsage: KU.digitalSignature, eku: [CLIENT_AUTH], extra: [policies(P1)] });
    writeFileSync(f("pol-root.pem"), pem("CERTIFICATE", root));
    writeFileSync(f("pol-ca.pem"), pem("CERTIFICATE", ca));
    writeFileSync(f("pol-leaf.pem"), pem("CERTIFICATE", leaf(20)));
    // RFC 5280 4.1.2.2: a serial number must be positive; the strict profile refuses zero, the lenient one lets it be.
    writeFileSync(f("pol-serial0.pem"), pem("CERTIFICATE", leaf(0)));
    // A CA and a leaf that assert anyPolicy: the path is valid for any policy.
    const anyCaKey = newKey("p256");
    const anyCaName = name(["CN", "AnyPolicy CA"]);
    writeFileSync(f("any-ca.pem"), pem("CERTIFICATE", buildCert({ serial: 3, issuer: rootName, subject: anyCaName, notBefore: NOW - 800 * DAY, notAfter: NOW + 800 * DAY, subjectKey: anyCaKey, issuerKey: rootKey, ca: true, keyUsage: KU.keyCertSign | KU.cRLSign, extra: [policies("2.5.29.32.0")] })));
    writeFileSync(f("any-leaf.pem"), pem("CERTIFICATE", buildCert({ serial: 4, issuer: anyCaName, subject: name(["CN", "any holder"]), notBefore: NOW - 10 * DAY, notAfter: NOW + 10 * DAY, subjectKey: newKey("p256"), issuerKey: anyCaKey, keyUsage: KU.digitalSignature, extra: [policies("2.5.29.32.0")] })));
    // An anchor past its notAfter above a CA and leaf that are still valid: only the anchor's own validity is wrong.
    const oldRootKey = newKey("p256");
    const oldRootName = name(["CN", "Expired Root"]);
    const oldCaKey = newKey("p256");
    const oldCaName = name(["CN", "Under Expired Root"]);
    writeFileSync(f("old-root.pem"), pem("CERTIFICATE", buildCert({ serial: 1, issuer: oldRootName, subject: oldRootName, notBefore: NOW - 900 * DAY, notAfter: NOW - DAY, subjectKey: oldRootKey, issuerKey: oldRootKey, ca: true, keyUsage: KU.keyCertSign | KU.cRLSign })));
    writeFileSync(f("old-ca.pem"), pem("CERTIFICATE", buildCert({ serial: 2, issuer: oldRootName, subject: oldCaName, notBefore: NOW - 800 * DAY, notAfter: NOW + 800 * DAY, subjectKey: oldCaKey, issuerKey: oldRootKey, ca: true, keyUsage: KU.keyCertSign | KU.cRLSign })));
    writeFileSync(f("old-leaf.pem"), pem("CERTIFICATE", buildCert({ serial: 3, issuer: oldCaName, subject: name(["CN", "old holder"]), notBefore: NOW - 10 * DAY, notAfter: NOW + 10 * DAY, subjectKey: newKey("p256"), issuerKey: oldCaKey, keyUsage: KU.digitalSignature })));
    const base = { leaf: "pol-leaf.pem", intermediates: ["pol-ca.pem"], anchors: ["pol-root.pem"], at: AT };
    writeFileSync(
      f("checks.jsonl"),
      [
        { id: "default", ...base },
        { id: "p1", ...base, initialPolicySet: [P1] },
        { id: "p2-explicit", ...base, initialPolicySet: [P2, "2.16.840.1.101.3.2.1.48.3"], initialExplicitPolicy: true },
        { id: "p2", ...base, initialPolicySet: [P2] },
        { id: "any", ...base, initialPolicySet: ["2.5.29.32.0"], initialInhibitAnyPolicy: true, initialPolicyMappingInhibit: true },
        { id: "eku-server", ...base, eku: ["serverAuth"] },
        { id: "eku-client", ...base, eku: ["clientAuth", CLIENT_AUTH], anchorConstraints: true, useDeltaCrls: false, profile: "strict" },
        { id: "serial0-strict", ...base, leaf: "pol-serial0.pem" },
        { id: "serial0-lenient", ...base, leaf: "pol-serial0.pem", profile: "lenient" },
        { id: "old-anchor", leaf: "old-leaf.pem", intermediates: ["old-ca.pem"], anchors: ["old-root.pem"], at: AT },
        { id: "old-anchor-bare", leaf: "old-leaf.pem", intermediates: ["old-ca.pem"], anchors: ["old-root.pem"], at: AT, anchorConstraints: false },
        // wrong types and values: input errors naming the field
        { id: "bool-as-string", ...base, initialExplicitPolicy: "true" },
        { id: "set-as-string", ...base, initialPolicySet: P1 },
        { id: "empty-set", ...base, initialPolicySet: [] },
        { id: "bad-oid", ...base, initialPolicySet: ["1.2.x"] },
        { id: "eku-number", ...base, eku: [5] },
        { id: "eku-name", ...base, eku: ["smartcardlogon"] },
        { id: "bad-profile", ...base, profile: "loose" },
        { id: "anchor-number", ...base, anchorConstraints: 1 },
        { id: "deltas-null", ...base, useDeltaCrls: null },
        { id: "inhibit-any-string", ...base, initialInhibitAnyPolicy: "yes" },
        { id: "mapping-number", ...base, initialPolicyMappingInhibit: 0 },
      ]
        .map((x) => JSON.stringify(x))
        .join("\n") + "\n",
    );
  }
}

/**
 * The files of test/pki-cli-input.test.ts, beside writeValidateFixtures' (it uses good.pem, ca.pem,
 * root.der, root.crl): leaves whose subject does not decode (a UTF8String that is not UTF-8, an
 * odd-length BMPString) under a chain of their own, a fullchain file given as a leaf, batch files.
 */
export function writeInputFixtures(dir: string): void {
  const f = (n: string) => join(dir, n);
  const rootKey = newKey("p256");
  const caKey = newKey("p256");
  const rootName = name(["CN", "Input Root"]);
  const caName = name(["CN", "Input CA"]);
  writeFileSync(f("in-root.der"), buildCert({ serial: 1, issuer: rootName, subject: rootName, notBefore: NOW - 900 * DAY, notAfter: NOW + 900 * DAY, subjectKey: rootKey, issuerKey: rootKey, ca: true, keyUsage: KU.keyCertSign | KU.cRLSign }));
  writeFileSync(f("in-ca.der"), buildCert({ serial: 2, issuer: rootName, subject: caName, notBefore: NOW - 800 * DAY, notAfter: NOW + 800 * DAY, subjectKey: caKey, issuerKey: rootKey, ca: true, keyUsage: KU.keyCertSign | KU.cRLSign }));
  // CN values that no DirectoryString decoder accepts: 0x4a 0xe9 is Latin-1 "Jé", not UTF-8; a BMPString has two octets per character.
  const cn = (tag: number, ...octets: number[]) => seq(set(seq(oid("2.5.4.3"), tlv(tag, Uint8Array.from(octets)))));
  const leaf = (serial: number, subject: Uint8Array) => buildCert({ serial, issuer: caName, subject, notBefore: NOW - 10 * DAY, notAfter: NOW + 10 * DAY, subjectKey: newKey("p256"), issuerKey: caKey, keyUsage: KU.digitalSignature });
  writeFileSync(f("bad-utf8.der"), leaf(10, cn(0x0c, 0x4a, 0xe9)));
  writeFileSync(f("bad-bmp.pem"), pem("CERTIFICATE", leaf(11, cn(0x1e, 0x00, 0x4a, 0x00))));
  // What a CA hands out as fullchain.pem: the leaf, then its CA.
  writeFileSync(f("fullchain.pem"), readFileSync(f("good.pem"), "utf8") + readFileSync(f("ca.pem"), "utf8"));
  // Two CERTIFICATE blocks, the first a CRL under the wrong label: which object fails must be said.
  writeFileSync(f("crl-then-ca.pem"), pem("CERTIFICATE", new Uint8Array(readFileSync(f("root.crl")))) + readFileSync(f("ca.pem"), "utf8"));
  const chain = { intermediates: ["in-ca.der"], anchors: ["in-root.der"], at: AT };
  const good = { leaf: "good.pem", intermediates: ["ca.pem"], anchors: ["root.der"], at: AT };
  writeFileSync(
    f("input.jsonl"),
    [
      { id: "bad-utf8", leaf: "bad-utf8.der", ...chain },
      { id: "bad-bmp", leaf: "bad-bmp.pem", ...chain },
      { id: "fullchain", ...good, leaf: "fullchain.pem" },
      { id: "crl-as-intermediate", ...good, intermediates: ["root.crl"] },
      { id: "cert-as-crl", ...good, crls: ["ca.pem"] },
      { id: "next", ...good },
    ]
      .map((x) => JSON.stringify(x))
      .join("\n") + "\n",
  );
  // More output than a pipe holds (64 KiB) and its reader takes before it goes: the writer must meet EPIPE.
  writeFileSync(f("big.jsonl"), (JSON.stringify(good) + "\n").repeat(4000));
}
