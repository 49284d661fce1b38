import test from "ava";
import fc from "fast-check";
import { SeededRandom, VirtualClock } from "../../core/index.js";
import { nestsDeeperThan } from "../../core/index.js";
import { EmbeddedCa, startCaServer, type CaServer } from "./index.js";
import { makeCsr } from "./testing.js";

/**
 * The HTTP API's parsers under random input: a body that is not a valid
 * request always gets a 4xx with {error, message} (never a 5xx, never a
 * dropped connection), and nothing is written: no certificate, card or
 * revocation appears. (Wrong-credential counters and audit rows are meant to
 * be written: they are how lockout and "every attempt is audited" work.)
 */
let ca: EmbeddedCa;
let server: CaServer;
let csr: string;
let good: string;
const holder = { id: "F-1", name: "Fay Fuzz", email: "fay@example.org", organisation: "Acme", registration: { dateOfBirth: "1970-01-01" } };

test.before(async () => {
  ca = await EmbeddedCa.open({ clock: new VirtualClock("2026-05-01T00:00:00Z"), random: new SeededRandom(3), kdfLog2N: 4, maxFailedAttempts: 1_000_000 });
  server = await startCaServer(ca, { port: 0, virtualClock: true });
  csr = (await makeCsr()).pem;
  good = (await ca.issue({ csrPem: csr, profile: "authentication", holder, raToken: ca.raToken })).serial;
});
test.after.always(async () => {
  await server?.close();
  await ca?.close();
});

/** What "nothing half-written" means here: the rows that make up certificates, cards and revocations. */
function written(): string {
  const count = (table: string) => ca.store.db.prepare(`SELECT count(*) FROM ${table}`).pluck().get();
  return JSON.stringify([count("certificates"), count("cards"), count("revocations"), ca.store.meta("crl_number") ?? null]);
}

async function post(path: string, body: string, token?: string): Promise<{ status: number; json: unknown }> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(server.url + path, { method: "POST", headers, body });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

function isErrorBody(json: unknown): boolean {
  const o = json as { error?: unknown; message?: unknown } | null;
  return !!o && typeof o === "object" && typeof o.error === "string" && o.error !== "" && typeof o.message === "string" && o.message !== "";
}

// Endpoints that take a JSON body; the ones that need a credential are tried both without and with it.
const endpoints = (serial: string) => [
  { path: "/api/v1/certificates" },
  { path: "/api/v1/certificates", token: "ra" },
  { path: `/api/v1/certificates/${serial}/renew` },
  { path: `/api/v1/certificates/${serial}/revoke` },
  { path: `/api/v1/certificates/${serial}/revoke`, token: "operator" },
  { path: `/api/v1/certificates/${serial}/release` },
  { path: `/api/v1/certificates/${serial}/release`, token: "operator" },
  { path: `/api/v1/certificates/${serial}/unlock` },
  { path: "/api/v1/revocations" },
  { path: "/api/v1/revocations", token: "operator" },
] as Array<{ path: string; token?: "ra" | "operator" }>;

// Random bodies: arbitrary JSON, arbitrary text, and objects with the API's field names holding random values.
const fieldNames = ["csr", "profile", "holder", "cardExpiry", "reason", "role", "code", "email", "name", "answers", "serials", "advanceMs", "to"];
const bodyArb = fc.oneof(
  fc.json(),
  fc.string({ maxLength: 60 }),
  fc.dictionary(fc.constantFrom(...fieldNames), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 6 }).map((o) => JSON.stringify(o)),
);
const serialArb = fc.oneof(fc.constant("GOOD"), fc.stringMatching(/^[0-9a-fA-F]{1,44}$/), fc.string({ maxLength: 12 }));

test.serial("property: random bodies on every endpoint get 4xx {error, message} and write nothing", async (t) => {
  const before = written();
  let requests = 0;
  await fc.assert(
    fc.asyncProperty(serialArb, fc.nat(9), bodyArb, async (s, which, body) => {
      const serial = s === "GOOD" ? good : encodeURIComponent(s) || "x";
      const ep = endpoints(serial)[which];
      const r = await post(ep.path, body, ep.token === "ra" ? ca.raToken : ep.token === "operator" ? ca.operatorToken : undefined);
      requests++;
      if (r.status < 400 || r.status >= 500 || !isErrorBody(r.json)) throw new Error(`${ep.path} ${body} -> ${r.status} ${JSON.stringify(r.json)}`);
      if (written() !== before) throw new Error(`${ep.path} ${body} wrote something (${r.status})`);
    }),
    { numRuns: 400 },
  );
  t.is(written(), before);
  t.is(requests, 400);
  t.is((await ca.status(good)).status, "good");
});

test.serial("property: one field of a valid request made random: 201 or a 4xx that writes nothing, never a 5xx", async (t) => {
  const valid = { csr, profile: "signature", holder: { ...holder, id: "F-2" }, cardExpiry: "2028-01-01T00:00:00Z" };
  const fields = ["csr", "profile", "holder", "cardExpiry", "holder.id", "holder.name", "holder.email", "holder.organisation", "holder.registration"];
  const seen = new Set<number>();
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...fields), fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }), async (field, value) => {
      const body = structuredClone(valid) as Record<string, any>;
      const [a, b] = field.split(".");
      const target = b ? body[a] : body;
      const key = b ?? a;
      if (value === undefined) delete target[key];
      else target[key] = value;
      const before = written();
      const r = await post("/api/v1/certificates", JSON.stringify(body), ca.raToken);
      seen.add(r.status);
      if (r.status === 201) return;
      if (r.status < 400 || r.status >= 500 || !isErrorBody(r.json)) throw new Error(`${field}=${JSON.stringify(value)} -> ${r.status} ${JSON.stringify(r.json)}`);
      if (written() !== before) throw new Error(`${field}=${JSON.stringify(value)} wrote something (${r.status})`);
    }),
    // Values whose String() throws: a cardExpiry of [{"toString":0}] once answered 500.
    { numRuns: 150, examples: fields.flatMap((f): Array<[string, fc.JsonValue]> => [[f, [{ toString: 0 }]], [f, { toString: 0 }], [f, { valueOf: 0, toString: 0 }]]) },
  );
  t.true(seen.has(400), "the mutations did produce refusals");
});

test.serial("property: random OCSP GET paths and POST bodies always get an OCSP response", async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.string({ maxLength: 80 }), fc.base64String({ maxLength: 120 })), fc.uint8Array({ maxLength: 200 }), async (path, body) => {
      const g = await fetch(`${server.url}/ocsp/${encodeURIComponent(path)}`);
      const p = await fetch(`${server.url}/ocsp`, { method: "POST", headers: { "content-type": "application/ocsp-request" }, body });
      for (const res of [g, p]) {
        const der = new Uint8Array(await res.arrayBuffer());
        if (res.status !== 200 || res.headers.get("content-type") !== "application/ocsp-response" || der[0] !== 0x30) {
          throw new Error(`OCSP ${JSON.stringify(path)} -> ${res.status}`);
        }
      }
    }),
    { numRuns: 150 },
  );
  // A raw, un-encoded malformed escape in the path (decodeURIComponent throws on it).
  const raw = await fetch(`${server.url}/ocsp/%E0%A4%A`);
  t.is(raw.status, 200);
  t.deepEqual(Array.from(new Uint8Array(await raw.arrayBuffer())), [0x30, 3, 0x0a, 1, 1], "malformedRequest");
});

test.serial("property: the virtual clock endpoint answers 200 or 400 to any body, and never moves backwards", async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.record({ advanceMs: fc.oneof(fc.integer(), fc.double(), fc.constant(1e300), fc.constant(-1)) }, { requiredKeys: [] }),
        fc.record({ to: fc.oneof(fc.string({ maxLength: 30 }), fc.date({ noInvalidDate: true }).map((d) => d.toISOString())) }),
        fc.jsonValue({ maxDepth: 2 }),
      ),
      async (body) => {
        const before = ca.clock.nowMs();
        const r = await post("/api/v1/clock", JSON.stringify(body), ca.operatorToken);
        if (r.status !== 200 && !(r.status === 400 && isErrorBody(r.json))) throw new Error(`${JSON.stringify(body)} -> ${r.status} ${JSON.stringify(r.json)}`);
        const now = ca.clock.nowMs();
        if (!Number.isFinite(now) || now < before) throw new Error(`${JSON.stringify(body)} moved the clock to ${now}`);
        if (r.status === 400 && now !== before) throw new Error(`${JSON.stringify(body)} was refused but moved the clock`);
      },
    ),
    { numRuns: 150 },
  );
  t.true(Number.isFinite(ca.clock.nowMs()));
});

/** How deep a JSON value nests (a scalar 0, [] or {} 1). */
function depthOf(v: unknown): number {
  if (v === null || typeof v !== "object") return 0;
  const children = Array.isArray(v) ? v : Object.values(v);
  return 1 + children.reduce<number>((m, c) => Math.max(m, depthOf(c)), 0);
}

test("property: the depth scan agrees with the real nesting of any JSON text (strings with brackets, quotes and escapes included)", (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 12 }), fc.nat(12), (v, max) => nestsDeeperThan(JSON.stringify(v), max) === depthOf(v) > max),
      { numRuns: 2000, examples: [[["[", "\\", '"]]'], 1], [{ "{[": "\\\"[" }, 0]] },
    ),
  );
  // Not JSON at all: the scan only counts and never throws.
  t.notThrows(() => fc.assert(fc.property(fc.string({ maxLength: 200 }), fc.nat(10), (text, max) => typeof nestsDeeperThan(text, max) === "boolean")));
});

test.serial("property: any content type and any bytes on the body routes get a 4xx {error, message}, never a 5xx or a dropped connection", async (t) => {
  const types = fc.oneof(
    fc.constantFrom("application/json", "application/json; charset=utf-8", "application/json; charset=latin1", "application/x+json", "text/plain", "", "application/ocsp-request"),
    fc.string({ maxLength: 40 }).filter((s) => !/[\r\n]/.test(s) && /^[\x20-\x7e]*$/.test(s)),
  );
  let requests = 0;
  await fc.assert(
    fc.asyncProperty(types, fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.nat(9), async (type, bytes, which) => {
      const ep = endpoints(good)[which];
      const token = ep.token === "ra" ? ca.raToken : ep.token === "operator" ? ca.operatorToken : undefined;
      const headers: Record<string, string> = { "content-type": type };
      if (token) headers.authorization = `Bearer ${token}`;
      const res = await fetch(server.url + ep.path, { method: "POST", headers, body: bytes });
      const json = (await res.json().catch(() => undefined)) as unknown;
      requests++;
      if (res.status < 400 || res.status >= 500 || !isErrorBody(json)) throw new Error(`${ep.path} ${type} -> ${res.status}`);
    }),
    { numRuns: 300 },
  );
  t.is(requests, 300);
  t.is((await ca.status(good)).status, "good");
});
