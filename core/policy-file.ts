import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseDuration } from "./duration.js";
import { UsageError } from "./errors.js";
import {
  DEFAULT_POLICY,
  REVOCATION_REASONS,
  REVOKER_ROLES,
  type LifecyclePolicy,
  type RenewalRule,
  type RevocationReason,
  type RevokerRole,
} from "./policy.js";
import { parseYaml, SourceError, type Located } from "./yaml-source.js";

/**
 * The policy file: YAML a person writes (policies/default.yaml is the
 * reference), read into a LifecyclePolicy. Every mistake is a PolicyError
 * naming file, line, column and field.
 */

/** A policy file that cannot be used, located at the offending value. */
export class PolicyError extends SourceError {
  constructor(file: string, line: number, column: number, field: string, reason: string) {
    super(file, line, column, field, reason, "policy");
  }
}

const RENEWAL_RULES: readonly RenewalRule[] = ["revoke-superseded", "keep-until-expiry"];
const MAX_LIFETIME_YEARS = 100;

export function parsePolicy(yamlText: string, sourceName: string): LifecyclePolicy {
  const root = parseYaml(yamlText, sourceName, (...at) => new PolicyError(...at));
  root.onlyKeys(["name", "certificates", "card", "mobile", "relyingParty", "renewal", "revocation"]);
  const certs = root.get("certificates").onlyKeys(["lifetime", "capAtCardExpiry", "algorithm"]);
  const card = root.get("card").onlyKeys(["transportPin", "puk", "pinRetries"]);
  const mobile = root.get("mobile").onlyKeys(["alertBefore"]);
  const rp = root.get("relyingParty");
  const name = root.get("name");
  if (name.str().trim() === "") name.fail("a policy needs a name");
  const renewal = root.get("renewal");
  // Files written before these keys existed keep working: they get the default policy's rules.
  const revocation = root.get("revocation");
  const revocationRules = revocation.missing ? undefined : revocation.onlyKeys(["maxFailedAttempts", "reasonsByRole"]);
  const attempts = revocationRules?.get("maxFailedAttempts");
  const reasons = revocationRules?.get("reasonsByRole");
  return {
    name: name.str(),
    lifetimeYears: wholeYears(certs.get("lifetime")),
    capAtCardExpiry: certs.get("capAtCardExpiry").bool(),
    algorithm: certs.get("algorithm").oneOf(["p256", "p384", "rsa2048"] as const),
    transportPin: pinText(card.get("transportPin")),
    puk: pinText(card.get("puk")),
    pinRetries: card.get("pinRetries").int(1),
    alertBeforeMs: duration(mobile.get("alertBefore")),
    revocation: rp.missing ? "crl" : rp.onlyKeys(["revocation"]).get("revocation").oneOf(["crl", "ocsp"] as const),
    maxFailedAttempts: attempts && !attempts.missing ? attempts.int(1) : DEFAULT_POLICY.maxFailedAttempts,
    renewal: renewal.missing ? DEFAULT_POLICY.renewal : renewal.oneOf(RENEWAL_RULES),
    reasonsByRole: reasons && !reasons.missing ? reasonsByRole(reasons) : DEFAULT_POLICY.reasonsByRole,
  };
}

/** Reads a policy file; an unreadable file is a PolicyError too. */
export function loadPolicy(path: string): LifecyclePolicy {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new PolicyError(path, 1, 1, "", `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parsePolicy(text, path);
}

/**
 * A bare name (`default`, `ocsp`) is a policy cardloop ships in policies/;
 * anything else is a path, resolved against the directory `relativeTo`.
 */
export function resolvePolicyRef(ref: string, relativeTo: string): string {
  if (!/^[a-z0-9-]+$/i.test(ref)) return isAbsolute(ref) ? ref : resolve(relativeTo, ref);
  const path = join(shippedPolicyDir(), `${ref}.yaml`);
  if (!existsSync(path)) throw new UsageError(`no shipped policy named "${ref}" (give a path to a policy file, or one of: default, ocsp)`);
  return path;
}

let policyDir: string | undefined;

/** The shipped policies sit at the project's top level; found by walking up, so sources and a build both find them. */
function shippedPolicyDir(): string {
  if (policyDir) return policyDir;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "policies", "default.yaml"))) return (policyDir = join(dir, "policies"));
    const up = dirname(dir);
    if (up === dir) throw new UsageError("the shipped policies (policies/default.yaml) are missing from this installation");
    dir = up;
  }
}

/** PINs are digits, 6 to 8 of them (SP 800-73-4); a YAML number loses leading zeros, so require text. */
export function pinText(v: Located): string {
  if (v.isScalar() && typeof (v.node as { value?: unknown }).value === "number") v.fail('write PINs in quotes, e.g. "123456"');
  const s = v.str();
  if (!/^\d{6,8}$/.test(s)) v.fail("a PIN or PUK is 6 to 8 digits");
  return s;
}

function wholeYears(v: Located): number {
  const m = /^(\d+)y$/.exec(v.str());
  if (!m) v.fail(`expected whole years such as 3y, got "${v.str()}"`);
  const years = Number(m[1]);
  if (years < 1 || years > MAX_LIFETIME_YEARS) v.fail(`expected 1y to ${MAX_LIFETIME_YEARS}y, got "${v.str()}"`);
  return years;
}

function duration(v: Located): number {
  let ms: number;
  try {
    ms = parseDuration(v.str());
  } catch (err) {
    v.fail((err as Error).message);
  }
  if (!Number.isFinite(ms)) v.fail(`"${v.str()}" is too long a duration`);
  return ms;
}

/** Every role is listed, so that a forgotten role is a mistake rather than a role that silently may do nothing. */
function reasonsByRole(node: Located): Record<RevokerRole, readonly RevocationReason[]> {
  node.onlyKeys(REVOKER_ROLES);
  const out = {} as Record<RevokerRole, readonly RevocationReason[]>;
  for (const role of REVOKER_ROLES) {
    const list = node.get(role);
    if (list.missing) list.fail("list the reasons this role may give ([] for none)");
    if (!list.isList()) list.fail("expected a list of RFC 5280 reason names");
    const reasons: RevocationReason[] = [];
    for (const item of list.items()) {
      const reason = item.oneOf(REVOCATION_REASONS);
      if (reason === "removeFromCRL") item.fail("removeFromCRL is not a revocation reason (it undoes a hold; the CA releases instead)");
      if (reasons.includes(reason)) item.fail(`"${reason}" is listed twice`);
      reasons.push(reason);
    }
    out[role] = reasons;
  }
  return out;
}
