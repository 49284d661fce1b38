import test from "ava";
import { X509Certificate } from "node:crypto";
import { CaError, EmbeddedCa, startCaServer, type CaAdapter, type CaHttpBackend, type IssueRequest } from "../../simulator/ca/index.js";
import { makeCsr } from "../../simulator/ca/testing.js";
import { HttpCa } from "./http.js";
import { InstantCa } from "./instant.js";
import { withLoadFaults } from "./load-faults.js";
import { RefusingCa } from "./refusing.js";

/**
 * The adapters' bulk issuance (`issueMany`): over HTTP against a real served embedded CA, the instant CA in
 * process, and the wrappers (load faults, refusals) passing it on. One result per request in order, a refusal
 * as a CaError in its place.
 */

const req = (csrPem: string, i: number, raToken?: string): IssueRequest => ({
  csrPem,
  profile: "authentication",
  holder: { id: `M-${i}`, name: `Many ${i}`, email: `m${i}@example.org` },
  cardExpiry: new Date(Date.now() + 365 * 86_400_000),
  ...(raToken !== undefined ? { raToken } : {}),
});

test("HttpCa.issueMany against a served embedded CA: results in order, a refused item as its CaError, codes for new cards", async (t) => {
  const ca = await EmbeddedCa.open({ kdfLog2N: 4 });
  const server = await startCaServer(ca, { port: 0 });
  const http = await HttpCa.connect({ url: server.url, raToken: ca.raToken, connections: 2 });
  try {
    const csr = (await makeCsr()).pem;
    const reqs = [req(csr, 1, ca.raToken), { ...req("not a csr", 2, ca.raToken) }, req(csr, 3, ca.raToken)];
    const r = await http.issueMany(reqs);
    t.is(r.length, 3);
    t.true(r[1] instanceof CaError && r[1].status === 400 && r[1].reason === "bad-csr");
    const issuing = new X509Certificate(ca.chainPem()[0]);
    for (const x of [r[0], r[2]]) {
      if (x instanceof CaError) return t.fail(x.message);
      t.true(new X509Certificate(x.certificatePem).verify(issuing.publicKey));
      t.truthy(x.cancellationCodes?.holder);
      t.deepEqual(x.chainPem, ca.chainPem());
      t.true(x.notAfter.getTime() <= reqs[0].cardExpiry!.getTime());
      t.is((await http.status(x.serial)).status, "good");
    }
    // The batch's credential: a wrong one refuses the whole call; mixed ones are the caller's mistake.
    await t.throwsAsync(http.issueMany([req(csr, 4, "nope")]), { instanceOf: CaError, message: /not valid/ });
    await t.throwsAsync(http.issueMany([req(csr, 5, ca.raToken), req(csr, 6, "other")]), { instanceOf: RangeError });
    t.is(ca.store.card("M-5"), undefined);
    t.regex(http.provenance().issuance?.how ?? "", /\/api\/v1\/certificates\/batch/);
  } finally {
    await http.close();
    await server.close();
    await ca.close();
  }
});

test("HttpCa.issueMany against a server without the batch route: CaError 404 (the prepare phase then issues one by one)", async (t) => {
  const ca = await EmbeddedCa.open({ kdfLog2N: 4 });
  // The same CA served without bulk issuance, as an older server would be.
  const older = Object.assign(Object.create(ca) as CaHttpBackend, { issueMany: undefined });
  const server = await startCaServer(older, { port: 0 });
  const http = await HttpCa.connect({ url: server.url, connections: 1 });
  try {
    const csr = (await makeCsr()).pem;
    const err = await t.throwsAsync(http.issueMany([req(csr, 1, ca.raToken)]), { instanceOf: CaError });
    t.is(err?.status, 404);
    t.is(ca.store.card("M-1"), undefined);
  } finally {
    await http.close();
    await server.close();
    await ca.close();
  }
});

test("the load-faults and refusing wrappers pass issueMany on (refusals item by item); around a CA without it they offer none", async (t) => {
  const ca = await EmbeddedCa.open({ kdfLog2N: 4 });
  const instant = await InstantCa.create();
  try {
    const csr = (await makeCsr()).pem;
    const token = ca.raToken;
    const faulty = withLoadFaults(ca, { dropEvery: 2 });
    const viaFaults = await faulty.issueMany!([req(csr, 4, token), req(csr, 5, token)]);
    t.true(viaFaults.every((x) => !(x instanceof CaError)));
    t.truthy(ca.store.card("M-5"));

    const refusing = new RefusingCa(ca, [{ op: "issue", when: (q) => q.holder.id === "M-7", status: 429, reason: "slow-down", message: "later" }]);
    const viaRefusing = await refusing.issueMany!([req(csr, 6, token), req(csr, 7, token), req("junk", 8, token)]);
    t.deepEqual(
      viaRefusing.map((x) => (x instanceof CaError ? `${x.status} ${x.reason}` : "ok")),
      ["ok", "429 slow-down", "400 bad-csr"],
    );
    t.is(ca.store.card("M-7"), undefined);
    // The instant CA (the generator's yardstick) issues one by one: wrappers around it offer no bulk issuance either.
    t.is((instant as CaAdapter).issueMany, undefined);
    t.is(new RefusingCa(instant, []).issueMany, undefined);
    t.is(withLoadFaults(instant, {}).issueMany, undefined);
  } finally {
    await instant.close();
    await ca.close();
  }
});
