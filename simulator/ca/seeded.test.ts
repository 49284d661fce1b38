import test from "ava";
import { CryptoRandom, SeededRandom, VirtualClock, type Random } from "../../core/index.js";
import { buildOcspRequest, Certificate, pemToDer } from "../../pki/index.js";
import { EmbeddedCa } from "./embedded-ca.js";
import { makeCsr } from "./testing.js";

/**
 * A seeded CA (its Random a SeededRandom) is reproducible: the same seed gives
 * the same keys, certificates, CRLs and OCSP answers, byte for byte (RFC 6979
 * signatures on this thread); another seed other ones; an unseeded CA keeps
 * node's keys and random k.
 */

const START = "2026-03-01T10:00:00Z";
const holder = { id: "NID-1", name: "Ann Example", email: "ann@example.org", registration: { dateOfBirth: "1990-04-01" } };
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** What one CA makes: its chain, a leaf for `csrPem`, its CRL after revoking the leaf, and an OCSP answer with a nonce. */
async function outputs(random: Random, csrPem: string, deterministic: boolean, keyType: "ec" | "rsa" = "ec"): Promise<Record<string, string>> {
  const clock = new VirtualClock(START);
  const ca = await EmbeddedCa.open({ clock, random, deterministic, kdfLog2N: 4, keyType, crlScheduleMs: 0 });
  try {
    const issued = await ca.issue({ csrPem, profile: "authentication", holder, raToken: ca.raToken });
    const leaf = new Certificate(pemToDer(issued.certificatePem));
    clock.advance(60_000);
    await ca.revoke({ serial: issued.serial, reason: "keyCompromise", role: "operator", operatorToken: ca.operatorToken, answers: { holderId: holder.id, dateOfBirth: holder.registration.dateOfBirth } });
    const issuer = new Certificate(ca.hierarchy.issuing.certificate);
    const ocsp = await ca.ocsp(buildOcspRequest(issuer, [leaf.serial], new Uint8Array(16).fill(7)));
    return {
      root: hex(ca.hierarchy.root.certificate),
      issuing: hex(ca.hierarchy.issuing.certificate),
      responder: hex(ca.hierarchy.responder.certificate),
      leaf: hex(pemToDer(issued.certificatePem)),
      crl: hex(await ca.crl()),
      ocsp: hex(ocsp),
      // the thread-pool path: the issuing key handed over as a KeyObject (a seeded CA keeps it on this thread)
      issuingKeyOnThreadPool: String(ca.hierarchy.issuing.privateKey !== undefined),
    };
  } finally {
    await ca.close();
  }
}

test("two CAs with one seed make the same certificates, CRL and OCSP answer; another seed other ones", async (t) => {
  const { pem } = await makeCsr();
  const one = await outputs(new SeededRandom(15), pem, true);
  const again = await outputs(new SeededRandom(15), pem, true);
  const other = await outputs(new SeededRandom(16), pem, true);
  t.deepEqual(again, one);
  t.is(one.issuingKeyOnThreadPool, "false");
  for (const what of Object.keys(one)) if (what !== "issuingKeyOnThreadPool") t.not(other[what], one[what], what);
  t.true(one.crl.length > 200 && one.ocsp.length > 200, "a CRL and an OCSP answer were made");
});

test("an unseeded CA keeps node's keys and the thread pool: two CAs differ, asked to be deterministic or not", async (t) => {
  const { pem } = await makeCsr();
  for (const deterministic of [false, true]) {
    const one = await outputs(new CryptoRandom(), pem, deterministic);
    const two = await outputs(new CryptoRandom(), pem, deterministic);
    t.not(one.root, two.root);
    t.not(one.leaf, two.leaf);
    // not the seeded path: the issuing key signs on the thread pool
    t.is(one.issuingKeyOnThreadPool, "true", `deterministic: ${deterministic}`);
    t.is(two.issuingKeyOnThreadPool, "true", `deterministic: ${deterministic}`);
  }
});

test("a seeded RSA CA: the same seed, the same keys and certificates (PKCS#1 v1.5 is deterministic)", async (t) => {
  const { pem } = await makeCsr();
  const one = await outputs(new SeededRandom(3), pem, true, "rsa");
  const again = await outputs(new SeededRandom(3), pem, true, "rsa");
  t.deepEqual(again, one);
});

test("the hierarchy says whether it is reproducible: asked for with a seeded Random yes; a SeededRandom alone (serials only) or the CSPRNG no", async (t) => {
  const open = (random: Random, deterministic?: boolean) =>
    EmbeddedCa.open({ clock: new VirtualClock(START), random, deterministic, kdfLog2N: 4, crlScheduleMs: 0 });
  const cas = [await open(new SeededRandom(1), true), await open(new SeededRandom(1)), await open(new CryptoRandom(), true)];
  t.teardown(() => Promise.all(cas.map((c) => c.close())));
  t.deepEqual(
    cas.map((c) => c.hierarchy.deterministic),
    [true, false, false],
  );
  // without `deterministic`, a seeded CA keeps its production paths: the issuing key signs on the thread pool
  t.truthy(cas[1].hierarchy.issuing.privateKey);
  t.is(cas[0].hierarchy.issuing.privateKey, undefined);
  // `deterministic` with the CSPRNG changes nothing: native keys, signed on the thread pool
  t.truthy(cas[2].hierarchy.issuing.privateKey);
  t.truthy(cas[2].hierarchy.responder.privateKey);
});
