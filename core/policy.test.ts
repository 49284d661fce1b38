import test from "ava";
import {
  CARD_REVOCATION_REASONS,
  DEFAULT_POLICY,
  DEFAULT_REASON_BY_ROLE,
  REVOCATION_REASONS,
  REVOKER_ROLES,
  reasonAllowed,
  type LifecyclePolicy,
} from "./policy.js";

// The policy files and their reader are policies/ (policy-file.test.ts there keeps default.yaml equal to DEFAULT_POLICY).

test("reasonAllowed: the default policy lets every role give every requestable reason, never removeFromCRL", (t) => {
  for (const role of REVOKER_ROLES) {
    for (const reason of REVOCATION_REASONS) t.is(reasonAllowed(DEFAULT_POLICY, role, reason), reason !== "removeFromCRL", `${role} ${reason}`);
  }
});

test("reasonAllowed follows a policy's table, role by role", (t) => {
  const strict: LifecyclePolicy = {
    ...DEFAULT_POLICY,
    reasonsByRole: { holder: ["keyCompromise"], "legal-representative": ["affiliationChanged"], "authorised-representative": [], operator: DEFAULT_POLICY.reasonsByRole.operator },
  };
  t.true(reasonAllowed(strict, "holder", "keyCompromise"));
  t.false(reasonAllowed(strict, "holder", "affiliationChanged"));
  t.true(reasonAllowed(strict, "legal-representative", "affiliationChanged"));
  t.false(reasonAllowed(strict, "authorised-representative", "affiliationChanged"));
  t.true(reasonAllowed(strict, "operator", "cACompromise"));
});

test("each role's default scenario reason is a card reason the default policy allows it", (t) => {
  for (const role of REVOKER_ROLES) {
    const reason = DEFAULT_REASON_BY_ROLE[role];
    t.true(CARD_REVOCATION_REASONS.includes(reason), role);
    t.true(reasonAllowed(DEFAULT_POLICY, role, reason), role);
  }
});
