/**
 * Pathological inputs for the validator (issue 12): each must be decided in under
 * 200 ms. Three cases, all built with pki's production builders:
 *  - names: a CA with 2,048 permitted dNSName subtrees, a leaf with 2,048 dNSName SANs
 *    (each inside exactly one subtree, in the reverse order, so a linear scan is at
 *    its worst);
 *  - policies: 7 CAs, each asserting 10 policies and anyPolicy with every policy mapped
 *    to every other (90 mappings), a leaf with the 10 policies, {P1} required explicitly:
 *    the valid_policy_tree of RFC 5280 6.1 would hold 10 x 9^6 (about 5.3 million) nodes
 *    at the last CA, the policy graph of RFC 9618 holds 10 per level;
 *  - path building: 1,000 intermediates with the subject name of the leaf's issuer, each
 *    with a key of its own, only one the right key, placed last; once with honest key
 *    identifiers (each decoy its own SKI) and once adversarial (every decoy claims the
 *    right CA's SKI, so the leaf's signature is checked under all 1,000 keys: decoys
 *    sharing keys would let the signature cache answer most of them instead).
 * Figures per case: cold = a new Validator per run (every certificate parsed and every
 * signature checked), and "known chain" = a new leaf under a validator that has seen the
 * rest; medians (and the max) of RUNS runs after a warm-up, with the verdict. Peer, same
 * input: `openssl verify` (one process; its start-up measured on a 2-certificate chain is
 * printed beside it), median of 3 runs, with its verdict. Each case also records the
 * signatures a cold run verified (Validator.stats()); a case that needs a floor of them to
 * be what it says (the adversarial pool) fails the run below it. Writes
 * bench/results/validate-pathological.json.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { generateEcKeyPair } from "../core/index.js";
import { KU, OID, Validator, buildCertificate, encodeName, encodePem, ext, keyIdentifier, softwareSigningKey, type ValidateOptions, type SigningKey } from "../pki/index.js";

const DAY = 86_400_000;
const NOW = Date.UTC(2031, 0, 15);
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const GOAL_MS = 200;

const newKey = () => softwareSigningKey(generateEcKeyPair("P-256").privateKey);
const name = (cn: string) => encodeName([[OID.country, "XX"], [OID.organization, "bench pathological"], [OID.commonName, cn]]);

interface Node {
  name: Uint8Array;
  key: SigningKey;
  ski: Uint8Array;
}

let serial = 1;
function ca(subject: Uint8Array, key: SigningKey, issuer: Node | undefined, more: Uint8Array[] = [], ski = keyIdentifier(key.spki)): { der: Uint8Array; node: Node } {
  const up = issuer ?? { name: subject, key, ski };
  const extensions = [ext.basicConstraints(true), ext.keyUsage([KU.keyCertSign, KU.cRLSign]), ext.subjectKeyIdentifier(ski)];
  if (issuer) extensions.push(ext.authorityKeyIdentifier(issuer.ski));
  const s = serial++;
  const der = buildCertificate(
    { serial: Uint8Array.of(s >> 16, (s >> 8) & 255, s & 255), issuer: up.name, subject, notBefore: NOW - 900 * DAY, notAfter: NOW + 900 * DAY, spki: key.spki, extensions: [...extensions, ...more] },
    up.key,
  );
  return { der, node: { name: subject, key, ski } };
}

function leaf(issuer: Node, more: Uint8Array[]): Uint8Array {
  const key = newKey();
  return buildCertificate(
    {
      serial: Uint8Array.of(0x7e, 1),
      issuer: issuer.name,
      subject: name("Holder"),
      notBefore: NOW - 100 * DAY,
      notAfter: NOW + 100 * DAY,
      spki: key.spki,
      extensions: [ext.keyUsage([KU.digitalSignature]), ext.subjectKeyIdentifier(keyIdentifier(key.spki)), ext.authorityKeyIdentifier(issuer.ski), ...more],
    },
    issuer.key,
  );
}

interface Case {
  id: string;
  description: string;
  root: Uint8Array;
  intermediates: Uint8Array[];
  leaf: Uint8Array;
  options: Partial<ValidateOptions>;
  opensslArgs: string[];
  /** Signatures a cold run must verify for the case to measure what it says (undefined: no floor). */
  minSignatureVerifications?: number;
}

function namesCase(): Case {
  const r = ca(name("Root"), newKey(), undefined);
  const n = 2048;
  const subtrees = Array.from({ length: n }, (_, i) => `d${i}.example.com`);
  const c = ca(name("Constrained CA"), newKey(), r.node, [ext.nameConstraints({ permitted: { dNSName: subtrees } })]);
  const sans = Array.from({ length: n }, (_, i) => ({ dNSName: `h.d${n - 1 - i}.example.com` }));
  return {
    id: "names-2048x2048",
    description: "2,048 permitted dNSName subtrees in the CA x 2,048 dNSName SANs in the leaf (all permitted)",
    root: r.der,
    intermediates: [c.der],
    leaf: leaf(c.node, [ext.subjectAltName(sans)]),
    options: {},
    opensslArgs: [],
  };
}

function policiesCase(): Case {
  const k = 10;
  const depth = 7;
  const policies = Array.from({ length: k }, (_, i) => `1.3.6.1.4.1.55555.1.${i + 1}`);
  const mappings = policies.flatMap((a) => policies.filter((b) => b !== a).map((b): [string, string] => [a, b]));
  let up = ca(name("Root"), newKey(), undefined);
  const root = up.der;
  const intermediates: Uint8Array[] = [];
  for (let i = 0; i < depth; i++) {
    up = ca(name(`Policy CA ${i + 1}`), newKey(), up.node, [ext.certificatePolicies([...policies, OID.anyPolicy]), ext.policyMappings(mappings)]);
    intermediates.push(up.der);
  }
  return {
    id: "policies-7x10-all-mapped",
    description: `${depth} CAs, each with ${k} policies and anyPolicy, every policy mapped to every other (${mappings.length} mappings); leaf with the ${k} policies; {P1} required explicitly`,
    root,
    intermediates,
    leaf: leaf(up.node, [ext.certificatePolicies(policies)]),
    options: { initialPolicySet: [policies[0]], initialExplicitPolicy: true },
    opensslArgs: ["-policy_check", "-policy", policies[0], "-explicit_policy"],
  };
}

function poolCase(adversarial: boolean): Case {
  const r = ca(name("Root"), newKey(), undefined);
  const right = ca(name("Issuing CA"), newKey(), r.node);
  const decoys = Array.from({ length: 999 }, () => ca(name("Issuing CA"), newKey(), r.node, [], adversarial ? right.node.ski : undefined).der);
  return {
    id: adversarial ? "pool-1000-same-ski" : "pool-1000",
    description: adversarial
      ? "1,000 intermediates named as the leaf's issuer, every decoy claiming the right CA's subjectKeyIdentifier; the right one last"
      : "1,000 intermediates named as the leaf's issuer, each with its own key and subjectKeyIdentifier; the right one last",
    root: r.der,
    intermediates: [...decoys, right.der],
    leaf: leaf(right.node, []),
    options: {},
    opensslArgs: [],
    // The leaf under each of the 1,000 keys, the right CA under the root's.
    ...(adversarial ? { minSignatureVerifications: 1000 } : {}),
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x: number) => Math.round(x * 100) / 100;

function verdictOf(r: ReturnType<Validator["validate"]>): string {
  return r.valid ? "valid" : `${r.code} at ${r.position} (${r.detail.slice(0, 120)})`;
}

/** Cold (a new Validator per run) and known-chain (a new leaf under a validator that has seen the rest) timings. */
function measure(c: Case) {
  const opts = (): ValidateOptions => ({ anchors: [c.root.slice()], intermediates: c.intermediates.map((d) => d.slice()), time: NOW, ...c.options });
  let verdict = "";
  let signatureVerifications = 0;
  const cold: number[] = [];
  for (let i = 0; i < RUNS + 2; i++) {
    const o = opts();
    const leafBytes = c.leaf.slice();
    const cv = new Validator();
    const t = performance.now();
    const r = cv.validate(leafBytes, o);
    const ms = performance.now() - t;
    verdict = verdictOf(r);
    signatureVerifications = cv.stats().signatureVerifications;
    if (i >= 2) cold.push(ms); // the first two warm the JIT
  }
  const v = new Validator();
  const o = opts();
  v.validate(c.leaf.slice(), o);
  const known: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const leafBytes = c.leaf.slice();
    const t = performance.now();
    v.validate(leafBytes, o);
    known.push(performance.now() - t);
  }
  return { verdict, signatureVerifications, coldMedianMs: round(median(cold)), coldMaxMs: round(Math.max(...cold)), knownChainMedianMs: round(median(known)) };
}

function openssl(dir: string, c: Case) {
  const base = join(dir, c.id);
  writeFileSync(`${base}-root.pem`, encodePem(c.root, "CERTIFICATE"));
  writeFileSync(`${base}-leaf.pem`, encodePem(c.leaf, "CERTIFICATE"));
  const args = ["verify", "-x509_strict", "-no-CApath", "-no-CAstore", "-attime", String(NOW / 1000), "-CAfile", `${base}-root.pem`, ...c.opensslArgs];
  if (c.intermediates.length) {
    writeFileSync(`${base}-inter.pem`, c.intermediates.map((d) => encodePem(d, "CERTIFICATE")).join(""));
    args.push("-untrusted", `${base}-inter.pem`);
  }
  args.push(`${base}-leaf.pem`);
  const times: number[] = [];
  let verdict = "";
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    const r = spawnSync("openssl", args, { encoding: "utf8" });
    times.push(performance.now() - t);
    const err = /error (\d+) at (\d+) depth lookup: (.*)/.exec(r.stderr + r.stdout);
    verdict = r.status === 0 ? "valid" : err ? `error ${err[1]} at ${err[2]}: ${err[3]}` : `exit ${r.status}: ${(r.stderr || r.stdout).trim().split("\n").slice(0, 3).join(" / ")}`;
  }
  return { medianMs: round(median(times)), verdict };
}

const dir = mkdtempSync(join(tmpdir(), "cardloop-bench-patho-"));
try {
  const t0 = performance.now();
  const cases = [namesCase(), policiesCase(), poolCase(false), poolCase(true)];
  const setupMs = Math.round(performance.now() - t0);
  const small = poolCase(false);
  const startup = openssl(dir, { ...small, id: "startup", intermediates: [small.intermediates.at(-1)!] });
  const rows = cases.map((c) => {
    const mine = measure(c);
    const peer = openssl(dir, c);
    const beyondStart = peer.medianMs - startup.medianMs;
    // A ratio only where openssl takes the input: it reaches the same verdict.
    const tookIt = (mine.verdict === "valid") === (peer.verdict === "valid");
    return {
      id: c.id,
      description: c.description,
      cardloop: mine,
      openssl: peer,
      /** openssl's time beyond its own start-up over cardloop's cold time (> 1: cardloop decides faster). */
      opensslOverCardloopCold: tookIt && beyondStart >= 1 ? round(beyondStart / mine.coldMedianMs) : null,
      /** RFC 5280 gives every case a valid path: another verdict fails the run. */
      valid: mine.verdict === "valid",
      minSignatureVerifications: c.minSignatureVerifications ?? null,
      measuresWhatItSays: mine.signatureVerifications >= (c.minSignatureVerifications ?? 0),
      goalMet: mine.coldMaxMs < GOAL_MS,
    };
  });
  const result = {
    bench: "validate-pathological",
    description: "pathological inputs (issue 12): names 2,048 x 2,048, an exploding policy graph, 1,000-certificate candidate pools; goal: each decided in < 200 ms",
    node: process.version,
    cpu: cpus()[0]?.model,
    runs: RUNS,
    setupMs,
    goalMs: GOAL_MS,
    method:
      "cold = new Validator per run (parse + every signature), known chain = new leaf bytes under a validator that has seen the rest; " +
      "medians of RUNS runs after 2 warm-up runs (wall clock, a shared machine). openssl verify -x509_strict: one process per run, median of 3, " +
      "its start-up measured on a 2-certificate chain (opensslStartupMs)",
    opensslStartupMs: startup.medianMs,
    cases: rows,
  };
  mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
  writeFileSync(new URL("./results/validate-pathological.json", import.meta.url), JSON.stringify(result, null, 2) + "\n");
  console.log(`validate-pathological: goal < ${GOAL_MS} ms each (cold = new Validator, median of ${RUNS}; openssl start-up ~${startup.medianMs} ms)`);
  for (const row of rows) {
    const m = row.cardloop;
    console.log(
      `  ${row.id.padEnd(26)} cardloop cold ${m.coldMedianMs} ms (max ${m.coldMaxMs}, ${m.signatureVerifications} signatures verified), known chain ${m.knownChainMedianMs} ms: ${m.verdict}` +
        `${row.measuresWhatItSays ? "" : ` (CASE BROKEN: fewer than ${row.minSignatureVerifications} signatures verified)`}` +
        `${row.valid ? "" : " (WRONG VERDICT: RFC 5280 gives a valid path)"}  ${row.goalMet ? "goal met" : "GOAL NOT MET"}\n` +
        `  ${"".padEnd(26)} openssl ${row.openssl.medianMs} ms: ${row.openssl.verdict}` +
        (row.opensslOverCardloopCold === null ? "  (no ratio: a different verdict)" : `  (openssl beyond start-up / cardloop cold = ${row.opensslOverCardloopCold}x)`),
    );
  }
  const broken = rows.filter((r) => !r.measuresWhatItSays).map((r) => r.id);
  if (broken.length) {
    console.error(`validate-pathological: ${broken.join(", ")} verified fewer signatures than the case needs: not measuring what it says`);
    process.exitCode = 1;
  }
  const wrong = rows.filter((r) => !r.valid).map((r) => `${r.id} (${r.cardloop.verdict})`);
  if (wrong.length) {
    console.error(`validate-pathological: ${wrong.join(", ")}: not valid, though RFC 5280 gives each case a valid path`);
    process.exitCode = 1;
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
