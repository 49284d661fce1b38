import test from "ava";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EventBus, SeededRandom, VirtualClock } from "../../core/index.js";
import { Certificate, Crl, pemToDer, Validator } from "../../pki/index.js";
import type { IssueRequest } from "./api.js";
import { EmbeddedCa, type EmbeddedCaOptions } from "./embedded-ca.js";
import { makeCsr } from "./testing.js";

/** Issues as the issuing station does: with its (RA) token. */
const raIssue = (ca: EmbeddedCa, req: IssueRequest) => ca.issue({ ...req, raToken: ca.raToken });

/** The root's CRL (ARL): with it and the issuing CA's CRL the full path validates with revocation required. */

const START = "2026-03-01T10:00:00Z";
const DAY = 86_400_000;
const holder = { id: "NID-1", name: "Ann Example", email: "ann@example.org" };

async function newCa(extra: Partial<EmbeddedCaOptions> = {}) {
  const clock = new VirtualClock(START);
  const ca = await EmbeddedCa.open({ clock, random: new SeededRandom(11), kdfLog2N: 4, crlScheduleMs: 0, ...extra });
  return { ca, clock };
}

let csrPem: string;
test.before(async () => {
  csrPem = (await makeCsr()).pem;
});

test("the root's CRL: signed by the root, an ARL (onlyContainsCACerts), 30 days, named by the issuing CA's CDP", async (t) => {
  const { ca } = await newCa({ baseUrl: "http://ca.example:8440/" });
  t.teardown(() => ca.close());
  const [der] = await ca.authorityCrls();
  const crl = new Crl(der);
  const root = new Certificate(ca.hierarchy.root.certificate);
  const issuing = new Certificate(ca.hierarchy.issuing.certificate);
  t.is(crl.issuer.key, root.subject.key);
  t.is(crl.thisUpdate, Date.parse(START));
  t.is(crl.nextUpdate, Date.parse(START) + 30 * DAY);
  t.is(crl.size, 0);
  t.like(crl.idp, { onlyContainsCACerts: true, onlyContainsUserCerts: false, fullName: undefined, relativeName: undefined });
  t.is(crl.extensions.get("2.5.29.28")?.critical, true, "the IssuingDistributionPoint is critical");
  t.deepEqual(issuing.crlDistributionPoints, ["http://ca.example:8440/crl/root"]);
  t.is(ca.rootCrlUrl, "http://ca.example:8440/crl/root");
  // The issuing CA's own CRL is a different list, by a different issuer.
  t.is(new Crl(await ca.crl()).issuer.key, issuing.subject.key);
});

test("pki validator, revocation required: the full embedded-CA chain validates; a revoked leaf does not; without the root CRL the issuing CA has none", async (t) => {
  const { ca, clock } = await newCa();
  t.teardown(() => ca.close());
  const good = await raIssue(ca, { csrPem, profile: "authentication", holder });
  const bad = await raIssue(ca, { csrPem, profile: "signature", holder });
  await ca.revoke({ serial: bad.serial, reason: "keyCompromise", role: "holder", code: good.cancellationCodes!.holder, email: holder.email, name: holder.name });
  const v = new Validator();
  const anchors = [pemToDer(good.chainPem[1])];
  const intermediates = [pemToDer(good.chainPem[0])];
  const crls = [await ca.crl(), ...(await ca.authorityCrls())];
  const opts = { anchors, intermediates, crls, time: clock.now(), revocation: "require" as const };

  const ok = v.validate(pemToDer(good.certificatePem), { ...opts, usage: "authentication" });
  t.true(ok.valid, JSON.stringify(ok));
  if (ok.valid) t.is(ok.path.length, 3, "leaf, issuing CA, root");

  const revoked = v.validate(pemToDer(bad.certificatePem), { ...opts, usage: "signature" });
  t.false(revoked.valid);
  if (!revoked.valid) {
    t.is(revoked.code, "revoked");
    t.is(revoked.position, 0);
    t.is(revoked.revocation?.reason, "keyCompromise");
  }

  const noArl = v.validate(pemToDer(good.certificatePem), { ...opts, crls: [await ca.crl()], usage: "authentication" });
  t.false(noArl.valid);
  if (!noArl.valid) {
    t.is(noArl.code, "crl-missing");
    t.is(noArl.position, 1, "the issuing CA is the certificate without a CRL");
  }
  // The ARL is scoped to CA certificates: it is never evidence for a leaf.
  const arlOnly = v.validate(pemToDer(good.certificatePem), { ...opts, crls: await ca.authorityCrls(), usage: "authentication" });
  t.false(arlOnly.valid);
  if (!arlOnly.valid) t.is(arlOnly.position, 0);
});

test("the root's CRL follows the clock: same list within half its validity, a new number after, always current", async (t) => {
  const clock = new VirtualClock(START);
  const bus = new EventBus(clock);
  const seen: { number: string; issuer: string }[] = [];
  bus.on((e) => {
    if (e.type === "ca.crl") seen.push(e.data);
  });
  const { ca } = await newCa({ clock, events: bus });
  t.teardown(() => ca.close());
  const first = ca.rootCrl();
  clock.advance(10 * DAY);
  t.is(ca.rootCrl(), first, "not reissued before half its validity");
  clock.advance(6 * DAY);
  const second = ca.rootCrl();
  t.not(second, first);
  t.is(new Crl(second).thisUpdate, clock.nowMs());
  t.true(new Crl(second).nextUpdate! > clock.nowMs());

  // Years later (a card's whole life), the CRLs the CA hands out still validate the path at that time.
  const issued = await raIssue(ca, { csrPem, profile: "authentication", holder });
  clock.advance(800 * DAY);
  const crls = [await ca.crl(), ...(await ca.authorityCrls())];
  const r = new Validator().validate(pemToDer(issued.certificatePem), {
    anchors: [pemToDer(issued.chainPem[1])],
    intermediates: [pemToDer(issued.chainPem[0])],
    crls,
    time: clock.now(),
    revocation: "require",
  });
  t.true(r.valid, JSON.stringify(r));
  const numbers = seen.filter((e) => e.issuer === "root").map((e) => Number(e.number));
  t.deepEqual(numbers, [1, 2, 3], "monotonic, one per reissue");
});

test("the schedule reissues the root's CRL without anyone asking", async (t) => {
  const { ca, clock } = await newCa({ crlScheduleMs: 5 });
  t.teardown(() => ca.close());
  const first = new Crl(ca.rootCrl());
  clock.advance(20 * DAY);
  // Real time passes for the timer (up to 5 s); the store's counter shows when it fired.
  for (let i = 0; i < 500 && ca.store.meta("root_crl_number") !== "2"; i++) await new Promise((r) => setTimeout(r, 10));
  t.is(ca.store.meta("root_crl_number"), "2");
  const now = new Crl(ca.rootCrl());
  t.true(now.thisUpdate > first.thisUpdate);
});

test("a file-backed CA keeps its root CRL number across restarts; the issuing CA certificate is built once", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "cardloop-root-crl-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const clock = new VirtualClock(START);
  const a = await EmbeddedCa.open({ dataDir: dir, clock, random: new SeededRandom(3), kdfLog2N: 4, crlScheduleMs: 0, baseUrl: "http://first.example" });
  const issuingA = a.hierarchy.issuing.certificate;
  a.rootCrl();
  await a.close();
  const b = await EmbeddedCa.open({ dataDir: dir, clock, random: new SeededRandom(3), kdfLog2N: 4, crlScheduleMs: 0, baseUrl: "http://second.example" });
  t.teardown(() => b.close());
  t.deepEqual(b.hierarchy.issuing.certificate, issuingA, "read back, not rebuilt under the new URL");
  t.deepEqual(new Certificate(b.hierarchy.issuing.certificate).crlDistributionPoints, ["http://first.example/crl/root"]);
  const crl = new Crl(b.rootCrl());
  t.is(b.store.meta("root_crl_number"), "2");
  t.true(crl.thisUpdate >= Date.parse(START));
});
