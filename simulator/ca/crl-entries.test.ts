import test from "ava";
import { SeededRandom, VirtualClock } from "../../core/index.js";
import { Crl, encodePem } from "../../pki/index.js";
import { crlSignedBy, parseCrl } from "../../conformance/pkix.js";
import { CrlBuffers } from "./crl-buffers.js";
import { EmbeddedCa, type EmbeddedCaOptions } from "./embedded-ca.js";
import { Status } from "./store.js";
import { makeCsr } from "./testing.js";

const START = Date.parse("2026-03-01T00:00:00Z");
const serialsOf = (n: number, from: number) => Array.from({ length: n }, (_, i) => (0x400000 + from + i).toString(16).padStart(32, "4"));

async function newCa(extra: Partial<EmbeddedCaOptions> = {}) {
  const clock = new VirtualClock(START);
  const ca = await EmbeddedCa.open({ clock, random: new SeededRandom(7), kdfLog2N: 4, crlScheduleMs: 0, crlDebounceMs: 60_000, ...extra });
  return { ca, clock };
}

/** What the store lists, as parseCrl spells it: serial -> [revocation time, reason]. */
function storeView(ca: EmbeddedCa): Map<string, [number, number | undefined]> {
  const m = new Map<string, [number, number | undefined]>();
  for (const [serial, at, reason] of ca.store.revoked()) m.set(serial.replace(/^0+/, ""), [at, reason === 0 ? undefined : reason]);
  return m;
}

function crlView(der: Uint8Array): Map<string, [number, number | undefined]> {
  const m = new Map<string, [number, number | undefined]>();
  for (const [serial, e] of parseCrl(der).entries) m.set(serial.replace(/^0+/, ""), [e.revocationDate.getTime(), e.reason]);
  return m;
}

test("the worker-built CRL lists exactly what the store lists through revocations, holds, releases and a hold made final; signed by the issuing CA", async (t) => {
  const { ca, clock } = await newCa();
  t.teardown(() => ca.close());
  const serials = serialsOf(300, 0);
  const now = clock.nowMs();
  ca.store.insertSynthetic(serials, "test", now, now + 86_400_000 * 365);
  const audit = { at: now, serial: null, role: "test", action: "bulk-revoke", outcome: "ok" };
  ca.store.bulkRevoke(serials.slice(0, 100), 1, 1, now, audit); // keyCompromise
  ca.store.bulkRevoke(serials.slice(100, 150), 1, 0, now + 1000, audit); // unspecified: no reasonCode
  await ca.revokeMany(serials.slice(150, 170), "certificateHold", ca.operatorToken);
  await ca.release(serials[150], ca.operatorToken);
  await ca.revokeMany(serials.slice(151, 153), "keyCompromise", ca.operatorToken); // held, then revoked for good
  const der = await ca.crl();
  const listed = crlView(der);
  t.is(listed.size, 100 + 50 + 19);
  t.deepEqual(listed, storeView(ca));
  t.deepEqual(listed.get(serials[151].replace(/^0+/, "")), [clock.nowMs() - (clock.nowMs() % 1000), 1], "the hold made final: revoked, keyCompromise");
  t.is(listed.get(serials[160].replace(/^0+/, ""))?.[1], 6, "still on hold: certificateHold");
  t.false(listed.has(serials[150].replace(/^0+/, "")), "released: off the CRL");
  t.true(await crlSignedBy(der, encodePem(ca.hierarchy.issuing.certificate, "CERTIFICATE")));
  // The same set, re-encoded by the synchronous path: the same TBS but for the number and the times.
  const sync = parseCrl(ca.regenerateCrl());
  t.deepEqual(crlView(sync.der), listed);
  t.is(sync.number, parseCrl(der).number! + 1n, "numbers stay monotonic across both paths");
});

test("an empty CRL from the worker: no revokedCertificates, a valid signature", async (t) => {
  const { ca } = await newCa();
  t.teardown(() => ca.close());
  const der = await ca.crl();
  t.is(parseCrl(der).entries.size, 0);
  t.is(parseCrl(der).number, 1n);
  t.true(await crlSignedBy(der, encodePem(ca.hierarchy.issuing.certificate, "CERTIFICATE")));
});

test("concurrent requests share one build; a request after a change waits for a CRL that includes it, never an older one", async (t) => {
  const { ca, clock } = await newCa();
  t.teardown(() => ca.close());
  const serials = serialsOf(10, 1000);
  ca.store.insertSynthetic(serials, "test", clock.nowMs(), clock.nowMs() + 86_400_000);
  const [a, b, c] = await Promise.all([ca.crl(), ca.crl(), ca.crl()]);
  t.is(a, b);
  t.is(b, c);
  t.is(ca.store.meta("crl_number"), "1", "one build for three requests");
  await ca.revokeMany([serials[0]], "keyCompromise", ca.operatorToken);
  const first = ca.crl();
  await ca.revokeMany([serials[1]], "keyCompromise", ca.operatorToken);
  const second = ca.crl();
  t.is(crlView(await first).size >= 1, true);
  t.is(crlView(await second).size, 2, "asked after the second revocation: lists both");
  t.is(crlView(await ca.crl()).size, 2, "nothing changed since: the same CRL");
  t.is(await ca.crl(), await second);
});

test("past half its validity the CRL is reissued on request, with thisUpdate and nextUpdate at the CA's clock", async (t) => {
  const { ca, clock } = await newCa({ crlValidityMs: 3_600_000 });
  t.teardown(() => ca.close());
  const first = parseCrl(await ca.crl());
  t.is(first.thisUpdate.getTime(), START);
  t.is(first.nextUpdate!.getTime(), START + 3_600_000);
  clock.advance(1_800_000);
  const second = parseCrl(await ca.crl());
  t.is(second.number, 2n);
  t.is(second.thisUpdate.getTime(), START + 1_800_000);
});

test('the "sync" build (as before issue 13) gives the same list', async (t) => {
  const { ca, clock } = await newCa({ crlBuild: "sync" });
  t.teardown(() => ca.close());
  const serials = serialsOf(20, 5000);
  ca.store.insertSynthetic(serials, "test", clock.nowMs(), clock.nowMs() + 86_400_000);
  await ca.revokeMany(serials.slice(0, 5), "superseded", ca.operatorToken);
  const der = await ca.crl();
  t.deepEqual(crlView(der), storeView(ca));
  t.is(crlView(der).size, 5);
});

test("a CRL lent to a response keeps its octets while later CRLs are built; released, its buffer is written again", async (t) => {
  const { ca, clock } = await newCa();
  t.teardown(() => ca.close());
  const serials = serialsOf(8, 9000);
  ca.store.insertSynthetic(serials, "test", clock.nowMs(), clock.nowMs() + 86_400_000);
  const lent = await ca.servedCrl();
  const kept = Buffer.from(lent.der);
  for (const s of serials.slice(0, 4)) {
    await ca.revokeMany([s], "keyCompromise", ca.operatorToken);
    const next = await ca.servedCrl();
    next.release();
  }
  t.deepEqual(Buffer.from(lent.der), kept, "unchanged while lent");
  t.is(parseCrl(lent.der).number, 1n);
  lent.release();
  lent.release(); // twice is once
  const last = await ca.crl();
  t.is(crlView(last).size, 4);
  t.true(await crlSignedBy(last, encodePem(ca.hierarchy.issuing.certificate, "CERTIFICATE")));
});

test("CrlBuffers: a buffer in use or leased is never handed out; a free one big enough is reused; too small ones are dropped", (t) => {
  const pool = new CrlBuffers();
  const a = pool.take(100);
  const b = pool.take(100);
  t.not(a, b, "a is in use");
  a.inUse = false;
  a.leases = 1;
  const c = pool.take(100);
  t.true(c !== a && c !== b, "a is leased");
  a.leases = 0;
  t.is(pool.take(100), a, "free again: reused");
  b.inUse = false;
  c.inUse = false;
  const big = pool.take(10_000);
  t.true(big.sab.byteLength >= 10_000);
  t.is(pool.size, 2, "the free, too small ones dropped: the one in use (a) and the new one");
});

/** Entries as listed (serial -> [time, reason]) and how many there are, duplicates counted (parseCrl's map would fold them). */
function listing(der: Uint8Array): { view: Map<string, [number, number | undefined]>; raw: number } {
  return { view: crlView(der), raw: new Crl(der).size };
}

test("a hold and a final revocation of one serial in one group commit: listed once by the worker build, as by the sync build (review R1 B3)", async (t) => {
  const { ca } = await newCa();
  t.teardown(() => ca.close());
  const holder = { id: "D-1", name: "Dora Dup", email: "dora@example.org" };
  const c = await ca.issue({ csrPem: (await makeCsr()).pem, profile: "authentication", holder, raToken: ca.raToken });
  const code = c.cancellationCodes!.holder;
  const req = (reason: "certificateHold" | "keyCompromise") => ({ serial: c.serial, reason, role: "holder" as const, code, email: holder.email, name: holder.name });
  const commits = ca.store.commits;
  // Two sources (different lockout triples): both land in one group commit.
  const r = await Promise.all([ca.revoke(req("certificateHold"), { source: "ip:10.0.0.1" }), ca.revoke(req("keyCompromise"), { source: "ip:10.0.0.2" })]);
  t.deepEqual(r.map((x) => x.status), ["on-hold", "revoked"]);
  t.is(ca.store.commits, commits + 1, "one commit held both");
  const worker = listing(await ca.crl());
  const sync = listing(ca.regenerateCrl());
  t.is(worker.raw, 1, "listed once");
  t.is(sync.raw, 1);
  t.deepEqual(worker.view, sync.view);
});

test("worker build equals sync build over random sequences of revoke, hold, release and hold-made-final, within and across commits", async (t) => {
  const { ca, clock } = await newCa();
  t.teardown(() => ca.close());
  const serials = serialsOf(16, 1000);
  ca.store.insertSynthetic(serials, "test", clock.nowMs(), clock.nowMs() + 86_400_000 * 365);
  const store = ca.store;
  let seed = 0x5eed;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const op = (serial: string, at: number) => {
    switch (rnd(4)) {
      case 0:
        return store.setRevoked(serial, Status.onHold, 6, at);
      case 1:
        return store.release(serial, at);
      case 2:
        return store.setRevoked(serial, Status.revoked, 1, at);
      default:
        return store.setRevoked(serial, Status.revoked, 4, at); // superseded
    }
  };
  for (let round = 0; round < 40; round++) {
    clock.advance(1000);
    const at = clock.nowMs();
    // 1 to 6 writers in this commit, each 1 or 2 changes, often on the same few serials.
    const writes: Array<Promise<unknown>> = [];
    for (let w = rnd(6) + 1; w > 0; w--) {
      const picks = Array.from({ length: rnd(2) + 1 }, () => serials[rnd(serials.length)]);
      writes.push(store.write(() => picks.map((s) => op(s, at))));
    }
    await Promise.all(writes);
    if (rnd(3) !== 0) continue; // sometimes several commits before a CRL
    const worker = listing(await ca.crl());
    const sync = listing(ca.regenerateCrl());
    t.is(worker.raw, worker.view.size, `round ${round}: no serial listed twice`);
    t.is(sync.raw, sync.view.size);
    const sorted = (m: Map<string, unknown>) => [...m].sort(([a], [b]) => (a < b ? -1 : 1)); // the two builds list in different orders
    t.deepEqual(sorted(worker.view), sorted(sync.view), `round ${round}`);
    t.deepEqual(sorted(worker.view), sorted(storeView(ca)), `round ${round}`);
  }
});
