import test from "ava";
import fc from "fast-check";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Validator } from "../pki/index.js";
import { DAY, KeyPool, T0, buildChain, chainParams, expectedFailures, type ChainParams } from "../pki/testing/chains.js";

/**
 * Differential: for 200 generated chains with CRLs, the real `openssl verify
 * -crl_check_all -attime` and the validator agree on valid/invalid. Chains get
 * unique names, so each fast-check run puts 50 of them through ONE openssl process
 * (one per validation time), not one process per chain. Where a chain has exactly
 * one fault, both must also name the same fault.
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

const pem = (label: string, der: Uint8Array) =>
  `-----BEGIN ${label}-----\n${Buffer.from(der).toString("base64").replace(/(.{64})/g, "$1\n").replace(/\n$/, "")}\n-----END ${label}-----\n`;

test("openssl is installed (the differential needs the real one)", (t) => {
  const r = spawnSync("openssl", ["version"], { encoding: "utf8" });
  t.is(r.status, 0, "openssl must be on PATH");
  t.regex(r.stdout, /^OpenSSL 3\./);
});

test("openssl verify -crl_check_all -attime agrees with the validator on 200 generated chains", (t) => {
  const pool = new KeyPool(10);
  const v = new Validator();
  const dir = mkdtempSync(join(tmpdir(), "pki-openssl-"));
  let run = 0;
  let agreedValid = 0;
  let agreedInvalid = 0;
  let singleFault = 0;
  // openssl judges CRLs issued before the validation time only, and cannot tell "revoked later".
  const arb = fc.record({
    chains: fc.array(chainParams({ pastOnly: true, usage: false }), { minLength: 50, maxLength: 50 }),
    at: fc.constantFrom(-20, -5, 0, 17),
  });
  fc.assert(
    fc.property(arb, ({ chains, at }) => {
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
      const r = spawnSync("openssl", [...args, ...leafFiles], { encoding: "utf8" });
      const verdicts = parseVerdicts(r.stdout, r.stderr);
      const disagreements: string[] = [];
      built.forEach((b, i) => {
        const verdict = verdicts.get(leafFiles[i]);
        if (verdict === undefined) throw new Error(`openssl gave no verdict for chain ${i}: ${r.stderr.slice(0, 400)}`);
        const ok = verdict === "OK";
        const mine = v.validate(b.leaf, { anchors: [b.root], intermediates: b.intermediates, crls: b.crls, time: b.time, revocation: "require" });
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
