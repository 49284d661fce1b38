import test from "ava";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { SystemClock } from "../core/index.js";
import { EmbeddedCa, startCaServer, type CaServer, type IssueRequest } from "../simulator/ca/index.js";
import { makeCsr } from "../simulator/ca/testing.js";

/** Issues as the issuing station does: with its (RA) token. */
const raIssue = (ca: EmbeddedCa, req: IssueRequest) => ca.issue({ ...req, raToken: ca.raToken });

/** The openssl CLI as the CA's client: OCSP, CRL and chain verification against a served embedded CA. */
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "cardloop-ca-openssl-"));
const f = (name: string) => join(dir, name);
let ca: EmbeddedCa;
let server: CaServer;
const holder = { id: "H-1", name: "Ann Example", email: "ann@example.org" };
let good: { serial: string; pem: string };
let revoked: { serial: string; pem: string };

test.before(async () => {
  // openssl checks times against the real clock, so this CA runs on the system clock.
  ca = await EmbeddedCa.open({ clock: new SystemClock(), kdfLog2N: 4 });
  server = await startCaServer(ca, { port: 0 });
  const csr = (await makeCsr()).pem;
  const a = await raIssue(ca, { csrPem: csr, profile: "authentication", holder });
  const b = await raIssue(ca, { csrPem: csr, profile: "signature", holder });
  good = { serial: a.serial, pem: a.certificatePem };
  revoked = { serial: b.serial, pem: b.certificatePem };
  writeFileSync(f("good.pem"), a.certificatePem);
  writeFileSync(f("revoked.pem"), b.certificatePem);
  writeFileSync(f("issuing.pem"), a.chainPem[0]);
  writeFileSync(f("root.pem"), a.chainPem[1]);
  writeFileSync(f("chain.pem"), a.chainPem.join(""));
  await ca.revoke({ serial: b.serial, reason: "keyCompromise", role: "holder", code: a.cancellationCodes!.holder, email: holder.email, name: holder.name });
});

test.after.always(async () => {
  await server?.close();
  await ca?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function ocsp(serial: string, extra: string[] = []) {
  const { stdout, stderr } = await run("openssl", ["ocsp", "-issuer", f("issuing.pem"), "-serial", "0x" + serial, "-url", `${server.url}/ocsp`, "-CAfile", f("root.pem"), ...extra]);
  return stdout + stderr;
}

test("openssl ocsp: good, revoked with reason, unknown; signature verified against the root", async (t) => {
  const g = await ocsp(good.serial);
  t.regex(g, /Response verify OK/);
  t.regex(g, new RegExp(`0x${good.serial}: good`, "i"));
  t.notRegex(g, /nonce/i, "the nonce is echoed (openssl warns otherwise)");
  const r = await ocsp(revoked.serial);
  t.regex(r, /Response verify OK/);
  t.regex(r, /: revoked/);
  t.regex(r, /Reason: keyCompromise/);
  const u = await ocsp("0123456789abcdef");
  t.regex(u, /Response verify OK/);
  t.regex(u, /: unknown/);
  // without a nonce the response comes from the cache: same answer
  t.regex(await ocsp(good.serial, ["-no_nonce"]), /: good/);
  t.regex(await ocsp(good.serial, ["-no_nonce"]), /: good/);
});

test("OCSP over GET (RFC 6960 A.1) and malformed requests", async (t) => {
  await run("openssl", ["ocsp", "-issuer", f("issuing.pem"), "-serial", "0x" + revoked.serial, "-no_nonce", "-reqout", f("req.der")]);
  const b64 = readFileSync(f("req.der")).toString("base64");
  const res = await fetch(`${server.url}/ocsp/${encodeURIComponent(b64)}`);
  t.is(res.headers.get("content-type"), "application/ocsp-response");
  writeFileSync(f("resp.der"), Buffer.from(await res.arrayBuffer()));
  const { stdout, stderr } = await run("openssl", ["ocsp", "-respin", f("resp.der"), "-issuer", f("issuing.pem"), "-serial", "0x" + revoked.serial, "-CAfile", f("root.pem")]);
  t.regex(stdout + stderr, /Response verify OK/);
  t.regex(stdout, /revoked/);

  for (const body of [Buffer.from("garbage"), Buffer.alloc(0), Buffer.from([0x30, 0x82, 0xff, 0xff])]) {
    const m = await fetch(`${server.url}/ocsp`, { method: "POST", body, headers: { "content-type": "application/ocsp-request" } });
    t.is(m.status, 200);
    t.deepEqual([...new Uint8Array(await m.arrayBuffer())], [0x30, 0x03, 0x0a, 0x01, 0x01], "malformedRequest");
  }
  const g = await fetch(`${server.url}/ocsp/%%%`);
  t.deepEqual([...new Uint8Array(await g.arrayBuffer())], [0x30, 0x03, 0x0a, 0x01, 0x01]);
});

test("openssl crl parses and verifies the CRL; openssl verify -crl_check accepts the good chain and rejects the revoked one", async (t) => {
  const res = await fetch(`${server.url}/crl`);
  t.is(res.headers.get("content-type"), "application/pkix-crl");
  writeFileSync(f("crl.der"), Buffer.from(await res.arrayBuffer()));
  const text = await run("openssl", ["crl", "-inform", "DER", "-in", f("crl.der"), "-noout", "-text", "-CAfile", f("chain.pem")]);
  t.regex(text.stderr + text.stdout, /verify OK/);
  t.regex(text.stdout, new RegExp(revoked.serial, "i"));
  t.regex(text.stdout, /Key Compromise/);
  t.regex(text.stdout, /CRL Number/);
  t.notRegex(text.stdout, new RegExp(good.serial, "i"));
  await run("openssl", ["crl", "-inform", "DER", "-in", f("crl.der"), "-out", f("crl.pem")]);
  writeFileSync(f("trust.pem"), readFileSync(f("root.pem"), "utf8") + readFileSync(f("issuing.pem"), "utf8") + readFileSync(f("crl.pem"), "utf8"));
  const ok = await run("openssl", ["verify", "-crl_check", "-CAfile", f("trust.pem"), f("good.pem")]);
  t.regex(ok.stdout, /good\.pem: OK/);
  const bad = await run("openssl", ["verify", "-crl_check", "-CAfile", f("trust.pem"), f("revoked.pem")]).then(
    () => undefined,
    (e: { stdout: string; stderr: string }) => e.stdout + e.stderr,
  );
  t.truthy(bad, "verify must fail for the revoked certificate");
  t.regex(bad!, /certificate revoked/);
  const chain = await fetch(`${server.url}/ca`);
  t.is((await chain.text()).match(/BEGIN CERTIFICATE/g)?.length, 2);
});

test("RSA option: an RSA hierarchy issues certificates and CRLs that openssl verifies", async (t) => {
  const rsa = await EmbeddedCa.open({ keyType: "rsa", clock: new SystemClock(), kdfLog2N: 4 });
  try {
    const r = await raIssue(rsa, { csrPem: (await makeCsr()).pem, profile: "signature", holder: { id: "R-1", name: "Rosa", email: "rosa@example.org" } });
    const p = (n: string) => f(`rsa-${n}`);
    writeFileSync(p("leaf.pem"), r.certificatePem);
    writeFileSync(p("chain.pem"), r.chainPem.join(""));
    writeFileSync(p("root.pem"), r.chainPem[1]);
    writeFileSync(p("issuing.pem"), r.chainPem[0]);
    const v = await run("openssl", ["verify", "-CAfile", p("root.pem"), "-untrusted", p("issuing.pem"), p("leaf.pem")]);
    t.regex(v.stdout, /OK/);
    const text = await run("openssl", ["x509", "-in", p("issuing.pem"), "-noout", "-text"]);
    t.regex(text.stdout, /sha256WithRSAEncryption/);
    writeFileSync(p("crl.der"), await rsa.crl());
    const c = await run("openssl", ["crl", "-inform", "DER", "-in", p("crl.der"), "-noout", "-CAfile", p("chain.pem")]);
    t.regex(c.stdout + c.stderr, /verify OK/);
  } finally {
    await rsa.close();
  }
});
