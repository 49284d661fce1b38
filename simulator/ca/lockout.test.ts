import test from "ava";
import { SeededRandom, VirtualClock } from "../../core/index.js";
import { CaError, type IssueRequest, type RevokeRequest } from "./api.js";
import { EmbeddedCa, type EmbeddedCaOptions } from "./embedded-ca.js";
import { BACKOFF_MAX_MS, backoffMs } from "./lockout.js";
import { makeCsr } from "./testing.js";

/**
 * The lockout locks out the attacker, not the holder (issue 11, defect 4):
 * wrong credentials count per (certificate, role, source). Also names in
 * another Unicode normal form (defect 13) and the work an unknown serial
 * costs (defect 14, second half).
 */
const START = "2026-03-01T10:00:00Z";
const holder = { id: "LK-1", name: "Lena Lock", email: "lena@example.org", organisation: "Acme" };
const ATTACKER = { source: "ip:127.0.0.2" };
const HOLDER = { source: "ip:127.0.0.1" };

/** Issues as the issuing station does: with its (RA) token. */
const raIssue = (ca: EmbeddedCa, req: IssueRequest) => ca.issue({ ...req, raToken: ca.raToken });

let csrPem: string;
test.before(async () => {
  csrPem = (await makeCsr()).pem;
});

async function setup(extra: Partial<EmbeddedCaOptions> = {}) {
  const clock = new VirtualClock(START);
  const ca = await EmbeddedCa.open({ clock, random: new SeededRandom(23), kdfLog2N: 4, crlScheduleMs: 0, ...extra });
  const r = await raIssue(ca, { csrPem, profile: "authentication", holder });
  const codes = r.cancellationCodes!;
  const asHolder = (code: string): RevokeRequest => ({ serial: r.serial, reason: "keyCompromise", role: "holder", code, email: holder.email, name: holder.name });
  return { ca, clock, serial: r.serial, codes, asHolder };
}

async function status(p: Promise<unknown>): Promise<number | string> {
  return p.then(
    () => "ok",
    (e: CaError) => e.status,
  );
}

const WRONG = "0000-0000-0000-0000";

test("defect 4: 20 wrong codes from source A, then the holder's right code from source B revokes", async (t) => {
  const { ca, serial, codes, asHolder } = await setup();
  t.teardown(() => ca.close());
  const seen: (number | string)[] = [];
  for (let i = 0; i < 20; i++) seen.push(await status(ca.revoke(asHolder(WRONG), ATTACKER)));
  t.deepEqual(seen, [...Array(5).fill(403), ...Array(15).fill(429)], "5 checked, then refused unchecked while A waits");
  t.is((await ca.status(serial)).status, "good");
  const done = await ca.revoke(asHolder(codes.holder), HOLDER);
  t.is(done.status, "revoked");
});

test("the right credential for another role always works, and from the attacker's own source once its wait is over", async (t) => {
  const { ca, clock, serial, codes, asHolder } = await setup();
  t.teardown(() => ca.close());
  for (let i = 0; i < 5; i++) await status(ca.revoke(asHolder(WRONG), ATTACKER));
  const err = await t.throwsAsync<CaError>(ca.revoke(asHolder(codes.holder), ATTACKER));
  t.deepEqual([err?.status, err?.reason, err?.retryAfterMs], [429, "too-many-attempts", 1000]);
  // Same source, another role: its own count.
  const hold = await ca.revoke({ serial, reason: "certificateHold", role: "legal-representative", code: codes.legalRepresentative }, ATTACKER);
  t.is(hold.status, "on-hold");
  clock.advance(1000);
  t.is((await ca.revoke(asHolder(codes.holder), ATTACKER)).status, "revoked", "the wait is over: the right code works");
  t.is(ca.store.failure(serial, "holder", ATTACKER.source), undefined, "and clears the count");
});

test("each further wrong attempt doubles the wait, up to an hour at the CA's clock; waiting attempts do no KDF work", async (t) => {
  const { ca, clock, asHolder } = await setup({ maxFailedAttempts: 3 });
  t.teardown(() => ca.close());
  for (let i = 0; i < 3; i++) await status(ca.revoke(asHolder(WRONG), ATTACKER));
  const waits: number[] = [];
  for (let i = 0; i < 15; i++) {
    const work = ca.kdfCalls;
    const err = await t.throwsAsync<CaError>(ca.revoke(asHolder(WRONG), ATTACKER));
    t.is(err?.status, 429);
    t.is(ca.kdfCalls, work);
    waits.push(err!.retryAfterMs!);
    clock.advance(err!.retryAfterMs!);
    t.is(await status(ca.revoke(asHolder(WRONG), ATTACKER)), 403, "checked again once the wait is over");
  }
  t.deepEqual(waits, [1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 512000, 1024000, 2048000, 3600000, 3600000, 3600000]);
  t.is(backoffMs(1000), BACKOFF_MAX_MS);
});

test("the counts cannot grow without bound: a source's row untouched for a day is purged by later writes, a bounded batch each", async (t) => {
  const { ca, clock, asHolder } = await setup();
  t.teardown(() => ca.close());
  const rows = () => ca.store.db.prepare("SELECT count(*) FROM failures").pluck().get();
  for (let i = 0; i < 100; i++) await status(ca.revoke(asHolder(WRONG), { source: `ip:10.0.${i >> 8}.${i & 255}` }));
  t.is(rows(), 100);
  clock.advance(25 * 3_600_000);
  await status(ca.revoke(asHolder(WRONG), ATTACKER));
  t.is(rows(), 100 - 32 + 1, "one write purges at most 32");
  for (let i = 0; i < 3; i++) await status(ca.revoke(asHolder(WRONG), { source: `ip:10.1.0.${i}` }));
  t.is(rows(), 4);
});

test("an operator's unlock clears every source's count for the certificate and says how many", async (t) => {
  const { ca, serial, codes, asHolder } = await setup();
  t.teardown(() => ca.close());
  for (const source of ["ip:10.0.0.1", "ip:10.0.0.2", "ip:10.0.0.3"]) for (let i = 0; i < 5; i++) await status(ca.revoke(asHolder(WRONG), { source }));
  await t.throwsAsync(ca.unlock(serial, undefined), { instanceOf: CaError, message: /needs the operator token/ });
  await ca.unlock(serial, ca.operatorToken);
  t.like(ca.audit(serial).at(-1), { role: "operator", action: "unlock", outcome: "ok", detail: "3" });
  t.is((await ca.revoke(asHolder(codes.holder), { source: "ip:10.0.0.1" })).status, "revoked");
});

test("defect 13: a name or email in another Unicode normal form is the right one, and counts no failure", async (t) => {
  const clock = new VirtualClock(START);
  const ca = await EmbeddedCa.open({ clock, random: new SeededRandom(29), kdfLog2N: 4, crlScheduleMs: 0 });
  t.teardown(() => ca.close());
  const zoe = { id: "LK-2", name: "Zoë Ünal-Ørsted", email: "zoë@example.org", registration: { city: "Malmö" } };
  const a = await raIssue(ca, { csrPem, profile: "authentication", holder: zoe });
  const b = await raIssue(ca, { csrPem, profile: "signature", holder: zoe });
  const nfd = (s: string) => s.normalize("NFD");
  t.not(nfd(zoe.name), zoe.name);
  const r = await ca.revoke({ serial: a.serial, reason: "keyCompromise", role: "holder", code: a.cancellationCodes!.holder, email: nfd(zoe.email).toUpperCase(), name: nfd(zoe.name) });
  t.is(r.status, "revoked");
  const op = await ca.revoke({ serial: b.serial, reason: "keyCompromise", role: "operator", answers: { holderId: "lk-2", city: nfd("MALMÖ") }, operatorToken: ca.operatorToken });
  t.is(op.status, "revoked");
  t.is(ca.store.db.prepare("SELECT count(*) FROM failures").pluck().get(), 0);
  t.false(ca.audit().some((e) => e.outcome === "denied"));
  // Issued in NFD: the card keeps the NFC form (holder-names.ts), and either form revokes.
  const nfdHolder = { id: "LK-3", name: nfd("Åsa Lindqvist"), email: "asa@example.org" };
  const c = await raIssue(ca, { csrPem, profile: "authentication", holder: nfdHolder });
  t.is(ca.store.card("LK-3")?.name, "Åsa Lindqvist".normalize("NFC"));
  const byNfc = await ca.revoke({ serial: c.serial, reason: "keyCompromise", role: "holder", code: c.cancellationCodes!.holder, email: nfdHolder.email, name: "Åsa Lindqvist".normalize("NFC") });
  t.is(byNfc.status, "revoked");
});

test("defect 14: a revocation for an unknown serial does the same KDF work as a wrong code before its 404", async (t) => {
  const { ca, serial, asHolder } = await setup();
  t.teardown(() => ca.close());
  const work = async (req: RevokeRequest) => {
    const before = ca.kdfCalls;
    const s = await status(ca.revoke(req, ATTACKER));
    return { status: s, kdf: ca.kdfCalls - before };
  };
  const real = await work(asHolder(WRONG));
  const unknown = await work({ ...asHolder(WRONG), serial: "7f" + serial.slice(2) });
  t.deepEqual(real, { status: 403, kdf: 1 });
  t.deepEqual(unknown, { status: 404, kdf: 1 });
  const rep = await work({ serial: "0abc", reason: "affiliationChanged", role: "legal-representative", code: WRONG });
  t.deepEqual(rep, { status: 404, kdf: 1 });
});
