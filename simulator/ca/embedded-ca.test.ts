import "reflect-metadata";
import { webcrypto } from "node:crypto";
import test from "ava";
import fc from "fast-check";
import { X509Certificate } from "@peculiar/x509";
import { SeededRandom, VirtualClock, addYears } from "../../core/index.js";
import { buildOcspRequest as buildPkiOcspRequest, OcspResponse } from "../../pki/index.js";
import { CaError, type IssueRequest } from "./api.js";
import { EmbeddedCa, type EmbeddedCaOptions } from "./embedded-ca.js";
import { makeCsr, proveRenewal } from "./testing.js";

/** Issues as the issuing station does: with its (RA) token. */
const raIssue = (ca: EmbeddedCa, req: IssueRequest) => ca.issue({ ...req, raToken: ca.raToken });

const START = "2026-03-01T10:00:00Z";
const holder = { id: "NID-1", name: "Ann Example", email: "ann@example.org", registration: { dateOfBirth: "1990-04-01" } };
const proHolder = { id: "NID-2", name: "Bob Worker", email: "bob@acme.example", organisation: "Acme" };

/** An OCSP request for one serial of the issuer (pki's builder). */
const buildOcspRequest = (issuerName: Uint8Array, issuerSpki: Uint8Array, serialHex: string, nonce?: Uint8Array): Uint8Array =>
  buildPkiOcspRequest({ subjectDer: issuerName, spki: issuerSpki }, [serialHex], nonce);

/** The response status and each certStatus, read with pki's OcspResponse (no signature check). */
function readOcspStatuses(der: Uint8Array): { responseStatus: number; statuses: Array<"good" | "revoked" | "unknown"> } {
  const r = new OcspResponse(der);
  return { responseStatus: r.statusCode, statuses: r.responses.map((s) => s.status) };
}

// Low scrypt cost keeps the suite quick; production default is 2^14.
async function newCa(extra: Partial<EmbeddedCaOptions> = {}) {
  const clock = new VirtualClock(START);
  const ca = await EmbeddedCa.open({ clock, random: new SeededRandom(7), kdfLog2N: 4, ...extra });
  return { ca, clock };
}

async function rejects(t: import("ava").ExecutionContext, p: Promise<unknown>, status: number, reason?: string) {
  const err = await t.throwsAsync(p, { instanceOf: CaError });
  t.is(err?.status, status, err?.message);
  if (reason) t.is(err?.reason, reason);
}

let csrPem: string;
/** The key of csrPem: every certificate issued for it can prove its renewal with this. */
let csrKey: webcrypto.CryptoKey;
test.before(async () => {
  const csr = await makeCsr();
  csrPem = csr.pem;
  csrKey = csr.keys.privateKey;
});

test("issues both profiles with the policy's extensions, codes only at the card's first issuance", async (t) => {
  const { ca } = await newCa();
  const a = await raIssue(ca, { csrPem, profile: "authentication", holder: proHolder });
  t.truthy(a.cancellationCodes?.holder);
  t.truthy(a.cancellationCodes?.legalRepresentative);
  t.truthy(a.cancellationCodes?.authorisedRepresentative);
  const s = await raIssue(ca, { csrPem, profile: "signature", holder: proHolder });
  t.is(s.cancellationCodes, undefined);
  t.is(a.chainPem.length, 2);

  const cert = new X509Certificate(a.certificatePem);
  t.is(cert.serialNumber.toLowerCase(), a.serial);
  t.true(a.serial.length <= 40 && /^[0-7]/.test(a.serial), "positive, <= 20 octets");
  t.is(a.notAfter.getTime(), addYears(new Date(START), 3).getTime());
  const ids = cert.extensions.map((e) => e.type);
  for (const oid of ["2.5.29.14", "2.5.29.35", "1.3.6.1.5.5.7.1.1", "2.5.29.31", "2.5.29.15", "2.5.29.37"]) t.true(ids.includes(oid), oid);
  const sig = new X509Certificate(s.certificatePem);
  t.false(sig.extensions.some((e) => e.type === "2.5.29.37"), "signature profile has no clientAuth EKU");
  const issuing = new X509Certificate(a.chainPem[0]);
  t.true(await cert.verify({ publicKey: issuing.publicKey, signatureOnly: true }));
  await ca.close();
});

test("one seed gives the same serials", async (t) => {
  const serials: string[][] = [];
  for (let i = 0; i < 2; i++) {
    const { ca } = await newCa({ random: new SeededRandom("same") });
    const r1 = await raIssue(ca, { csrPem, profile: "authentication", holder });
    const r2 = await raIssue(ca, { csrPem, profile: "signature", holder });
    serials.push([r1.serial, r2.serial]);
    await ca.close();
  }
  t.deepEqual(serials[0], serials[1]);
  t.notDeepEqual(serials[0][0], serials[0][1]);
});

test("validity never outlives the card; an expired card is refused", async (t) => {
  const { ca } = await newCa();
  const cardExpiry = new Date("2027-01-15T00:00:00Z");
  const r = await raIssue(ca, { csrPem, profile: "authentication", holder, cardExpiry });
  t.is(r.notAfter.getTime(), cardExpiry.getTime());
  await rejects(t, raIssue(ca, { csrPem, profile: "authentication", holder, cardExpiry: new Date("2026-01-01T00:00:00Z") }), 400, "card-expired");
  await ca.close();
});

test("bad CSRs, bad signatures and weak keys are refused", async (t) => {
  const { ca } = await newCa();
  await rejects(t, raIssue(ca, { csrPem: "not a csr", profile: "authentication", holder }), 400, "bad-csr");
  await rejects(t, raIssue(ca, { csrPem: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", profile: "authentication", holder }), 400, "bad-csr");
  const bad = await makeCsr({ badSignature: true });
  await rejects(t, raIssue(ca, { csrPem: bad.pem, profile: "authentication", holder }), 400, "bad-csr-signature");
  const weak = await makeCsr({ keyType: "rsa", rsaBits: 1024 });
  await rejects(t, raIssue(ca, { csrPem: weak.pem, profile: "authentication", holder }), 400, "weak-key");
  const ok = await makeCsr({ keyType: "rsa", rsaBits: 2048 });
  t.truthy((await raIssue(ca, { csrPem: ok.pem, profile: "authentication", holder })).serial);
  await rejects(t, raIssue(ca, { csrPem, profile: "bogus" as never, holder }), 400, "bad-profile");
  await rejects(t, raIssue(ca, { csrPem, profile: "signature", holder: { id: "x", name: "y", email: "no-at" } }), 400, "bad-holder");
  t.is(ca.store.db.prepare("SELECT count(*) FROM certificates").pluck().get(), 1, "nothing half-written");
  await ca.close();
});

test("holder revocation: a wrong code or identity changes nothing (403); the right one revokes; a second time is 409", async (t) => {
  const { ca, clock } = await newCa();
  const r = await raIssue(ca, { csrPem, profile: "authentication", holder });
  const code = r.cancellationCodes!.holder;
  const base = { serial: r.serial, reason: "keyCompromise" as const, role: "holder" as const, email: holder.email, name: holder.name };
  await rejects(t, ca.revoke({ ...base, code: "WRONG-CODE-0000-0000" }), 403);
  await rejects(t, ca.revoke({ ...base, code, email: "other@example.org" }), 403);
  await rejects(t, ca.revoke({ ...base, code, name: "Someone Else" }), 403);
  t.is((await ca.status(r.serial)).status, "good");
  await rejects(t, ca.revoke({ ...base, code: undefined }), 400);
  clock.advance(60_000);
  const ok = await ca.revoke({ ...base, code: code.toLowerCase().replace(/-/g, " ") });
  t.is(ok.status, "revoked");
  t.is(ok.revokedAt.getTime(), new Date(START).getTime() + 60_000, "revocation time comes from the CA's clock");
  const st = await ca.status(r.serial);
  t.is(st.status, "revoked");
  t.is(st.reason, "keyCompromise");
  await rejects(t, ca.revoke({ ...base, code }), 409, "already-revoked");
  await rejects(t, ca.revoke({ ...base, serial: "0abc", code }), 404);
  const audit = ca.audit(r.serial);
  t.true(audit.length >= 6, "every attempt is audited");
  t.deepEqual(audit.map((e) => e.outcome).slice(0, 3), ["denied", "denied", "denied"]);
  const all = JSON.stringify(ca.audit());
  t.false(all.includes(code) || all.includes(code.replace(/-/g, "")), "the code never reaches the audit");
  await ca.close();
});

test("representatives revoke only professional cards with their own code; operators answer registration questions", async (t) => {
  const { ca } = await newCa();
  const pro = await raIssue(ca, { csrPem, profile: "signature", holder: proHolder });
  const pro2 = await raIssue(ca, { csrPem, profile: "authentication", holder: proHolder });
  const priv = await raIssue(ca, { csrPem, profile: "signature", holder });
  const c = pro.cancellationCodes!;
  const rev = (serial: string, role: never, code?: string, answers?: Record<string, string>) =>
    ca.revoke({ serial, reason: "affiliationChanged", role, code, answers, operatorToken: ca.operatorToken });

  await rejects(t, rev(pro.serial, "legal-representative" as never, c.holder), 403);
  await rejects(t, rev(pro.serial, "legal-representative" as never, c.authorisedRepresentative), 403);
  await rejects(t, rev(priv.serial, "legal-representative" as never, c.legalRepresentative), 403, "forbidden");
  t.is((await ca.revoke({ serial: pro.serial, reason: "affiliationChanged", role: "legal-representative", code: c.legalRepresentative })).status, "revoked");
  t.is((await ca.revoke({ serial: pro2.serial, reason: "affiliationChanged", role: "authorised-representative", code: c.authorisedRepresentative })).status, "revoked");

  await rejects(t, rev(priv.serial, "operator" as never, undefined, { holderId: "NID-1", dateOfBirth: "1990-04-02" }), 403);
  await rejects(t, rev(priv.serial, "operator" as never, undefined, { holderId: "NID-1" }), 403);
  await rejects(t, rev(priv.serial, "operator" as never), 400);
  t.is((await ca.revoke({ serial: priv.serial, reason: "unspecified", role: "operator", answers: { holderId: " nid-1 ", dateOfBirth: "1990-04-01" }, operatorToken: ca.operatorToken })).status, "revoked");
  await rejects(t, ca.revoke({ serial: priv.serial, reason: "keyCompromise", role: "nobody" as never }), 400, "bad-role");
  await ca.close();
});

test("after the configured number of wrong tries that source waits (429, doubling), unchecked; an operator's unlock clears it", async (t) => {
  for (const max of [5, 2]) {
    const { ca, clock } = await newCa(max === 5 ? {} : { maxFailedAttempts: max });
    const r = await raIssue(ca, { csrPem, profile: "authentication", holder });
    const code = r.cancellationCodes!.holder;
    const base = { serial: r.serial, reason: "keyCompromise" as const, role: "holder" as const, email: holder.email, name: holder.name };
    for (let i = 0; i < max; i++) await rejects(t, ca.revoke({ ...base, code: "0000-0000-0000-0000" }), 403);
    const work = ca.kdfCalls;
    const waiting = await t.throwsAsync<CaError>(ca.revoke({ ...base, code }));
    t.deepEqual([waiting?.status, waiting?.reason, waiting?.retryAfterMs], [429, "too-many-attempts", 1000]);
    t.is(ca.kdfCalls, work, "refused without checking the code");
    t.is((await ca.status(r.serial)).status, "good");
    clock.advance(1000);
    await rejects(t, ca.revoke({ ...base, code: "0000-0000-0000-0000" }), 403);
    t.is((await t.throwsAsync<CaError>(ca.revoke({ ...base, code })))?.retryAfterMs, 2000, "each further wrong one doubles the wait");
    await rejects(t, ca.unlock(r.serial, "not-the-token"), 401, "bad-credential");
    await rejects(t, ca.unlock(r.serial, ca.raToken), 403, "forbidden");
    await ca.unlock(r.serial, ca.operatorToken);
    t.like(ca.audit(r.serial).at(-1), { role: "operator", action: "unlock", outcome: "ok", detail: "1" }, "the unlock says how many counts it cleared");
    t.is((await ca.revoke({ ...base, code })).status, "revoked");
    t.true(ca.audit(r.serial).some((e) => e.outcome === "denied-and-backoff"));
    await ca.close();
  }
});

test("hold and release", async (t) => {
  const { ca } = await newCa();
  const r = await raIssue(ca, { csrPem, profile: "authentication", holder });
  const creds = { role: "holder" as const, code: r.cancellationCodes!.holder, email: holder.email, name: holder.name };
  await rejects(t, ca.release(r.serial, ca.operatorToken), 409, "not-on-hold");
  t.is((await ca.revoke({ serial: r.serial, reason: "certificateHold", ...creds })).status, "on-hold");
  t.is((await ca.status(r.serial)).status, "on-hold");
  await rejects(t, ca.revoke({ serial: r.serial, reason: "certificateHold", ...creds }), 409);
  await rejects(t, ca.revoke({ serial: r.serial, reason: "removeFromCRL", ...creds }), 400);
  await rejects(t, ca.release(r.serial), 401, "credential-required");
  await rejects(t, ca.release(r.serial, ca.raToken), 403, "forbidden");
  t.is((await ca.status(r.serial)).status, "on-hold", "only the operator releases");
  await ca.release(r.serial, ca.operatorToken);
  t.is((await ca.status(r.serial)).status, "good");
  await ca.revoke({ serial: r.serial, reason: "certificateHold", ...creds });
  t.is((await ca.revoke({ serial: r.serial, reason: "keyCompromise", ...creds })).status, "revoked", "a held certificate can be revoked for good");
  await rejects(t, ca.release(r.serial, ca.operatorToken), 409);
  await ca.close();
});

test("renewal supersedes the old certificate, or keeps it under keep-until-expiry", async (t) => {
  const { ca, clock } = await newCa();
  const r = await raIssue(ca, { csrPem, profile: "signature", holder });
  clock.advance(86_400_000);
  const n = await ca.renew(r.serial, { csrPem, ...(await proveRenewal(ca, r.serial, csrKey)) });
  t.not(n.serial, r.serial);
  t.is(n.cancellationCodes, undefined);
  t.is((await ca.status(n.serial)).status, "good");
  const old = await ca.status(r.serial);
  t.is(old.status, "revoked");
  t.is(old.reason, "superseded");
  // the holder's code still works for the new certificate (codes belong to the card)
  t.is((await ca.revoke({ serial: n.serial, reason: "keyCompromise", role: "holder", code: r.cancellationCodes!.holder, email: holder.email, name: holder.name })).status, "revoked");
  await rejects(t, ca.renew("0abc", { csrPem }), 404);
  await ca.close();

  const keep = await newCa({ renewal: "keep-until-expiry" });
  const k = await raIssue(keep.ca, { csrPem, profile: "signature", holder });
  await keep.ca.renew(k.serial, { csrPem, cardExpiry: new Date("2027-01-01T00:00:00Z"), operatorToken: keep.ca.operatorToken });
  t.is((await keep.ca.status(k.serial)).status, "good");
  await keep.ca.close();
});

test("bulk revocation: operator token, all serials validated before anything is written", async (t) => {
  const { ca } = await newCa();
  const a = await raIssue(ca, { csrPem, profile: "authentication", holder });
  const b = await raIssue(ca, { csrPem, profile: "signature", holder });
  await rejects(t, ca.revokeMany([a.serial], "cessationOfOperation", "wrong"), 401, "bad-credential");
  await rejects(t, ca.revokeMany([a.serial], "cessationOfOperation", ca.raToken), 403, "forbidden");
  await rejects(t, ca.revokeMany([a.serial, "xyz"], "cessationOfOperation", ca.operatorToken), 400);
  t.is((await ca.status(a.serial)).status, "good");
  const out = await ca.revokeMany([a.serial, b.serial, "0abc"], "cessationOfOperation", ca.operatorToken);
  t.is(out.revoked, 2);
  t.deepEqual(out.unknown, ["0abc"]);
  const again = await ca.revokeMany([a.serial], "cessationOfOperation", ca.operatorToken);
  t.deepEqual(again.alreadyRevoked, [a.serial]);
  t.is((await ca.status(b.serial)).reason, "cessationOfOperation");
  await ca.close();
});

test("CRL numbers increase; the CRL follows revocations and release", async (t) => {
  const { ca } = await newCa();
  const { X509Crl } = await import("@peculiar/x509");
  const r = await raIssue(ca, { csrPem, profile: "authentication", holder });
  const crl1 = new X509Crl(await ca.crl());
  await ca.revokeMany([r.serial], "certificateHold", ca.operatorToken);
  const crl2 = new X509Crl(await ca.crl());
  await ca.release(r.serial, ca.operatorToken);
  const crl3 = new X509Crl(await ca.crl());
  const num = (c: InstanceType<typeof X509Crl>) => BigInt("0x" + Buffer.from(c.getExtension("2.5.29.20")!.value).toString("hex").slice(4));
  t.true(num(crl1) < num(crl2) && num(crl2) < num(crl3));
  t.is(crl1.entries.length, 0);
  t.is(crl2.entries.length, 1);
  t.is(crl2.entries[0].reason, 6);
  t.is(crl3.entries.length, 0);
  await ca.close();
});

test("OCSP answers malformedRequest to any garbage and never throws", async (t) => {
  const { ca } = await newCa();
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (bytes) => {
      const res = await ca.ocsp(bytes);
      return res[0] === 0x30 && res[2] === 0x0a && res[4] !== 0;
    }),
    { numRuns: 300 },
  );
  t.deepEqual(Array.from(await ca.ocsp(new Uint8Array(0))), [0x30, 3, 0x0a, 1, 1]);
  await ca.close();
});

test("property: mutated OCSP requests get a successful answer, malformedRequest or unauthorized (another issuer), never an internal error or a throw", async (t) => {
  const { ca } = await newCa();
  const r = await raIssue(ca, { csrPem, profile: "authentication", holder });
  const issuing = ca.hierarchy.issuing;
  const nonce = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
  const seeds = [buildOcspRequest(issuing.name, issuing.signer.spki, r.serial), buildOcspRequest(issuing.name, issuing.signer.spki, r.serial, nonce)];
  const edit = fc.oneof(
    fc.record({ kind: fc.constant("set" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant("cut" as const), at: fc.nat(), len: fc.integer({ min: 1, max: 8 }) }),
    fc.record({ kind: fc.constant("add" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 6 }) }),
  );
  const statuses = new Set<number>();
  await fc.assert(
    fc.asyncProperty(fc.nat(seeds.length - 1), fc.array(edit, { minLength: 1, maxLength: 3 }), async (i, edits) => {
      let b = Array.from(seeds[i]);
      for (const e of edits) {
        const at = e.at % (b.length + 1);
        if (e.kind === "set" && at < b.length) b[at] = e.byte;
        else if (e.kind === "cut") b.splice(at, e.len);
        else if (e.kind === "add") b.splice(at, 0, ...e.bytes);
      }
      const res = await ca.ocsp(Uint8Array.from(b));
      const parsed = readOcspStatuses(res);
      statuses.add(parsed.responseStatus);
      // 6, unauthorized: a mutation in the issuer's hashes names a CA this responder does not serve (RFC 6960 2.3).
      return parsed.responseStatus === 0 || parsed.responseStatus === 1 || parsed.responseStatus === 6;
    }),
    { numRuns: 400 },
  );
  t.true(statuses.has(1), "some mutations are malformed");
  await ca.close();
});

test("OCSP: a cached good answer turns revoked at once after the acknowledgement; nonce is echoed", async (t) => {
  const { ca, clock } = await newCa();
  const r = await raIssue(ca, { csrPem, profile: "authentication", holder });
  const issuing = ca.hierarchy.issuing;
  const req = buildOcspRequest(issuing.name, issuing.signer.spki, r.serial);
  t.deepEqual(readOcspStatuses(await ca.ocsp(req)).statuses, ["good"]);
  t.deepEqual(readOcspStatuses(await ca.ocsp(req)).statuses, ["good"], "from the cache");
  await ca.revokeMany([r.serial], "keyCompromise", ca.operatorToken);
  t.deepEqual(readOcspStatuses(await ca.ocsp(req)).statuses, ["revoked"]);
  await ca.release(r.serial, ca.operatorToken).catch(() => undefined); // not on hold: stays revoked
  t.deepEqual(readOcspStatuses(await ca.ocsp(buildOcspRequest(issuing.name, issuing.signer.spki, "0abc"))).statuses, ["unknown"]);
  const nonce = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
  const withNonce = await ca.ocsp(buildOcspRequest(issuing.name, issuing.signer.spki, r.serial, nonce));
  t.true(Buffer.from(withNonce).includes(Buffer.from(nonce)));
  // years later the responder certificate is renewed rather than served expired
  const before = ca.hierarchy.responder.notAfter;
  clock.advance(2 * 365 * 86_400_000);
  await ca.ocsp(req);
  t.true(ca.hierarchy.responder.notAfter > before);
  await ca.close();
});

test("a file-backed CA reopens with its keys, certificates, revocations and CRL number", async (t) => {
  const { mkdtempSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dataDir = mkdtempSync(join(tmpdir(), "cardloop-ca-reopen-"));
  const clock = new VirtualClock(START);
  const a = await EmbeddedCa.open({ dataDir, clock, kdfLog2N: 4 });
  const r = await raIssue(a, { csrPem, profile: "authentication", holder });
  await a.revoke({ serial: r.serial, reason: "certificateHold", role: "holder", code: r.cancellationCodes!.holder, email: holder.email, name: holder.name });
  const s2 = await raIssue(a, { csrPem, profile: "signature", holder });
  await a.revokeMany([s2.serial], "keyCompromise", a.operatorToken);
  await a.release(r.serial, a.operatorToken);
  await a.crl();
  const root = a.hierarchy.root.certificate;
  await a.close();
  const b = await EmbeddedCa.open({ dataDir, clock, kdfLog2N: 4 });
  t.deepEqual(b.hierarchy.root.certificate, root);
  t.is(b.operatorToken, undefined, "a reopened CA knows only the tokens' hashes");
  t.is(b.roleOf(a.operatorToken), "operator");
  t.is(b.roleOf(a.raToken), "ra");
  t.is((await b.status(r.serial)).status, "good", "the release survived");
  t.is((await b.status(s2.serial)).reason, "keyCompromise");
  const { X509Crl } = await import("@peculiar/x509");
  const crl = new X509Crl(await b.crl());
  t.is(crl.entries.length, 1);
  t.is(Buffer.from(crl.getExtension("2.5.29.20")!.value).toString("hex"), "020102", "CRL number continues at 2");
  await b.close();
});

test("concurrent wrong guesses cannot overrun the lockout", async (t) => {
  const { ca } = await newCa();
  const r = await raIssue(ca, { csrPem, profile: "authentication", holder });
  const guesses = Array.from({ length: 12 }, (_, i) =>
    ca.revoke({ serial: r.serial, reason: "keyCompromise", role: "holder", code: `AAAA-BBBB-CCCC-${String(i).padStart(4, "0")}`, email: holder.email, name: holder.name }).catch((e: CaError) => e.status),
  );
  const statuses = await Promise.all(guesses);
  t.is(statuses.filter((s) => s === 403).length, 5);
  t.is(statuses.filter((s) => s === 429).length, 7);
  await ca.close();
});

test("the CRL is regenerated shortly after revocations (debounced); events never carry codes", async (t) => {
  const clock = new VirtualClock(START);
  const { EventBus } = await import("../../core/index.js");
  const bus = new EventBus(clock);
  const seen: unknown[] = [];
  bus.on((e) => seen.push(e));
  const ca = await EmbeddedCa.open({ clock, random: new SeededRandom(3), kdfLog2N: 4, events: bus, crlDebounceMs: 20 });
  const r = await raIssue(ca, { csrPem, profile: "authentication", holder });
  const code = r.cancellationCodes!.holder;
  await t.throwsAsync(ca.revoke({ serial: r.serial, reason: "keyCompromise", role: "holder", code: "ZZZZ-ZZZZ-ZZZZ-ZZZZ", email: holder.email, name: holder.name }));
  await ca.revoke({ serial: r.serial, reason: "keyCompromise", role: "holder", code, email: holder.email, name: holder.name });
  const crlEvent = () => seen.find((e) => (e as { type: string }).type === "ca.crl") as { data: { entries: number } } | undefined;
  for (let i = 0; i < 100 && !crlEvent(); i++) await new Promise((res) => setTimeout(res, 10));
  t.is(crlEvent()?.data.entries, 1, "regenerated without anyone asking for it");
  const types = seen.map((e) => (e as { type: string }).type);
  t.true(types.includes("ca.issued") && types.includes("ca.revocation"));
  const all = JSON.stringify(seen);
  t.false(all.includes(code) || all.includes("ZZZZ"), "codes never reach events");
  await ca.close();
});

test("validity is the smaller of 3 years and the card's expiry, in whole seconds, at the CA's clock", async (t) => {
  const { ca, clock } = await newCa();
  clock.advance(1234); // not on a whole second
  const far = await raIssue(ca, { csrPem, profile: "signature", holder, cardExpiry: new Date("2035-01-01T00:00:00Z") });
  const now = new Date(START).getTime() + 1234;
  t.is(far.notAfter.getTime(), Math.floor(addYears(new Date(now), 3).getTime() / 1000) * 1000, "3 years when the card lives longer, rounded down");
  t.is(far.notBefore.getTime(), new Date(START).getTime() + 1000, "notBefore rounded down to the second");
  const near = await raIssue(ca, { csrPem, profile: "signature", holder, cardExpiry: new Date("2027-06-30T12:34:56.789Z") });
  t.is(near.notAfter.toISOString(), "2027-06-30T12:34:56.000Z", "never past the card, even by a fraction of a second");
  const cert = new X509Certificate(near.certificatePem);
  t.true(cert.notAfter.getTime() <= new Date("2027-06-30T12:34:56.789Z").getTime());
  t.true(cert.notAfter.getTime() - cert.notBefore.getTime() <= addYears(new Date(START), 3).getTime() - new Date(START).getTime());
  await rejects(t, raIssue(ca, { csrPem, profile: "signature", holder, cardExpiry: "not a date" as never }), 400, "bad-card-expiry");
  await ca.close();
});

test("serials: positive, 16 octets, and at least 64 bits that vary (here: every bit but the two fixed ones)", async (t) => {
  const { ca } = await newCa();
  const serials: bigint[] = [];
  for (let i = 0; i < 40; i++) {
    const r = await raIssue(ca, { csrPem, profile: "authentication", holder });
    t.regex(r.serial, /^[4-7][0-9a-f]{31}$/, "top bit clear (positive), next bit set (fixed length)");
    t.is(new X509Certificate(r.certificatePem).serialNumber.toLowerCase(), r.serial);
    serials.push(BigInt("0x" + r.serial));
  }
  t.is(new Set(serials).size, serials.length);
  let varying = 0;
  for (let bit = 0n; bit < 128n; bit++) {
    const ones = serials.filter((s) => (s >> bit) & 1n).length;
    if (ones > 0 && ones < serials.length) varying++;
  }
  t.is(varying, 126);
  await ca.close();
});

test("key usage per profile: authentication = digitalSignature + clientAuth; signature = digitalSignature + nonRepudiation", async (t) => {
  const { KeyUsageFlags, KeyUsagesExtension, ExtendedKeyUsageExtension } = await import("@peculiar/x509");
  const { ca } = await newCa();
  const auth = new X509Certificate((await raIssue(ca, { csrPem, profile: "authentication", holder })).certificatePem);
  const sign = new X509Certificate((await raIssue(ca, { csrPem, profile: "signature", holder })).certificatePem);
  t.is(auth.getExtension(KeyUsagesExtension)!.usages, KeyUsageFlags.digitalSignature);
  t.deepEqual([...auth.getExtension(ExtendedKeyUsageExtension)!.usages], ["1.3.6.1.5.5.7.3.2"]);
  t.is(sign.getExtension(KeyUsagesExtension)!.usages, KeyUsageFlags.digitalSignature | KeyUsageFlags.nonRepudiation);
  t.true(auth.getExtension(KeyUsagesExtension)!.critical && sign.getExtension(KeyUsagesExtension)!.critical);
  await ca.close();
});

test("a representative's code revokes only the cards of their own organisation", async (t) => {
  const { ca } = await newCa();
  const acme = await raIssue(ca, { csrPem, profile: "authentication", holder: { id: "ACME-1", name: "Ada", email: "ada@acme.example", organisation: "Acme" } });
  const beta = await raIssue(ca, { csrPem, profile: "authentication", holder: { id: "BETA-1", name: "Ben", email: "ben@beta.example", organisation: "Beta" } });
  const acmeCodes = acme.cancellationCodes!;
  for (const role of ["legal-representative", "authorised-representative"] as const) {
    const code = role === "legal-representative" ? acmeCodes.legalRepresentative! : acmeCodes.authorisedRepresentative!;
    await rejects(t, ca.revoke({ serial: beta.serial, reason: "affiliationChanged", role, code }), 403, "forbidden");
  }
  // Nor does a holder's code act as a representative's, or the other way round.
  await rejects(t, ca.revoke({ serial: acme.serial, reason: "affiliationChanged", role: "legal-representative", code: acmeCodes.holder }), 403);
  await rejects(t, ca.revoke({ serial: acme.serial, reason: "keyCompromise", role: "holder", code: acmeCodes.legalRepresentative!, email: "ada@acme.example", name: "Ada" }), 403);
  t.is((await ca.status(beta.serial)).status, "good");
  t.is((await ca.revoke({ serial: beta.serial, reason: "affiliationChanged", role: "legal-representative", code: beta.cancellationCodes!.legalRepresentative! })).status, "revoked");
  // Audit: who, when, outcome; never the code.
  const audit = JSON.stringify(ca.audit());
  for (const code of [...Object.values(acmeCodes), ...Object.values(beta.cancellationCodes!)]) t.false(audit.includes(code!) || audit.includes(code!.replace(/-/g, "")));
  await ca.close();
});

test("revocation is final: no release, no second revocation, no hold; only a new certificate (renewal) is good", async (t) => {
  const { ca } = await newCa();
  const r = await raIssue(ca, { csrPem, profile: "signature", holder });
  const creds = { role: "holder" as const, code: r.cancellationCodes!.holder, email: holder.email, name: holder.name };
  const done = await ca.revoke({ serial: r.serial, reason: "keyCompromise", ...creds });
  await rejects(t, ca.release(r.serial, ca.operatorToken), 409);
  await rejects(t, ca.revoke({ serial: r.serial, reason: "certificateHold", ...creds }), 409);
  await rejects(t, ca.revokeMany([r.serial], "certificateHold", ca.operatorToken).then((b) => (b.alreadyRevoked.length === 1 ? Promise.reject(new CaError(409, "already-revoked", "")) : b)), 409);
  const n = await ca.renew(r.serial, { csrPem, ...(await proveRenewal(ca, r.serial, csrKey)) }); // a found card: the same proof
  const old = await ca.status(r.serial);
  t.deepEqual([old.status, old.reason, old.revokedAt?.getTime()], ["revoked", "keyCompromise", done.revokedAt.getTime()], "renewal does not rewrite the revocation");
  t.is((await ca.status(n.serial)).status, "good");
  await ca.close();
});
