import test from "ava";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { SeededRandom, SystemClock } from "../core/index.js";
import { HttpCa } from "../conformance/adapters/http.js";
import { EmbeddedCa, startCaServer, type CaAdapter, type CaServer, type IssueRequest } from "../simulator/ca/index.js";
import { makeCsr } from "../simulator/ca/testing.js";
import { RelyingParty } from "../simulator/terminal/index.js";

/** Issues as the issuing station does: with its (RA) token. */
const raIssue = (ca: EmbeddedCa, req: IssueRequest) => ca.issue({ ...req, raToken: ca.raToken });

/**
 * The root's CRL (ARL) served at /crl/root and named by the issuing CA
 * certificate's CRL distribution point: openssl verify -crl_check_all over
 * the whole path, and the relying party requiring revocation for every
 * certificate, in-process, over OCSP, and through an adapter that offers only
 * HTTP (the CDP is then the way to the root's CRL).
 */
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "cardloop-ca-root-crl-"));
const f = (name: string) => join(dir, name);
// openssl checks times against the real clock, so this CA runs on the system clock.
const clock = new SystemClock();
let ca: EmbeddedCa;
let server: CaServer;
const holder = { id: "H-1", name: "Ann Example", email: "ann@example.org" };
let good: { serial: string; der: Uint8Array };
let revoked: { serial: string; der: Uint8Array };
let chainPem: string[];

/** A CA reached only over HTTP that offers no authority CRLs (whatever the adapter may offer one day). */
function withoutAuthorityCrls(inner: CaAdapter): CaAdapter {
  return new Proxy(inner, {
    get(target, key) {
      if (key === "authorityCrls") return undefined;
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

const der = (pem: string) => new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64"));

test.before(async () => {
  ca = await EmbeddedCa.open({ clock, kdfLog2N: 4 });
  server = await startCaServer(ca, { port: 0 });
  const csr = (await makeCsr()).pem;
  const a = await raIssue(ca, { csrPem: csr, profile: "authentication", holder });
  const b = await raIssue(ca, { csrPem: csr, profile: "signature", holder });
  good = { serial: a.serial, der: der(a.certificatePem) };
  revoked = { serial: b.serial, der: der(b.certificatePem) };
  chainPem = a.chainPem;
  writeFileSync(f("good.pem"), a.certificatePem);
  writeFileSync(f("revoked.pem"), b.certificatePem);
  writeFileSync(f("issuing.pem"), a.chainPem[0]);
  writeFileSync(f("root.pem"), a.chainPem[1]);
  await ca.revoke({ serial: b.serial, reason: "keyCompromise", role: "holder", code: a.cancellationCodes!.holder, email: holder.email, name: holder.name });
});

test.after.always(async () => {
  await server?.close();
  await ca?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** GET a CRL over HTTP and keep it as PEM for openssl. */
async function fetchCrl(path: string, name: string): Promise<Response> {
  const res = await fetch(server.url + path);
  writeFileSync(f(`${name}.der`), Buffer.from(await res.clone().arrayBuffer()));
  await run("openssl", ["crl", "-inform", "DER", "-in", f(`${name}.der`), "-out", f(`${name}.pem`)]);
  return res;
}

async function verify(args: string[]): Promise<{ ok: boolean; out: string }> {
  return run("openssl", ["verify", ...args]).then(
    (r) => ({ ok: true, out: r.stdout + r.stderr }),
    (e: { stdout: string; stderr: string }) => ({ ok: false, out: e.stdout + e.stderr }),
  );
}

test.serial("GET /crl/root: the root's CRL, application/pkix-crl, verified by openssl against the root; the issuing CA names it", async (t) => {
  const res = await fetchCrl("/crl/root", "root-crl");
  t.is(res.status, 200);
  t.is(res.headers.get("content-type"), "application/pkix-crl");
  const text = await run("openssl", ["crl", "-in", f("root-crl.pem"), "-noout", "-text", "-CAfile", f("root.pem")]);
  t.regex(text.stderr + text.stdout, /verify OK/);
  t.regex(text.stdout, /Issuer: CN\s*=\s*cardloop Root CA/);
  t.regex(text.stdout, /Issuing Distribution Point: critical\s+Only CA Certificates/);
  t.regex(text.stdout, /CRL Number/);
  t.regex(text.stdout, /No Revoked Certificates/);
  const issuing = await run("openssl", ["x509", "-in", f("issuing.pem"), "-noout", "-text"]);
  t.regex(issuing.stdout, new RegExp(`CRL Distribution Points:\\s+Full Name:\\s+URI:${server.url.replace(/[.]/g, "\\.")}/crl/root`));
  // GET /crl stays the issuing CA's CRL.
  await fetchCrl("/crl", "issuing-crl");
  const issuingCrl = await run("openssl", ["crl", "-in", f("issuing-crl.pem"), "-noout", "-issuer"]);
  t.regex(issuingCrl.stdout, /cardloop Issuing CA/);
});

test.serial("openssl verify -crl_check_all with both CRLs: the good chain is OK, the revoked leaf is rejected; without the root's CRL nothing passes", async (t) => {
  await fetchCrl("/crl/root", "root-crl");
  await fetchCrl("/crl", "issuing-crl");
  const base = ["-crl_check_all", "-CAfile", f("root.pem"), "-untrusted", f("issuing.pem"), "-CRLfile", f("issuing-crl.pem")];
  const ok = await verify([...base, "-CRLfile", f("root-crl.pem"), f("good.pem")]);
  t.true(ok.ok, ok.out);
  t.regex(ok.out, /good\.pem: OK/);
  const bad = await verify([...base, "-CRLfile", f("root-crl.pem"), f("revoked.pem")]);
  t.false(bad.ok);
  t.regex(bad.out, /error 23 at 0 depth lookup: certificate revoked/);
  // What the root's CRL is for: without it the issuing CA (depth 1) has no revocation status.
  const noArl = await verify([...base, f("good.pem")]);
  t.false(noArl.ok);
  t.regex(noArl.out, /error 3 at 1 depth lookup: unable to get certificate CRL/);
});

test.serial("relying party, in-process, CRLs or OCSP for the leaf: the full path with revocation required", async (t) => {
  for (const revocation of ["crl", "ocsp"] as const) {
    const rp = new RelyingParty({ ca, clock, random: new SeededRandom(5), revocation });
    rp.trustChain(chainPem);
    const g = await rp.check(good.der, clock.now(), "authentication");
    t.deepEqual(g, { valid: true, result: "valid" }, revocation);
    const r = await rp.check(revoked.der, clock.now(), "signature");
    t.false(r.valid, revocation);
    t.is(r.result, "revoked", revocation);
    t.is(r.revocationReason, "keyCompromise", revocation);
  }
});

test.serial("relying party through the HTTP adapter (no authorityCrls): the root's CRL comes from the issuing CA's CRL distribution point", async (t) => {
  const http = await HttpCa.connect({ url: server.url });
  t.teardown(() => http.close());
  const rp = new RelyingParty({ ca: withoutAuthorityCrls(http), clock, random: new SeededRandom(6) });
  rp.trustChain(chainPem);
  t.deepEqual(await rp.check(good.der, clock.now(), "authentication"), { valid: true, result: "valid" });
  const r = await rp.check(revoked.der, clock.now(), "signature");
  t.is(r.result, "revoked");
});

test("a CA certificate whose CRL distribution point does not answer: the issuing CA has no status, and the relying party says where it looked", async (t) => {
  // Built before the server knew its URL: the issuing CA certificate points at a closed port.
  const stale = await EmbeddedCa.open({ clock, kdfLog2N: 4, baseUrl: "http://127.0.0.1:9" });
  const issued = await raIssue(stale, { csrPem: (await makeCsr()).pem, profile: "authentication", holder: { id: "S-1", name: "Sam", email: "sam@example.org" } });
  const served = await startCaServer(stale, { port: 0 });
  const http = await HttpCa.connect({ url: served.url });
  t.teardown(async () => {
    await http.close();
    await served.close();
    await stale.close();
  });
  const rp = new RelyingParty({ ca: withoutAuthorityCrls(http), clock, random: new SeededRandom(7) });
  rp.trustChain(issued.chainPem);
  const r = await rp.check(der(issued.certificatePem), clock.now(), "authentication");
  t.false(r.valid);
  t.is(r.result, "crl-missing");
  t.regex(r.detail ?? "", /Root CA/);
  t.regex(r.detail ?? "", /CRL distribution point http:\/\/127\.0\.0\.1:9\/crl\/root/);
});
