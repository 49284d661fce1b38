import test from "ava";
import { EventBus, SystemClock } from "../../core/index.js";
import { CaError, type CaAdapter, type RevocationReason } from "../../simulator/ca/index.js";
import { InstantCa } from "../adapters/instant.js";
import { errorResponse } from "../../pki/index.js";
import { buildOcspRequest, corruptSignatureIn, makeCsr, ocspRequestSerials, parseCrl } from "../pkix.js";
import { checkCompleteness } from "./completeness.js";
import type { Ack } from "./types.js";

async function setUp(n: number) {
  const ca = await InstantCa.create();
  const csr = await makeCsr("load");
  const raToken = ca.credentials().raToken;
  const certs = [];
  for (let i = 0; i < n; i++) certs.push(await ca.issue({ csrPem: csr.pem, profile: "authentication", holder: { id: `H${i}`, name: `Holder ${i}`, email: "h@example.org" }, raToken }));
  const token = ca.credentials().operatorToken!;
  const revoke = (serial: string, reason: RevocationReason) => ca.revoke({ serial, reason, role: "operator", operatorToken: token });
  const ack = (serial: string, reason: RevocationReason): Ack => ({ serial, reason, ackedAt: performance.now() });
  return { ca, certs, serials: certs.map((c) => c.serial), revoke, ack, issuerPem: certs[0].chainPem[0], bus: new EventBus(new SystemClock()) };
}

/** The CA with some methods replaced (the rest its own). */
function wrap(ca: CaAdapter, over: Partial<CaAdapter>): CaAdapter {
  return Object.assign(Object.create(ca) as CaAdapter, over);
}

test("all published with their reasons, control still good: nothing lost, nothing wrong", async (t) => {
  const { ca, serials, revoke, ack, issuerPem, bus } = await setUp(12);
  t.teardown(() => ca.close());
  const acked: Ack[] = [];
  for (const [i, s] of serials.slice(0, 8).entries()) {
    const reason: RevocationReason = i % 2 ? "keyCompromise" : "unspecified";
    await revoke(s, reason);
    acked.push(ack(s, reason));
  }
  const r = await checkCompleteness({ ca, bus }, { acked, control: serials.slice(8).map((serial) => ({ serial })), failedSerials: [], issuerPem, ocspBatch: 3 });
  t.deepEqual(r, { checked: 8, lost: [], wrongReason: [], wronglyRevoked: [], controlChecked: 4, revokedDespiteError: 0, ocspChecked: true });
});

test("a control certificate revoked behind the run's back is wronglyRevoked; a wrong reason is listed with what each channel said", async (t) => {
  const { ca, serials, revoke, ack, issuerPem, bus } = await setUp(6);
  t.teardown(() => ca.close());
  await revoke(serials[0], "keyCompromise");
  await revoke(serials[1], "superseded"); // the run asked for cessationOfOperation
  await revoke(serials[4], "affiliationChanged"); // a control certificate
  const acked = [ack(serials[0], "keyCompromise"), ack(serials[1], "cessationOfOperation")];
  const r = await checkCompleteness({ ca, bus }, { acked, control: serials.slice(3).map((serial) => ({ serial })), failedSerials: [], issuerPem });
  t.deepEqual(r.wronglyRevoked, [serials[4]]);
  t.deepEqual(r.wrongReason, [{ serial: serials[1], expected: "cessationOfOperation", crl: "superseded", ocsp: "superseded" }]);
  t.deepEqual(r.lost, []);
  t.is(r.controlChecked, 3);
});

test("an acknowledged revocation the CA never made is lost on both channels; a failed request the CA carried out anyway is counted, not an error", async (t) => {
  const { ca, serials, revoke, ack, issuerPem, bus } = await setUp(5);
  t.teardown(() => ca.close());
  await revoke(serials[0], "superseded");
  await revoke(serials[2], "superseded"); // its answer was lost: the run counted it failed
  const acked = [ack(serials[0], "superseded"), ack(serials[1], "superseded")];
  const r = await checkCompleteness({ ca, bus }, { acked, control: [{ serial: serials[4] }], failedSerials: [serials[2], serials[3]], issuerPem });
  t.deepEqual(r.lost, [{ serial: serials[1], crl: "missing", ocsp: "good" }]);
  t.is(r.revokedDespiteError, 1);
  t.deepEqual(r.wronglyRevoked, []);
});

test("a CA that answers one CertID per request is asked one serial at a time; every answer is still checked", async (t) => {
  const { ca, serials, revoke, ack, issuerPem, bus } = await setUp(7);
  t.teardown(() => ca.close());
  let requests = 0;
  let multi = 0;
  const single = wrap(ca, {
    ocsp: async (req: Uint8Array) => {
      requests++;
      const asked = ocspRequestSerials(req);
      if (asked.length > 1) multi++;
      // answers the first CertID only, as some responders do
      return ca.ocsp(buildOcspRequest(issuerPem, asked.slice(0, 1)));
    },
  });
  for (const s of serials.slice(0, 5)) await revoke(s, "keyCompromise");
  const acked = serials.slice(0, 5).map((s) => ack(s, "keyCompromise"));
  const r = await checkCompleteness({ ca: single, bus }, { acked, control: serials.slice(5).map((serial) => ({ serial })), failedSerials: [], issuerPem, ocspBatch: 10, concurrency: 1 });
  t.deepEqual([r.lost, r.wronglyRevoked, r.note], [[], [], undefined]);
  t.is(r.controlChecked, 2);
  t.is(multi, 1, "one batch, then single requests");
  t.is(requests, 1 + 6, "the first batch answered one serial; the other six were asked alone");
});

test("a CA that refuses requests for more than 64 CertIDs (the embedded CA's cap): the batch is halved, every answer checked", async (t) => {
  const { ca, serials, revoke, ack, issuerPem, bus } = await setUp(130);
  t.teardown(() => ca.close());
  const sizes: number[] = [];
  const capped = wrap(ca, {
    ocsp: async (req: Uint8Array) => {
      const n = ocspRequestSerials(req).length;
      sizes.push(n);
      return n > 64 ? errorResponse(1) : ca.ocsp(req);
    },
  });
  for (const s of serials.slice(0, 120)) await revoke(s, "keyCompromise");
  const acked = serials.slice(0, 120).map((s) => ack(s, "keyCompromise"));
  const r = await checkCompleteness({ ca: capped, bus }, { acked, control: serials.slice(120).map((serial) => ({ serial })), failedSerials: [], issuerPem, concurrency: 1 });
  t.deepEqual([r.lost, r.wronglyRevoked, r.note, r.controlChecked], [[], [], undefined, 10]);
  t.deepEqual(sizes, [100, 50, 50, 30], "100 refused, then halves; the rest in batches of 50");
});

test("a CA being restarted is retried until it answers; one that stays down gives a note and what could be checked, not a throw", async (t) => {
  const { ca, serials, revoke, ack, issuerPem, bus } = await setUp(3);
  t.teardown(() => ca.close());
  await revoke(serials[0], "keyCompromise");
  const acked = [ack(serials[0], "keyCompromise")];
  const refused = () => Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });

  let down = 3;
  const restarting = wrap(ca, {
    crl: async () => {
      if (down-- > 0) throw refused();
      return ca.crl();
    },
  });
  const back = await checkCompleteness({ ca: restarting, bus }, { acked, control: [{ serial: serials[1] }], failedSerials: [], issuerPem, retryForMs: 5_000 });
  t.deepEqual([back.lost, back.note, back.controlChecked], [[], undefined, 1]);

  const dead = wrap(ca, {
    crl: () => Promise.reject(refused()),
    ocsp: () => Promise.reject(refused()),
  });
  const r = await checkCompleteness({ ca: dead, bus }, { acked, control: [{ serial: serials[1] }], failedSerials: [], issuerPem, retryForMs: 300 });
  t.regex(r.note ?? "", /could not be reached: refused/);
  t.deepEqual(r.lost, [], "nothing could be checked: nothing is called lost");
  t.is(r.controlChecked, 0);
  t.is(r.checked, 1);

  // only the CRL down: OCSP is still checked (and finds the control certificate good)
  const noCrl = wrap(ca, { crl: () => Promise.reject(refused()) });
  const half = await checkCompleteness({ ca: noCrl, bus }, { acked, control: [{ serial: serials[1] }], failedSerials: [], issuerPem, retryForMs: 300 });
  t.regex(half.note ?? "", /final CRL could not be fetched/);
  t.notRegex(half.note ?? "", /OCSP/);
  t.deepEqual([half.lost, half.controlChecked], [[], 1]);
});

test("a CA answering 4xx is not retried: the refusal is reported in the note", async (t) => {
  const { ca, serials, revoke, ack, issuerPem, bus } = await setUp(2);
  t.teardown(() => ca.close());
  await revoke(serials[0], "keyCompromise");
  let calls = 0;
  const refusing = wrap(ca, {
    crl: async () => {
      calls++;
      throw new CaError(403, "forbidden", "no");
    },
  });
  const r = await checkCompleteness({ ca: refusing, bus }, { acked: [ack(serials[0], "keyCompromise")], control: [], failedSerials: [], issuerPem });
  t.is(calls, 1);
  t.regex(r.note ?? "", /CRL could not be fetched or decoded \(4xx 403 forbidden\)/);
  t.deepEqual(r.lost, [], "OCSP still says revoked");
});

test("a CA that publishes on a cycle: serials not yet published at the first check are checked again, those only, until they are; none lost; the info says so", async (t) => {
  const { ca, serials, ack, issuerPem, bus } = await setUp(6);
  t.teardown(() => ca.close());
  const token = ca.credentials().operatorToken!;
  // Acknowledged at once, published (carried out at the CA) when its CRL is generated the second time: a publication cycle.
  const held = serials.slice(0, 4);
  let crlFetches = 0;
  const asked: string[][] = [];
  const cyclic = wrap(ca, {
    crl: async () => {
      if (++crlFetches === 2) for (const serial of held) await ca.revoke({ serial, reason: "keyCompromise", role: "operator", operatorToken: token });
      return ca.crl();
    },
    ocsp: (req: Uint8Array) => {
      asked.push(ocspRequestSerials(req));
      return ca.ocsp(req);
    },
  });
  const acked = held.map((s) => ack(s, "keyCompromise"));
  const r = await checkCompleteness(
    { ca: cyclic, bus },
    { acked, control: serials.slice(4).map((serial) => ({ serial })), failedSerials: [], issuerPem, settleUntil: performance.now() + 20_000, recheckEveryMs: 50 },
  );
  t.deepEqual([r.lost, r.wrongReason, r.wronglyRevoked, r.note], [[], [], [], undefined]);
  t.is(r.controlChecked, 2);
  t.is(crlFetches, 2, "one CRL fetch per re-check, no more once all are listed");
  t.deepEqual(r.info?.length, 1);
  t.regex(r.info![0], /^4 acknowledged revocation\(s\) not yet published at the first check \(CRL 4, OCSP 4\): re-checked for \d+\.\d s, 4 published since$/);
  // the first pass asked every serial; the re-check only the four not yet revoked
  t.deepEqual(asked.slice(1).flat().sort(), [...held].sort());
});

test("an acknowledged revocation never published is lost once the settle deadline has passed, and the info says it never came", async (t) => {
  const { ca, serials, revoke, ack, issuerPem, bus } = await setUp(3);
  t.teardown(() => ca.close());
  await revoke(serials[0], "superseded");
  const acked = [ack(serials[0], "superseded"), ack(serials[1], "superseded")];
  const r = await checkCompleteness({ ca, bus }, { acked, control: [], failedSerials: [], issuerPem, settleUntil: performance.now() + 600, recheckEveryMs: 100 });
  t.deepEqual(r.lost, [{ serial: serials[1], crl: "missing", ocsp: "good" }]);
  t.regex(r.info?.[0] ?? "", /^1 acknowledged revocation\(s\) not yet published at the first check .*, 0 published since, 1 still not by the settle deadline$/);
});

test("provenance: reasons on a CRL (or OCSP answer) the adapter makes are not held against the CA, a serial missing from it still is; a note says so", async (t) => {
  const { ca, serials, revoke, ack, issuerPem, bus } = await setUp(3);
  t.teardown(() => ca.close());
  await revoke(serials[0], "superseded"); // the run asked for keyCompromise: both channels say superseded
  const acked = [ack(serials[0], "keyCompromise"), ack(serials[1], "keyCompromise")]; // serials[1] never revoked
  const crlByAdapter = wrap(ca, {
    provenance: () => ({ crl: { by: "adapter", how: "sqlite3 certs.db ... | openssl ca -gencrl", note: "the entries carry no reason" } }),
  });
  const one = await checkCompleteness({ ca: crlByAdapter, bus }, { acked, control: [], failedSerials: [], issuerPem });
  t.deepEqual(one.wrongReason, [{ serial: serials[0], expected: "keyCompromise", ocsp: "superseded" }], "OCSP is the CA's: its reason still counts");
  t.deepEqual(one.lost, [{ serial: serials[1], crl: "missing", ocsp: "good" }]);
  t.deepEqual(one.info, [
    "the CRL is made by the adapter, not the CA (the entries carry no reason): its reasons are not held against the CA (1 differ from the reason given); a serial missing from it still counts as lost",
  ]);

  const bothByAdapter = wrap(ca, { provenance: () => ({ crl: { by: "adapter", how: "x" }, ocsp: { by: "adapter", how: "y" } }) });
  const two = await checkCompleteness({ ca: bothByAdapter, bus }, { acked, control: [], failedSerials: [], issuerPem });
  t.deepEqual(two.wrongReason, []);
  t.is(two.lost.length, 1);
  t.is(two.info?.length, 2);
  t.regex(two.info![1], /^the OCSP is made by the adapter, not the CA: its reasons are not held against the CA \(1 differ/);

  const byCa = wrap(ca, { provenance: () => ({ crl: { by: "ca", how: "GET /crl" } }) });
  const three = await checkCompleteness({ ca: byCa, bus }, { acked, control: [], failedSerials: [], issuerPem });
  t.deepEqual(three.wrongReason, [{ serial: serials[0], expected: "keyCompromise", crl: "superseded", ocsp: "superseded" }]);
  t.is(three.info, undefined);
});

test("a final CRL from another issuer, or with a bad signature, is not taken: verification incomplete, the note says so", async (t) => {
  const { ca, serials, revoke, ack, issuerPem, bus } = await setUp(3);
  const stranger = await InstantCa.create();
  t.teardown(() => Promise.all([ca.close(), stranger.close()]));
  await revoke(serials[0], "keyCompromise");
  const acked = [ack(serials[0], "keyCompromise")];
  const other = wrap(ca, { crl: () => stranger.crl() });
  const a = await checkCompleteness({ ca: other, bus }, { acked, control: [], failedSerials: [], issuerPem });
  t.regex(a.note ?? "", /the final CRL is not the issuing CA's/);
  const broken = wrap(ca, {
    crl: async () => {
      const der = await ca.crl();
      return corruptSignatureIn(der, parseCrl(der).crl.signature);
    },
  });
  const b = await checkCompleteness({ ca: broken, bus }, { acked, control: [], failedSerials: [], issuerPem });
  t.regex(b.note ?? "", /the final CRL is not the issuing CA's \(issuer .*, or its signature does not verify\)/);
});

test("targets the run never sent are checked on the final CRL as extra controls: one revoked behind the run's back is wrongly revoked", async (t) => {
  const { ca, serials, revoke, ack, issuerPem, bus } = await setUp(6);
  t.teardown(() => ca.close());
  await revoke(serials[0], "keyCompromise");
  await revoke(serials[4], "keyCompromise"); // never sent by the run
  const r = await checkCompleteness({ ca, bus }, { acked: [ack(serials[0], "keyCompromise")], control: [], unsent: serials.slice(2).map((serial) => ({ serial })), failedSerials: [], issuerPem });
  t.is(r.controlChecked, 4);
  t.deepEqual(r.wronglyRevoked, [serials[4]]);
});

test("an OCSP answer that was an error at the first check (tryLater) is asked again while settling: complete, no note", async (t) => {
  const { ca, serials, revoke, ack, issuerPem, bus } = await setUp(2);
  t.teardown(() => ca.close());
  await revoke(serials[0], "keyCompromise");
  let calls = 0;
  const flaky = wrap(ca, { ocsp: (req: Uint8Array) => (++calls === 1 ? Promise.resolve(errorResponse(3)) : ca.ocsp(req)) });
  const r = await checkCompleteness(
    { ca: flaky, bus },
    { acked: [ack(serials[0], "keyCompromise")], control: [{ serial: serials[1] }], failedSerials: [], issuerPem, ocspBatch: 1, concurrency: 1, settleUntil: performance.now() + 10_000, recheckEveryMs: 20 },
  );
  t.true(calls >= 3, String(calls));
  t.is(r.note, undefined);
  t.deepEqual(r.lost, []);
});
