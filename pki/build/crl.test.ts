import "reflect-metadata";
import test from "ava";
import fc from "fast-check";
import { webcrypto } from "node:crypto";
import { X509Crl } from "@peculiar/x509";
import { generateEcKeyPair } from "../../core/index.js";
import { Crl } from "../crl.js";
import { buildCrl } from "./crl.js";
import { encodeName } from "./certificate.js";
import { OID } from "../oids.js";
import { softwareSigningKey } from "./keys.js";

/** Property: any revocation set survives buildCrl -> an independent decoder (@peculiar/x509) unchanged, signature valid; pki reads the CRL number back. */
const signer = softwareSigningKey(generateEcKeyPair("P-256").privateKey);
const issuerName = encodeName([[OID.commonName, "Property CA"]]);
const keyId = new Uint8Array(20).fill(7);

// A positive serial of at most 20 octets once DER adds its sign octet: magnitude without leading zeros.
const serialArb = fc
  .uint8Array({ minLength: 1, maxLength: 20 })
  .filter((b) => b[0] !== 0 && (b.length < 20 || b[0] < 0x80))
  .map((b) => Buffer.from(b).toString("hex"));
const timeArb = fc.integer({ min: Date.UTC(1950, 0, 1) / 1000, max: Date.UTC(2100, 0, 1) / 1000 }).map((s) => s * 1000);
const reasonArb = fc.constantFrom(0, 1, 2, 3, 4, 5, 6, 9, 10);

test("CRL encode/decode round trip for random revocation sets", async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.uniqueArray(fc.tuple(serialArb, timeArb, reasonArb), { maxLength: 60, selector: (e) => e[0] }),
      fc.bigInt({ min: 1n, max: (1n << 159n) - 1n }),
      async (entries, crlNumber) => {
        const thisUpdate = Date.UTC(2026, 5, 1);
        const der = buildCrl({ issuerName, issuerKeyId: keyId, signer, crlNumber, thisUpdate, nextUpdate: thisUpdate + 86_400_000, entries });
        if (new Crl(der).crlNumber !== crlNumber) return false;
        const crl = new X509Crl(der);
        if (!(await crl.verify({ publicKey: await crlKey() }))) return false;
        if (crl.thisUpdate.getTime() !== thisUpdate) return false;
        if (crl.entries.length !== entries.length) return false;
        return entries.every(([serial, at, reason], i) => {
          const e = crl.entries[i];
          const sameSerial = e.serialNumber.toLowerCase().replace(/^(00)+/, "") === serial;
          const sameReason = reason === 0 ? e.reason === undefined : e.reason === reason;
          return sameSerial && e.revocationDate.getTime() === at && sameReason;
        });
      },
    ),
    { numRuns: 120 },
  );
  t.is(new X509Crl(buildCrl({ issuerName, issuerKeyId: keyId, signer, crlNumber: 1n, thisUpdate: 0, nextUpdate: 1000, entries: [] })).entries.length, 0);
});

let key: webcrypto.CryptoKey | undefined;
async function crlKey(): Promise<never> {
  key ??= await webcrypto.subtle.importKey("spki", signer.spki, { name: "ECDSA", namedCurve: "P-256" }, true, ["verify"]);
  return key as never;
}
