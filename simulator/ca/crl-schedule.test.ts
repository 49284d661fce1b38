import "reflect-metadata";
import test from "ava";
import { X509Crl } from "@peculiar/x509";
import { EventBus, SeededRandom, VirtualClock } from "../../core/index.js";
import type { CrlPublisher } from "./crl-publisher.js";
import { CrlSchedule } from "./crl-schedule.js";
import { EmbeddedCa } from "./embedded-ca.js";
import { StatusChanges } from "./status-changes.js";

/**
 * The issuing CA's CRL is reissued on the schedule when past half its
 * validity at the CA's clock, with nobody asking and no revocation: a relying
 * party that fetches it later never gets one that is about to expire.
 */
const HOUR = 3_600_000;

async function until(done: () => boolean): Promise<void> {
  // The schedule runs on real time (every 5 ms here): wait for it, up to 5 s.
  for (let i = 0; i < 500 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
}

test("the schedule reissues the issuing CA's CRL once it is past half its validity, and not before", async (t) => {
  const clock = new VirtualClock("2026-03-01T10:00:00Z");
  const bus = new EventBus(clock);
  const signed: string[] = [];
  bus.on((e) => {
    if (e.type === "ca.crl" && e.data.issuer === "issuing") signed.push(e.data.number);
  });
  const ca = await EmbeddedCa.open({ clock, random: new SeededRandom(9), kdfLog2N: 4, crlScheduleMs: 5, crlValidityMs: 24 * HOUR, events: bus });
  t.teardown(() => ca.close());
  const first = new X509Crl(await ca.crl());
  t.deepEqual(signed, ["1"]);

  // Just under half its validity: many ticks pass, nothing is reissued.
  clock.advance(12 * HOUR - 1000);
  await new Promise((r) => setTimeout(r, 100));
  t.deepEqual(signed, ["1"], "not reissued before half its validity");

  clock.advance(1000);
  await until(() => signed.length > 1);
  t.deepEqual(signed, ["1", "2"], "reissued by the schedule, once");
  t.is(ca.store.meta("crl_number"), "2");
  // What the CA now serves is the scheduled CRL, current at the CA's clock.
  const now = new X509Crl(await ca.crl());
  t.deepEqual(signed, ["1", "2"], "served from the schedule's CRL, not signed again");
  t.is(now.thisUpdate.getTime(), clock.nowMs());
  t.is(now.nextUpdate!.getTime(), clock.nowMs() + 24 * HOUR);
  t.true(now.thisUpdate > first.thisUpdate);
});

test("without a schedule (crlScheduleMs 0) only a request reissues it", async (t) => {
  const clock = new VirtualClock("2026-03-01T10:00:00Z");
  const ca = await EmbeddedCa.open({ clock, random: new SeededRandom(9), kdfLog2N: 4, crlScheduleMs: 0 });
  t.teardown(() => ca.close());
  await ca.crl();
  clock.advance(20 * HOUR);
  await new Promise((r) => setTimeout(r, 100));
  t.is(ca.store.meta("crl_number"), "1", "nothing reissued it in the background");
  await ca.crl();
  t.is(ca.store.meta("crl_number"), "2");
});

/**
 * Defect 6 (issue 11): a full disk made the debounced CRL rebuild throw from
 * its timer, which ended the process after an acknowledged revocation. Now a
 * failed rebuild is an event ("ca.crl-failed", with the reason) and a retry,
 * and the next one succeeds when the store can be written again. Real
 * SQLite: a read-only connection (SQLITE_READONLY) refuses the CRL number's
 * write. If the timer still threw, ava would fail this file (uncaught).
 */
test("a CRL rebuild that fails on the store is reported and retried, never thrown from its timer; it succeeds when the store is back", async (t) => {
  const clock = new VirtualClock("2026-03-01T10:00:00Z");
  const bus = new EventBus(clock);
  const failed: Array<{ reason: string; sqlite?: string; retryInMs?: number }> = [];
  const signed: string[] = [];
  bus.on((e) => {
    if (e.type === "ca.crl-failed") failed.push(e.data);
    if (e.type === "ca.crl" && e.data.issuer === "issuing") signed.push(e.data.number);
  });
  const ca = await EmbeddedCa.open({ clock, random: new SeededRandom(9), kdfLog2N: 4, crlScheduleMs: 0, crlDebounceMs: 5, crlMaxDelayMs: 50, events: bus });
  t.teardown(() => ca.close());
  const { makeCsr } = await import("./testing.js");
  const { serial } = await ca.issue({ csrPem: (await makeCsr()).pem, profile: "signature", holder: { id: "C-1", name: "Cy", email: "cy@example.org" }, raToken: ca.raToken });
  await ca.crl();
  t.deepEqual(signed, ["1"]);

  await ca.revokeMany([serial], "keyCompromise", ca.operatorToken!);
  // The store turns read-only before the debounced rebuild runs (5 ms later).
  ca.store.db.pragma("query_only = 1");
  await until(() => failed.length >= 2);
  t.true(failed.length >= 2, "the first failure and at least one retry were reported");
  t.deepEqual(failed[0], { issuer: "issuing", reason: "read-only", sqlite: "SQLITE_READONLY", retryInMs: 1000 });
  t.is(failed[1].retryInMs, 2000, "the wait doubles");
  t.deepEqual(signed, ["1"], "nothing signed while the store is read-only");

  ca.store.db.pragma("query_only = 0");
  await until(() => signed.length > 1);
  t.deepEqual(signed, ["1", "2"], "the next retry signed it");
  t.truthy(new X509Crl(await ca.crl()).findRevoked(serial), "with the acknowledged revocation");
  t.deepEqual(signed, ["1", "2"], "and it is served without signing again");
});

test("the retry waits double per failure up to the maximum and start again from the first after a success", async (t) => {
  const changes = new StatusChanges();
  let failures = 3;
  const planned: Array<number | undefined> = [];
  const reissued: Array<() => void> = [];
  // Just the members the schedule uses: it fails `failures` times, then succeeds.
  const publisher = {
    onReissued: (l: () => void) => reissued.push(l),
    stale: () => true,
    due: () => ({ issuing: false, root: false }),
    tryReissue: (_which: unknown, retryInMs?: number) => {
      planned.push(retryInMs);
      return failures-- <= 0;
    },
  } as unknown as CrlPublisher;
  const schedule = new CrlSchedule(publisher, changes, { debounceMs: 1, maxDelayMs: 1000, everyMs: 0, retryMs: 2, maxRetryMs: 5 });
  t.teardown(() => schedule.close());
  changes.changed("revoked", ["01"]);
  await until(() => planned.length >= 4);
  t.deepEqual(planned, [2, 4, 5, 5], "2, 4, then capped at 5; the fourth try succeeded");
  failures = 1;
  changes.changed("revoked", ["02"]);
  await until(() => planned.length >= 6);
  await new Promise((r) => setTimeout(r, 50));
  t.deepEqual(planned.slice(4), [2, 4], "after a success the wait starts from the first again; one success ends the retries");
});

test("a change during an off-thread CRL build keeps its scheduled reissue: the older build's install cancels nothing (review R1 B4)", async (t) => {
  const clock = new VirtualClock("2026-03-01T10:00:00Z");
  // A long debounce: the timers of the change below are certainly still pending when the older build installs.
  const ca = await EmbeddedCa.open({ clock, random: new SeededRandom(9), kdfLog2N: 4, crlScheduleMs: 0, crlDebounceMs: 60_000, crlMaxDelayMs: 120_000 });
  t.teardown(() => ca.close());
  const serials = ["0b01", "0b02"];
  ca.store.insertSynthetic(serials, "test", clock.nowMs(), clock.nowMs() + 86_400_000);
  const audit = { at: clock.nowMs(), role: "test", action: "bulk-revoke" };
  const internals = ca as unknown as { s: { crls: { stale(): boolean; worker: { run: (...a: unknown[]) => Promise<unknown> } }; schedule: { debounce?: unknown; maxDelay?: unknown } } };
  const { crls, schedule } = internals.s;
  ca.store.bulkRevoke([serials[0]], 0, 1, clock.nowMs(), audit);
  // Hold the build on the worker until the second change has been made.
  const run = crls.worker.run.bind(crls.worker);
  let building!: () => void;
  const started = new Promise<void>((r) => (building = r));
  let proceed!: () => void;
  const gate = new Promise<void>((r) => (proceed = r));
  crls.worker.run = async (...a: unknown[]) => {
    building();
    await gate;
    return run(...a);
  };
  const first = ca.crl(); // snapshot: the first change only
  await started;
  ca.store.bulkRevoke([serials[1]], 0, 1, clock.nowMs(), audit); // arms the debounce and maxDelay timers
  t.truthy(schedule.debounce);
  proceed();
  await first;
  t.true(crls.stale(), "the installed CRL predates the second change");
  t.truthy(schedule.debounce, "its debounced reissue is still planned");
  t.truthy(schedule.maxDelay);
});
