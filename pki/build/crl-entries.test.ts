import test from "ava";
import fc from "fast-check";
import { generateEcKeyPair } from "../../core/index.js";
import { Crl } from "../crl.js";
import { OID } from "../oids.js";
import { publicKeyOf, verifySignature } from "../signed-data.js";
import { encodeName } from "./certificate.js";
import { buildCrl, crlFrame, crlSignatureParts } from "./crl.js";
import { CrlEntryWriter, crlEntry } from "./crl-entries.js";
import { softwareSigningKey } from "./keys.js";

/**
 * Entries kept encoded (CrlEntryWriter), framed (crlFrame) and signed apart
 * (crlSignatureParts) make the very octets buildCrl makes in one pass: the
 * CA's served CRL and its synchronous one cannot drift apart.
 */

const key = softwareSigningKey(generateEcKeyPair("P-256").privateKey);
const issuerName = encodeName([[OID.commonName, "Entries CA"]]);
const issuerKeyId = new Uint8Array(20).fill(3);
const T0 = Date.UTC(2026, 11, 7, 12, 0, 0);

// A deterministic signer (ECDSA signatures are random): the same "signature" for both assemblies.
const fixedSignature = new Uint8Array(71).fill(0x5a);
const fixedSigner = { algorithm: key.algorithm, sign: () => fixedSignature };

const serialArb = fc
  .uint8Array({ minLength: 1, maxLength: 20 })
  .filter((b) => b[0] !== 0 && (b.length < 20 || b[0] < 0x80))
  .map((b) => Buffer.from(b).toString("hex"));
const timeArb = fc.integer({ min: Date.UTC(1950, 0, 1) / 1000, max: Date.UTC(2100, 0, 1) / 1000 }).map((s) => s * 1000);
const reasonArb = fc.constantFrom<number | null>(null, 0, 1, 2, 3, 4, 5, 6, 9, 10);

/** The CertificateList from entries encoded apart, as the CA assembles it (simulator/ca/crl-publisher.ts). */
function assemble(entries: Buffer, crlNumber: bigint, sign: (tbs: Uint8Array) => Uint8Array, onlyCaCerts?: boolean): Buffer {
  const { head, tail } = crlFrame({ issuerName, issuerKeyId, algorithm: key.algorithm, crlNumber, thisUpdate: T0, nextUpdate: T0 + 86_400_000, onlyCaCerts }, entries.length);
  const tbs = Buffer.concat([head, entries, tail]);
  const { header, trailer } = crlSignatureParts(key.algorithm, sign(tbs), tbs.length);
  return Buffer.concat([header, tbs, trailer]);
}

test("property: entries written apart (in any number of writers), framed and signed apart, equal buildCrl's CRL octet for octet", (t) => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.tuple(serialArb, timeArb, reasonArb), { maxLength: 80, selector: (e) => e[0] }),
      fc.integer({ min: 1, max: 7 }),
      fc.bigInt({ min: 1n, max: (1n << 159n) - 1n }),
      fc.boolean(),
      (entries, split, crlNumber, onlyCaCerts) => {
        // Split across writers, as the CA's chunks are: the concatenation is what counts.
        const parts: Buffer[] = [];
        let w = new CrlEntryWriter(2);
        entries.forEach(([serial, at, reason], i) => {
          w.add(serial, at, reason);
          if (i % split === split - 1) {
            parts.push(Buffer.from(w.finish()));
            w = new CrlEntryWriter();
          }
        });
        parts.push(Buffer.from(w.finish()));
        const apart = assemble(Buffer.concat(parts), crlNumber, fixedSigner.sign, onlyCaCerts);
        const whole = buildCrl({ issuerName, issuerKeyId, signer: fixedSigner, crlNumber, thisUpdate: T0, nextUpdate: T0 + 86_400_000, entries, onlyCaCerts });
        return apart.equals(whole) && Buffer.concat(entries.map(([s, at, r]) => crlEntry(s, at, r))).equals(Buffer.concat(parts));
      },
    ),
    { numRuns: 150 },
  );
  t.is(new CrlEntryWriter().finish().length, 0, "no entries, no octets");
});

test("a CRL assembled from kept entries reads back with pki's view, its signature verifies, and the writer's length counts its octets", (t) => {
  const w = new CrlEntryWriter(3);
  w.add("0a1b2c", T0 - 1000, 1);
  w.add("80ff", T0 - 2000, 0); // unspecified: written without a reasonCode
  w.add("7f", T0 - 3000, null);
  const length = w.length;
  const entries = w.finish();
  t.is(entries.length, length);
  const der = assemble(entries, 42n, (tbs) => key.sign(tbs));
  const crl = new Crl(der);
  t.is(crl.crlNumber, 42n);
  t.is(crl.size, 3);
  t.deepEqual(
    [...crl.entries()].map((e) => [e.serial, e.revocationDate, e.reasonCode ?? null]),
    [
      ["0a1b2c", T0 - 1000, 1],
      ["0080ff", T0 - 2000, null],
      ["7f", T0 - 3000, null],
    ],
  );
  t.is(verifySignature(publicKeyOf(key.spki), crl.signatureAlgorithm, crl.tbs, crl.signature), "ok");
});
