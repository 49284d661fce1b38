import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseDuration } from "../core/index.js";
import { parseYaml, type Located } from "./source.js";

export type KeyAlgorithm = "p256" | "p384" | "rsa2048";

/** The lifecycle rules a run follows; data, so a user can state another policy. */
export interface Policy {
  name: string;
  /** Whole years: certificate policies count calendar years. */
  lifetimeYears: number;
  capAtCardExpiry: boolean;
  algorithm: KeyAlgorithm;
  transportPin: string;
  puk: string;
  pinRetries: number;
  /** The mobile app alerts this many ms before expiry. */
  alertBeforeMs: number;
  /** Where relying parties get certificate status. */
  revocation: "crl" | "ocsp";
}

const POLICY_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "policies");

/** `default` (or another bare name) is a file in scenarios/policies/; anything else is a path. */
export function resolvePolicyPath(ref: string, relativeTo: string): string {
  if (/^[a-z0-9-]+$/i.test(ref)) return resolve(POLICY_DIR, `${ref}.yaml`);
  return isAbsolute(ref) ? ref : resolve(dirname(relativeTo), ref);
}

export function loadPolicy(path: string): Policy {
  return parsePolicy(parseYaml(readFileSync(path, "utf8"), path));
}

export function parsePolicy(root: Located): Policy {
  root.onlyKeys(["name", "certificates", "card", "mobile", "relyingParty"]);
  const certs = root.get("certificates").onlyKeys(["lifetime", "capAtCardExpiry", "algorithm"]);
  const card = root.get("card").onlyKeys(["transportPin", "puk", "pinRetries"]);
  const mobile = root.get("mobile").onlyKeys(["alertBefore"]);
  const rp = root.get("relyingParty");
  const lifetime = certs.get("lifetime");
  const m = /^(\d+)y$/.exec(lifetime.str());
  if (!m) throw lifetime.fail(`expected whole years such as 3y, got "${lifetime.str()}"`);
  const alert = mobile.get("alertBefore");
  let alertBeforeMs: number;
  try {
    alertBeforeMs = parseDuration(alert.str());
  } catch (err) {
    throw alert.fail((err as Error).message);
  }
  return {
    name: root.get("name").str(),
    lifetimeYears: Number(m[1]),
    capAtCardExpiry: certs.get("capAtCardExpiry").bool(),
    algorithm: certs.get("algorithm").oneOf(["p256", "p384", "rsa2048"] as const),
    transportPin: pinText(card.get("transportPin")),
    puk: pinText(card.get("puk")),
    pinRetries: card.get("pinRetries").int(1),
    alertBeforeMs,
    revocation: rp.missing ? "crl" : rp.onlyKeys(["revocation"]).get("revocation").oneOf(["crl", "ocsp"] as const),
  };
}

/** PINs are digits, 6 to 8 of them (SP 800-73-4); a YAML number loses leading zeros, so require text. */
export function pinText(v: Located): string {
  if (v.isScalar() && typeof (v.node as { value?: unknown }).value === "number") v.fail('write PINs in quotes, e.g. "123456"');
  const s = v.str();
  if (!/^\d{6,8}$/.test(s)) v.fail("a PIN or PUK is 6 to 8 digits");
  return s;
}
