/**
 * Validations per second of a 3-certificate ECDSA P-256 chain (root -> CA -> leaf)
 * with a 10,000-entry CRL from the CA (plus the root's CRL), cold (a new leaf each
 * time, each with its own key: parse + one signature + CRL lookup) and warm (the same leaf again), beside
 * two peers measured in the same run: raw crypto.verify of one P-256 signature (the
 * floor: a new leaf costs at least one verify) and pkijs's
 * CertificateChainValidationEngine on the same inputs. Then the cold and raw
 * figures again across 2 worker threads (one per core), with per-core figures.
 * One more line (issue 12): cold validation of a chain with name constraints and
 * policies (root -> CA with nameConstraints, certificatePolicies, policyConstraints
 * and inhibitAnyPolicy -> leaf with dNSName, rfc822Name and iPAddress SANs and a
 * policy, the same 10,000-entry CRL size), an explicit policy required, measured in
 * the same alternating slices as raw verify and the plain chain.
 * Writes bench/results/validate.json.
 */
import "reflect-metadata";
import { verify as cryptoVerify, createPublicKey, webcrypto } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { generateEcKeyPair } from "../core/index.js";
import { KU, OID, type ValidateOptions, Validator, buildCertificate, buildCrl as buildCrlDer, encodeName, ext, keyIdentifier, softwareSigningKey } from "../pki/index.js";
import { buildCert, buildCrl, twoLevelPki } from "../pki/testing/builder.js";

const DAY = 86_400_000;
const NOW = Date.UTC(2031, 0, 15);
const LEAVES = 3000;
const PHASE_MS = Number(process.env.BENCH_PHASE_MS ?? 2000);

/** One chain: anchor, CA, their CRLs and LEAVES distinct leaves under the CA. */
interface ChainInputs {
  root: Uint8Array;
  ca: Uint8Array;
  crl: Uint8Array;
  rootCrl: Uint8Array;
  leaves: Uint8Array[];
}

interface Inputs extends ChainInputs {
  /** One signature for the raw-verify peer: the first leaf's. */
  raw: { spki: Uint8Array; tbs: Uint8Array; sig: Uint8Array };
  /** The chain with name constraints and policies (built with pki's production builders). */
  nc: ChainInputs;
}

const POLICY = "2.16.840.1.101.3.2.1.48.1";

/** Root -> CA (name constraints, policies, requireExplicitPolicy 0, inhibitAnyPolicy 0) -> leaves with SANs and a policy. */
function makeNcInputs(): Inputs["nc"] {
  const key = () => softwareSigningKey(generateEcKeyPair("P-256").privateKey);
  const rootKey = key();
  const caKey = key();
  const rootName = encodeName([[OID.country, "XX"], [OID.organization, "bench nc"], [OID.commonName, "Root"]]);
  const caName = encodeName([[OID.country, "XX"], [OID.organization, "bench nc"], [OID.commonName, "Issuing CA"]]);
  const caKu = ext.keyUsage([KU.keyCertSign, KU.cRLSign]);
  const root = buildCertificate(
    { serial: Uint8Array.of(1), issuer: rootName, subject: rootName, notBefore: NOW - 900 * DAY, notAfter: NOW + 900 * DAY, spki: rootKey.spki, extensions: [ext.basicConstraints(true), caKu, ext.subjectKeyIdentifier(keyIdentifier(rootKey.spki))] },
    rootKey,
  );
  const caExtensions = [
    ext.basicConstraints(true, 0),
    caKu,
    ext.subjectKeyIdentifier(keyIdentifier(caKey.spki)),
    ext.authorityKeyIdentifier(keyIdentifier(rootKey.spki)),
    ext.nameConstraints({
      permitted: {
        dNSName: ["example.com"],
        rfc822Name: [".example.com"],
        directoryName: [[[OID.country, "XX"], [OID.organization, "bench nc"]]],
        iPAddress: [{ address: Uint8Array.of(10, 0, 0, 0), mask: Uint8Array.of(255, 0, 0, 0) }],
      },
      excluded: { dNSName: ["blocked.example.com"] },
    }),
    ext.certificatePolicies([POLICY, "2.16.840.1.101.3.2.1.48.2"]),
    ext.policyConstraints({ requireExplicitPolicy: 0 }),
    ext.inhibitAnyPolicy(0),
  ];
  const ca = buildCertificate({ serial: Uint8Array.of(2), issuer: rootName, subject: caName, notBefore: NOW - 800 * DAY, notAfter: NOW + 800 * DAY, spki: caKey.spki, extensions: caExtensions }, rootKey);
  const entries = Array.from({ length: 10_000 }, (_, i): [string, number, number] => [(0x10_0000_0000 + i * 7919).toString(16), NOW - (i % 300) * DAY, 1]);
  const crl = buildCrlDer({ issuerName: caName, issuerKeyId: keyIdentifier(caKey.spki), signer: caKey, crlNumber: 1n, thisUpdate: NOW - DAY, nextUpdate: NOW + 6 * DAY, entries });
  const rootCrl = buildCrlDer({ issuerName: rootName, issuerKeyId: keyIdentifier(rootKey.spki), signer: rootKey, crlNumber: 1n, thisUpdate: NOW - DAY, nextUpdate: NOW + 30 * DAY, entries: [] });
  const caKeyId = keyIdentifier(caKey.spki);
  const leaves = Array.from({ length: LEAVES }, (_, i) => {
    const spki = new Uint8Array(generateEcKeyPair("P-256").publicKey.export({ format: "der", type: "spki" }));
    const extensions = [
      ext.keyUsage([KU.digitalSignature]),
      ext.subjectKeyIdentifier(keyIdentifier(spki)),
      ext.authorityKeyIdentifier(caKeyId),
      ext.subjectAltName([{ dNSName: `host${i}.example.com` }, { rfc822Name: `user${i}@mail.example.com` }, { iPAddress: Uint8Array.of(10, (i >> 8) & 255, i & 255, 1) }]),
      ext.certificatePolicies([POLICY]),
    ];
    const subject = encodeName([[OID.country, "XX"], [OID.organization, "bench nc"], [OID.commonName, `Holder ${i}`]]);
    return buildCertificate({ serial: Uint8Array.of(0x60, i >> 8, i & 255), issuer: caName, subject, notBefore: NOW - 100 * DAY, notAfter: NOW + 100 * DAY, spki, extensions }, caKey);
  });
  return { root, ca, crl, rootCrl, leaves };
}

function makeInputs(): Inputs {
  const { caKey, caName, root, ca, rootCrl, leafSpec } = twoLevelPki("bench", NOW);
  const entries = Array.from({ length: 10_000 }, (_, i) => ({ serial: 0x10_0000_0000 + i * 7919, date: NOW - (i % 300) * DAY, reason: 1 }));
  const crl = buildCrl({ issuer: caName, issuerKey: caKey, thisUpdate: NOW - DAY, nextUpdate: NOW + 6 * DAY, entries });
  const leaves = Array.from({ length: LEAVES }, (_, i) => buildCert(leafSpec(0x5000_0000 + i)));
  // The raw peer verifies the first leaf's signature (same key, same size of data).
  const v = new Validator();
  const c = v.certificate(leaves[0]);
  return { root, ca, crl, rootCrl, leaves, raw: { spki: caKey.spki, tbs: c.tbs.slice(), sig: c.signature.slice() }, nc: makeNcInputs() };
}

/** A rate two ways: by wall clock, and by this process's CPU time (robust when other jobs share the cores). */
interface Rate {
  wall: number;
  cpu: number;
  ops: number;
}

/** Runs `step` for about `ms` milliseconds after a warm-up. */
function rate(ms: number, step: (i: number) => void): Rate {
  for (let i = 0; i < 200; i++) step(i); // warm-up (JIT, caches)
  let n = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let k = 0; k < 100; k++) step(n++);
    t = performance.now();
  }
  const c = process.cpuUsage(c0);
  return { wall: (n / (t - t0)) * 1000, cpu: (n / (c.user + c.system)) * 1e6, ops: n };
}

async function rateAsync(ms: number, step: (i: number) => Promise<void>): Promise<Rate> {
  for (let i = 0; i < 3; i++) await step(i);
  let n = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  while (performance.now() - t0 < ms) await step(n++);
  const c = process.cpuUsage(c0);
  return { wall: (n / (performance.now() - t0)) * 1000, cpu: (n / (c.user + c.system)) * 1e6, ops: n };
}

/** A raw-verify measurer that can be called for several slices. */
function rawLoop(inp: Inputs): (ms: number) => Rate {
  const key = createPublicKey({ key: Buffer.from(inp.raw.spki), format: "der", type: "spki" });
  return (ms) =>
    rate(ms, () => {
      if (!cryptoVerify("sha256", inp.raw.tbs, key, inp.raw.sig)) throw new Error("raw verify failed");
    });
}

/** A validator and the options for one chain's inputs (the plain chain, or the NC and policies one). */
function validatorFor(c: ChainInputs, extra: Partial<ValidateOptions> = {}) {
  const v = new Validator();
  const opts = { anchors: [c.root], intermediates: [c.ca], crls: [c.crl, c.rootCrl], time: NOW, usage: "authentication" as const, ...extra };
  return { v, opts };
}

/** The NC and policies chain needs an explicit policy: its leaves carry one. */
const NC_OPTIONS: Partial<ValidateOptions> = { initialPolicySet: [POLICY], initialExplicitPolicy: true };

/**
 * Cold: every call gets a leaf byte array the validator has never seen (fresh copies
 * cycling through 3000 distinct leaves with distinct keys), so it parses the leaf and
 * verifies its signature; the CA, anchor and CRLs are the caller's same arrays (cached).
 */
function coldLoop(c: ChainInputs, extra: Partial<ValidateOptions> = {}): (ms: number) => Rate {
  const { v, opts } = validatorFor(c, extra);
  let k = 0;
  return (ms) =>
    rate(ms, () => {
      const r = v.validate(c.leaves[k++ % LEAVES].slice(), opts);
      if (!r.valid) throw new Error(`cold validation failed: ${r.code} ${r.detail}`);
    });
}

function measureWarm(inp: Inputs, ms: number): Rate {
  const { v, opts } = validatorFor(inp);
  const leaf = inp.leaves[0];
  return rate(ms, () => {
    const r = v.validate(leaf, opts);
    if (!r.valid) throw new Error(`warm validation failed: ${r.code}`);
  });
}

async function measurePkijs(inp: Inputs, ms: number): Promise<{ rate: Rate; verdict: string }> {
  pkijs.setEngine("node", new pkijs.CryptoEngine({ name: "node", crypto: webcrypto as unknown as ConstructorParameters<typeof pkijs.CryptoEngine>[0]["crypto"] }));
  const ab = (u: Uint8Array) => u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;
  // Anchors, the CA and the CRLs are parsed once, as the validator's caches do; each leaf is parsed in the loop.
  const root = pkijs.Certificate.fromBER(ab(inp.root));
  const ca = pkijs.Certificate.fromBER(ab(inp.ca));
  // asn1js refuses more than 10,000 nodes by default; a 10,000-entry CRL needs the limit raised.
  const bigCrl = (u: Uint8Array) => new pkijs.CertificateRevocationList({ schema: asn1js.fromBER(ab(u), { maxNodes: 1_000_000 }).result });
  const crls = [bigCrl(inp.crl), bigCrl(inp.rootCrl)];
  let verdict = "";
  const r = await rateAsync(ms, async (i) => {
    const leaf = pkijs.Certificate.fromBER(ab(inp.leaves[i % LEAVES]));
    const engine = new pkijs.CertificateChainValidationEngine({ trustedCerts: [root], certs: [leaf, ca], crls, checkDate: new Date(NOW) });
    const res = await engine.verify();
    verdict = res.result ? "valid" : `invalid: ${res.resultMessage}`;
  });
  return { rate: r, verdict };
}

interface WorkerJob {
  inp: Inputs;
  ms: number;
  rounds: number;
}
interface Alternating {
  raw: Rate[];
  cold: Rate[];
  /** The chain with name constraints and policies (main thread only). */
  coldNc: Rate[];
}

/** Raw verify and cold validation (and, when asked, the NC chain) in alternating slices, so that load changes hit all alike. */
function alternate(inp: Inputs, ms: number, rounds: number, withNc = false): Alternating {
  const rawRunner = rawLoop(inp);
  const coldRunner = coldLoop(inp);
  const ncRunner = withNc ? coldLoop(inp.nc, NC_OPTIONS) : undefined;
  const out: Alternating = { raw: [], cold: [], coldNc: [] };
  for (let i = 0; i < rounds; i++) {
    out.raw.push(rawRunner(ms / rounds));
    out.cold.push(coldRunner(ms / rounds));
    if (ncRunner) out.coldNc.push(ncRunner(ms / rounds));
  }
  return out;
}

/** The same alternating job in `threads` workers at once. */
async function inWorkers(inp: Inputs, threads: number, ms: number, rounds: number): Promise<Alternating[]> {
  return Promise.all(
    Array.from(
      { length: threads },
      () =>
        new Promise<Alternating>((resolve, reject) => {
          // Workers do not inherit tsx's loader hooks on Node 20: register them, then load this file.
          const boot = `import("tsx/esm/api").then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); })`;
          const w = new Worker(boot, { eval: true, workerData: { inp, ms, rounds } satisfies WorkerJob });
          w.once("message", (m: Alternating) => resolve(m));
          w.once("error", reject);
        }),
    ),
  );
}

if (!isMainThread) {
  const job = workerData as WorkerJob;
  parentPort!.postMessage(alternate(job.inp, job.ms, job.rounds));
} else {
  const t0 = performance.now();
  const inp = makeInputs();
  const setupMs = performance.now() - t0;
  const check = validatorFor(inp);
  const first = check.v.validate(inp.leaves[1], check.opts);
  if (!first.valid) throw new Error(`bench chain does not validate: ${first.code}`);
  const ncCheck = validatorFor(inp.nc, NC_OPTIONS);
  const ncFirst = ncCheck.v.validate(inp.nc.leaves[1], ncCheck.opts);
  if (!ncFirst.valid) throw new Error(`bench NC chain does not validate: ${ncFirst.code} ${ncFirst.detail}`);

  // Raw and cold alternate in short slices so that changes in machine load hit both alike.
  const ROUNDS = 8;
  const { raw: rawRates, cold: coldRates, coldNc: coldNcRates } = alternate(inp, PHASE_MS, ROUNDS, true);
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const raw = { wall: median(rawRates.map((x) => x.wall)), cpu: median(rawRates.map((x) => x.cpu)) };
  const cold = { wall: median(coldRates.map((x) => x.wall)), cpu: median(coldRates.map((x) => x.cpu)) };
  const coldNc = { wall: median(coldNcRates.map((x) => x.wall)), cpu: median(coldNcRates.map((x) => x.cpu)) };
  const warm = measureWarm(inp, PHASE_MS / 2);
  const pk = await measurePkijs(inp, PHASE_MS);
  const threads = Math.min(2, availableParallelism());
  const workers = await inWorkers(inp, threads, PHASE_MS, ROUNDS);
  const rawW = workers.map((w) => median(w.raw.map((x) => x.wall)));
  const coldW = workers.map((w) => median(w.cold.map((x) => x.wall)));
  const sum = (a: number[]) => a.reduce((n, x) => n + x, 0);

  const r = (x: number) => Math.round(x);
  const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
  const result = {
    bench: "validate",
    description:
      "3-cert ECDSA P-256 chain, 10,000-entry CA CRL + root CRL, usage authentication; cold = new leaf (own key) per call; " +
      "coldNameConstraintsPolicies: the same shape with a CA carrying name constraints (4 forms) and policies, leaves with 3 SANs and a policy, explicit policy required",
    node: process.version,
    cpu: cpus()[0]?.model,
    setupMs: r(setupMs),
    phaseMs: PHASE_MS,
    method:
      "per second of CPU time (process.cpuUsage) and of wall clock; raw and cold alternate in 8 slices each, medians. " +
      "The machine is shared with other jobs, so wall-clock figures vary with their load; CPU-time figures are the per-core cost.",
    perCore: {
      rawVerifyPerSec: r(raw.cpu),
      coldPerSec: r(cold.cpu),
      coldNameConstraintsPoliciesPerSec: r(coldNc.cpu),
      warmPerSec: r(warm.cpu),
      pkijsPerSec: Math.round(pk.rate.cpu * 10) / 10,
    },
    wallClock: {
      rawVerifyPerSec: r(raw.wall),
      coldPerSec: r(cold.wall),
      coldNameConstraintsPoliciesPerSec: r(coldNc.wall),
      warmPerSec: r(warm.wall),
      pkijsPerSec: Math.round(pk.rate.wall * 10) / 10,
      rawVerifySlices: rawRates.map((x) => r(x.wall)),
      coldSlices: coldRates.map((x) => r(x.wall)),
      coldNameConstraintsPoliciesSlices: coldNcRates.map((x) => r(x.wall)),
    },
    pkijsVerdict: pk.verdict,
    ratios: {
      coldVsRawVerify: ratio(cold.cpu, raw.cpu),
      coldNameConstraintsPoliciesVsRawVerify: ratio(coldNc.cpu, raw.cpu),
      coldNameConstraintsPoliciesVsCold: ratio(coldNc.cpu, cold.cpu),
      coldVsPkijs: ratio(cold.cpu, pk.rate.cpu),
      warmVsPkijs: ratio(warm.cpu, pk.rate.cpu),
      wallClockColdVsRawVerify: ratio(cold.wall, raw.wall),
      wallClockColdVsPkijs: ratio(cold.wall, pk.rate.wall),
    },
    targets: { coldVsRawVerify: 0.8, coldVsPkijs: 10 },
    workers: {
      threads,
      method: "each worker alternates raw and cold slices (8 each); medians by wall clock",
      rawVerifyPerSec: r(sum(rawW)),
      coldPerSec: r(sum(coldW)),
      rawVerifyPerWorker: rawW.map(r),
      coldPerWorker: coldW.map(r),
      coldVsRawVerify: ratio(sum(coldW), sum(rawW)),
      scalingColdVsOneThreadWall: ratio(sum(coldW), cold.wall),
      note: "workers scale only as far as the 2 cores are otherwise idle (the machine is shared)",
    },
  };
  mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
  writeFileSync(new URL("./results/validate.json", import.meta.url), JSON.stringify(result, null, 2) + "\n");
  const pc = result.perCore;
  console.log(
    [
      `validate: 3-cert P-256 chain, 10k-entry CRL (per core = per second of CPU time; wall clock in brackets)`,
      `  raw crypto.verify   ${pc.rawVerifyPerSec}/s [${r(raw.wall)}/s]`,
      `  cold (new leaf)     ${pc.coldPerSec}/s [${r(cold.wall)}/s]  = ${result.ratios.coldVsRawVerify}x raw verify (target >= 0.8)`,
      `  cold, NC + policies ${pc.coldNameConstraintsPoliciesPerSec}/s [${r(coldNc.wall)}/s]  = ${result.ratios.coldNameConstraintsPoliciesVsRawVerify}x raw verify, ` +
        `${result.ratios.coldNameConstraintsPoliciesVsCold}x the plain chain (CA with name constraints and policies, leaf with 3 SANs, explicit policy)`,
      `  warm (same leaf)    ${pc.warmPerSec}/s [${r(warm.wall)}/s]`,
      `  pkijs engine        ${pc.pkijsPerSec}/s [${result.wallClock.pkijsPerSec}/s] (${pk.verdict})`,
      `  cold vs pkijs       ${result.ratios.coldVsPkijs}x (target >= 10); warm vs pkijs ${result.ratios.warmVsPkijs}x`,
      `  ${threads} worker threads (wall): raw ${result.workers.rawVerifyPerSec}/s (${result.workers.rawVerifyPerWorker.join(" + ")}), ` +
        `cold ${result.workers.coldPerSec}/s (${result.workers.coldPerWorker.join(" + ")}) = ${result.workers.coldVsRawVerify}x raw`,
    ].join("\n"),
  );
}
