import test from "ava";
import { fileURLToPath } from "node:url";
import { EventBus, SystemClock, UsageError, VirtualClock } from "../../core/index.js";
import type { RevocationReason } from "../../simulator/ca/index.js";
import { checkCompleteness } from "../load/completeness.js";
import { classifyError } from "../load/errors.js";
import type { Ack } from "../load/types.js";
import { makeCsr } from "../pkix.js";
import { InstantCa } from "./instant.js";
import { withLoadFaults } from "./load-faults.js";
import { resolveAdapter } from "./resolve-target.js";

const clock = () => new VirtualClock("2026-03-01T10:00:00Z");

async function issue(ca: InstantCa, n: number) {
  const csr = await makeCsr("load");
  const raToken = ca.credentials().raToken;
  const out = [];
  for (let i = 0; i < n; i++) out.push(await ca.issue({ csrPem: csr.pem, profile: "authentication", holder: { id: `H${i}`, name: `Holder ${i}`, email: "h@example.org" }, raToken }));
  return out;
}

test("dropEvery 10 drops exactly every tenth revocation request (single and bulk counted alike) as a reset, before the CA sees it", async (t) => {
  const inner = await InstantCa.create({ clock: clock() });
  t.teardown(() => inner.close());
  const certs = await issue(inner, 40);
  const ca = withLoadFaults(inner, { dropEvery: 10 });
  const token = inner.credentials().operatorToken!;
  const dropped: number[] = [];
  // 30 single requests, then 10 bulk requests of one serial each: requests 10, 20, 30 and 40 are dropped
  for (let i = 0; i < 30; i++) {
    try {
      await ca.revoke({ serial: certs[i].serial, reason: "superseded", role: "operator", operatorToken: token });
    } catch (err) {
      t.is(classifyError(err), "reset");
      dropped.push(i + 1);
    }
  }
  for (let i = 30; i < 40; i++) {
    try {
      await ca.revokeMany!([certs[i].serial], "superseded", token);
    } catch (err) {
      t.is(classifyError(err), "reset");
      dropped.push(i + 1);
    }
  }
  t.deepEqual(dropped, [10, 20, 30, 40]);
  const statuses = await Promise.all(certs.map((c) => inner.status(c.serial)));
  t.deepEqual(
    statuses.flatMap((s, i) => (s.status === "good" ? [i + 1] : [])),
    [10, 20, 30, 40],
    "the dropped requests never reached the CA",
  );
  t.is(ca.capabilities().bulkRevoke, true);
  t.regex(ca.name, /drop every 10/);
  t.is((await ca.status(certs[0].serial)).status, "revoked", "everything else passes through");
});

test("ackWithoutPublishingEvery: acknowledged, never published; checkCompleteness lists exactly those serials as lost", async (t) => {
  const inner = await InstantCa.create({ clock: clock() });
  t.teardown(() => inner.close());
  const certs = await issue(inner, 24);
  const ca = withLoadFaults(inner, { ackWithoutPublishingEvery: 5 });
  const token = inner.credentials().operatorToken!;
  const acked: Ack[] = [];
  const reason: RevocationReason = "cessationOfOperation";
  // 10 singles (serials 5 and 10 swallowed), then one bulk of 10 (serials 15 and 20 swallowed)
  for (const c of certs.slice(0, 10)) {
    const r = await ca.revoke({ serial: c.serial, reason, role: "holder", code: c.cancellationCodes!.holder });
    t.is(r.status, "revoked");
    acked.push({ serial: c.serial, reason, ackedAt: performance.now() });
  }
  const bulk = await ca.revokeMany!(certs.slice(10, 20).map((c) => c.serial), reason, token);
  t.is(bulk.revoked, 10, "the bulk answer counts the swallowed serials as revoked");
  for (const c of certs.slice(10, 20)) acked.push({ serial: c.serial, reason, ackedAt: performance.now() });

  const control = certs.slice(20).map((c) => ({ serial: c.serial }));
  const result = await checkCompleteness({ ca, bus: new EventBus(new SystemClock()) }, { acked, control, failedSerials: [], issuerPem: certs[0].chainPem[0] });
  const swallowed = [4, 9, 14, 19].map((i) => certs[i].serial);
  t.deepEqual(result.lost.map((l) => l.serial).sort(), [...swallowed].sort());
  t.true(result.lost.every((l) => l.crl === "missing" && l.ocsp === "good"));
  t.is(result.checked, 20);
  t.deepEqual(result.wronglyRevoked, []);
  t.is(result.controlChecked, 4);
  t.true(result.ocspChecked);
  t.is(result.note, undefined);
});

test("createAdapter through --ca module:…/load-faults.ts: an inner instant CA with the faults; an unknown key or a bad count is one usage line", async (t) => {
  const path = fileURLToPath(new URL("./load-faults.ts", import.meta.url));
  const ca = await resolveAdapter(`module:${path}`, { inner: "instant", dropEvery: 2 }, clock());
  t.teardown(() => ca.close());
  t.regex(ca.name, /^instant .*drop every 2/);
  const [c1, c2] = await (async () => {
    const csr = await makeCsr("m");
    const raToken = ca.credentials!().raToken;
    return [
      await ca.issue({ csrPem: csr.pem, profile: "authentication", holder: { id: "1", name: "One", email: "o@example.org" }, raToken }),
      await ca.issue({ csrPem: csr.pem, profile: "authentication", holder: { id: "2", name: "Two", email: "t@example.org" }, raToken }),
    ];
  })();
  await ca.revoke({ serial: c1.serial, reason: "superseded", role: "holder", code: c1.cancellationCodes!.holder });
  const err = await t.throwsAsync(ca.revoke({ serial: c2.serial, reason: "superseded", role: "holder", code: c2.cancellationCodes!.holder }));
  t.is((err as Error & { code?: string }).code, "ECONNRESET");

  await t.throwsAsync(resolveAdapter(`module:${path}`, { inner: "instant", dropEvry: 2 }, clock()), { instanceOf: UsageError, message: /unknown key dropEvry/ });
  await t.throwsAsync(resolveAdapter(`module:${path}`, { inner: "instant", dropEvery: 0 }, clock()), { instanceOf: UsageError, message: /dropEvery must be a whole number/ });
});

test("without a revocation fault, revoke and revokeMany are the inner CA's own: the very batch array reaches it, uncopied", async (t) => {
  const inner = await InstantCa.create({ clock: clock() });
  t.teardown(() => inner.close());
  const certs = await issue(inner, 6);
  const token = inner.credentials().operatorToken!;
  const seen: string[][] = [];
  const innerMany = inner.revokeMany.bind(inner);
  inner.revokeMany = (list, reason, operatorToken) => (seen.push(list), innerMany(list, reason, operatorToken));
  for (const faults of [{}, { dropEvery: 100 }]) {
    const ca = withLoadFaults(inner, faults);
    const batch = certs.splice(0, 3).map((c) => c.serial);
    const r = await ca.revokeMany!(batch, "superseded", token);
    t.is(r.revoked, 3);
    t.is(seen.at(-1), batch, `the batch itself, not a copy (${JSON.stringify(faults)})`);
  }
  const ca = withLoadFaults(inner, {});
  t.is(ca.ocsp, ca.ocsp, "other methods are bound once");
  const single = await issue(inner, 1);
  t.is((await ca.revoke({ serial: single[0].serial, reason: "superseded", role: "operator", operatorToken: token })).status, "revoked");
});
