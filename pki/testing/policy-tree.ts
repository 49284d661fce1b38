import { OID } from "../oids.js";
import type { PolicyCert, PolicyInputs, PolicyOutcome } from "../policy-graph.js";

/**
 * TEST ONLY: RFC 5280 6.1.2-6.1.5 certificate policy processing on the literal
 * valid_policy_tree, step by step as the RFC words it (exponential in the worst case:
 * the oracle pki/policy-graph.ts is held to on small paths, never for production).
 * Qualifiers are not kept. Outcome shape and failure points as processPolicies.
 */

const ANY = OID.anyPolicy;

interface TreeNode {
  policy: string;
  expected: Set<string>;
  parent?: TreeNode;
  children: TreeNode[];
}

function newChild(parent: TreeNode, policy: string, expected: Iterable<string>): TreeNode {
  const c: TreeNode = { policy, expected: new Set(expected), parent, children: [] };
  parent.children.push(c);
  return c;
}

function atDepth(root: TreeNode | undefined, depth: number): TreeNode[] {
  if (!root) return [];
  let level = [root];
  for (let d = 0; d < depth; d++) level = level.flatMap((x) => x.children);
  return level;
}

function detach(node: TreeNode): void {
  const p = node.parent;
  if (p) p.children.splice(p.children.indexOf(node), 1);
}

/** "If there is a node ... of depth `maxDepth` or less without any child nodes, delete that node. Repeat"; returns the root or undefined (NULL). */
function prune(root: TreeNode, maxDepth: number): TreeNode | undefined {
  for (let changed = true; changed; ) {
    changed = false;
    for (let d = maxDepth; d >= 0; d--) {
      for (const x of atDepth(root, d)) {
        if (x.children.length > 0) continue;
        if (x === root) return undefined;
        detach(x);
        changed = true;
      }
    }
  }
  return root;
}

/** `certs[0]` is the certificate the anchor issued, the last the leaf; at least one certificate. */
export function referencePolicies(certs: readonly PolicyCert[], inputs: PolicyInputs): PolicyOutcome {
  const n = certs.length;
  let explicit = inputs.initialExplicitPolicy ? 0 : n + 1;
  let inhibitAny = inputs.initialInhibitAnyPolicy ? 0 : n + 1;
  let mapping = inputs.initialPolicyMappingInhibit ? 0 : n + 1;
  let root: TreeNode | undefined = { policy: ANY, expected: new Set([ANY]), children: [] };
  for (let k = 0; k < n; k++) {
    const c = certs[k];
    const i = k + 1;
    // 6.1.3 (d)
    if (c.policies && root) {
      const policies = [...new Set(c.policies)];
      const parents = atDepth(root, i - 1);
      for (const p of policies) {
        if (p === ANY) continue;
        let matched = false;
        for (const x of parents) {
          if (x.expected.has(p)) {
            newChild(x, p, [p]);
            matched = true;
          }
        }
        if (!matched) {
          const a = parents.find((x) => x.policy === ANY);
          if (a) newChild(a, p, [p]);
        }
      }
      if (policies.includes(ANY) && (inhibitAny > 0 || (i < n && c.selfIssued))) {
        for (const x of parents) {
          for (const e of x.expected) if (!x.children.some((ch) => ch.policy === e)) newChild(x, e, [e]);
        }
      }
      root = prune(root, i - 1);
    }
    // 6.1.3 (e)
    if (!c.policies) root = undefined;
    // 6.1.3 (f)
    if (explicit === 0 && !root) return { ok: false, index: k, code: "no-valid-policy", detail: "6.1.3 (f)" };
    if (i === n) break;
    // 6.1.4 (a)
    const maps = c.policyMappings;
    if (maps) {
      if (maps.some((m) => m.issuerDomainPolicy === ANY || m.subjectDomainPolicy === ANY)) return { ok: false, index: k, code: "policy-mapping-any", detail: "6.1.4 (a)" };
      // 6.1.4 (b)
      for (const idp of new Set(maps.map((m) => m.issuerDomainPolicy))) {
        if (!root) break;
        const subjects = maps.filter((m) => m.issuerDomainPolicy === idp).map((m) => m.subjectDomainPolicy);
        const level = atDepth(root, i);
        const nodes = level.filter((x) => x.policy === idp);
        if (mapping > 0) {
          for (const x of nodes) x.expected = new Set(subjects);
          if (nodes.length === 0 && level.some((x) => x.policy === ANY)) {
            const a = atDepth(root, i - 1).find((x) => x.policy === ANY)!;
            newChild(a, idp, subjects);
          }
        } else {
          for (const x of nodes) detach(x);
          root = prune(root, i - 1);
          if (root && atDepth(root, i).length === 0) root = undefined;
        }
      }
    }
    // 6.1.4 (h)-(j)
    if (!c.selfIssued) {
      if (explicit > 0) explicit--;
      if (mapping > 0) mapping--;
      if (inhibitAny > 0) inhibitAny--;
    }
    const pc = c.policyConstraints;
    if (pc?.requireExplicitPolicy !== undefined && pc.requireExplicitPolicy < explicit) explicit = pc.requireExplicitPolicy;
    if (pc?.inhibitPolicyMapping !== undefined && pc.inhibitPolicyMapping < mapping) mapping = pc.inhibitPolicyMapping;
    if (c.inhibitAnyPolicy !== undefined && c.inhibitAnyPolicy < inhibitAny) inhibitAny = c.inhibitAnyPolicy;
  }
  // 6.1.5 (a)-(b)
  if (explicit > 0) explicit--;
  if (n > 0 && certs[n - 1].policyConstraints?.requireExplicitPolicy === 0) explicit = 0;
  const authorities = root ? anchorDomainPolicies(root, n) : [];
  // 6.1.5 (g)
  if (root && !inputs.initialPolicySet.includes(ANY)) root = intersect(root, n, new Set(inputs.initialPolicySet));
  const user = root ? anchorDomainPolicies(root, n) : [];
  if (explicit === 0 && !root) return { ok: false, index: Math.max(n - 1, 0), code: "no-valid-policy", detail: "6.1.5" };
  return { ok: true, userConstrainedPolicySet: user, authoritiesConstrainedPolicySet: authorities };
}

/** The nodes whose parent is anyPolicy (6.1.5 (g)(iii)(1)): the tree's policies in the anchor's domain; anyPolicy if it reaches depth n. */
function anchorDomainPolicies(root: TreeNode, n: number): string[] {
  const out = new Set<string>();
  const walk = (x: TreeNode): void => {
    for (const ch of x.children) {
      if (x.policy === ANY && ch.policy !== ANY) out.add(ch.policy);
      walk(ch);
    }
  };
  walk(root);
  if (atDepth(root, n).some((x) => x.policy === ANY)) out.add(ANY);
  return [...out].sort();
}

/** 6.1.5 (g)(iii) with a user-initial-policy-set that is not any-policy. */
function intersect(root: TreeNode, n: number, initial: Set<string>): TreeNode | undefined {
  const nodeSet: TreeNode[] = [];
  const walk = (x: TreeNode): void => {
    for (const ch of x.children) {
      if (x.policy === ANY) nodeSet.push(ch);
      walk(ch);
    }
  };
  walk(root);
  for (const x of nodeSet) if (!initial.has(x.policy) && x.policy !== ANY) detach(x);
  const anyLeaf = atDepth(root, n).find((x) => x.policy === ANY);
  if (anyLeaf) {
    const parent = anyLeaf.parent!;
    for (const p of initial) if (!nodeSet.some((x) => x.policy === p)) newChild(parent, p, [p]);
    detach(anyLeaf);
  }
  const r = prune(root, n - 1);
  return r && atDepth(r, n).length > 0 ? r : undefined;
}
