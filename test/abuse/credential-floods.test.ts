import test, { type ExecutionContext } from "ava";
import { KeyObject } from "node:crypto";
import { Agent, request, type Dispatcher } from "undici";
import { SeededRandom, VirtualClock } from "../../core/index.js";
import { EmbeddedCa, signRenewal, startCaServer, type CaServer } from "../../simulator/ca/index.js";
import { makeCsr } from "../../simulator/ca/testing.js";
import { DEFAULT_SOURCE_BUDGET } from "../../simulator/ca/source-budget.js";

/**
 * Credential floods through the real HTTP server (issue 11, defects 1, 2, 4,
 * 5 and 11), on loopback: the attacker connects from 127.0.0.2, the holder
 * from 127.0.0.1 (Linux routes all of 127/8 to lo), so the CA sees two
 * sources as it would see two machines. The CA's clock is virtual: no wait
 * in these tests depends on real time. Bounded: about 600 requests in all,
 * at most 10 in flight per source (the server allows 16 per client).
 */
const ATTACKER = "127.0.0.2";
const HOLDER = "127.0.0.1";
const BATCH = 10;

interface Served {
  ca: EmbeddedCa;
  clock: VirtualClock;
  server: CaServer;
  attacker: Dispatcher;
  holder: Dispatcher;
}

async function serve(t: ExecutionContext): Promise<Served> {
  const clock = new VirtualClock("2026-03-01T10:00:00Z");
  const ca = await EmbeddedCa.open({ clock, random: new SeededRandom(31), kdfLog2N: 4, crlScheduleMs: 0 });
  const server = await startCaServer(ca, { port: 0, host: HOLDER });
  // undici's own localAddress option (a `connect: { localAddress }` is not used by its connector).
  const attacker = new Agent({ localAddress: ATTACKER });
  const holder = new Agent({ localAddress: HOLDER });
  t.teardown(async () => {
    await attacker.close();
    await holder.close();
    await server.close();
    await ca.close();
  });
  return { ca, clock, server, attacker, holder };
}

interface Answer {
  status: number;
  error?: string;
  headers: Record<string, string | string[] | undefined>;
  json: Record<string, unknown>;
}

async function post(s: Served, from: Dispatcher, path: string, body: unknown, bearer?: string): Promise<Answer> {
  const res = await request(s.server.url + path, {
    dispatcher: from,
    method: "POST",
    headers: { "content-type": "application/json", ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
    body: JSON.stringify(body),
  });
  const text = await res.body.text();
  const json = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
  return { status: res.statusCode, error: json.error as string | undefined, headers: res.headers, json };
}

/** `n` requests from one source, `BATCH` at a time. */
async function flood(n: number, one: (i: number) => Promise<Answer>): Promise<Answer[]> {
  const out: Answer[] = [];
  for (let i = 0; i < n; i += BATCH) out.push(...(await Promise.all(Array.from({ length: Math.min(BATCH, n - i) }, (_, k) => one(i + k)))));
  return out;
}

const tally = (answers: Answer[]) => {
  const m: Record<string, number> = {};
  for (const a of answers) m[`${a.status} ${a.error ?? ""}`.trim()] = (m[`${a.status} ${a.error ?? ""}`.trim()] ?? 0) + 1;
  return m;
};

test("defect 4: 5 wrong codes each against 20 certificates from one source lock out that source only: every holder then revokes with the right code", async (t) => {
  const s = await serve(t);
  const csr = (await makeCsr()).pem;
  const certs: { serial: string; code: string; holder: { id: string; name: string; email: string } }[] = [];
  for (let i = 0; i < 20; i++) {
    const holder = { id: `FL-${i}`, name: `Holder ${i}`, email: `holder${i}@example.org` };
    const r = await post(s, s.holder, "/api/v1/certificates", { csr, profile: "authentication", holder }, s.ca.raToken);
    t.is(r.status, 201);
    certs.push({ serial: r.json.serial as string, code: (r.json.cancellationCodes as { holder: string }).holder, holder });
  }
  const revoke = (from: Dispatcher, c: (typeof certs)[number], code: string) =>
    post(s, from, `/api/v1/certificates/${c.serial}/revoke`, { reason: "keyCompromise", role: "holder", code, email: c.holder.email, name: c.holder.name });
  const work = s.ca.kdfCalls;
  const attack = await flood(100, (i) => revoke(s.attacker, certs[i % 20], "AAAA-BBBB-CCCC-DDDD"));
  // 5 per certificate is within each certificate's lockout, but the source's budget over all certificates
  // (source-budget.ts) holds DEFAULT_SOURCE_BUDGET.burst failed checks: the rest are refused unchecked.
  t.deepEqual(tally(attack), { "403 forbidden": DEFAULT_SOURCE_BUDGET.burst, "429 too-many-attempts": 100 - DEFAULT_SOURCE_BUDGET.burst }, "checked until the source's budget is spent");
  // The next from the attacker, even with the right code, waits until the budget has one check again (5 s).
  const next = await revoke(s.attacker, certs[0], certs[0].code);
  t.deepEqual([next.status, next.error, next.headers["retry-after"]], [429, "too-many-attempts", String(1 / DEFAULT_SOURCE_BUDGET.perSecond)]);
  const more = await flood(40, (i) => revoke(s.attacker, certs[i % 20], "AAAA-BBBB-CCCC-DDDD"));
  t.deepEqual(tally(more), { "429 too-many-attempts": 40 });
  t.is(s.ca.kdfCalls - work, DEFAULT_SOURCE_BUDGET.burst, "the refused attempts cost no KDF work");

  const holders = await flood(20, (i) => revoke(s.holder, certs[i], certs[i].code));
  t.deepEqual(tally(holders), { "200": 20 }, "every holder revokes with the right code from their own source");
  for (const c of certs) t.is((await s.ca.status(c.serial)).status, "revoked");
});

test("defect 5: 50 challenge requests from the attacker after the holder's; the holder's renewal succeeds, and its proof works once", async (t) => {
  const s = await serve(t);
  const old = await makeCsr();
  const holder = { id: "FL-R", name: "Rene Renew", email: "rene@example.org" };
  const issued = await post(s, s.holder, "/api/v1/certificates", { csr: old.pem, profile: "signature", holder }, s.ca.raToken);
  const serial = issued.json.serial as string;
  const ch = await post(s, s.holder, `/api/v1/certificates/${serial}/renewal-challenge`, {});
  t.is(ch.status, 201);
  const challenge = ch.json.challenge as string;
  const proof = Buffer.from(signRenewal(KeyObject.from(old.keys.privateKey), serial, challenge)).toString("base64");

  const attack = await flood(50, () => post(s, s.attacker, `/api/v1/certificates/${serial}/renewal-challenge`, {}));
  t.deepEqual(tally(attack), { "201": 50 });
  t.is(new Set(attack.map((a) => a.json.challenge)).size, 50);

  const next = (await makeCsr()).pem;
  const renewed = await post(s, s.holder, `/api/v1/certificates/${serial}/renew`, { csr: next, challenge, proof });
  t.is(renewed.status, 201, JSON.stringify(renewed.json));
  const replay = await post(s, s.attacker, `/api/v1/certificates/${serial}/renew`, { csr: next, challenge, proof });
  t.deepEqual([replay.status, replay.error], [403, "bad-challenge"]);
});

test("defects 1, 2 and 11: anonymous issuance and operator revocation are refused (401), and a malformed flood writes a bounded audit", async (t) => {
  const s = await serve(t);
  const csr = (await makeCsr()).pem;
  const carol = { id: "card-0042", name: "Carol", email: "carol@example.org" };
  const issued = await post(s, s.holder, "/api/v1/certificates", { csr, profile: "authentication", holder: carol }, s.ca.raToken);
  const serial = issued.json.serial as string;
  const certificates = () => s.ca.store.db.prepare("SELECT count(*) FROM certificates").pluck().get();

  const mallory = (await makeCsr({ commonName: "Mallory" })).pem;
  const issue = await flood(100, (i) =>
    post(s, s.attacker, "/api/v1/certificates", { csr: mallory, profile: "authentication", holder: carol }, i % 2 ? `guess-${i}` : undefined),
  );
  t.deepEqual(tally(issue), { "401 credential-required": 50, "401 bad-credential": 50 });
  t.true(issue.every((a) => String(a.headers["www-authenticate"]).startsWith("Bearer")));
  t.is(certificates(), 1, "no certificate for Mallory");
  // Refused by the HTTP layer before the body, and audited like any refusal (rate-limited: 10 rows per kind and minute).
  const issueRows = (outcome: string) => s.ca.audit().filter((r) => r.action === "issue" && r.outcome === outcome).length;
  t.deepEqual([issueRows("credential-required"), issueRows("bad-credential")], [10, 10]);

  const operator = await flood(20, (i) =>
    post(s, s.attacker, `/api/v1/certificates/${serial}/revoke`, { reason: i % 2 ? "certificateHold" : "keyCompromise", role: "operator", answers: { holderId: carol.id } }),
  );
  t.deepEqual(tally(operator), { "401 credential-required": 20 });
  t.is((await s.ca.status(serial)).status, "good");
  t.is(s.ca.store.db.prepare("SELECT count(*) FROM failures").pluck().get(), 0, "no failure counted against the certificate");
  const withToken = await post(s, s.holder, `/api/v1/certificates/${serial}/revoke`, { reason: "certificateHold", role: "operator", answers: { holderId: carol.id } }, s.ca.operatorToken);
  t.deepEqual([withToken.status, withToken.json.status], [200, "on-hold"], "the operator, with the token and the answers");

  const before = s.ca.audit().length;
  const malformed = await flood(200, (i) => post(s, s.attacker, `/api/v1/certificates/${i % 2 ? "zz" : "0abc"}/revoke`, { reason: "keyCompromise", role: "\u0000", code: "x" }));
  t.deepEqual(tally(malformed), { "400 bad-serial": 100, "400 bad-role": 100 });
  const during = s.ca.audit().length - before;
  t.true(during <= 10, `at most 10 rows per (source, action, outcome) and minute (got ${during})`);
  s.clock.advance(60_000);
  const rows = s.ca.audit().slice(before);
  // The minute is over: one summary per (source, action, outcome): this flood's, the operator flood's and the issuance flood's.
  const summaries = rows.filter((r) => r.outcome === "suppressed");
  t.deepEqual(summaries.map((r) => [r.action, r.detail]).sort(), [
    ["issue", "40"],
    ["issue", "40"],
    ["revoke", "10"],
    ["revoke", "190"],
  ]);
  t.is(rows.length, during + 4);
  t.false(JSON.stringify(s.ca.audit()).includes("\\u0000"), "no request value verbatim");
});
