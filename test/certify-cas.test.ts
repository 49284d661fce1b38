import test from "ava";
import { EventBus, SystemClock } from "../core/index.js";
import { EmbeddedCa, startCaServer } from "../simulator/ca/index.js";
import { createEmbeddedAdapter } from "../conformance/adapters/embedded.js";
import { OpensslCa } from "../conformance/adapters/openssl.js";
import { CfsslCa } from "../conformance/adapters/cfssl.js";
import { HttpCa } from "../conformance/adapters/http.js";
import { runCatalog, type CatalogRun, type CheckResult } from "../conformance/runner.js";
import { CATALOG } from "../conformance/checks/index.js";
import { CaError, type CaAdapter } from "../simulator/ca/api.js";
import { makeCsr } from "../conformance/pkix.js";

/**
 * The whole catalogue, once per CA, shared by every assertion below:
 * the embedded CA must pass every MUST; OpenSSL and CFSSL get exactly the
 * verdicts their real behaviour earns.
 */
const clock = new SystemClock();

async function certify(open: () => Promise<CaAdapter>): Promise<CatalogRun> {
  const ca = await open();
  try {
    return await runCatalog(ca, { bus: new EventBus(clock), clock });
  } finally {
    await ca.close();
  }
}

const runs = {
  embedded: certify(() => createEmbeddedAdapter()),
  openssl: certify(() => OpensslCa.create()),
  cfssl: certify(() => CfsslCa.create()),
  http: certify(async () => {
    // the embedded CA served by the same code as `cardloop ca serve`, talked to over HTTP
    const inner = await EmbeddedCa.open({ kdfLog2N: 10 });
    const server = await startCaServer(inner, { host: "127.0.0.1", port: 0 });
    const ca = await HttpCa.connect({ url: server.url, operatorToken: inner.operatorToken, raToken: inner.raToken });
    const close = ca.close.bind(ca);
    ca.close = async () => {
      await close();
      await server.close();
      await inner.close();
    };
    return ca;
  }),
};

const ids = (r: CatalogRun, outcome: string, level?: string) =>
  r.results.filter((x) => x.outcome === outcome && (!level || x.level === level)).map((x) => x.id).sort();
const byId = (r: CatalogRun, id: string): CheckResult => r.results.find((x) => x.id === id)!;

test("every check of the catalogue runs once per CA, in catalogue order", async (t) => {
  for (const r of await Promise.all(Object.values(runs))) {
    t.deepEqual(r.results.map((x) => x.id), CATALOG.map((c) => c.id));
  }
});

test("embedded CA: every MUST passes, every SHOULD passes, nothing errors", async (t) => {
  const r = await runs.embedded;
  t.deepEqual(r.mustFailures.map((x) => `${x.id}: ${x.message}`), []);
  t.deepEqual(ids(r, "fail"), []);
  t.deepEqual(ids(r, "error"), []);
  t.deepEqual(ids(r, "skip"), []); // the embedded CA offers everything the catalogue asks about
  t.is(byId(r, "LIFECYCLE-SCENARIO").message, "7 steps as the policy says");
});

test("embedded CA over HTTP (cardloop ca serve): same verdicts as in-process", async (t) => {
  const [a, b] = await Promise.all([runs.embedded, runs.http]);
  t.deepEqual(
    b.results.map((x) => [x.id, x.outcome]),
    a.results.map((x) => [x.id, x.outcome]),
  );
});

test("OpenSSL: accepts RSA-1024 keys, cannot record privilegeWithdrawn, and its responder echoes any nonce and answers for any issuer", async (t) => {
  const r = await runs.openssl;
  t.deepEqual(ids(r, "fail"), ["ISS-WEAK-KEY", "OCSP-NONCE-LENGTH", "OCSP-UNAUTHORIZED", "REV-REASONS"]);
  t.deepEqual(ids(r, "error"), []);
  t.is(r.mustFailures.length, 3);
  // `openssl ocsp` signs whatever nonce it is sent, and says unknown where it serves no such issuer
  t.is(byId(r, "OCSP-NONCE-LENGTH").message, "a 0-octet nonce was echoed; a 129-octet nonce was echoed");
  t.is(byId(r, "OCSP-UNAUTHORIZED").message, "responseStatus successful (unknown) for an issuer the responder does not serve");
  const weak = byId(r, "ISS-WEAK-KEY");
  t.regex(String(weak.evidence.certificate), /BEGIN CERTIFICATE/); // the certificate it should never have issued
  const reasons = byId(r, "REV-REASONS");
  t.is(reasons.message, "privilegeWithdrawn refused (400 unsupported-reason)");
  // OpenSSL offers no hold/release, codes or authorisation: skipped with the reason, never passed
  for (const id of ["REV-HOLD-RELEASE", "REV-CANCELLATION-CODES", "REV-AUTH-WRONG-CODE", "REV-AUTH-ROLE", "ISS-AUTH-REQUIRED", "REV-OPERATOR-AUTH", "REV-LOCKOUT-HOLDER", "REN-CHALLENGE-FLOOD"]) {
    t.is(byId(r, id).outcome, "skip", id);
    t.regex(byId(r, id).message, /does not offer/);
  }
  t.is(byId(r, "ISS-VALIDITY-CARD-EXPIRY").outcome, "pass"); // -enddate caps at the card's expiry
  t.is(byId(r, "LIFECYCLE-SCENARIO").outcome, "pass");
  t.is(byId(r, "OCSP-RESPONDER-AUTHORISED").outcome, "pass");
});

test("CFSSL: what it gets wrong, each for the reason observed", async (t) => {
  const r = await runs.cfssl;
  t.deepEqual(ids(r, "error"), []);
  t.deepEqual(ids(r, "fail", "MUST"), ["CRL-ENTRY-DATE", "CRL-ENTRY-REASON", "CRL-NUMBER", "ISS-WEAK-KEY", "OCSP-UNKNOWN", "REV-DUPLICATE"]);
  // CFSSL 1.2 makes no CRL from its certdb: the adapter's `cfssl gencrl` from a bare serial list has no number,
  // no reasons, and entries dated when it is made. Those failures are the adapter's, warnings, never the CA's.
  for (const id of ["CRL-ENTRY-DATE", "CRL-ENTRY-REASON", "CRL-NUMBER"]) {
    t.is(byId(r, id).madeBy, "adapter", id);
  }
  t.deepEqual(r.mustFailures.map((x) => x.id).sort(), ["ISS-WEAK-KEY", "OCSP-UNKNOWN", "REV-DUPLICATE"]);
  t.is(r.verdict, "fail");
  for (const id of ["ISS-WEAK-KEY", "OCSP-UNKNOWN", "REV-DUPLICATE"]) t.is(byId(r, id).madeBy, "ca", id);
  // CFSSL publishes nothing by itself: when a revocation shows is the adapter's doing, so propagation is too
  for (const id of ["PROP-CRL", "PROP-OCSP"]) t.is(byId(r, id).madeBy, "adapter", id);
  t.deepEqual(ids(r, "fail", "SHOULD"), ["OCSP-GET", "OCSP-NONCE", "OCSP-UNAUTHORIZED"]);
  // ocspserve looks a CertID up by its serial alone: asked about another issuer's certificate with a serial it
  // knows, it vouches for it
  t.is(byId(r, "OCSP-UNAUTHORIZED").message, "responseStatus successful (good) for an issuer the responder does not serve");
  t.is(byId(r, "REV-DUPLICATE").message, "the CA acknowledged revoking an already revoked certificate");
  t.is(byId(r, "CRL-NUMBER").message, "no cRLNumber extension");
  t.is(byId(r, "CRL-ENTRY-REASON").message, "the entry has no reasonCode (revoked for keyCompromise)");
  // gencrl stamps every entry with the time the CRL was made, not when the revocation happened
  t.regex(byId(r, "CRL-ENTRY-DATE").message, /^revocationDate is \d+ ms away from the acknowledged revocation time$/);
  // RFC 5019-style: ocspserve answers "unauthorized" for a serial it has no pre-signed response for
  t.is(byId(r, "OCSP-UNKNOWN").message, "responseStatus unauthorized instead of a certStatus of unknown");
  // pre-signed responses cannot echo a nonce; the 2016 responder cannot decode GET paths (it keeps
  // the leading "/" and turns "+" into " ": 400), and Go's ServeMux redirects a base64 path with "//" (301)
  t.is(byId(r, "OCSP-NONCE").message, "no nonce in the response");
  t.regex(byId(r, "OCSP-GET").message, /^GET failed: OCSP GET http:\/\/127\.0\.0\.1:\d+\/\S+ answered HTTP (400|301), content-type /);
  t.is(byId(r, "ISS-VALIDITY-CARD-EXPIRY").outcome, "skip");
  t.is(byId(r, "CRL-NUMBER-INCREASING").outcome, "skip"); // nothing to compare without CRL numbers
  // and what it gets right
  for (const id of ["LIFECYCLE-SCENARIO", "ISS-CSR-SIGNATURE", "ISS-KEYUSAGE-SIGN", "REV-REASONS", "REV-UNKNOWN-SERIAL", "PROP-CRL", "PROP-OCSP", "OCSP-REVOKED", "OCSP-MALFORMED", "CRL-SIGNATURE"]) {
    t.is(byId(r, id).outcome, "pass", id);
  }
});

test("evidence carries what was judged and no secret", async (t) => {
  const r = await runs.embedded;
  const codes = byId(r, "REV-CANCELLATION-CODES");
  t.deepEqual(codes.evidence, { serial: codes.evidence.serial, holderCode: true, legalRepresentativeCode: true, authorisedRepresentativeCode: true });
  t.regex(String(byId(r, "OCSP-GOOD").evidence.response), /^[A-Za-z0-9+/=]+$/);
  t.is(typeof byId(r, "PROP-OCSP").evidence.delayMs, "number");
  const all = JSON.stringify(r.results);
  t.false(/PRIVATE KEY/.test(all));
});

test("HttpCa.revokeMany: a served CA's bulk revocation, with the operator's token only", async (t) => {
  const inner = await EmbeddedCa.open({ kdfLog2N: 10 });
  const server = await startCaServer(inner, { host: "127.0.0.1", port: 0 });
  const ca = await HttpCa.connect({ url: server.url, operatorToken: inner.operatorToken, raToken: inner.raToken });
  t.teardown(async () => {
    await ca.close();
    await server.close();
    await inner.close();
  });
  const { raToken, operatorToken } = ca.credentials();
  const serials: string[] = [];
  for (const i of [1, 2]) {
    const holder = { id: `bulk-${i}`, name: `Bulk Holder ${i}`, email: `bulk-${i}@example.test` };
    serials.push((await ca.issue({ csrPem: (await makeCsr(holder.name)).pem, profile: "authentication", holder, raToken })).serial);
  }
  const unknown = "7f0123456789abcdef";
  // the issuing station's token is not the operator's
  const refused = await t.throwsAsync(ca.revokeMany(serials, "cessationOfOperation", raToken!), { instanceOf: CaError });
  t.is(refused?.status, 403);
  t.deepEqual(await Promise.all(serials.map(async (s) => (await ca.status(s)).status)), ["good", "good"]);

  const r = await ca.revokeMany([...serials, unknown], "cessationOfOperation", operatorToken!);
  t.is(r.revoked, 2);
  t.deepEqual(r.unknown, [unknown]);
  t.deepEqual(r.alreadyRevoked, []);
  t.true(r.revokedAt instanceof Date && !Number.isNaN(r.revokedAt.getTime()));
  for (const s of serials) t.like(await ca.status(s), { status: "revoked", reason: "cessationOfOperation" });
  // once only: a second bulk names them as already revoked
  const again = await ca.revokeMany(serials, "cessationOfOperation", operatorToken!);
  t.is(again.revoked, 0);
  t.deepEqual([...again.alreadyRevoked].sort(), [...serials].sort());
});

test("without tokens, nothing passes a check that wants a refusal: ISS-WEAK-KEY, ISS-CSR-SIGNATURE and REV-UNKNOWN-SERIAL are not judged, with the fix", async (t) => {
  const inner = await EmbeddedCa.open({ kdfLog2N: 10 });
  const server = await startCaServer(inner, { host: "127.0.0.1", port: 0 });
  const ca = await HttpCa.connect({ url: server.url }); // no raToken, no operatorToken
  t.teardown(async () => {
    await ca.close();
    await server.close();
    await inner.close();
  });
  const r = await runCatalog(ca, { bus: new EventBus(clock), clock, only: ["ISS-CSR-SIGNATURE", "ISS-WEAK-KEY", "REV-UNKNOWN-SERIAL"] });
  t.deepEqual(
    r.results.map((x) => [x.id, x.outcome, x.cause, x.message, x.fix]),
    [
      ["ISS-CSR-SIGNATURE", "error", "credential", "certify holds no raToken for this CA, which asks for it", "give raToken in --ca-config"],
      ["ISS-WEAK-KEY", "error", "credential", "certify holds no raToken for this CA, which asks for it", "give raToken in --ca-config"],
      ["REV-UNKNOWN-SERIAL", "error", "credential", "certify holds no raToken or operatorToken for this CA, which asks for it", "give raToken and operatorToken in --ca-config"],
    ],
  );
  t.is(r.verdict, "incomplete");
  t.deepEqual(r.mustFailures, []);
});
