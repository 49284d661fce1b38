import "reflect-metadata";
import test from "ava";
import { KeyObject } from "node:crypto";
import { SeededRandom, VirtualClock } from "../../core/index.js";
import { EmbeddedCa, startCaServer, type CaHttpBackend, type CaServer } from "./index.js";
import { signRenewal } from "./renewal-proof.js";
import { makeCsr } from "./testing.js";

/** The HTTP API's contract: shapes, status codes, {error, message} bodies, operator token, virtual clock. */
let ca: EmbeddedCa;
let server: CaServer;
let csr: string;
/** The private key of `csr`: it proves the renewal of any certificate issued for it, as the card would. */
let csrKey: KeyObject;
/** Codes come only with the card's first issuance (first test). */
let codes: Record<string, string>;
const holder = { id: "P-9", name: "Carla Pro", email: "carla@acme.example", organisation: "Acme", registration: { dateOfBirth: "1980-01-02" } };

test.before(async () => {
  ca = await EmbeddedCa.open({ clock: new VirtualClock("2026-05-01T00:00:00Z"), random: new SeededRandom(1), kdfLog2N: 4, maxFailedAttempts: 3 });
  server = await startCaServer(ca, { port: 0, virtualClock: true });
  const made = await makeCsr();
  csr = made.pem;
  csrKey = KeyObject.from(made.keys.privateKey);
});
test.after.always(async () => {
  await server?.close();
  await ca?.close();
});

async function call(method: string, path: string, body?: unknown, token?: string) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(server.url + path, { method, headers, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

async function issue(profile = "authentication", cardExpiry?: string) {
  const r = await call("POST", "/api/v1/certificates", { csr, profile, holder, cardExpiry });
  return r;
}

test.serial("issue -> 201 with the documented shape; bad input -> 400 {error, message}", async (t) => {
  const r = await issue("authentication", "2028-01-01T00:00:00Z");
  t.is(r.status, 201);
  t.regex(r.json.serial, /^[0-9a-f]+$/);
  t.regex(r.json.certificate, /BEGIN CERTIFICATE/);
  t.is(r.json.chain.length, 2);
  t.is(r.json.notAfter, "2028-01-01T00:00:00.000Z");
  t.truthy(r.json.cancellationCodes.legalRepresentative);
  codes = r.json.cancellationCodes;
  t.true(r.json.certificate.length > 0);
  // The AIA and CDP point at this server.
  const { X509Certificate } = await import("@peculiar/x509");
  const cert = new X509Certificate(r.json.certificate);
  t.true(Buffer.from(cert.getExtension("1.3.6.1.5.5.7.1.1")!.value).toString("latin1").includes(`${server.url}/ocsp`));

  for (const bad of ["{not json", JSON.stringify([1, 2]), JSON.stringify({ csr: "x", profile: "authentication", holder })]) {
    const b = await call("POST", "/api/v1/certificates", bad);
    t.is(b.status, 400);
    t.is(typeof b.json.error, "string");
    t.is(typeof b.json.message, "string");
  }
  t.is((await call("GET", "/api/v1/certificates/zz")).status, 400);
  t.is((await call("GET", "/api/v1/certificates/0abc")).status, 404);
  t.is((await call("GET", "/nope")).status, 404);
});

test.serial("revoke by role over HTTP: 403 changes nothing, lockout 423, operator unlock, 409", async (t) => {
  const a = await issue();
  t.is(a.status, 201);
  const s = (await issue("signature")).json.serial as string;
  t.is(a.json.cancellationCodes, undefined);
  const path = `/api/v1/certificates/${s}/revoke`;
  for (let i = 0; i < 3; i++) {
    const r = await call("POST", path, { reason: "affiliationChanged", role: "legal-representative", code: "AAAA-BBBB-CCCC-DDDD" });
    t.is(r.status, 403);
    t.is(r.json.error, "forbidden");
  }
  t.is((await call("GET", `/api/v1/certificates/${s}`)).json.status, "good");
  const locked = await call("POST", path, { reason: "affiliationChanged", role: "legal-representative", code: codes.legalRepresentative });
  t.is(locked.status, 423);
  t.is((await call("POST", `/api/v1/certificates/${s}/unlock`, {}, "bad-token")).status, 403);
  t.is((await call("POST", `/api/v1/certificates/${s}/unlock`, {}, ca.operatorToken)).status, 200);
  const ok = await call("POST", path, { reason: "affiliationChanged", role: "legal-representative", code: codes.legalRepresentative });
  t.is(ok.status, 200);
  t.deepEqual(Object.keys(ok.json).sort(), ["reason", "revokedAt", "serial", "status"]);
  t.is(ok.json.status, "revoked");
  t.is((await call("POST", path, { reason: "keyCompromise", role: "operator", answers: { holderId: "P-9", dateOfBirth: "1980-01-02" } })).status, 409);
  const audit = await call("GET", `/api/v1/certificates/${s}/audit`, undefined, ca.operatorToken);
  t.true(audit.json.length >= 7);
  t.false(JSON.stringify(audit.json).includes(codes.legalRepresentative));
  t.is((await call("GET", `/api/v1/certificates/${s}/audit`)).status, 403);
});

test.serial("hold/release, renew and bulk over HTTP", async (t) => {
  const a = await issue();
  const s = a.json.serial as string;
  const hold = await call("POST", `/api/v1/certificates/${s}/revoke`, { reason: "certificateHold", role: "operator", answers: { holderId: "P-9", dateOfBirth: "1980-01-02" } });
  t.is(hold.json.status, "on-hold");
  t.is((await call("POST", `/api/v1/certificates/${s}/release`)).status, 403, "release needs the operator token");
  const rel = await call("POST", `/api/v1/certificates/${s}/release`, {}, ca.operatorToken);
  t.is(rel.status, 200);
  t.is(rel.json.status, "good");
  t.is((await call("POST", `/api/v1/certificates/${s}/release`, {}, ca.operatorToken)).status, 409);

  // Renewal needs the old key's proof over a fresh challenge (or the operator token): without, 403 and nothing changes.
  for (const [body, token, error] of [
    [{ csr }, undefined, "renewal-unauthorised"],
    [{ csr }, "bad-token", "forbidden"],
    [{ csr, challenge: "made-up", proof: "AAAA" }, undefined, "bad-challenge"],
    [{ csr, challenge: "made-up", proof: 42 }, undefined, "bad-proof"],
  ] as const) {
    const refused = await call("POST", `/api/v1/certificates/${s}/renew`, body, token);
    t.is(refused.status, 403);
    t.is(refused.json.error, error);
    t.is(typeof refused.json.message, "string");
  }
  t.is((await call("GET", `/api/v1/certificates/${s}`)).json.status, "good");
  t.is((await call("POST", "/api/v1/certificates/0abc/renewal-challenge", {})).status, 404);
  const ch = await call("POST", `/api/v1/certificates/${s}/renewal-challenge`, {});
  t.is(ch.status, 201);
  t.deepEqual(Object.keys(ch.json).sort(), ["challenge", "expiresAt", "serial"]);
  const proof = Buffer.from(signRenewal(csrKey, ch.json.serial, ch.json.challenge)).toString("base64");
  const renewed = await call("POST", `/api/v1/certificates/${s}/renew`, { csr, challenge: ch.json.challenge, proof });
  t.is(renewed.status, 201);
  const old = await call("GET", `/api/v1/certificates/${s}`);
  t.is(old.json.reason, "superseded");
  // The same proof again (an eavesdropper's replay): the challenge is used up.
  t.is((await call("POST", `/api/v1/certificates/${s}/renew`, { csr, challenge: ch.json.challenge, proof })).json.error, "bad-challenge");
  // An operator at a counter renews with the token; every attempt is in the audit trail.
  t.is((await call("POST", `/api/v1/certificates/${renewed.json.serial}/renew`, { csr }, ca.operatorToken)).status, 201);
  const trail = (await call("GET", `/api/v1/certificates/${s}/audit`, undefined, ca.operatorToken)).json.filter((e: { action: string }) => e.action === "renew");
  t.deepEqual(
    trail.map((e: { role: string; outcome: string }) => `${e.role} ${e.outcome}`),
    ["anonymous renewal-unauthorised", "operator forbidden", "card bad-challenge", "card bad-proof", "card ok", "card bad-challenge"],
  );

  const n = (await issue()).json.serial as string;
  t.is((await call("POST", "/api/v1/revocations", { serials: [n], reason: "keyCompromise" })).status, 403);
  t.is((await call("POST", "/api/v1/revocations", { serials: [n, "nothex"], reason: "keyCompromise" }, ca.operatorToken)).status, 400);
  t.is((await call("GET", `/api/v1/certificates/${n}`)).json.status, "good");
  const bulk = await call("POST", "/api/v1/revocations", { serials: [n, "0abc"], reason: "keyCompromise" }, ca.operatorToken);
  t.is(bulk.status, 200);
  t.is(bulk.json.revoked, 1);
  t.deepEqual(bulk.json.unknown, ["0abc"]);
});

test.serial("virtual clock endpoint moves the CA's clock (forward only)", async (t) => {
  const before = (await call("GET", "/api/v1/clock")).json.now;
  const r = await call("POST", "/api/v1/clock", { advanceMs: 86_400_000 });
  t.is(r.status, 200);
  t.is(new Date(r.json.now).getTime() - new Date(before).getTime(), 86_400_000);
  t.is((await call("POST", "/api/v1/clock", { advanceMs: -5 })).status, 400);
  t.is((await call("POST", "/api/v1/clock", { to: "2030-01-01T00:00:00Z" })).json.now, "2030-01-01T00:00:00.000Z");
  // The card-expiry cap is measured at the CA's clock: 2029 is now in the past.
  t.is((await issue("authentication", "2029-06-01T00:00:00Z")).status, 400);
});

test("without --virtual-clock the clock endpoint does not exist", async (t) => {
  const plain = await EmbeddedCa.open({ kdfLog2N: 4 });
  const s2 = await startCaServer(plain, { port: 0 });
  const r = await fetch(`${s2.url}/api/v1/clock`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  t.is(r.status, 404);
  await s2.close();
  await plain.close();
});

test("the server needs only CaHttpBackend: a backend with nothing else (no store, no responder) serves the whole API", async (t) => {
  const inner = await EmbeddedCa.open({ kdfLog2N: 4, crlScheduleMs: 0 });
  const served: string[] = [];
  // Exactly the interface's members, each delegating: reaching for anything else would be undefined here.
  const backend: CaHttpBackend = {
    clock: inner.clock,
    issue: (r) => inner.issue(r),
    renewalChallenge: (s) => inner.renewalChallenge(s),
    renew: (s, r) => inner.renew(s, r),
    revoke: (r) => inner.revoke(r),
    revokeMany: (s, r, tok) => inner.revokeMany(s, r, tok),
    release: (s) => inner.release(s),
    unlock: (s, tok) => inner.unlock(s, tok),
    status: (s) => inner.status(s),
    certificatePem: (s) => inner.certificatePem(s),
    audit: (s) => inner.audit(s),
    checkToken: (tok) => inner.checkToken(tok),
    currentCrl: () => inner.currentCrl(),
    rootCrl: () => inner.rootCrl(),
    chainPem: () => inner.chainPem(),
    answerOcsp: (der) => inner.answerOcsp(der),
    serveAt: (url) => {
      served.push(url);
      inner.serveAt(url);
    },
  };
  const s2 = await startCaServer(backend, { port: 0 });
  try {
    t.deepEqual(served, [s2.url], "told where it is served");
    const post = (path: string, body: unknown, token?: string) =>
      fetch(s2.url + path, { method: "POST", headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
    const issued = await post("/api/v1/certificates", { csr, profile: "signature", holder: { id: "IF-1", name: "Ivy", email: "ivy@example.org" } });
    t.is(issued.status, 201);
    const { serial, certificate } = (await issued.json()) as { serial: string; certificate: string };
    t.regex(certificate, /BEGIN CERTIFICATE/);
    t.is((await post("/api/v1/revocations", { serials: [serial], reason: "certificateHold" }, inner.operatorToken)).status, 200);
    t.is((await post(`/api/v1/certificates/${serial}/release`, {}, inner.operatorToken)).status, 200);
    t.is((await fetch(`${s2.url}/crl`)).status, 200);
    t.is((await fetch(`${s2.url}/crl/root`)).status, 200);
    t.is((await fetch(`${s2.url}/ocsp`, { method: "POST", body: new Uint8Array([0x30, 0]) })).status, 200);
    t.is((await fetch(`${s2.url}/api/v1/certificates/${serial}/audit`, { headers: { authorization: `Bearer ${inner.operatorToken}` } })).status, 200);
  } finally {
    await s2.close();
    await inner.close();
  }
});
