import { OID } from "./oids.js";
import type { PolicyConstraints, PolicyMapping } from "./policy-extensions.js";

/**
 * RFC 5280 6.1.2-6.1.5 certificate policy processing, on the policy graph of
 * RFC 9618 (the same results as the valid_policy_tree, without its exponential growth):
 * one node per (depth, valid_policy), with every parent listed, so the graph stays
 * linear in the size of the path's policy extensions. Qualifiers are not kept
 * (6.1.3 (d) leaves them to the application; RFC 9618 section 3.3 recommends not
 * returning them).
 */

/** The four initial inputs of RFC 5280 6.1.1 (c), (e), (f), (g). */
export interface PolicyInputs {
  /** OIDs; [anyPolicy] accepts any. */
  initialPolicySet: readonly string[];
  initialExplicitPolicy: boolean;
  initialPolicyMappingInhibit: boolean;
  initialInhibitAnyPolicy: boolean;
}

export const DEFAULT_POLICY_INPUTS: PolicyInputs = Object.freeze({
  initialPolicySet: Object.freeze([OID.anyPolicy]) as readonly string[],
  initialExplicitPolicy: false,
  initialPolicyMappingInhibit: false,
  initialInhibitAnyPolicy: false,
});

/** What policy processing reads of one certificate (undefined: the extension is absent). */
export interface PolicyCert {
  policies?: readonly string[];
  policyMappings?: readonly PolicyMapping[];
  policyConstraints?: PolicyConstraints;
  inhibitAnyPolicy?: number;
  selfIssued: boolean;
}

/** What RFC 5937 takes from a trust anchor for policy processing (a Certificate is one). */
export type AnchorPolicy = Pick<PolicyCert, "policyConstraints" | "inhibitAnyPolicy">;

export type PolicyOutcome =
  | {
      ok: true;
      /** 6.1.6: the policies the user accepted that the path is valid for (OIDs, anyPolicy as 2.5.29.32.0; empty when none), sorted. */
      userConstrainedPolicySet: string[];
      /**
       * The authorities-constrained policy set of RFC 9618 6.1.5 (g): the policies, in the
       * trust anchor's domain, that the path is valid for (anyPolicy when the path is valid
       * for any); sorted.
       */
      authoritiesConstrainedPolicySet: string[];
    }
  | {
      ok: false;
      /** Index into `certs` of the certificate where processing failed. */
      index: number;
      code: "no-valid-policy" | "policy-mapping-any";
      detail: string;
    };

const ANY = OID.anyPolicy;
const ANY_SET: readonly string[] = Object.freeze([ANY]);

interface Node {
  policy: string;
  /** Policies that satisfy this one in the next certificate; {anyPolicy} for anyPolicy nodes. */
  expected: readonly string[];
  parents: Node[];
  /** Live children: a node left with none at a depth above the deepest is pruned. */
  children: number;
}

/** The valid_policy_graph: one map (valid_policy -> node) per depth, depth 0 the anyPolicy root. */
class PolicyGraph {
  readonly levels: Map<string, Node>[];

  constructor() {
    const root: Node = { policy: ANY, expected: ANY_SET, parents: [], children: 0 };
    this.levels = [new Map([[ANY, root]])];
  }

  private get deepest(): Map<string, Node> {
    return this.levels[this.levels.length - 1];
  }

  /** 6.1.3 (d) for one certificate's policies; false when the graph is left NULL. */
  addCertificate(policies: readonly string[], anyAllowed: boolean): boolean {
    const prev = this.deepest;
    const next = new Map<string, Node>();
    // Parents by expected policy: every node at depth i-1 that a policy P at depth i would hang from.
    const byExpected = new Map<string, Node[]>();
    for (const node of prev.values()) {
      for (const e of node.expected) {
        const list = byExpected.get(e);
        if (list) list.push(node);
        else byExpected.set(e, [node]);
      }
    }
    const anyParent = prev.get(ANY);
    let hasAny = false;
    for (const p of policies) {
      if (p === ANY) {
        hasAny = true;
        continue;
      }
      if (next.has(p)) continue; // a repeated OID is one policy
      // (d)(1)(i) exact matches; (ii) otherwise under anyPolicy.
      const parents = byExpected.get(p) ?? (anyParent ? [anyParent] : undefined);
      if (parents) next.set(p, child(p, parents));
    }
    // (d)(2): anyPolicy in the certificate stands for every expected policy not yet matched, anyPolicy included.
    if (hasAny && anyAllowed) {
      for (const [p, parents] of byExpected) if (!next.has(p)) next.set(p, child(p, parents));
    }
    this.levels.push(next);
    // (d)(3): prune the nodes above that matched nothing.
    const depth = this.levels.length - 2;
    for (const node of prev.values()) if (node.children === 0) this.remove(node, depth);
    return next.size > 0;
  }

  /** 6.1.4 (b) at the deepest level; `allowed` is policy_mapping > 0. False when the graph is left NULL. */
  applyMappings(mappings: readonly PolicyMapping[], allowed: boolean): boolean {
    const level = this.deepest;
    const depth = this.levels.length - 1;
    if (!allowed) {
      // (b)(3): mapped issuer-domain policies are deleted, and what hung only on them.
      for (const m of mappings) {
        const node = level.get(m.issuerDomainPolicy);
        if (node) this.remove(node, depth);
      }
      return level.size > 0;
    }
    // Sets: one issuer-domain policy may map to thousands of subject-domain ones.
    const subjects = new Map<string, Set<string>>();
    for (const m of mappings) {
      const set = subjects.get(m.issuerDomainPolicy);
      if (set) set.add(m.subjectDomainPolicy);
      else subjects.set(m.issuerDomainPolicy, new Set([m.subjectDomainPolicy]));
    }
    const anyNode = level.get(ANY);
    for (const [idp, set] of subjects) {
      const expected = [...set];
      const node = level.get(idp);
      // (b)(1) a node for ID-P now expects its mapped policies; (b)(2) else anyPolicy stands for ID-P.
      if (node) node.expected = expected;
      else if (anyNode) {
        const n = child(idp, anyNode.parents);
        n.expected = expected;
        level.set(idp, n);
      }
    }
    return true;
  }

  /** Deletes a node and, upwards, every parent it leaves childless. */
  private remove(node: Node, depth: number): void {
    this.levels[depth].delete(node.policy);
    for (const p of node.parents) if (--p.children === 0) this.remove(p, depth - 1);
  }

  /**
   * RFC 9618 6.1.5 (g)(2)-(4): the policies of the nodes hanging from anyPolicy alone
   * (where a chain of anyPolicy nodes first meets a real policy), and anyPolicy when it
   * reaches the leaf's depth. The graph is pruned, so each of those nodes reaches the leaf.
   */
  authoritiesConstrained(): string[] {
    const out = new Set<string>();
    const last = this.levels.length - 1;
    for (let d = 1; d <= last; d++) {
      for (const node of this.levels[d].values()) {
        if (node.policy !== ANY && node.parents.length === 1 && node.parents[0].policy === ANY) out.add(node.policy);
      }
    }
    if (this.levels[last].has(ANY)) out.add(ANY);
    return [...out].sort();
  }
}

function child(policy: string, parents: Node[]): Node {
  for (const p of parents) p.children++;
  return { policy, expected: policy === ANY ? ANY_SET : [policy], parents, children: 0 };
}

/** RFC 9618 6.1.5 (g)(5)-(6): the authorities' set seen through the user's; an initial set holding anyPolicy accepts any. */
function userConstrained(authorities: string[], initial: readonly string[]): string[] {
  const wanted = new Set(initial);
  if (wanted.has(ANY)) return authorities.slice();
  // anyPolicy among the authorities' accepts every initial policy; else the intersection.
  if (authorities.includes(ANY)) return [...wanted].sort();
  return authorities.filter((p) => wanted.has(p)).sort();
}

const anyMapping = (m: PolicyMapping): boolean => m.issuerDomainPolicy === ANY || m.subjectDomainPolicy === ANY;

/**
 * `certs[0]` is the certificate the trust anchor issued, the last one the leaf (n = certs.length).
 * `anchor`: the trust anchor's policyConstraints and inhibitAnyPolicy, applied as RFC 5937 does:
 * as if 6.1.4 (i)-(j) processed the anchor before certificate 1, with no decrement for it.
 */
export function processPolicies(certs: readonly PolicyCert[], inputs: PolicyInputs, anchor?: AnchorPolicy): PolicyOutcome {
  const n = certs.length;
  // 6.1.2 (d), (e), (f): 0 when the initial input asks for it, else n+1.
  let explicitPolicy = inputs.initialExplicitPolicy ? 0 : n + 1;
  let inhibitAnyPolicy = inputs.initialInhibitAnyPolicy ? 0 : n + 1;
  let policyMapping = inputs.initialPolicyMappingInhibit ? 0 : n + 1;
  if (anchor) {
    const pc = anchor.policyConstraints;
    if (pc?.requireExplicitPolicy !== undefined) explicitPolicy = Math.min(explicitPolicy, pc.requireExplicitPolicy);
    if (pc?.inhibitPolicyMapping !== undefined) policyMapping = Math.min(policyMapping, pc.inhibitPolicyMapping);
    if (anchor.inhibitAnyPolicy !== undefined) inhibitAnyPolicy = Math.min(inhibitAnyPolicy, anchor.inhibitAnyPolicy);
  }
  // The graph is made only when the first certificate has policies: a path without any costs no allocation.
  let graph: PolicyGraph | undefined = n === 0 || certs[0].policies ? new PolicyGraph() : undefined;
  for (let k = 0; k < n; k++) {
    const c = certs[k];
    const i = k + 1;
    // 6.1.3 (d)-(e).
    if (graph) {
      if (!c.policies || !graph.addCertificate(c.policies, inhibitAnyPolicy > 0 || (i < n && c.selfIssued))) graph = undefined;
    }
    // 6.1.3 (f).
    if (explicitPolicy === 0 && !graph) {
      return fail(k, "no-valid-policy", `no certificate policy is valid for the path through certificate ${i} of ${n} and an explicit policy is required`);
    }
    if (i === n) break;
    // 6.1.4 (a)-(b).
    const mappings = c.policyMappings;
    if (mappings) {
      const bad = mappings.find(anyMapping);
      if (bad) return fail(k, "policy-mapping-any", `policy mapping ${bad.issuerDomainPolicy} -> ${bad.subjectDomainPolicy} involves anyPolicy`);
      if (graph && !graph.applyMappings(mappings, policyMapping > 0)) graph = undefined;
    }
    // 6.1.4 (h)-(j).
    if (!c.selfIssued) {
      if (explicitPolicy > 0) explicitPolicy--;
      if (policyMapping > 0) policyMapping--;
      if (inhibitAnyPolicy > 0) inhibitAnyPolicy--;
    }
    const pc = c.policyConstraints;
    if (pc) {
      if (pc.requireExplicitPolicy !== undefined && pc.requireExplicitPolicy < explicitPolicy) explicitPolicy = pc.requireExplicitPolicy;
      if (pc.inhibitPolicyMapping !== undefined && pc.inhibitPolicyMapping < policyMapping) policyMapping = pc.inhibitPolicyMapping;
    }
    if (c.inhibitAnyPolicy !== undefined && c.inhibitAnyPolicy < inhibitAnyPolicy) inhibitAnyPolicy = c.inhibitAnyPolicy;
  }
  // 6.1.5 (a)-(b).
  if (explicitPolicy > 0) explicitPolicy--;
  if (n > 0 && certs[n - 1].policyConstraints?.requireExplicitPolicy === 0) explicitPolicy = 0;
  // 6.1.5 (g), as RFC 9618 restates it.
  const authorities = graph ? graph.authoritiesConstrained() : [];
  const user = graph ? userConstrained(authorities, inputs.initialPolicySet) : [];
  if (explicitPolicy === 0 && user.length === 0) {
    const why = authorities.length === 0 ? "no certificate policy is valid for the path" : `the path is valid for ${authorities.join(", ")}, none of them in the initial policy set`;
    return fail(Math.max(n - 1, 0), "no-valid-policy", `${why} and an explicit policy is required`);
  }
  return { ok: true, userConstrainedPolicySet: user, authoritiesConstrainedPolicySet: authorities };
}

function fail(index: number, code: "no-valid-policy" | "policy-mapping-any", detail: string): PolicyOutcome {
  return { ok: false, index, code, detail };
}
