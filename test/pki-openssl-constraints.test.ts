import test from "ava";
import fc from "fast-check";
import { randomInt } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir, type Owner } from "../harness/processes.js";
import { OID, Validator, encodePem, type ValidationResult } from "../pki/index.js";
import { type CaSpec, type Hierarchy, type HierarchySpec, HierarchyKeys, UNIVERSE, buildHierarchy, hierarchySpec } from "../pki/testing/hierarchies.js";
import { opensslInstalled, runOpenssl } from "./support/pki-tools.js";

/**
 * Differential: generated hierarchies with random name constraints, policies,
 * mappings, policy constraints and inhibitAnyPolicy (pki/testing/hierarchies.ts),
 * judged by the validator (strict profile, revocation off, the generated initial
 * policy inputs) and by `openssl verify -x509_strict -policy_check` with the same
 * inputs (-policy, anyPolicy when the inputs give no set, as RFC 5280 6.1.1 (c)
 * defaults it; -explicit_policy, -inhibit_map, -inhibit_any: only those the inputs set). They must agree on valid/invalid, and on the kind of fault (name or
 * policy, and for names the position); where both accept a path with a policy set
 * given, on the user-constrained policy set too.
 *
 * A disagreement is excused only by a class of EXCLUSIONS below: a documented place
 * where OpenSSL departs from RFC 5280, proven case by case by a counterfactual run
 * (the same chain without the one trait, or openssl with the one option that undoes
 * its departure, must then agree). Each class's count is logged.
 *
 * `openssl verify` judges one chain per process here (each chain has its own inputs),
 * so chains run in a bounded pool of child processes, each in a process group the test
 * owns with a deadline (test/support/pki-tools.ts): none outlives the test. The seed is random per run and
 * logged (PKI_DIFF_SEED=n replays it); PKI_DIFF_CHAINS sets the number of chains. Problems are
 * collected and logged with their specs (readable data), not thrown from the property.
 */

const CHAINS = Number(process.env.PKI_DIFF_CHAINS ?? 500);
const BATCH = 50;
const CONCURRENCY = 4;

interface OpensslVerdict {
  ok: boolean;
  /** X509_V_ERR_* number and the depth it was reported at (0 = leaf), when not ok. */
  error?: number;
  depth?: number;
  /** The "User Policies" openssl printed (OIDs; [] for "<empty>"), when it printed them. */
  userPolicies?: string[];
  output: string;
}

const X509_V_ERR = { noExplicitPolicy: 43, permittedViolation: 47, excludedViolation: 48 } as const;

/**
 * openssl verify -policy_print prints the user set as "User Policies:" and one indented
 * "Policy: OID" block each, or as "User Policies: <empty>" on one line when the set is empty.
 */
function parseVerdict(code: number, output: string): OpensslVerdict {
  const e = /error (\d+) at (\d+) depth lookup/.exec(output);
  const users = /^User Policies:(?: <empty>|\n((?: {2}.*\n)*))/m.exec(output);
  let userPolicies: string[] | undefined;
  if (users) {
    userPolicies = [...(users[1] ?? "").matchAll(/^ {2}Policy: (.*)$/gm)].map((m) => (m[1] === "X509v3 Any Policy" ? OID.anyPolicy : m[1])).sort();
  }
  if (code === 0 && /: OK\n/.test(output)) return { ok: true, userPolicies, output };
  return { ok: false, error: e ? Number(e[1]) : -1, depth: e ? Number(e[2]) : -1, userPolicies, output };
}

/** Runs `fn` over `items` with at most `limit` at a time, results in order. */
async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** CPU time (ms) this process and its waited-for children have used: /proc/self/stat utime, stime, cutime, cstime (Linux). */
function cpuMs(): { self: number; children: number } | undefined {
  try {
    const f = readFileSync("/proc/self/stat", "utf8").split(") ")[1].split(" ");
    const tick = 10; // USER_HZ is 100 on Linux
    return { self: (Number(f[11]) + Number(f[12])) * tick, children: (Number(f[13]) + Number(f[14])) * tick };
  } catch {
    return undefined;
  }
}

/** Where openssl runs: the test that owns its processes, and the directory for its input files. */
interface Runner {
  owner: Owner;
  dir: string;
}

let fileNo = 0;
async function opensslVerify({ owner, dir }: Runner, h: Hierarchy, extraArgs: readonly string[] = []): Promise<OpensslVerdict> {
  const base = join(dir, `h${fileNo++}`);
  writeFileSync(`${base}-root.pem`, encodePem(h.root, "CERTIFICATE"));
  writeFileSync(`${base}-leaf.pem`, encodePem(h.leaf, "CERTIFICATE"));
  const args = ["verify", "-x509_strict", "-policy_check", "-policy_print", "-verbose", "-no-CApath", "-no-CAstore", "-attime", String(Math.floor(h.time / 1000)), "-CAfile", `${base}-root.pem`];
  if (h.intermediates.length) {
    writeFileSync(`${base}-inter.pem`, h.intermediates.map((c) => encodePem(c, "CERTIFICATE")).join(""));
    args.push("-untrusted", `${base}-inter.pem`);
  }
  const i = h.spec.inputs;
  // RFC 5280 6.1.1 (c): the default user-initial-policy-set is any-policy. openssl verify without -policy has
  // none at all (pcy_tree.c tree_calculate_user_set), so any path needing an explicit policy would fail: say it.
  for (const p of i.initialPolicySet ?? [OID.anyPolicy]) args.push("-policy", p);
  if (i.initialExplicitPolicy) args.push("-explicit_policy");
  if (i.initialPolicyMappingInhibit) args.push("-inhibit_map");
  if (i.initialInhibitAnyPolicy) args.push("-inhibit_any");
  args.push(...extraArgs, `${base}-leaf.pem`);
  const r = await runOpenssl(owner, args);
  return parseVerdict(r.code, r.stdout + r.stderr);
}

type Mine = ValidationResult | { valid: "threw"; code: string; detail: string };

function cardloop(v: Validator, h: Hierarchy): Mine {
  try {
    return v.validate(h.leaf, { anchors: [h.root], intermediates: h.intermediates, time: h.time, revocation: "off", profile: "strict", ...h.spec.inputs });
  } catch (err) {
    return { valid: "threw", code: "threw", detail: String((err as Error).stack ?? err) };
  }
}

// ---------------------------------------------------------------- where OpenSSL departs from RFC 5280

interface Exclusion {
  id: string;
  /** Why OpenSSL is wrong, with the RFC text it departs from. */
  reason: string;
  /** The case shows the trait (a precondition, cheap). */
  applies(spec: HierarchySpec, o: OpensslVerdict): boolean;
  /** The counterfactual: the same case without the trait (spec) and/or openssl told to follow the RFC (args). */
  spec?(s: HierarchySpec): HierarchySpec;
  args?: string[];
}

const EXCLUSIONS: Exclusion[] = [
  {
    id: "openssl-common-name-as-dns-name",
    reason:
      "RFC 5280 4.2.1.10 applies dNSName constraints to dNSName names and 6.1.3 (b)-(c) checks the subject name (as a directoryName, " +
      "and its emailAddress attributes as rfc822Names) and the subjectAltNames; a commonName is not a dNSName. OpenSSL also checks a leaf " +
      "commonName that looks like a host name against dNSName constraints when the leaf has no dNSName subjectAltName " +
      "(x509_vfy.c check_name_constraints -> NAME_CONSTRAINTS_check_CN, the CA/B Forum's legacy rule). Counterfactual: the same chain " +
      "with the leaf's CN replaced by a non-host label (directoryName constraints never reach the CN here) agrees.",
    applies: (s, o) =>
      UNIVERSE.dns.names.includes(s.leaf.subject.cn) &&
      !s.leaf.sans.some((n) => "dns" in n) &&
      o.depth === 0 &&
      (o.error === X509_V_ERR.permittedViolation || o.error === X509_V_ERR.excludedViolation),
    spec: (s) => ({ ...s, leaf: { ...s.leaf, subject: { ...s.leaf.subject, cn: "Leaf Holder" } } }),
  },
  {
    id: "openssl-mapping-under-inhibited-anypolicy",
    reason:
      "RFC 5280 6.1.3 (d)(2) processes anyPolicy in certificate i only while inhibit_anyPolicy > 0 (or i < n and self-issued); " +
      "6.1.4 (b)(1) then maps an issuerDomainPolicy ID-P that no depth-i node carries only through a depth-i anyPolicy node. So when " +
      "anyPolicy is inhibited, a mapping from a policy the CA does not assert has no effect. OpenSSL turns such an issuerDomainPolicy " +
      "into an asserted policy whenever the CA lists anyPolicy (pcy_map.c, POLICY_DATA_FLAG_MAPPED_ANY), inhibited or not, so the " +
      "policy survives: a path accepted where an explicit policy is required, or a larger user-constrained policy set. " +
      "Counterfactual: the same chain without those mappings agrees (and the validator's answer, by the RFC, does not move).",
    applies: (s) => s.cas.some((c, i) => unassertedMappings(c).length > 0 && anyPolicyInhibitedAt(s, i + 1)),
    spec: (s) => ({
      ...s,
      cas: s.cas.map((c, i) => {
        if (!anyPolicyInhibitedAt(s, i + 1)) return c;
        const kept = (c.mappings ?? []).filter((m) => !unassertedMappings(c).includes(m));
        return { ...c, mappings: kept.length ? kept : undefined };
      }),
    }),
  },
  {
    id: "openssl-mapping-through-anypolicy-not-propagated",
    reason:
      "RFC 5280 6.1.4 (b)(1): a mapping from ID-P that no depth-i node carries, in a CA that asserts anyPolicy, creates a node ID-P " +
      "(a child of the depth i-1 anyPolicy node) whose expected_policy_set is the subjectDomainPolicies; 6.1.3 (d)(2) then gives a " +
      "certificate below that asserts anyPolicy a child node for each value of that expected_policy_set. OpenSSL marks such a node " +
      "POLICY_DATA_FLAG_MAPPED_ANY, but pcy_tree.c tree_link_unmatched tests only POLICY_DATA_FLAG_MAPPED, so below it the node " +
      "propagates under its own issuer-domain name and the subject-domain policy is lost: a path with a valid policy refused with " +
      "error 43, or a different policy set. Counterfactual: the same chain with the CA asserting ID-P itself (by 6.1.3 (d)(1)(ii) the " +
      "very node 6.1.4 (b)(1) would make) agrees.",
    applies: (s) => s.cas.some((c, i) => unassertedMappings(c).length > 0 && !anyPolicyInhibitedAt(s, i + 1)),
    spec: (s) => ({
      ...s,
      cas: s.cas.map((c, i) => {
        const from = unassertedMappings(c).map(([f]) => f);
        if (from.length === 0 || anyPolicyInhibitedAt(s, i + 1)) return c;
        return { ...c, policies: [...c.policies!, ...new Set(from)] };
      }),
    }),
  },
];

/** Mappings of a CA that lists anyPolicy from an issuerDomainPolicy it does not itself assert. */
function unassertedMappings(c: CaSpec): Array<[string, string]> {
  if (!c.policies?.includes(OID.anyPolicy)) return [];
  return (c.mappings ?? []).filter(([from]) => !c.policies!.includes(from));
}

/** RFC 5280 6.1.2 (j), 6.1.4 (h), (j): is inhibit_anyPolicy 0 when certificate i (1 = below the root, n = the leaf) is processed? */
function anyPolicyInhibitedAt(s: HierarchySpec, i: number): boolean {
  const n = s.cas.length + 1;
  let inhibit = s.inputs.initialInhibitAnyPolicy ? 0 : n + 1;
  for (let k = 1; k < i; k++) {
    if (inhibit > 0) inhibit--; // no generated certificate is self-issued
    const skip = s.cas[k - 1].inhibitAnyPolicy;
    if (skip !== undefined && skip < inhibit) inhibit = skip;
  }
  return inhibit === 0;
}

/** The fault kinds the two sides name, for chains both refuse. */
function faultKind(m: Mine): string {
  if (m.valid !== false) return String(m.valid);
  if (m.code.startsWith("name-")) return "name";
  if (m.code === "no-valid-policy" || m.code === "policy-mapping-any") return "policy";
  return m.code;
}
function opensslKind(o: OpensslVerdict): string {
  if (o.error === X509_V_ERR.permittedViolation || o.error === X509_V_ERR.excludedViolation) return "name";
  if (o.error === X509_V_ERR.noExplicitPolicy || o.error === 42) return "policy";
  return `openssl-${o.error}`;
}

const show = (m: Mine) => (m.valid === true ? `valid ${JSON.stringify(m.userConstrainedPolicySet)}` : `${m.code} at ${"position" in m ? m.position : "?"}: ${m.detail}`);
const userSet = (m: Mine) => (m.valid === true ? JSON.stringify([...m.userConstrainedPolicySet].sort()) : "");

/**
 * How the two answers differ, if they do: the verdict; for refusals the fault kind (and
 * the position, for names); for acceptances with a -policy list without anyPolicy, the
 * user-constrained policy set (openssl prints the set it computed only then; with anyPolicy
 * in the list it prints the authority set).
 */
function mismatch(spec: HierarchySpec, mine: Mine, o: OpensslVerdict): { problem?: string; comparedSet: boolean } {
  if (mine.valid !== o.ok) return { problem: "different verdicts", comparedSet: false };
  if (mine.valid === true) {
    const set = spec.inputs.initialPolicySet;
    if (!set || set.includes(OID.anyPolicy) || !o.userPolicies) return { comparedSet: false };
    return { comparedSet: true, problem: userSet(mine) === JSON.stringify(o.userPolicies) ? undefined : "same verdict, different user-constrained policy sets" };
  }
  const kinds = [faultKind(mine), opensslKind(o)];
  if (kinds[0] !== kinds[1]) return { problem: `both refuse, for different faults (${kinds.join(" vs ")})`, comparedSet: false };
  if (kinds[0] === "name" && mine.valid === false && mine.position !== o.depth) return { problem: "both refuse a name, at different positions", comparedSet: false };
  return { comparedSet: false };
}

interface Tally {
  chains: number;
  agreedValid: number;
  agreedInvalid: number;
  policySetsCompared: number;
  /** Of those, the empty ones (openssl prints "User Policies: <empty>"). */
  emptySetsCompared: number;
  /** Chains whose difference the exclusions explain, and how often each class took part (a chain can need two). */
  excludedChains: number;
  excluded: Record<string, number>;
}

/**
 * The exclusions that explain a difference: depth first, each class that applies to the case
 * as it now stands is undone by its counterfactual (a case may show several traits, and the
 * first error openssl reports can hide the next), until openssl agrees. Without a trait the
 * RFC answer must not move (the validator's verdict, fault kind and policy set), or the trait
 * is not OpenSSL's alone and the class does not explain the case.
 */
async function explain(v: Validator, keys: HierarchyKeys, runner: Runner, h: Hierarchy, mine: Mine, o: OpensslVerdict): Promise<Exclusion[] | undefined> {
  const search = async (spec: HierarchySpec, args: string[], o: OpensslVerdict, applied: Exclusion[]): Promise<Exclusion[] | undefined> => {
    for (const x of EXCLUSIONS) {
      if (applied.includes(x) || !x.applies(spec, o)) continue;
      const spec2 = x.spec ? x.spec(spec) : spec;
      const args2 = [...args, ...(x.args ?? [])];
      const h2 = spec2 === h.spec ? h : buildHierarchy(spec2, keys);
      const mine2: Mine = h2 === h ? mine : cardloop(v, h2);
      if (mine2.valid !== mine.valid || faultKind(mine2) !== faultKind(mine) || userSet(mine2) !== userSet(mine)) continue;
      const o2 = await opensslVerify(runner, h2, args2);
      if (!mismatch(spec2, mine2, o2).problem) return [...applied, x];
      const deeper = await search(spec2, args2, o2, [...applied, x]);
      if (deeper) return deeper;
    }
    return undefined;
  };
  return search(h.spec, [], o, []);
}

/** One chain: agreement, or exclusions proven by their counterfactuals, or a description of the difference. */
async function judge(v: Validator, keys: HierarchyKeys, runner: Runner, h: Hierarchy, mine: Mine, o: OpensslVerdict, tally: Tally): Promise<string | undefined> {
  const what = () => `spec ${JSON.stringify(h.spec)}\n  validator: ${show(mine)}\n  openssl: ${o.ok ? "OK" : `error ${o.error} at depth ${o.depth}`}\n  ${o.output.trim().replace(/\n/g, "\n  ")}`;
  if (mine.valid === "threw") return `validator threw: ${mine.detail}\n${what()}`;
  const m = mismatch(h.spec, mine, o);
  if (!m.problem) {
    if (mine.valid) tally.agreedValid++;
    else tally.agreedInvalid++;
    if (m.comparedSet) tally.policySetsCompared++;
    if (m.comparedSet && o.userPolicies?.length === 0) tally.emptySetsCompared++;
    return undefined;
  }
  const proof = await explain(v, keys, runner, h, mine, o);
  if (proof) {
    for (const x of proof) tally.excluded[x.id] = (tally.excluded[x.id] ?? 0) + 1;
    tally.excludedChains++;
    return undefined;
  }
  return `${m.problem.toUpperCase()}\n${what()}`;
}

test("openssl is installed (the differential needs the real one)", opensslInstalled);

test("openssl's User Policies are read as printed: a list of OIDs, anyPolicy, or <empty> as the empty set", (t) => {
  const ok = (users: string) => `leaf.pem: OK\nRequire explicit Policy: False\nAuthority Policies:\n  Policy: 2.16.840.1.101.3.2.1.48.1\n    Non Critical\n    No Qualifiers\n${users}`;
  t.deepEqual(parseVerdict(0, ok("User Policies: <empty>\n")).userPolicies, []);
  t.deepEqual(parseVerdict(0, ok("User Policies:\n  Policy: 2.16.840.1.101.3.2.1.48.2\n    Non Critical\n    No Qualifiers\n  Policy: X509v3 Any Policy\n")).userPolicies, [
    "2.16.840.1.101.3.2.1.48.2",
    OID.anyPolicy,
  ]);
  t.is(parseVerdict(0, "leaf.pem: OK\n").userPolicies, undefined, "no policy output: no set");
  // "Authority Policies: <empty>" is not the user set.
  t.is(parseVerdict(2, "Authority Policies: <empty>\nerror 43 at 0 depth lookup: no explicit policy\n").userPolicies, undefined);
  t.like(parseVerdict(2, "error 43 at 0 depth lookup: no explicit policy\nUser Policies: <empty>\n"), { ok: false, error: 43, depth: 0, userPolicies: [] });
});

test(`openssl verify -x509_strict -policy_check agrees with the validator on ${CHAINS} generated hierarchies with name constraints and policies`, async (t) => {
  const seed = Number(process.env.PKI_DIFF_SEED ?? randomInt(2 ** 31));
  t.log(`seed ${seed} (PKI_DIFF_SEED=${seed} replays this run)`);
  const keys = new HierarchyKeys();
  const v = new Validator();
  const runner: Runner = { owner: t, dir: tempDir(t, "pki-openssl-nc") };
  const tally: Tally = { chains: 0, agreedValid: 0, agreedInvalid: 0, policySetsCompared: 0, emptySetsCompared: 0, excludedChains: 0, excluded: {} };
  const problems: string[] = [];
  const t0 = performance.now();
  const cpu0 = cpuMs();
  await fc.assert(
    fc.asyncProperty(fc.array(hierarchySpec(), { minLength: BATCH, maxLength: BATCH }), async (specs) => {
      const built = specs.map((s) => buildHierarchy(s, keys));
      const mine = built.map((h) => cardloop(v, h));
      const theirs = await pool(built, CONCURRENCY, (h) => opensslVerify(runner, h));
      const found = await pool(built, CONCURRENCY, (h, i) => judge(v, keys, runner, h, mine[i], theirs[i], tally));
      tally.chains += built.length;
      // Collected, not thrown: a failing batch of 50 would print as one huge counterexample; the specs below are readable.
      problems.push(...found.filter((f): f is string => f !== undefined));
      return true;
    }),
    { numRuns: Math.ceil(CHAINS / BATCH), seed },
  );
  const ms = Math.round(performance.now() - t0);
  const cpu1 = cpuMs();
  const cpu = cpu0 && cpu1 ? ` (CPU: ${cpu1.self - cpu0.self} ms here, ${cpu1.children - cpu0.children} ms in openssl)` : "";
  t.log(`${tally.chains} chains in ${ms} ms${cpu}: ${tally.agreedValid} valid and ${tally.agreedInvalid} invalid for both; ${tally.policySetsCompared} user-constrained policy sets compared (${tally.emptySetsCompared} empty)`);
  t.log(`OpenSSL departures from RFC 5280: ${tally.excludedChains} chains excluded; by class: ${EXCLUSIONS.map((x) => `${x.id} ${tally.excluded[x.id] ?? 0}`).join(", ")}`);
  for (const p of problems.slice(0, 5)) t.log(p);
  t.is(problems.length, 0, `unexplained disagreements (the first ${Math.min(5, problems.length)} are logged above; seed ${seed})`);
  t.true(tally.chains >= CHAINS);
  t.is(tally.agreedValid + tally.agreedInvalid + tally.excludedChains, tally.chains, "every chain agreed, or is one proven exclusion");
  t.true(tally.agreedValid > 0 && tally.agreedInvalid > 0, "the generator reaches both verdicts");
  // About 1 chain in 26 is valid with an empty user set (a set given, none of it valid): 500 chains without one would be a parse that misses "<empty>".
  if (CHAINS >= 500) t.true(tally.emptySetsCompared > 0, "empty user-constrained policy sets are compared too");
});
