import test from "ava";
import fc from "fast-check";
import { performance } from "node:perf_hooks";
import { DecodeError } from "./errors.js";
import { Validator } from "./index.js";
import { decodeCertificatePolicies, decodeInhibitAnyPolicy, decodePolicyConstraints, decodePolicyMappings } from "./policy-extensions.js";
import { type AnchorPolicy, DEFAULT_POLICY_INPUTS, type PolicyCert, type PolicyInputs, type PolicyOutcome, processPolicies } from "./policy-graph.js";
import { integer, oid, seq, tlv } from "./testing/builder.js";
import { type PkitsCase, expectedPolicySet, pkits, validatePkits } from "./testing/pkits.js";
import { referencePolicies } from "./testing/policy-tree.js";

/**
 * Certificate policies (RFC 5280 6.1.2-6.1.5 on the RFC 9618 graph): one unit per
 * rule, the graph against the literal valid_policy_tree on random paths, the
 * extension decoders fuzzed, and PKITS 4.8-4.12 through the Validator.
 */

const ANY = "2.5.29.32.0";
const P = (k: number) => `2.16.840.1.101.3.2.1.48.${k}`;
const [P1, P2, P3, P4] = [P(1), P(2), P(3), P(4)];
const ca = (x: Partial<PolicyCert> = {}): PolicyCert => ({ selfIssued: false, ...x });
const map = (...pairs: Array<[string, string]>) => pairs.map(([issuerDomainPolicy, subjectDomainPolicy]) => ({ issuerDomainPolicy, subjectDomainPolicy }));
const inputs = (x: Partial<PolicyInputs> = {}): PolicyInputs => ({ ...DEFAULT_POLICY_INPUTS, ...x });
const explicit = inputs({ initialExplicitPolicy: true });
const run = (certs: PolicyCert[], i: PolicyInputs = DEFAULT_POLICY_INPUTS) => processPolicies(certs, i);
/** A short verdict: "ok user=[..] auth=[..]" or "code@index". */
const verdict = (o: PolicyOutcome) => (o.ok ? `ok user=[${o.userConstrainedPolicySet.map(short)}] auth=[${o.authoritiesConstrainedPolicySet.map(short)}]` : `${o.code}@${o.index}`);
const ia5 = (s: string) => tlv(0x16, new TextEncoder().encode(s));
const short = (oid: string) => (oid === ANY ? "any" : oid.startsWith("2.16.840.1.101.3.2.1.48.") ? `P${oid.slice(24)}` : oid);

test("no policy extension anywhere: valid with empty sets, or no-valid-policy at the first certificate when explicit", (t) => {
  const plain = [ca(), ca(), ca()];
  t.is(verdict(run(plain)), "ok user=[] auth=[]");
  t.is(verdict(run(plain, explicit)), "no-valid-policy@0");
  t.is(verdict(run([])), "ok user=[any] auth=[any]");
});

test("6.1.3 (d)(1): exact matches hang from their issuer policy, unmatched ones from anyPolicy only", (t) => {
  t.is(verdict(run([ca({ policies: [P1, P2] }), ca({ policies: [P1] })], explicit)), "ok user=[P1] auth=[P1]");
  // P3 matches nothing and there is no anyPolicy above: the graph empties at the leaf.
  t.is(verdict(run([ca({ policies: [P1, P2] }), ca({ policies: [P3] })], explicit)), "no-valid-policy@1");
  t.is(verdict(run([ca({ policies: [P1, P2] }), ca({ policies: [P3] })])), "ok user=[] auth=[]");
  t.is(verdict(run([ca({ policies: [ANY] }), ca({ policies: [P3, P1] })], explicit)), "ok user=[P1,P3] auth=[P1,P3]");
  // A repeated OID is one policy.
  t.is(verdict(run([ca({ policies: [P1, P1] }), ca({ policies: [P1, P1] })], explicit)), "ok user=[P1] auth=[P1]");
});

test("6.1.3 (d)(2): anyPolicy in a certificate matches every expected policy, unless inhibit_anyPolicy is 0 (self-issued CAs excepted)", (t) => {
  t.is(verdict(run([ca({ policies: [P1, P2] }), ca({ policies: [ANY] })], explicit)), "ok user=[P1,P2] auth=[P1,P2]");
  t.is(verdict(run([ca({ policies: [ANY] }), ca({ policies: [ANY] })])), "ok user=[any] auth=[any]");
  t.is(verdict(run([ca({ policies: [P1] }), ca({ policies: [ANY] })], inputs({ initialExplicitPolicy: true, initialInhibitAnyPolicy: true }))), "no-valid-policy@1");
  // (j): inhibitAnyPolicy 0 in the first CA; a self-issued CA below still gets anyPolicy, the leaf does not.
  const path = [ca({ policies: [P1], inhibitAnyPolicy: 0 }), ca({ policies: [ANY], selfIssued: true }), ca({ policies: [ANY] })];
  t.is(verdict(run(path.slice(0, 2).concat(ca({ policies: [P1] })), explicit)), "ok user=[P1] auth=[P1]");
  t.is(verdict(run(path, explicit)), "no-valid-policy@2");
  t.is(verdict(run(path.map((c, i) => (i === 0 ? ca({ policies: [P1], inhibitAnyPolicy: 2 }) : c)), explicit)), "ok user=[P1] auth=[P1]");
});

test("6.1.3 (e)-(f): a certificate without policies empties the graph; the failure is where explicit_policy is 0", (t) => {
  t.is(verdict(run([ca({ policies: [ANY] }), ca(), ca({ policies: [ANY] })])), "ok user=[] auth=[]");
  t.is(verdict(run([ca({ policies: [ANY] }), ca(), ca({ policies: [ANY] })], explicit)), "no-valid-policy@1");
  // 6.1.4 (i): requireExplicitPolicy 0 in the first CA makes the second one the failure.
  t.is(verdict(run([ca({ policies: [ANY], policyConstraints: { requireExplicitPolicy: 0 } }), ca(), ca()])), "no-valid-policy@1");
});

test("6.1.4 (a): a mapping to or from anyPolicy fails at its certificate; the leaf's mappings are not read", (t) => {
  t.is(verdict(run([ca({ policies: [ANY], policyMappings: map([ANY, P1]) }), ca({ policies: [P1] })])), "policy-mapping-any@0");
  t.is(verdict(run([ca({ policies: [P1] }), ca({ policies: [P1], policyMappings: map([P1, P2], [P1, ANY]) }), ca()])), "policy-mapping-any@1");
  // Checked even when the graph is already NULL.
  t.is(verdict(run([ca(), ca({ policyMappings: map([P1, ANY]) }), ca()])), "policy-mapping-any@1");
  t.is(verdict(run([ca({ policies: [P1] }), ca({ policies: [P1], policyMappings: map([P1, ANY]) })])), "ok user=[P1] auth=[P1]");
});

test("6.1.4 (b)(1)-(2): mappings, from a node or from anyPolicy; the valid policies are the anchor's", (t) => {
  t.is(verdict(run([ca({ policies: [P1], policyMappings: map([P1, P2], [P1, P3]) }), ca({ policies: [P3] })], explicit)), "ok user=[P1] auth=[P1]");
  t.is(verdict(run([ca({ policies: [P1], policyMappings: map([P1, P2]) }), ca({ policies: [P1] })], explicit)), "no-valid-policy@1");
  // (b)(2): anyPolicy stands for P1, which maps to P2; the anyPolicy branch matches nothing and is pruned.
  t.is(verdict(run([ca({ policies: [ANY], policyMappings: map([P1, P2]) }), ca({ policies: [P2] })])), "ok user=[P1] auth=[P1]");
  t.is(verdict(run([ca({ policies: [ANY], policyMappings: map([P1, P2]) }), ca({ policies: [P2] })], inputs({ initialPolicySet: [P2], initialExplicitPolicy: true }))), "no-valid-policy@1");
  // Several issuer policies mapped onto one: one node with two parents.
  t.is(verdict(run([ca({ policies: [P1, P2], policyMappings: map([P1, P3], [P2, P3]) }), ca({ policies: [P3] })])), "ok user=[P1,P2] auth=[P1,P2]");
});

test("6.1.4 (b)(3): with policy_mapping 0 a mapped policy is deleted, and what hung only on it", (t) => {
  const path = [ca({ policies: [P1, P2], policyMappings: map([P1, P3]) }), ca({ policies: [P1, P2, P3] })];
  t.is(verdict(run(path)), "ok user=[P1,P2] auth=[P1,P2]");
  t.is(verdict(run(path, inputs({ initialPolicyMappingInhibit: true }))), "ok user=[P2] auth=[P2]");
  const only = [ca({ policies: [P1], policyMappings: map([P1, P2]) }), ca({ policies: [P2] })];
  t.is(verdict(run(only, inputs({ initialPolicyMappingInhibit: true, initialExplicitPolicy: true }))), "no-valid-policy@1");
  // (i): inhibitPolicyMapping 0 in the first CA forbids the second one's mappings.
  const two = [ca({ policies: [P1], policyConstraints: { inhibitPolicyMapping: 0 } }), ca({ policies: [P1], policyMappings: map([P1, P2]) }), ca({ policies: [P2] })];
  t.is(verdict(run(two, explicit)), "no-valid-policy@2");
  t.is(verdict(run([{ ...two[0], policyConstraints: { inhibitPolicyMapping: 1 } }, two[1], two[2]], explicit)), "ok user=[P1] auth=[P1]");
});

test("6.1.4 (h)-(i): self-issued certificates do not count down the skip counts", (t) => {
  const path = (selfIssued: boolean) => [ca({ policies: [P1], policyConstraints: { requireExplicitPolicy: 2 } }), ca({ selfIssued }), ca()];
  t.is(verdict(run(path(false))), "no-valid-policy@2");
  t.is(verdict(run(path(true))), "ok user=[] auth=[]");
  // A larger requireExplicitPolicy never raises the count.
  t.is(verdict(run([ca({ policies: [P1], policyConstraints: { requireExplicitPolicy: 9 } }), ca()], explicit)), "no-valid-policy@1");
});

test("6.1.5 (a)-(b): the leaf's requireExplicitPolicy 0 requires a policy at the end", (t) => {
  t.is(verdict(run([ca({ policies: [P1] }), ca({ policies: [P2], policyConstraints: { requireExplicitPolicy: 0 } })])), "no-valid-policy@1");
  t.is(verdict(run([ca({ policies: [P1] }), ca({ policies: [P1], policyConstraints: { requireExplicitPolicy: 0 } })])), "ok user=[P1] auth=[P1]");
});

test("6.1.5 (g): the user-constrained set is the authorities' set seen through the initial set", (t) => {
  const anyToLeaf = [ca({ policies: [ANY, P1] }), ca({ policies: [ANY] })];
  t.is(verdict(run(anyToLeaf)), "ok user=[P1,any] auth=[P1,any]");
  t.is(verdict(run(anyToLeaf, inputs({ initialPolicySet: [P3, P2] }))), "ok user=[P2,P3] auth=[P1,any]");
  t.is(verdict(run(anyToLeaf, inputs({ initialPolicySet: [P1, P4] }))), "ok user=[P1,P4] auth=[P1,any]");
  const noAny = [ca({ policies: [P1, P2] }), ca({ policies: [P1, P2] })];
  t.is(verdict(run(noAny, inputs({ initialPolicySet: [P2, P3] }))), "ok user=[P2] auth=[P1,P2]");
  t.is(verdict(run(noAny, inputs({ initialPolicySet: [P3], initialExplicitPolicy: true }))), "no-valid-policy@1");
  t.is(verdict(run(noAny, inputs({ initialPolicySet: [P3] }))), "ok user=[] auth=[P1,P2]");
});

test("RFC 5937: the anchor's policyConstraints and inhibitAnyPolicy count as 6.1.4 (i)-(j) before certificate 1, never loosening", (t) => {
  const run3 = (certs: PolicyCert[], i: PolicyInputs, anchor: AnchorPolicy) => verdict(processPolicies(certs, i, anchor));
  const noLeafPolicy = [ca({ policies: [ANY] }), ca()];
  t.is(verdict(run(noLeafPolicy)), "ok user=[] auth=[]");
  // requireExplicitPolicy k: k certificates may follow the anchor before a policy is required (6.1.5 (a) counts the leaf).
  t.is(run3(noLeafPolicy, DEFAULT_POLICY_INPUTS, { policyConstraints: { requireExplicitPolicy: 0 } }), "no-valid-policy@1");
  t.is(run3(noLeafPolicy, DEFAULT_POLICY_INPUTS, { policyConstraints: { requireExplicitPolicy: 2 } }), "no-valid-policy@1");
  t.is(run3(noLeafPolicy, DEFAULT_POLICY_INPUTS, { policyConstraints: { requireExplicitPolicy: 3 } }), "ok user=[] auth=[]");
  // The anchor never loosens the user's inputs.
  t.is(run3(noLeafPolicy, explicit, { policyConstraints: { requireExplicitPolicy: 9 } }), "no-valid-policy@1");
  // inhibitPolicyMapping 0: the first CA's mapping deletes P1.
  const mapped = [ca({ policies: [P1], policyMappings: map([P1, P2]) }), ca({ policies: [P2] })];
  t.is(verdict(run(mapped, explicit)), "ok user=[P1] auth=[P1]");
  t.is(run3(mapped, explicit, { policyConstraints: { inhibitPolicyMapping: 0 } }), "no-valid-policy@1");
  t.is(run3(mapped, explicit, { policyConstraints: { inhibitPolicyMapping: 1 } }), "ok user=[P1] auth=[P1]");
  // inhibitAnyPolicy: 0 stops anyPolicy in certificate 1, 1 in certificate 2.
  const anyAny = [ca({ policies: [ANY] }), ca({ policies: [ANY] })];
  t.is(verdict(run(anyAny, explicit)), "ok user=[any] auth=[any]");
  t.is(run3(anyAny, explicit, { inhibitAnyPolicy: 0 }), "no-valid-policy@0");
  t.is(run3(anyAny, explicit, { inhibitAnyPolicy: 1 }), "no-valid-policy@1");
  t.is(run3(anyAny, explicit, { inhibitAnyPolicy: 2 }), "ok user=[any] auth=[any]");
  t.is(run3(anyAny, explicit, {}), "ok user=[any] auth=[any]");
});


// ------------------------------------------------------------- graph vs tree

const alphabet = [P1, P2, P3, P4, ANY];
const pol = fc.constantFrom(...alphabet);
const realPol = fc.constantFrom(P1, P2, P3, P4);
const skip = fc.integer({ min: 0, max: 3 });
const certArb: fc.Arbitrary<PolicyCert> = fc.record(
  {
    policies: fc.option(fc.array(pol, { minLength: 1, maxLength: 5 }), { freq: 5, nil: undefined }),
    policyMappings: fc.option(
      fc.array(fc.oneof({ weight: 20, arbitrary: fc.tuple(realPol, realPol) }, { weight: 1, arbitrary: fc.tuple(pol, pol) }), { minLength: 1, maxLength: 5 }).map((xs) => map(...xs)),
      { freq: 2, nil: undefined },
    ),
    policyConstraints: fc.option(fc.record({ requireExplicitPolicy: skip, inhibitPolicyMapping: skip }, { requiredKeys: [] }), { freq: 3, nil: undefined }),
    inhibitAnyPolicy: fc.option(skip, { freq: 3, nil: undefined }),
    selfIssued: fc.boolean(),
  },
  { requiredKeys: ["selfIssued"] },
);
const inputsArb: fc.Arbitrary<PolicyInputs> = fc.record({
  initialPolicySet: fc.oneof(fc.constant([ANY]), fc.uniqueArray(pol, { minLength: 1, maxLength: 4 })),
  initialExplicitPolicy: fc.boolean(),
  initialPolicyMappingInhibit: fc.boolean(),
  initialInhibitAnyPolicy: fc.boolean(),
});

test("the policy graph and the RFC 5280 valid_policy_tree agree: verdict, failing index and both policy sets", (t) => {
  const seen = { valid: 0, invalid: 0, userNonEmpty: 0, mapped: 0 };
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(certArb, { minLength: 1, maxLength: 6 }), inputsArb, (certs, inp) => {
        const g = processPolicies(certs, inp);
        const r = referencePolicies(certs, inp);
        if (g.ok) {
          seen.valid++;
          if (g.userConstrainedPolicySet.length) seen.userNonEmpty++;
        } else seen.invalid++;
        if (certs.some((c) => c.policyMappings)) seen.mapped++;
        return verdict(g) === verdict(r);
      }),
      { numRuns: 3000, seed: 9618 },
    ),
  );
  t.log(seen);
  // The generator must reach every outcome, or agreement proves little.
  t.true(seen.valid > 300 && seen.invalid > 300 && seen.userNonEmpty > 300 && seen.mapped > 300, JSON.stringify(seen));
});

test("property: the anchor's constraints act as a self-issued anyPolicy CA placed before certificate 1", (t) => {
  const anchorArb: fc.Arbitrary<AnchorPolicy> = fc.record(
    { policyConstraints: fc.record({ requireExplicitPolicy: skip, inhibitPolicyMapping: skip }, { requiredKeys: [] }), inhibitAnyPolicy: skip },
    { requiredKeys: [] },
  );
  const shifted = (o: PolicyOutcome) => (o.ok ? verdict(o) : `${o.code}@${o.index - 1}`);
  let constrained = 0;
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(certArb, { minLength: 1, maxLength: 6 }), inputsArb, anchorArb, (certs, inp, anchor) => {
        const a = verdict(processPolicies(certs, inp, anchor));
        if (a !== verdict(processPolicies(certs, inp))) constrained++;
        // 6.1.4 (h) does not count a self-issued certificate down; (i)-(j) apply its constraints.
        const prefix = ca({ policies: [ANY], selfIssued: true, ...anchor });
        return a === shifted(processPolicies([prefix, ...certs], inp));
      }),
      { numRuns: 2000, seed: 5937 },
    ),
  );
  t.true(constrained > 100, `cases the anchor changed: ${constrained}`);
});

test("mappings and initial sets of thousands of policies are linear: counted, not timed", (t) => {
  const wide = (K: number) => {
    const subs = Array.from({ length: K }, (_, i) => `1.2.3.4.${i}`);
    const oneToK = [ca({ policies: ["1.1"], policyMappings: subs.map((s) => ({ issuerDomainPolicy: "1.1", subjectDomainPolicy: s })) }), ca({ policies: subs }), ca({ policies: [ANY] })];
    return { subs, mapped: () => processPolicies(oneToK, explicit), initial: () => processPolicies([ca({ policies: [ANY] }), ca({ policies: [ANY] })], inputs({ initialPolicySet: subs, initialExplicitPolicy: true })) };
  };
  // The quadratic version deduplicated with Array.includes on lists growing to K: count the elements it would scan.
  const K = 5000;
  const w = wide(K);
  const includes = Array.prototype.includes;
  let scanned = 0;
  Array.prototype.includes = function (this: unknown[], ...args: [unknown, number?]) {
    scanned += this.length;
    return includes.apply(this, args);
  };
  let mapped: PolicyOutcome;
  let initial: PolicyOutcome;
  try {
    mapped = w.mapped();
    initial = w.initial();
  } finally {
    Array.prototype.includes = includes;
  }
  t.true(scanned < K, `elements scanned by Array.includes: ${scanned}`);
  t.is(verdict(mapped), "ok user=[1.1] auth=[1.1]");
  t.true(initial.ok && initial.userConstrainedPolicySet.length === K && initial.authoritiesConstrainedPolicySet.join() === ANY);
  // At 50,000 (5 s for 20,000 before): decided, and timed in the log.
  const big = wide(50_000);
  const t0 = performance.now();
  t.is(verdict(big.mapped()), "ok user=[1.1] auth=[1.1]");
  const t1 = performance.now();
  const o = big.initial();
  t.true(o.ok && o.userConstrainedPolicySet.length === 50_000);
  t.log(`one policy mapped to 50,000: ${(t1 - t0).toFixed(0)} ms; an initial set of 50,000 through anyPolicy: ${(performance.now() - t1).toFixed(0)} ms`);
});

test("a path built to explode stays small: 8 CAs of 10 policies all mapped to each other, anyPolicy everywhere", (t) => {
  const measure = (width: number) => {
    const policies = Array.from({ length: width }, (_, k) => `1.2.3.${k}`);
    const mappings = map(...policies.flatMap((a) => policies.map((b): [string, string] => [a, b])));
    const cas = Array.from({ length: 8 }, () => ca({ policies: [ANY, ...policies], policyMappings: mappings }));
    const certs = [...cas, ca({ policies: [ANY, ...policies] })];
    const t0 = performance.now();
    const o = processPolicies(certs, explicit);
    const ms = performance.now() - t0;
    t.log(`8 CAs x ${width} policies, ${width * width} mappings each: ${ms.toFixed(2)} ms`);
    t.true(o.ok && o.authoritiesConstrainedPolicySet.length === width + 1);
  };
  measure(10); // the tree of RFC 5280 would hold 10^9 leaf nodes
  measure(100);
});

// ------------------------------------------------------------------ decoders

const decoders = { decodeCertificatePolicies, decodePolicyMappings, decodePolicyConstraints, decodeInhibitAnyPolicy };
const onlyDecodeError = (f: (b: Uint8Array) => unknown, b: Uint8Array) => {
  try {
    f(b);
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
  }
};
const valid = {
  decodeCertificatePolicies: seq(seq(oid(P1)), seq(oid(ANY), seq(seq(oid("1.3.6.1.5.5.7.2.1"), ia5("http://cps")), seq(oid("1.3.6.1.5.5.7.2.2"), seq())))),
  decodePolicyMappings: seq(seq(oid(P1), oid(P2)), seq(oid(P1), oid(P3))),
  decodePolicyConstraints: seq(tlv(0x80, new Uint8Array([0])), tlv(0x81, new Uint8Array([2]))),
  decodeInhibitAnyPolicy: integer(1),
};

test("the decoders read their valid encodings", (t) => {
  t.deepEqual(decodeCertificatePolicies(valid.decodeCertificatePolicies), [P1, ANY]);
  t.deepEqual(decodePolicyMappings(valid.decodePolicyMappings), map([P1, P2], [P1, P3]));
  t.deepEqual(decodePolicyConstraints(valid.decodePolicyConstraints), { requireExplicitPolicy: 0, inhibitPolicyMapping: 2 });
  t.deepEqual(decodePolicyConstraints(seq(tlv(0x81, new Uint8Array([0])))), { inhibitPolicyMapping: 0 });
  t.is(decodeInhibitAnyPolicy(valid.decodeInhibitAnyPolicy), 1);
  t.is(decodeInhibitAnyPolicy(tlv(0x02, new Uint8Array([0x00, 0xff, 1, 2, 3, 4, 5]))), Number.MAX_SAFE_INTEGER);
});

test("the decoders refuse malformed extensions with DecodeError", (t) => {
  const bad: Array<[(b: Uint8Array) => unknown, Uint8Array, string]> = [
    [decodeCertificatePolicies, seq(), "empty"],
    [decodeCertificatePolicies, seq(seq()), "no policyIdentifier"],
    [decodeCertificatePolicies, seq(seq(oid(P1), seq())), "empty policyQualifiers"],
    [decodeCertificatePolicies, seq(seq(oid(P1), seq(seq(ia5("x"))))), "qualifier without its OID"],
    [decodeCertificatePolicies, seq(seq(oid(P1), seq(seq(oid("1.3.6.1.5.5.7.2.1"), ia5("a"), ia5("b"))))), "two qualifier values"],
    [decodeCertificatePolicies, seq(seq(oid(P1), integer(1))), "trailing field"],
    [decodeCertificatePolicies, new Uint8Array([...seq(seq(oid(P1))), 0]), "trailing octet"],
    [decodeCertificatePolicies, seq(seq(tlv(0x06, new Uint8Array()))), "empty OID"],
    [decodePolicyMappings, seq(), "empty"],
    [decodePolicyMappings, seq(seq(oid(P1))), "one OID"],
    [decodePolicyMappings, seq(seq(oid(P1), oid(P2), oid(P3))), "three OIDs"],
    [decodePolicyMappings, seq(seq(oid(P1), integer(2))), "not an OID"],
    [decodePolicyConstraints, seq(), "empty"],
    [decodePolicyConstraints, seq(tlv(0x81, new Uint8Array([0])), tlv(0x80, new Uint8Array([0]))), "out of order"],
    [decodePolicyConstraints, seq(tlv(0x80, new Uint8Array([0])), tlv(0x80, new Uint8Array([0]))), "repeated"],
    [decodePolicyConstraints, seq(tlv(0xa0, integer(0))), "constructed tag"],
    [decodePolicyConstraints, seq(tlv(0x80, new Uint8Array([0xff]))), "negative"],
    [decodePolicyConstraints, seq(tlv(0x80, new Uint8Array([0, 1]))), "non-minimal"],
    [decodePolicyConstraints, seq(tlv(0x80, new Uint8Array())), "empty SkipCerts"],
    [decodeInhibitAnyPolicy, tlv(0x02, new Uint8Array([0x80, 0, 0, 0, 0, 0, 0, 0])), "negative and long"],
    [decodeInhibitAnyPolicy, tlv(0x02, new Uint8Array([0, 0, 0, 0, 0, 0, 0, 1])), "non-minimal and long"],
    [decodeInhibitAnyPolicy, tlv(0x0a, new Uint8Array([1])), "ENUMERATED"],
    [decodeInhibitAnyPolicy, new Uint8Array([0x02, 0x81, 0x01, 0x01]), "long-form length"],
  ];
  for (const [f, b, why] of bad) t.throws(() => f(b), { instanceOf: DecodeError }, `${f.name}: ${why}`);
});

test("fuzz: arbitrary and mutated bytes make the decoders throw DecodeError only", (t) => {
  const entries = Object.entries(decoders) as Array<[keyof typeof decoders, (b: Uint8Array) => unknown]>;
  const mutate = (b: Uint8Array, edits: Array<[number, number]>, cut: number) => {
    const out = b.slice(0, b.length - (cut % (b.length + 1)));
    for (const [at, v] of edits) if (out.length) out[at % out.length] = v;
    return out;
  };
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), fc.nat({ max: 8 }), (bytes, edits, cut) => {
        for (const [name, f] of entries) {
          onlyDecodeError(f, bytes);
          onlyDecodeError(f, mutate(valid[name], edits, cut));
        }
      }),
      { numRuns: 5000, seed: 5280 },
    ),
  );
});

// ------------------------------------------------------------------ PKITS

const policyCases = pkits.cases.filter((c) => /^4\.(8|9|10|11|12)\./.test(c.number));
const validator = new Validator();
const runCase = (c: PkitsCase, profile?: "strict" | "lenient") => validatePkits(validator, c, { profile });

/** Every case's verdict and, where the case states one, its user-constrained policy set; returns the disagreements. */
function pkitsDisagreements(profile: "strict" | "lenient" | undefined, log: (m: string) => void): string[] {
  const wrong: string[] = [];
  let setsChecked = 0;
  for (const c of policyCases) {
    const r = runCase(c, profile);
    const label = c.title.trim();
    const want = expectedPolicySet(c);
    if (r.valid !== c.shouldValidate) wrong.push(`${label}: ${r.valid ? "valid" : `${r.code}@${r.position}: ${r.detail}`}`);
    else if (r.valid && want !== undefined) {
      setsChecked++;
      const got = [...r.userConstrainedPolicySet].sort();
      if ([...want].sort().join() !== got.join()) wrong.push(`${label}: user-constrained set [${got.map(short)}], expected [${want.map(short)}]`);
    }
  }
  log(`${policyCases.length} cases, ${setsChecked} user-constrained sets compared`);
  return wrong;
}

test("PKITS 4.8-4.12 through the Validator (default options): every verdict and every stated user-constrained policy set", (t) => {
  t.is(policyCases.length, 88);
  t.deepEqual(pkitsDisagreements(undefined, t.log), []);
});

test("PKITS 4.8-4.12 with the lenient profile (policy processing alone): every verdict and every stated user-constrained policy set", (t) => {
  t.deepEqual(pkitsDisagreements("lenient", t.log), []);
});

test("PKITS policy failures carry the precise code and position", (t) => {
  const codeOf = (title: string) => {
    const r = runCase(policyCases.find((x) => x.title.trim().startsWith(title))!, "lenient");
    return r.valid ? "valid" : `${r.code}@${r.position}`;
  };
  t.is(codeOf("4.8.2 All Certificates No Policies Test2 (Subpart 2)"), "no-valid-policy@1");
  t.is(codeOf("4.8.4 Different Policies Test4"), "no-valid-policy@0");
  t.is(codeOf("4.10.7 Invalid Mapping From anyPolicy Test7"), "policy-mapping-any@1");
  t.is(codeOf("4.10.8 Invalid Mapping To anyPolicy Test8"), "policy-mapping-any@1");
  t.is(codeOf("4.9.3 Invalid RequireExplicitPolicy Test3"), "no-valid-policy@0");
});
