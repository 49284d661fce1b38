import test from "ava";
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OpensslCa } from "../conformance/adapters/openssl.js";
import { CaError } from "../simulator/ca/api.js";
import { doctorIndex, opensslTime, type IndexRow } from "../conformance/adapters/openssl-index.js";
import { VirtualClock } from "../core/index.js";
import { buildOcspRequest, certInfo, makeCsr, normSerial, parseCrl, parseOcspResponse, singleFor } from "../conformance/pkix.js";

/** The serials `openssl crl -text` lists, as integers in hex. */
const crlSerials = (text: string) => [...text.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => normSerial(m[1]));

const holder = { id: "h1", name: "Alice", email: "alice@example.test" };
const scratch = mkdtempSync(join(tmpdir(), "cardloop-adapter-openssl-"));
const file = (name: string, data: string | Uint8Array) => {
  const p = join(scratch, name);
  writeFileSync(p, data);
  return p;
};

test("issues, revokes and publishes through the real openssl tools; the openssl CLI agrees", async (t) => {
  const ca = await OpensslCa.create();
  t.teardown(() => ca.close());
  const csr = await makeCsr("Alice");
  const a = await ca.issue({ csrPem: csr.pem, profile: "authentication", holder });
  const anchor = file("ca.pem", (await ca.anchors())[0]);
  const leaf = file("leaf.pem", a.certificatePem);
  t.regex(execFileSync("openssl", ["verify", "-CAfile", anchor, leaf], { encoding: "utf8" }), /leaf.pem: OK/);

  const r = await ca.revoke({ serial: a.serial, reason: "keyCompromise", role: "operator" });
  t.is(r.status, "revoked");
  t.deepEqual(await ca.status(a.serial), { serial: normSerial(a.serial), status: "revoked", reason: "keyCompromise", revokedAt: r.revokedAt, notAfter: a.notAfter });

  const crl = file("crl.der", await ca.crl());
  const text = execFileSync("openssl", ["crl", "-inform", "DER", "-in", crl, "-noout", "-text"], { encoding: "utf8" });
  t.true(crlSerials(text).includes(normSerial(a.serial)));
  t.regex(text, /Key Compromise/);
  t.regex(text, /X509v3 CRL Number/);

  // the real openssl OCSP client against the adapter's loopback responder front (async: the front lives in this process)
  const url = (ca as unknown as { server: { url: string } }).server.url;
  t.regex(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const { stdout: out } = await promisify(execFile)("openssl", ["ocsp", "-issuer", anchor, "-cert", leaf, "-url", `${url}/ocsp`, "-CAfile", anchor], { encoding: "utf8" });
  t.regex(out, /leaf.pem: revoked/);
  t.regex(out, /Reason: keyCompromise/);
});

test("refusals are CaErrors: unknown serial 404, second revocation 409, a reason openssl cannot record 400", async (t) => {
  const ca = await OpensslCa.create();
  t.teardown(() => ca.close());
  const a = await ca.issue({ csrPem: (await makeCsr("Bob")).pem, profile: "signature", holder });
  const unknown = await t.throwsAsync(ca.revoke({ serial: "0123456789abcdef", reason: "keyCompromise", role: "operator" }));
  t.is((unknown as CaError).status, 404);
  const unsupported = await t.throwsAsync(ca.revoke({ serial: a.serial, reason: "privilegeWithdrawn", role: "operator" }));
  t.is((unsupported as CaError).status, 400);
  // What the adapter declares (explore predicts these refusals from it) is what it refuses.
  t.deepEqual(ca.capabilities().unrecordedReasons, ["privilegeWithdrawn", "aACompromise"]);
  const aa = await t.throwsAsync(ca.revoke({ serial: a.serial, reason: "aACompromise", role: "operator" }));
  t.like(aa as CaError, { status: 400, reason: "unsupported-reason" });
  t.is((await ca.status(a.serial)).status, "good");
  await ca.revoke({ serial: a.serial, reason: "superseded", role: "operator" });
  const dup = await t.throwsAsync(ca.revoke({ serial: a.serial, reason: "superseded", role: "operator" }));
  t.is((dup as CaError).status, 409);
});

test("every openssl ca call goes through one queue: concurrent issuance keeps the index whole", async (t) => {
  const ca = await OpensslCa.create();
  t.teardown(() => ca.close());
  const issued = await Promise.all(Array.from({ length: 12 }, async (_, i) => ca.issue({ csrPem: (await makeCsr(`User ${i}`)).pem, profile: "authentication", holder })));
  const index = readFileSync(join(ca.dir, "index.txt"), "utf8").trim().split("\n");
  t.is(index.length, 12 + 1); // + the delegated OCSP responder certificate
  t.is(new Set(issued.map((c) => c.serial)).size, 12);
});

test("a request openssl ca refuses (no commonName for the policy) is a 400, whatever its exit status", async (t) => {
  const ca = await OpensslCa.create();
  t.teardown(() => ca.close());
  const key = join(scratch, "k.pem");
  execFileSync("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key]);
  const csr = spawnSync("openssl", ["req", "-new", "-key", key, "-subj", "/O=no common name"], { encoding: "utf8" }).stdout;
  const err = await t.throwsAsync(ca.issue({ csrPem: csr, profile: "authentication", holder }));
  t.is((err as CaError).status, 400);
  t.is(readFileSync(join(ca.dir, "index.txt"), "utf8").trim().split("\n").length, 1);
});

/**
 * An `openssl` first on PATH that delegates to the real one, except that
 * `openssl ca -in REQ` (signing) exits 0 and writes nothing: the trap the
 * adapter must catch. Each faked call leaves a line in `calls`.
 */
function fakeOpenssl(): { dir: string; calls: string } {
  const real = execFileSync("sh", ["-c", "command -v openssl"], { encoding: "utf8" }).trim();
  const dir = mkdtempSync(join(tmpdir(), "cardloop-fake-openssl-"));
  const calls = join(dir, "calls");
  const script = `#!/bin/sh
if [ "$1" = ca ]; then
  for a in "$@"; do
    if [ "$a" = -in ]; then echo "Using configuration from stand-in" >&2; echo "$*" >> '${calls}'; exit 0; fi
  done
fi
exec '${real}' "$@"
`;
  writeFileSync(join(dir, "openssl"), script, { mode: 0o755 });
  return { dir, calls };
}

// serial: PATH is the process's, and ava runs serial tests before the concurrent ones
test.serial("`openssl ca` exiting 0 without writing a certificate is a clear error, never a certificate", async (t) => {
  const ca = await OpensslCa.create(); // started with the real openssl
  t.teardown(() => ca.close());
  const csr = await makeCsr("Erin");
  const fake = fakeOpenssl();
  const path = process.env.PATH;
  process.env.PATH = `${fake.dir}:${path}`;
  let err: CaError | undefined;
  try {
    err = await t.throwsAsync(ca.issue({ csrPem: csr.pem, profile: "authentication", holder }), { instanceOf: CaError });
  } finally {
    process.env.PATH = path;
  }
  t.true(existsSync(fake.calls), "the stand-in answered the signing call");
  t.is(err?.status, 500); // not a 4xx: nothing stated a refusal, so no check may count it as one
  t.is(err?.reason, "no-certificate");
  t.regex(err?.message ?? "", /^openssl ca exited 0 but wrote no certificate: Using configuration from stand-in$/);
  t.deepEqual(readdirSync(ca.dir).filter((f) => /^(req|out)-/.test(f)), [], "no request or empty output left behind");
  t.is(readFileSync(join(ca.dir, "index.txt"), "utf8").trim().split("\n").length, 1); // the responder's row only
  // the real openssl back on PATH: the same CA issues again
  const c = await ca.issue({ csrPem: csr.pem, profile: "authentication", holder });
  t.is(certInfo(c.certificatePem).serial, normSerial(c.serial));
});

test("the OCSP and CRL front listens on 127.0.0.1 only, in this process; no openssl responder listens", async (t) => {
  const ca = await OpensslCa.create();
  t.teardown(() => ca.close());
  const c = await ca.issue({ csrPem: (await makeCsr("Frank")).pem, profile: "authentication", holder });
  const info = certInfo(c.certificatePem);
  const ports = [...new Set([...info.ocspUrls, ...info.crlUrls].map((u) => new URL(u).port))];
  t.is(ports.length, 1); // AIA and CDP name the one front
  const listening = execFileSync("ss", ["-ltnpH"], { encoding: "utf8" }).split("\n").filter((l) => l.trim());
  for (const p of ports) {
    const lines = listening.filter((l) => new RegExp(`:${p}\\s`).test(l));
    t.true(lines.length > 0, `port ${p} is listening`);
    for (const l of lines) {
      t.regex(l, new RegExp(`\\s127\\.0\\.0\\.1:${p}\\s`));
      t.regex(l, new RegExp(`pid=${process.pid},`)); // the adapter's own loopback server, not `openssl ocsp -port`
    }
  }
  // nothing this process started (an `openssl ocsp` responder would bind every interface) is listening
  const ppid = (pid: string) => {
    try {
      return readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ")[1];
    } catch {
      return undefined;
    }
  };
  const children = listening.filter((l) => [...l.matchAll(/pid=(\d+)/g)].some((m) => ppid(m[1]) === String(process.pid)));
  t.deepEqual(children, []);
});

test("close removes the CA's directory and stops its responder", async (t) => {
  const ca = await OpensslCa.create();
  const dir = ca.dir;
  const port = new URL((ca as unknown as { server: { url: string } }).server.url).port;
  t.true(existsSync(join(dir, "index.txt")));
  t.regex(execFileSync("ss", ["-ltnH"], { encoding: "utf8" }), new RegExp(`127\\.0\\.0\\.1:${port}\\s`));
  await ca.close();
  t.false(existsSync(dir));
  t.notRegex(execFileSync("ss", ["-ltnH"], { encoding: "utf8" }), new RegExp(`:${port}\\s`));
});

test("OCSP over GET reaches openssl ocsp through the front: the path is the URL-encoded base64 of the request (RFC 6960 A.1)", async (t) => {
  const ca = await OpensslCa.create();
  t.teardown(() => ca.close());
  // a request whose base64 has "/" or "+", which the URL-encoding must carry through
  let a;
  let req: Uint8Array | undefined;
  for (let i = 0; i < 20 && !req; i++) {
    a = await ca.issue({ csrPem: (await makeCsr(`Gina ${i}`)).pem, profile: "authentication", holder });
    const r = buildOcspRequest(a.chainPem[0], [a.serial]);
    if (/[/+]/.test(Buffer.from(r).toString("base64"))) req = r;
  }
  t.truthy(req, "a request with / or + in its base64");
  const info = parseOcspResponse(await ca.ocsp(req!, "GET"));
  t.is(info.responseStatus, 0);
  t.is(singleFor(info, a!.chainPem[0], a!.serial)?.status, "good");
});

test("crl.entries doctors a copy of index.txt with doctorIndex: restamp-dates dates every entry at the adapter's clock and keeps the reason; the CA's own index is untouched", async (t) => {
  const row = (revoked: string): IndexRow => ({ status: "R", expiry: "491231235959Z", revoked, serialCol: "0A", file: "unknown", subject: "/CN=x" });
  const rows = [row("250101000000Z,keyCompromise"), row("250101000000Z"), { ...row(""), status: "V" as const }];
  t.deepEqual(doctorIndex(rows, "restamp-dates", { stamp: "260102030405Z" }).map((r) => r.revoked), ["260102030405Z,keyCompromise", "260102030405Z", ""]);
  t.deepEqual(doctorIndex(rows, "strip-reasons").map((r) => r.revoked), ["250101000000Z", "250101000000Z", ""]);
  t.deepEqual(doctorIndex(rows, "faithful"), rows);
  t.throws(() => doctorIndex(rows, "restamp-dates"), { message: /needs the CRL's time/ });

  const clock = new VirtualClock("2026-01-02T03:04:05Z");
  const ca = await OpensslCa.create({ clock, crl: { entries: "restamp-dates" } });
  t.teardown(() => ca.close());
  const a = await ca.issue({ csrPem: (await makeCsr("Erin")).pem, profile: "authentication", holder });
  const revoked = await ca.revoke({ serial: a.serial, reason: "keyCompromise", role: "operator" });
  const entry = parseCrl(await ca.crl()).entries.get(normSerial(a.serial))!;
  t.is(entry.revocationDate.toISOString(), "2026-01-02T03:04:05.000Z");
  t.is(opensslTime(entry.revocationDate), "260102030405Z");
  t.is(entry.reason, 1); // keyCompromise
  t.deepEqual((await ca.status(a.serial)).revokedAt, revoked.revokedAt); // the CA's own record keeps its time
  t.regex(ca.provenance().crl!.note ?? "", /^from a copy of index\.txt the adapter restamped with the CRL's time \(index-crl\.txt; crl\.entries: restamp-dates\)/);
});
