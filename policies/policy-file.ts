import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  DEFAULT_POLICY,
  REVOCATION_REASONS,
  REVOKER_ROLES,
  UsageError,
  parseDuration,
  type LifecyclePolicy,
  type RenewalRule,
  type RevocationReason,
  type RevokerRole,
} from "../core/index.js";
import { parseYaml, SourceError, type Located } from "./yaml-source.js";

/**
 * The policy file: YAML a person writes (policies/default.yaml is the
 * reference), read into a LifecyclePolicy. Every mistake is a PolicyError
 * naming file, line, column and field. A file with `extends: default` states
 * only how it differs from the default policy (policies/ocsp.yaml does).
 */

/** A policy file that cannot be used, located at the offending value. */
export class PolicyError extends SourceError {
  constructor(file: string, line: number, column: number, field: string, reason: string, options?: { cause?: unknown }) {
    super(file, line, column, field, reason, "policy", options);
  }
}

/**
 * A policy file that cannot be read at all (missing, a directory, no
 * permission): located at its first line, with the OS's error as `cause`, so
 * that a reader that names the file itself (a scenario's `policy:`) can say
 * so in its own words.
 */
export class PolicyReadError extends PolicyError {
  constructor(file: string, cause: unknown) {
    super(file, 1, 1, "", `cannot read: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`, { cause });
  }
}

const RENEWAL_RULES: readonly RenewalRule[] = ["revoke-superseded", "keep-until-expiry"];
const MAX_LIFETIME_YEARS = 100;
const TOP_LEVEL = ["name", "certificates", "card", "mobile", "relyingParty", "renewal", "revocation", "extends"];

export function parsePolicy(yamlText: string, sourceName: string): LifecyclePolicy {
  const root = parseYaml(yamlText, sourceName, (...at) => new PolicyError(...at));
  root.onlyKeys(TOP_LEVEL);
  // `extends: default` makes every rule but the name optional: what the file leaves out is the
  // default policy's. Only the default can be extended (it is data, DEFAULT_POLICY, so no file is
  // read and there is no chain to follow); without it every required rule must be stated.
  const extending = root.keys().includes("extends");
  if (extending) root.get("extends").oneOf(["default"] as const);
  const base = extending ? DEFAULT_POLICY : undefined;
  const certs = section(root, "certificates", ["lifetime", "capAtCardExpiry", "algorithm"], base);
  const card = section(root, "card", ["transportPin", "puk", "pinRetries"], base);
  const mobile = section(root, "mobile", ["alertBefore"], base);
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
    lifetimeYears: rule(certs, "lifetime", base?.lifetimeYears, wholeYears),
    capAtCardExpiry: rule(certs, "capAtCardExpiry", base?.capAtCardExpiry, (v) => v.bool()),
    algorithm: rule(certs, "algorithm", base?.algorithm, (v) => v.oneOf(["p256", "p384", "rsa2048"] as const)),
    transportPin: rule(card, "transportPin", base?.transportPin, pinText),
    puk: rule(card, "puk", base?.puk, pinText),
    pinRetries: rule(card, "pinRetries", base?.pinRetries, (v) => v.int(1)),
    alertBeforeMs: rule(mobile, "alertBefore", base?.alertBeforeMs, duration),
    revocation: rp.missing ? DEFAULT_POLICY.revocation : rp.onlyKeys(["revocation"]).get("revocation").oneOf(["crl", "ocsp"] as const),
    maxFailedAttempts: attempts && !attempts.missing ? attempts.int(1) : DEFAULT_POLICY.maxFailedAttempts,
    renewal: renewal.missing ? DEFAULT_POLICY.renewal : renewal.oneOf(RENEWAL_RULES),
    reasonsByRole: reasons && !reasons.missing ? reasonsByRole(reasons) : DEFAULT_POLICY.reasonsByRole,
  };
}

/** A section of rules; one a file that extends a policy leaves out entirely is that policy's. */
function section(root: Located, key: string, keys: readonly string[], base: LifecyclePolicy | undefined): Located {
  const node = root.get(key);
  return base && node.missing ? node : node.onlyKeys(keys);
}

/** A rule the file states, or (when it extends a policy and leaves the rule out) the inherited value. */
function rule<T>(rules: Located, key: string, inherited: T | undefined, read: (v: Located) => T): T {
  if (inherited !== undefined && (rules.missing || rules.get(key).missing)) return inherited;
  return read(rules.get(key));
}

/** Reads a policy file; an unreadable file is a PolicyError too (a PolicyReadError). */
export function loadPolicy(path: string): LifecyclePolicy {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new PolicyReadError(path, err);
  }
  return parsePolicy(text, path);
}

/** The shipped policies are this component's own folder; the build keeps import.meta.url at the source, so dist/ finds them too. */
const SHIPPED_DIR = fileURLToPath(new URL(".", import.meta.url));

/**
 * A bare name (`default`, `ocsp`) is a policy cardloop ships in policies/;
 * anything else is a path, resolved against the directory `relativeTo`.
 */
export function resolvePolicyRef(ref: string, relativeTo: string): string {
  if (!/^[a-z0-9-]+$/i.test(ref)) return isAbsolute(ref) ? ref : resolve(relativeTo, ref);
  const path = join(SHIPPED_DIR, `${ref}.yaml`);
  if (!existsSync(path)) throw new UsageError(`no shipped policy named "${ref}" (give a path to a policy file, or one of: default, ocsp)`);
  return path;
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
