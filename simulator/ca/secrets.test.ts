import test from "ava";
import { SeededRandom, VirtualClock } from "../../core/index.js";
import { EmbeddedCa } from "./embedded-ca.js";
import { hashCode, hashSecret, KDF_QUEUE, normaliseAnswer, normaliseCode, storedKind, verifyCode, verifySecret } from "./secrets.js";
import { makeCsr } from "./testing.js";

/**
 * CA-generated codes get a keyed hash (HMAC-SHA256 under the CA's code key),
 * what a person chose keeps scrypt; hashes from earlier versions still verify.
 */
const random = new SeededRandom(3);
const key = Buffer.alloc(32, 7);
const otherKey = Buffer.alloc(32, 8);

test("a code's keyed hash verifies the code in any spelling the CA accepts, and nothing else", (t) => {
  const stored = hashCode(normaliseCode("ABCD-EFGH-JKMN-PQRS"), random, key);
  t.is(storedKind(stored), "hmac");
  t.true(verifyCode(normaliseCode("abcd efgh jkmn pqrs"), stored, key));
  t.false(verifyCode(normaliseCode("ABCD-EFGH-JKMN-PQRT"), stored, key));
  t.false(verifyCode(normaliseCode("ABCD-EFGH-JKMN-PQRS"), stored, otherKey), "without the CA's key the rows check nothing");
  // salted: the same code hashes differently each time
  t.not(hashCode("SAME", random, key), hashCode("SAME", random, key));
  for (const bad of ["hmac$", "hmac$abc", "hmac$a$b$c", "scrypt$14$a$b", ""]) t.false(verifyCode("X", bad, key), bad);
});

test("verifySecret reads both forms: keyed hashes with the key only, scrypt hashes as before", async (t) => {
  const code = hashCode("CODE", random, key);
  const answer = await hashSecret(normaliseAnswer("1970-01-01"), random, 4);
  t.is(storedKind(answer), "scrypt");
  t.true(await verifySecret("CODE", code, false, key));
  t.false(await verifySecret("CODE", code, false), "no key, no check");
  t.true(await verifySecret(normaliseAnswer(" 1970-01-01 "), answer, false, key));
  t.false(await verifySecret("1970-01-02", answer, false, key));
});

test.serial("a code check waits in no queue: it is answered while the scrypt queue is full", async (t) => {
  const slow = await hashSecret("RIGHT", random, 12);
  const code = hashCode("CODE", random, key);
  const order: string[] = [];
  const scrypts = Array.from({ length: KDF_QUEUE }, (_, i) => verifySecret("WRONG", slow, false).then(() => order.push(`scrypt-${i}`)));
  const fast = verifySecret("CODE", code, false, key).then((ok) => order.push(ok ? "code" : "code-refused"));
  await Promise.allSettled([...scrypts, fast]);
  t.is(order[0], "code", "the code check finished first, ahead of every queued scrypt check");
});

test.serial("a new card's codes and holder id are keyed hashes, its chosen answers scrypt; an earlier version's scrypt codes still revoke", async (t) => {
  const ca = await EmbeddedCa.open({ clock: new VirtualClock("2026-03-01T10:00:00Z"), random: new SeededRandom(9), kdfLog2N: 4, crlScheduleMs: 0 });
  t.teardown(() => ca.close());
  const csrPem = (await makeCsr()).pem;
  const holder = { id: "SC-1", name: "Sita Code", email: "sita@example.org", organisation: "Acme", registration: { dateOfBirth: "1980-02-03" } };
  const a = await ca.issue({ csrPem, profile: "authentication", holder, raToken: ca.raToken });
  const card = ca.store.card("SC-1")!;
  t.deepEqual([card.holder_code, card.legal_code, card.authorised_code].map(storedKind), ["hmac", "hmac", "hmac"]);
  const reg = JSON.parse(card.registration) as Record<string, string>;
  t.deepEqual([storedKind(reg.holderId), storedKind(reg.dateOfBirth)], ["hmac", "scrypt"]);
  for (const c of Object.values(a.cancellationCodes!)) t.false(JSON.stringify(card).includes(c), "no code in clear");
  // The operator's answers: the holder id (keyed) and the date of birth (scrypt), both checked.
  const op = await ca.revoke({ serial: a.serial, reason: "certificateHold", role: "operator", answers: { holderId: "SC-1", dateOfBirth: "1980-02-03" }, operatorToken: ca.operatorToken });
  t.is(op.status, "on-hold");

  // A card as an earlier version stored it: every hash scrypt (written before anything read the row back).
  const old = { id: "SC-OLD", name: "Olga Old", email: "olga@example.org" };
  const code = "0123-4567-89AB-CDEF";
  const r = await ca.issue({ csrPem, profile: "signature", holder: old, raToken: ca.raToken });
  ca.store.db
    .prepare("UPDATE cards SET holder_code = ?, registration = ? WHERE card_id = ?")
    .run(await hashSecret(normaliseCode(code), new SeededRandom(1), 4), JSON.stringify({ holderId: await hashSecret("sc-old", new SeededRandom(2), 4) }), "SC-OLD");
  t.is(storedKind(ca.store.card("SC-OLD")!.holder_code), "scrypt");
  const asOld = (c: string) => ({ serial: r.serial, reason: "keyCompromise" as const, role: "holder" as const, code: c, email: old.email, name: old.name });
  const before = ca.kdfCalls;
  const wrong = await ca.revoke(asOld("0123-4567-89AB-CDEE")).then(
    () => 200,
    (e: { status: number }) => e.status,
  );
  t.is(wrong, 403);
  t.is((await ca.revoke(asOld(code.toLowerCase()))).status, "revoked", "the old scrypt code still revokes");
  t.is(ca.kdfCalls - before, 2, "one verification each");
});
