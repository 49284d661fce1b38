import test from "ava";
import fc from "fast-check";
import { once } from "node:events";
import { X509Certificate, randomBytes } from "node:crypto";
import { connect } from "node:net";
import { VirtualClock, type Random } from "../../core/index.js";
import { CaError, EmbeddedCa, startCaServer, type CaServer } from "./index.js";
import { ISSUE_BATCH_MAX, issueBatchBodyBytes } from "./http-issue.js";
import { makeCsr } from "./testing.js";

/**
 * Bulk issuance, `POST /api/v1/certificates/batch` (http-issue.ts), against a real served embedded CA (SQLite in
 * memory): the RA token before the body, the body's limits, one result per item in order with a refusal in its
 * place, one durable commit per batch, every certificate verifying and stored; and the serial's primary key
 * catching a repeated draw (no lookup before the insert).
 */

/** A CSPRNG whose next 16-octet draws can be dictated (a repeated serial, on purpose). */
class SteeredRandom implements Random {
  readonly forced: Uint8Array[] = [];
  bytes(n: number): Uint8Array {
    if (n === 16 && this.forced.length > 0) return this.forced.shift()!.slice();
    return new Uint8Array(randomBytes(n));
  }
}

let ca: EmbeddedCa;
let server: CaServer;
let csr: string;
let badCsr: string;
const random = new SteeredRandom();

test.before(async () => {
  ca = await EmbeddedCa.open({ clock: new VirtualClock("2026-05-01T00:00:00Z"), random, kdfLog2N: 4 });
  server = await startCaServer(ca, { port: 0 });
  csr = (await makeCsr()).pem;
  badCsr = (await makeCsr({ badSignature: true })).pem;
});
test.after.always(async () => {
  await server?.close();
  await ca?.close();
});

const count = (table: string) => ca.store.db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;

async function postBatch(body: string, token: string | undefined = ca.raToken): Promise<{ status: number; json: Record<string, unknown> }> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${server.url}/api/v1/certificates/batch`, { method: "POST", headers, body });
  const text = await res.text();
  return { status: res.status, json: JSON.parse(text) as Record<string, unknown> };
}

/** Headers only, the body announced and never sent; the status line of the answer (the CA answers without reading it). */
async function headersOnly(headers: Record<string, string>): Promise<number> {
  const u = new URL(server.url);
  const socket = connect(Number(u.port), u.hostname);
  let received = "";
  socket.on("data", (d: Buffer) => (received += d.toString("latin1")));
  socket.on("error", () => undefined);
  await once(socket, "connect");
  const lines = Object.entries({ host: "ca", "content-type": "application/json", ...headers }).map(([k, v]) => `${k}: ${v}\r\n`);
  socket.write(`POST /api/v1/certificates/batch HTTP/1.1\r\n${lines.join("")}\r\n`);
  // The CA answers and closes (a body was announced and left unread).
  await once(socket, "close");
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1] ?? 0);
}

const item = (i: number, extra: Record<string, unknown> = {}) => ({ csr, profile: "authentication", holder: { id: `B-${i}`, name: `Batch Holder ${i}`, email: `b${i}@example.org` }, ...extra });

test.serial("the RA token is checked before a byte of the body is read (401, audited); a body declared too large is 413; nothing is written", async (t) => {
  const before = [count("certificates"), count("cards")];
  t.is(await headersOnly({ "content-length": "100000" }), 401);
  t.is(await headersOnly({ "content-length": "100000", authorization: `Bearer ${ca.operatorToken}` }), 403);
  t.is(await headersOnly({ "content-length": String(issueBatchBodyBytes(server.limits) + 1), authorization: `Bearer ${ca.raToken}` }), 413);
  t.deepEqual([count("certificates"), count("cards")], before);
  const refusals = ca.audit().filter((e) => e.action === "issue");
  t.true(refusals.some((e) => e.role === "anonymous" && e.outcome === "credential-required"));
  t.true(refusals.some((e) => e.role === "operator"));
});

test.serial("the batch's shape: not an object, no or an empty list, more than the maximum: 400, nothing issued", async (t) => {
  const before = count("certificates");
  for (const body of ["[]", "{}", '{"requests": []}', '{"requests": {"0": 1}}', "not json"]) {
    const r = await postBatch(body);
    t.is(r.status, 400, body);
    t.is(typeof r.json.error, "string");
  }
  const tooMany = await postBatch(JSON.stringify({ requests: Array.from({ length: ISSUE_BATCH_MAX + 1 }, () => ({})) }));
  t.is(tooMany.status, 400);
  t.is(tooMany.json.error, "too-many-requests-in-batch");
  t.is(count("certificates"), before);
});

test.serial("items refused in their place (bad CSR, bad holder, not an object), the others issued in ONE durable commit, each verifying and stored, codes for new cards", async (t) => {
  const commits = ca.store.commits;
  const requests = [item(1), item(2, { csr: badCsr }), item(3), item(4, { holder: { id: "B-4", name: "Bad Mail", email: "not an address" } }), 7, item(5, { profile: "signature" }), item(1)];
  const r = await postBatch(JSON.stringify({ requests }));
  t.is(r.status, 200);
  t.is(r.json.issued, 4);
  t.is(r.json.refused, 3);
  const results = r.json.results as Array<Record<string, unknown>>;
  t.is(results.length, requests.length);
  t.deepEqual(
    results.map((x) => (typeof x.serial === "string" ? "ok" : `${x.status} ${x.error}`)),
    ["ok", "400 bad-csr-signature", "ok", "400 bad-holder", "400 bad-request", "ok", "ok"],
  );
  t.is(ca.store.commits, commits + 1, "one durable commit for the whole batch");
  const issuing = new X509Certificate(ca.chainPem()[0]);
  for (const x of results.filter((y) => typeof y.serial === "string")) {
    const cert = new X509Certificate(x.certificate as string);
    t.true(cert.verify(issuing.publicKey));
    t.is(cert.serialNumber.toLowerCase(), x.serial as string);
    t.deepEqual(x.chain, ca.chainPem());
    t.is(ca.store.certificate(x.serial as string)?.der?.equals(cert.raw), true);
    t.is((await ca.status(x.serial as string)).status, "good");
  }
  // The first issuance for a holder hands out its codes; the second request for B-1 in the same batch does not.
  t.truthy((results[0].cancellationCodes as { holder?: string })?.holder);
  t.truthy((results[2].cancellationCodes as { holder?: string })?.holder);
  t.is(results[6].cancellationCodes, undefined);
  t.is(new X509Certificate(results[5].certificate as string).keyUsage?.includes("1.3.6.1.5.5.7.3.2") ?? false, false);
  t.true(results.every((x) => typeof x.message !== "string" || !x.message.includes(csr)));
});

test.serial("the route's body parsing under random input: never a 5xx, always {error, message} or results, one result per item", async (t) => {
  const anyItem = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.record({ csr: fc.oneof(fc.constant(csr), fc.string()), profile: fc.oneof(fc.constant("authentication"), fc.string()), holder: fc.jsonValue({ maxDepth: 2 }), cardExpiry: fc.jsonValue({ maxDepth: 1 }) }, { requiredKeys: [] }),
  );
  const body = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
    fc.array(anyItem, { maxLength: 6 }).map((requests) => JSON.stringify({ requests })),
  );
  await fc.assert(
    fc.asyncProperty(body, async (b) => {
      const r = await postBatch(b);
      if (r.status >= 500) return false;
      if (r.status !== 200) return typeof r.json.error === "string" && typeof r.json.message === "string";
      const sent = (JSON.parse(b) as { requests: unknown[] }).requests;
      const results = r.json.results as Array<Record<string, unknown>>;
      return results.length === sent.length && results.every((x) => typeof x.serial === "string" || (typeof x.status === "number" && x.status < 500 && typeof x.error === "string"));
    }),
    { numRuns: 80 },
  );
  t.is((await postBatch(JSON.stringify({ requests: [item(900)] }))).status, 200);
});

test.serial("a serial drawn twice: the primary key catches it and the issuance takes a new one (single, batch and renewal)", async (t) => {
  // Holders with a card already: the serial is the next 16-octet draw.
  const first = await ca.issue({ csrPem: csr, profile: "authentication", holder: { id: "B-3", name: "Batch Holder 3", email: "b3@example.org" }, raToken: ca.raToken });
  const taken = Buffer.from(first.serial, "hex");
  random.forced.push(taken);
  const again = await ca.issue({ csrPem: csr, profile: "authentication", holder: { id: "B-3", name: "Batch Holder 3", email: "b3@example.org" }, raToken: ca.raToken });
  t.not(again.serial, first.serial);
  t.truthy(ca.store.certificate(again.serial));
  t.is(random.forced.length, 0);
  // In a batch: two items draw one fresh serial; the second is signed again with a new one, in a second commit.
  const fresh = Buffer.from(randomBytes(16));
  fresh[0] = (fresh[0] & 0x7f) | 0x40;
  random.forced.push(fresh, fresh);
  const commits = ca.store.commits;
  const holder = { id: "B-3", name: "Batch Holder 3", email: "b3@example.org" };
  const r = await ca.issueMany([0, 1].map(() => ({ csrPem: csr, profile: "authentication" as const, holder, raToken: ca.raToken })));
  const serials = r.map((x) => (x instanceof CaError ? "refused" : x.serial));
  t.is(serials[0], fresh.toString("hex"));
  t.not(serials[1], serials[0]);
  t.regex(serials[1], /^[4-7][0-9a-f]{31}$/);
  t.is(ca.store.commits, commits + 2);
  const issuing = new X509Certificate(ca.chainPem()[0]);
  for (const x of r) t.true(!(x instanceof CaError) && new X509Certificate(x.certificatePem).verify(issuing.publicKey) && x.serial === new X509Certificate(x.certificatePem).serialNumber.toLowerCase());
  // A renewal drawing a taken serial: its transaction rolls back whole and it renews under a new one.
  random.forced.push(Buffer.from(again.serial, "hex"));
  const renewed = await ca.renew(first.serial, { csrPem: csr, operatorToken: ca.operatorToken });
  t.not(renewed.serial, again.serial);
  t.is(random.forced.length, 0);
  t.is(new X509Certificate(renewed.certificatePem).serialNumber.toLowerCase(), renewed.serial);
  t.is(ca.audit(first.serial).filter((e) => e.action === "renew" && e.outcome === "ok").length, 1);
});

test.serial("in process: every item carries its own RA token; a wrong one refuses that item alone", async (t) => {
  const r = await ca.issueMany([
    { csrPem: csr, profile: "authentication", holder: { id: "T-1", name: "Token One", email: "t1@example.org" }, raToken: ca.raToken },
    { csrPem: csr, profile: "authentication", holder: { id: "T-2", name: "Token Two", email: "t2@example.org" }, raToken: "nope" },
  ]);
  t.false(r[0] instanceof CaError);
  t.true(r[1] instanceof CaError && r[1].status === 401);
  t.truthy(ca.store.card("T-1"));
  t.is(ca.store.card("T-2"), undefined);
});
