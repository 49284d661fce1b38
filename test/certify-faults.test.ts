import test from "ava";
import { EventBus, SystemClock } from "../core/index.js";
import { createEmbeddedAdapter } from "../conformance/adapters/embedded.js";
import { OpensslCa, type OpensslOptions } from "../conformance/adapters/openssl.js";
import { FaultyCa, FAULTS, type Fault } from "../conformance/adapters/faulty.js";
import { CfsslCa, type CfsslOptions } from "../conformance/adapters/cfssl.js";
import { runCatalog } from "../conformance/runner.js";
import { CATALOG, type CertifyOptions } from "../conformance/checks/index.js";
import type { CaAdapter } from "../simulator/ca/api.js";

/**
 * Every check can fail: for each one a deliberately misconfigured CA (an
 * OpenSSL configuration, an embedded CA setting, or a fault-injecting
 * wrapper) makes exactly that check fail in its section of the catalogue,
 * beyond what the same CA, correctly configured, already fails (OpenSSL's own
 * ISS-WEAK-KEY, for instance). Where one defect necessarily breaks a second
 * requirement, the pair is named.
 */
const clock = new SystemClock();

/** The section a check belongs to: the checks run together with it. */
function section(id: string): string[] {
  const prefix = (p: string[]) => CATALOG.filter((c) => p.some((x) => c.id.startsWith(x))).map((c) => c.id);
  if (id.startsWith("ISS-")) return prefix(["ISS-"]);
  if (id.startsWith("REN-") || id.startsWith("REV-")) return prefix(["REN-", "REV-"]);
  if (id.startsWith("CRL-") || id === "PROP-CRL") return prefix(["CRL-", "PROP-CRL"]);
  if (id.startsWith("LIFECYCLE-")) return prefix(["LIFECYCLE-"]);
  return prefix(["OCSP-", "PROP-OCSP"]);
}

type Base = "openssl" | "embedded" | "cfssl";

interface Opener {
  base: Base;
  fault?: Fault;
  open: () => Promise<CaAdapter>;
}

interface Case extends Opener {
  check: string;
  how: string;
  /** Besides `check`, what must also fail because the defect breaks it too. */
  alsoFails?: string[];
  options?: Partial<CertifyOptions>;
}

const openssl = (o: OpensslOptions): Opener => ({ base: "openssl", open: () => OpensslCa.create(o) });
const cfssl = (o: CfsslOptions): Opener => ({ base: "cfssl", open: () => CfsslCa.create(o) });
const embedded = (o: Parameters<typeof createEmbeddedAdapter>[0]): Opener => ({ base: "embedded", open: () => createEmbeddedAdapter(o) });
const faulty = (f: Fault): Opener => ({ base: "embedded", fault: f, open: async () => new FaultyCa(await createEmbeddedAdapter(), f) });
const fast = { propagationThresholdMs: 400, propagationHorizonMs: 800 };

const CASES: Case[] = [
  { check: "ISS-VALIDITY-MAX", how: "OpenSSL profile issuing 5-year certificates", ...openssl({ validityDays: 1826 }) },
  { check: "ISS-VALIDITY-CARD-EXPIRY", how: "a CA that ignores the card's expiry", ...faulty("ignore-card-expiry") },
  { check: "ISS-VALIDITY-CURRENT", how: "OpenSSL post-dating notBefore by a day", ...openssl({ notBeforeOffsetSeconds: 86_400 }) },
  { check: "ISS-KEYUSAGE-AUTH", how: "OpenSSL profile omitting keyUsage", ...openssl({ profiles: { authentication: { keyUsage: null } } }) },
  { check: "ISS-EKU-AUTH", how: "OpenSSL profile omitting extendedKeyUsage", ...openssl({ profiles: { authentication: { extendedKeyUsage: null } } }) },
  { check: "ISS-KEYUSAGE-SIGN", how: "OpenSSL signature profile without nonRepudiation", ...openssl({ profiles: { signature: { keyUsage: "critical,digitalSignature" } } }) },
  { check: "ISS-NOT-CA", how: "OpenSSL profile with CA:TRUE", ...openssl({ profiles: { authentication: { basicConstraints: "critical,CA:TRUE" } } }) },
  {
    check: "ISS-SERIAL-FORMAT",
    how: "OpenSSL counting serials from a 21-octet value",
    ...openssl({ sequentialSerialFrom: "01" + "23".repeat(20) }),
    alsoFails: ["ISS-SERIAL-ENTROPY"], // a counter is also predictable
  },
  { check: "ISS-SERIAL-ENTROPY", how: "OpenSSL with a serial counter", ...openssl({ sequentialSerialFrom: "1000000000000001" }) },
  { check: "ISS-AKI", how: "OpenSSL profile without authorityKeyIdentifier", ...openssl({ profiles: { authentication: { authorityKeyIdentifier: null } } }) },
  { check: "ISS-SKI", how: "OpenSSL profile without subjectKeyIdentifier", ...openssl({ profiles: { authentication: { subjectKeyIdentifier: null } } }) },
  { check: "ISS-SIGNATURE", how: "a CA returning certificates with a broken signature", ...faulty("corrupt-certificate-signature") },
  { check: "ISS-PUBLIC-KEY", how: "a CA certifying a key of its own", ...faulty("substitute-key") },
  { check: "ISS-AIA-OCSP", how: "OpenSSL profile without authorityInfoAccess", ...openssl({ profiles: { authentication: { authorityInfoAccess: null } } }) },
  { check: "ISS-CRL-DP", how: "OpenSSL profile without cRLDistributionPoints", ...openssl({ profiles: { authentication: { crlDistributionPoints: null } } }) },
  { check: "ISS-CSR-SIGNATURE", how: "a CA that does not verify request signatures", ...faulty("accept-broken-csr") },
  { check: "ISS-WEAK-KEY", how: "a CA accepting RSA-1024", ...faulty("accept-weak-key") },
  { check: "ISS-CONCURRENT-SERIALS", how: "a CA handing concurrent requests one certificate", ...faulty("duplicate-concurrent") },
  { check: "REN-NEW-CERTIFICATE", how: "renewal returning the old certificate", ...faulty("renew-returns-old"), alsoFails: ["REN-OLD-SUPERSEDED"] },
  { check: "REN-OLD-SUPERSEDED", how: "embedded CA set to keep renewed certificates valid", ...embedded({ renewal: "keep-until-expiry" }) },
  { check: "REV-REASONS", how: "a CA recording every reason but keyCompromise as unspecified", ...faulty("collapse-reasons") },
  { check: "REV-UNKNOWN-SERIAL", how: "a CA acknowledging unknown serials", ...faulty("ack-unknown-serial") },
  { check: "REV-DUPLICATE", how: "a CA acknowledging a second revocation", ...faulty("ack-duplicate") },
  { check: "REV-HOLD-RELEASE", how: "a release that does nothing", ...faulty("release-noop") },
  { check: "REV-CANCELLATION-CODES", how: "a CA handing out no codes", ...faulty("no-codes") },
  { check: "REV-AUTH-WRONG-CODE", how: "a CA accepting any holder code", ...faulty("ignore-holder-code") },
  { check: "REV-AUTH-ROLE", how: "a CA accepting any representative's code", ...faulty("ignore-representative-code") },
  { check: "PROP-CRL", how: "OpenSSL whose CRL is never regenerated", ...openssl({ crl: { regenerate: "never" } }), options: fast },
  { check: "CRL-SIGNATURE", how: "a CRL with a broken signature", ...faulty("corrupt-crl-signature") },
  { check: "CRL-NUMBER", how: "OpenSSL without a crlnumber file", ...openssl({ crl: { number: "absent" } }) },
  { check: "CRL-AKI", how: "OpenSSL without crl_extensions", ...openssl({ crl: { aki: false } }) },
  { check: "CRL-TIMES", how: "OpenSSL publishing a CRL that expired yesterday", ...openssl({ crl: { stale: true } }) },
  { check: "CRL-NUMBER-INCREASING", how: "OpenSSL restarting its CRL counter", ...openssl({ crl: { number: "reset" } }) },
  { check: "CRL-ENTRY-REASON", how: "OpenSSL CRLs made from an index without reasons", ...openssl({ crl: { entries: "strip-reasons" } }) },
  { check: "CRL-ENTRY-DATE", how: "OpenSSL CRLs stamping entries with the CRL's time", ...openssl({ crl: { entries: "restamp-dates" } }) },
  { check: "PROP-OCSP", how: "OpenSSL responder answering good for revoked serials", ...openssl({ ocsp: { index: "revoked-as-good" } }), options: fast },
  { check: "OCSP-POST", how: "a responder refusing POST", ...faulty("broken-ocsp-post"), options: fast },
  { check: "OCSP-GET", how: "a responder whose GET is broken", ...faulty("broken-ocsp-get") },
  { check: "OCSP-GOOD", how: "OpenSSL responder blind to valid certificates", ...openssl({ ocsp: { index: "drop-valid" } }) },
  { check: "OCSP-REVOKED", how: "OpenSSL responder without revocation reasons", ...openssl({ ocsp: { index: "strip-reasons" } }) },
  { check: "OCSP-UNKNOWN", how: "OpenSSL responder answering good for serials never issued", ...openssl({ ocsp: { index: "good-for-unknown" } }) },
  { check: "OCSP-SIGNATURE", how: "responses with a broken signature", ...faulty("corrupt-ocsp-signature") },
  { check: "OCSP-RESPONDER-AUTHORISED", how: "OpenSSL responder with a certificate the CA never issued", ...openssl({ ocsp: { signer: "rogue" } }) },
  { check: "OCSP-NONCE", how: "a responder path that loses the nonce", ...faulty("drop-ocsp-nonce") },
  { check: "OCSP-TIMES", how: "CFSSL pre-signing responses valid for one second (ocsprefresh -interval 1s)", ...cfssl({ ocsp: { interval: "1s" } }) },
  { check: "OCSP-MALFORMED", how: "a responder that crashes on a malformed request", ...faulty("crash-on-malformed-ocsp") },
  { check: "LIFECYCLE-SCENARIO", how: "OpenSSL with a CRL that is never regenerated (the revoked card keeps authenticating)", ...openssl({ crl: { regenerate: "never" } }), options: fast },
];

async function failing(open: () => Promise<CaAdapter>, only: string[], options?: Partial<CertifyOptions>) {
  const ca = await open();
  try {
    const run = await runCatalog(ca, { bus: new EventBus(clock), clock, only, options });
    return run.results.filter((r) => r.outcome === "fail" || r.outcome === "error");
  } finally {
    await ca.close();
  }
}

/** What the well-configured base CA fails in a section (computed once per base and section). */
const baselines = new Map<string, Promise<string[]>>();
function baseline(base: Base, only: string[]): Promise<string[]> {
  const key = `${base}:${only.join(",")}`;
  if (!baselines.has(key)) {
    const open = base === "openssl" ? () => OpensslCa.create() : base === "cfssl" ? () => CfsslCa.create() : () => createEmbeddedAdapter();
    baselines.set(key, failing(open, only).then((r) => r.map((x) => x.id)));
  }
  return baselines.get(key)!;
}

for (const c of CASES) {
  test.serial(`${c.check} fails for ${c.how}`, async (t) => {
    const only = section(c.check);
    const before = await baseline(c.base, only);
    t.false(before.includes(c.check), `the ${c.base} baseline already fails ${c.check}`);
    const failed = await failing(c.open, only, c.options);
    const expected = [...new Set([...before, c.check, ...(c.alsoFails ?? [])])].sort();
    t.deepEqual(failed.map((r) => r.id).sort(), expected, failed.map((r) => `${r.id}: ${r.message}`).join("\n"));
  });
}

test("every check of the catalogue has a case that makes it fail", (t) => {
  const covered = new Set(CASES.map((c) => c.check));
  t.deepEqual(CATALOG.map((c) => c.id).filter((id) => !covered.has(id)), []);
  // and every fault the wrapper can inject is shown to be caught
  t.deepEqual(FAULTS.filter((f) => !CASES.some((c) => c.fault === f)), []);
});
