import test from "ava";
import { Validator, type ValidatorStats } from "./index.js";
import { buildCert, buildCrl, twoLevelPki } from "./testing/builder.js";

/**
 * The caches issue 4 promises: "an intermediate already verified is not
 * verified again; a CRL is parsed once". Counted, not timed: after the first
 * validation, a new leaf under the same CA costs exactly one signature check.
 */

const DAY = 86_400_000;
const NOW = Date.UTC(2031, 5, 1);
const { caKey, caName, root, ca, rootCrl, leafSpec } = twoLevelPki("cache", NOW);
const REVOKED = 0x1005;
const caCrl = buildCrl({
  issuer: caName,
  issuerKey: caKey,
  thisUpdate: NOW - DAY,
  nextUpdate: NOW + 6 * DAY,
  entries: Array.from({ length: 500 }, (_, i) => ({ serial: 0x9000 + i, date: NOW - 10 * DAY, reason: 1 })).concat({ serial: REVOKED, date: NOW - DAY, reason: 1 }),
});
const newLeaf = (serial: number) => buildCert(leafSpec(serial));

const diff = (after: ValidatorStats, before: ValidatorStats): ValidatorStats => ({
  validations: after.validations - before.validations,
  signatureVerifications: after.signatureVerifications - before.signatureVerifications,
  signatureCacheHits: after.signatureCacheHits - before.signatureCacheHits,
  certificatesParsed: after.certificatesParsed - before.certificatesParsed,
  crlsParsed: after.crlsParsed - before.crlsParsed,
});

test("after the first validation, a new leaf under one CA and one CRL costs exactly one signature verification", (t) => {
  const v = new Validator();
  const opts = { anchors: [root], intermediates: [ca], crls: [caCrl, rootCrl], time: NOW, revocation: "require" as const };
  t.deepEqual(v.stats(), { validations: 0, signatureVerifications: 0, signatureCacheHits: 0, certificatesParsed: 0, crlsParsed: 0 });

  const first = v.validate(newLeaf(0x1000), opts);
  t.true(first.valid);
  // the leaf, the CA certificate, the CA's CRL and the root's CRL: each checked once
  t.like(v.stats(), { validations: 1, signatureVerifications: 4, certificatesParsed: 3, crlsParsed: 2 });

  for (const serial of [0x1001, 0x1002, 0x1003, 0x1004, REVOKED]) {
    const before = v.stats();
    const r = v.validate(newLeaf(serial), opts);
    t.is(r.valid ? "valid" : r.code, serial === REVOKED ? "revoked" : "valid");
    const d = diff(v.stats(), before);
    t.is(d.signatureVerifications, 1, `leaf ${serial.toString(16)}: only its own signature is checked`);
    t.true(d.signatureCacheHits >= 3, "the CA certificate and both CRLs come from the cache");
    t.is(d.certificatesParsed, 1, "only the leaf is parsed");
    t.is(d.crlsParsed, 0, "the CRLs are not parsed again");
  }

  // Fresh copies of the same bytes (a caller re-reading its files) hit the content caches.
  const before = v.stats();
  const copies = { ...opts, intermediates: [Uint8Array.from(ca)], crls: [Uint8Array.from(caCrl), Uint8Array.from(rootCrl)] };
  t.true(v.validate(newLeaf(0x1006), copies).valid);
  t.like(diff(v.stats(), before), { signatureVerifications: 1, certificatesParsed: 1, crlsParsed: 0 });

  // The same leaf again (warm) needs no signature check at all.
  const leaf = newLeaf(0x1007);
  v.validate(leaf, opts);
  const warm = v.stats();
  t.true(v.validate(leaf, opts).valid);
  t.like(diff(v.stats(), warm), { validations: 1, signatureVerifications: 0, certificatesParsed: 0, crlsParsed: 0 });
  t.is(v.stats().crlsParsed, 2, "each CRL parsed once over all validations");
});

test("stats are per validator, and a snapshot", (t) => {
  const a = new Validator();
  const b = new Validator();
  a.validate(newLeaf(0x2000), { anchors: [root], intermediates: [ca], crls: [caCrl, rootCrl], time: NOW });
  t.is(b.stats().signatureVerifications, 0);
  t.is(b.stats().validations, 0);
  const snap = a.stats();
  snap.signatureVerifications = 99;
  t.is(a.stats().signatureVerifications, 4);
});
