import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { generateEcKeyPair, SeededRandom, VirtualClock } from "../../core/index.js";
import {
  buildCertificate,
  buildOcspRequest,
  Certificate,
  encodeOcspRequest,
  encodePem,
  ext,
  KU,
  OcspResponse,
  OcspStatus,
  OID,
  softwareSigningKey,
} from "../../pki/index.js";
import { publicKeyOf, verifySignature } from "../../pki/signed-data.js";
import { openHierarchy, type CaHierarchy } from "./hierarchy.js";
import { OcspResponder } from "./ocsp-responder.js";
import { StatusChanges } from "./status-changes.js";
import { Status } from "./store.js";

/**
 * Defect 12: the responder answers `unauthorized` for CertIDs of issuers it does
 * not serve (RFC 6960 2.3, RFC 5019 2.2.3), in every hash algorithm, alone or
 * mixed with its own; nonces of 1..32 octets are echoed, others are
 * malformedRequest (RFC 8954 2.1). Checked with pki's request builder and with
 * a real `openssl ocsp` client over loopback HTTP.
 */

const START = "2026-03-01T10:00:00Z";
const GOOD = "4a01";
const REVOKED = "4a02";

function setup(name = "Test"): { responder: OcspResponder; hierarchy: CaHierarchy; clock: VirtualClock } {
  const clock = new VirtualClock(START);
  const hierarchy = openHierarchy({ keyType: "ec", clock, random: new SeededRandom(name), name });
  const rows: Record<string, { status: 0 | 1 | 2; revokedAt: number | null; reason: number | null }> = {
    [GOOD]: { status: Status.good, revokedAt: null, reason: null },
    [REVOKED]: { status: Status.revoked, revokedAt: clock.nowMs() - 60_000, reason: 1 },
  };
  const responder = new OcspResponder({ clock, hierarchy, validityMs: 3_600_000, lookup: (s) => rows[s], changes: new StatusChanges() });
  return { responder, hierarchy, clock };
}

const issuerOf = (h: CaHierarchy) => new Certificate(h.issuing.certificate);
const read = (der: Uint8Array) => new OcspResponse(der);

/** A CertID of any hash algorithm, built by hand (pki's builder only makes SHA-1 ones). */
type Hash = "md5" | "sha1" | "sha256" | "sha384" | "sha512";
function certId(hash: Hash, issuer: Certificate, serialHex: string): Uint8Array {
  const oid = {
    md5: [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05],
    sha1: [0x2b, 0x0e, 0x03, 0x02, 0x1a],
    sha256: [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01],
    sha384: [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02],
    sha512: [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03],
  }[hash];
  const tlv = (tag: number, body: Uint8Array) => Uint8Array.from([tag, ...(body.length < 0x80 ? [body.length] : [0x81, body.length]), ...body]);
  const alg = tlv(0x30, Uint8Array.from([...tlv(0x06, Uint8Array.from(oid)), 0x05, 0x00]));
  const nameHash = createHash(hash).update(issuer.subjectDer).digest();
  const keyHash = createHash(hash).update(issuer.publicKeyBits).digest();
  return tlv(0x30, Uint8Array.from([...alg, ...tlv(0x04, nameHash), ...tlv(0x04, keyHash), ...tlv(0x02, Buffer.from(serialHex, "hex"))]));
}

test("a CertID of another CA is unauthorized (not a signed unknown), in SHA-1, SHA-256, SHA-384 and SHA-512; our own still answers", (t) => {
  const { responder, hierarchy } = setup();
  const other = setup("Other").hierarchy;
  const ours = issuerOf(hierarchy);
  const theirs = issuerOf(other);
  for (const hash of ["sha1", "sha256", "sha384", "sha512"] as const) {
    const mine = read(responder.handle(encodeOcspRequest([certId(hash, ours, GOOD)])));
    t.is(mine.statusCode, OcspStatus.successful, hash);
    t.deepEqual(mine.responses.map((r) => r.status), ["good"]);
    const foreign = read(responder.handle(encodeOcspRequest([certId(hash, theirs, GOOD)])));
    t.is(foreign.statusCode, OcspStatus.unauthorized, `${hash}: another CA`);
    t.is(foreign.status, "unauthorized");
    t.is(foreign.responses.length, 0, "nothing signed for an issuer the responder does not serve");
  }
  // the root (which issued the issuing CA) is not served either: the responder speaks for the issuing CA only
  t.is(read(responder.handle(buildOcspRequest(new Certificate(hierarchy.root.certificate), [GOOD]))).statusCode, OcspStatus.unauthorized);
});

test("same name, other key; other name, same key; a hash algorithm it does not compute (MD5): all unauthorized", (t) => {
  const { responder, hierarchy } = setup();
  const ours = issuerOf(hierarchy);
  const impostorKey = softwareSigningKey(generateEcKeyPair("P-256").privateKey);
  const T = Date.parse(START);
  const sameName = new Certificate(
    buildCertificate(
      { serial: Uint8Array.of(9), issuer: ours.subjectDer, subject: ours.subjectDer, notBefore: T - 1000, notAfter: T + 1e9, spki: impostorKey.spki, extensions: [ext.basicConstraints(true), ext.keyUsage([KU.keyCertSign])] },
      impostorKey,
    ),
  );
  t.is(read(responder.handle(buildOcspRequest(sameName, [GOOD]))).statusCode, OcspStatus.unauthorized, "same name, other key");
  t.is(read(responder.handle(buildOcspRequest({ subjectDer: issuerOf(setup("Other").hierarchy).subjectDer, spki: ours.spki }, [GOOD]))).statusCode, OcspStatus.unauthorized, "other name, same key");
  t.is(read(responder.handle(encodeOcspRequest([certId("md5", ours, GOOD)]))).statusCode, OcspStatus.unauthorized, "an MD5 CertID: the responder cannot tell whose, so it cannot answer authoritatively");
  t.is(read(responder.handle(buildOcspRequest(ours, [GOOD]))).statusCode, OcspStatus.successful, "the control: our own issuer");
});

test("a request mixing our CertIDs with another issuer's is unauthorized as a whole", (t) => {
  const { responder, hierarchy } = setup();
  const ours = issuerOf(hierarchy);
  const theirs = issuerOf(setup("Other").hierarchy);
  const mixed = read(responder.handle(encodeOcspRequest([certId("sha1", ours, GOOD), certId("sha1", theirs, REVOKED)])));
  t.is(mixed.statusCode, OcspStatus.unauthorized);
  const both = read(responder.handle(encodeOcspRequest([certId("sha1", ours, GOOD), certId("sha256", ours, REVOKED)])));
  t.is(both.statusCode, OcspStatus.successful, "two CertIDs of our own issuer (even in two hash algorithms) are answered");
  t.deepEqual(both.responses.map((r) => r.status), ["good", "revoked"]);
});

test("nonces: 1 and 32 octets are echoed; 0, 33 and 4,000 octets are malformedRequest; a bare (unwrapped) nonce and an encoded critical FALSE too", (t) => {
  const { responder, hierarchy } = setup();
  const ours = issuerOf(hierarchy);
  for (const n of [1, 16, 32]) {
    const nonce = Uint8Array.from({ length: n }, (_, i) => (i * 7 + n) & 0xff);
    const r = read(responder.handle(buildOcspRequest(ours, [GOOD], nonce)));
    t.is(r.statusCode, OcspStatus.successful, `${n} octets`);
    t.is(r.nonce, Buffer.from(nonce).toString("hex"), `${n} octets echoed`);
  }
  for (const n of [0, 33, 4000]) {
    const r = read(responder.handle(buildOcspRequest(ours, [GOOD], new Uint8Array(n).fill(0x5a))));
    t.is(r.statusCode, OcspStatus.malformedRequest, `${n} octets`);
    t.is(r.nonce, undefined);
  }
  // extnValue holding the nonce bare, not as an OCTET STRING: 30 0f 06 09 <id-pkix-ocsp-nonce> 04 02 01 02
  const oid = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02];
  const bare = Uint8Array.from([0x30, 2 + oid.length + 4, 0x06, oid.length, ...oid, 0x04, 0x02, 0x01, 0x02]);
  t.is(OID.ocspNonce, "1.3.6.1.5.5.7.48.1.2", "the hand-written OID above");
  t.is(read(responder.handle(encodeOcspRequest([certId("sha1", ours, GOOD)], [bare]))).statusCode, OcspStatus.malformedRequest);
  // critical FALSE encoded (not DER): the response would echo the extension byte for byte, so the request is malformed
  const falseCritical = Uint8Array.from([0x30, 2 + oid.length + 3 + 6, 0x06, oid.length, ...oid, 0x01, 0x01, 0x00, 0x04, 0x04, 0x04, 0x02, 0x01, 0x02]);
  t.is(read(responder.handle(encodeOcspRequest([certId("sha1", ours, GOOD)], [falseCritical]))).statusCode, OcspStatus.malformedRequest);
  const trueCritical = Uint8Array.from([0x30, 2 + oid.length + 3 + 6, 0x06, oid.length, ...oid, 0x01, 0x01, 0xff, 0x04, 0x04, 0x04, 0x02, 0x01, 0x02]);
  const echoed = read(responder.handle(encodeOcspRequest([certId("sha1", ours, GOOD)], [trueCritical])));
  t.is(echoed.statusCode, OcspStatus.successful, "the control: the same nonce marked critical TRUE");
  t.is(echoed.nonce, "0102");
});

// ---------------------------------------------------------------- real OpenSSL client

interface Run {
  code: number | null;
  out: string;
}

/** openssl in its own process group, killed (the group) at teardown even when the test fails. */
function openssl(t: import("ava").ExecutionContext, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn("openssl", args, { detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => kill(p.pid), 20_000);
    t.teardown(() => {
      clearTimeout(timer);
      kill(p.pid);
    });
    p.on("error", reject);
    p.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

function kill(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // already gone
  }
}

async function serve(t: import("ava").ExecutionContext, responder: OcspResponder): Promise<string> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = responder.handle(new Uint8Array(Buffer.concat(chunks)));
      res.writeHead(200, { "content-type": "application/ocsp-response" }).end(Buffer.from(body));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

test("openssl ocsp: another CA's issuer gets 'unauthorized (6)', a mixed request too; ours is answered with the nonce echoed", async (t) => {
  const { responder, hierarchy } = setup();
  const other = setup("Other").hierarchy;
  const url = await serve(t, responder);
  const dir = mkdtempSync(join(tmpdir(), "ocsp-openssl-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ours = join(dir, "ours.pem");
  const theirs = join(dir, "theirs.pem");
  writeFileSync(ours, encodePem(hierarchy.issuing.certificate, "CERTIFICATE"));
  writeFileSync(theirs, encodePem(other.issuing.certificate, "CERTIFICATE"));
  // The responder runs on a virtual clock (2026): a wide validity period keeps OpenSSL from calling its answers stale.
  const base = ["ocsp", "-url", url, "-noverify", "-resp_text", "-validity_period", "3153600000"];

  for (const digest of [[], ["-sha256"]]) {
    const foreign = await openssl(t, [...base, ...digest, "-issuer", theirs, "-serial", `0x${GOOD}`]);
    t.regex(foreign.out, /Responder Error: unauthorized \(6\)/, `${digest.join(" ") || "-sha1"}: ${foreign.out}`);
  }
  const mixed = await openssl(t, [...base, "-issuer", ours, "-serial", `0x${GOOD}`, "-issuer", theirs, "-serial", `0x${REVOKED}`]);
  t.regex(mixed.out, /Responder Error: unauthorized \(6\)/, mixed.out);

  const good = await openssl(t, [...base, "-nonce", "-issuer", ours, "-serial", `0x${GOOD}`, "-serial", `0x${REVOKED}`]);
  t.is(good.code, 0, good.out);
  t.regex(good.out, /OCSP Response Status: successful \(0x0\)/);
  t.regex(good.out, /OCSP Nonce/, "the 16-octet nonce OpenSSL sends is echoed");
  t.notRegex(good.out, /WARNING: no nonce in response/);
  t.regex(good.out, /0x4A01: good/i);
  t.regex(good.out, /0x4A02: revoked/i);
});

test("signed off the event loop (handleAsync): a nonce'd request gets a promise of the same answer as handle's, nonce echoed, signed by the responder; cached and refused ones come back at once", async (t) => {
  const { responder, hierarchy } = setup();
  const ours = issuerOf(hierarchy);
  const nonce = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
  const pending = responder.handleAsync(buildOcspRequest(ours, [GOOD, REVOKED], nonce));
  t.true(pending instanceof Promise, "signed fresh: on the thread pool");
  const r = read(await pending);
  t.is(r.statusCode, OcspStatus.successful);
  t.is(r.nonce, Buffer.from(nonce).toString("hex"));
  t.deepEqual(r.responses.map((x) => x.status), ["good", "revoked"]);
  const sync = read(responder.handle(buildOcspRequest(ours, [GOOD, REVOKED], nonce)));
  t.deepEqual(r.responses.map((x) => [x.status, x.thisUpdate]), sync.responses.map((x) => [x.status, x.thisUpdate]), "the same answer as the synchronous path");
  t.is(verifySignature(publicKeyOf(new Certificate(hierarchy.responder.certificate).spki), r.signatureAlgorithm, r.tbs, r.signature), "ok", "signed with the responder's key");
  // Nonce-less single requests stay cached and synchronous; refusals are never signed.
  const plain = buildOcspRequest(ours, [GOOD]);
  const first = responder.handleAsync(plain);
  t.true(first instanceof Uint8Array);
  t.is(responder.handleAsync(plain), first, "cached: the same bytes");
  const refused = responder.handleAsync(buildOcspRequest(ours, [GOOD], new Uint8Array(33)));
  t.true(refused instanceof Uint8Array);
  t.is(read(refused as Uint8Array).statusCode, OcspStatus.malformedRequest);
  const foreign = responder.handleAsync(buildOcspRequest(issuerOf(setup("Other").hierarchy), [GOOD], nonce));
  t.is(read(foreign as Uint8Array).statusCode, OcspStatus.unauthorized);
});

test("signatures off the event loop are bounded: past the bound a request is answered tryLater (unsigned) at once, and signed again once they finish (review R1 B5)", async (t) => {
  const { hierarchy, clock } = setup();
  const rows = { [GOOD]: { status: Status.good, revokedAt: null, reason: null } } as const;
  const responder = new OcspResponder({ clock, hierarchy, validityMs: 3_600_000, lookup: (s) => rows[s as typeof GOOD], changes: new StatusChanges(), maxOffThreadSignatures: 3 });
  const ours = issuerOf(hierarchy);
  const nonce = (i: number) => Uint8Array.from({ length: 16 }, (_, j) => i + j + 1);
  // A flood of nonce'd requests in one turn of the event loop: none of the first 3 has finished signing yet.
  const flood = Array.from({ length: 10 }, (_, i) => responder.handleAsync(buildOcspRequest(ours, [GOOD], nonce(i))));
  const answers = (await Promise.all(flood)).map((der) => read(der).statusCode);
  t.deepEqual(answers, [0, 0, 0, 3, 3, 3, 3, 3, 3, 3], "3 signed, the rest tryLater");
  const later = read(await responder.handleAsync(buildOcspRequest(ours, [GOOD], nonce(99))));
  t.is(later.statusCode, OcspStatus.successful, "signed again once the pool is free");
  t.is(later.responses[0].status, "good");
  t.is(OcspStatus.tryLater, 3);
});
