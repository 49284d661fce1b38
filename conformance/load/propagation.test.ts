import test from "ava";
import { EventBus, generateEcKeyPair, LOAD_METRICS, SystemClock } from "../../core/index.js";
import { buildCrl, encodeName, errorResponse, OID, softwareSigningKey } from "../../pki/index.js";
import type { CaAdapter } from "../../simulator/ca/index.js";
import { InstantCa } from "../adapters/instant.js";
import { buildOcspRequest, makeCsr, normSerial, ocspRequestSerials } from "../pkix.js";
import { derInteger } from "./crl-search.js";
import { PropagationWatcher } from "./propagation.js";
import type { Ack } from "./types.js";

async function setUp(n: number) {
  const ca = await InstantCa.create();
  const csr = await makeCsr("load");
  const raToken = ca.credentials().raToken;
  const certs = [];
  for (let i = 0; i < n; i++) certs.push(await ca.issue({ csrPem: csr.pem, profile: "authentication", holder: { id: `H${i}`, name: `Holder ${i}`, email: "h@example.org" }, raToken }));
  const bus = new EventBus(new SystemClock());
  const samples: Array<{ name: string; value: number }> = [];
  bus.on((e) => {
    if (e.type === "metric.sample") samples.push(e.data as { name: string; value: number });
  });
  return { ca, certs, bus, samples, issuerPem: certs[0].chainPem[0] };
}

/** Revokes each serial (operator), acknowledging it to the watcher as the revoke phase does. */
async function revokeAll(ca: CaAdapter, token: string, serials: string[], watcher: PropagationWatcher): Promise<Ack[]> {
  const acks: Ack[] = [];
  for (const serial of serials) {
    await ca.revoke({ serial, reason: "keyCompromise", role: "operator", operatorToken: token });
    const ack: Ack = { serial, reason: "keyCompromise", ackedAt: performance.now() };
    acks.push(ack);
    watcher.onAck(ack);
  }
  return acks;
}

/**
 * Acknowledges every serial at once (as a batch answer does) before any is revoked, then revokes them: the
 * watcher's first asks say good, so the serials are asked again by its poll loop, in requests of many CertIDs.
 */
async function ackThenRevoke(ca: CaAdapter, token: string, serials: string[], watcher: PropagationWatcher): Promise<void> {
  await watcher.ready();
  const ackedAt = performance.now();
  for (const serial of serials) watcher.onAck({ serial, reason: "keyCompromise", ackedAt });
  await new Promise((resolve) => setTimeout(resolve, 30));
  for (const serial of serials) await ca.revoke({ serial, reason: "keyCompromise", role: "operator", operatorToken: token });
}

/** Whether `cond` holds within `ms` (checked every 5 ms): a bound on a wait, not a timing assertion. */
async function within(ms: number, cond: () => boolean): Promise<boolean> {
  for (const end = performance.now() + ms; !cond(); ) {
    if (performance.now() > end) return false;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return true;
}

test("against the instant CA every watched serial is seen on OCSP and on the CRL; the sample is spread over the run", async (t) => {
  const { ca, certs, bus, samples, issuerPem } = await setUp(40);
  t.teardown(() => ca.close());
  const watcher = new PropagationWatcher({ ca, bus }, { sample: 10, expected: 40, issuerPem, crlPollMs: 20, timeoutMs: 10_000 });
  await revokeAll(ca, ca.credentials().operatorToken!, certs.map((c) => c.serial), watcher);
  const r = await watcher.finish();
  const stride = 4;
  const watched = certs.filter((_, i) => i % stride === 0).map((c) => c.serial);
  for (const channel of [r.ocsp, r.crl]) {
    t.is(channel.watched, 10);
    t.is(channel.delaysMs.length, 10);
    t.true(channel.delaysMs.every((d) => d >= 0 && Number.isFinite(d)));
    t.deepEqual(channel.notSeen, []);
  }
  t.is(r.ocspNote, undefined);
  t.is(r.crlNote, undefined);
  t.is(samples.filter((s) => s.name === LOAD_METRICS.propagationOcsp).length, 10);
  t.is(samples.filter((s) => s.name === LOAD_METRICS.propagationCrl).length, 10);
  t.is(watched.length, 10);
});

test("more sample than acknowledgements: every acknowledgement is watched (min(sample, acks)), found in the CRL in one pass", async (t) => {
  const { ca, certs, bus, issuerPem } = await setUp(36);
  t.teardown(() => ca.close());
  // expected 36, sample 100: stride 1; 36 pending serials > the byte-search limit on the first CRL poll
  const watcher = new PropagationWatcher({ ca, bus }, { sample: 100, expected: 36, issuerPem, crlPollMs: 200, timeoutMs: 10_000 });
  await revokeAll(ca, ca.credentials().operatorToken!, certs.map((c) => c.serial), watcher);
  const r = await watcher.finish();
  t.is(r.ocsp.watched, 36);
  t.is(r.crl.delaysMs.length, 36);
  t.is(r.ocsp.delaysMs.length, 36);
});

test("a CA whose OCSP never says revoked (and whose CRL is another issuer's): every watched serial is notSeen after the timeout, and the notes say why", async (t) => {
  const { ca, certs, bus, samples, issuerPem } = await setUp(6);
  const stranger = await InstantCa.create();
  t.teardown(() => Promise.all([ca.close(), stranger.close()]));
  // revocations reach `ca`; OCSP and the CRL come from a CA that never saw them
  const lying: CaAdapter = Object.assign(Object.create(ca) as CaAdapter, {
    ocsp: (req: Uint8Array) => stranger.ocsp(req),
    crl: () => stranger.crl(),
  });
  const watcher = new PropagationWatcher({ ca: lying, bus }, { sample: 3, expected: 6, issuerPem, ocspPollMs: 20, crlPollMs: 50, timeoutMs: 300 });
  await revokeAll(lying, ca.credentials().operatorToken!, certs.map((c) => c.serial), watcher);
  const r = await watcher.finish();
  const watched = [0, 2, 4].map((i) => certs[i].serial);
  t.deepEqual(r.ocsp.notSeen, watched);
  t.deepEqual(r.crl.notSeen, watched);
  t.deepEqual(r.ocsp.delaysMs, []);
  t.deepEqual(r.crl.delaysMs, []);
  t.regex(r.crlNote ?? "", /CRL of another issuer/);
  t.is(samples.length, 0);
});

test("a CA that answers only the first CertID of a request: the watcher falls back to one serial per request and sees them all", async (t) => {
  const { ca, certs, bus, issuerPem } = await setUp(8);
  t.teardown(() => ca.close());
  let asked = 0;
  const firstOnly: CaAdapter = Object.assign(Object.create(ca) as CaAdapter, {
    ocsp: (req: Uint8Array) => {
      asked++;
      return ca.ocsp(buildOcspRequest(issuerPem, ocspRequestSerials(req).slice(0, 1)));
    },
  });
  const watcher = new PropagationWatcher({ ca: firstOnly, bus }, { sample: 8, expected: 8, issuerPem, crlPollMs: 20, timeoutMs: 10_000 });
  await ackThenRevoke(firstOnly, ca.credentials().operatorToken!, certs.map((c) => c.serial), watcher);
  const r = await watcher.finish();
  t.is(r.ocsp.delaysMs.length, 8);
  t.deepEqual(r.ocsp.notSeen, []);
  t.true(asked >= 8);
});

test("a CA that refuses requests for more than 64 CertIDs: the watcher halves its batches and sees every serial", async (t) => {
  const { ca, certs, bus, issuerPem } = await setUp(120);
  t.teardown(() => ca.close());
  let refused = 0;
  const capped: CaAdapter = Object.assign(Object.create(ca) as CaAdapter, {
    ocsp: async (req: Uint8Array) => {
      if (ocspRequestSerials(req).length <= 64) return ca.ocsp(req);
      refused++;
      return errorResponse(1);
    },
  });
  const watcher = new PropagationWatcher({ ca: capped, bus }, { sample: 120, expected: 120, issuerPem, crlPollMs: 50, timeoutMs: 10_000 });
  await ackThenRevoke(capped, ca.credentials().operatorToken!, certs.map((c) => c.serial), watcher);
  const r = await watcher.finish();
  t.is(r.ocsp.delaysMs.length, 120);
  t.true(refused >= 1);
  t.is(r.ocspNote, undefined, "a refused batch is not an error: it is asked again smaller");
});

test("without the issuing CA's certificate OCSP is not watched, and the figures say why", async (t) => {
  const { ca, certs, bus } = await setUp(2);
  t.teardown(() => ca.close());
  const watcher = new PropagationWatcher({ ca, bus }, { sample: 2, expected: 2, crlPollMs: 20, timeoutMs: 5_000 });
  await revokeAll(ca, ca.credentials().operatorToken!, certs.map((c) => c.serial), watcher);
  const r = await watcher.finish();
  t.is(r.ocsp.watched, 0);
  t.regex(r.ocspNote ?? "", /issuing CA certificate is not known/);
  t.is(r.crl.delaysMs.length, 2);
});

test("a stopped run (SIGINT) ends the watch without waiting for the timeout: unseen serials are notSeen", async (t) => {
  const { ca, certs, bus, issuerPem } = await setUp(3);
  const stranger = await InstantCa.create();
  t.teardown(() => Promise.all([ca.close(), stranger.close()]));
  const never: CaAdapter = Object.assign(Object.create(ca) as CaAdapter, { ocsp: (req: Uint8Array) => stranger.ocsp(req), crl: () => stranger.crl() });
  const stop = new AbortController();
  // a 60 s timeout: only the stop signal lets this test end within ava's own timeout
  const watcher = new PropagationWatcher({ ca: never, bus, signal: stop.signal }, { sample: 3, expected: 3, issuerPem, ocspPollMs: 20, crlPollMs: 50, timeoutMs: 60_000 });
  await revokeAll(never, ca.credentials().operatorToken!, certs.map((c) => c.serial), watcher);
  setTimeout(() => stop.abort(), 100);
  const r = await watcher.finish();
  t.is(r.ocsp.notSeen.length, 3);
  t.is(r.crl.notSeen.length, 3);
});

test("short serials (a sequential CA's) are looked up in the decoded CRL, not searched for as bytes; long ones by their bytes", async (t) => {
  const key = softwareSigningKey(generateEcKeyPair("P-256").privateKey);
  const listed = ["01", "02", "7f" + "ab".repeat(15), "80" + "cd".repeat(15)];
  const crl = buildCrl({
    issuerName: encodeName([[OID.commonName, "Sequential CA"]]),
    issuerKeyId: new Uint8Array(20),
    signer: key,
    crlNumber: 1n,
    thisUpdate: Date.UTC(2026, 0, 1),
    nextUpdate: Date.UTC(2026, 0, 2),
    entries: listed.map((s) => [s, Date.UTC(2026, 0, 1), 1] as [string, number, number]),
  });
  const stub = {
    capabilities: () => ({ crl: true, ocsp: false }),
    crl: async () => new Uint8Array(crl),
  } as unknown as CaAdapter;
  // short serials go by the decoded entries: serial 01 as bytes (02 01 01) is also the CRL's version INTEGER
  const asked = [...listed, "101", "03", "7f" + "ab".repeat(14) + "ac"];
  const watcher = new PropagationWatcher({ ca: stub, bus: new EventBus(new SystemClock()) }, { sample: 10, expected: asked.length, crlPollMs: 20, timeoutMs: 300 });
  for (const serial of asked) watcher.onAck({ serial, reason: "keyCompromise", ackedAt: performance.now() });
  const r = await watcher.finish();
  t.deepEqual(r.crl.notSeen, ["101", "3", "7f" + "ab".repeat(14) + "ac"]);
  t.is(r.crl.delaysMs.length, 4);
  t.regex(r.ocspNote ?? "", /no OCSP/);
});

test("derInteger: the DER INTEGER a CRL entry carries for a serial", (t) => {
  t.is(derInteger("7f").toString("hex"), "02017f");
  t.is(derInteger("80").toString("hex"), "02020080");
  t.is(derInteger("00ab").toString("hex"), "020200ab");
  t.is(derInteger("0").toString("hex"), "020100");
  t.is(derInteger("4" + "1".repeat(31)).toString("hex"), "0210" + "4" + "1".repeat(31));
});

test("the same CRL fetched again: a serial sampled since it was first scanned is still looked for (and seen) in it; one it never lists stays notSeen", async (t) => {
  const key = softwareSigningKey(generateEcKeyPair("P-256").privateKey);
  const first = "7f" + "ab".repeat(15);
  const later = "7f" + "cd".repeat(15);
  const never = "7f" + "ef".repeat(15);
  // one CRL for the whole test, listing `later` before it is acknowledged (a CA that revokes, publishes, then answers)
  const crl = buildCrl({
    issuerName: encodeName([[OID.commonName, "Unchanging CA"]]),
    issuerKeyId: new Uint8Array(20),
    signer: key,
    crlNumber: 1n,
    thisUpdate: Date.UTC(2026, 0, 1),
    nextUpdate: Date.UTC(2026, 0, 2),
    entries: [first, later].map((s) => [s, Date.UTC(2026, 0, 1), 1] as [string, number, number]),
  });
  let fetches = 0;
  const stub = {
    capabilities: () => ({ crl: true, ocsp: false }),
    crl: async () => (fetches++, new Uint8Array(crl)),
  } as unknown as CaAdapter;
  const watcher = new PropagationWatcher({ ca: stub, bus: new EventBus(new SystemClock()) }, { sample: 10, expected: 3, crlPollMs: 10, timeoutMs: 250 });
  watcher.onAck({ serial: never, reason: "keyCompromise", ackedAt: performance.now() });
  watcher.onAck({ serial: first, reason: "keyCompromise", ackedAt: performance.now() });
  await new Promise((resolve) => setTimeout(resolve, 60)); // several fetches of the same CRL: `never` stays pending
  watcher.onAck({ serial: later, reason: "keyCompromise", ackedAt: performance.now() });
  const r = await watcher.finish();
  t.true(fetches >= 3, `the CRL was fetched ${fetches} times`);
  t.deepEqual(r.crl.notSeen, [never]);
  t.is(r.crl.delaysMs.length, 2, "the serial acknowledged after the CRL was first scanned is still found in it");
});

test("a serial acknowledged while an earlier OCSP request is unanswered is asked about at once, not after that answer", async (t) => {
  const { ca, certs, bus, issuerPem } = await setUp(2);
  t.teardown(() => ca.close());
  const [a, b] = certs.map((c) => normSerial(c.serial));
  for (const serial of [a, b]) await ca.revoke({ serial, reason: "keyCompromise", role: "operator", operatorToken: ca.credentials().operatorToken! });
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const asked: string[][] = [];
  const slowForA: CaAdapter = Object.assign(Object.create(ca) as CaAdapter, {
    ocsp: async (req: Uint8Array) => {
      const serials = ocspRequestSerials(req);
      asked.push(serials);
      if (serials.includes(a)) await held;
      return ca.ocsp(req);
    },
  });
  const watcher = new PropagationWatcher({ ca: slowForA, bus }, { sample: 2, expected: 2, issuerPem, timeoutMs: 10_000 });
  await watcher.ready();
  watcher.onAck({ serial: a, reason: "keyCompromise", ackedAt: performance.now() });
  t.true(await within(5_000, () => asked.some((r) => r.includes(a))));
  watcher.onAck({ serial: b, reason: "keyCompromise", ackedAt: performance.now() });
  const bAskedBeforeA = await within(2_000, () => asked.some((r) => r.includes(b)));
  release();
  const r = await watcher.finish();
  t.true(bAskedBeforeA, "b waited for the answer about a");
  t.is(r.ocsp.delaysMs.length, 2);
  t.deepEqual(r.ocsp.notSeen, []);
});

test("the serials of one acknowledged batch are each asked about alone (one CertID per request) as soon as they are acknowledged", async (t) => {
  const { ca, certs, bus, issuerPem } = await setUp(6);
  t.teardown(() => ca.close());
  const serials = certs.map((c) => normSerial(c.serial));
  for (const serial of serials) await ca.revoke({ serial, reason: "keyCompromise", role: "operator", operatorToken: ca.credentials().operatorToken! });
  const asked: string[][] = [];
  const recording: CaAdapter = Object.assign(Object.create(ca) as CaAdapter, {
    ocsp: (req: Uint8Array) => {
      asked.push(ocspRequestSerials(req));
      return ca.ocsp(req);
    },
  });
  // a poll interval far beyond the test: only the asks on acknowledgement can see the serials in time
  const watcher = new PropagationWatcher({ ca: recording, bus }, { sample: 6, expected: 6, issuerPem, ocspPollMs: 60_000, timeoutMs: 10_000 });
  await watcher.ready();
  const before = asked.length;
  const ackedAt = performance.now();
  for (const serial of serials) watcher.onAck({ serial, reason: "keyCompromise", ackedAt });
  const r = await watcher.finish();
  const after = asked.slice(before);
  t.deepEqual(after.map((q) => q.length), [1, 1, 1, 1, 1, 1]);
  t.deepEqual(new Set(after.flat()), new Set(serials));
  t.is(r.ocsp.delaysMs.length, 6);
});

test("ready(): the watcher's OCSP connections are opened before the first acknowledgement (as many as it may have in flight), whatever the answers; never more in flight", async (t) => {
  const { ca, certs, bus, issuerPem } = await setUp(20);
  t.teardown(() => ca.close());
  let inFlight = 0;
  let most = 0;
  let calls = 0;
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const failing: CaAdapter = Object.assign(Object.create(ca) as CaAdapter, {
    ocsp: async () => {
      calls++;
      most = Math.max(most, ++inFlight);
      try {
        await held;
        throw new Error("connection refused");
      } finally {
        inFlight--;
      }
    },
  });
  const watcher = new PropagationWatcher({ ca: failing, bus }, { sample: 20, expected: 20, issuerPem, ocspPollMs: 5, crlPollMs: 50, timeoutMs: 300 });
  t.is(calls, 0, "no warm-up before ready()");
  const warming = watcher.ready();
  t.is(calls, 8, "the warm-up asks, before any acknowledgement");
  const ackedAt = performance.now();
  for (const c of certs) watcher.onAck({ serial: c.serial, reason: "keyCompromise", ackedAt });
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.is(most, 8, "no more than 8 requests in flight while none is answered");
  release();
  await warming;
  t.is(watcher.ready(), warming, "a second ready() waits for the same warm-up, sends no more");
  const r = await watcher.finish();
  t.true(most <= 8);
  t.is(r.ocsp.notSeen.length, 20);
  // the warm-up's failures are not counted; the watch's own are
  const failed = /^(\d+) OCSP requests failed/.exec(r.ocspNote ?? "");
  t.truthy(failed, r.ocspNote);
  t.true(calls > 8);
  t.is(Number(failed![1]), calls - 8, "every failed request of the watch is counted, the 8 of the warm-up are not");
});

test("no ready(), no warm-up: a watcher with nothing acknowledged sends no OCSP request, and finish() does not wait for a CA that never answers", async (t) => {
  const { ca, bus, issuerPem } = await setUp(1);
  t.teardown(() => ca.close());
  let calls = 0;
  const dead: CaAdapter = Object.assign(Object.create(ca) as CaAdapter, {
    ocsp: () => {
      calls++;
      return new Promise<Uint8Array>(() => undefined); // a CA that never answers
    },
  });
  const watcher = new PropagationWatcher({ ca: dead, bus }, { sample: 10, expected: 0, issuerPem, timeoutMs: 300 });
  const r = await watcher.finish();
  t.is(calls, 0, "no OCSP request was sent");
  t.is(r.ocsp.watched, 0);
  t.deepEqual(r.ocsp.delaysMs, []);
  t.is(r.ocspNote, undefined, "no failed request to report");
});
