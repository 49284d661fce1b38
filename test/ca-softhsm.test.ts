import test from "ava";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { SystemClock } from "../core/index.js";
import { EmbeddedCa, startCaServer, type IssueRequest } from "../simulator/ca/index.js";
import { makeCsr } from "../simulator/ca/testing.js";

/** Issues as the issuing station does: with its (RA) token. */
const raIssue = (ca: EmbeddedCa, req: IssueRequest) => ca.issue({ ...req, raToken: ca.raToken });

/** The issuing CA key inside the real SoftHSMv2 (private token directory under the CA's data dir). */
const run = promisify(execFile);

test("issuing key in SoftHSM: certificates, CRL and OCSP responder cert verify with openssl; key stays in the token", async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), "cardloop-ca-hsm-"));
  const ca = await EmbeddedCa.open({ dataDir, hsm: { label: "cardloop-test" }, clock: new SystemClock(), kdfLog2N: 4 });
  const spki = Buffer.from(ca.hierarchy.issuing.signer.spki);
  t.true(ca.hierarchy.hsm);
  t.false(existsSync(join(dataDir, "keys", "issuing.key.pem")), "no issuing key file on disk");
  t.true(existsSync(join(dataDir, "softhsm", "softhsm2.conf")));

  const slots = await run("softhsm2-util", ["--show-slots"], { env: { ...process.env, SOFTHSM2_CONF: join(dataDir, "softhsm", "softhsm2.conf") } });
  t.regex(slots.stdout, /cardloop-test/);

  const server = await startCaServer(ca, { port: 0 });
  try {
    const r = await raIssue(ca, { csrPem: (await makeCsr()).pem, profile: "signature", holder: { id: "S-1", name: "Sam", email: "sam@example.org" } });
    const f = (n: string) => join(dataDir, n);
    writeFileSync(f("leaf.pem"), r.certificatePem);
    writeFileSync(f("issuing.pem"), r.chainPem[0]);
    writeFileSync(f("root.pem"), r.chainPem[1]);
    writeFileSync(f("chain.pem"), r.chainPem.join(""));
    const v = await run("openssl", ["verify", "-CAfile", f("root.pem"), "-untrusted", f("issuing.pem"), f("leaf.pem")]);
    t.regex(v.stdout, /OK/);
    await ca.revokeMany([r.serial], "keyCompromise", ca.operatorToken);
    writeFileSync(f("crl.der"), await ca.crl());
    const c = await run("openssl", ["crl", "-inform", "DER", "-in", f("crl.der"), "-noout", "-CAfile", f("chain.pem")]);
    t.regex(c.stdout + c.stderr, /verify OK/);
    const o = await run("openssl", ["ocsp", "-issuer", f("issuing.pem"), "-serial", "0x" + r.serial, "-url", `${server.url}/ocsp`, "-CAfile", f("root.pem")]);
    t.regex(o.stdout + o.stderr, /Response verify OK/);
    t.regex(o.stdout, /revoked/);
  } finally {
    await server.close();
    await ca.close();
  }
  // Reopening finds the same key by label in the same token.
  const again = await EmbeddedCa.open({ dataDir, kdfLog2N: 4 }); // ca.json remembers the HSM and its label
  t.deepEqual(Buffer.from(again.hierarchy.issuing.signer.spki), spki);
  await again.close();
  rmSync(dataDir, { recursive: true, force: true });
});
