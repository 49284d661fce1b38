import "reflect-metadata";
import test from "ava";
import { X509Crl } from "@peculiar/x509";
import { EventBus, SeededRandom, VirtualClock } from "../../core/index.js";
import { EmbeddedCa } from "./embedded-ca.js";

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
