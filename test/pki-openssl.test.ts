import test from "ava";
import fc from "fast-check";
import { generateKeyPairSync } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { join } from "node:path";
import { generateEcKeyPair } from "../core/index.js";
import { Certificate, Crl, Validator, buildCertificate, buildCrl, encodeName, encodePem, ext, KU, OID, keyIdentifier, softwareSigningKey } from "../pki/index.js";
import { DAY, KeyPool, T0, buildChain, chainParams, expectedFailures, type ChainParams } from "../pki/testing/chains.js";
import { tempDir } from "../harness/processes.js";
import { opensslInstalled, runOpenssl } from "./support/pki-tools.js";

/**
 * Differential: for 200 generated chains with CRLs, the real `openssl verify
 * -crl_check_all -attime` and the validator agree on valid/invalid. Chains get
 * unique names, so each fast-check run puts 50 of them through ONE openssl process
 * (one per validation time), not one process per chain. Where a chain has exactly
 * one fault, both must also name the same fault. Every openssl runs in a process group
 * the test owns, with a deadline (test/support/pki-tools.ts).
 */

/** openssl verify error numbers (X509_V_ERR_*) and the validator's codes for the same fault. */
const OPENSSL_CODES: Record<number, string[]> = {
  3: ["crl-missing"],
  7: ["bad-signature"],
  9: ["not-yet-valid"],
  10: ["expired"],
  12: ["crl-expired"],
  23: ["revoked"],
  24: ["basic-constraints", "key-usage"], // invalid CA certificate
  25: ["path-length"],
  32: ["key-usage"], // key usage does not include certificate signing
  35: ["crl-issuer-key-usage"],
  79: ["basic-constraints"], // pathLenConstraint on a certificate that is not a CA
};

/** Per file: "OK", or the error number openssl stopped at. */
function parseVerdicts(stdout: string, stderr: string): Map<string, number | "OK"> {
  const out = new Map<string, number | "OK">();
  for (const m of stdout.matchAll(/^(.*): OK$/gm)) out.set(m[1], "OK");
  let last = -1;
  for (const line of stderr.split("\n")) {
    const e = /^error (\d+) at \d+ depth lookup:/.exec(line);
    if (e) last = Number(e[1]);
    const f = /^error (.*): verification failed/.exec(line);
    if (f) out.set(f[1], last);
  }
  return out;
}

const pem = (label: string, der: Uint8Array) => encodePem(der, label);

test("openssl is installed (the differential needs the real one)", opensslInstalled);

test("openssl verify -crl_check_all -attime agrees with the validator on 200 generated chains", async (t) => {
  const pool = new KeyPool(10);
  const v = new Validator();
  const dir = tempDir(t, "pki-openssl");
  let run = 0;
  let agreedValid = 0;
  let agreedInvalid = 0;
  let singleFault = 0;
  // openssl judges CRLs issued before the validation time only, and cannot tell "revoked later".
  const arb = fc.record({
    chains: fc.array(chainParams({ pastOnly: true, usage: false }), { minLength: 50, maxLength: 50 }),
    at: fc.constantFrom(-20, -5, 0, 17),
  });
  await fc.assert(
    fc.asyncProperty(arb, async ({ chains, at }) => {
      run++;
      const params: ChainParams[] = chains.map((p) => ({ ...p, at }));
      const built = params.map((p, i) => buildChain(p, `r${run}c${i}`, pool));
      const time = T0 + at * DAY;
      const roots = built.map((b) => pem("CERTIFICATE", b.root)).join("");
      const inters = built.flatMap((b) => b.intermediates.map((c) => pem("CERTIFICATE", c))).join("");
      const crls = built.flatMap((b) => b.crls.map((c) => pem("X509 CRL", c))).join("");
      const base = join(dir, `run${run}`);
      writeFileSync(`${base}-roots.pem`, roots);
      const args = ["verify", "-no-CApath", "-no-CAstore", "-CAfile", `${base}-roots.pem`, "-crl_check_all", "-attime", String(Math.floor(time / 1000))];
      if (inters) {
        writeFileSync(`${base}-inter.pem`, inters);
        args.push("-untrusted", `${base}-inter.pem`);
      }
      if (crls) {
        writeFileSync(`${base}-crls.pem`, crls);
        args.push("-CRLfile", `${base}-crls.pem`);
      }
      const leafFiles = built.map((b, i) => {
        const f = `${base}-leaf${i}.pem`;
        writeFileSync(f, pem("CERTIFICATE", b.leaf));
        return f;
      });
      const r = await runOpenssl(t, [...args, ...leafFiles]);
      const verdicts = parseVerdicts(r.stdout, r.stderr);
      const disagreements: string[] = [];
      built.forEach((b, i) => {
        const verdict = verdicts.get(leafFiles[i]);
        if (verdict === undefined) throw new Error(`openssl gave no verdict for chain ${i}: ${r.stderr.slice(0, 400)}`);
        const ok = verdict === "OK";
        // Lenient: plain `openssl verify` (no -x509_strict) does not hold CAs to the section 4 profile either.
        const mine = v.validate(b.leaf, { anchors: [b.root], intermediates: b.intermediates, crls: b.crls, time: b.time, revocation: "require", profile: "lenient" });
        const what = `chain ${i} ${JSON.stringify(params[i])}: openssl ${ok ? "OK" : `error ${verdict}`}, validator ${mine.valid ? "valid" : mine.code}`;
        if (mine.valid !== ok) disagreements.push(what);
        else if (ok) agreedValid++;
        else {
          agreedInvalid++;
          const faults = expectedFailures(params[i], { requireRevocation: true });
          if (faults.size === 1 && !mine.valid && typeof verdict === "number") {
            singleFault++;
            if (!(OPENSSL_CODES[verdict] ?? []).includes(mine.code)) disagreements.push(`same verdict, different fault: ${what}`);
          }
        }
      });
      if (disagreements.length) throw new Error(disagreements.join("\n"));
      return true;
    }),
    { numRuns: 4, seed: 20260501, endOnFailure: true },
  );
  t.is(agreedValid + agreedInvalid, 200);
  t.true(agreedValid > 20, `valid: ${agreedValid}`);
  t.true(agreedInvalid > 20, `invalid: ${agreedInvalid}`);
  t.true(singleFault > 20, `single-fault chains compared by reason: ${singleFault}`);
});

/** openssl's exit code and everything it printed (stdout, then stderr). */
async function opensslAsync(t: import("ava").ExecutionContext, args: string[]): Promise<{ code: number; out: string }> {
  const r = await runOpenssl(t, args);
  return { code: r.code, out: r.stdout + r.stderr };
}

/** The signature BIT STRING (the last element of the outer SEQUENCE) with its unused-bits octet set: same signature, other bytes. */
function signatureUnusedBits(der: Uint8Array, unused: number): Uint8Array {
  const v = new Certificate(der); // any SIGNED{} has the same tail; the view only locates the signature octets
  const sigLen = v.signature.length;
  const out = Uint8Array.from(der);
  out[der.length - sigLen - 1] = unused;
  return out;
}
function crlSignatureUnusedBits(der: Uint8Array, unused: number): Uint8Array {
  const out = Uint8Array.from(der);
  out[der.length - new Crl(der).signature.length - 1] = unused;
  return out;
}

test("signature BIT STRING with 1-7 unused bits: openssl verify / openssl crl refuse all 28 mutants, and so does the validator", async (t) => {
  const T = Date.UTC(2026, 2, 1);
  const DAY = 86_400_000;
  const dir = tempDir(t, "pki-openssl-bits");
  const verdicts: string[] = [];
  for (const kind of ["ec", "rsa"] as const) {
    const caKey = softwareSigningKey(kind === "ec" ? generateEcKeyPair("P-256").privateKey : generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey);
    const leafKey = softwareSigningKey(generateEcKeyPair("P-256").privateKey);
    const caName = encodeName([[OID.commonName, `Bits ${kind} CA`]]);
    const ca = buildCertificate({ serial: Uint8Array.of(1), issuer: caName, subject: caName, notBefore: T - 9 * DAY, notAfter: T + 90 * DAY, spki: caKey.spki, extensions: [ext.basicConstraints(true), ext.keyUsage([KU.keyCertSign, KU.cRLSign]), ext.subjectKeyIdentifier(keyIdentifier(caKey.spki))] }, caKey);
    const leaf = buildCertificate({ serial: Uint8Array.of(7), issuer: caName, subject: encodeName([[OID.commonName, "Leaf"]]), notBefore: T - DAY, notAfter: T + 9 * DAY, spki: leafKey.spki, extensions: [ext.keyUsage([KU.digitalSignature]), ext.authorityKeyIdentifier(keyIdentifier(caKey.spki))] }, caKey);
    const crl = buildCrl({ issuerName: caName, issuerKeyId: keyIdentifier(caKey.spki), signer: caKey, crlNumber: 3n, thisUpdate: T - DAY, nextUpdate: T + DAY, entries: [["0102", T - DAY, 1]] });
    const caFile = join(dir, `${kind}-ca.pem`);
    writeFileSync(caFile, pem("CERTIFICATE", ca));
    const attime = String(Math.floor(T / 1000));
    // controls: openssl accepts the unmutated leaf and CRL
    const ok = await opensslAsync(t, ["verify", "-no-CApath", "-no-CAstore", "-CAfile", caFile, "-attime", attime, writeTo(join(dir, `${kind}-leaf.pem`), pem("CERTIFICATE", leaf))]);
    t.regex(ok.out, /: OK/, ok.out);
    const crlOk = await opensslAsync(t, ["crl", "-noout", "-CAfile", caFile, "-in", writeTo(join(dir, `${kind}-crl.pem`), pem("X509 CRL", crl))]);
    t.regex(crlOk.out, /verify OK/, crlOk.out);

    const leafFiles: string[] = [];
    for (let unused = 1; unused <= 7; unused++) {
      const m = signatureUnusedBits(leaf, unused);
      leafFiles.push(writeTo(join(dir, `${kind}-leaf-${unused}.pem`), pem("CERTIFICATE", m)));
      const mine = new Validator().validate(m, { anchors: [ca], time: T, usage: "authentication" });
      verdicts.push(`${kind} cert: validator ${mine.valid ? "valid" : mine.code}`);
      const mc = crlSignatureUnusedBits(crl, unused);
      const r = await opensslAsync(t, ["crl", "-noout", "-CAfile", caFile, "-in", writeTo(join(dir, `${kind}-crl-${unused}.pem`), pem("X509 CRL", mc))]);
      t.notRegex(r.out, /verify OK/, `openssl crl accepted a CRL with ${unused} unused bits`);
      t.regex(r.out, /invalid bit string bits left/);
      const mineCrl = new Validator().validate(leaf, { anchors: [ca], crls: [mc], time: T, usage: "authentication" });
      verdicts.push(`${kind} crl: validator ${mineCrl.valid ? "valid" : mineCrl.code}, openssl refused`);
    }
    const v = await opensslAsync(t, ["verify", "-no-CApath", "-no-CAstore", "-CAfile", caFile, "-attime", attime, ...leafFiles]);
    const errors7 = [...v.out.matchAll(/^error 7 at 0 depth lookup: certificate signature failure$/gm)].length;
    t.is(errors7, 7, v.out);
    t.notRegex(v.out, /: OK$/m);
  }
  t.is(verdicts.length, 28);
  t.deepEqual(
    [...new Set(verdicts)].sort(),
    ["ec cert: validator bad-signature", "ec crl: validator crl-bad-signature, openssl refused", "rsa cert: validator bad-signature", "rsa crl: validator crl-bad-signature, openssl refused"],
  );
});

function writeTo(path: string, text: string): string {
  writeFileSync(path, text);
  return path;
}

test("a hung openssl is stopped at its deadline, its process with it, and the run fails saying so", async (t) => {
  // A TCP server that accepts and never answers: s_client waits for a ServerHello that does not come.
  const server = createServer();
  const connected = new Promise<Socket>((resolve) => server.once("connection", resolve));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => void server.close());
  const run = runOpenssl(t, ["s_client", "-connect", `127.0.0.1:${(server.address() as AddressInfo).port}`], 1_000);
  const socket = await connected;
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  socket.resume();
  const err = await t.throwsAsync(run);
  t.regex(err?.message ?? "", /^openssl s_client: still running after 1000 ms; its process group was stopped/);
  await closed; // its end of the connection is gone: so is the process that held it
  t.true(socket.destroyed || socket.readableEnded);
});
