import test from "ava";
import { DEFAULT_POLICY, SeededRandom, VirtualClock, addYears, type LifecyclePolicy } from "../../core/index.js";
import { buildOcspRequest, OcspResponse } from "../../pki/index.js";
import { CaError, type IssueRequest } from "./api.js";
import { EmbeddedCa, type EmbeddedCaOptions } from "./embedded-ca.js";
import { StatusChanges, type StatusChange } from "./status-changes.js";
import { CaStore, Status } from "./store.js";
import { makeCsr } from "./testing.js";

/** Issues as the issuing station does: with its (RA) token. */
const raIssue = (ca: EmbeddedCa, req: IssueRequest) => ca.issue({ ...req, raToken: ca.raToken });

/**
 * The CA's services seen through the facade: one status-changed event that
 * the OCSP cache and the CRL publisher both follow, and the lifecycle policy
 * (core/policy.ts) as the source of the CA's rules.
 */
const START = "2026-03-01T10:00:00Z";
const holder = { id: "SV-1", name: "Sam Service", email: "sam@example.org" };
let csrPem: string;
test.before(async () => {
  csrPem = (await makeCsr()).pem;
});

async function newCa(extra: Partial<EmbeddedCaOptions> = {}) {
  const clock = new VirtualClock(START);
  const ca = await EmbeddedCa.open({ clock, random: new SeededRandom(21), kdfLog2N: 4, crlScheduleMs: 0, crlDebounceMs: 60_000, ...extra });
  return { ca, clock };
}

function ocspStatus(ca: EmbeddedCa, serial: string): Promise<string> {
  const issuing = ca.hierarchy.issuing;
  const req = buildOcspRequest({ subjectDer: issuing.name, spki: issuing.signer.spki }, [serial]);
  return ca.ocsp(req).then((der) => new OcspResponse(der).responses[0].status);
}

test("StatusChanges: listeners hear each change once, in order; an empty change is no change", (t) => {
  const changes = new StatusChanges();
  const a: StatusChange[] = [];
  const b: StatusChange[] = [];
  changes.on((c) => a.push(c));
  changes.on((c) => b.push(c));
  changes.changed("issued", ["01"]);
  changes.changed("revoked", []);
  changes.changed("on-hold", ["02", "03"]);
  t.deepEqual(a, [
    { kind: "issued", serials: ["01"] },
    { kind: "on-hold", serials: ["02", "03"] },
  ]);
  t.deepEqual(b, a);
});

test("hold, release and supersession reach the OCSP cache and the CRL at once, through the one event", async (t) => {
  const { ca } = await newCa();
  const r = await raIssue(ca, { csrPem, profile: "authentication", holder });
  const crlNumber = () => ca.store.meta("crl_number");
  await ca.crl();
  t.is(crlNumber(), "1");
  await raIssue(ca, { csrPem, profile: "signature", holder });
  await ca.crl();
  t.is(crlNumber(), "1", "an issuance changes no CRL: it is not reissued");

  t.is(await ocspStatus(ca, r.serial), "good");
  t.is(await ocspStatus(ca, r.serial), "good", "cached");
  await ca.revokeMany([r.serial], "certificateHold", ca.operatorToken);
  t.is(await ocspStatus(ca, r.serial), "revoked", "held: the cached good is gone");
  await ca.crl();
  t.is(crlNumber(), "2");
  await ca.release(r.serial, ca.operatorToken);
  t.is(await ocspStatus(ca, r.serial), "good", "released: the cached revoked is gone");
  await ca.crl();
  t.is(crlNumber(), "3");

  t.is(await ocspStatus(ca, r.serial), "good");
  const n = await ca.renew(r.serial, { csrPem, operatorToken: ca.operatorToken });
  t.is(await ocspStatus(ca, r.serial), "revoked", "superseded at once");
  t.is(await ocspStatus(ca, n.serial), "good");
  await ca.crl();
  t.is(crlNumber(), "4");
  await ca.close();
});

test("the policy sets the lifetime, the card-expiry cap, the lockout and the renewal rule", async (t) => {
  const policy: LifecyclePolicy = { ...DEFAULT_POLICY, name: "short", lifetimeYears: 1, capAtCardExpiry: false, maxFailedAttempts: 2, renewal: "keep-until-expiry" };
  const { ca } = await newCa({ policy });
  t.false(ca.policy.capAtCardExpiry);
  t.true(ca.capabilities().cardExpiryCap, "a capability is what the CA can do; whether the policy asks for it is the policy's");
  const r = await raIssue(ca, { csrPem, profile: "authentication", holder, cardExpiry: new Date("2026-06-01T00:00:00Z") });
  t.is(r.notAfter.getTime(), addYears(new Date(START), 1).getTime(), "one year, not capped at the card");
  for (let i = 0; i < 2; i++) {
    await t.throwsAsync(ca.revoke({ serial: r.serial, reason: "keyCompromise", role: "holder", code: "AAAA-BBBB-CCCC-DDDD", email: holder.email, name: holder.name }), { instanceOf: CaError });
  }
  const waiting = await t.throwsAsync<CaError>(ca.revoke({ serial: r.serial, reason: "keyCompromise", role: "holder", code: r.cancellationCodes!.holder, email: holder.email, name: holder.name }));
  t.is(waiting?.status, 429, "after the policy's 2 wrong codes this source waits");
  await ca.renew(r.serial, { csrPem, operatorToken: ca.operatorToken });
  t.is((await ca.status(r.serial)).status, "good", "kept until it expires");
  await ca.close();
});

test("explicit options override the policy; without either, the default policy applies", async (t) => {
  const policy: LifecyclePolicy = { ...DEFAULT_POLICY, lifetimeYears: 1, renewal: "keep-until-expiry" };
  const { ca } = await newCa({ policy, maxValidityYears: 2, renewal: "revoke-superseded", maxFailedAttempts: 7 });
  t.like(ca.policy, { name: policy.name, lifetimeYears: 2, renewal: "revoke-superseded", maxFailedAttempts: 7, capAtCardExpiry: policy.capAtCardExpiry }, "the policy the CA reports is the one it applies");
  const r = await raIssue(ca, { csrPem, profile: "authentication", holder });
  t.is(r.notAfter.getTime(), addYears(new Date(START), 2).getTime());
  await ca.renew(r.serial, { csrPem, operatorToken: ca.operatorToken });
  t.is((await ca.status(r.serial)).reason, "superseded");
  await ca.close();
  const plain = (await newCa()).ca;
  t.is(plain.policy, DEFAULT_POLICY);
  t.true(plain.capabilities().cardExpiryCap);
  await plain.close();
});

test("reasons by role: a reason the policy does not give a role is refused (403) and audited; nothing changes", async (t) => {
  const policy: LifecyclePolicy = {
    ...DEFAULT_POLICY,
    reasonsByRole: { ...DEFAULT_POLICY.reasonsByRole, holder: ["keyCompromise"], operator: ["cessationOfOperation"] },
  };
  const { ca } = await newCa({ policy });
  const r = await raIssue(ca, { csrPem, profile: "authentication", holder });
  const creds = { role: "holder" as const, code: r.cancellationCodes!.holder, email: holder.email, name: holder.name };
  const err = await t.throwsAsync<CaError>(ca.revoke({ serial: r.serial, reason: "cACompromise", ...creds }));
  t.deepEqual([err?.status, err?.reason], [403, "reason-not-allowed"]);
  const bulk = await t.throwsAsync<CaError>(ca.revokeMany([r.serial], "keyCompromise", ca.operatorToken));
  t.deepEqual([bulk?.status, bulk?.reason], [403, "reason-not-allowed"]);
  t.is((await ca.status(r.serial)).status, "good");
  t.true(ca.audit(r.serial).some((e) => e.outcome === "reason-not-allowed"));
  const refusals = ca.audit().filter((e) => e.outcome === "reason-not-allowed");
  t.deepEqual(
    refusals.map((e) => [e.serial, e.role, e.action, e.detail]),
    [
      [r.serial, "holder", "revoke", "cACompromise"],
      [null, "operator", "bulk-revoke", "keyCompromise"],
    ],
    "the bulk refusal is audited as the single one is",
  );
  t.is((await ca.revoke({ serial: r.serial, reason: "keyCompromise", ...creds })).status, "revoked");
  await ca.close();
});

test("the default policy refuses no reason the CA accepted before policies (every reason but removeFromCRL, every role)", async (t) => {
  const { ca } = await newCa();
  const reasons = ["unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded", "cessationOfOperation", "certificateHold", "privilegeWithdrawn", "aACompromise"] as const;
  const roles = ["holder", "legal-representative", "authorised-representative", "operator"] as const;
  for (const reason of reasons) {
    for (const role of roles) {
      const id = `SV-${reason}-${role}`;
      const r = await raIssue(ca, { csrPem, profile: "signature", holder: { ...holder, id, organisation: "Acme" } });
      const codes = r.cancellationCodes!;
      const creds =
        role === "holder"
          ? { code: codes.holder, email: holder.email, name: holder.name }
          : role === "operator"
            ? { answers: { holderId: id }, operatorToken: ca.operatorToken }
            : { code: role === "legal-representative" ? codes.legalRepresentative : codes.authorisedRepresentative };
      const out = await ca.revoke({ serial: r.serial, reason, role, ...creds });
      t.is(out.reason, reason, `${role} ${reason}`);
    }
  }
  await ca.close();
});

test("the store announces each committed status change once, after the commit; a rolled-back write is never announced", (t) => {
  const store = new CaStore(":memory:");
  t.teardown(() => store.close());
  const heard: StatusChange[] = [];
  let inTransaction = false;
  store.changes.on((c) => {
    t.false(inTransaction, "announced after the commit, not inside the transaction");
    heard.push({ kind: c.kind, serials: [...c.serials] });
  });
  const cert = (serial: string) => ({ serial, card_id: "c", profile: "authentication", not_before: 0, not_after: 1, der: null });
  store.transaction(() => {
    inTransaction = true;
    store.insertCertificate(cert("01"));
    store.insertCertificate(cert("02"));
    t.deepEqual(heard, [], "nothing heard before the commit");
    inTransaction = false;
  });
  store.insertSynthetic(["04", "03"], "c", 0, 1);
  store.transaction(() => store.setRevoked("01", Status.onHold, 6, 10));
  store.transaction(() => store.release("01", 11));
  store.transaction(() => store.release("01", 12)); // not on hold: nothing changed, nothing said
  store.transaction(() => store.setRevoked("02", Status.revoked, 4, 13)); // superseded (renewal)
  store.bulkRevoke(["01", "02", "03", "ff"], Status.revoked, 1, 14, { at: 14, role: "operator", action: "bulk-revoke" });
  t.throws(() =>
    store.transaction(() => {
      store.insertCertificate(cert("05"));
      store.setRevoked("04", Status.revoked, 1, 15);
      throw new Error("disk full");
    }),
  );
  t.deepEqual(heard, [
    { kind: "issued", serials: ["01"] },
    { kind: "issued", serials: ["02"] },
    { kind: "issued", serials: ["03", "04"] },
    { kind: "on-hold", serials: ["01"] },
    { kind: "released", serials: ["01"] },
    { kind: "superseded", serials: ["02"] },
    { kind: "revoked", serials: ["01", "03"] },
  ]);
  t.is(store.revocationState("04").status, Status.good, "the rolled-back revocation is undone too");
});
