import test from "ava";
import { DEFAULT_POLICY, EventBus, SystemClock, type Outcome } from "../core/index.js";
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
 * wrapper) makes exactly that check fail. The whole catalogue runs against
 * the misconfigured CA and against the same CA correctly configured (the
 * baseline, which may fail checks of its own: OpenSSL's ISS-WEAK-KEY, for
 * instance); every other check must keep its baseline verdict. Where one
 * defect necessarily breaks a second requirement (`alsoFails`) or leaves a
 * check nothing to judge (`skips`), the case names it and says why.
 */
const clock = new SystemClock();
/** The policy every run judges by, and the one a fault-injecting wrapper counts by. */
const POLICY = DEFAULT_POLICY;

type Base = "openssl" | "embedded" | "cfssl";

interface Opener {
  base: Base;
  fault?: Fault;
  open: () => Promise<CaAdapter>;
  /** Same key, same CA configuration: the catalogue runs once and the cases share the verdicts. */
  key?: string;
}

interface Case extends Opener {
  check: string;
  how: string;
  /** Besides `check`, what must also fail because the defect breaks it too. */
  alsoFails?: string[];
  /** Checks the defect leaves nothing to judge: they skip, pointing at the check that fails (not judged twice). */
  skips?: string[];
  /** On top of RUN_OPTIONS, for this case and its baseline alike. */
  options?: Partial<CertifyOptions>;
}

const openssl = (o: OpensslOptions): Opener => ({ base: "openssl", key: `openssl ${JSON.stringify(o)}`, open: () => OpensslCa.create(o) });
const cfssl = (o: CfsslOptions): Opener => ({ base: "cfssl", key: `cfssl ${JSON.stringify(o)}`, open: () => CfsslCa.create(o) });
const embedded = (o: Parameters<typeof createEmbeddedAdapter>[0]): Opener => ({ base: "embedded", key: `embedded ${JSON.stringify(o)}`, open: () => createEmbeddedAdapter(o) });
const faulty = (f: Fault): Opener => ({ base: "embedded", fault: f, key: `faulty ${f}`, open: async () => new FaultyCa(await createEmbeddedAdapter(), f, POLICY) });
/** The correctly configured CAs every case is compared with. */
const BASELINES: Record<Base, Opener> = { openssl: openssl({}), cfssl: cfssl({}), embedded: embedded({}) };

/**
 * Every run, baselines and misconfigured CAs alike, judges with the same
 * options, so a verdict differs only because of the defect. A short horizon:
 * a CA that never propagates costs 3 s, not the default 20 s; the threshold is
 * as long, because several catalogues run at once on a small machine. Four
 * concurrent requests show a duplicate serial as well as sixteen, for less.
 */
const RUN_OPTIONS: Partial<CertifyOptions> = { propagationThresholdMs: 3_000, propagationHorizonMs: 3_000, concurrency: 4 };
/** What a CRL that never shows a revocation leaves the CRL-entry checks: nothing to judge. */
const NO_CRL_ENTRY = ["CRL-NUMBER-INCREASING", "CRL-ENTRY-REASON", "CRL-ENTRY-DATE"];

const CASES: Case[] = [
  {
    check: "ISS-VALIDITY-MAX",
    how: "OpenSSL profile issuing 5-year certificates",
    ...openssl({ validityDays: 1826 }),
    alsoFails: ["REN-NEW-CERTIFICATE"], // renewal issues under the same profile: 5 years again
  },
  { check: "ISS-VALIDITY-CARD-EXPIRY", how: "a CA that ignores the card's expiry", ...faulty("ignore-card-expiry") },
  {
    check: "ISS-VALIDITY-CURRENT",
    how: "OpenSSL post-dating notBefore by a day",
    ...openssl({ notBeforeOffsetSeconds: 86_400 }),
    alsoFails: ["LIFECYCLE-SCENARIO"], // the relying party refuses the new card's not-yet-valid certificate
  },
  { check: "ISS-KEYUSAGE-AUTH", how: "OpenSSL profile omitting keyUsage", ...openssl({ profiles: { authentication: { keyUsage: null } } }) },
  { check: "ISS-EKU-AUTH", how: "OpenSSL profile omitting extendedKeyUsage", ...openssl({ profiles: { authentication: { extendedKeyUsage: null } } }) },
  {
    check: "ISS-KEYUSAGE-SIGN",
    how: "OpenSSL signature profile without nonRepudiation",
    ...openssl({ profiles: { signature: { keyUsage: "critical,digitalSignature" } } }),
    alsoFails: ["LIFECYCLE-SCENARIO"], // the relying party refuses the card's electronic signature
  },
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
  {
    check: "ISS-SIGNATURE",
    how: "a CA returning certificates with a broken signature",
    ...faulty("corrupt-certificate-signature"),
    alsoFails: ["LIFECYCLE-SCENARIO"], // the card's certificate fails path validation at the relying party
  },
  {
    check: "ISS-PUBLIC-KEY",
    how: "a CA certifying a key of its own",
    ...faulty("substitute-key"),
    alsoFails: ["LIFECYCLE-SCENARIO"], // the card's signatures do not verify under the certified key
    // the requested key cannot prove a renewal of a certificate for another
    skips: ["REN-NEW-CERTIFICATE", "REN-OLD-SUPERSEDED", "REN-CHALLENGE-FLOOD", "REN-AUTHORISED"],
  },
  { check: "ISS-AIA-OCSP", how: "OpenSSL profile without authorityInfoAccess", ...openssl({ profiles: { authentication: { authorityInfoAccess: null } } }) },
  { check: "ISS-CRL-DP", how: "OpenSSL profile without cRLDistributionPoints", ...openssl({ profiles: { authentication: { crlDistributionPoints: null } } }) },
  { check: "ISS-CSR-SIGNATURE", how: "a CA that does not verify request signatures", ...faulty("accept-broken-csr") },
  { check: "ISS-WEAK-KEY", how: "a CA accepting RSA-1024", ...faulty("accept-weak-key") },
  {
    check: "ISS-CONCURRENT-SERIALS",
    how: "a CA handing concurrent requests one certificate",
    ...faulty("duplicate-concurrent"),
    skips: ["ISS-SERIAL-ENTROPY"], // it judges the same batch: one serial has no gaps to measure
  },
  {
    check: "REN-NEW-CERTIFICATE",
    how: "renewal returning the old certificate",
    ...faulty("renew-returns-old"),
    // the old certificate is the "new" one, so it is not superseded; the lifecycle's renewal writes no new certificate;
    // and it answers an unauthorised renewal as readily
    alsoFails: ["REN-OLD-SUPERSEDED", "LIFECYCLE-SCENARIO", "REN-AUTHORISED"],
  },
  { check: "REN-OLD-SUPERSEDED", how: "embedded CA set to keep renewed certificates valid", ...embedded({ renewal: "keep-until-expiry" }) },
  { check: "REN-AUTHORISED", how: "a CA renewing for anyone, without proof of the old key", ...faulty("renew-without-proof") },
  { check: "REV-REASONS", how: "a CA recording every reason but keyCompromise as unspecified", ...faulty("collapse-reasons") },
  { check: "REV-UNKNOWN-SERIAL", how: "a CA acknowledging unknown serials", ...faulty("ack-unknown-serial") },
  { check: "REV-DUPLICATE", how: "a CA acknowledging a second revocation", ...faulty("ack-duplicate") },
  { check: "REV-HOLD-RELEASE", how: "a release that does nothing", ...faulty("release-noop") },
  {
    check: "REV-CANCELLATION-CODES",
    how: "a CA handing out no codes",
    ...faulty("no-codes"),
    alsoFails: ["LIFECYCLE-SCENARIO"], // the holder revokes with the code the CA did not hand out
    skips: ["REV-AUTH-WRONG-CODE", "REV-AUTH-ROLE", "REV-AUTH-LOCKOUT", "REV-LOCKOUT-HOLDER"], // no code, so no wrong or other role's code to try
  },
  {
    check: "REV-AUTH-WRONG-CODE",
    how: "a CA accepting any holder code",
    ...faulty("ignore-holder-code"),
    alsoFails: ["REV-AUTH-LOCKOUT"], // a wrong code revokes: no limit protects the holder
  },
  {
    check: "REV-AUTH-LOCKOUT",
    how: "embedded CA that never locks revocation",
    ...embedded({ maxFailedAttempts: 1_000_000 }),
    // no lockout, so nothing shows that a lockout keeps roles apart
    skips: ["REV-LOCKOUT-HOLDER"],
  },
  { check: "REV-AUTH-ROLE", how: "a CA accepting any representative's code", ...faulty("ignore-representative-code") },
  {
    check: "PROP-CRL",
    how: "OpenSSL whose CRL is never regenerated",
    ...openssl({ crl: { regenerate: "never" } }),
    alsoFails: ["LIFECYCLE-SCENARIO"], // the relying party, reading that CRL, accepts the revoked card
    skips: NO_CRL_ENTRY,
  },
  {
    check: "CRL-SIGNATURE",
    how: "a CRL with a broken signature",
    ...faulty("corrupt-crl-signature"),
    alsoFails: ["LIFECYCLE-SCENARIO"], // the relying party cannot check revocation with that CRL
    // a CRL that does not verify is not the CA's word: its number, times and entries are not judged
    skips: ["PROP-CRL", "CRL-NUMBER", "CRL-AKI", "CRL-TIMES", "CRL-NUMBER-INCREASING", "CRL-ENTRY-REASON", "CRL-ENTRY-DATE"],
  },
  {
    check: "CRL-NUMBER",
    how: "OpenSSL without a crlnumber file",
    ...openssl({ crl: { number: "absent" } }),
    skips: ["CRL-NUMBER-INCREASING"], // no number to compare
  },
  { check: "CRL-AKI", how: "OpenSSL without crl_extensions", ...openssl({ crl: { aki: false } }) },
  {
    check: "CRL-TIMES",
    how: "OpenSSL publishing a CRL that expired yesterday",
    ...openssl({ crl: { stale: true } }),
    alsoFails: ["LIFECYCLE-SCENARIO"], // the relying party refuses an expired CRL, so every use fails
  },
  { check: "CRL-NUMBER-INCREASING", how: "OpenSSL restarting its CRL counter", ...openssl({ crl: { number: "reset" } }) },
  { check: "CRL-ENTRY-REASON", how: "OpenSSL CRLs made from an index without reasons", ...openssl({ crl: { entries: "strip-reasons" } }) },
  { check: "CRL-ENTRY-DATE", how: "OpenSSL CRLs stamping entries with the CRL's time", ...openssl({ crl: { entries: "restamp-dates" } }) },
  {
    check: "PROP-OCSP",
    how: "OpenSSL responder answering good for revoked serials",
    ...openssl({ ocsp: { index: "revoked-as-good" } }),
    skips: ["OCSP-REVOKED"], // no revoked answer to judge
  },
  {
    check: "OCSP-POST",
    how: "a responder refusing POST",
    ...faulty("broken-ocsp-post"),
    // every response-judging check asks over POST: nothing comes back to judge
    skips: ["PROP-OCSP", "OCSP-GOOD", "OCSP-REVOKED", "OCSP-UNKNOWN", "OCSP-SIGNATURE", "OCSP-RESPONDER-AUTHORISED", "OCSP-NONCE", "OCSP-TIMES", "OCSP-UNAUTHORIZED", "OCSP-NONCE-LENGTH"],
  },
  { check: "OCSP-GET", how: "a responder whose GET is broken", ...faulty("broken-ocsp-get") },
  { check: "OCSP-GOOD", how: "OpenSSL responder blind to valid certificates", ...openssl({ ocsp: { index: "drop-valid" } }) },
  { check: "OCSP-REVOKED", how: "OpenSSL responder without revocation reasons", ...openssl({ ocsp: { index: "strip-reasons" } }) },
  { check: "OCSP-UNKNOWN", how: "OpenSSL responder answering good for serials never issued", ...openssl({ ocsp: { index: "good-for-unknown" } }) },
  { check: "OCSP-SIGNATURE", how: "responses with a broken signature", ...faulty("corrupt-ocsp-signature") },
  { check: "OCSP-RESPONDER-AUTHORISED", how: "OpenSSL responder with a certificate the CA never issued", ...openssl({ ocsp: { signer: "rogue" } }) },
  {
    check: "OCSP-NONCE",
    how: "a responder path that loses the nonce",
    ...faulty("drop-ocsp-nonce"),
    // echoing no nonce at all, it shows nothing about nonce lengths
    skips: ["OCSP-NONCE-LENGTH"],
  },
  { check: "OCSP-TIMES", how: "CFSSL pre-signing responses valid for one second (ocsprefresh -interval 1s)", ...cfssl({ ocsp: { interval: "1s" } }) },
  { check: "OCSP-MALFORMED", how: "a responder that crashes on a malformed request", ...faulty("crash-on-malformed-ocsp") },
  { check: "ISS-AUTH-REQUIRED", how: "a CA issuing for anyone, without the issuing station's credential", ...faulty("issue-without-credential") },
  { check: "REV-OPERATOR-AUTH", how: "a CA revoking as operator on the registration answers alone", ...faulty("operator-without-token") },
  {
    check: "ISS-AUTH-REQUIRED",
    how: "a CA taking any of its tokens for any role (the operator's issues)",
    ...faulty("any-token-any-role"),
    alsoFails: ["REV-OPERATOR-AUTH"], // and the issuing station's token revokes as the operator
  },
  { check: "REV-OPERATOR-AUTH", how: "a CA that, given the operator's token, takes any registration answers", ...faulty("operator-token-skips-answers") },
  { check: "REV-LOCKOUT-HOLDER", how: "a CA whose wrong-code lockout locks the holder out too", ...faulty("lockout-locks-holder") },
  { check: "REN-CHALLENGE-FLOOD", how: "a CA keeping only the newest renewal challenges", ...faulty("evict-renewal-challenges") },
  { check: "OCSP-UNAUTHORIZED", how: "a responder that matches CertIDs on the serial alone", ...faulty("ignore-certid-issuer") },
  { check: "OCSP-NONCE-LENGTH", how: "an embedded CA set to echo nonces of up to 4,096 octets", ...embedded({ ocspMaxNonceOctets: 4096 }) },
  {
    check: "LIFECYCLE-SCENARIO",
    how: "OpenSSL with a CRL that is never regenerated (the revoked card keeps authenticating)",
    ...openssl({ crl: { regenerate: "never" } }), // the PROP-CRL case's CA: the catalogue runs once for both
    alsoFails: ["PROP-CRL"], // the lifecycle catches a defect of the CRL publisher, which that check names
    skips: NO_CRL_ENTRY,
  },
];

/** One whole-catalogue run: every check's verdict, and its message for the failure report. */
interface Verdicts {
  outcome: Record<string, Outcome>;
  message: Record<string, string>;
}

/**
 * Whole catalogues in flight at once. A run alone mostly waits (on openssl and
 * cfssl processes, propagation polls, the 1.1 s between two revocations of the
 * CRL-date check), so several overlap well; past about six the test's one
 * thread (spawning openssl, parsing DER) is the limit, not the machine.
 */
const AT_ONCE = 6;
let running = 0;
const waiting: Array<() => void> = [];
async function slot<T>(job: () => Promise<T>): Promise<T> {
  while (running >= AT_ONCE) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    return await job();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

/** Runs keyed by CA configuration and options: each baseline runs once, shared by every case on its base. */
const runs = new Map<string, Promise<Verdicts>>();
function verdicts(o: Opener, extra?: Partial<CertifyOptions>): Promise<Verdicts> {
  const options = { ...RUN_OPTIONS, ...extra };
  const key = o.key === undefined ? undefined : `${o.key} ${JSON.stringify(options)}`;
  const known = key === undefined ? undefined : runs.get(key);
  if (known) return known;
  const run = slot(async () => {
    const ca = await o.open();
    try {
      const { results } = await runCatalog(ca, { bus: new EventBus(clock), clock, options, policy: POLICY });
      return {
        outcome: Object.fromEntries(results.map((r) => [r.id, r.outcome])),
        message: Object.fromEntries(results.map((r) => [r.id, r.message])),
      };
    } finally {
      await ca.close();
    }
  });
  if (key !== undefined) runs.set(key, run);
  return run;
}

for (const c of CASES) {
  // Not serial: the runs overlap, bounded by slot(); each test waits for its two.
  test(`${c.check} fails for ${c.how}`, async (t) => {
    const [before, after] = await Promise.all([verdicts(BASELINES[c.base], c.options), verdicts(c, c.options)]);
    const fails = [c.check, ...(c.alsoFails ?? [])];
    const skips = c.skips ?? [];
    // a defect is shown caught only where the correctly configured CA passes
    for (const id of [...fails, ...skips]) t.is(before.outcome[id], "pass", `the ${c.base} baseline does not pass ${id}: ${before.message[id]}`);
    const expected = Object.fromEntries(
      Object.entries(before.outcome).map(([id, o]) => [id, fails.includes(id) ? "fail" : skips.includes(id) ? "skip" : o]),
    );
    const changed = Object.keys(after.outcome)
      .filter((id) => after.outcome[id] !== expected[id])
      .map((id) => `${id}: expected ${expected[id]}, got ${after.outcome[id]}: ${after.message[id]}`);
    t.deepEqual(after.outcome, expected, changed.join("\n"));
  });
}

test("every check of the catalogue has a case that makes it fail", (t) => {
  const covered = new Set(CASES.map((c) => c.check));
  t.deepEqual(CATALOG.map((c) => c.id).filter((id) => !covered.has(id)), []);
  // and every fault the wrapper can inject is shown to be caught
  t.deepEqual(FAULTS.filter((f) => !CASES.some((c) => c.fault === f)), []);
  // and every check a case names exists (a misspelt ID would make the expectation vacuous)
  const named = CASES.flatMap((c) => [c.check, ...(c.alsoFails ?? []), ...(c.skips ?? [])]);
  t.deepEqual(named.filter((id) => !CATALOG.some((x) => x.id === id)), []);
});
