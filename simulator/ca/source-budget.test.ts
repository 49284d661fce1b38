import test from "ava";
import { SeededRandom, VirtualClock } from "../../core/index.js";
import { CaError, type RevokeRequest } from "./api.js";
import { EmbeddedCa } from "./embedded-ca.js";
import { DEFAULT_SOURCE_BUDGET, SourceBudget } from "./source-budget.js";
import { makeCsr } from "./testing.js";
import { hashSecret, KDF_QUEUE, verifySecret } from "./secrets.js";
import { availableParallelism } from "node:os";

/**
 * Failed credential checks are bounded per source across certificates: the
 * per-certificate lockout alone let one source spray wrong codes over serials
 * that do not exist, each costing a full scrypt (found by bench/ca-flood).
 */
const START = "2026-03-01T10:00:00Z";
const ATTACKER = { source: "ip:127.0.0.2" };
const DESK = { source: "ip:127.0.0.1" };
const { burst } = DEFAULT_SOURCE_BUDGET;

const unknownSerial = (i: number) => (0x40_00_00_00 + i).toString(16);
const guess = (serial: string): RevokeRequest => ({ serial, reason: "keyCompromise", role: "holder", code: "0000-0000-0000-0000", email: "x@example.org", name: "X" });

async function statusOf(p: Promise<unknown>): Promise<number | string> {
  return p.then(
    () => "ok",
    (e: CaError) => e.status,
  );
}

test("a source spraying unknown serials costs the CA `burst` key derivations, then waits; another source is not affected", async (t) => {
  const clock = new VirtualClock(START);
  const ca = await EmbeddedCa.open({ clock, random: new SeededRandom(5), kdfLog2N: 4, crlScheduleMs: 0 });
  t.teardown(() => ca.close());
  const before = ca.kdfCalls;
  const seen: (number | string)[] = [];
  for (let i = 0; i < burst + 40; i++) seen.push(await statusOf(ca.revoke(guess(unknownSerial(i)), ATTACKER)));
  t.deepEqual(seen, [...Array(burst).fill(404), ...Array(40).fill(429)]);
  t.is(ca.kdfCalls - before, burst, "no key derivation once the source is out of budget");
  const refused = await t.throwsAsync<CaError>(ca.revoke(guess(unknownSerial(999)), ATTACKER));
  t.is(refused?.reason, "too-many-attempts");
  t.true((refused?.retryAfterMs ?? 0) > 0);
  // another source still gets its answer
  t.is(await statusOf(ca.revoke(guess(unknownSerial(1000)), DESK)), 404);
  // and the attacker's budget refills with time (one check per 5 s)
  clock.advance(25_000);
  const after = [];
  for (let i = 0; i < 6; i++) after.push(await statusOf(ca.revoke(guess(unknownSerial(2000 + i)), ATTACKER)));
  t.deepEqual(after, [404, 404, 404, 404, 404, 429]);
});

test("right codes cost nothing: one desk revokes more cards than the budget holds", async (t) => {
  const clock = new VirtualClock(START);
  const ca = await EmbeddedCa.open({ clock, random: new SeededRandom(6), kdfLog2N: 4, crlScheduleMs: 0 });
  t.teardown(() => ca.close());
  const csrPem = (await makeCsr()).pem;
  const cards = burst + 5;
  let revoked = 0;
  for (let i = 0; i < cards; i++) {
    const holder = { id: `BD-${i}`, name: `Holder ${i}`, email: `h${i}@example.org`, organisation: "Acme" };
    const r = await ca.issue({ csrPem, profile: "authentication", holder, raToken: ca.raToken });
    const done = await ca.revoke({ serial: r.serial, reason: "affiliationChanged", role: "legal-representative", code: r.cancellationCodes!.legalRepresentative }, DESK);
    if (done.status === "revoked") revoked++;
  }
  t.is(revoked, cards);
});

test("the map of sources stays bounded under a flood from many addresses", (t) => {
  const clock = new VirtualClock(START);
  const budget = new SourceBudget(clock, { burst: 2, perSecond: 1, maxSources: 100 });
  for (let i = 0; i < 10_000; i++) budget.take(`ip:10.0.${i >> 8}.${i & 255}`);
  const size = (budget as unknown as { buckets: Map<string, unknown> }).buckets.size;
  t.true(size <= 100, `${size} sources remembered`);
  // a source that is remembered and empty is still refused
  budget.take("ip:192.0.2.1");
  budget.take("ip:192.0.2.1");
  t.throws(() => budget.take("ip:192.0.2.1"), { instanceOf: CaError, message: /too many failed attempts/ });
});

test.serial("credential checks wait in a bounded queue: beyond it the CA answers 503 busy at once, and checks work again after", async (t) => {
  const random = new SeededRandom(9);
  const stored = await hashSecret("RIGHT", random, 4);
  const burst = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => verifySecret(i === 0 ? "RIGHT" : "WRONG", stored)));
  const busy = burst.filter((r) => r.status === "rejected" && r.reason instanceof CaError && r.reason.status === 503 && r.reason.reason === "busy").length;
  const answered = burst.filter((r) => r.status === "fulfilled").length;
  t.is(busy + answered, 200, "every check is answered or refused as busy, nothing else");
  t.true(answered >= KDF_QUEUE + 1 && answered <= KDF_QUEUE + availableParallelism(), `${answered} checked`);
  t.true((burst[0] as PromiseFulfilledResult<boolean>).value, "the first in line is checked, and right");
  t.true(await verifySecret("RIGHT", stored), "the queue drained: a check works again");
});

test.serial("a check for a source that has not failed lately goes ahead of the queued checks of sources that have", async (t) => {
  const random = new SeededRandom(10);
  const stored = await hashSecret("RIGHT", random, 8);
  const done: string[] = [];
  const guessers = Array.from({ length: 20 }, (_, i) => verifySecret("WRONG", stored, false).then(() => done.push(`guess-${i}`)));
  const holder = verifySecret("RIGHT", stored, true).then((ok) => done.push(ok ? "holder" : "holder-refused"));
  await Promise.all([...guessers, holder]);
  // Only the checks already running when the holder came can finish before it.
  const at = done.indexOf("holder");
  t.true(at >= 0 && at <= availableParallelism(), `the holder was checked ${at + 1}th of ${done.length}`);
});
